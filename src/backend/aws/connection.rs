//! Where Stepwise's Step Functions calls go: the embedded local engine, or an AWS account
//! (or an AWS-compatible endpoint such as LocalStack or `stepwise serve`).
//!
//! [`AwsTarget`] is the plain description a person chooses (profile, region, endpoint) and
//! the app saves as "last used": it never holds credentials, which stay where the AWS
//! configuration keeps them (environment, shared files, SSO cache, instance role).
//! [`AwsClients`] are the SDK clients built from it, in one place, with one loaded
//! configuration: Step Functions, S3 and STS agree on region, endpoint and credentials.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sfn::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use serde::{Deserialize, Serialize};

use super::error::AwsError;

/// How long a TCP (and TLS) connection may take before the endpoint counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of an ordinary call (a page of history, a describe).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// One `GetActivityTask`: AWS holds the long poll open up to 60 s before answering "no task",
/// so the client must wait longer than that or it would cut every idle poll short.
pub const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(75);
/// Attempts per call in the SDK's standard retry mode (exponential back-off with jitter on
/// throttling and transient errors) before a call fails.
pub const MAX_ATTEMPTS: u32 = 5;

/// Which engine a command or the app talks to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Connection {
    /// The embedded engine over the local data directory.
    #[default]
    Local,
    Aws(AwsTarget),
}

/// An AWS account and region to talk to, as a person names them. No credentials: those are
/// found through the standard AWS configuration when the clients are built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTarget {
    /// A named profile of `~/.aws/config`; `None` uses `AWS_PROFILE` or the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `None` takes the region from the environment or the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// An AWS-compatible endpoint (`http://127.0.0.1:4566`) instead of AWS's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

impl AwsTarget {
    /// "profile dev · eu-west-1 · http://127.0.0.1:4566", for status lines and messages.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.profile {
            parts.push(format!("profile {p}"));
        }
        parts.push(self.region.clone().unwrap_or_else(|| "region from the profile".into()));
        if let Some(e) = &self.endpoint_url {
            parts.push(e.clone());
        }
        parts.join(" · ")
    }

    /// Whether the endpoint is this machine (LocalStack, `stepwise serve`).
    pub fn is_loopback(&self) -> bool {
        self.endpoint_url.as_deref().is_some_and(is_loopback_url)
    }
}

/// The app's connection settings, `connection.json` in the config directory: the last
/// connection and the role new state machines run as on AWS. Read by the app (to reconnect
/// at start) and by the AWS backend (at each deploy, so a changed role needs no reconnect).
/// Never credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionSettings {
    pub connection: Connection,
    /// The IAM role ARN deploys and starts from the window give a new state machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl ConnectionSettings {
    pub fn path(config_dir: &std::path::Path) -> std::path::PathBuf {
        config_dir.join("connection.json")
    }

    pub fn load(config_dir: &std::path::Path) -> Result<ConnectionSettings, String> {
        crate::paths::load_settings(&Self::path(config_dir), "connection settings")
    }

    pub fn save(&self, config_dir: &std::path::Path) -> Result<(), String> {
        crate::paths::save_settings(&Self::path(config_dir), self)
    }
}

/// The profile names of the shared AWS files (`~/.aws/config`, `~/.aws/credentials`, or
/// the files `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` name), sorted, with "default"
/// always present. Names only: nothing else of those files is read or kept.
pub fn profile_names() -> Vec<String> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| std::env::var_os(var).map(std::path::PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)));
    let read = |p: Option<std::path::PathBuf>| p.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    profile_names_in(&read(file("AWS_CONFIG_FILE", "config")), &read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials")))
}

/// The section headers of the two files as profile names. aws-config's own parser reaches
/// the files only through aws-types' `os_shim_internal` (not a public API to build on), and
/// the window needs nothing but the names, so the headers are read here: `[profile NAME]`
/// and `[default]` in the config file, `[NAME]` in the credentials file; `[sso-session …]`
/// and `[services …]` sections are not profiles.
pub fn profile_names_in(config: &str, credentials: &str) -> Vec<String> {
    let headers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next().map(|h| h.trim().to_owned()))
            .collect()
    };
    let mut names: BTreeSet<String> = BTreeSet::from(["default".to_owned()]);
    for h in headers(config) {
        if let Some(name) = h.strip_prefix("profile ").or_else(|| h.strip_prefix("profile\t")) {
            names.insert(name.trim().to_owned());
        } else if h == "default" {
            names.insert(h);
        }
    }
    names.extend(headers(credentials).into_iter().filter(|h| !h.is_empty() && !h.contains(' ')));
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

/// `http://127.0.0.1:4566`, `http://localhost`, `http://[::1]:8080/` and the like.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    host == "localhost" || host == "::1" || host.starts_with("127.") && host.split('.').count() == 4
}

/// Who the credentials belong to (`GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// The clients of one connection, built from one loaded AWS configuration.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub target: AwsTarget,
    /// The region in use (from the target or the AWS configuration).
    pub region: String,
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
    /// Whether in-memory placeholder credentials stand in for missing ones (loopback only).
    pub placeholder_credentials: bool,
}

impl AwsClients {
    /// Loads the AWS configuration for `target` and builds the clients. Fails only when no
    /// region can be found; missing or expired credentials show on the first call, with
    /// what to do about them.
    pub async fn connect(target: &AwsTarget) -> Result<AwsClients, AwsError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts(ATTEMPT_TIMEOUT))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = &target.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let mut shared = loader.load().await;
        let Some(region) = shared.region().map(|r| r.to_string()) else {
            return Err(AwsError::NoRegion);
        };
        let mut placeholder_credentials = false;
        if target.is_loopback() {
            // LocalStack and `stepwise serve` accept any signature, but the SDK will not sign a
            // request without credentials. When the machine has none configured, fixed
            // placeholder ones are used for this loopback endpoint only, so those servers work
            // without an AWS account. They live in memory for this connection and are never
            // written anywhere; a real AWS endpoint never gets them.
            let have = match shared.credentials_provider() {
                Some(p) => p.provide_credentials().await.is_ok(),
                None => false,
            };
            if !have {
                let creds = Credentials::new("stepwise-local", "stepwise-local", None, None, "stepwise-loopback-placeholder");
                shared = shared.into_builder().credentials_provider(SharedCredentialsProvider::new(creds)).build();
                placeholder_credentials = true;
            }
        }
        let sfn = aws_sdk_sfn::Client::new(&shared);
        let s3 = s3_client(&shared, target.endpoint_url.is_some());
        let sts = aws_sdk_sts::Client::new(&shared);
        let iam = aws_sdk_iam::Client::new(&shared);
        Ok(AwsClients { target: target.clone(), region, sfn, s3, sts, iam, placeholder_credentials })
    }

    /// The account and ARN of the credentials; `None` when STS cannot say (an endpoint
    /// without STS, a network error): the connection may still work.
    pub async fn identity(&self) -> Option<Identity> {
        let out = self.sts.get_caller_identity().send().await.ok()?;
        Some(Identity { account: out.account()?.to_owned(), arn: out.arn().unwrap_or_default().to_owned() })
    }

    /// "account 123456789012 · eu-west-1" (or "account unknown · …").
    pub fn label(&self, identity: Option<&Identity>) -> String {
        let account = identity.map_or_else(|| "account unknown".to_owned(), |i| format!("account {}", i.account));
        match &self.target.endpoint_url {
            Some(url) => format!("{account} · {} · {url}", self.region),
            None => format!("{account} · {}", self.region),
        }
    }

    /// Where calls go, for messages ("the endpoint http://…", "AWS in eu-west-1").
    pub fn place(&self) -> String {
        match &self.target.endpoint_url {
            Some(url) => format!("the endpoint {url}"),
            None => format!("AWS in {}", self.region),
        }
    }
}

/// An S3 client from a loaded configuration. An S3-compatible endpoint (LocalStack, MinIO) is
/// addressed path-style (`http://host/bucket/key`): such endpoints rarely resolve a bucket
/// name as a subdomain.
pub fn s3_client(shared: &aws_config::SdkConfig, custom_endpoint: bool) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(shared);
    if custom_endpoint {
        config = config.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

/// The timeouts of a call whose attempts may last `attempt`.
pub fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).operation_attempt_timeout(attempt).read_timeout(attempt).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_recognised_and_others_are_not() {
        for url in ["http://127.0.0.1:4566", "http://localhost:8080/", "https://LOCALHOST", "http://[::1]:4566", "http://127.1.2.3", "http://u@127.0.0.1:1"] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in ["https://states.eu-west-1.amazonaws.com", "http://127.0.0.1.example.com", "http://localhost.evil.com", "http://10.0.0.1:4566", "http://[::2]:1"] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn profile_names_come_from_both_files_headers_only() {
        let config = "[default]\nregion = eu-west-1\n[profile dev]\nsso_session = corp\n[sso-session corp]\nsso_region = us-east-1\n[services s3]\n  [profile  prod ]\n";
        let credentials = "[ci]\naws_access_key_id = AKIA\n# [commented]\n[dev]\n";
        assert_eq!(profile_names_in(config, credentials), ["ci", "default", "dev", "prod"]);
        assert_eq!(profile_names_in("", ""), ["default"]);
    }

    #[test]
    fn a_saved_target_round_trips_and_holds_no_secret_fields() {
        let c = Connection::Aws(AwsTarget { profile: Some("dev".into()), region: Some("eu-west-1".into()), endpoint_url: None });
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"kind":"aws","profile":"dev","region":"eu-west-1"}"#);
        assert_eq!(serde_json::from_str::<Connection>(&text).unwrap(), c);
        assert_eq!(serde_json::from_str::<Connection>(r#"{"kind":"local"}"#).unwrap(), Connection::Local);
    }
}
