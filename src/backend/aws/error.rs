//! One error type for every AWS call, sorted by what a person can do about it.
//!
//! The SDK reports failures in several layers (no connection, a timeout, an HTTP response
//! with an error code); [`classify`] reads them once, here, so the app and the command line
//! show the same words for the same trouble.

use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

/// What went wrong with a call to AWS (or an AWS-compatible endpoint).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
    #[error("no region: pass --region or set one in the profile (region = … in ~/.aws/config), or set AWS_REGION")]
    NoRegion,
    #[error("cannot reach {place} ({detail}); check the network connection, the region and the endpoint URL")]
    Unreachable { place: String, detail: String },
    #[error("{action} was throttled by AWS and still failed after retries; wait a moment and try again")]
    Throttled { action: String },
    #[error("{action}: the AWS credentials are missing, invalid or expired ({detail}); {hint}")]
    Credentials { action: String, detail: String, hint: String },
    #[error("access denied to states:{action} ({message}); the identity in use needs that permission (IAM policy)")]
    AccessDenied { action: String, message: String },
    #[error("{action}: not found ({code}): {message}")]
    NotFound { action: String, code: String, message: String },
    /// AWS refused the request as given (a bad name, definition, token, or a conflict).
    #[error("{action} was refused ({code}): {message}")]
    Rejected { action: String, code: String, message: String },
    #[error("{action} failed: {detail}")]
    Other { action: String, detail: String },
}

impl AwsError {
    /// AWS's error code when AWS answered with one (`StateMachineAlreadyExists`,
    /// `TaskTimedOut`…), so callers can react to a particular one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::NotFound { code, .. } | AwsError::Rejected { code, .. } => Some(code),
            AwsError::AccessDenied { .. } => Some("AccessDeniedException"),
            _ => None,
        }
    }
}

const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
];
const CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "RequestExpired",
    "AuthFailure",
];
const ACCESS_DENIED: &[&str] = &["AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "AuthorizationError"];
const NOT_FOUND: &[&str] = &[
    "StateMachineDoesNotExist",
    "ExecutionDoesNotExist",
    "ActivityDoesNotExist",
    "TaskDoesNotExist",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
];

/// What to do about bad credentials, naming the profile when one is in use.
pub fn credentials_hint(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("refresh them with `aws sso login --profile {p}`, or fix the profile's credentials"),
        None => "refresh them with `aws sso login` (or `aws sso login --profile P` with --profile P), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
    }
}

/// Sorts an AWS error code (and HTTP status) into an [`AwsError`].
pub fn classify_code(action: &str, code: &str, message: &str, status: Option<u16>, profile: Option<&str>) -> AwsError {
    let (action, message) = (action.to_owned(), message.to_owned());
    if THROTTLING.contains(&code) || status == Some(429) && code.is_empty() {
        AwsError::Throttled { action }
    } else if CREDENTIALS.contains(&code) {
        let detail = if message.is_empty() { code.to_owned() } else { format!("{code}: {message}") };
        AwsError::Credentials { action, detail, hint: credentials_hint(profile) }
    } else if ACCESS_DENIED.contains(&code) || code.is_empty() && status == Some(403) {
        AwsError::AccessDenied { action, message }
    } else if NOT_FOUND.contains(&code) || code.is_empty() && status == Some(404) {
        AwsError::NotFound { action, code: code.to_owned(), message }
    } else if !code.is_empty() && status.is_none_or(|s| (400..500).contains(&s)) {
        AwsError::Rejected { action, code: code.to_owned(), message }
    } else {
        let detail = match (code.is_empty(), message.is_empty()) {
            (true, true) => status.map_or_else(|| "no detail".to_owned(), |s| format!("HTTP {s}")),
            (true, false) => message,
            (false, true) => code.to_owned(),
            (false, false) => format!("{code}: {message}"),
        };
        AwsError::Other { action, detail }
    }
}

/// Whether a failure before any answer came is about credentials (the SDK could not find or
/// load any, or an SSO session has ended) rather than the network.
fn is_credentials_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["credentials", "no credential", "sso session", "token has expired", "refresh token", "identity resolver", "failed to resolve identity", "failed to load token"]
        .iter()
        .any(|w| t.contains(w))
}

/// An error and its causes in one line ("dispatch failure: io error: … Connection refused"),
/// without the debug dump the SDK's own context printer adds.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Reads an SDK error of a call to `action` against `place` ("AWS in eu-west-1").
pub fn classify<E>(action: &str, place: &str, profile: Option<&str>, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = error_chain(&err);
    match &err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            classify_code(action, e.err().code().unwrap_or(""), e.err().message().unwrap_or(""), Some(status), profile)
        }
        SdkError::ResponseError(e) => {
            let status = e.raw().status().as_u16();
            classify_code(action, "", &text, Some(status), profile)
        }
        _ if is_credentials_text(&text) => {
            AwsError::Credentials { action: action.to_owned(), detail: text, hint: credentials_hint(profile) }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            AwsError::Unreachable { place: place.to_owned(), detail: text }
        }
        _ => AwsError::Other { action: action.to_owned(), detail: text },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_by_what_a_person_can_do() {
        let c = |code: &str, status: Option<u16>| classify_code("StartExecution", code, "msg", status, Some("dev"));
        assert!(matches!(c("ThrottlingException", Some(400)), AwsError::Throttled { .. }));
        assert!(matches!(c("", Some(429)), AwsError::Throttled { .. }));
        assert!(matches!(c("ExpiredTokenException", Some(400)), AwsError::Credentials { .. }));
        assert!(matches!(c("UnrecognizedClientException", Some(400)), AwsError::Credentials { .. }));
        assert!(matches!(c("AccessDeniedException", Some(400)), AwsError::AccessDenied { .. }));
        assert!(matches!(c("", Some(403)), AwsError::AccessDenied { .. }));
        assert!(matches!(c("StateMachineDoesNotExist", Some(400)), AwsError::NotFound { .. }));
        assert!(matches!(c("ActivityDoesNotExist", Some(400)), AwsError::NotFound { .. }));
        assert!(matches!(c("ValidationException", Some(400)), AwsError::Rejected { .. }));
        assert!(matches!(c("InvalidDefinition", Some(400)), AwsError::Rejected { .. }));
        assert!(matches!(c("InternalFailure", Some(500)), AwsError::Other { .. }));
        assert!(matches!(c("", Some(502)), AwsError::Other { .. }));
    }

    #[test]
    fn messages_name_the_action_and_the_way_out() {
        let e = classify_code("StartExecution", "ExpiredTokenException", "The security token included in the request is expired", Some(400), Some("dev"));
        let text = e.to_string();
        assert!(text.contains("aws sso login --profile dev"), "{text}");
        let e = classify_code("CreateStateMachine", "AccessDeniedException", "not authorized", Some(400), None);
        assert!(e.to_string().contains("states:CreateStateMachine"), "{e}");
        assert_eq!(e.code(), Some("AccessDeniedException"));
        let e = classify_code("CreateStateMachine", "StateMachineAlreadyExists", "exists", Some(400), None);
        assert_eq!(e.code(), Some("StateMachineAlreadyExists"));
        assert!(AwsError::NoRegion.to_string().contains("pass --region or set one in the profile"));
    }

    #[test]
    fn credential_failures_before_an_answer_are_not_called_network_trouble() {
        assert!(is_credentials_text("failed to construct request: no credentials in the property bag"));
        assert!(is_credentials_text("The SSO session associated with this profile has expired"));
        assert!(!is_credentials_text("dispatch failure: io error: Connection refused (os error 111)"));
    }
}
