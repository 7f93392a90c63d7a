//! Ingest: a file on disk becomes an object in the raw bucket and an execution whose input
//! is the S3 "Object Created" event, so a workflow written for AWS (an EventBridge rule on
//! the raw bucket starting the state machine) runs unchanged on the local engine.
//!
//! The app's file drop, its Upload… button and `stepwise ingest` all come through here:
//! [`check_file`] says what is wrong with a file before anything is written (a folder, an
//! unreadable or empty file, content that is not a video, a name S3 would not take);
//! [`upload_local`] streams the bytes (never the whole file in memory) with progress and
//! cancel; [`ingest_local`] uploads and starts the execution.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::buckets::{BucketError, LocalBuckets, ObjectMeta, PutOptions, validate_key};
use super::service::{ACCOUNT, LocalService, REGION, ServiceError, StartExecution};

/// Bytes read to recognise a container (Matroska and WebM need a few KiB; MP4 needs 12).
const SNIFF_BYTES: usize = 8192;

/// Upload buffer: large reads keep hashing and writing efficient on big videos.
const UPLOAD_BUFFER: usize = 1 << 20;

/// What files ingest accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IngestOptions {
    /// MIME types recognised from the content (not the extension). Empty accepts any file.
    pub allowed_types: Vec<String>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            allowed_types: [
                "video/mp4",
                "video/quicktime",
                "video/x-m4v",
                "video/x-matroska",
                "video/webm",
                "video/x-msvideo",
                "video/mpeg",
                "video/x-flv",
                "video/x-ms-wmv",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

impl IngestOptions {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("ingest.json")
    }

    /// The user's ingest settings; the defaults when there are none.
    pub fn load(config_dir: &Path) -> Result<IngestOptions, String> {
        crate::paths::load_settings(&Self::path(config_dir), "ingest settings")
    }

    pub fn save(&self, config_dir: &Path) -> Result<(), String> {
        crate::paths::save_settings(&Self::path(config_dir), self)
    }
}

/// What went wrong, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{} is a folder; drop the video files inside it instead", .0.display())]
    Folder(PathBuf),
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is empty (0 bytes); nothing was uploaded", .0.display())]
    Empty(PathBuf),
    #[error(
        "{} is not a video: its content looks like {found}, whatever its extension says. Accepted: {accepted} (change the list in Settings → Ingest)",
        path.display()
    )]
    NotAVideo { path: PathBuf, found: String, accepted: String },
    #[error("the name of {} cannot be an S3 key: {reason}; rename the file", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("the raw bucket '{0}' does not exist; create it (Buckets panel) or choose another raw bucket")]
    NoSuchBucket(String),
    #[error("the upload of {} was cancelled; nothing was stored", .0.display())]
    Cancelled(PathBuf),
    #[error("{0}")]
    Upload(String),
    #[error(
        "{path} was uploaded to bucket '{bucket}' as '{key}', but the execution did not start: {error}. The object stays in the bucket; start the execution again from the app or with `stepwise ingest`"
    )]
    Start { path: String, bucket: String, key: String, error: Box<ServiceError> },
}

/// A file that passed [`check_file`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub path: PathBuf,
    /// The object key: the file's name.
    pub key: String,
    pub size: u64,
    /// The MIME type recognised from the content.
    pub content_type: String,
}

/// An uploaded file and the execution it started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingested {
    pub bucket: String,
    pub key: String,
    pub execution_arn: String,
    pub size: u64,
    /// The object's ETag, unquoted (as the S3 event carries it).
    pub etag: String,
}

/// Shared between an upload and whoever shows its progress or cancels it.
#[derive(Debug)]
pub struct UploadProgress {
    total: u64,
    done: AtomicU64,
    cancelled: AtomicBool,
}

impl UploadProgress {
    pub fn new(total: u64) -> Arc<UploadProgress> {
        Arc::new(UploadProgress { total, done: AtomicU64::new(0), cancelled: AtomicBool::new(false) })
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes stored so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Counts `bytes` as stored. Uploads that finish in pieces (S3 multipart parts) count
    /// each piece once it is stored, so `done` never runs ahead of what a retry could lose.
    pub fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Asks the upload to stop; it stops at its next read and stores nothing.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// The object key for a file: its name, which must be UTF-8 and at most 1024 bytes.
pub fn key_for(path: &Path) -> Result<String, IngestError> {
    let bad = |reason: &str| IngestError::BadKey { path: path.to_owned(), reason: reason.to_owned() };
    let name = path.file_name().ok_or_else(|| bad("the path has no file name"))?;
    let key = name.to_str().ok_or_else(|| bad("it is not valid UTF-8"))?;
    if key.chars().any(char::is_control) {
        return Err(bad("it contains control characters, which S3 tools and URLs do not carry reliably"));
    }
    validate_key(key).map_err(|e| match e {
        BucketError::InvalidKey { reason, .. } => bad(&reason),
        other => bad(&other.to_string()),
    })?;
    Ok(key.to_owned())
}

/// Checks a file before anything is uploaded: it exists, is a readable non-empty regular
/// file, its content is an accepted container, and its name is a valid key.
pub fn check_file(path: &Path, options: &IngestOptions) -> Result<Checked, IngestError> {
    let unreadable = |e: io::Error| IngestError::Unreadable { path: path.to_owned(), reason: e.to_string() };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(IngestError::Folder(path.to_owned()));
    }
    if !meta.is_file() {
        return Err(IngestError::Unreadable { path: path.to_owned(), reason: "it is not a regular file".into() });
    }
    if meta.len() == 0 {
        return Err(IngestError::Empty(path.to_owned()));
    }
    let key = key_for(path)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path).and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head)).map_err(unreadable)?;
    let kind = infer::get(&head);
    let content_type = kind.map_or("application/octet-stream", |k| k.mime_type()).to_owned();
    if !options.allowed_types.is_empty() && !options.allowed_types.iter().any(|t| t.eq_ignore_ascii_case(&content_type)) {
        let found = match kind {
            Some(k) => format!("{} (.{})", k.mime_type(), k.extension()),
            None => "no known file type".to_owned(),
        };
        return Err(IngestError::NotAVideo { path: path.to_owned(), found, accepted: options.allowed_types.join(", ") });
    }
    Ok(Checked { path: path.to_owned(), key, size: meta.len(), content_type })
}

/// Counts bytes as they are read and stops when cancelled.
struct Metered<'a, R> {
    inner: R,
    progress: &'a UploadProgress,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.progress.is_cancelled() {
            // Not `Interrupted`: `io::copy` retries those.
            return Err(io::Error::other("cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Streams a checked file into a local bucket (blocking). A cancelled or failed upload leaves
/// the bucket as it was.
pub fn upload_local(buckets: &LocalBuckets, bucket: &str, file: &Checked, progress: &UploadProgress) -> Result<ObjectMeta, IngestError> {
    if !buckets.bucket_exists(bucket) {
        return Err(IngestError::NoSuchBucket(bucket.to_owned()));
    }
    let source =
        File::open(&file.path).map_err(|e| IngestError::Unreadable { path: file.path.clone(), reason: e.to_string() })?;
    let mut reader = BufReader::with_capacity(UPLOAD_BUFFER, Metered { inner: source, progress });
    let options = PutOptions { content_type: Some(file.content_type.clone()), ..PutOptions::default() };
    match buckets.put_object_from(bucket, &file.key, &mut reader, &options) {
        Ok(meta) => Ok(meta),
        Err(_) if progress.is_cancelled() => Err(IngestError::Cancelled(file.path.clone())),
        Err(BucketError::NoSuchBucket { bucket, .. }) => Err(IngestError::NoSuchBucket(bucket)),
        Err(e) => Err(IngestError::Upload(e.to_string())),
    }
}

/// The EventBridge "Object Created" event S3 sends for a new object: what an EventBridge
/// rule on the raw bucket hands the state machine on AWS.
pub fn object_created_event(bucket: &str, meta: &ObjectMeta, now_ms: i64) -> Value {
    object_created_event_for(bucket, &meta.key, meta.size, &meta.etag, now_ms)
}

/// [`object_created_event`] for an object stored anywhere (an S3 upload gives its key, size
/// and ETag, not a local `ObjectMeta`).
pub fn object_created_event_for(bucket: &str, key: &str, size: u64, etag: &str, now_ms: i64) -> Value {
    let time = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let etag = etag.trim_matches('"');
    // Unique per event, as S3's are; derived from the object so that no randomness is needed.
    let id = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{bucket}/{}/{etag}/{now_ms}", key).as_bytes());
        let h = hex::encode(&digest[..16]);
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    };
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": super::buckets::format_time(time),
        "region": REGION,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag,
                "sequencer": format!("{:016X}", now_ms.max(0) as u64),
            },
            "request-id": &id[..16],
            "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        }
    })
}

/// An execution name for an ingested key: readable (the file's stem) and unique (a random
/// suffix), within AWS's 80 characters and allowed characters.
pub fn execution_name(key: &str) -> String {
    let stem = key.rsplit('/').next().unwrap_or(key);
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
    let cleaned: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).take(60).collect();
    let cleaned = if cleaned.trim_matches('-').is_empty() { "upload".to_owned() } else { cleaned };
    format!("{cleaned}-{:08x}", super::service::fresh_seed() as u32)
}

/// Uploads a checked file to `bucket` and starts an execution of `state_machine_arn` with
/// the object-created event as its input.
pub async fn ingest_local(
    service: &LocalService,
    buckets: &LocalBuckets,
    bucket: &str,
    state_machine_arn: &str,
    file: Checked,
    progress: Arc<UploadProgress>,
) -> Result<Ingested, IngestError> {
    // Fail before a possibly long upload when the execution could not start anyway.
    service
        .describe_state_machine(state_machine_arn)
        .await
        .map_err(|e| IngestError::Upload(format!("cannot start executions of {state_machine_arn}: {e}")))?;
    let (b, f, p, bucket_name) = (buckets.clone(), file.clone(), Arc::clone(&progress), bucket.to_owned());
    let meta = tokio::task::spawn_blocking(move || upload_local(&b, &bucket_name, &f, &p))
        .await
        .map_err(|e| IngestError::Upload(format!("the upload stopped: {e}")))??;
    let input = object_created_event(bucket, &meta, crate::store::now_wall_ms());
    let request = StartExecution {
        state_machine_arn: state_machine_arn.to_owned(),
        name: Some(execution_name(&meta.key)),
        input,
        ..StartExecution::default()
    };
    let started = service.start_execution(request).await.map_err(|error| IngestError::Start {
        path: file.path.display().to_string(),
        bucket: bucket.to_owned(),
        key: meta.key.clone(),
        error: Box::new(error),
    })?;
    Ok(Ingested {
        bucket: bucket.to_owned(),
        key: meta.key,
        execution_arn: started.execution_arn,
        size: meta.size,
        etag: meta.etag.trim_matches('"').to_owned(),
    })
}

/// The buckets a workflow's S3 tasks name literally (`"Bucket": "name"` in Parameters or
/// Arguments), in order of appearance.
pub fn buckets_named_in(definition: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let s3 = m.get("Type").and_then(Value::as_str) == Some("Task")
                    && m.get("Resource").and_then(Value::as_str).is_some_and(|r| r.contains(":s3:"));
                if s3 {
                    for field in ["Parameters", "Arguments"] {
                        if let Some(name) = m.get(field).and_then(|p| p.get("Bucket")).and_then(Value::as_str) {
                            let literal = !name.contains("{%") && super::buckets::validate_bucket_name(name).is_ok();
                            if literal && !out.iter().any(|b| b == name) {
                                out.push(name.to_owned());
                            }
                        }
                    }
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(definition, &mut out);
    out
}

/// Creates, on the local engine, the raw bucket and the buckets a workflow's S3 tasks name,
/// as the workflow's CloudFormation stack would on AWS. Returns those it created.
pub fn ensure_buckets(buckets: &LocalBuckets, definition: &Value, extra: &[&str]) -> Result<Vec<String>, BucketError> {
    let mut created = Vec::new();
    let mut names: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    names.extend(buckets_named_in(definition));
    for name in names {
        if buckets.create_bucket(&name)? {
            created.push(name);
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_file_names_and_bad_names_are_refused() {
        assert_eq!(key_for(Path::new("/tmp/My Clip (1).mp4")).unwrap(), "My Clip (1).mp4");
        assert!(matches!(key_for(Path::new("/tmp/a\u{7}b.mp4")), Err(IngestError::BadKey { .. })));
        let long = format!("/tmp/{}.mp4", "x".repeat(1100));
        assert!(key_for(Path::new(&long)).unwrap_err().to_string().contains("1024"));
    }

    #[test]
    fn execution_names_are_readable_unique_and_valid() {
        let a = execution_name("videos/My Clip.final.mp4");
        let b = execution_name("videos/My Clip.final.mp4");
        assert!(a.starts_with("My-Clip-final-"), "{a}");
        assert_ne!(a, b);
        assert!(super::super::service::check_name(&a).is_ok());
        assert!(execution_name("....mp4").starts_with("upload-"));
    }

    #[test]
    fn the_buckets_a_workflow_names_are_found() {
        let def: Value = serde_json::from_str(include_str!("../../workflows/video-ingest.asl.json")).unwrap();
        assert_eq!(buckets_named_in(&def), ["stepwise-approved"]);
    }
}
