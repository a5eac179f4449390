//! `cargo xtask codegen [--check]`: botocore models → `crates/model/src/generated/*.rs`.
//!
//! For each model it emits, into one module:
//! - `OPERATIONS`: every operation's HTTP binding (method, split path template, literal query,
//!   input/output shape names, declared errors, response code);
//! - `SHAPES`: the transitive closure of the served operations' input and output shapes, with
//!   their constraints and member bindings (member targets are indices into `SHAPES`);
//! - `ERRORS`: every exception shape with its HTTP status;
//! - `SERVED`, and `Operation`: the served operations as an enum (`name`, `from_name`, `ALL`),
//!   so the server's dispatch is an exhaustive `match` and a served operation cannot lack a
//!   handler;
//! - `MODEL` (an `iotjobs_model::Model` over the tables);
//! - serde DTO structs for every structure shape in the served closure. A served operation's
//!   input structure has its `required` members bare (`pub job_id: String`): the server
//!   validates the decoded input against the model before it builds the DTO, so a handler
//!   never has to ask again. Every other member, and every member of any other structure
//!   (outputs, which handlers build, and nested shapes, which outputs share), is an `Option`.
//!   A structure with a `sensitive` member gets a `Debug` that redacts it (as the AWS SDK for
//!   Rust's does), so no secret it carries reaches a log through `{:?}`.
//!
//! The types of those tables are the hand-written ones at the root of `iotjobs-model`. Output goes
//! through rustfmt so `cargo fmt --check` accepts the committed files. No documentation string
//! of the models is ever copied (see the crate docs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::json::Json;

/// The botocore release the models in `shared/aws-models` come from (see its README).
const BOTOCORE_VERSION: &str = "1.44.8";

/// A model file, the module it becomes, and the operations we serve from it.
struct ModelSpec {
    file: &'static str,
    module: &'static str,
    served: &'static [&'static str],
}

/// The served operations: the one list of what `iotjobs serve` answers (the server's dispatch
/// matches the generated `Operation` enum exhaustively, the CLI offers these commands, and a
/// test holds `docs/compatibility.md` to it). Extending the server to a new operation starts
/// here: add its name, rerun `cargo xtask codegen`, and its shapes, DTOs and `Operation`
/// variant appear; the compiler then asks for its handler, and the CLI's tests for its help
/// texts (`crates/cli/src/help_text.rs`).
const MODELS: &[ModelSpec] = &[
    ModelSpec {
        file: "iot.service-2.json",
        module: "iot",
        served: &[
            "DescribeEndpoint",
            "CreateThing",
            "DescribeThing",
            "DeleteThing",
            "ListThings",
            "UpdateThing",
            "CreateThingGroup",
            "DescribeThingGroup",
            "UpdateThingGroup",
            "DeleteThingGroup",
            "RegisterCertificateWithoutCA",
            "CreateKeysAndCertificate",
            "DescribeCertificate",
            "UpdateCertificate",
            "DeleteCertificate",
            "ListCertificates",
            "AttachThingPrincipal",
            "DetachThingPrincipal",
            "ListThingPrincipals",
            "AddThingToThingGroup",
            "RemoveThingFromThingGroup",
            "ListThingsInThingGroup",
            "ListThingGroups",
            "ListThingGroupsForThing",
            "CreateJob",
            "DescribeJob",
            "ListJobs",
            "UpdateJob",
            "CancelJob",
            "AssociateTargetsWithJob",
            "DeleteJob",
            "GetJobDocument",
            "ListManagedJobTemplates",
            "DescribeManagedJobTemplate",
            "CreateJobTemplate",
            "DescribeJobTemplate",
            "ListJobTemplates",
            "DeleteJobTemplate",
            "DescribeJobExecution",
            "ListJobExecutionsForJob",
            "ListJobExecutionsForThing",
            "CancelJobExecution",
            "DeleteJobExecution",
        ],
    },
    ModelSpec {
        file: "iot-jobs-data.service-2.json",
        module: "iot_jobs_data",
        served: &[
            "DescribeJobExecution",
            "GetPendingJobExecutions",
            "StartNextPendingJobExecution",
            "UpdateJobExecution",
        ],
    },
];

/// Names a generated module imports or uses unqualified; a DTO with one of these names would
/// shadow it and break the output in confusing ways, so generation refuses instead.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "BTreeMap",
    "Box",
    "Clone",
    "Debug",
    "Default",
    "Deserialize",
    "Err",
    "None",
    "Ok",
    "Operation",
    "Option",
    "Result",
    "Serialize",
    "Some",
    "String",
    "Vec",
];

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// Generates every file; writes them, or (with `check`) reports drift. `Ok(false)` = drift.
pub fn run(check: bool) -> Result<bool> {
    let root = workspace_root();
    let shared = std::env::var_os("IOTJOBS_SHARED_DIR")
        .map_or_else(|| root.join("..").join("shared"), PathBuf::from);
    let models_dir = shared.join("aws-models");
    let out_dir = root
        .join("crates")
        .join("model")
        .join("src")
        .join("generated");

    let mut files = vec![("mod.rs".to_owned(), rustfmt(&root, &gen_mod())?)];
    for spec in MODELS {
        let path = models_dir.join(spec.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let model: Json =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let code = Generator::new(spec, &model)?
            .generate()
            .with_context(|| format!("generating from {}", spec.file))?;
        files.push((format!("{}.rs", spec.module), rustfmt(&root, &code)?));
    }

    if check {
        let mut fresh = true;
        for (name, content) in &files {
            let path = out_dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                eprintln!("stale: {}", path.display());
                fresh = false;
            }
        }
        if !fresh {
            eprintln!("generated code is not up to date: run `cargo xtask codegen` and commit");
        }
        return Ok(fresh);
    }

    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (name, content) in &files {
        let path = out_dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(content.as_str()) {
            continue;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(true)
}

/// The workspace root: the parent of this package's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Formats `code` with rustfmt (`$RUSTFMT` if set), run from the workspace root so any
/// `rustfmt.toml` there applies exactly as it does for `cargo fmt`.
fn rustfmt(root: &Path, code: &str) -> Result<String> {
    // An empty `RUSTFMT` (set but blank in some environments) means "not set".
    let rustfmt = std::env::var_os("RUSTFMT")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(&rustfmt)
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt (is the rustfmt component installed?)")?;
    child
        .stdin
        .take()
        .context("rustfmt stdin")?
        .write_all(code.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "rustfmt failed on generated code:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).context("rustfmt output is not UTF-8")
}

fn header(source: &str) -> String {
    format!(
        "//! @generated by `cargo xtask codegen` from botocore's {source} \
         (Apache-2.0, botocore {BOTOCORE_VERSION}). Do not edit.\n"
    )
}

fn gen_mod() -> String {
    let mut s = header("iot.service-2.json and iot-jobs-data.service-2.json");
    s.push_str(
        "//!\n\
         //! One module per model, because the two models reuse shape names (`JobExecution`,\n\
         //! `DescribeJobExecutionRequest`, ...) with different contents. The table types are\n\
         //! defined at the crate root.\n\n",
    );
    for spec in MODELS {
        let _ = writeln!(s, "pub mod {};", spec.module);
    }
    s
}

/// Code generation for one model.
struct Generator<'a> {
    spec: &'a ModelSpec,
    signing_name: String,
    /// All shapes of the model by name.
    shapes: BTreeMap<&'a str, &'a Json>,
    /// All operations of the model by name.
    ops: BTreeMap<&'a str, &'a Json>,
    /// The served closure, sorted; a shape's position is its `ShapeId`.
    closure: Vec<&'a str>,
    index: BTreeMap<&'a str, usize>,
    /// The served operations' input shapes: their required members are generated bare.
    inputs: BTreeSet<&'a str>,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a ModelSpec, model: &'a Json) -> Result<Self> {
        let signing_name = model
            .get("metadata")
            .and_then(|m| m.get("signingName"))
            .and_then(Json::str)
            .context("metadata.signingName missing")?
            .to_owned();
        let shapes: BTreeMap<&str, &Json> = model
            .get("shapes")
            .context("no shapes")?
            .entries()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let ops: BTreeMap<&str, &Json> = model
            .get("operations")
            .context("no operations")?
            .entries()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();

        // Transitive closure of the served operations' input and output shapes.
        let mut seen = BTreeSet::new();
        let mut stack = Vec::new();
        for name in spec.served {
            let op = ops
                .get(name)
                .with_context(|| format!("served operation {name} is not in the model"))?;
            for key in ["input", "output"] {
                if let Some(shape) = op.get(key).and_then(|s| s.get("shape")).and_then(Json::str) {
                    stack.push(shape);
                }
            }
        }
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            let shape = shapes
                .get(name)
                .with_context(|| format!("shape {name} is referenced but not defined"))?;
            for (_, member) in shape.get("members").map_or(&[][..], Json::entries) {
                stack.push(target(member)?);
            }
            for key in ["member", "key", "value"] {
                if let Some(t) = shape.get(key) {
                    stack.push(target(t)?);
                }
            }
        }
        let closure: Vec<&str> = seen.into_iter().collect();
        if closure.len() > usize::from(u16::MAX) {
            bail!("too many shapes for a u16 ShapeId");
        }
        let index = closure.iter().enumerate().map(|(i, n)| (*n, i)).collect();

        // An input shape with bare members must be nothing but an input: were it also an
        // output or a member of another shape, handlers would have to fill its required
        // members where the model lets them be absent.
        let mut inputs = BTreeSet::new();
        let mut elsewhere = BTreeSet::new();
        for name in spec.served {
            let op = ops[name];
            if let Some(r) = op.get("input") {
                inputs.insert(target(r)?);
            }
            if let Some(r) = op.get("output") {
                elsewhere.insert(target(r)?);
            }
        }
        for name in &closure {
            let shape = shapes[name];
            for (_, member) in shape.get("members").map_or(&[][..], Json::entries) {
                elsewhere.insert(target(member)?);
            }
            for key in ["member", "key", "value"] {
                if let Some(t) = shape.get(key) {
                    elsewhere.insert(target(t)?);
                }
            }
        }
        if let Some(shared) = inputs.intersection(&elsewhere).next() {
            bail!(
                "input shape {shared} is also an output or a member; its DTO cannot be input-only"
            );
        }

        Ok(Generator {
            spec,
            signing_name,
            shapes,
            ops,
            closure,
            index,
            inputs,
        })
    }

    fn shape(&self, name: &str) -> Result<&'a Json> {
        self.shapes
            .get(name)
            .copied()
            .with_context(|| format!("unknown shape {name}"))
    }

    fn kind(&self, name: &str) -> Result<&'a str> {
        self.shape(name)?
            .get("type")
            .and_then(Json::str)
            .with_context(|| format!("shape {name} has no type"))
    }

    fn generate(&self) -> Result<String> {
        let mut s = header(self.spec.file);
        s.push_str(
            "//!\n\
             //! `OPERATIONS` covers every operation of the model; `SHAPES` and the DTO structs\n\
             //! cover only the closure of the `SERVED` operations' inputs and outputs.\n\n",
        );
        let dto_names: Vec<&str> = self
            .closure
            .iter()
            .copied()
            .filter(|n| self.kind(n).is_ok_and(|k| k == "structure"))
            .collect();
        let uses_map = self
            .closure
            .iter()
            .any(|n| self.kind(n).is_ok_and(|k| k == "map"));
        if uses_map {
            s.push_str("use std::collections::BTreeMap;\n\n");
        }
        if !dto_names.is_empty() {
            s.push_str("use serde::{Deserialize, Serialize};\n\n");
        }
        s.push_str("use crate as w;\n\n");

        s.push_str("/// The served operations by name (`Operation::ALL`); their shapes and DTOs are generated below.\n");
        s.push_str("pub const SERVED: &[&str] = &[\n");
        for name in self.spec.served {
            writeln!(s, "{},", lit(name))?;
        }
        s.push_str("];\n\n");
        self.gen_operation_enum(&mut s)?;

        writeln!(
            s,
            "/// This model's tables, for routing, decoding and validation.\n\
             pub static MODEL: w::Model = w::Model::new({}, OPERATIONS, SHAPES, ERRORS, SERVED);\n",
            lit(&self.signing_name)
        )?;

        self.gen_operations(&mut s)?;
        self.gen_shapes(&mut s)?;
        self.gen_errors(&mut s)?;
        for name in dto_names {
            self.gen_dto(&mut s, name)?;
        }
        Ok(s)
    }

    /// `Operation`: one variant per served operation, named as the model names it.
    fn gen_operation_enum(&self, s: &mut String) -> Result<()> {
        for name in self.spec.served {
            if !name.chars().all(|c| c.is_ascii_alphanumeric())
                || !name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                bail!("served operation {name} is not usable as a Rust variant name");
            }
        }
        s.push_str(
            "/// The served operations, named as the model names them; the model's other \
             operations\n\
             /// are not served.\n\
             #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n\
             pub enum Operation {\n",
        );
        for name in self.spec.served {
            writeln!(s, "{name},")?;
        }
        s.push_str("}\n\nimpl Operation {\n");
        s.push_str("/// Every served operation, in the order of `SERVED`.\n");
        s.push_str("pub const ALL: &[Operation] = &[\n");
        for name in self.spec.served {
            writeln!(s, "Operation::{name},")?;
        }
        s.push_str("];\n\n");
        s.push_str(
            "/// The operation's name in the model, e.g. `CancelJobExecution`.\n\
             pub const fn name(self) -> &'static str {\nmatch self {\n",
        );
        for name in self.spec.served {
            writeln!(s, "Operation::{name} => {},", lit(name))?;
        }
        s.push_str("}\n}\n\n");
        s.push_str(
            "/// The served operation called `name`; `None` for any other name, including \
             the\n\
             /// model's operations that are not served.\n\
             pub fn from_name(name: &str) -> Option<Operation> {\nmatch name {\n",
        );
        for name in self.spec.served {
            writeln!(s, "{} => Some(Operation::{name}),", lit(name))?;
        }
        s.push_str("_ => None,\n}\n}\n}\n\n");
        Ok(())
    }

    fn gen_operations(&self, s: &mut String) -> Result<()> {
        s.push_str("/// Every operation of the model, sorted by name.\n");
        s.push_str("pub static OPERATIONS: &[w::OperationDef] = &[\n");
        for (name, op) in &self.ops {
            let http = op.get("http").with_context(|| format!("{name}: no http"))?;
            let method = http
                .get("method")
                .and_then(Json::str)
                .with_context(|| format!("{name}: no http.method"))?;
            let uri = http
                .get("requestUri")
                .and_then(Json::str)
                .with_context(|| format!("{name}: no http.requestUri"))?;
            let response_code = match http.get("responseCode") {
                None => 200,
                Some(Json::Int(n)) => *n,
                Some(other) => bail!("{name}: odd responseCode {other:?}"),
            };
            let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
            let Some(path) = path.strip_prefix('/') else {
                bail!("{name}: requestUri {uri} does not start with /");
            };
            let segments: Vec<&str> = path.split('/').collect();
            let mut segs = String::new();
            for (i, seg) in segments.iter().enumerate() {
                let label = seg.strip_prefix('{').and_then(|x| x.strip_suffix('}'));
                match label {
                    Some(l) if l.ends_with('+') => {
                        if i + 1 != segments.len() {
                            bail!("{name}: greedy label not last in {uri}");
                        }
                        write!(segs, "w::Segment::Greedy({}),", lit(&l[..l.len() - 1]))?;
                    }
                    Some(l) => write!(segs, "w::Segment::Label({}),", lit(l))?,
                    None if seg.contains(['{', '}']) => {
                        bail!("{name}: partial label segments are not supported: {uri}")
                    }
                    None => write!(segs, "w::Segment::Literal({}),", lit(seg))?,
                }
            }
            let mut query_lits = String::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                write!(query_lits, "({}, {}),", lit(k), lit(v))?;
            }
            let shape_of = |key: &str| -> Result<String> {
                Ok(match op.get(key) {
                    None => "None".to_owned(),
                    Some(r) => format!("Some({})", lit(target(r)?)),
                })
            };
            let mut errors = String::new();
            for e in op.get("errors").map_or(&[][..], Json::items) {
                write!(errors, "{},", lit(target(e)?))?;
            }
            writeln!(
                s,
                "w::OperationDef {{ name: {}, method: {}, uri: {}, path: &[{segs}], \
                 query: &[{query_lits}], input: {}, output: {}, errors: &[{errors}], \
                 response_code: {response_code} }},",
                lit(name),
                lit(method),
                lit(uri),
                shape_of("input")?,
                shape_of("output")?,
            )?;
        }
        s.push_str("];\n\n");
        Ok(())
    }

    fn gen_shapes(&self, s: &mut String) -> Result<()> {
        s.push_str(
            "/// The served closure, sorted by name; `ShapeId(i)` / member indices point here.\n",
        );
        s.push_str("pub static SHAPES: &[w::ShapeDef] = &[\n");
        for (i, name) in self.closure.iter().enumerate() {
            let shape = self.shape(name)?;
            let kind = self.kind(name)?;
            let kind_variant = match kind {
                "string" => "String",
                "long" => "Long",
                "integer" => "Integer",
                "boolean" => "Boolean",
                "double" => "Double",
                "float" => "Float",
                "timestamp" => "Timestamp",
                "blob" => "Blob",
                "map" => "Map",
                "list" => "List",
                "structure" => "Structure",
                other => bail!("shape {name}: unsupported type {other}"),
            };
            if shape.get("payload").is_some() {
                bail!("shape {name}: `payload` members are not supported by the wire decoder");
            }
            let mut f = format!(
                "// {i}\nw::ShapeDef {{ name: {}, kind: w::ShapeKind::{kind_variant},",
                lit(name)
            );
            for key in ["min", "max"] {
                if let Some(v) = shape.get(key) {
                    write!(f, "{key}: Some({}),", float_lit(v)?)?;
                }
            }
            if let Some(p) = shape.get("pattern") {
                write!(f, "pattern: Some({}),", lit(p.str().context("pattern")?))?;
            }
            if let Some(values) = shape.get("enum") {
                f.push_str("enum_values: &[");
                for v in values.items() {
                    write!(f, "{},", lit(v.str().context("enum value")?))?;
                }
                f.push_str("],");
            }
            if let Some(required) = shape.get("required") {
                f.push_str("required: &[");
                for r in required.items() {
                    write!(f, "{},", lit(r.str().context("required")?))?;
                }
                f.push_str("],");
            }
            if let Some(members) = shape.get("members") {
                f.push_str("members: &[");
                for (mname, m) in members.entries() {
                    let t = target(m)?;
                    let idx = self.index[t];
                    let location = m.get("location").and_then(Json::str);
                    let location_name = m.get("locationName").and_then(Json::str).unwrap_or(mname);
                    match location {
                        None if location_name == mname => {
                            write!(f, "w::MemberDef::body({}, {}, {idx}),", lit(mname), lit(t))?;
                        }
                        _ => {
                            let loc = match location {
                                None => "Body",
                                Some("uri") => "Uri",
                                Some("querystring") => "QueryString",
                                Some("header") => "Header",
                                Some("statusCode") => "StatusCode",
                                Some(other) => bail!("{name}.{mname}: unknown location {other}"),
                            };
                            write!(
                                f,
                                "w::MemberDef::bound({}, {}, {idx}, w::Location::{loc}, {}),",
                                lit(mname),
                                lit(t),
                                lit(location_name)
                            )?;
                        }
                    }
                }
                f.push_str("],");
            }
            for key in ["key", "value", "member"] {
                if let Some(t) = shape.get(key) {
                    write!(f, "{key}: Some(w::ShapeId({})),", self.index[target(t)?])?;
                }
            }
            f.push_str("..w::ShapeDef::DEFAULT },\n");
            s.push_str(&f);
        }
        s.push_str("];\n\n");
        Ok(())
    }

    fn gen_errors(&self, s: &mut String) -> Result<()> {
        s.push_str("/// Every exception shape of the model, sorted by name.\n");
        s.push_str("pub static ERRORS: &[w::ErrorDef] = &[\n");
        for (name, shape) in &self.shapes {
            if !shape.get("exception").is_some_and(Json::is_true) {
                continue;
            }
            let status = match shape.get("error").and_then(|e| e.get("httpStatusCode")) {
                Some(Json::Int(n)) => *n,
                _ => bail!("exception {name} has no error.httpStatusCode"),
            };
            let fault = shape.get("fault").is_some_and(Json::is_true);
            writeln!(
                s,
                "w::ErrorDef {{ name: {}, status: {status}, fault: {fault} }},",
                lit(name)
            )?;
        }
        s.push_str("];\n\n");
        Ok(())
    }

    fn gen_dto(&self, s: &mut String, name: &str) -> Result<()> {
        if RESERVED_TYPE_NAMES.contains(&name) {
            bail!("structure {name} would shadow a name the generated module uses");
        }
        let shape = self.shape(name)?;
        let required: Vec<&str> = if self.inputs.contains(name) {
            shape
                .get("required")
                .map_or(&[][..], Json::items)
                .iter()
                .map(|r| r.str().context("required"))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        // Members the model marks `sensitive` (e.g. CreateKeysAndCertificate's
        // `PrivateKey`) are hidden from `Debug`, as the AWS SDK for Rust hides them, so a
        // DTO that reaches a log line never carries a secret.
        let mut debug_fields = Vec::new();
        let mut has_sensitive = false;
        for (mname, m) in shape.get("members").map_or(&[][..], Json::entries) {
            let t = target(m)?;
            let sensitive = [m, self.shape(t)?]
                .iter()
                .any(|j| j.get("sensitive").is_some_and(Json::is_true));
            has_sensitive |= sensitive;
            debug_fields.push((field_name(mname), sensitive));
        }
        let derives = if has_sensitive {
            "Clone, Default, Serialize, Deserialize"
        } else {
            "Debug, Clone, Default, Serialize, Deserialize"
        };
        writeln!(s, "#[derive({derives})]\npub struct {name} {{")?;
        let mut fields = BTreeSet::new();
        for (mname, m) in shape.get("members").map_or(&[][..], Json::entries) {
            let field = field_name(mname);
            if !fields.insert(field.clone()) {
                bail!("{name}: two members map to field {field}");
            }
            let t = target(m)?;
            let mut ty = self.rust_type(t)?;
            if self.kind(t)? == "structure" && self.reaches(t, name, &mut BTreeSet::new())? {
                ty = format!("Box<{ty}>");
            }
            if required.contains(&mname.as_str()) {
                writeln!(s, "#[serde(rename = {})]\npub {field}: {ty},", lit(mname))?;
            } else {
                writeln!(
                    s,
                    "#[serde(rename = {}, skip_serializing_if = \"Option::is_none\")]\n\
                     pub {field}: Option<{ty}>,",
                    lit(mname)
                )?;
            }
        }
        s.push_str("}\n\n");
        if has_sensitive {
            writeln!(
                s,
                "impl std::fmt::Debug for {name} {{\n\
                 fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n\
                 f.debug_struct({})",
                lit(name)
            )?;
            for (field, sensitive) in &debug_fields {
                if *sensitive {
                    writeln!(
                        s,
                        ".field({}, &\"*** Sensitive Data Redacted ***\")",
                        lit(field)
                    )?;
                } else {
                    writeln!(s, ".field({}, &self.{field})", lit(field))?;
                }
            }
            s.push_str(".finish()\n}\n}\n\n");
        }
        Ok(())
    }

    fn rust_type(&self, name: &str) -> Result<String> {
        let shape = self.shape(name)?;
        Ok(match self.kind(name)? {
            "string" | "blob" => "String".to_owned(),
            "long" => "i64".to_owned(),
            "integer" => "i32".to_owned(),
            "boolean" => "bool".to_owned(),
            // Control-plane timestamps travel as epoch seconds with a fraction.
            "double" | "float" | "timestamp" => "f64".to_owned(),
            "list" => format!(
                "Vec<{}>",
                self.rust_type(target(shape.get("member").context("list member")?)?)?
            ),
            "map" => {
                let key = target(shape.get("key").context("map key")?)?;
                if self.kind(key)? != "string" {
                    bail!("map {name}: non-string keys are not supported");
                }
                format!(
                    "BTreeMap<String, {}>",
                    self.rust_type(target(shape.get("value").context("map value")?)?)?
                )
            }
            "structure" => name.to_owned(),
            other => bail!("shape {name}: unsupported type {other}"),
        })
    }

    /// Whether structure `from` contains `to` through direct (non-collection) struct fields;
    /// such a field needs a `Box` to give the struct a finite size.
    fn reaches(&self, from: &'a str, to: &str, seen: &mut BTreeSet<&'a str>) -> Result<bool> {
        if from == to {
            return Ok(true);
        }
        if !seen.insert(from) {
            return Ok(false);
        }
        for (_, m) in self
            .shape(from)?
            .get("members")
            .map_or(&[][..], Json::entries)
        {
            let t = target(m)?;
            if self.kind(t)? == "structure" && self.reaches(t, to, seen)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The `shape` a member / list member / map key or value reference points at.
fn target(r: &Json) -> Result<&str> {
    r.get("shape")
        .and_then(Json::str)
        .with_context(|| format!("shape reference without `shape`: {r:?}"))
}

/// A Rust string literal for `s`: raw when that avoids escaping backslashes.
fn lit(s: &str) -> String {
    let plain_ok = !s.contains(['\\', '"']) && !s.chars().any(char::is_control);
    let raw_ok = !s.contains('"') && !s.chars().any(char::is_control);
    if plain_ok || !raw_ok {
        format!("{s:?}")
    } else {
        format!("r\"{s}\"")
    }
}

/// An `f64` literal for a model number (`min`/`max` may be integers or, rarely, floats).
fn float_lit(v: &Json) -> Result<String> {
    // Debug of f64 prints the shortest round-tripping form with a `.0` for whole numbers.
    #[allow(clippy::cast_precision_loss)]
    Ok(match v {
        Json::Int(n) => format!("{:?}", *n as f64),
        Json::Float(x) => format!("{x:?}"),
        other => bail!("not a number: {other:?}"),
    })
}

/// snake_case for a member name (`jobId` → `job_id`, `thingARN` → `thing_arn`), with `r#` for
/// Rust keywords.
fn field_name(member: &str) -> String {
    let chars: Vec<char> = member.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(char::is_ascii_lowercase));
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if RUST_KEYWORDS.contains(&out.as_str()) {
        out.insert_str(0, "r#");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_fields() {
        assert_eq!(field_name("jobId"), "job_id");
        assert_eq!(field_name("thingARN"), "thing_arn");
        assert_eq!(field_name("jobArnValue"), "job_arn_value");
        assert_eq!(field_name("BIN"), "bin");
        assert_eq!(field_name("type"), "r#type");
        assert_eq!(field_name("maxResults"), "max_results");
        assert_eq!(field_name("s3Url"), "s3_url");
    }

    #[test]
    fn literals() {
        assert_eq!(lit("jobs"), "\"jobs\"");
        assert_eq!(lit(r"[^\p{C}]+"), r#"r"[^\p{C}]+""#);
        assert_eq!(lit("a\"b\\"), r#""a\"b\\""#);
    }
}
