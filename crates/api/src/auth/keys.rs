//! The access keys the server knows: each has a secret, an account and a role.
//!
//! Loaded once at start-up from a TOML file (`--credentials`) or built from the
//! environment; never written back, never logged (the `Debug` impls redact secrets).

use super::Role;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

/// One access key.
#[derive(Clone)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, requests must carry it as `X-Amz-Security-Token` (temporary
    /// credentials, as STS issues them).
    pub session_token: Option<String>,
    pub account_id: String,
    pub role: Role,
}

impl AccessKey {
    /// The development admin key `test` / `test` (what moto and the AWS docs' local
    /// examples use), for `account_id`.
    pub fn development(account_id: &str) -> AccessKey {
        AccessKey {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
            account_id: account_id.into(),
            role: Role::Admin,
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .finish()
    }
}

/// All access keys, by access key id.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: HashMap<String, AccessKey>,
}

/// The TOML file: `[[keys]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: Vec<FileKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    account_id: String,
    role: String,
    #[serde(default)]
    thing_name: Option<String>,
}

/// The `ThingName` constraints of the `iot` model: 1-128 of `[a-zA-Z0-9:_-]`.
fn is_thing_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-')
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Keyring {
    /// Add a key; refuses duplicates and malformed entries.
    pub fn insert(&mut self, key: AccessKey) -> Result<(), String> {
        let id = &key.access_key_id;
        if id.is_empty() || id.contains(['/', ',', '=', ' ']) {
            return Err(format!(
                "access key id {id:?} must be non-empty without '/', ',', '=' or spaces"
            ));
        }
        if key.secret_access_key.is_empty() {
            return Err(format!("access key {id}: empty secret_access_key"));
        }
        if !is_account_id(&key.account_id) {
            return Err(format!(
                "access key {id}: account_id must be 12 digits, got {:?}",
                key.account_id
            ));
        }
        if let Role::Device { thing_name } = &key.role
            && !is_thing_name(thing_name)
        {
            return Err(format!(
                "access key {id}: thing_name {thing_name:?} is not a valid thing name"
            ));
        }
        if self.keys.contains_key(id) {
            return Err(format!("access key {id} is listed twice"));
        }
        self.keys.insert(id.clone(), key);
        Ok(())
    }

    /// Parse a credentials file (see `docs/security.md` for the format).
    pub fn from_toml(text: &str) -> Result<Keyring, String> {
        // toml's own Display quotes the offending line, which may hold a secret: report
        // the position and the message only.
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| {
                text[..span.start.min(text.len())].matches('\n').count() + 1
            });
            format!("line {line}: {}", e.message())
        })?;
        let mut ring = Keyring::default();
        for k in file.keys {
            let role = match (k.role.as_str(), k.thing_name) {
                ("admin", None) => Role::Admin,
                ("operator", None) => Role::Operator,
                ("device", Some(thing_name)) => Role::Device { thing_name },
                ("device", None) => {
                    return Err(format!(
                        "access key {}: role \"device\" needs thing_name",
                        k.access_key_id
                    ));
                }
                ("admin" | "operator", Some(_)) => {
                    return Err(format!(
                        "access key {}: thing_name is only for role \"device\"",
                        k.access_key_id
                    ));
                }
                (other, _) => {
                    return Err(format!(
                        "access key {}: role must be admin, operator or device, not {other:?}",
                        k.access_key_id
                    ));
                }
            };
            ring.insert(AccessKey {
                access_key_id: k.access_key_id,
                secret_access_key: k.secret_access_key,
                session_token: k.session_token,
                account_id: k.account_id,
                role,
            })?;
        }
        if ring.keys.is_empty() {
            return Err("the credentials file lists no [[keys]]".into());
        }
        Ok(ring)
    }

    pub fn get(&self, access_key_id: &str) -> Option<&AccessKey> {
        self.keys.get(access_key_id)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every account that has at least one key, sorted.
    pub fn accounts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.values().map(|k| k.account_id.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = &AccessKey> {
        self.keys.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_role_and_refuses_bad_entries() {
        let ring = Keyring::from_toml(
            r#"
            [[keys]]
            access_key_id = "AKADMIN"
            secret_access_key = "s1"
            account_id = "111111111111"
            role = "admin"
            [[keys]]
            access_key_id = "AKDEV"
            secret_access_key = "hush-hush"
            session_token = "tok-tok-tok"
            account_id = "222222222222"
            role = "device"
            thing_name = "thing-a"
            "#,
        )
        .unwrap();
        assert_eq!(ring.get("AKADMIN").unwrap().role, Role::Admin);
        assert_eq!(
            ring.get("AKDEV").unwrap().role,
            Role::Device {
                thing_name: "thing-a".into()
            }
        );
        assert_eq!(ring.accounts(), ["111111111111", "222222222222"]);
        let debug = format!("{ring:?}");
        assert!(
            !debug.contains("hush") && !debug.contains("tok-tok"),
            "{debug}"
        );

        let key = |extra: &str| {
            format!("[[keys]]\naccess_key_id = \"K\"\nsecret_access_key = \"s\"\n{extra}")
        };
        for (bad, why) in [
            (key("account_id = \"1\"\nrole = \"admin\""), "12 digits"),
            (
                key("account_id = \"111111111111\"\nrole = \"root\""),
                "role must be",
            ),
            (
                key("account_id = \"111111111111\"\nrole = \"device\""),
                "needs thing_name",
            ),
            (
                key("account_id = \"111111111111\"\nrole = \"admin\"\nthing_name = \"t\""),
                "only for role",
            ),
            (
                key("account_id = \"111111111111\"\nrole = \"admin\"\nsecret = \"x\""),
                "unknown field",
            ),
            (
                // A typo next to a real secret: the message must not quote the line.
                "[[keys]]\naccess_key_id = \"K\"\nsecret_acess_key = \"TOPSECRET\"\n".into(),
                "line 3",
            ),
            (
                format!(
                    "{}\n{}",
                    key("account_id = \"111111111111\"\nrole = \"admin\""),
                    key("account_id = \"111111111111\"\nrole = \"admin\"")
                ),
                "twice",
            ),
            (String::new(), "no [[keys]]"),
        ] {
            let err = Keyring::from_toml(&bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains("TOPSECRET"), "{err}");
        }
    }
}
