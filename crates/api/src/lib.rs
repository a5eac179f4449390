//! The wire edge of iotjobs: the only crate that knows HTTP and the AWS restJson1
//! protocol.
//!
//! - [`listener`]: the accept loop (TCP or TLS), connection cap and read timeouts.
//! - [`auth`]: SigV4 verification, access keys, roles.
//! - [`server`]: one listener for both planes; requests are routed by the AWS models
//!   (`iotjobs_model::generated`), decoded and validated (`wire`), handled (`handlers`), and errors
//!   are mapped to the wire once (`error`).
//!
//! **Architecture invariant:** no rule of the Jobs service is decided here (the core's
//! state machine decides), and no SQL is written here (the store's job).

pub mod auth;
pub mod background;
pub mod error;
mod handlers;
pub mod listener;
pub mod server;
pub mod wire;

pub use error::ApiError;
pub use server::{App, Limits, MAX_BODY_BYTES, Plane, Service, ServiceConfig, router};
