//! Who is calling, and may they: SigV4 authentication and role-based authorization.
//!
//! - [`sigv4`]: verify a request's signature (header or presigned query form).
//! - [`keys`]: the access keys the server knows (secret, account, role).
//! - [`Auth::authenticate`]: request → [`Principal`] (or a typed [`AuthError`]).
//! - [`authorize`]: may this principal call this operation on this thing?
//!
//! Errors stay typed here; `crate::error` maps them to AWS's wire errors once. Nothing
//! here touches the store: a device is refused another thing's executions before any
//! lookup, so a refusal says nothing about whether the resource exists. Of the rest of
//! the crate, only `wire::Plane` is used here.

pub mod keys;
pub mod sigv4;

pub use keys::{AccessKey, Keyring};

use crate::wire::Plane;
use std::time::SystemTime;
use subtle::ConstantTimeEq as _;

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Everything, on both planes (and `/moto-api/reset` when enabled).
    Admin,
    /// The control plane (`iot`) only.
    Operator,
    /// The data plane (`iot-jobs-data`) only, and only for this thing's executions.
    Device { thing_name: String },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub access_key_id: String,
    pub account_id: String,
    pub role: Role,
}

/// Why a request was refused. Mapped to the wire in `crate::error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No signature at all (403 `MissingAuthenticationTokenException`).
    MissingAuthenticationToken,
    /// A signature that cannot be parsed (403 `IncompleteSignatureException`).
    IncompleteSignature(String),
    /// Unknown access key, or a wrong/missing session token
    /// (403 `UnrecognizedClientException`).
    UnrecognizedClient,
    /// A signature that does not verify, or is out of its time window or scope
    /// (403 `InvalidSignatureException`).
    InvalidSignature(String),
    /// Authenticated, but the role does not allow it (403 `AccessDeniedException`).
    AccessDenied(String),
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Verify SigV4 against these keys; the credential scope's region must be this one.
    SigV4 { keys: Keyring, region: String },
    /// Accept every request as the admin of `account_id` (`--auth none`).
    None { account_id: String },
}

/// A request whose headers passed every check that needs no body; [`Pending::finish`]
/// compares the signature once the body is in. Splitting the two means an anonymous
/// or misdirected client is refused before the server reads (and buffers) its body.
#[derive(Debug)]
pub enum Pending<'k> {
    /// `--auth none`: nothing to verify.
    Unverified {
        principal: Principal,
        plane: Option<Plane>,
    },
    /// A known key, a valid scope and a current date; the signature is still to check.
    Signed {
        claim: sigv4::Claim,
        key: &'k AccessKey,
        signed_at: SystemTime,
        plane: Plane,
    },
}

impl Pending<'_> {
    /// Verify the signature over the whole request (`req.body` is the body now) and
    /// name the principal and the plane its scope picked.
    pub fn finish(self, req: &sigv4::Request<'_>) -> Result<(Principal, Option<Plane>), AuthError> {
        match self {
            Pending::Unverified { principal, plane } => Ok((principal, plane)),
            Pending::Signed {
                claim,
                key,
                signed_at,
                plane,
            } => {
                sigv4::verify_signature(req, &claim, &key.secret_access_key, signed_at)?;
                Ok((
                    Principal {
                        access_key_id: key.access_key_id.clone(),
                        account_id: key.account_id.clone(),
                        role: key.role.clone(),
                    },
                    Some(plane),
                ))
            }
        }
    }
}

impl Auth {
    /// Authenticate a whole request: the principal, and the plane its signing scope
    /// names (`None` when the request carries no signature and verification is off).
    pub fn authenticate(
        &self,
        req: &sigv4::Request<'_>,
        now: SystemTime,
    ) -> Result<(Principal, Option<Plane>), AuthError> {
        self.begin(req, now)?.finish(req)
    }

    /// The checks that need no body (`req.body` is ignored): a signature is present and
    /// well-formed, its scope names this region and a served service, the key is known,
    /// its session token matches, and the date is within the window.
    pub fn begin(
        &self,
        req: &sigv4::Request<'_>,
        now: SystemTime,
    ) -> Result<Pending<'_>, AuthError> {
        let (keys, region) = match self {
            Auth::None { account_id } => {
                // Unverified: the scope still picks the plane when there is one.
                let plane = sigv4::claimed_service(req).and_then(plane_of_service);
                let principal = Principal {
                    access_key_id: "anonymous".into(),
                    account_id: account_id.clone(),
                    role: Role::Admin,
                };
                return Ok(Pending::Unverified { principal, plane });
            }
            Auth::SigV4 { keys, region } => (keys, region),
        };
        let claim = sigv4::parse_claim(req)?.ok_or(AuthError::MissingAuthenticationToken)?;
        let plane = plane_of_service(&claim.service).ok_or_else(|| {
            AuthError::InvalidSignature(format!(
                "Credential should be scoped to correct service: 'iot' or 'iot-jobs-data', not '{}'.",
                claim.service
            ))
        })?;
        if &claim.region != region {
            return Err(AuthError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. This endpoint serves '{region}'.",
                claim.region
            )));
        }
        let key = keys
            .get(&claim.access_key)
            .ok_or(AuthError::UnrecognizedClient)?;
        // Temporary credentials: the token must match the one issued with the key; a
        // token on a key that has none is as invalid as a wrong one.
        let token_ok = match (&key.session_token, &claim.security_token) {
            (None, None) => true,
            (Some(want), Some(got)) => want.as_bytes().ct_eq(got.as_bytes()).into(),
            _ => false,
        };
        if !token_ok {
            return Err(AuthError::UnrecognizedClient);
        }
        let signed_at = sigv4::check_time(&claim, now)?;
        Ok(Pending::Signed {
            claim,
            key,
            signed_at,
            plane,
        })
    }
}

fn plane_of_service(service: &str) -> Option<Plane> {
    match service {
        "iot" => Some(Plane::Control),
        "iot-jobs-data" => Some(Plane::Data),
        _ => None,
    }
}

/// Where a caller asks who it is (`Principal::whoami`): iotjobs' own path, signed like
/// every request, for the console's sign-in.
pub const WHOAMI_PATH: &str = "/iotjobs-api/whoami";

impl Principal {
    /// `GET /iotjobs-api/whoami`'s answer: `{"accountId", "accessKeyId", "role"}` with
    /// `role` `admin`, `operator` or `device`, and `thingName` for a device. It names
    /// only what the caller's own signature already proved; never the secret.
    pub fn whoami(&self) -> serde_json::Value {
        let mut out = serde_json::json!({
            "accountId": self.account_id,
            "accessKeyId": self.access_key_id,
            "role": match self.role {
                Role::Admin => "admin",
                Role::Operator => "operator",
                Role::Device { .. } => "device",
            },
        });
        if let Role::Device { thing_name } = &self.role {
            out["thingName"] = serde_json::Value::String(thing_name.clone());
        }
        out
    }
}

/// What a request wants to do, for [`authorize`].
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// An operation of a plane's model; `thing_name` is its `{thingName}` label.
    Operation {
        plane: Plane,
        op: &'a str,
        thing_name: Option<&'a str>,
    },
    /// `POST /moto-api/reset`.
    Reset,
    /// `GET /iotjobs-api/audit`: the account's audit log (admins and operators).
    ReadAudit,
    /// `POST /iotjobs-api/clock` (`serve --test-clock`): admins only.
    TestClock,
    /// `GET /iotjobs-api/whoami`: the caller's own key, account and role (every role).
    WhoAmI,
}

/// May `principal` do `action`? Admin: everything. Operator: control plane (and the
/// audit log). Device: data plane, for its own thing only. Every role: whoami. The refusal names the action and resource as
/// an AWS IAM denial does; `region` is used in the resource ARN.
pub fn authorize(principal: &Principal, action: Action<'_>, region: &str) -> Result<(), AuthError> {
    let allowed = match (&principal.role, action) {
        (Role::Admin, _) => true,
        (_, Action::WhoAmI) => true,
        (Role::Operator, Action::Operation { plane, .. }) => plane == Plane::Control,
        (Role::Operator, Action::ReadAudit) => true,
        (
            Role::Device { thing_name },
            Action::Operation {
                plane: Plane::Data,
                thing_name: Some(target),
                ..
            },
        ) => thing_name == target,
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let user = format!(
        "arn:aws:iam::{}:user/{}",
        principal.account_id, principal.access_key_id
    );
    let (action, resource) = match action {
        Action::Operation {
            plane,
            op,
            thing_name,
        } => {
            let prefix = match plane {
                Plane::Control => "iot",
                Plane::Data => "iotjobsdata",
            };
            let resource = thing_name.map_or_else(
                || "*".to_owned(),
                |t| format!("arn:aws:iot:{region}:{}:thing/{t}", principal.account_id),
            );
            (format!("{prefix}:{op}"), resource)
        }
        Action::Reset => ("iotjobs:Reset".to_owned(), "*".to_owned()),
        Action::ReadAudit => ("iotjobs:ReadAudit".to_owned(), "*".to_owned()),
        Action::TestClock => ("iotjobs:TestClock".to_owned(), "*".to_owned()),
        Action::WhoAmI => ("iotjobs:WhoAmI".to_owned(), "*".to_owned()),
    };
    Err(AuthError::AccessDenied(format!(
        "User: {user} is not authorized to perform: {action} on resource: {resource}"
    )))
}

#[cfg(test)]
mod tests;
