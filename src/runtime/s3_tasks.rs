//! The Step Functions AWS SDK integrations for S3 (`arn:aws:states:::aws-sdk:s3:ACTION`), run on
//! [`LocalBuckets`].
//!
//! Parameters and results use the integration's PascalCase shapes. Confirmed against
//! executions recorded on AWS (the LocalStack snapshot corpus in `shared/conformance`):
//!
//! * `getObject` returns `AcceptRanges`, `ContentLength`, `ContentType`, `ETag`,
//!   `LastModified`, `Metadata`, `ServerSideEncryption`, then `Body` as text;
//! * `putObject` stores `Body` as its JSON text, whatever its type: the string `"text data"`
//!   is stored with its quotes, `{"Dict": "Value"}` as `{"Dict":"Value"}`, `0` as `0` (the
//!   recorded ETags and CRC-32s are those of these bytes); it returns `ChecksumCRC32`,
//!   `ChecksumType: FULL_OBJECT`, `ETag`, `ServerSideEncryption`;
//! * a missing key fails with `S3.NoSuchKeyException`, cause `The specified key does not exist.
//!   (Service: S3, Status Code: 404, Request ID: …, Extended Request ID: …)`; a missing bucket
//!   with `S3.NoSuchBucketException`, cause `The specified bucket does not exist (Service: S3, …)`.
//!
//! Not confirmed by a recording, and chosen to follow S3's API reference and the AWS SDK for
//! Java v2 that Step Functions calls: the `LastModified` text (ISO 8601 UTC, whole seconds),
//! the default content type (`binary/octet-stream`), `headObject`'s failure for a missing
//! object (`S3.NoSuchKeyException` with cause `null (…)`, as a HEAD response has no body),
//! `S3.S3Exception` for S3 errors the SDK has no class for (too long a key, an unsatisfiable
//! range, an invalid bucket name), and `S3.SdkClientException` for a missing or ill-typed
//! parameter.
//!
//! Supported actions: [`ACTIONS`].

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest as _, Md5};
use crate::asl::path::type_name;
use serde_json::{Map, Value, json};
use crate::engine::{Failure, names};

use super::buckets::{
    BucketError, ListPage, ListQuery, LocalBuckets, MAX_LIST_KEYS, ObjectMeta, PutOptions,
    decode_continuation_token, format_time,
};

/// The actions [`run_s3_task`] implements (the part after `aws-sdk:s3:`).
pub const ACTIONS: &[&str] = &[
    "copyObject",
    "createBucket",
    "deleteObject",
    "getObject",
    "headObject",
    "listBuckets",
    "listObjects",
    "listObjectsV2",
    "putObject",
];

/// The most bytes a state may pass on (Step Functions' 256 KiB payload quota). `getObject`
/// refuses larger bodies rather than read them into memory.
pub const MAX_PAYLOAD_BYTES: u64 = 256 * 1024;

/// Whether `action` (as in `aws-sdk:s3:ACTION`) is one [`run_s3_task`] implements.
pub fn supports(action: &str) -> bool {
    ACTIONS.contains(&action)
}

/// Runs `arn:aws:states:::aws-sdk:s3:ACTION` with `params` (the state's resolved
/// `Parameters`/`Arguments`) on local buckets, returning what the task's result would be on AWS
/// or the failure AWS would report.
pub fn run_s3_task(buckets: &LocalBuckets, action: &str, params: &Value) -> Result<Value, Failure> {
    let empty = Map::new();
    let params = match params {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            return Err(client_error(format!(
                "the parameters of aws-sdk:s3:{action} must be a JSON object, not {}",
                type_name(other)
            )));
        }
    };
    let p = Params(params);
    match action {
        "getObject" => get_object(buckets, &p),
        "headObject" => head_object(buckets, &p),
        "putObject" => put_object(buckets, &p),
        "copyObject" => copy_object(buckets, &p),
        "deleteObject" => delete_object(buckets, &p),
        "listObjectsV2" => list_objects_v2(buckets, &p),
        "listObjects" => list_objects_v1(buckets, &p),
        "createBucket" => create_bucket(buckets, &p),
        "listBuckets" => list_buckets(buckets),
        _ => Err(Failure::runtime(format!(
            "the local engine does not implement aws-sdk:s3:{action} (it implements {}); mock \
             this state in a mock configuration file to run it locally",
            ACTIONS.join(", ")
        ))),
    }
}

fn get_object(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let key = p.required_str("Key")?;
    let (meta, mut file) = buckets
        .open_object(bucket, key)
        .map_err(|e| s3_failure(e, false))?;
    let range = match p.optional_str("Range")? {
        Some(text) => Some(parse_range(text, meta.size)?),
        None => None,
    };
    let (start, len) = range.unwrap_or((0, meta.size));
    if len > MAX_PAYLOAD_BYTES {
        return Err(Failure::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "The object '{key}' is {len} bytes; a state's result may be at most \
                 {MAX_PAYLOAD_BYTES} bytes (256 KiB). Read it in parts with Range, or pass its \
                 key on instead of its body."
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.take(len).read_to_end(&mut bytes))
        .map_err(|e| {
            internal_error(format!(
                "could not read '{key}' from local bucket '{bucket}': {e}"
            ))
        })?;

    let mut out = object_headers(&meta, bytes.len() as u64);
    if range.is_some() {
        let end = (start + len).saturating_sub(1);
        out.insert(
            "ContentRange".into(),
            format!("bytes {start}-{end}/{}", meta.size).into(),
        );
    }
    out.insert(
        "Body".into(),
        String::from_utf8_lossy(&bytes).into_owned().into(),
    );
    Ok(Value::Object(out))
}

fn head_object(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let key = p.required_str("Key")?;
    let meta = buckets
        .head_object(bucket, key)
        .map_err(|e| s3_failure(e, true))?;
    Ok(Value::Object(object_headers(&meta, meta.size)))
}

fn put_object(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let key = p.required_str("Key")?;
    let body = match p.get("Body") {
        None => Vec::new(),
        Some(value) => serde_json::to_vec(value)
            .map_err(|e| client_error(format!("the Body could not be written as JSON: {e}")))?,
    };
    let options = PutOptions {
        content_type: p.optional_str("ContentType")?.map(str::to_string),
        metadata: p.metadata()?,
    };
    let meta = buckets
        .put_object(bucket, key, &body, &options)
        .map_err(|e| s3_failure(e, false))?;
    Ok(json!({
        "ChecksumCRC32": meta.checksum_crc32,
        "ChecksumType": "FULL_OBJECT",
        "ETag": meta.etag,
        "ServerSideEncryption": "AES256",
    }))
}

fn copy_object(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let key = p.required_str("Key")?;
    let (src_bucket, src_key) = match p.optional_str("CopySource")? {
        Some(source) => parse_copy_source(source)?,
        None => (
            p.required_str("SourceBucket")?.to_string(),
            p.required_str("SourceKey")?.to_string(),
        ),
    };
    let directive = p.optional_str("MetadataDirective")?.unwrap_or("COPY");
    let replace = match directive {
        "COPY" => None,
        "REPLACE" => Some(PutOptions {
            content_type: p.optional_str("ContentType")?.map(str::to_string),
            metadata: p.metadata()?,
        }),
        other => {
            return Err(s3_error(
                "S3.S3Exception",
                &format!("Unknown metadata directive. ({other})"),
                400,
            ));
        }
    };
    if replace.is_none() && src_bucket == bucket && src_key == key {
        return Err(s3_error(
            "S3.S3Exception",
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes.",
            400,
        ));
    }
    let meta = buckets
        .copy_object(&src_bucket, &src_key, bucket, key, replace.as_ref())
        .map_err(|e| s3_failure(e, false))?;
    Ok(json!({
        "CopyObjectResult": {
            "ETag": meta.etag,
            "LastModified": meta.last_modified_text(),
        },
        "ServerSideEncryption": "AES256",
    }))
}

fn delete_object(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let key = p.required_str("Key")?;
    buckets
        .delete_object(bucket, key)
        .map_err(|e| s3_failure(e, false))?;
    Ok(json!({}))
}

fn list_objects_v2(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let prefix = p.optional_str("Prefix")?.unwrap_or("");
    let delimiter = p.optional_str("Delimiter")?;
    let max_keys = p.max_keys()?;
    let token = p.optional_str("ContinuationToken")?;
    let start_after = p.optional_str("StartAfter")?;
    let after_token = match token {
        Some(token) => Some(decode_continuation_token(token).ok_or_else(|| {
            s3_error(
                "S3.S3Exception",
                "The continuation token provided is incorrect",
                400,
            )
        })?),
        None => None,
    };
    // The token wins over StartAfter; StartAfter only applies to the first page.
    let after = after_token.as_deref().or(start_after);
    let page = buckets
        .list_objects(
            bucket,
            &ListQuery {
                prefix,
                delimiter,
                start_after: after,
                max_keys,
            },
        )
        .map_err(|e| s3_failure(e, false))?;

    let mut out = listing_common(&page, bucket, prefix, delimiter, max_keys);
    out.insert(
        "KeyCount".into(),
        (page.objects.len() + page.common_prefixes.len()).into(),
    );
    if let Some(token) = token {
        out.insert("ContinuationToken".into(), token.into());
    }
    if let Some(next) = page.next_continuation_token() {
        out.insert("NextContinuationToken".into(), next.into());
    }
    if let Some(start_after) = start_after {
        out.insert("StartAfter".into(), start_after.into());
    }
    Ok(Value::Object(sorted(out)))
}

fn list_objects_v1(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    let prefix = p.optional_str("Prefix")?.unwrap_or("");
    let delimiter = p.optional_str("Delimiter")?;
    let marker = p.optional_str("Marker")?;
    let max_keys = p.max_keys()?;
    let page = buckets
        .list_objects(
            bucket,
            &ListQuery {
                prefix,
                delimiter,
                start_after: marker,
                max_keys,
            },
        )
        .map_err(|e| s3_failure(e, false))?;
    let mut out = listing_common(&page, bucket, prefix, delimiter, max_keys);
    out.insert("Marker".into(), marker.unwrap_or("").into());
    // S3 only sends NextMarker when a delimiter was given; otherwise the caller uses the last key.
    if delimiter.is_some_and(|d| !d.is_empty())
        && let Some(next) = &page.next_after
    {
        out.insert("NextMarker".into(), next.clone().into());
    }
    Ok(Value::Object(sorted(out)))
}

fn create_bucket(buckets: &LocalBuckets, p: &Params) -> Result<Value, Failure> {
    let bucket = p.required_str("Bucket")?;
    match buckets.create_bucket(bucket) {
        Ok(true) => Ok(json!({ "Location": format!("/{bucket}") })),
        Ok(false) => Err(s3_error(
            "S3.BucketAlreadyOwnedByYouException",
            "Your previous request to create the named bucket succeeded and you already own it.",
            409,
        )),
        Err(e) => Err(s3_failure(e, false)),
    }
}

fn list_buckets(buckets: &LocalBuckets) -> Result<Value, Failure> {
    let list = buckets.list_buckets().map_err(|e| s3_failure(e, false))?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|b| json!({ "CreationDate": format_time(b.creation_date), "Name": b.name }))
        .collect();
    Ok(json!({ "Buckets": items }))
}

/// What getObject and headObject share, in the order AWS prints them.
fn object_headers(meta: &ObjectMeta, length: u64) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("AcceptRanges".into(), "bytes".into());
    out.insert("ContentLength".into(), length.into());
    out.insert("ContentType".into(), meta.content_type.clone().into());
    out.insert("ETag".into(), meta.etag.clone().into());
    out.insert("LastModified".into(), meta.last_modified_text().into());
    let metadata: Map<String, Value> = meta
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    out.insert("Metadata".into(), Value::Object(metadata));
    out.insert("ServerSideEncryption".into(), "AES256".into());
    out
}

fn listing_common(
    page: &ListPage,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: usize,
) -> Map<String, Value> {
    let mut out = Map::new();
    if !page.objects.is_empty() {
        let contents: Vec<Value> = page
            .objects
            .iter()
            .map(|m| {
                json!({
                    "ETag": m.etag,
                    "Key": m.key,
                    "LastModified": m.last_modified_text(),
                    "Size": m.size,
                    "StorageClass": "STANDARD",
                })
            })
            .collect();
        out.insert("Contents".into(), contents.into());
    }
    if !page.common_prefixes.is_empty() {
        let prefixes: Vec<Value> = page
            .common_prefixes
            .iter()
            .map(|p| json!({ "Prefix": p }))
            .collect();
        out.insert("CommonPrefixes".into(), prefixes.into());
    }
    if let Some(d) = delimiter {
        out.insert("Delimiter".into(), d.into());
    }
    out.insert("IsTruncated".into(), page.is_truncated.into());
    out.insert("MaxKeys".into(), max_keys.into());
    out.insert("Name".into(), bucket.into());
    out.insert("Prefix".into(), prefix.into());
    out
}

fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let ordered: BTreeMap<String, Value> = map.into_iter().collect();
    ordered.into_iter().collect()
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` as (start, length) within `size`.
fn parse_range(text: &str, size: u64) -> Result<(u64, u64), Failure> {
    let unsatisfiable = || {
        s3_error(
            "S3.S3Exception",
            "The requested range is not satisfiable",
            416,
        )
    };
    let spec = text
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| client_error(format!("Range must look like 'bytes=0-99', not {text:?}")))?;
    let (first, last) = spec
        .split_once('-')
        .ok_or_else(|| client_error(format!("Range must look like 'bytes=0-99', not {text:?}")))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| client_error(format!("Range must look like 'bytes=0-99', not {text:?}")))
    };
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let n = number(last)?;
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, true) => (number(first)?, size.saturating_sub(1)),
        (false, false) => (number(first)?, number(last)?.min(size.saturating_sub(1))),
        (true, true) => {
            return Err(client_error(format!(
                "Range must look like 'bytes=0-99', not {text:?}"
            )));
        }
    };
    if start >= size || end < start {
        return Err(unsatisfiable());
    }
    Ok((start, end - start + 1))
}

/// `bucket/key`, `/bucket/key` or `arn`-less access with `?versionId=…`; the key URL-decoded.
fn parse_copy_source(source: &str) -> Result<(String, String), Failure> {
    let trimmed = source.strip_prefix('/').unwrap_or(source);
    let trimmed = trimmed
        .split_once("?versionId=")
        .map_or(trimmed, |(path, _)| path);
    let (bucket, key) = trimmed.split_once('/').filter(|(b, k)| !b.is_empty() && !k.is_empty()).ok_or_else(|| {
        client_error(format!(
            "CopySource must be 'source-bucket/source-key' (the key URL-encoded), not {source:?}"
        ))
    })?;
    let key = percent_encoding::percent_decode_str(key)
        .decode_utf8()
        .map_err(|_| client_error(format!("CopySource {source:?} does not decode to UTF-8")))?;
    Ok((bucket.to_string(), key.into_owned()))
}

/// The resolved parameters, with typed accessors that fail as the SDK would.
struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn required_str(&self, name: &str) -> Result<&str, Failure> {
        match self.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) => Err(client_error(format!(
                "Parameter '{name}' must not be null or empty"
            ))),
            Some(other) => Err(client_error(format!(
                "Parameter '{name}' must be a string, not {}",
                type_name(other)
            ))),
            None => Err(client_error(format!(
                "Parameter '{name}' must not be null or empty"
            ))),
        }
    }

    fn optional_str(&self, name: &str) -> Result<Option<&str>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(client_error(format!(
                "Parameter '{name}' must be a string, not {}",
                type_name(other)
            ))),
        }
    }

    fn max_keys(&self) -> Result<usize, Failure> {
        match self.get("MaxKeys") {
            None => Ok(MAX_LIST_KEYS),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) if n >= 0 => Ok(usize::try_from(n)
                    .unwrap_or(MAX_LIST_KEYS)
                    .min(MAX_LIST_KEYS)),
                _ => Err(s3_error(
                    "S3.S3Exception",
                    "Provided max-keys not an integer or within integer range",
                    400,
                )),
            },
            Some(other) => Err(client_error(format!(
                "Parameter 'MaxKeys' must be an integer, not {}",
                type_name(other)
            ))),
        }
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>, Failure> {
        match self.get("Metadata") {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(client_error(format!(
                        "Metadata values must be strings; '{k}' is {}",
                        type_name(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(client_error(format!(
                "Parameter 'Metadata' must be an object of strings, not {}",
                type_name(other)
            ))),
        }
    }
}


/// A bucket error as the S3 integration reports it. `head`: a HEAD request, whose 404 carries
/// no body, so the SDK can only say `NoSuchKey` with a null message.
fn s3_failure(error: BucketError, head: bool) -> Failure {
    match error {
        BucketError::NoSuchBucket { .. } | BucketError::NoSuchKey { .. } if head => {
            s3_error("S3.NoSuchKeyException", "null", 404)
        }
        BucketError::NoSuchBucket { .. } => s3_error(
            "S3.NoSuchBucketException",
            "The specified bucket does not exist",
            404,
        ),
        BucketError::NoSuchKey { .. } => s3_error(
            "S3.NoSuchKeyException",
            "The specified key does not exist.",
            404,
        ),
        // The only keys the store refuses are empty ones (the SDK refuses them before sending)
        // and ones over 1024 bytes (S3's KeyTooLongError).
        BucketError::InvalidKey { key, .. } if key.is_empty() => {
            client_error("Parameter 'Key' must not be null or empty".to_string())
        }
        BucketError::InvalidKey { .. } => s3_error("S3.S3Exception", "Your key is too long", 400),
        BucketError::InvalidBucketName { .. } => {
            s3_error("S3.S3Exception", "The specified bucket is not valid.", 400)
        }
        BucketError::Io { .. } => internal_error(error.to_string()),
    }
}

/// An S3 service error: `message (Service: S3, Status Code: N, Request ID: …, Extended Request ID: …)`.
fn s3_error(error: &str, message: &str, status: u16) -> Failure {
    let (request_id, extended) = request_ids();
    Failure::new(
        error,
        format!(
            "{message} (Service: S3, Status Code: {status}, Request ID: {request_id}, \
             Extended Request ID: {extended})"
        ),
    )
}

/// A request the SDK refuses before sending it (missing or ill-typed parameter).
fn client_error(message: String) -> Failure {
    Failure::new("S3.SdkClientException", message)
}

/// The local store itself failed (disk full, permissions): S3's 500 InternalError.
fn internal_error(detail: String) -> Failure {
    Failure::new(
        "S3.S3Exception",
        format!("The local S3 store failed: {detail} (Service: S3, Status Code: 500)"),
    )
}

/// A request id and an extended request id shaped like S3's (16 upper-case hex characters; 64
/// base64 characters), distinct per call.
fn request_ids() -> (String, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{nanos}:{n}:{}", std::process::id());
    let a = Md5::digest(seed.as_bytes());
    let b = Md5::digest(a);
    let c = Md5::digest(b);
    let id = hex::encode_upper(&a[..8]);
    let mut ext = Vec::with_capacity(48);
    ext.extend_from_slice(&a);
    ext.extend_from_slice(&b);
    ext.extend_from_slice(&c);
    (id, BASE64.encode(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalBuckets) {
        let dir = tempfile::tempdir().unwrap();
        let buckets = LocalBuckets::new(dir.path());
        buckets.create_bucket("bucket-name").unwrap();
        (dir, buckets)
    }

    fn run(b: &LocalBuckets, action: &str, params: Value) -> Result<Value, Failure> {
        run_s3_task(b, action, &params)
    }

    fn strip_ids(cause: &str) -> String {
        match cause.find(", Request ID: ") {
            Some(at) => format!("{})", &cause[..at]),
            None => cause.to_string(),
        }
    }

    #[test]
    fn put_object_stores_the_json_text_of_the_body_as_aws_does() {
        // ETags and CRC-32s recorded on AWS (the recorded aws-sdk task service tests, test_s3_put_object[*]).
        let (_d, b) = store();
        let cases = [
            (
                json!("text data"),
                "\"2b5df3712557f503a9977a8ea893b2c9\"",
                "KUmHvQ==",
            ),
            (
                json!({"Dict": "Value"}),
                "\"49e31cee5aec8faf3345893addb14346\"",
                "hnEfWw==",
            ),
            (
                json!(["List", "Data"]),
                "\"6b23860357f6e63a0272b7f1143a663a\"",
                "1F2MPA==",
            ),
            (
                json!(false),
                "\"68934a3e9455fa72420237eb05902327\"",
                "K81oMA==",
            ),
            (json!(0), "\"cfcd208495d565ef66e7dff9f98764da\"", "9NvfIQ=="),
        ];
        for (body, etag, crc) in cases {
            let out = run(
                &b,
                "putObject",
                json!({"Bucket": "bucket-name", "Key": "file-key", "Body": body}),
            )
            .unwrap();
            assert_eq!(
                out,
                json!({"ChecksumCRC32": crc, "ChecksumType": "FULL_OBJECT", "ETag": etag, "ServerSideEncryption": "AES256"})
            );
        }
        let (_, bytes) = b.get_object("bucket-name", "file-key").unwrap();
        assert_eq!(bytes, b"0");
    }

    #[test]
    fn get_object_matches_the_recorded_shape() {
        // the recorded aws-sdk task service test test_s3_get_object[str]: an object put as "text data".
        let (_d, b) = store();
        b.put_object(
            "bucket-name",
            "file_key",
            b"text data",
            &PutOptions::default(),
        )
        .unwrap();
        let out = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "file_key"}),
        )
        .unwrap();
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "AcceptRanges",
                "ContentLength",
                "ContentType",
                "ETag",
                "LastModified",
                "Metadata",
                "ServerSideEncryption",
                "Body"
            ]
        );
        assert_eq!(out["AcceptRanges"], "bytes");
        assert_eq!(out["ContentLength"], 9);
        assert_eq!(out["ContentType"], "binary/octet-stream");
        assert_eq!(out["ETag"], "\"332eec544317a6d340b8e77da7fe54ad\"");
        assert_eq!(out["Metadata"], json!({}));
        assert_eq!(out["ServerSideEncryption"], "AES256");
        assert_eq!(out["Body"], "text data");
        let modified = out["LastModified"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(modified).is_ok(),
            "{modified}"
        );
    }

    #[test]
    fn get_object_range_and_limits() {
        let (_d, b) = store();
        b.put_object("bucket-name", "k", b"0123456789", &PutOptions::default())
            .unwrap();
        let get = |range: &str| {
            run(
                &b,
                "getObject",
                json!({"Bucket": "bucket-name", "Key": "k", "Range": range}),
            )
        };
        let out = get("bytes=2-4").unwrap();
        assert_eq!(
            (out["Body"].as_str(), out["ContentLength"].as_u64()),
            (Some("234"), Some(3))
        );
        assert_eq!(out["ContentRange"], "bytes 2-4/10");
        assert_eq!(get("bytes=7-").unwrap()["Body"], "789");
        assert_eq!(get("bytes=-2").unwrap()["Body"], "89");
        assert_eq!(get("bytes=8-100").unwrap()["Body"], "89");
        assert_eq!(get("bytes=10-").unwrap_err().error, "S3.S3Exception");
        assert_eq!(get("lines=1-2").unwrap_err().error, "S3.SdkClientException");

        let big = vec![b'a'; MAX_PAYLOAD_BYTES as usize + 1];
        b.put_object("bucket-name", "big", &big, &PutOptions::default())
            .unwrap();
        let e = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "big"}),
        )
        .unwrap_err();
        assert_eq!(e.error, names::DATA_LIMIT_EXCEEDED);
        let part = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "big", "Range": "bytes=0-9"}),
        )
        .unwrap();
        assert_eq!(part["Body"], "aaaaaaaaaa");
    }

    #[test]
    fn binary_bodies_come_back_as_lossy_text() {
        let (_d, b) = store();
        b.put_object(
            "bucket-name",
            "bin",
            &[0x66, 0xff, 0x6f],
            &PutOptions::default(),
        )
        .unwrap();
        let out = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "bin"}),
        )
        .unwrap();
        assert_eq!(out["Body"], "f\u{fffd}o");
        assert_eq!(out["ContentLength"], 3);
    }

    #[test]
    fn missing_key_and_bucket_fail_as_recorded() {
        // error_handling/test_aws_sdk: test_s3_no_such_key and test_no_such_bucket.
        let (_d, b) = store();
        let e = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "no_such_key.json"}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.NoSuchKeyException");
        assert_eq!(
            strip_ids(&e.cause),
            "The specified key does not exist. (Service: S3, Status Code: 404)"
        );
        assert!(e.cause.contains("Extended Request ID: "), "{}", e.cause);

        let e = run(
            &b,
            "listObjects",
            json!({"Bucket": "someNonexistentBucketName"}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.NoSuchBucketException");
        assert_eq!(
            strip_ids(&e.cause),
            "The specified bucket does not exist (Service: S3, Status Code: 404)"
        );

        let e = run(
            &b,
            "headObject",
            json!({"Bucket": "bucket-name", "Key": "nope"}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.NoSuchKeyException");
        assert!(
            e.cause.starts_with("null (Service: S3, Status Code: 404"),
            "{}",
            e.cause
        );

        let e = run(
            &b,
            "putObject",
            json!({"Bucket": "no-bucket", "Key": "k", "Body": 1}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.NoSuchBucketException");
        // Request ids differ per call.
        let a = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "x"}),
        )
        .unwrap_err();
        assert_ne!(a.cause, e.cause);
    }

    #[test]
    fn bad_parameters_fail_without_panicking() {
        let (_d, b) = store();
        for (action, params) in [
            ("getObject", json!({})),
            ("getObject", json!({"Bucket": "bucket-name"})),
            ("getObject", json!({"Bucket": 5, "Key": "k"})),
            ("getObject", json!({"Bucket": "bucket-name", "Key": ""})),
            ("getObject", json!("not an object")),
            (
                "putObject",
                json!({"Bucket": "bucket-name", "Key": "k", "Metadata": {"a": 1}}),
            ),
            (
                "putObject",
                json!({"Bucket": "bucket-name", "Key": "k", "ContentType": []}),
            ),
            (
                "listObjectsV2",
                json!({"Bucket": "bucket-name", "MaxKeys": "ten"}),
            ),
            (
                "copyObject",
                json!({"Bucket": "bucket-name", "Key": "k", "CopySource": "no-slash"}),
            ),
            ("copyObject", json!({"Bucket": "bucket-name", "Key": "k"})),
        ] {
            let e = run(&b, action, params.clone()).unwrap_err();
            assert!(e.error.starts_with("S3."), "{action} {params}: {e:?}");
        }
        let e = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "MaxKeys": -1}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.S3Exception");
        let long = "k".repeat(1025);
        let e = run(
            &b,
            "putObject",
            json!({"Bucket": "bucket-name", "Key": long}),
        )
        .unwrap_err();
        assert!(e.cause.starts_with("Your key is too long"), "{}", e.cause);
        let e = run(&b, "getBucketPolicy", json!({"Bucket": "bucket-name"})).unwrap_err();
        assert_eq!(e.error, names::RUNTIME);
        assert!(!supports("getBucketPolicy") && supports("getObject"));
    }

    #[test]
    fn put_with_content_type_and_metadata_then_head() {
        let (_d, b) = store();
        run(
            &b,
            "putObject",
            json!({"Bucket": "bucket-name", "Key": "a/b.json", "Body": {"x": 1}, "ContentType": "application/json", "Metadata": {"Run-Id": "42"}}),
        )
        .unwrap();
        let out = run(
            &b,
            "headObject",
            json!({"Bucket": "bucket-name", "Key": "a/b.json"}),
        )
        .unwrap();
        assert_eq!(out["ContentType"], "application/json");
        assert_eq!(out["ContentLength"], 7);
        assert_eq!(out["Metadata"], json!({"run-id": "42"}));
        assert!(out.get("Body").is_none());
        let got = run(
            &b,
            "getObject",
            json!({"Bucket": "bucket-name", "Key": "a/b.json"}),
        )
        .unwrap();
        assert_eq!(got["Body"], "{\"x\":1}");
    }

    #[test]
    fn copy_object_shapes_and_rules() {
        let (_d, b) = store();
        b.create_bucket("dest").unwrap();
        b.put_object(
            "bucket-name",
            "dir/my file.txt",
            b"hello",
            &PutOptions::default(),
        )
        .unwrap();
        let out = run(
            &b,
            "copyObject",
            json!({"Bucket": "dest", "Key": "copy.txt", "CopySource": "bucket-name/dir/my%20file.txt"}),
        )
        .unwrap();
        assert_eq!(
            out["CopyObjectResult"]["ETag"],
            "\"5d41402abc4b2a76b9719d911017c592\""
        );
        assert!(out["CopyObjectResult"]["LastModified"].is_string());
        assert_eq!(b.get_object("dest", "copy.txt").unwrap().1, b"hello");
        // A leading slash and SourceBucket/SourceKey work too.
        run(
            &b,
            "copyObject",
            json!({"Bucket": "dest", "Key": "c2", "CopySource": "/bucket-name/dir/my%20file.txt"}),
        )
        .unwrap();
        run(&b, "copyObject", json!({"Bucket": "dest", "Key": "c3", "SourceBucket": "bucket-name", "SourceKey": "dir/my file.txt"})).unwrap();

        let e = run(
            &b,
            "copyObject",
            json!({"Bucket": "dest", "Key": "x", "CopySource": "bucket-name/absent"}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.NoSuchKeyException");
        let e = run(
            &b,
            "copyObject",
            json!({"Bucket": "dest", "Key": "copy.txt", "CopySource": "dest/copy.txt"}),
        )
        .unwrap_err();
        assert!(
            e.cause.starts_with("This copy request is illegal"),
            "{}",
            e.cause
        );
        let out = run(
            &b,
            "copyObject",
            json!({"Bucket": "dest", "Key": "copy.txt", "CopySource": "dest/copy.txt", "MetadataDirective": "REPLACE", "ContentType": "text/plain"}),
        );
        assert!(out.is_ok());
        assert_eq!(
            b.head_object("dest", "copy.txt").unwrap().content_type,
            "text/plain"
        );
    }

    #[test]
    fn delete_is_idempotent() {
        let (_d, b) = store();
        b.put_object("bucket-name", "k", b"v", &PutOptions::default())
            .unwrap();
        assert_eq!(
            run(
                &b,
                "deleteObject",
                json!({"Bucket": "bucket-name", "Key": "k"})
            )
            .unwrap(),
            json!({})
        );
        assert_eq!(
            run(
                &b,
                "deleteObject",
                json!({"Bucket": "bucket-name", "Key": "k"})
            )
            .unwrap(),
            json!({})
        );
        assert_eq!(
            run(
                &b,
                "deleteObject",
                json!({"Bucket": "nope-bucket", "Key": "k"})
            )
            .unwrap_err()
            .error,
            "S3.NoSuchBucketException"
        );
    }

    #[test]
    fn list_objects_v2_pages() {
        let (_d, b) = store();
        for key in ["logs/1", "logs/2", "logs/3", "other"] {
            b.put_object("bucket-name", key, b"x", &PutOptions::default())
                .unwrap();
        }
        let first = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "Prefix": "logs/", "MaxKeys": 2}),
        )
        .unwrap();
        assert_eq!(first["KeyCount"], 2);
        assert_eq!(first["MaxKeys"], 2);
        assert_eq!(first["IsTruncated"], true);
        assert_eq!(first["Name"], "bucket-name");
        assert_eq!(first["Prefix"], "logs/");
        let item = &first["Contents"][0];
        assert_eq!(
            item.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
            ["ETag", "Key", "LastModified", "Size", "StorageClass"]
        );
        assert_eq!(item["Key"], "logs/1");
        assert_eq!(item["Size"], 1);
        assert_eq!(item["StorageClass"], "STANDARD");
        let token = first["NextContinuationToken"].as_str().unwrap();
        let second = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "Prefix": "logs/", "MaxKeys": 2, "ContinuationToken": token}),
        )
        .unwrap();
        assert_eq!(second["Contents"][0]["Key"], "logs/3");
        assert_eq!(second["IsTruncated"], false);
        assert_eq!(second["ContinuationToken"], token);
        assert!(second.get("NextContinuationToken").is_none());

        let folders = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "Delimiter": "/"}),
        )
        .unwrap();
        assert_eq!(folders["CommonPrefixes"], json!([{"Prefix": "logs/"}]));
        assert_eq!(folders["KeyCount"], 2);
        assert_eq!(folders["MaxKeys"], 1000);

        let empty = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "Prefix": "none/"}),
        )
        .unwrap();
        assert_eq!(empty["KeyCount"], 0);
        assert!(empty.get("Contents").is_none());
        let e = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "ContinuationToken": "!!"}),
        )
        .unwrap_err();
        assert!(
            e.cause
                .starts_with("The continuation token provided is incorrect")
        );
        let after = run(
            &b,
            "listObjectsV2",
            json!({"Bucket": "bucket-name", "StartAfter": "logs/2"}),
        )
        .unwrap();
        assert_eq!(after["KeyCount"], 2);
        assert_eq!(after["StartAfter"], "logs/2");
    }

    #[test]
    fn list_objects_v1_markers() {
        let (_d, b) = store();
        for key in ["a", "b", "c"] {
            b.put_object("bucket-name", key, b"x", &PutOptions::default())
                .unwrap();
        }
        let out = run(
            &b,
            "listObjects",
            json!({"Bucket": "bucket-name", "MaxKeys": 2}),
        )
        .unwrap();
        assert_eq!(out["Marker"], "");
        assert_eq!(out["IsTruncated"], true);
        assert!(out.get("NextMarker").is_none());
        let out = run(
            &b,
            "listObjects",
            json!({"Bucket": "bucket-name", "Marker": "b"}),
        )
        .unwrap();
        assert_eq!(out["Contents"][0]["Key"], "c");
    }

    #[test]
    fn buckets_create_and_list() {
        let (_d, b) = store();
        assert_eq!(
            run(&b, "createBucket", json!({"Bucket": "fresh-bucket"})).unwrap(),
            json!({"Location": "/fresh-bucket"})
        );
        let e = run(&b, "createBucket", json!({"Bucket": "fresh-bucket"})).unwrap_err();
        assert_eq!(e.error, "S3.BucketAlreadyOwnedByYouException");
        let e = run(&b, "createBucket", json!({"Bucket": "Bad_Name"})).unwrap_err();
        assert!(e.cause.starts_with("The specified bucket is not valid."));
        let out = run(&b, "listBuckets", Value::Null).unwrap();
        let names: Vec<_> = out["Buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["Name"].clone())
            .collect();
        assert_eq!(names, [json!("bucket-name"), json!("fresh-bucket")]);
        assert!(out["Buckets"][0]["CreationDate"].is_string());
    }
}
