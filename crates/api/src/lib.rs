//! The wire edge of iotjobs: the only server-side crate that knows HTTP and the AWS
//! restJson1 protocol.
//!
//! The modules form a one-way graph, listed from the leaves up; each imports only modules
//! above it in this list, and nothing imports `server`:
//!
//! - [`wire`]: the [`wire::Plane`] a request is for, routing, decoding and validation
//!   against the AWS models (`iotjobs_model`).
//! - `x509`: the few fields of an X.509 certificate's DER that the edge reads (validity,
//!   names, public key).
//! - [`issuer`]: CreateKeysAndCertificate's certificate authority, which signs device
//!   certificates with the `--mqtt-client-ca` key (uses `x509`).
//! - [`s3`]: the server's S3 client (`--s3-endpoint`): CreateJob's `documentSource`
//!   and the presigned URLs in the documents devices receive.
//! - [`app`]: one account's [`app::App`] (store, clock, configuration, the optional
//!   certificate issuer, the S3 client) and its ARNs (uses `issuer`, `s3`).
//! - [`audit`]: `GET /iotjobs-api/audit`, the account's audit log (uses `app`).
//! - [`auth`]: SigV4 verification, access keys, roles (uses `wire::Plane` only).
//! - [`console`]: the web console's static files (`GET /console`), compiled in; it
//!   serves no data and imports no other module.
//! - [`listener`]: the accept loop (TCP or TLS), connection cap and shedding, header
//!   timeout and head limit, graceful shutdown; it serves any router and imports no other
//!   module.
//! - [`error`]: the one mapping of typed errors to AWS error responses (uses `app`,
//!   `auth`, `listener`, `wire`).
//! - `handlers`: one function per served operation (uses `app`, `error`, `wire`, `x509`).
//! - [`background`]: the periodic sweep of each account (uses `app`).
//! - [`observe`]: `/health`, `/metrics` and the request log's fields (uses `app`).
//! - [`testclock`]: `POST /iotjobs-api/clock` of `serve --test-clock` (uses `app`,
//!   `background`).
//! - [`server`]: the pipeline, the top of the graph: one listener for both planes,
//!   authenticate, route, authorize, decode, handle, answer.
//!
//! There are no re-exports at the root: each item has one path, in its module.
//!
//! **Architecture invariant:** no rule of the Jobs service is decided here (the core's
//! state machine decides), and no SQL is written here (the store's job).

pub mod app;
pub mod audit;
pub mod auth;
pub mod background;
pub mod console;
pub mod error;
mod handlers;
pub mod issuer;
pub mod listener;
pub mod observe;
pub mod s3;
pub mod server;
pub mod testclock;
pub mod wire;
mod x509;

/// The module graph above, checked: a `crate::<module>` path in code (not comments)
/// outside the modules a module may use fails the test.
#[cfg(test)]
mod module_graph {
    use std::path::Path;

    /// Each module and the crate modules its code may name; `server` may name them all.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("wire", &[]),
        ("x509", &[]),
        ("issuer", &["x509"]),
        ("s3", &[]),
        ("app", &["issuer", "s3"]),
        ("audit", &["app"]),
        ("auth", &["wire"]),
        ("console", &[]),
        ("listener", &[]),
        ("error", &["app", "auth", "listener", "wire"]),
        ("handlers", &["app", "error", "wire", "x509"]),
        ("background", &["app"]),
        ("observe", &["app"]),
        ("testclock", &["app", "background"]),
    ];

    fn sources(path: &Path, out: &mut Vec<(String, String)>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }

    #[test]
    fn modules_import_only_what_lib_rs_says() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for (module, allowed) in ALLOWED {
            let mut files = Vec::new();
            sources(&src.join(module), &mut files);
            sources(&src.join(format!("{module}.rs")), &mut files);
            assert!(!files.is_empty(), "no source for module {module}");
            for (file, text) in files {
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    for (i, _) in code.match_indices("crate::") {
                        let used: String = code[i + "crate::".len()..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        assert!(
                            used == *module || allowed.contains(&used.as_str()),
                            "{file}:{}: {module} uses crate::{used}; see the module graph in lib.rs",
                            n + 1
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 0);
    }
}
