//! The served operations are one generated list (`SERVED`, `Operation`), and
//! `docs/compatibility.md` says exactly that list.

use iotjobs_model::Model;
use iotjobs_model::generated::{iot, iot_jobs_data};

#[test]
fn operation_enums_are_the_served_lists() {
    let iot_names: Vec<&str> = iot::Operation::ALL.iter().map(|op| op.name()).collect();
    assert_eq!(iot_names, iot::SERVED);
    let data_names: Vec<&str> = iot_jobs_data::Operation::ALL
        .iter()
        .map(|op| op.name())
        .collect();
    assert_eq!(data_names, iot_jobs_data::SERVED);
    for op in iot::Operation::ALL {
        assert_eq!(iot::Operation::from_name(op.name()), Some(*op));
    }
    for op in iot_jobs_data::Operation::ALL {
        assert_eq!(iot_jobs_data::Operation::from_name(op.name()), Some(*op));
    }
    // Modelled but not served, and not in the model at all.
    assert_eq!(iot::Operation::from_name("ListPolicies"), None);
    assert_eq!(iot::Operation::from_name("CreateThingType"), None);
    assert_eq!(
        iot_jobs_data::Operation::from_name("StartCommandExecution"),
        None
    );
    assert_eq!(iot::Operation::from_name("cancelJobExecution"), None);
}

/// The `| plane | Operation | yes/no | notes |` rows of `docs/compatibility.md`.
fn compatibility_rows() -> Vec<(String, String, bool)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| a | b | c | d |` splits into ["", a, b, c, d, ""].
        let ["", plane @ ("iot" | "iot-jobs-data"), op, served, ..] = cells[..] else {
            continue;
        };
        let served = match served {
            "yes" => true,
            "no" => false,
            other => panic!("{plane} {op}: Served is {other:?}, not yes or no"),
        };
        rows.push((plane.to_owned(), op.to_owned(), served));
    }
    rows
}

#[test]
fn compatibility_doc_matches_the_served_lists() {
    let rows = compatibility_rows();
    for (plane, model) in [
        ("iot", &iot::MODEL),
        ("iot-jobs-data", &iot_jobs_data::MODEL),
    ] {
        let model: &Model = model;
        for (_, op, served) in rows.iter().filter(|(p, _, _)| p == plane) {
            assert!(
                model.find_op(op).is_some(),
                "docs/compatibility.md: {plane} {op} is not an operation of the model"
            );
            assert_eq!(
                *served,
                model.is_served(op),
                "docs/compatibility.md says {plane} {op} is {}served; the generated list says \
                 otherwise (xtask/src/codegen.rs MODELS)",
                if *served { "" } else { "not " }
            );
        }
        for op in model.served {
            let rows: Vec<_> = rows
                .iter()
                .filter(|(p, o, _)| p == plane && o == op)
                .collect();
            assert_eq!(
                rows.len(),
                1,
                "docs/compatibility.md needs exactly one row for served {plane} {op}"
            );
        }
    }
}
