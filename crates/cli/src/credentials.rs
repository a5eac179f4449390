//! Profile, region, endpoint and credentials, resolved as botocore resolves them for the
//! AWS CLI v1:
//!
//! - profile: `--profile`, else `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`; a named profile
//!   must exist in the config or credentials file (`The config profile (x) could not be
//!   found`), the implicit `default` need not;
//! - files: `AWS_CONFIG_FILE` (default `~/.aws/config`, sections `[default]` and
//!   `[profile NAME]`) and `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`,
//!   sections `[NAME]`), merged per profile as botocore merges them;
//! - region: `--region`, else `AWS_DEFAULT_REGION`, else the profile's `region` (botocore
//!   does not read `AWS_REGION`);
//! - credentials: environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`/`AWS_SECURITY_TOKEN`; skipped when `--profile` is given), then the
//!   credentials file, `credential_process`, then the config file;
//! - endpoint: `--endpoint-url`, else `AWS_ENDPOINT_URL_<SERVICE_ID>`, `AWS_ENDPOINT_URL`,
//!   the profile's `services` section or `endpoint_url` (unless
//!   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`), else `https://<prefix>.<region>.amazonaws.com`.
//!
//! aws-config would do most of this but needs an async runtime and pulls the SDK's HTTP
//! stack into a process that must start in a few milliseconds, so the file handling is
//! here. What it must not do: probe the instance metadata service or the container
//! credentials endpoint (a CLI call must not wait on a network timeout), or call STS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::paramfile::expand_user;

/// Static credentials for signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// One profile's settings (lower-cased keys). Nested sections (`s3 =` + indented lines)
/// are kept as `parent.child` keys.
pub type Profile = BTreeMap<String, String>;

/// The loaded configuration of one invocation.
#[derive(Debug, Default)]
pub struct Config {
    /// Profile name given explicitly (`--profile`, `AWS_DEFAULT_PROFILE`, `AWS_PROFILE`).
    pub profile_name: Option<String>,
    /// `--profile` itself: an explicit profile disables the environment credentials.
    pub profile_from_cli: bool,
    profiles: BTreeMap<String, Profile>,
    /// `[services NAME]` sections of the config file.
    services: BTreeMap<String, Profile>,
}

/// Errors with the AWS CLI's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `The config profile (x) could not be found` (printed after an empty line).
    ProfileNotFound(String),
    /// Printed without a leading empty line.
    NoRegion,
    NoCredentials,
    /// Any other message (printed after an empty line).
    Other(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::ProfileNotFound(p) => write!(f, "The config profile ({p}) could not be found"),
            ConfigError::NoRegion => f.write_str(
                "You must specify a region. You can also configure your region by running \"aws configure\".",
            ),
            ConfigError::NoCredentials => f.write_str(
                "Unable to locate credentials. You can configure credentials by running \"aws configure\".",
            ),
            ConfigError::Other(m) => f.write_str(m),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn env_nonempty(name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Parses an INI file as botocore's `raw_config_parse` does (configparser: `key = value`
/// or `key: value`, `#`/`;` comment lines, indented continuation lines).
pub fn parse_ini(text: &str) -> BTreeMap<String, Profile> {
    let mut sections: BTreeMap<String, Profile> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation: a nested `key = value` under the last key.
            if let (Some(sec), Some(parent)) = (&current, &last_key)
                && let Some((k, v)) = trimmed.split_once(['=', ':'])
            {
                sections.entry(sec.clone()).or_default().insert(
                    format!("{parent}.{}", k.trim().to_lowercase()),
                    v.trim().to_string(),
                );
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let name = name.trim().to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            last_key = None;
            continue;
        }
        if let (Some(sec), Some((k, v))) = (&current, trimmed.split_once(['=', ':'])) {
            let key = k.trim().to_lowercase();
            sections
                .entry(sec.clone())
                .or_default()
                .insert(key.clone(), v.trim().to_string());
            last_key = Some(key);
        }
    }
    sections
}

fn read_ini(path: PathBuf) -> BTreeMap<String, Profile> {
    std::fs::read_to_string(path)
        .map(|t| parse_ini(&t))
        .unwrap_or_default()
}

impl Config {
    /// Loads both files; `cli_profile` is `--profile`.
    pub fn load(cli_profile: Option<&str>) -> Config {
        let config_path = env("AWS_CONFIG_FILE").unwrap_or_else(|| "~/.aws/config".into());
        let creds_path =
            env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| "~/.aws/credentials".into());
        let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
        let mut services = BTreeMap::new();
        for (section, values) in read_ini(PathBuf::from(expand_user(&config_path))) {
            if section == "default" {
                profiles.entry("default".into()).or_default().extend(values);
            } else if let Some(name) = section.strip_prefix("profile ") {
                profiles
                    .entry(name.trim().to_string())
                    .or_default()
                    .extend(values);
            } else if let Some(name) = section.strip_prefix("services ") {
                services.insert(name.trim().to_string(), values);
            }
        }
        for (section, values) in read_ini(PathBuf::from(expand_user(&creds_path))) {
            profiles.entry(section).or_default().extend(values);
        }
        let (profile_name, from_cli) = match cli_profile {
            Some(p) => (Some(p.to_string()), true),
            None => (
                env("AWS_DEFAULT_PROFILE").or_else(|| env("AWS_PROFILE")),
                false,
            ),
        };
        Config {
            profile_name,
            profile_from_cli: from_cli,
            profiles,
            services,
        }
    }

    /// `get_scoped_config()`: the active profile, which must exist if it was named.
    pub fn scoped(&self) -> Result<Profile, ConfigError> {
        match &self.profile_name {
            None => Ok(self.profiles.get("default").cloned().unwrap_or_default()),
            Some(p) => self
                .profiles
                .get(p)
                .cloned()
                .ok_or_else(|| ConfigError::ProfileNotFound(p.clone())),
        }
    }

    /// The region, or `NoRegion`.
    pub fn region(&self, cli_region: Option<&str>) -> Result<String, ConfigError> {
        let region = match cli_region {
            Some(r) => Some(r.to_string()),
            None => {
                env("AWS_DEFAULT_REGION").or_else(|| self.scoped().ok()?.get("region").cloned())
            }
        };
        let region = region
            .filter(|r| !r.is_empty())
            .ok_or(ConfigError::NoRegion)?;
        // botocore's `validate_region_name`.
        let ok = region.len() <= 63
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !region.starts_with('-')
            && !region.ends_with('-');
        if !ok {
            return Err(ConfigError::Other(format!(
                "Provided region_name '{region}' doesn't match a supported format."
            )));
        }
        Ok(region)
    }

    /// A setting read from the environment first, then the profile.
    pub fn setting(&self, env_name: &str, key: &str) -> Option<String> {
        env(env_name).or_else(|| self.scoped().ok()?.get(key).cloned())
    }

    /// The endpoint URL for a service (see the module docs for the order).
    pub fn endpoint(
        &self,
        cli_endpoint: Option<&str>,
        service_id: &str,
        prefix: &str,
        region: &str,
    ) -> String {
        if let Some(e) = cli_endpoint {
            return e.to_string();
        }
        let ignore = self
            .setting(
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                "ignore_configured_endpoint_urls",
            )
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !ignore {
            let env_id = service_id.replace([' ', '-'], "_").to_uppercase();
            if let Some(e) = env_nonempty(&format!("AWS_ENDPOINT_URL_{env_id}")) {
                return e;
            }
            if let Some(e) = env_nonempty("AWS_ENDPOINT_URL") {
                return e;
            }
            if let Ok(p) = self.scoped() {
                let key = format!(
                    "{}.endpoint_url",
                    service_id.replace(' ', "_").to_lowercase()
                );
                if let Some(section) = p.get("services").and_then(|s| self.services.get(s))
                    && let Some(e) = section.get(&key)
                {
                    return e.clone();
                }
                if let Some(e) = p.get("endpoint_url") {
                    return e.clone();
                }
            }
        }
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{prefix}.{region}.{suffix}")
    }

    /// The credential chain (without IMDS, containers, SSO and assume-role).
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        if !self.profile_from_cli
            && let Some(c) = env_credentials()?
        {
            return Ok(c);
        }
        let profile_name = self
            .profile_name
            .clone()
            .unwrap_or_else(|| "default".into());
        let profile = self
            .profiles
            .get(&profile_name)
            .cloned()
            .unwrap_or_default();
        if let Some(c) = static_credentials(&profile, "shared-credentials-file")? {
            return Ok(c);
        }
        if let Some(cmd) = profile.get("credential_process") {
            return credential_process(cmd);
        }
        if profile.contains_key("role_arn")
            || profile.contains_key("sso_start_url")
            || profile.contains_key("sso_session")
        {
            return Err(ConfigError::Other(format!(
                "The profile ({profile_name}) uses assume-role or SSO credentials, which iotjobs does not resolve; export temporary credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or use credential_process"
            )));
        }
        Err(ConfigError::NoCredentials)
    }
}

fn env_credentials() -> Result<Option<Credentials>, ConfigError> {
    let key = env_nonempty("AWS_ACCESS_KEY_ID");
    let secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
    match (key, secret) {
        (Some(access_key), Some(secret_key)) => Ok(Some(Credentials {
            access_key,
            secret_key,
            session_token: env_nonempty("AWS_SESSION_TOKEN")
                .or_else(|| env_nonempty("AWS_SECURITY_TOKEN")),
        })),
        (Some(_), None) => Err(ConfigError::Other(
            "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Other(
            "Partial credentials found in env, missing: AWS_ACCESS_KEY_ID".into(),
        )),
        (None, None) => Ok(None),
    }
}

fn static_credentials(p: &Profile, provider: &str) -> Result<Option<Credentials>, ConfigError> {
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(k), Some(s)) => Ok(Some(Credentials {
            access_key: k.clone(),
            secret_key: s.clone(),
            session_token: p
                .get("aws_session_token")
                .or_else(|| p.get("aws_security_token"))
                .cloned(),
        })),
        (Some(_), None) => Err(ConfigError::Other(format!(
            "Partial credentials found in {provider}, missing: aws_secret_access_key"
        ))),
        _ => Ok(None),
    }
}

/// `credential_process`: run the command, read `{"Version": 1, "AccessKeyId": …}`.
fn credential_process(cmd: &str) -> Result<Credentials, ConfigError> {
    let err = |m: String| {
        ConfigError::Other(format!(
            "Error when retrieving credentials from custom-process: {m}"
        ))
    };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v = crate::pyjson::loads(&text, false).map_err(|e| err(e.to_string()))?;
    let d = v
        .as_dict()
        .ok_or_else(|| err("output is not a JSON object".into()))?;
    let get = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Ok(Credentials {
        access_key: get("AccessKeyId").ok_or_else(|| err("AccessKeyId missing".into()))?,
        secret_key: get("SecretAccessKey").ok_or_else(|| err("SecretAccessKey missing".into()))?,
        session_token: get("SessionToken"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_keys_and_nested_values() {
        let ini = parse_ini(
            "[default]\nregion = eu-west-1\n# comment\n[profile dev]\naws_access_key_id=AK\naws_secret_access_key: SK\ns3 =\n  max_concurrent_requests = 10\n",
        );
        assert_eq!(ini["default"]["region"], "eu-west-1");
        assert_eq!(ini["profile dev"]["aws_secret_access_key"], "SK");
        assert_eq!(ini["profile dev"]["s3.max_concurrent_requests"], "10");
    }

    #[test]
    fn static_profile_credentials() {
        let mut p = Profile::new();
        p.insert("aws_access_key_id".into(), "AK".into());
        assert!(static_credentials(&p, "x").is_err());
        p.insert("aws_secret_access_key".into(), "SK".into());
        p.insert("aws_session_token".into(), "TOK".into());
        assert_eq!(
            static_credentials(&p, "x").unwrap(),
            Some(Credentials {
                access_key: "AK".into(),
                secret_key: "SK".into(),
                session_token: Some("TOK".into())
            })
        );
    }
}
