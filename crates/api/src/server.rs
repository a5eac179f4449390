//! The HTTP server: one listener for both planes, routed by the AWS models.
//!
//! Every request goes through `dispatch`: check its signature's headers (key, scope,
//! date), read the body within the edge limits, verify the signature (the verified
//! credential scope names the plane and the key names the account) and tell the listener
//! so (`listener::Admission`: until then the connection may be taken for another client,
//! and the body wait ends with 503), match the operation in that plane's model, authorize
//! the caller's role for it, decode and validate the input against the model, call the
//! handler on the caller's account, and write the restJson1 response. The listener also
//! asks `dispatch` how to answer a request hyper could not parse (`listener::Unparsable`).
//! Only the observability paths (`observe`) and the web console's static files
//! (`console`, GET and HEAD) are answered before authentication; iotjobs' own signed
//! paths (`/iotjobs-api/whoami`, `/iotjobs-api/audit`, `/iotjobs-api/clock`) are
//! answered after it, before model routing.
//! Both planes
//! share one listener because `GET /things/{thingName}/jobs[/{jobId}]` exists on both
//! with different meanings (wire spec §1.2): only the signing scope tells them apart.
//!
//! This is the top of the crate's module graph: it uses every other module, and no module
//! imports it. Vocabulary that others need does not belong here (`wire::Plane`,
//! `app::App`, `listener::ConnectionLimits`); only what the pipeline itself owns does (the
//! body limits, the accounts, the authenticator).

use crate::app::App;
use crate::auth::{self, Action, Auth, Principal, sigv4};
use crate::error::ApiError;
use crate::handlers;
use crate::listener::{Admission, Unparsable};
use crate::wire::Plane;
use crate::wire::route::{RouteMatch, match_route};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use iotjobs_core::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The largest request body accepted. Job documents are at most 32 KiB (model
/// `JobDocument`); 1 MiB leaves room for every other input.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// moto's server-mode reset endpoint (`TEST_SERVER_MODE=true` suites call it between
/// tests).
const MOTO_RESET_PATH: &str = "/moto-api/reset";

/// The request-level limits at the edge, so that no client can hold a handler: see
/// `listener::ConnectionLimits` for the connection-level ones.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Largest request body; larger answers 413 `RequestEntityTooLargeException`.
    pub max_body_bytes: usize,
    /// Time allowed to read a request's body once its headers are in; after it the
    /// request answers 408 `RequestTimeoutException` and the connection is closed.
    pub body_read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_body_bytes: MAX_BODY_BYTES,
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// The whole service: one [`App`] (store, clock, ARNs) per account, the
/// authenticator, and the body limits. A request runs against its caller's account
/// only, so accounts never see each other's resources.
pub struct Service<S> {
    accounts: HashMap<String, Arc<App<S>>>,
    auth: Auth,
    limits: BodyLimits,
    /// Serve `POST /moto-api/reset` (see [`crate::app::AccountConfig::enable_reset`]).
    enable_reset: bool,
    metrics: crate::observe::Metrics,
    /// `serve --test-clock`: the clock every account's app reads, moved by
    /// `POST /iotjobs-api/clock`.
    test_clock: Option<Arc<iotjobs_core::ManualClock>>,
}

impl<S> Service<S> {
    /// `accounts` must hold an app for every account `auth` can name.
    pub fn new(accounts: Vec<Arc<App<S>>>, auth: Auth, limits: BodyLimits) -> Self {
        let enable_reset = accounts.iter().any(|a| a.config.enable_reset);
        Service {
            accounts: accounts
                .into_iter()
                .map(|a| (a.config.account_id.clone(), a))
                .collect(),
            auth,
            limits,
            enable_reset,
            metrics: crate::observe::Metrics::new(Vec::new()),
            test_clock: None,
        }
    }

    /// Serve `POST /iotjobs-api/clock` for `clock` (which the accounts' apps must read).
    pub fn with_test_clock(mut self, clock: Arc<iotjobs_core::ManualClock>) -> Self {
        self.test_clock = Some(clock);
        self
    }

    /// Add gauges of the binary's own to `/metrics` (e.g. MQTT sessions).
    pub fn with_gauges(mut self, extra: Vec<crate::observe::ExtraGauge>) -> Self {
        self.metrics = crate::observe::Metrics::new(extra);
        self
    }

    /// Every account's app, in account order.
    fn apps(&self) -> Vec<&Arc<App<S>>> {
        let mut apps: Vec<_> = self.accounts.values().collect();
        apps.sort_by(|a, b| a.config.account_id.cmp(&b.config.account_id));
        apps
    }

    pub fn app(&self, account_id: &str) -> Option<&Arc<App<S>>> {
        self.accounts.get(account_id)
    }
}

/// The whole service as an axum router (no routes of its own: the models route).
pub fn router<S: Store>(service: Arc<Service<S>>) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch::<S>)
        .with_state(service)
}

/// The id a request is answered with (`x-amzn-RequestId`), as a request extension so that
/// the audit log can name it.
#[derive(Debug, Clone)]
struct RequestId(String);

async fn dispatch<S: Store>(State(svc): State<Arc<Service<S>>>, mut req: Request) -> Response {
    let started = std::time::Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    if let Some(unparsable) = req.extensions().get::<Unparsable>() {
        // Not a request from the wire: the listener asking how to answer bytes hyper could
        // not parse (it closes the connection after the answer).
        tracing::debug!(%request_id, reason = %unparsable.reason, "unparsable request");
        let e = ApiError::from(unparsable);
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        return respond(status, Some(e.body()), &request_id, Some(e.code));
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let info = Arc::new(crate::observe::RequestInfo::default());
    req.extensions_mut().insert(info.clone());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    if method == "GET"
        && let Some(resp) = observe_endpoint(&svc, &path, &request_id).await
    {
        return resp;
    }
    if (method == "GET" || method == "HEAD")
        && let Some(resp) = crate::console::respond(&path)
    {
        // Static files, the same for everyone: no authentication (see `console`).
        svc.metrics
            .record("console", resp.status().as_u16(), started.elapsed());
        return resp;
    }
    let resp = answer(&svc, req, &method, &path, &request_id).await;
    let status = resp.status().as_u16();
    let operation = info.operation.get().copied().unwrap_or("unknown");
    let elapsed = started.elapsed();
    svc.metrics.record(operation, status, elapsed);
    // One line per request at the default level (`RUST_LOG=iotjobs::request=off` hides
    // them), with what an operator greps for.
    tracing::info!(
        target: "iotjobs::request",
        operation,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        account = info.account.get().map_or("-", String::as_str),
        request_id = %request_id,
        %method,
        %path,
        "request"
    );
    resp
}

/// `/health`, `/health/live` and `/metrics` (unauthenticated; see `observe`).
async fn observe_endpoint<S: Store>(
    svc: &Service<S>,
    path: &str,
    request_id: &str,
) -> Option<Response> {
    use crate::observe::{HEALTH_PATH, LIVE_PATH, METRICS_PATH};
    let started = std::time::Instant::now();
    let (operation, resp) = match path {
        LIVE_PATH => (
            "health",
            respond(
                StatusCode::OK,
                Some(serde_json::json!({"status": "ok"})),
                request_id,
                None,
            ),
        ),
        HEALTH_PATH => {
            let (status, body) = crate::observe::readiness(&svc.apps()).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            ("health", respond(status, Some(body), request_id, None))
        }
        METRICS_PATH => {
            let text = crate::observe::metrics(
                &svc.metrics,
                &svc.apps(),
                crate::listener::open_connections(),
            )
            .await;
            let mut resp = (StatusCode::OK, text).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            ("metrics", resp)
        }
        _ => return None,
    };
    svc.metrics
        .record(operation, resp.status().as_u16(), started.elapsed());
    Some(resp)
}

/// Authenticate, handle and answer one request (everything but the observability paths).
async fn answer<S: Store>(
    svc: &Service<S>,
    req: Request,
    method: &str,
    path: &str,
    request_id: &str,
) -> Response {
    // A panic anywhere below becomes a 500 InternalFailureException for this request
    // instead of a dropped connection. The work stays tied to the connection: a client
    // that goes away cancels it, so handlers never outnumber connections.
    let work = AssertUnwindSafe(receive_and_handle(svc, req)).catch_unwind();
    let (result, close) = match work.await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(%method, %path, %request_id, "handler panicked");
            (
                Err(ApiError::new(
                    "InternalFailureException",
                    500,
                    "An internal error occurred while handling the request",
                )),
                false,
            )
        }
    };
    let mut resp = match result {
        Ok(body) => respond(StatusCode::OK, body, request_id, None),
        Err(e) => {
            tracing::debug!(%method, %path, %request_id, code = e.code, message = %e.message, "error");
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            respond(status, Some(e.body()), request_id, Some(e.code))
        }
    };
    if close {
        // The rest of the body was not read: the connection cannot carry another request.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Authenticate what the headers allow, read the body within the limits, finish
/// authentication, then handle. The flag asks the caller to close the connection (the
/// body was not read to its end).
async fn receive_and_handle<S: Store>(
    svc: &Service<S>,
    req: Request,
) -> (Result<Option<Value>, ApiError>, bool) {
    let (parts, body) = req.into_parts();
    // Put there by the listener (absent only when the router is served some other way).
    let admission = parts.extensions.get::<Admission>().cloned();
    let target = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let mut signed = sigv4::Request {
        method: parts.method.as_str(),
        path_and_query: target,
        headers: &parts.headers,
        body: &[],
    };
    // Real time, not the App's clock: that one is the Jobs domain's (tests move it by
    // hours to expire executions), while signatures are made with the caller's clock.
    let pending = match svc.auth.begin(&signed, SystemTime::now()) {
        Ok(p) => p,
        Err(e) => {
            // Refused before its body was read. A small body is read and dropped so the
            // connection carries on (SDKs keep their connections) and a client still
            // uploading is not reset before it sees the 403; a large one closes it.
            let drained = drain_small_body(&parts.headers, body, admission.as_ref()).await;
            return (Err(ApiError::from_auth(e)), !drained);
        }
    };
    let body = match read_body(&svc.limits, &parts.headers, body, admission.as_ref()).await {
        Ok(body) => body,
        Err(e) => return (Err(e), true),
    };
    signed.body = &body;
    let result = match pending.finish(&signed) {
        Ok((principal, plane)) => {
            if let Some(admission) = &admission {
                admission.verified();
            }
            handle(svc, &parts, principal, plane, &body).await
        }
        Err(e) => Err(ApiError::from_auth(e)),
    };
    (result, false)
}

/// Resolves when the listener needs this still unverified request's connection for
/// another client ([`Admission::evicted`]); never without an admission.
async fn evicted(admission: Option<&Admission>) {
    match admission {
        Some(a) => a.evicted().await,
        None => std::future::pending().await,
    }
}

/// The answer to a request whose connection was taken back while its body was still
/// awaited: the signature could not be checked yet, so the request holds nothing, and
/// the client may simply retry (SDKs retry 503).
fn evicted_error() -> ApiError {
    ApiError::new(
        "ServiceUnavailableException",
        503,
        "The server is at its connection limit and needed this connection before the \
         request's body arrived; retry the request.",
    )
}

/// The most body read (and dropped) after a refusal, and how long that may take.
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Read and drop a body of at most [`DRAIN_LIMIT`] bytes; false when it is larger (or
/// says so), slower than [`DRAIN_TIMEOUT`], broken, or its connection is needed.
async fn drain_small_body(headers: &HeaderMap, body: Body, admission: Option<&Admission>) -> bool {
    if declared_length(headers).is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return false;
    }
    let read = axum::body::to_bytes(body, DRAIN_LIMIT);
    tokio::select! {
        r = tokio::time::timeout(DRAIN_TIMEOUT, read) => matches!(r, Ok(Ok(_))),
        () = evicted(admission) => false,
    }
}

/// The body length the `Content-Length` header declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The request body, within `limits`: 413 when it is (or says it is) too large, 408
/// when it does not arrive in time, 400 when the stream breaks, 503 when the listener
/// needs the connection before it arrives ([`evicted_error`]).
async fn read_body(
    limits: &BodyLimits,
    headers: &HeaderMap,
    body: Body,
    admission: Option<&Admission>,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            "RequestEntityTooLargeException",
            413,
            format!(
                "Request body is larger than the limit of {} bytes",
                limits.max_body_bytes
            ),
        )
    };
    if declared_length(headers).is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let read = tokio::select! {
        r = tokio::time::timeout(limits.body_read_timeout, read) => r,
        () = evicted(admission) => return Err(evicted_error()),
    };
    match read {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => {
            let over_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if over_limit {
                too_large()
            } else {
                ApiError::invalid_request(format!("Could not read the request body: {e}"))
            })
        }
        Err(_) => Err(ApiError::new(
            "RequestTimeoutException",
            408,
            format!(
                "The request body was not received within {} ms",
                limits.body_read_timeout.as_millis()
            ),
        )),
    }
}

async fn handle<S: Store>(
    svc: &Service<S>,
    parts: &axum::http::request::Parts,
    principal: Principal,
    plane: Option<Plane>,
    body: &Bytes,
) -> Result<Option<Value>, ApiError> {
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let plane = plane.unwrap_or_else(|| plane_of_host(&parts.headers));
    let app = svc.app(&principal.account_id).ok_or_else(|| {
        ApiError::new(
            "InternalFailureException",
            500,
            "No store is open for the caller's account",
        )
    })?;
    let region = &app.config.region;
    if let Some(info) = parts.extensions.get::<Arc<crate::observe::RequestInfo>>() {
        let _ = info.account.set(principal.account_id.clone());
    }
    let name_operation = |name: &'static str| {
        if let Some(info) = parts.extensions.get::<Arc<crate::observe::RequestInfo>>() {
            let _ = info.operation.set(name);
        }
    };
    if svc.enable_reset && method == "POST" && path == MOTO_RESET_PATH {
        name_operation("reset");
        // Admins only (with `--auth none` every caller is one, as in moto), and only
        // the caller's account.
        auth::authorize(&principal, Action::Reset, region).map_err(ApiError::from_auth)?;
        app.store
            .reset()
            .await
            .map_err(|e| ApiError::from_jobs(e, plane, &app.config))?;
        tracing::info!(account = %principal.account_id, "account state wiped through {MOTO_RESET_PATH}");
        return Ok(Some(Value::Object(Default::default())));
    }
    if let Some(clock) = &svc.test_clock
        && method == "POST"
        && path == crate::testclock::CLOCK_PATH
    {
        name_operation("clock");
        auth::authorize(&principal, Action::TestClock, region).map_err(ApiError::from_auth)?;
        return crate::testclock::advance(clock, &svc.apps(), body)
            .await
            .map(Some)
            .map_err(|e| ApiError::from_jobs(e, plane, &app.config));
    }
    if method == "GET" && path == auth::WHOAMI_PATH {
        name_operation("whoami");
        auth::authorize(&principal, Action::WhoAmI, region).map_err(ApiError::from_auth)?;
        return Ok(Some(principal.whoami()));
    }
    if method == "GET" && path == crate::audit::AUDIT_PATH {
        name_operation("audit");
        auth::authorize(&principal, Action::ReadAudit, region).map_err(ApiError::from_auth)?;
        return crate::audit::list(app, query)
            .await
            .map(Some)
            .map_err(|e| ApiError::from_jobs(e, plane, &app.config));
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
    name_operation(op.name);
    let thing_name = labels
        .iter()
        .find(|(name, _)| *name == "thingName")
        .map(|(_, v)| v.as_str());
    auth::authorize(
        &principal,
        Action::Operation {
            plane,
            op: op.name,
            thing_name,
        },
        region,
    )
    .map_err(ApiError::from_auth)?;
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let input = crate::wire::decode::decode_input(model, op, &labels, query, &headers, body)?;
    // Who, from where and which request, for the audit log of whatever this changes.
    let actor = iotjobs_core::audit::Actor {
        principal: principal.access_key_id.clone(),
        source: parts
            .extensions
            .get::<crate::listener::PeerAddr>()
            .map(|p| p.0.to_string()),
        operation: op.name.to_owned(),
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
    };
    iotjobs_core::audit::with_actor(actor, handlers::call(app, plane, op.name, input)).await
}

/// The plane of a request that names none (unsigned, with verification off): by the
/// Host name, as AWS's own endpoints: `data.jobs.iot.*` or `*.jobs.iot.*` is the data
/// plane, anything else the control plane.
fn plane_of_host(headers: &HeaderMap) -> Plane {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host.starts_with("data.jobs.iot.") || host.contains(".jobs.iot.") {
        Plane::Data
    } else {
        Plane::Control
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
