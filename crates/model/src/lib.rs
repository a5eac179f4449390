//! The two AWS service models iotjobs speaks (`iot` and `iot-jobs-data`), as Rust data.
//!
//! - The table types ([`Model`], [`OperationDef`], [`ShapeDef`], [`ErrorDef`], …): what
//!   botocore's models say about operations, shapes and errors.
//! - [`generated`]: the tables themselves, the served operations and the request/response
//!   DTOs, written by `cargo xtask codegen` from botocore's service models. Never edited by
//!   hand.
//! - [`pattern`]: the models' Java regular expressions in `regex`-crate syntax.
//!
//! Both the server (`iotjobs-api`) and the CLI (`iotjobs-cli`) read these tables, so this
//! crate is a leaf: it depends on serde and regex only, and must not grow HTTP, async-runtime
//! or domain (`iotjobs-core`) knowledge, nor AWS documentation text.

pub mod generated;
pub mod pattern;
mod tables;

pub use tables::{
    ErrorDef, Location, MemberDef, Model, OperationDef, Segment, ShapeDef, ShapeId, ShapeKind,
};
