//! restJson1 request handling that only needs the service models: routing a method and raw
//! path to an operation, decoding path/query/body into the operation's input structure, and
//! validating it against the model's constraints with AWS (Coral) style messages.
//!
//! Everything here works on plain `&str` / `&[u8]` / `serde_json::Value` so it can be unit
//! tested without a server. It must not depend on axum or any HTTP framework types, must not
//! know about the domain (that is `iotjobs-core`), and must not decide HTTP responses: every
//! failure is a [`WireError`], which the edge maps to `400 InvalidRequestException`.
//!
//! The tables it reads are generated (`iotjobs_model::generated::{iot, iot_jobs_data}::MODEL`)
//! and live, with their types, in the `iotjobs-model` crate; [`Plane`] picks one of them.
//! This module is a leaf of the crate: it imports no other module of it.

pub mod decode;
pub mod route;
pub mod validate;

use std::fmt;

use iotjobs_model::Model;
use iotjobs_model::generated::{iot, iot_jobs_data};

pub use decode::decode_input;
pub use route::{RouteMatch, match_route, match_route_with_query};
pub use validate::validate;

/// Which AWS service a request is for, and so which model routes, decodes and validates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Signing name `iot`: things, groups, jobs, executions (operator side).
    Control,
    /// Signing name `iot-jobs-data`: the device side.
    Data,
}

impl Plane {
    pub fn model(self) -> &'static Model {
        match self {
            Plane::Control => &iot::MODEL,
            Plane::Data => &iot_jobs_data::MODEL,
        }
    }
}

/// Why a request could not be turned into a valid operation input.
///
/// All kinds map to `400 InvalidRequestException`; the kind only exists for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub kind: WireErrorKind,
    /// Client-facing message (the `message` of the error body).
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The body is not JSON, not an object, or the query/path is not decodable text.
    Malformed,
    /// A value has the wrong JSON type (or a query/path value does not parse as its type).
    Type,
    /// Model constraints are violated; the message is the Coral-style list of violations.
    Validation,
    /// The operation's input shape is not in the generated (served) tables.
    NotServed,
}

impl WireError {
    pub(crate) fn new(kind: WireErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}
