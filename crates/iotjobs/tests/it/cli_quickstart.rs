//! The README quickstart with `iotjobs` alone: `iotjobs iot …` and `iotjobs iot-jobs-data …`
//! (the AWS CLI v1 drop-in of `crates/cli`) against the real server, no Python and no SDK.

use crate::harness::Server;
use std::process::Command;

/// Runs the real binary as a CLI with test credentials and an empty HOME.
struct Cli {
    endpoint: String,
    home: tempfile::TempDir,
}

impl Cli {
    fn new(server: &Server) -> Cli {
        Cli {
            endpoint: server.endpoint.clone(),
            home: tempfile::tempdir().expect("home"),
        }
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iotjobs"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("credentials"),
            )
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("run iotjobs");
        (
            out.status.code().expect("exit code"),
            String::from_utf8(out.stdout).expect("utf-8 stdout"),
            String::from_utf8(out.stderr).expect("utf-8 stderr"),
        )
    }

    fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: stderr {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
    }

    fn ok_text(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: stderr {err}");
        out
    }

    fn service_error(&self, args: &[&str], code: &str, operation: &str) {
        let (rc, out, err) = self.run(args);
        assert_eq!((rc, out.as_str()), (255, ""), "{args:?}: stderr {err}");
        let prefix =
            format!("\nAn error occurred ({code}) when calling the {operation} operation: ");
        assert!(err.starts_with(&prefix), "{args:?}: stderr {err:?}");
    }
}

#[test]
fn readme_quickstart_with_iotjobs_alone() {
    let server = Server::start();
    let cli = Cli::new(&server);

    // Operator: register a device and send it a job.
    let thing = cli.ok_json(&["iot", "create-thing", "--thing-name", "dev2"]);
    assert_eq!(thing["thingName"], "dev2");
    let job = cli.ok_json(&[
        "iot",
        "create-job",
        "--job-id",
        "fw-2",
        "--targets",
        "arn:aws:iot:us-east-1:000000000000:thing/dev2",
        "--document",
        r#"{"operation":"firmware-update","version":"2.1"}"#,
    ]);
    assert_eq!(job["jobId"], "fw-2");

    // Device: take the next pending job; it is now IN_PROGRESS (version 2).
    let started = cli.ok_json(&[
        "iot-jobs-data",
        "start-next-pending-job-execution",
        "--thing-name",
        "dev2",
    ]);
    assert_eq!(started["execution"]["status"], "IN_PROGRESS");
    assert_eq!(started["execution"]["versionNumber"], 2);

    // Operator: an IN_PROGRESS execution is only canceled with --force.
    let cancel = [
        "iot",
        "cancel-job-execution",
        "--job-id",
        "fw-2",
        "--thing-name",
        "dev2",
    ];
    cli.service_error(
        &cancel,
        "InvalidStateTransitionException",
        "CancelJobExecution",
    );
    let forced: Vec<&str> = cancel
        .iter()
        .copied()
        .chain(["--force", "--status-details", "reason=recall"])
        .collect();
    assert_eq!(cli.ok_text(&forced), "", "no output shape: nothing printed");

    let described = cli.ok_json(&[
        "iot",
        "describe-job-execution",
        "--job-id",
        "fw-2",
        "--thing-name",
        "dev2",
    ]);
    let e = &described["execution"];
    assert_eq!(e["status"], "CANCELED");
    assert_eq!(e["forceCanceled"], true);
    assert_eq!(e["versionNumber"], 3);
    assert_eq!(e["statusDetails"]["detailsMap"]["reason"], "recall");

    // Device: its update is rejected; the job execution has finished.
    cli.service_error(
        &[
            "iot-jobs-data",
            "update-job-execution",
            "--thing-name",
            "dev2",
            "--job-id",
            "fw-2",
            "--status",
            "SUCCEEDED",
        ],
        "InvalidStateTransitionException",
        "UpdateJobExecution",
    );

    // Listing (auto-paginated) with --query and text output.
    assert_eq!(
        cli.ok_text(&[
            "iot",
            "list-jobs",
            "--query",
            "jobs[].jobId",
            "--output",
            "text"
        ]),
        "fw-2\n"
    );
    assert_eq!(
        cli.ok_text(&[
            "iot",
            "list-job-executions-for-job",
            "--job-id",
            "fw-2",
            "--query",
            "executionSummaries[0].jobExecutionSummary.status",
            "--output",
            "text",
        ]),
        "CANCELED\n"
    );
}

#[test]
fn list_jobs_follows_every_page() {
    let server = Server::start();
    let cli = Cli::new(&server);
    cli.ok_json(&["iot", "create-thing", "--thing-name", "t1"]);
    for i in 0..5 {
        let id = format!("job-{i}");
        cli.ok_json(&[
            "iot",
            "create-job",
            "--job-id",
            &id,
            "--targets",
            "arn:aws:iot:us-east-1:000000000000:thing/t1",
            "--document",
            "{}",
        ]);
    }
    // Pages of 2: the CLI follows nextToken and prints one merged list, like the AWS CLI.
    let all = cli.ok_json(&[
        "iot",
        "list-jobs",
        "--page-size",
        "2",
        "--query",
        "jobs[].jobId",
    ]);
    let mut ids: Vec<String> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["job-0", "job-1", "job-2", "job-3", "job-4"]);
    // --max-items prints a NextToken that --starting-token resumes from.
    let first = cli.ok_json(&["iot", "list-jobs", "--page-size", "2", "--max-items", "3"]);
    assert_eq!(first["jobs"].as_array().expect("jobs").len(), 3);
    let token = first["NextToken"].as_str().expect("NextToken").to_string();
    let rest = cli.ok_json(&[
        "iot",
        "list-jobs",
        "--page-size",
        "2",
        "--starting-token",
        &token,
    ]);
    assert_eq!(rest["jobs"].as_array().expect("jobs").len(), 2);
}
