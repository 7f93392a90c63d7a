//! The one STS call clients make of an endpoint before anything else: `GetCallerIdentity`
//! (AWS's query protocol, a form-encoded POST to `/`, answered in XML), so the window, the
//! AWS CLI (`aws sts get-caller-identity`) and scripts see the account that the local
//! engine's ARNs name. Any other STS action is refused in STS's error shape.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::{Response, StatusCode};

use crate::runtime::service::ACCOUNT;

/// The identity every caller has: `serve` accepts any credentials (loopback only).
const CALLER_ARN: &str = "arn:aws:iam::123456789012:user/stepwise-local";

/// Whether a request without `X-Amz-Target` is an STS query call rather than S3: a POST to
/// the root with a form body. S3 has no such request (a browser POST upload goes to a bucket
/// and is `multipart/form-data`).
pub fn is_sts(method: &hyper::Method, path: &str, content_type: Option<&str>) -> bool {
    method == hyper::Method::POST
        && path == "/"
        && content_type.is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// Answers one STS query request from its form body.
pub fn call(body: &[u8]) -> Response<s3s::Body> {
    let action = form_urlencoded::parse(body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned());
    static REQUESTS: AtomicU64 = AtomicU64::new(1);
    let request_id = format!("stepwise-sts-{}", REQUESTS.fetch_add(1, Ordering::Relaxed));
    match action.as_deref() {
        Some("GetCallerIdentity") => xml(
            StatusCode::OK,
            format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <GetCallerIdentityResult><Arn>{CALLER_ARN}</Arn><UserId>STEPWISELOCAL</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult>\
                 <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            ),
        ),
        other => {
            let message = match other {
                Some(action) => format!("stepwise serve answers STS GetCallerIdentity only, not {}", escape(action)),
                None => "the STS request names no Action".to_owned(),
            };
            xml(
                StatusCode::BAD_REQUEST,
                format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                     <Code>InvalidAction</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ),
            )
        }
    }
}

fn xml(status: StatusCode, body: String) -> Response<s3s::Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(s3s::Body::from(body))
        .unwrap_or_else(|_| Response::new(s3s::Body::empty()))
}

/// A caller's text inside an XML element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
