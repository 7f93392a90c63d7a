//! `stepwise serve`: the local engine over the Step Functions API and the local buckets over
//! the S3 REST API, on one loopback port, so AWS's own clients (the CLI, boto3, the SDKs)
//! and existing activity workers run against it unchanged.
//!
//! A request whose `X-Amz-Target` names an operation (`AWSStepFunctions.StartExecution`) is a
//! Step Functions call (AWS JSON 1.0); a form POST to `/` is STS (`GetCallerIdentity` only,
//! [`sts`]); every other request is S3 (path-style), answered by the `s3s` crate over
//! [`s3::LocalS3`].
//!
//! No request is authenticated: the server listens on 127.0.0.1 only, so only this machine's
//! users reach it, and they can read the data directory anyway. Checking signatures would
//! need every client's secret key; instead any credentials are accepted (see [`chunked`]).

mod chunked;
pub mod s3;
pub mod sfn;
mod sts;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::runtime::buckets::LocalBuckets;
use crate::runtime::service::LocalService;

/// The largest Step Functions request read (AWS's largest, a 1 MiB definition, fits twice).
const MAX_JSON_BODY: usize = 2 * 1024 * 1024;

struct State {
    service: LocalService,
    s3: s3s::service::S3Service,
}

/// Binds `127.0.0.1:port` (0 picks a free port). Never another interface: the server checks
/// no credentials.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves until `shutdown` completes; connections still open then (long polls) are dropped.
pub async fn serve(
    listener: TcpListener,
    service: LocalService,
    buckets: LocalBuckets,
    data_dir: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let s3 = s3s::service::S3ServiceBuilder::new(s3::LocalS3::new(buckets, data_dir)).build();
    let state = Arc::new(State { service, s3 });
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: the next accept may work.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<s3s::Body> {
    let target = req.headers().get("x-amz-target").map(|v| v.to_str().unwrap_or("").to_owned());
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    if target.is_none() && sts::is_sts(req.method(), req.uri().path(), content_type) {
        return match Limited::new(req.into_body(), MAX_JSON_BODY).collect().await {
            Ok(body) => sts::call(&body.to_bytes()),
            Err(e) => error_response(StatusCode::BAD_REQUEST, "ValidationException", &format!("could not read the request body: {e}")),
        };
    }
    match target {
        // S3 never sends X-Amz-Target: any request that has one is an API call by name.
        Some(target) => step_functions(state, &target, req).await,
        None => match state.s3.call(chunked::prepare(req)).await {
            Ok(resp) => resp,
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", &format!("the S3 request failed: {e:?}")),
        },
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<s3s::Body> {
    let body = json!({ "__type": code, "message": message }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", code)
        .body(s3s::Body::from(body))
        .unwrap_or_else(|_| Response::new(s3s::Body::empty()))
}

async fn step_functions(state: &State, target: &str, req: Request<Incoming>) -> Response<s3s::Body> {
    let Some(operation) = target.strip_prefix("AWSStepFunctions.") else {
        return error_response(StatusCode::BAD_REQUEST, "UnknownOperationException", &format!("stepwise serve does not serve '{target}'"));
    };
    // An operation not served is said at once, whatever the body holds.
    if !sfn::OPERATIONS.contains(&operation) {
        let e = sfn::unknown_operation(operation);
        return error_response(StatusCode::BAD_REQUEST, e.code, &e.message);
    }
    let operation = operation.to_owned();
    let bytes: Bytes = match Limited::new(req.into_body(), MAX_JSON_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let message = if e.is::<http_body_util::LengthLimitError>() {
                format!("the request body is over {} MiB", MAX_JSON_BODY >> 20)
            } else {
                format!("could not read the request body: {e}")
            };
            return error_response(StatusCode::BAD_REQUEST, "ValidationException", &message);
        }
    };
    let body: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return error_response(StatusCode::BAD_REQUEST, "SerializationException", "the request body must be a JSON object"),
            Err(e) => return error_response(StatusCode::BAD_REQUEST, "SerializationException", &format!("the request body is not JSON: {e}")),
        }
    };
    match sfn::call(&state.service, &operation, &body).await {
        Ok(value) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/x-amz-json-1.0")
            .body(s3s::Body::from(value.to_string()))
            .unwrap_or_else(|_| Response::new(s3s::Body::empty())),
        Err(e) => error_response(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), e.code, &e.message),
    }
}
