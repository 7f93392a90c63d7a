//! Uploading a file to S3 (or an S3-compatible endpoint) fast and in flat memory.
//!
//! A file up to one part in size goes up with a single PutObject. A larger one goes up as a
//! multipart upload: CreateMultipartUpload, then up to `concurrency` UploadPart requests in
//! flight at once, then CompleteMultipartUpload with every part's ETag and CRC32. Each part's
//! body is read from the file at its offset while it is sent (the SDK opens the path afresh
//! for each attempt, so a part the SDK retries is read again rather than kept in memory):
//! memory is a few buffers per part in flight, whatever the file's size.
//!
//! Cancelling (`UploadProgress::cancel`) or any failure aborts the multipart upload, so S3
//! keeps no parts (which it would otherwise store, and bill, until someone aborts them).
//!
//! A bad network is survived in two layers. The SDK retries each request a few times
//! (`connection::MAX_ATTEMPTS`, with back-off); when it gives up on a network fault or a
//! throttle, the uploader tries that one step again, up to [`ROUNDS`] times, after a longer
//! pause. Only the failed part is sent again: the parts already stored stay stored, so a long
//! upload on a poor link keeps going rather than starting over.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use tokio::task::JoinSet;

use crate::runtime::ingest::UploadProgress;

const MIB: u64 = 1 << 20;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's largest object.
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * MIB;

/// Bytes read from the file at a time for a request body. The SDK reads through Tokio's
/// blocking pool, one round trip per read: 1 MiB keeps those few without holding much.
const READ_BUFFER: usize = MIB as usize;

/// How often an upload in progress looks at its cancel flag (`UploadProgress` is a plain
/// atomic flag, shared with code that is not async).
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Times a step (a part, the create or the complete) is tried when the SDK's own retries end
/// in a network fault or a throttle.
pub const ROUNDS: u32 = 4;
/// The pause before the second round; it doubles each round after.
const ROUND_PAUSE: Duration = Duration::from_millis(500);

/// A client for S3, from the standard AWS configuration (environment, shared config and
/// credentials files, SSO, `credential_process`, container and instance roles), built by
/// [`super::connection::AwsClients`] like every other client.
///
/// `endpoint_url` names an S3-compatible endpoint (LocalStack, MinIO), addressed path-style.
/// `profile` picks a named profile instead of the default one.
pub async fn client_for(endpoint_url: Option<&str>, region: &str, profile: Option<&str>) -> Result<Client, super::error::AwsError> {
    let target = super::connection::AwsTarget {
        profile: profile.map(str::to_owned),
        region: Some(region.to_owned()),
        endpoint_url: endpoint_url.map(str::to_owned),
    };
    Ok(super::connection::AwsClients::connect(&target).await?.s3)
}

/// How a file is cut into parts and how many go up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    /// Bytes per part; raised to S3's 5 MiB minimum, and grown so that no file needs more
    /// than 10,000 parts. A file no larger than one part goes up with one PutObject.
    pub part_size: u64,
    /// Parts in flight at once (at least 1). Memory grows with it by a few buffers per part,
    /// not by `part_size`.
    pub concurrency: usize,
    /// Send a CRC32 of every part and store the object's composite CRC32, so S3 checks each
    /// part's bytes as it receives them.
    pub crc32: bool,
}

impl Default for UploadOptions {
    /// 8 MiB parts, as the AWS CLI uses. 16 in flight: against LocalStack on two cores
    /// (`scripts/bench-upload-s3.sh`) 4 to 32 measured alike, the server being the limit; memory
    /// does not grow with the part size, and real S3 serves each connection at a bounded rate,
    /// so more connections help a fast link.
    fn default() -> Self {
        UploadOptions { part_size: 8 * MIB, concurrency: 16, crc32: true }
    }
}

/// One part of a multipart upload: bytes `offset..offset + length` of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// S3's part number, from 1.
    pub number: i32,
    pub offset: u64,
    pub length: u64,
}

/// How a file of `size` bytes is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// One PutObject (the file fits in one part).
    Single,
    /// A multipart upload of `count` parts of `part_size` bytes, the last one smaller or equal.
    Multipart { size: u64, part_size: u64, count: u64 },
}

impl Plan {
    /// The plan for a file of `size` bytes, or `None` when S3 cannot hold it (over 5 TiB).
    pub fn new(size: u64, part_size: u64) -> Option<Plan> {
        if size > MAX_OBJECT_SIZE {
            return None;
        }
        let mut part_size = part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
        if size <= part_size {
            return Some(Plan::Single);
        }
        if size.div_ceil(part_size) > MAX_PARTS {
            // Whole MiB keep parts aligned with the file system's pages.
            part_size = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        }
        Some(Plan::Multipart { size, part_size, count: size.div_ceil(part_size) })
    }

    /// The parts in order (none for a single PutObject).
    pub fn parts(&self) -> impl Iterator<Item = Part> + use<> {
        let (size, part_size, count) = match *self {
            Plan::Single => (0, 1, 0),
            Plan::Multipart { size, part_size, count } => (size, part_size, count),
        };
        (0..count).map(move |i| {
            let offset = i * part_size;
            // At most 10,000 parts, so the number always fits S3's i32.
            Part { number: i as i32 + 1, offset, length: part_size.min(size - offset) }
        })
    }
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedObject {
    /// The ETag S3 gave the object, quoted as S3 sends it; a multipart upload's ends in `-N`.
    pub etag: String,
    pub size: u64,
    /// Parts sent: 1 for a single PutObject.
    pub parts: u32,
}

/// Why an upload failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is {size} bytes; S3 holds objects of at most 5 TiB", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("the bucket '{bucket}' does not exist; create it, or check the bucket name and the endpoint")]
    NoSuchBucket { bucket: String },
    #[error(
        "the bucket '{bucket}' is in another region ({detail}); choose the bucket's region in the AWS settings"
    )]
    WrongRegion { bucket: String, detail: String },
    #[error(
        "access to the bucket '{bucket}' was denied ({detail}); the credentials in use need s3:PutObject and s3:AbortMultipartUpload on it"
    )]
    AccessDenied { bucket: String, detail: String },
    #[error(
        "the AWS credentials were refused or could not be found ({detail}); sign in again (`aws sso login` or `aws configure`) or choose another profile"
    )]
    Credentials { detail: String },
    #[error("cannot reach S3 ({detail}); check the network connection and the endpoint, then upload again")]
    Network { detail: String },
    #[error("the upload of {} was cancelled; nothing was stored", path.display())]
    Cancelled { path: PathBuf },
    #[error("S3 refused the upload: {code}: {message}")]
    Service { code: String, message: String },
    #[error(
        "{error}. Its parts could not be removed from the bucket '{bucket}' ({abort}): they are kept (and billed) until the incomplete upload {upload_id} is aborted; a lifecycle rule that aborts incomplete multipart uploads removes them"
    )]
    PartsLeft { error: Box<UploadError>, bucket: String, upload_id: String, abort: String },
}

impl UploadError {
    /// Whether trying again later may succeed: the network failed, or S3 was busy or failing
    /// (`SlowDown`, `503`, `500`), rather than refusing this request for what it is.
    pub fn is_transient(&self) -> bool {
        match self {
            UploadError::Network { .. } => true,
            UploadError::Service { code, .. } => matches!(
                code.as_str(),
                "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" | "Throttling" | "ThrottlingException"
                    | "HTTP 500" | "HTTP 502" | "HTTP 503" | "HTTP 504"
            ),
            _ => false,
        }
    }
}

/// What an upload is about, for its error messages.
#[derive(Debug, Clone)]
struct Target {
    client: Client,
    bucket: Arc<str>,
    key: Arc<str>,
    path: Arc<Path>,
    crc32: bool,
}

/// Uploads the file at `path` to `bucket`/`key`, with `progress` counting stored bytes and
/// carrying the cancel flag.
pub async fn upload_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
    progress: Arc<UploadProgress>,
    options: UploadOptions,
) -> Result<UploadedObject, UploadError> {
    let unreadable = |e: std::io::Error| UploadError::Unreadable { path: path.to_owned(), reason: e.to_string() };
    let meta = tokio::fs::metadata(path).await.map_err(unreadable)?;
    if !meta.is_file() {
        return Err(UploadError::Unreadable { path: path.to_owned(), reason: "it is not a regular file".into() });
    }
    let size = meta.len();
    let plan = Plan::new(size, options.part_size).ok_or_else(|| UploadError::TooLarge { path: path.to_owned(), size })?;
    let target = Target {
        client: client.clone(),
        bucket: bucket.into(),
        key: key.into(),
        path: path.into(),
        crc32: options.crc32,
    };
    if progress.is_cancelled() {
        return Err(UploadError::Cancelled { path: path.to_owned() });
    }
    match plan {
        Plan::Single => {
            let put = in_rounds(|| put_object(&target, size, content_type));
            let stored = tokio::select! {
                stored = put => stored?,
                () = cancelled(&progress) => return Err(UploadError::Cancelled { path: path.to_owned() }),
            };
            progress.advance(size);
            Ok(stored)
        }
        Plan::Multipart { count, .. } => multipart(&target, plan, size, count, content_type, &progress, options.concurrency).await,
    }
}

async fn put_object(target: &Target, size: u64, content_type: &str) -> Result<UploadedObject, UploadError> {
    let body = file_body(&target.path, 0, size).await?;
    let mut request = target
        .client
        .put_object()
        .bucket(&*target.bucket)
        .key(&*target.key)
        .content_type(content_type)
        .content_length(to_i64(size))
        .body(body);
    if target.crc32 {
        request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    let output = request.send().await.map_err(|e| classify(e, target))?;
    Ok(UploadedObject { etag: output.e_tag().unwrap_or_default().to_owned(), size, parts: 1 })
}

async fn multipart(
    target: &Target,
    plan: Plan,
    size: u64,
    count: u64,
    content_type: &str,
    progress: &UploadProgress,
    concurrency: usize,
) -> Result<UploadedObject, UploadError> {
    let mut create = target.client.create_multipart_upload().bucket(&*target.bucket).key(&*target.key).content_type(content_type);
    if target.crc32 {
        create = create.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    // A create whose answer was lost leaves an upload that nothing names, as the SDK's own
    // retries would; S3 drops it by the bucket's lifecycle rule for incomplete uploads.
    let created = in_rounds(|| async { create.clone().send().await.map_err(|e| classify(e, target)) }).await?;
    let Some(upload_id) = created.upload_id().map(str::to_owned) else {
        return Err(UploadError::Service {
            code: "MissingUploadId".into(),
            message: "CreateMultipartUpload answered without an upload id".into(),
        });
    };
    let upload_id: Arc<str> = upload_id.into();

    let sent = send_parts(target, plan, count, &upload_id, progress, concurrency).await;
    let completed = match sent {
        Ok(parts) => complete(target, &upload_id, parts, size).await,
        Err(e) => Err(e),
    };
    match completed {
        // At most 10,000 parts.
        Ok(etag) => Ok(UploadedObject { etag, size, parts: count as u32 }),
        Err(error) => Err(abort(target, &upload_id, error).await),
    }
}

/// Sends every part, at most `concurrency` at once; the first failure (or a cancel) stops the
/// others. The parts come back in part-number order, as CompleteMultipartUpload wants them.
async fn send_parts(
    target: &Target,
    plan: Plan,
    count: u64,
    upload_id: &Arc<str>,
    progress: &UploadProgress,
    concurrency: usize,
) -> Result<Vec<CompletedPart>, UploadError> {
    let mut pending = plan.parts();
    let mut running = JoinSet::new();
    let mut done = Vec::with_capacity(count as usize);
    loop {
        while running.len() < concurrency.max(1) {
            let Some(part) = pending.next() else { break };
            let (target, upload_id) = (target.clone(), Arc::clone(upload_id));
            running.spawn(async move { in_rounds(|| upload_part(&target, &upload_id, part)).await });
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            () = cancelled(progress) => {
                // Dropping the requests closes their connections: nothing more is sent.
                running.shutdown().await;
                return Err(UploadError::Cancelled { path: target.path.to_path_buf() });
            }
        };
        let result = match joined {
            None => break,
            Some(Ok(result)) => result,
            Some(Err(join)) => Err(UploadError::Service { code: "Internal".into(), message: format!("a part's task failed: {join}") }),
        };
        match result {
            Ok((part, completed)) => {
                progress.advance(part.length);
                done.push(completed);
            }
            Err(e) => {
                running.shutdown().await;
                return Err(e);
            }
        }
    }
    done.sort_by_key(|p| p.part_number());
    Ok(done)
}

async fn upload_part(target: &Target, upload_id: &str, part: Part) -> Result<(Part, CompletedPart), UploadError> {
    let body = file_body(&target.path, part.offset, part.length).await?;
    let mut request = target
        .client
        .upload_part()
        .bucket(&*target.bucket)
        .key(&*target.key)
        .upload_id(upload_id)
        .part_number(part.number)
        .content_length(to_i64(part.length))
        .body(body);
    if target.crc32 {
        request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    let output = request.send().await.map_err(|e| classify(e, target))?;
    let completed = CompletedPart::builder()
        .part_number(part.number)
        .set_e_tag(output.e_tag().map(str::to_owned))
        .set_checksum_crc32(output.checksum_crc32().map(str::to_owned))
        .build();
    Ok((part, completed))
}

async fn complete(target: &Target, upload_id: &str, parts: Vec<CompletedPart>, size: u64) -> Result<String, UploadError> {
    let expected = Stored::expected(&parts, size, target.crc32);
    let request = target
        .client
        .complete_multipart_upload()
        .bucket(&*target.bucket)
        .key(&*target.key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
    in_rounds(|| {
        let request = request.clone();
        let expected = &expected;
        async move {
            match request.send().await {
                Ok(output) => Ok(output.e_tag().unwrap_or_default().to_owned()),
                // A complete whose answer was lost did complete: S3 has forgotten the upload
                // and holds the object (the SDK's own retry may be what meets this).
                Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("NoSuchUpload") => {
                    completed_earlier(target, expected).await.ok_or_else(|| classify(e, target))
                }
                Err(e) => Err(classify(e, target)),
            }
        }
    })
    .await
}

/// What the object a multipart upload completes is known by, computed from its parts.
struct Stored {
    size: u64,
    parts: usize,
    /// S3's composite CRC32 (`BASE64-N`): CRC32 over the parts' CRC32s. Independent of
    /// encryption, so the first choice when the parts went with CRC32s.
    crc32: Option<String>,
    /// S3's multipart ETag (`MD5-N`): MD5 over the parts' MD5s, when the parts' ETags are
    /// MD5s (not so under SSE-KMS).
    etag: Option<String>,
}

impl Stored {
    fn expected(parts: &[CompletedPart], size: u64, crc32: bool) -> Stored {
        use base64::Engine as _;
        let crcs: Option<Vec<u32>> = parts
            .iter()
            .map(|p| {
                let raw = base64::engine::general_purpose::STANDARD.decode(p.checksum_crc32()?).ok()?;
                Some(u32::from_be_bytes(raw.try_into().ok()?))
            })
            .collect();
        let md5s: Option<Vec<[u8; 16]>> =
            parts.iter().map(|p| hex::decode(p.e_tag()?.trim_matches('"')).ok()?.try_into().ok()).collect();
        Stored {
            size,
            parts: parts.len(),
            crc32: crcs.filter(|_| crc32).map(|c| composite_crc32(&c)),
            etag: md5s.map(|m| multipart_etag(&m)),
        }
    }
}

/// S3's composite CRC32 of a multipart object from its parts' CRC32s, as HeadObject gives it
/// with checksum mode on: base64 of the CRC32 of the parts' big-endian CRC32s, then `-N`.
pub fn composite_crc32(part_crcs: &[u32]) -> String {
    use base64::Engine as _;
    let mut hasher = crc32fast::Hasher::new();
    for crc in part_crcs {
        hasher.update(&crc.to_be_bytes());
    }
    format!("{}-{}", base64::engine::general_purpose::STANDARD.encode(hasher.finalize().to_be_bytes()), part_crcs.len())
}

/// S3's ETag of a multipart object from its parts' MD5s (unquoted): hex of the MD5 of the
/// parts' MD5s, then `-N`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    use md5::Digest as _;
    let mut hasher = md5::Md5::new();
    for m in part_md5s {
        hasher.update(m);
    }
    format!("{}-{}", hex::encode(hasher.finalize()), part_md5s.len())
}

/// The ETag of the object at the target when it is the one `expected` describes: its size,
/// and its composite CRC32 or (failing that) its multipart ETag. With neither to compare, the
/// part count in its ETag has to do.
async fn completed_earlier(target: &Target, expected: &Stored) -> Option<String> {
    let head = target
        .client
        .head_object()
        .bucket(&*target.bucket)
        .key(&*target.key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .ok()?;
    let etag = head.e_tag()?.to_owned();
    if head.content_length() != Some(to_i64(expected.size)) {
        return None;
    }
    let same = match (&expected.crc32, &expected.etag) {
        (Some(crc), _) => head.checksum_crc32() == Some(crc.as_str()),
        (None, Some(md5)) => etag.trim_matches('"') == md5,
        (None, None) => etag.trim_matches('"').rsplit_once('-').map(|(_, n)| n) == Some(expected.parts.to_string().as_str()),
    };
    same.then_some(etag)
}

/// Runs `step` again, after a pause that doubles, while it fails with a fault that another
/// try may clear (the network, a throttle, a server error), up to [`ROUNDS`] times in all.
async fn in_rounds<T, F, Fut>(mut step: F) -> Result<T, UploadError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, UploadError>>,
{
    let mut pause = ROUND_PAUSE;
    let mut round = 1;
    loop {
        match step().await {
            Err(e) if round < ROUNDS && e.is_transient() => {
                tokio::time::sleep(pause).await;
                pause *= 2;
                round += 1;
            }
            done => return done,
        }
    }
}

/// Aborts the multipart upload after `error`, so that S3 keeps none of its parts.
async fn abort(target: &Target, upload_id: &str, error: UploadError) -> UploadError {
    let aborted =
        target.client.abort_multipart_upload().bucket(&*target.bucket).key(&*target.key).upload_id(upload_id).send().await;
    match aborted {
        Ok(_) => error,
        Err(e) => UploadError::PartsLeft {
            error: Box::new(error),
            bucket: target.bucket.to_string(),
            upload_id: upload_id.to_owned(),
            abort: classify(e, target).to_string(),
        },
    }
}

/// Bytes `offset..offset + length` of the file, read while they are sent. Built from the path
/// so the body is retryable: the SDK reopens the file when it retries a request.
async fn file_body(path: &Path, offset: u64, length: u64) -> Result<ByteStream, UploadError> {
    ByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(length))
        .buffer_size(READ_BUFFER)
        .build()
        .await
        .map_err(|e| UploadError::Unreadable { path: path.to_owned(), reason: DisplayErrorContext(&e).to_string() })
}

/// Resolves once `progress` is cancelled.
async fn cancelled(progress: &UploadProgress) {
    while !progress.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

/// Sizes are at most 5 TiB (checked by the plan), far inside i64.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An SDK error as an [`UploadError`] that says what to do.
fn classify<E>(error: SdkError<E, HttpResponse>, target: &Target) -> UploadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let bucket = target.bucket.to_string();
    match &error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or_default().to_owned();
            let message = context.err().message().unwrap_or_default().to_owned();
            let status = context.raw().status().as_u16();
            let detail = if message.is_empty() { code.clone() } else { format!("{code}: {message}") };
            match code.as_str() {
                "NoSuchBucket" => UploadError::NoSuchBucket { bucket },
                "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => {
                    UploadError::WrongRegion { bucket, detail }
                }
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "TokenRefreshRequired" | "InvalidToken" => {
                    UploadError::Credentials { detail }
                }
                "AccessDenied" | "AllAccessDisabled" => UploadError::AccessDenied { bucket, detail },
                _ if status == 403 => UploadError::AccessDenied { bucket, detail },
                _ if status == 301 => UploadError::WrongRegion { bucket, detail },
                _ => UploadError::Service {
                    code: if code.is_empty() { format!("HTTP {status}") } else { code },
                    message: if message.is_empty() { DisplayErrorContext(&error).to_string() } else { message },
                },
            }
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            UploadError::Network { detail: DisplayErrorContext(&error).to_string() }
        }
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            UploadError::Network { detail: DisplayErrorContext(&error).to_string() }
        }
        _ => {
            let detail = DisplayErrorContext(&error).to_string();
            // Credentials are resolved before a request is sent, so their failures arrive as
            // dispatch or construction failures; the SDK says so in the message.
            if detail.contains("credential") || detail.contains("identity") {
                UploadError::Credentials { detail }
            } else if matches!(error, SdkError::ConstructionFailure(_)) {
                // The request could not be built: trying it again builds it the same way.
                UploadError::Service { code: "InvalidRequest".into(), message: detail }
            } else {
                UploadError::Network { detail }
            }
        }
    }
}
