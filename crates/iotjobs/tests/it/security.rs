//! Security at the edge, against the real binary: access keys from a credentials file
//! (roles, accounts) with the Rust SDK, and the limits that keep the server responsive
//! under an over-size body, slow-loris clients, a connection flood and garbage input.
//! boto3 / AWS CLI / HTTPS / tampering cases are in `tests/python/test_security.py`.

use crate::harness::{Server, code_status, sigv4_lines};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CREDENTIALS: &str = r#"
[[keys]]
access_key_id = "AKADMIN1"
secret_access_key = "admin-secret-1"
account_id = "111111111111"
role = "admin"

[[keys]]
access_key_id = "AKDEVA"
secret_access_key = "device-secret-a"
account_id = "111111111111"
role = "device"
thing_name = "thing-a"

[[keys]]
access_key_id = "AKOP2"
secret_access_key = "operator-secret-2"
account_id = "222222222222"
role = "operator"
"#;

fn with_credentials(database: Option<&str>) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.toml");
    std::fs::write(&path, CREDENTIALS).unwrap();
    let path = path.to_str().unwrap().to_owned();
    let args = ["--credentials", path.as_str()];
    let server = match database {
        None => Server::start_with(&args),
        Some(url) => Server::start_on_with(url, &args),
    };
    (server, dir)
}

#[tokio::test]
async fn devices_reach_only_their_own_thing_and_accounts_are_isolated() {
    let (server, _dir) = with_credentials(None);
    roles_and_accounts(&server).await;
}

/// The same on PostgreSQL, where each account is a schema: two nodes share them.
#[tokio::test]
async fn accounts_on_postgres_are_schemas_shared_by_every_node() {
    let url = crate::multinode::fresh_schema().await;
    let (server, _dir) = with_credentials(Some(&url));
    roles_and_accounts(&server).await;
    let (second, _dir2) = with_credentials(Some(&url));
    let jobs = second
        .iot_as("AKOP2", "operator-secret-2")
        .list_jobs()
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = jobs.jobs().iter().filter_map(|j| j.job_arn()).collect();
    assert_eq!(arns, ["arn:aws:iot:us-east-1:222222222222:job/job-1"]);
}

async fn roles_and_accounts(server: &Server) {
    let admin = server.iot_as("AKADMIN1", "admin-secret-1");
    for t in ["thing-a", "thing-b"] {
        admin.create_thing().thing_name(t).send().await.unwrap();
    }
    admin
        .create_job()
        .job_id("job-1")
        .targets("arn:aws:iot:us-east-1:111111111111:thing/thing-a")
        .targets("arn:aws:iot:us-east-1:111111111111:thing/thing-b")
        .document("{}")
        .send()
        .await
        .unwrap();
    let job = admin.describe_job().job_id("job-1").send().await.unwrap();
    assert_eq!(
        job.job().unwrap().job_arn(),
        Some("arn:aws:iot:us-east-1:111111111111:job/job-1")
    );

    let device = server.data_as("AKDEVA", "device-secret-a");
    let own = device
        .get_pending_job_executions()
        .thing_name("thing-a")
        .send()
        .await
        .unwrap();
    assert_eq!(own.queued_jobs().len(), 1);
    let err = device
        .describe_job_execution()
        .thing_name("thing-b")
        .job_id("job-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("AccessDeniedException".into(), 403));
    let err = device
        .start_next_pending_job_execution()
        .thing_name("thing-b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("AccessDeniedException".into(), 403));
    // The device key on the control plane.
    let err = server
        .iot_as("AKDEVA", "device-secret-a")
        .list_jobs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("AccessDeniedException".into(), 403));
    // thing-b's execution was not touched by the refused calls.
    let b = server
        .data_as("AKADMIN1", "admin-secret-1")
        .describe_job_execution()
        .thing_name("thing-b")
        .job_id("job-1")
        .send()
        .await
        .unwrap();
    assert_eq!(b.execution().unwrap().version_number(), 1);

    // Account 2 sees nothing of account 1, and has its own job-1.
    let other = server.iot_as("AKOP2", "operator-secret-2");
    assert!(other.list_jobs().send().await.unwrap().jobs().is_empty());
    let err = other
        .describe_job()
        .job_id("job-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
    other
        .create_thing()
        .thing_name("thing-a")
        .send()
        .await
        .unwrap();
    let created = other
        .create_job()
        .job_id("job-1")
        .targets("arn:aws:iot:us-east-1:222222222222:thing/thing-a")
        .document("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.job_arn(),
        Some("arn:aws:iot:us-east-1:222222222222:job/job-1")
    );
    // Raw paths that decode or normalize to thing-b do not reach it: an encoded label
    // is decoded before the role check, and dot segments never match a route.
    let addr = server.endpoint.trim_start_matches("http://");
    for (path, want) in [
        ("/things/thing%2Da/jobs", 200),
        ("/things/thing%2Db/jobs", 403),
        ("/things/thing-a/../thing-b/jobs", 404),
        ("/things/thing-b/./jobs", 404),
    ] {
        let signed = crate::harness::sigv4_lines_as(
            ("AKDEVA", "device-secret-a"),
            "GET",
            addr,
            path,
            &[],
            b"",
            "iot-jobs-data",
        );
        let (status, resp) = exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{signed}Connection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(status, want, "{path}: {resp}");
    }
    // The development key does not exist once a credentials file is given.
    let err = server.iot().list_jobs().send().await.unwrap_err();
    assert_eq!(
        code_status(&err),
        ("UnrecognizedClientException".into(), 403)
    );
}

/// `authorization` and `x-amz-date` header lines of a `PUT /jobs/j1` signed over
/// `body` with the development key: the headers pass every check made before the body
/// is read.
fn signed_put(addr: &str, body: &[u8]) -> String {
    sigv4_lines("PUT", addr, "/jobs/j1", &[], body, "iot")
}

/// One raw HTTP/1.1 exchange on a fresh connection; the response head and body.
fn exchange(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, resp)
}

/// A signed ListJobs answers 200 within `limit`.
async fn answers_within(server: &Server, limit: Duration) -> Duration {
    let started = Instant::now();
    let Ok(answer) = tokio::time::timeout(limit, server.iot().list_jobs().send()).await else {
        panic!("no answer within {limit:?}");
    };
    answer.expect("ListJobs");
    started.elapsed()
}

#[tokio::test]
async fn oversize_bodies_answer_413_without_being_read() {
    let server = Server::start();
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    // Declared too large: refused before any byte of the body is read.
    let head = format!(
        "PUT /jobs/j1 HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        signed_put(&addr, b""),
        2 << 20
    );
    let (status, resp) = exchange(&addr, head.as_bytes());
    assert_eq!(status, 413, "{resp}");
    assert!(resp.contains("RequestEntityTooLargeException"), "{resp}");
    // Chunked, no length: refused once the limit is crossed.
    let addr2 = addr.clone();
    let (status, resp) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr2).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "PUT /jobs/j1 HTTP/1.1\r\nHost: {addr2}\r\n{}Transfer-Encoding: chunked\r\n\r\n",
            signed_put(&addr2, b"")
        )
        .unwrap();
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..40 {
            if write!(s, "{:x}\r\n", chunk.len()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let resp = String::from_utf8_lossy(&resp).into_owned();
        (
            resp.get(9..12)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0),
            resp,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 413, "{resp}");
    answers_within(&server, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn slow_loris_clients_are_cut_off_and_others_are_served() {
    let server =
        Server::start_with(&["--header-read-timeout-ms", "500", "--max-connections", "16"]);
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    // 48 clients (3× the cap) each trickle a header byte every 100 ms, forever.
    let clients: Vec<_> = (0..48)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || -> Option<Duration> {
                let mut s = TcpStream::connect(&addr).ok()?;
                let started = Instant::now();
                s.write_all(b"GET /jobs HTTP/1.1\r\nHost: x\r\n").ok()?;
                for _ in 0..200 {
                    std::thread::sleep(Duration::from_millis(100));
                    if s.write_all(b"X").is_err() {
                        return Some(started.elapsed());
                    }
                }
                None
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let took = answers_within(&server, Duration::from_secs(8)).await;
    eprintln!("ListJobs during the slow-loris attack answered in {took:?}");
    for c in clients {
        let cut = c.join().unwrap();
        // Each slow client is disconnected (a write fails) long before its 20 s are up.
        assert!(
            cut.is_some_and(|d| d < Duration::from_secs(10)),
            "a slow client kept its connection: {cut:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_flood_does_not_lock_out_clients() {
    // The default 10 s header timeout: it is shedding under pressure, not the timeout,
    // that lets the client in.
    let server = Server::start_with(&["--max-connections", "16"]);
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    // A request in flight whose body is half sent: its signature cannot be checked yet.
    let mut busy = TcpStream::connect(&addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        busy,
        "PUT /jobs/j1 HTTP/1.1\r\nHost: {addr}\r\n{}Content-Length: 4\r\nConnection: close\r\n\r\n{{}}",
        signed_put(&addr, b"{}  ")
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // 300 connections that never send a byte.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert!(
        idle.len() > 100,
        "could open only {} connections",
        idle.len()
    );
    let took = answers_within(&server, Duration::from_secs(3)).await;
    eprintln!("ListJobs behind 300 idle connections answered in {took:?}");
    // That request proved nothing and had been idle longest, so it gave way first (a
    // request still waiting for its body holds nothing yet: a forged one could hold a slot
    // for the whole body timeout). It is answered, not cut: 503, which SDKs retry.
    let mut resp = String::new();
    let _ = busy.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp:?}");
    assert!(resp.contains("ServiceUnavailableException"), "{resp:?}");
    drop(idle);
    answers_within(&server, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn clients_that_never_read_their_answers_do_not_lock_out_others() {
    let server = Server::start_with(&["--max-connections", "4"]);
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    server
        .iot()
        .create_thing()
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    server
        .iot()
        .create_job()
        .job_id("big")
        .targets(crate::harness::thing_arn("t1"))
        .document(format!("{{\"blob\":\"{}\"}}", "x".repeat(30_000)))
        .send()
        .await
        .unwrap();
    // 8 connections (twice the cap) each pipeline 300 signed GetJobDocument requests
    // (9 MB of answers) and never read: the answers fill the socket buffers, so hyper
    // never gets back to reading the connection (and its header timer never runs).
    let path = "/jobs/big/job-document";
    let signed = sigv4_lines("GET", &addr, path, &[], b"", "iot");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{signed}\r\n").repeat(300);
    let stuck: Vec<TcpStream> = (0..8)
        .filter_map(|_| {
            let mut s = TcpStream::connect(&addr).ok()?;
            s.set_write_timeout(Some(Duration::from_millis(500))).ok()?;
            let _ = s.write_all(request.as_bytes());
            Some(s)
        })
        .collect();
    assert_eq!(stuck.len(), 8);
    std::thread::sleep(Duration::from_millis(500));
    let took = answers_within(&server, Duration::from_secs(3)).await;
    eprintln!("ListJobs behind 8 never-reading clients answered in {took:?}");
    drop(stuck);
}

#[tokio::test]
async fn a_refused_request_with_a_small_body_keeps_its_connection() {
    let server = Server::start();
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = "x".repeat(10_000);
        // Unsigned, with a body: 403, the body is drained, the connection stays.
        write!(
            s,
            "PUT /jobs/j1 HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert!(first.starts_with("http/1.1 403"), "{first}");
        assert!(!first.contains("connection: close"), "{first}");
        // The same connection carries a signed request next.
        let signed = sigv4_lines("GET", &addr, "/jobs", &[], b"", "iot");
        write!(
            s,
            "GET /jobs HTTP/1.1\r\nHost: {addr}\r\n{signed}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut rest = String::new();
        let _ = s.read_to_string(&mut rest);
        assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stalled_body_times_out_with_408() {
    let server = Server::start_with(&["--body-read-timeout-ms", "300"]);
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let head = format!(
        "PUT /jobs/j1 HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"document\"",
        signed_put(&addr, b"")
    );
    let (status, resp) = tokio::task::spawn_blocking(move || exchange(&addr, head.as_bytes()))
        .await
        .unwrap();
    assert_eq!(status, 408, "{resp}");
    assert!(resp.contains("RequestTimeoutException"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn garbage_input_never_takes_the_server_down() {
    let server = Server::start();
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    let addr2 = addr.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        let mut rng = fastrand::Rng::with_seed(6);
        let mut statuses = Vec::new();
        let methods = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "\x00"];
        let paths = [
            "/things/t1/jobs/j1/cancel",
            "/jobs/j1",
            "/things/%ZZ/jobs",
            "/things/../../jobs",
            "/jobs/j1?force=%",
            "/things/t1/jobs/$next",
            "//",
            "*",
        ];
        for i in 0..300 {
            let method = methods[rng.usize(..methods.len())];
            let path = paths[rng.usize(..paths.len())];
            let body: Vec<u8> = (0..rng.usize(..200)).map(|_| rng.u8(..)).collect();
            let request = if i % 3 == 0 {
                // Well-signed requests with a random body, so the body reaches the decoder.
                let signed = sigv4_lines(method, &addr2, path, &[], &body, "iot");
                let mut r = format!(
                    "{method} {path} HTTP/1.1\r\nHost: {addr2}\r\n{signed}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                // Raw noise, sometimes with a plausible request line.
                let mut r = if i % 3 == 1 {
                    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n").into_bytes()
                } else {
                    Vec::new()
                };
                r.extend_from_slice(&body);
                r.extend_from_slice(b"\r\n\r\n");
                r
            };
            let (status, _) = exchange(&addr2, &request);
            statuses.push(status);
        }
        statuses
    })
    .await
    .unwrap();
    assert!(
        statuses.iter().all(|s| *s != 500),
        "an input made the server fail: {statuses:?}"
    );
    assert!(statuses.contains(&400) || statuses.contains(&403));
    answers_within(&server, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_database_keeps_its_account_across_restarts() {
    let mut server = Server::start();
    server
        .iot()
        .create_thing()
        .thing_name("t1")
        .send()
        .await
        .unwrap();
    server.stop();
    // The same database under another --account-id would hand account 000000000000's
    // things and jobs to 111111111111: refused at start-up.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_iotjobs"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--account-id",
            "111111111111",
        ])
        .arg("--database")
        .arg(format!("sqlite://{}", server.db_path().display()))
        .env_remove("IOTJOBS_CREDENTIALS")
        .env_remove("IOTJOBS_ACCESS_KEY_ID")
        .env_remove("IOTJOBS_SECRET_ACCESS_KEY")
        .env_remove("IOTJOBS_AUTH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway would never exit: give it 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on another account's database");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("holds the resources of account 000000000000, not 111111111111"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    // Under its own account it starts, data intact.
    server.restart();
    let t = server.iot().describe_thing().thing_name("t1").send().await;
    assert!(t.is_ok(), "{t:?}");
}
