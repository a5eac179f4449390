//! The HTTP server: one listener for both planes, routed by the AWS models.
//!
//! Every request goes through `dispatch`: pick the plane from the SigV4 credential
//! scope, match the operation in that plane's model, decode and validate the input
//! against the model, call the handler, and write the restJson1 response. Both planes
//! share one listener because `GET /things/{thingName}/jobs[/{jobId}]` exists on both
//! with different meanings (wire spec §1.2): only the signing scope tells them apart.

use crate::error::ApiError;
use crate::generated::{iot, iot_jobs_data};
use crate::handlers;
use crate::wire::model::Model;
use crate::wire::route::{RouteMatch, match_route};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iotjobs_core::{Clock, Store};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// The largest request body accepted. Job documents are at most 32 KiB (model
/// `JobDocument`); 1 MiB leaves room for every other input.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Which AWS service a request is for.
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

/// What the service says about itself and which optional endpoints it serves.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// Serve `POST /moto-api/reset` (wipe all state), for test suites written for
    /// moto's server mode. Off by default: it deletes everything.
    pub enable_reset: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            enable_reset: false,
        }
    }
}

/// Shared state of the server: the store, the clock and the configuration.
pub struct App<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub config: ServiceConfig,
    /// Wakes the background sweeper early (see `background`).
    pub sweeper: tokio::sync::Notify,
}

impl<S> App<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, config: ServiceConfig) -> Self {
        App {
            store,
            clock,
            config,
            sweeper: tokio::sync::Notify::new(),
        }
    }

    pub fn now(&self) -> iotjobs_core::Timestamp {
        self.clock.now()
    }
}

/// moto's server-mode reset endpoint (`TEST_SERVER_MODE=true` suites call it between
/// tests).
const MOTO_RESET_PATH: &str = "/moto-api/reset";

/// The whole service as an axum router (no routes of its own: the models route).
pub fn router<S: Store>(app: Arc<App<S>>) -> axum::Router {
    axum::Router::new().fallback(dispatch::<S>).with_state(app)
}

/// Serve until `shutdown` resolves; in-flight requests finish first.
pub async fn serve<S: Store>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn dispatch<S: Store>(State(app): State<Arc<App<S>>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let result = match plane_of(req.headers()) {
        Ok(plane) => {
            let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await;
            match body {
                Ok(body) => handle(&app, plane, &method, &path, query.as_deref(), &body).await,
                Err(_) => Err(ApiError::new(
                    "RequestEntityTooLargeException",
                    413,
                    format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
                )),
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => {
            tracing::debug!(%method, %path, %request_id, "ok");
            respond(StatusCode::OK, body, &request_id, None)
        }
        Err(e) => {
            tracing::debug!(%method, %path, %request_id, code = e.code, "error");
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            respond(status, Some(e.body()), &request_id, Some(e.code))
        }
    }
}

async fn handle<S: Store>(
    app: &App<S>,
    plane: Plane,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Result<Option<Value>, ApiError> {
    if app.config.enable_reset && method == "POST" && path == MOTO_RESET_PATH {
        app.store
            .reset()
            .await
            .map_err(|e| ApiError::from_jobs(e, plane, &app.config))?;
        tracing::info!("all state wiped through {MOTO_RESET_PATH}");
        return Ok(Some(Value::Object(Default::default())));
    }
    let model = plane.model();
    let (op, labels) = match match_route(model.ops, method, path) {
        RouteMatch::Matched { op, labels } => (op, labels),
        RouteMatch::MethodNotAllowed { .. } => {
            return Err(ApiError::new(
                "UnknownOperationException",
                405,
                format!(
                    "{method} is not allowed on {path} for service {}",
                    model.name
                ),
            ));
        }
        RouteMatch::NotFound => {
            return Err(ApiError::new(
                "UnknownOperationException",
                404,
                format!("No {} operation matches {method} {path}", model.name),
            ));
        }
    };
    let input = crate::wire::decode::decode_input(model, op, &labels, query, body)?;
    handlers::call(app, plane, op.name, input).await
}

/// Pick the plane from the SigV4 credential scope
/// (`Credential=AK/20261128/us-east-1/iot-jobs-data/aws4_request`).
///
/// Signatures are not verified yet: any well-formed Authorization header is accepted.
/// Unsigned requests (`--no-sign-request`) go by the Host name, as AWS's own endpoints
/// do: `data.jobs.iot.*` or `*.jobs.iot.*` is the data plane, anything else control.
fn plane_of(headers: &HeaderMap) -> Result<Plane, ApiError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let data = host.starts_with("data.jobs.iot.") || host.contains(".jobs.iot.");
        return Ok(if data { Plane::Data } else { Plane::Control });
    };
    let incomplete = |why: &str| {
        ApiError::new(
            "IncompleteSignatureException",
            403,
            format!("Authorization header is not a valid AWS Signature Version 4 header: {why}"),
        )
    };
    let auth = auth.to_str().map_err(|_| incomplete("not ASCII"))?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("expected AWS4-HMAC-SHA256"))?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))
        .ok_or_else(|| incomplete("no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [_key, _date, _region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete("malformed credential scope"));
    };
    match service {
        "iot-jobs-data" => Ok(Plane::Data),
        _ => Ok(Plane::Control),
    }
}

fn respond(
    status: StatusCode,
    body: Option<Value>,
    request_id: &str,
    error_code: Option<&'static str>,
) -> Response {
    let bytes = match &body {
        Some(v) => serde_json::to_vec(v).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut resp = (status, Body::from(bytes)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Some(code) = error_code {
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    }
    resp
}
