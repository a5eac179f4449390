//! Integration tests: the real `iotjobs` binary on 127.0.0.1:0, each test with a fresh
//! database, driven by the official AWS SDK for Rust (aws-sdk-iot and
//! aws-sdk-iotjobsdataplane). One test binary for all of them, to keep link time down.
//! The boto3 and AWS CLI v1 suite lives in `tests/python`.

mod harness;

mod cancel_job_execution;
mod cli_quickstart;
mod data_plane;
mod lifecycle;
mod multinode;
mod operations;
mod registry_ops;
mod restart;
mod security;
mod tidy;
mod timeouts;
mod wire;
