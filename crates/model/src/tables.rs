//! The types of the generated model tables (`crate::generated::{iot, iot_jobs_data}`).
//!
//! These are plain `'static` data: what the botocore models say about operations, shapes and
//! errors, and nothing else. The generated modules only instantiate them; the behaviour that
//! reads them (routing, decoding, validation) lives with their users (`iotjobs-api`'s `wire`,
//! the CLI). This module must not grow HTTP-framework types or AWS documentation text.

use std::sync::OnceLock;

use regex::Regex;

use crate::pattern::compile_pattern;

/// One `/`-separated piece of an operation's `requestUri` path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Must equal the (percent-decoded) request segment exactly, e.g. `jobs` or `$next`.
    Literal(&'static str),
    /// `{name}`: binds exactly one non-empty request segment.
    Label(&'static str),
    /// `{name+}`: binds the rest of the path (one or more segments, `/` kept). Always last.
    Greedy(&'static str),
}

/// One operation of a model, as its `http` trait and shape references describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationDef {
    /// Operation name, e.g. `CancelJobExecution`.
    pub name: &'static str,
    /// HTTP method in upper case.
    pub method: &'static str,
    /// The raw `requestUri` template, kept for diagnostics and docs.
    pub uri: &'static str,
    /// The path part of `requestUri`, split on `/` (the leading `/` is not a segment).
    pub path: &'static [Segment],
    /// Literal `name=value` pairs from a `?…` part of `requestUri` (value `""` when the
    /// template names a bare key). No operation of our two models has one today.
    pub query: &'static [(&'static str, &'static str)],
    /// Input shape name.
    pub input: Option<&'static str>,
    /// Output shape name; `None` means "200 with an empty body".
    pub output: Option<&'static str>,
    /// Error shape names the operation declares (any error of the model may still be sent).
    pub errors: &'static [&'static str],
    /// `http.responseCode`, 200 when the model does not say.
    pub response_code: u16,
}

/// The `type` of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    String,
    Long,
    Integer,
    Boolean,
    Double,
    Float,
    Timestamp,
    Blob,
    Map,
    List,
    Structure,
}

/// Where a structure member travels in a restJson1 request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A key of the JSON body (no `location` in the model).
    Body,
    /// A `{label}` of the path template.
    Uri,
    /// A query-string parameter.
    QueryString,
    /// An HTTP header.
    Header,
    /// The HTTP status code (response members only).
    StatusCode,
}

/// Index of a shape in its model's [`Model::shapes`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeId(pub u16);

/// A member of a structure shape.
#[derive(Debug, Clone, Copy)]
pub struct MemberDef {
    /// Member name: the JSON key in our decoded values and the name in validation paths.
    pub name: &'static str,
    /// Name of the target shape (for diagnostics; `shape` is what code should use).
    pub target: &'static str,
    /// The target shape.
    pub shape: ShapeId,
    /// Where the member is bound on the wire.
    pub location: Location,
    /// The wire name: label, query key, header name, or JSON key (defaults to `name`).
    pub location_name: &'static str,
}

impl MemberDef {
    /// A body member whose JSON key is its name.
    pub const fn body(name: &'static str, target: &'static str, shape: u16) -> Self {
        Self::bound(name, target, shape, Location::Body, name)
    }

    /// A member with an explicit binding.
    pub const fn bound(
        name: &'static str,
        target: &'static str,
        shape: u16,
        location: Location,
        location_name: &'static str,
    ) -> Self {
        MemberDef {
            name,
            target,
            shape: ShapeId(shape),
            location,
            location_name,
        }
    }
}

/// A shape with the constraints the model states for it (served closure only).
#[derive(Debug, Clone, Copy)]
pub struct ShapeDef {
    pub name: &'static str,
    pub kind: ShapeKind,
    /// `min`: string length (chars), list length, map entry count, or numeric minimum.
    pub min: Option<f64>,
    /// `max`: as `min`.
    pub max: Option<f64>,
    /// `pattern`, verbatim Java regex syntax (see `crate::pattern`).
    pub pattern: Option<&'static str>,
    /// `enum` values of a string shape; empty when not an enum.
    pub enum_values: &'static [&'static str],
    /// `required` member names of a structure.
    pub required: &'static [&'static str],
    /// Members of a structure, in model order.
    pub members: &'static [MemberDef],
    /// Key shape of a map.
    pub key: Option<ShapeId>,
    /// Value shape of a map.
    pub value: Option<ShapeId>,
    /// Element shape of a list.
    pub member: Option<ShapeId>,
}

impl ShapeDef {
    /// Base for `..ShapeDef::DEFAULT` in the generated tables.
    pub const DEFAULT: ShapeDef = ShapeDef {
        name: "",
        kind: ShapeKind::Structure,
        min: None,
        max: None,
        pattern: None,
        enum_values: &[],
        required: &[],
        members: &[],
        key: None,
        value: None,
        member: None,
    };
}

/// An exception shape: the `x-amzn-ErrorType` code and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorDef {
    /// Error code (= shape name; no shape in our models overrides `error.code`).
    pub name: &'static str,
    /// `error.httpStatusCode`.
    pub status: u16,
    /// `fault: true` (server-side error) rather than a client error.
    pub fault: bool,
}

/// One service model: operations, the served shape closure, errors, and a regex cache.
#[derive(Debug)]
pub struct Model {
    /// The model's signing name (`iot` or `iot-jobs-data`).
    pub name: &'static str,
    /// Every operation of the model, sorted by name.
    pub ops: &'static [OperationDef],
    /// Shapes reachable from the served operations' inputs and outputs, sorted by name.
    pub shapes: &'static [ShapeDef],
    /// Every exception shape of the model, sorted by name.
    pub errors: &'static [ErrorDef],
    /// Names of the operations we serve.
    pub served: &'static [&'static str],
    /// Compiled full-match patterns, indexed like `shapes`; built once on first use so the
    /// validation hot path is a lock-free `OnceLock` read.
    patterns: OnceLock<Vec<Option<Regex>>>,
}

impl Model {
    /// Used by the generated `MODEL` statics.
    pub const fn new(
        name: &'static str,
        ops: &'static [OperationDef],
        shapes: &'static [ShapeDef],
        errors: &'static [ErrorDef],
        served: &'static [&'static str],
    ) -> Self {
        Model {
            name,
            ops,
            shapes,
            errors,
            served,
            patterns: OnceLock::new(),
        }
    }

    /// The operation called `name`, served or not.
    pub fn find_op(&self, name: &str) -> Option<&'static OperationDef> {
        let ops = self.ops;
        ops.binary_search_by(|o| o.name.cmp(name))
            .ok()
            .map(|i| &ops[i])
    }

    /// Whether `name` is one of the operations whose shapes were generated.
    pub fn is_served(&self, name: &str) -> bool {
        self.served.contains(&name)
    }

    /// The shape with index `id`. Panics on an id from another model (a programming error).
    pub fn shape(&self, id: ShapeId) -> &'static ShapeDef {
        let shapes = self.shapes;
        &shapes[usize::from(id.0)]
    }

    /// The index of the shape called `name`, if it is in the served closure.
    pub fn shape_id(&self, name: &str) -> Option<ShapeId> {
        let i = self.shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        u16::try_from(i).ok().map(ShapeId)
    }

    /// The exception shape whose code is `code`.
    pub fn error(&self, code: &str) -> Option<&'static ErrorDef> {
        let errors = self.errors;
        errors
            .binary_search_by(|e| e.name.cmp(code))
            .ok()
            .map(|i| &errors[i])
    }

    /// The HTTP status of error `code` in this model.
    pub fn error_status(&self, code: &str) -> Option<u16> {
        self.error(code).map(|e| e.status)
    }

    /// The compiled full-match regex for shape `id`, if it has a pattern.
    ///
    /// A pattern that does not compile after translation yields `None` (no check) rather than
    /// a panic at request time; the `every_pattern_compiles` unit test keeps that from
    /// happening for the shipped models.
    pub fn pattern(&self, id: ShapeId) -> Option<&Regex> {
        self.patterns
            .get_or_init(|| {
                self.shapes
                    .iter()
                    .map(|s| s.pattern.and_then(|p| compile_pattern(p).ok()))
                    .collect()
            })
            .get(usize::from(id.0))?
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use crate::generated::{iot, iot_jobs_data};

    #[test]
    fn model_lookups() {
        assert_eq!(iot::MODEL.error_status("LimitExceededException"), Some(410));
        assert_eq!(iot::MODEL.error_status("ThrottlingException"), Some(400));
        assert_eq!(
            iot_jobs_data::MODEL.error_status("ThrottlingException"),
            Some(429)
        );
        assert_eq!(
            iot_jobs_data::MODEL.error_status("TerminalStateException"),
            Some(410)
        );
        assert_eq!(
            iot_jobs_data::MODEL.error_status("VersionConflictException"),
            None
        );
        assert!(
            iot::MODEL
                .error("ServiceUnavailableException")
                .unwrap()
                .fault
        );
        assert!(iot::MODEL.find_op("CancelJobExecution").is_some());
        assert!(iot::MODEL.is_served("CancelJobExecution"));
        assert!(!iot::MODEL.is_served("ListPolicies"));
        assert_eq!(iot::OPERATIONS.len(), 272);
        for model in [&iot::MODEL, &iot_jobs_data::MODEL] {
            for name in model.served {
                let op = model.find_op(name).unwrap();
                assert!(model.shape_id(op.input.unwrap()).is_some(), "{name}");
                if let Some(out) = op.output {
                    assert!(model.shape_id(out).is_some(), "{name}");
                }
            }
        }
    }
}
