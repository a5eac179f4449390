//! The two services as the CLI sees them: the generated model tables of `iotjobs-model`
//! (operations, shapes, errors) plus the few facts the CLI needs that the tables do not
//! carry (service id, endpoint prefix, botocore's paginator entries).
//!
//! Everything the CLI does per operation is derived from these tables, so a newly served
//! operation becomes a command without code here. This module must not describe any
//! operation by hand beyond the paginator table, which is copied verbatim from botocore's
//! `paginators-1.json` (a unit test compares it with `../shared/aws-models`).

use iotjobs_model::generated::{iot, iot_jobs_data};
use iotjobs_model::{MemberDef, Model, OperationDef, ShapeDef, ShapeKind};

/// A botocore paginator entry (`paginators-1.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paginator {
    pub operation: &'static str,
    pub input_token: &'static str,
    pub output_token: &'static str,
    pub limit_key: &'static str,
    pub result_key: &'static str,
}

/// One AWS service the CLI exposes (`iotjobs iot …`, `iotjobs iot-jobs-data …`).
#[derive(Debug)]
pub struct Service {
    /// The command name (`iot`, `iot-jobs-data`).
    pub cli_name: &'static str,
    pub model: &'static Model,
    /// `metadata.signingName`: the SigV4 service name.
    pub signing_name: &'static str,
    /// `metadata.serviceId`: names `AWS_ENDPOINT_URL_<ID>` and the `services` config section key.
    pub service_id: &'static str,
    /// `metadata.endpointPrefix`: `https://<prefix>.<region>.amazonaws.com`.
    pub endpoint_prefix: &'static str,
    pub paginators: &'static [Paginator],
}

const fn page(operation: &'static str, result_key: &'static str) -> Paginator {
    Paginator {
        operation,
        input_token: "nextToken",
        output_token: "nextToken",
        limit_key: "maxResults",
        result_key,
    }
}

/// botocore 1.44.8 `iot/2015-05-28/paginators-1.json`, the entries of the served operations
/// (the others are refused before a paginator is looked up; a unit test keeps this table
/// equal to the served operations that botocore paginates).
static IOT_PAGINATORS: &[Paginator] = &[
    Paginator {
        operation: "ListCertificates",
        input_token: "marker",
        output_token: "nextMarker",
        limit_key: "pageSize",
        result_key: "certificates",
    },
    page("ListJobExecutionsForJob", "executionSummaries"),
    page("ListJobExecutionsForThing", "executionSummaries"),
    page("ListJobTemplates", "jobTemplates"),
    page("ListJobs", "jobs"),
    page("ListManagedJobTemplates", "managedJobTemplates"),
    page("ListThingGroups", "thingGroups"),
    page("ListThingGroupsForThing", "thingGroups"),
    page("ListThingPrincipals", "principals"),
    page("ListThings", "things"),
    page("ListThingsInThingGroup", "things"),
];

pub static IOT: Service = Service {
    cli_name: "iot",
    model: &iot::MODEL,
    signing_name: "iot",
    service_id: "IoT",
    endpoint_prefix: "iot",
    paginators: IOT_PAGINATORS,
};

pub static IOT_JOBS_DATA: Service = Service {
    cli_name: "iot-jobs-data",
    model: &iot_jobs_data::MODEL,
    signing_name: "iot-jobs-data",
    service_id: "IoT Jobs Data Plane",
    endpoint_prefix: "data.jobs.iot",
    paginators: &[],
};

pub static SERVICES: [&Service; 2] = [&IOT, &IOT_JOBS_DATA];

impl Service {
    pub fn by_cli_name(name: &str) -> Option<&'static Service> {
        SERVICES.iter().copied().find(|s| s.cli_name == name)
    }

    /// The operation names as commands, in model order, then `help` (the AWS CLI's choices).
    pub fn command_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .model
            .ops
            .iter()
            .map(|o| xform_name(o.name, '-'))
            .collect();
        v.push("help".into());
        v
    }

    pub fn op_by_command(&self, command: &str) -> Option<&'static OperationDef> {
        self.model
            .ops
            .iter()
            .find(|o| xform_name(o.name, '-') == command)
    }

    pub fn is_served(&self, op: &OperationDef) -> bool {
        self.model.is_served(op.name)
    }

    pub fn shape(&self, name: &str) -> Option<&'static ShapeDef> {
        self.model.shape_id(name).map(|id| self.model.shape(id))
    }

    pub fn member_shape(&self, m: &MemberDef) -> &'static ShapeDef {
        self.model.shape(m.shape)
    }

    pub fn paginator(&self, op: &str) -> Option<&'static Paginator> {
        self.paginators.iter().find(|p| p.operation == op)
    }
}

/// Whether a shape is a scalar (not structure, list or map).
pub fn is_scalar(kind: ShapeKind) -> bool {
    !matches!(
        kind,
        ShapeKind::Structure | ShapeKind::List | ShapeKind::Map
    )
}

/// botocore's `xform_name`: `CancelJobExecution` → `cancel-job-execution`,
/// `ListCACertificates` → `list-ca-certificates`.
pub fn xform_name(name: &str, sep: char) -> String {
    if name.contains(sep) {
        return name.to_string();
    }
    let mut name: Vec<char> = name.chars().collect();
    // `_special_case_transform`: an acronym plural at the end (`ARNs` → `_arns`).
    let n = name.len();
    if n >= 3 && name[n - 1] == 's' {
        let mut k = n - 1;
        while k > 0 && name[k - 1].is_ascii_uppercase() {
            k -= 1;
        }
        if n - 1 - k >= 2 {
            let tail: String = name[k..].iter().collect::<String>().to_lowercase();
            name.truncate(k);
            name.push(sep);
            name.extend(tail.chars());
        }
    }
    // `(.)([A-Z][a-z]+)` → `\1 sep \2`
    let s1 = sub_first_cap(&name, sep);
    // `([a-z0-9])([A-Z])` → `\1 sep \2`
    let s3 = sub_pairs(&s1, sep, |a, b| {
        (a.is_ascii_lowercase() || a.is_ascii_digit()) && b.is_ascii_uppercase()
    });
    s3.iter().collect::<String>().to_lowercase()
}

fn sub_first_cap(s: &[char], sep: char) -> Vec<char> {
    // re.sub scans left to right, non-overlapping: a match is (any char, [A-Z][a-z]+).
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        if i + 2 < s.len() + 1
            && i + 1 < s.len()
            && s[i + 1].is_ascii_uppercase()
            && s.get(i + 2).is_some_and(|c| c.is_ascii_lowercase())
        {
            let mut j = i + 2;
            while j < s.len() && s[j].is_ascii_lowercase() {
                j += 1;
            }
            out.push(s[i]);
            out.push(sep);
            out.extend(&s[i + 1..j]);
            i = j;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn sub_pairs(s: &[char], sep: char, at: impl Fn(char, char) -> bool) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && at(s[i], s[i + 1]) {
            out.push(s[i]);
            out.push(sep);
            let j = i + 2;
            out.extend(&s[i + 1..j]);
            i = j;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xform_names_like_botocore() {
        for (a, b) in [
            ("CancelJobExecution", "cancel-job-execution"),
            ("ListCACertificates", "list-ca-certificates"),
            ("jobId", "job-id"),
            ("thingArn", "thing-arn"),
            ("GetOTAUpdate", "get-ota-update"),
            ("ListV2LoggingLevels", "list-v2-logging-levels"),
            ("includeJobDocument", "include-job-document"),
            ("AttachPrincipalPolicy", "attach-principal-policy"),
            ("thingGroupARNs", "thing-group-arns"),
            ("s3Destination", "s3-destination"),
        ] {
            assert_eq!(xform_name(a, '-'), b, "{a}");
        }
    }

    #[test]
    fn paginators_match_botocore_models() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/aws-models/iot.paginators-1.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            // CI lays ../shared beside the clone; a checkout without it has nothing to compare.
            return;
        };
        let v = crate::pyjson::loads(&text, false).unwrap();
        let pag = v
            .as_dict()
            .unwrap()
            .get("pagination")
            .unwrap()
            .as_dict()
            .unwrap();
        for p in IOT_PAGINATORS {
            let e = pag.get(p.operation).unwrap().as_dict().unwrap();
            assert_eq!(e.get("input_token").unwrap().as_str(), Some(p.input_token));
            assert_eq!(
                e.get("output_token").unwrap().as_str(),
                Some(p.output_token)
            );
            assert_eq!(e.get("limit_key").unwrap().as_str(), Some(p.limit_key));
            assert_eq!(e.get("result_key").unwrap().as_str(), Some(p.result_key));
        }
        // Every served operation with a paginator entry is in the table.
        for (name, _) in pag.iter() {
            if IOT.model.is_served(name) {
                assert!(IOT.paginator(name).is_some(), "{name} missing");
            }
        }
        // And only those: an unserved operation cannot be called.
        for p in IOT_PAGINATORS {
            assert!(
                IOT.model.is_served(p.operation),
                "{} is not served",
                p.operation
            );
        }
    }
}
