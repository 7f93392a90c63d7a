//! The local buckets over the S3 REST API, through the `s3s` crate: it parses and answers
//! S3's requests (XML, headers, ranges), this file maps each operation onto
//! [`LocalBuckets`].
//!
//! Multipart uploads are staged under `DATA_DIR/serve-uploads/<upload id>/` (one file per
//! part beside its MD5) and become one object on CompleteMultipartUpload, streamed from the
//! part files; the object's ETag is S3's: the MD5 of the parts' MD5s, then `-N`.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::runtime::buckets::{BucketError, LocalBuckets, ObjectMeta, PutOptions};

/// S3's smallest part, except the last one.
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's part numbers.
const MAX_PART_NUMBER: i32 = 10_000;
/// How much of an object one read hands to the client at a time.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Clone)]
pub struct LocalS3 {
    buckets: LocalBuckets,
    uploads: PathBuf,
}

/// What CreateMultipartUpload was told, kept until the upload completes or is aborted.
#[derive(Serialize, Deserialize)]
struct UploadRecord {
    bucket: String,
    key: String,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl LocalS3 {
    pub fn new(buckets: LocalBuckets, data_dir: &Path) -> LocalS3 {
        LocalS3 { buckets, uploads: data_dir.join("serve-uploads") }
    }

    fn upload_dir(&self, upload_id: &str) -> S3Result<PathBuf> {
        // Upload ids are ours (hex); anything else cannot name one and must not become a path.
        if upload_id.is_empty() || upload_id.len() > 64 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(s3_error!(NoSuchUpload, "no multipart upload with id '{upload_id}'"));
        }
        let dir = self.uploads.join(upload_id);
        if !dir.is_dir() {
            return Err(s3_error!(NoSuchUpload, "no multipart upload with id '{upload_id}': it was completed, aborted or never created"));
        }
        Ok(dir)
    }

    fn upload_record(&self, dir: &Path, bucket: &str, key: &str) -> S3Result<UploadRecord> {
        let text = std::fs::read(dir.join("upload.json")).map_err(internal)?;
        let record: UploadRecord = serde_json::from_slice(&text).map_err(internal)?;
        if record.bucket != bucket || record.key != key {
            return Err(s3_error!(NoSuchUpload, "the multipart upload belongs to another bucket or key"));
        }
        Ok(record)
    }
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    s3_error!(InternalError, "{e}")
}

fn bucket_error(e: BucketError) -> S3Error {
    let message = e.to_string();
    match e {
        BucketError::NoSuchBucket { .. } => s3_error!(NoSuchBucket, "{message}"),
        BucketError::NoSuchKey { .. } => s3_error!(NoSuchKey, "{message}"),
        BucketError::InvalidKey { .. } => s3_error!(InvalidArgument, "{message}"),
        BucketError::InvalidBucketName { .. } => s3_error!(InvalidBucketName, "{message}"),
        BucketError::Io { .. } => s3_error!(InternalError, "{message}"),
    }
}

/// Runs a file-system operation off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> S3Result<T> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

fn etag(quoted: &str) -> ETag {
    ETag::Strong(quoted.trim_matches('"').to_owned())
}

fn metadata_of(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.metadata.is_empty()).then(|| meta.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn put_options(content_type: Option<String>, metadata: Option<Metadata>) -> PutOptions {
    PutOptions { content_type, metadata: metadata.unwrap_or_default().into_iter().collect() }
}

fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A blocking reader over a request body that an async task feeds: the local buckets write
/// with `std::io`, the body arrives as an async stream, and holding a whole upload in memory
/// is not an option for videos.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Streams `body` into `write`, which runs on a blocking thread with a reader over the body.
async fn with_body_reader<T: Send + 'static>(
    body: StreamingBlob,
    write: impl FnOnce(&mut ChannelReader) -> S3Result<T> + Send + 'static,
) -> S3Result<T> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let writer = tokio::task::spawn_blocking(move || write(&mut ChannelReader { rx, current: Bytes::new() }));
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let item = chunk.map_err(|e| io::Error::other(format!("the request body broke off: {e}")));
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    writer.await.map_err(internal)?
}

/// The bytes `range` of an open object file, read on a blocking thread as the client takes them.
fn file_stream(mut file: std::fs::File, start: u64, len: u64) -> StreamingBlob {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; usize::try_from(left).unwrap_or(READ_CHUNK).min(READ_CHUNK)];
            match file.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the object's data file is shorter than its record")));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    StreamingBlob::wrap(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// A fresh upload id: 32 hex digits, so it can name a folder safely.
fn hex_id() -> String {
    use crate::runtime::service::fresh_seed;
    format!("{:016x}{:016x}", fresh_seed(), fresh_seed())
}

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let b = self.buckets.clone();
        let list = blocking(move || b.list_buckets().map_err(bucket_error)).await?;
        let buckets = list
            .into_iter()
            .map(|info| Bucket {
                name: Some(info.name),
                creation_date: Some(Timestamp::from(std::time::SystemTime::from(info.creation_date))),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), ..Default::default() }))
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let b = self.buckets.clone();
        let name = req.input.bucket;
        let created = blocking({
            let name = name.clone();
            move || b.create_bucket(&name).map_err(bucket_error)
        })
        .await?;
        if !created {
            return Err(s3_error!(BucketAlreadyOwnedByYou, "the bucket '{name}' already exists"));
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.buckets.bucket_exists(&req.input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let b = self.buckets.clone();
        let name = req.input.bucket;
        let deleted = blocking({
            let name = name.clone();
            move || b.delete_bucket(&name).map_err(bucket_error)
        })
        .await?;
        if !deleted {
            return Err(s3_error!(BucketNotEmpty, "the bucket '{name}' holds objects: delete them first"));
        }
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let b = self.buckets.clone();
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000);
        let (bucket, prefix, delimiter, token, start_after) =
            (input.bucket.clone(), input.prefix.clone().unwrap_or_default(), input.delimiter.clone(), input.continuation_token.clone(), input.start_after.clone());
        let page = blocking(move || {
            let after = match &token {
                Some(t) => Some(
                    crate::runtime::buckets::decode_continuation_token(t)
                        .ok_or_else(|| s3_error!(InvalidArgument, "the continuation token is not one this server issued; pass NextContinuationToken unchanged"))?,
                ),
                None => start_after,
            };
            let query = crate::runtime::buckets::ListQuery {
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                start_after: after.as_deref(),
                max_keys: usize::try_from(max_keys).unwrap_or(0),
            };
            b.list_objects(&bucket, &query).map_err(bucket_error)
        })
        .await?;
        let next = page.next_continuation_token();
        let key_count = i32::try_from(page.objects.len() + page.common_prefixes.len()).unwrap_or(i32::MAX);
        let contents = page
            .objects
            .iter()
            .map(|m| Object {
                key: Some(m.key.clone()),
                size: Some(size_i64(m.size)),
                e_tag: Some(etag(&m.etag)),
                last_modified: Some(timestamp(m.last_modified_ms)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        let common_prefixes: Vec<CommonPrefix> = page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(p) }).collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.is_truncated),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let b = self.buckets.clone();
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let (meta, file) = blocking(move || b.open_object(&bucket, &key).map_err(bucket_error)).await?;
        let (start, len, content_range) = match &input.range {
            None => (0, meta.size, None),
            Some(range) => {
                let r = range.check(meta.size).map_err(|_| s3_error!(InvalidRange, "the range is outside the object's {} bytes", meta.size))?;
                (r.start, r.end - r.start, Some(format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), meta.size)))
            }
        };
        Ok(S3Response::new(GetObjectOutput {
            body: Some(file_stream(file, start, len)),
            content_length: Some(size_i64(len)),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: Some(meta.content_type.clone()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            metadata: metadata_of(&meta),
            ..Default::default()
        }))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let b = self.buckets.clone();
        let (bucket, key) = (req.input.bucket, req.input.key);
        let meta = blocking(move || b.head_object(&bucket, &key).map_err(bucket_error)).await?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size_i64(meta.size)),
            accept_ranges: Some("bytes".into()),
            content_type: Some(meta.content_type.clone()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            metadata: metadata_of(&meta),
            ..Default::default()
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let b = self.buckets.clone();
        let (bucket, key) = (input.bucket, input.key);
        let options = put_options(input.content_type, input.metadata);
        if !b.bucket_exists(&bucket) {
            return Err(s3_error!(NoSuchBucket, "no bucket named '{bucket}': create it first"));
        }
        let meta = match input.body {
            Some(body) => with_body_reader(body, move |r| b.put_object_from(&bucket, &key, r, &options).map_err(bucket_error)).await?,
            None => blocking(move || b.put_object(&bucket, &key, &[], &options).map_err(bucket_error)).await?,
        };
        Ok(S3Response::new(PutObjectOutput { e_tag: Some(etag(&meta.etag)), size: Some(size_i64(meta.size)), ..Default::default() }))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let b = self.buckets.clone();
        let (bucket, key) = (req.input.bucket, req.input.key);
        blocking(move || b.delete_object(&bucket, &key).map_err(bucket_error)).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => return Err(s3_error!(NotImplemented, "access points and outposts are not served locally; copy from bucket/key")),
        };
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let options = replace.then(|| put_options(input.content_type.clone(), input.metadata.clone()));
        let b = self.buckets.clone();
        let (bucket, key) = (input.bucket, input.key);
        let meta = blocking(move || b.copy_object(&src_bucket, &src_key, &bucket, &key, options.as_ref()).map_err(bucket_error)).await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(timestamp(meta.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(&self, req: S3Request<CreateMultipartUploadInput>) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        if !self.buckets.bucket_exists(&input.bucket) {
            return Err(s3_error!(NoSuchBucket, "no bucket named '{}': create it first", input.bucket));
        }
        crate::runtime::buckets::validate_key(&input.key).map_err(bucket_error)?;
        let id = hex_id();
        let dir = self.uploads.join(&id);
        let record = UploadRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
        };
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(internal)?;
            let text = serde_json::to_vec(&record).map_err(internal)?;
            crate::atomic_file::write_atomic(&dir.join("upload.json"), &text).map_err(internal)
        })
        .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let dir = self.upload_dir(&input.upload_id)?;
        self.upload_record(&dir, &input.bucket, &input.key)?;
        let number = input.part_number;
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(s3_error!(InvalidArgument, "part numbers run from 1 to {MAX_PART_NUMBER}; got {number}"));
        }
        let body = input.body.unwrap_or_else(|| StreamingBlob::wrap(futures_util::stream::empty::<Result<Bytes, io::Error>>()));
        let md5 = with_body_reader(body, move |reader| {
            let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(internal)?;
            let mut hasher = Md5::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf).map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                tmp.write_all(&buf[..n]).map_err(internal)?;
            }
            let md5 = hex::encode(hasher.finalize());
            tmp.as_file().sync_all().map_err(internal)?;
            // The MD5 first, then the part: a part file always has its MD5 beside it.
            crate::atomic_file::write_atomic(&dir.join(format!("{number:05}.md5")), md5.as_bytes()).map_err(internal)?;
            tmp.persist(dir.join(format!("{number:05}.part"))).map_err(internal)?;
            Ok(md5)
        })
        .await?;
        Ok(S3Response::new(UploadPartOutput { e_tag: Some(ETag::Strong(md5)), ..Default::default() }))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let dir = self.upload_dir(&input.upload_id)?;
        self.upload_record(&dir, &input.bucket, &input.key)?;
        let parts = blocking(move || {
            let mut parts = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(internal)?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(n) = name.strip_suffix(".part").and_then(|n| n.parse::<i32>().ok()) else { continue };
                let md5 = std::fs::read_to_string(dir.join(format!("{n:05}.md5"))).map_err(internal)?;
                let meta = entry.metadata().map_err(internal)?;
                parts.push(Part {
                    part_number: Some(n),
                    e_tag: Some(ETag::Strong(md5)),
                    size: Some(size_i64(meta.len())),
                    last_modified: meta.modified().ok().map(Timestamp::from),
                    ..Default::default()
                });
            }
            parts.sort_by_key(|p| p.part_number);
            Ok(parts)
        })
        .await?;
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(false),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let dir = self.upload_dir(&input.upload_id)?;
        self.upload_record(&dir, &input.bucket, &input.key)?;
        blocking(move || std::fs::remove_dir_all(&dir).map_err(internal)).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn complete_multipart_upload(&self, req: S3Request<CompleteMultipartUploadInput>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let dir = self.upload_dir(&input.upload_id)?;
        let record = self.upload_record(&dir, &input.bucket, &input.key)?;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(MalformedXML, "CompleteMultipartUpload needs the list of parts (PartNumber and ETag of each)"));
        }
        let b = self.buckets.clone();
        let meta = blocking(move || {
            let mut files = Vec::new();
            let mut digest = Md5::new();
            let mut previous = 0;
            let count = listed.len();
            for (i, part) in listed.iter().enumerate() {
                let n = part.part_number.ok_or_else(|| s3_error!(InvalidPart, "a part has no PartNumber"))?;
                if n <= previous {
                    return Err(s3_error!(InvalidPartOrder, "parts must be listed in ascending order of PartNumber"));
                }
                previous = n;
                let md5 = std::fs::read_to_string(dir.join(format!("{n:05}.md5")))
                    .map_err(|_| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
                if let Some(given) = &part.e_tag
                    && given.value() != md5
                {
                    return Err(s3_error!(InvalidPart, "part {n}'s ETag does not match the part uploaded"));
                }
                let file = std::fs::File::open(dir.join(format!("{n:05}.part"))).map_err(|_| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
                let len = file.metadata().map_err(internal)?.len();
                if len < MIN_PART_BYTES && i + 1 < count {
                    return Err(s3_error!(EntityTooSmall, "part {n} is {len} bytes; every part but the last must be at least 5 MiB"));
                }
                digest.update(hex::decode(&md5).map_err(internal)?);
                files.push(file);
            }
            let etag = format!("\"{}-{count}\"", hex::encode(digest.finalize()));
            let mut reader: Box<dyn Read> = Box::new(io::empty());
            for f in files {
                reader = Box::new(reader.chain(f));
            }
            let options = PutOptions { content_type: record.content_type, metadata: record.metadata };
            let meta = b.put_object_with_etag(&record.bucket, &record.key, &mut reader, &options, Some(etag)).map_err(bucket_error)?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(meta)
        })
        .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }
}
