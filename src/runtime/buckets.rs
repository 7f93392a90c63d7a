//! Local S3 buckets: folders on disk that stand in for Amazon S3 when the local engine runs a
//! workflow with no AWS account.
//!
//! # Layout
//!
//! ```text
//! ROOT/
//!   my-bucket/                  one folder per bucket (named as S3 allows: a-z 0-9 . -)
//!     objects/<sha256>.json     one record per object: its key, size, ETag, content type,
//!                               last-modified time, user metadata and the name of its data file
//!     data/obj-XXXXXX           the object's bytes, exactly as stored
//! ```
//!
//! Keys never become paths. The record's file name is the SHA-256 of the key, so any key S3
//! accepts (any UTF-8 up to 1024 bytes, `/`, `..`, leading slashes, characters a file system
//! forbids, keys differing only in case on a case-insensitive disk) maps to a short, safe name
//! inside the bucket folder, and no key can reach outside it. The record holds the full key,
//! which a lookup checks.
//!
//! # Atomic writes
//!
//! A put writes the bytes to a new, uniquely named data file and syncs it, then writes the
//! record to a temporary file beside its final name, syncs it and renames it over the old one:
//! that rename is the commit. Readers see the old object or the new one, never a mix; a crash
//! or a failed write before the rename leaves the old object as it was (and at worst an
//! unreferenced data file, which [`LocalBuckets::collect_garbage`] removes). The superseded
//! data file is deleted after the commit.
//!
//! Listing reads every record of a bucket: fine for the thousands of objects a local run
//! holds, not meant for millions.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The most keys one listing returns (S3's cap on `MaxKeys`).
pub const MAX_LIST_KEYS: usize = 1000;
/// The content type S3 gives an object stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

const OBJECTS_DIR: &str = "objects";
const DATA_DIR: &str = "data";
const DATA_PREFIX: &str = "obj-";
const RECORD_SUFFIX: &str = ".json";
/// How many times a read retries when the object is replaced between reading its record and
/// opening its data file.
const READ_RETRIES: usize = 5;

/// What went wrong with a bucket operation. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error(
        "no bucket named '{bucket}' in the local buckets folder {}: create it first \
         (createBucket, or a folder of that name there)",
        root.display()
    )]
    NoSuchBucket { bucket: String, root: PathBuf },
    #[error(
        "no object with key '{key}' in local bucket '{bucket}': put it first, or check the key \
         (keys are case-sensitive and '/' is part of the key)"
    )]
    NoSuchKey { bucket: String, key: String },
    #[error("the key {key:?} cannot be used: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("the bucket name {bucket:?} cannot be used: {reason}")]
    InvalidBucketName { bucket: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl BucketError {
    fn io(context: impl Into<String>, source: io::Error) -> BucketError {
        BucketError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What a put stores beside the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// `None` stores [`DEFAULT_CONTENT_TYPE`], as S3 does.
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`). Names are stored lowercase, as S3 stores them.
    pub metadata: BTreeMap<String, String>,
}

/// One object's record: everything S3 reports about it besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// The quoted MD5 of the bytes in hex, as S3 reports a single-part upload's ETag.
    pub etag: String,
    /// The big-endian CRC-32 of the bytes, base64 (S3's `ChecksumCRC32`).
    pub checksum_crc32: String,
    pub content_type: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    pub metadata: BTreeMap<String, String>,
    /// The data file's name inside the bucket's `data/` folder.
    data: String,
}

impl ObjectMeta {
    /// An object as a remote S3 listing reports it (no local data file, no checksum or
    /// metadata: `ListObjectsV2` gives neither).
    pub fn listed(key: String, size: u64, etag: String, last_modified_ms: i64) -> ObjectMeta {
        ObjectMeta { key, size, etag, checksum_crc32: String::new(), content_type: String::new(), last_modified_ms, metadata: BTreeMap::new(), data: String::new() }
    }

    pub fn last_modified(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(self.last_modified_ms).unwrap_or_default()
    }

    /// `LastModified` as the AWS SDK integrations print it: ISO 8601 in UTC, whole seconds
    /// (S3 keeps seconds).
    pub fn last_modified_text(&self) -> String {
        format_time(self.last_modified())
    }
}

/// A bucket as `list_buckets` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub creation_date: DateTime<Utc>,
}

/// Which keys a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    /// Only keys that start with this.
    pub prefix: &'a str,
    /// Keys that contain this after the prefix are rolled up into one common prefix (up to and
    /// including its first occurrence). `None` or `""`: no rolling up.
    pub delimiter: Option<&'a str>,
    /// Only keys after this one (S3's `StartAfter`, `Marker`, or where a continuation token
    /// points). A common prefix returned by the previous page is skipped whole.
    pub start_after: Option<&'a str>,
    /// At most this many keys and common prefixes together (capped at [`MAX_LIST_KEYS`]).
    pub max_keys: usize,
}

/// One page of a listing, in UTF-8 binary order of keys as S3 lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned, where the next page starts.
    pub next_after: Option<String>,
}

impl ListPage {
    /// The continuation token for the next page, if there is one.
    pub fn next_continuation_token(&self) -> Option<String> {
        self.next_after.as_deref().map(encode_continuation_token)
    }
}

/// Local S3: one folder per bucket under `root`.
#[derive(Debug, Clone)]
pub struct LocalBuckets {
    pub root: PathBuf,
}

impl LocalBuckets {
    pub fn new(root: impl Into<PathBuf>) -> LocalBuckets {
        LocalBuckets { root: root.into() }
    }

    /// Creates the bucket. `Ok(false)` when it already existed (nothing is changed).
    pub fn create_bucket(&self, bucket: &str) -> Result<bool, BucketError> {
        validate_bucket_name(bucket).map_err(|reason| BucketError::InvalidBucketName {
            bucket: bucket.to_string(),
            reason,
        })?;
        let dir = self.root.join(bucket);
        if dir.is_dir() {
            return Ok(false);
        }
        fs::create_dir_all(&self.root).map_err(|e| {
            BucketError::io(
                format!(
                    "could not create the local buckets folder {}",
                    self.root.display()
                ),
                e,
            )
        })?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(false),
            Err(e) => {
                return Err(BucketError::io(
                    format!("could not create the bucket folder {}", dir.display()),
                    e,
                ));
            }
        }
        for sub in [OBJECTS_DIR, DATA_DIR] {
            let path = dir.join(sub);
            fs::create_dir_all(&path)
                .map_err(|e| BucketError::io(format!("could not create {}", path.display()), e))?;
        }
        sync_dir(&self.root)
            .map_err(|e| BucketError::io(format!("could not sync {}", self.root.display()), e))?;
        Ok(true)
    }

    /// Deletes an empty bucket. `Ok(false)` when it holds objects (nothing is deleted, as S3
    /// refuses with BucketNotEmpty).
    pub fn delete_bucket(&self, bucket: &str) -> Result<bool, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        if !read_all_records(&dir.join(OBJECTS_DIR))?.is_empty() {
            return Ok(false);
        }
        fs::remove_dir_all(&dir)
            .map_err(|e| BucketError::io(format!("could not delete the bucket folder {}", dir.display()), e))?;
        Ok(true)
    }

    pub fn bucket_exists(&self, bucket: &str) -> bool {
        validate_bucket_name(bucket).is_ok() && self.root.join(bucket).is_dir()
    }

    /// Every bucket, by name. A missing root folder holds no buckets.
    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>, BucketError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(BucketError::io(
                    format!(
                        "could not read the local buckets folder {}",
                        self.root.display()
                    ),
                    e,
                ));
            }
        };
        let mut buckets = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                BucketError::io(format!("could not read {}", self.root.display()), e)
            })?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_dir() || validate_bucket_name(&name).is_err() {
                continue;
            }
            let created = meta
                .created()
                .or_else(|_| meta.modified())
                .unwrap_or(UNIX_EPOCH);
            buckets.push(BucketInfo {
                name,
                creation_date: DateTime::<Utc>::from(created),
            });
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    /// Stores `body` under `key`, replacing any object there.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        options: &PutOptions,
    ) -> Result<ObjectMeta, BucketError> {
        self.put_object_from(bucket, key, &mut &body[..], options)
    }

    /// Stores what `reader` yields under `key`, streaming it to disk. If the reader fails, the
    /// object is left as it was.
    pub fn put_object_from(
        &self,
        bucket: &str,
        key: &str,
        reader: &mut dyn Read,
        options: &PutOptions,
    ) -> Result<ObjectMeta, BucketError> {
        self.put_object_with_etag(bucket, key, reader, options, None)
    }

    /// `put_object_from`, recording `etag` instead of the MD5 of the bytes: a multipart
    /// upload's ETag is the MD5 of its parts' MD5s and their count, which only the uploader
    /// of the parts knows.
    pub fn put_object_with_etag(
        &self,
        bucket: &str,
        key: &str,
        reader: &mut dyn Read,
        options: &PutOptions,
        etag: Option<String>,
    ) -> Result<ObjectMeta, BucketError> {
        validate_key(key)?;
        let dir = self.bucket_dir(bucket)?;
        let (objects, data) = (dir.join(OBJECTS_DIR), dir.join(DATA_DIR));
        for sub in [&objects, &data] {
            fs::create_dir_all(sub)
                .map_err(|e| BucketError::io(format!("could not create {}", sub.display()), e))?;
        }

        // 1. The bytes, into a new data file; removed again if anything fails before step 3.
        let mut tmp = tempfile::Builder::new()
            .prefix(DATA_PREFIX)
            .tempfile_in(&data)
            .map_err(|e| {
                BucketError::io(
                    format!("could not create a data file in {}", data.display()),
                    e,
                )
            })?;
        let mut writer = HashingWriter::new(tmp.as_file_mut());
        io::copy(reader, &mut writer).map_err(|e| {
            BucketError::io(
                format!("could not write the object '{key}' to bucket '{bucket}'"),
                e,
            )
        })?;
        let (size, md5, crc) = writer.finish();
        tmp.as_file().sync_all().map_err(|e| {
            BucketError::io(format!("could not sync the object '{key}' to disk"), e)
        })?;
        let data_name = file_name_of(tmp.path());

        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag: etag.unwrap_or_else(|| format!("\"{}\"", hex::encode(md5))),
            checksum_crc32: BASE64.encode(crc.to_be_bytes()),
            content_type: options
                .content_type
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            last_modified_ms: now_ms(),
            metadata: options
                .metadata
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect(),
            data: data_name,
        };

        // 2. Keep the data file; from here a crash leaves at most an unreferenced file.
        let (_file, _path) = tmp.keep().map_err(|e| {
            BucketError::io(format!("could not keep the data file of '{key}'"), e.error)
        })?;
        let record_path = objects.join(record_name(key));
        let previous = read_record(&record_path, key).ok().flatten();

        // 3. Commit: the record, renamed over the old one.
        if let Err(e) = write_record(&objects, &record_path, &meta) {
            let _ = fs::remove_file(data.join(&meta.data));
            return Err(e);
        }
        if let Some(previous) = previous
            && previous.data != meta.data
        {
            let _ = fs::remove_file(data.join(&previous.data));
        }
        Ok(meta)
    }

    /// The object's record and its bytes.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectMeta, Vec<u8>), BucketError> {
        let (meta, mut file) = self.open_object(bucket, key)?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0).min(1 << 24));
        file.read_to_end(&mut bytes).map_err(|e| {
            BucketError::io(
                format!("could not read the object '{key}' in bucket '{bucket}'"),
                e,
            )
        })?;
        Ok((meta, bytes))
    }

    /// The object's record and its data file, open for reading (for streaming large objects).
    pub fn open_object(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, File), BucketError> {
        validate_key(key)?;
        let dir = self.bucket_dir(bucket)?;
        let record_path = dir.join(OBJECTS_DIR).join(record_name(key));
        // A put that replaces the object may delete the data file between our reading the
        // record and opening the file: read the record again.
        for _ in 0..READ_RETRIES {
            let meta = read_record(&record_path, key)?.ok_or_else(|| no_such_key(bucket, key))?;
            match File::open(dir.join(DATA_DIR).join(&meta.data)) {
                Ok(file) => return Ok((meta, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(BucketError::io(
                        format!("could not open the object '{key}' in bucket '{bucket}'"),
                        e,
                    ));
                }
            }
        }
        Err(BucketError::io(
            format!(
                "the data file of '{key}' in bucket '{bucket}' is missing; delete the object \
                 and put it again"
            ),
            io::Error::from(io::ErrorKind::NotFound),
        ))
    }

    /// The object's record, without its bytes.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, BucketError> {
        validate_key(key)?;
        let dir = self.bucket_dir(bucket)?;
        read_record(&dir.join(OBJECTS_DIR).join(record_name(key)), key)?
            .ok_or_else(|| no_such_key(bucket, key))
    }

    /// Copies an object, streaming its bytes. `replace`: the destination's content type and
    /// metadata (S3's `MetadataDirective: REPLACE`); `None` copies the source's.
    pub fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        replace: Option<&PutOptions>,
    ) -> Result<ObjectMeta, BucketError> {
        validate_key(dst_key)?;
        self.bucket_dir(dst_bucket)?;
        let (src, mut file) = self.open_object(src_bucket, src_key)?;
        let options = match replace {
            Some(options) => options.clone(),
            None => PutOptions {
                content_type: Some(src.content_type.clone()),
                metadata: src.metadata.clone(),
            },
        };
        self.put_object_from(dst_bucket, dst_key, &mut file, &options)
    }

    /// Deletes the object. `Ok(false)` when there was none (S3 answers a delete of a missing
    /// key with success too).
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, BucketError> {
        validate_key(key)?;
        let dir = self.bucket_dir(bucket)?;
        let objects = dir.join(OBJECTS_DIR);
        let record_path = objects.join(record_name(key));
        let Some(meta) = read_record(&record_path, key)? else {
            return Ok(false);
        };
        match fs::remove_file(&record_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(BucketError::io(
                    format!("could not delete the object '{key}' from bucket '{bucket}'"),
                    e,
                ));
            }
        }
        sync_dir(&objects)
            .map_err(|e| BucketError::io(format!("could not sync {}", objects.display()), e))?;
        let _ = fs::remove_file(dir.join(DATA_DIR).join(&meta.data));
        Ok(true)
    }

    /// One page of the bucket's keys.
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        let mut records = read_all_records(&dir.join(OBJECTS_DIR))?;
        records.retain(|m| m.key.starts_with(query.prefix));
        records.sort_by(|a, b| a.key.cmp(&b.key));

        let max = query.max_keys.min(MAX_LIST_KEYS);
        let delimiter = query.delimiter.filter(|d| !d.is_empty());
        let mut page = ListPage::default();
        if max == 0 {
            return Ok(page);
        }
        let mut count = 0;
        let mut last: Option<String> = None;
        for meta in records {
            if let Some(after) = query.start_after
                && meta.key.as_str() <= after
            {
                continue;
            }
            let rolled = delimiter.and_then(|d| {
                meta.key[query.prefix.len()..]
                    .find(d)
                    .map(|at| meta.key[..query.prefix.len() + at + d.len()].to_string())
            });
            if let Some(common) = &rolled
                && (query.start_after == Some(common.as_str())
                    || page.common_prefixes.last() == Some(common))
            {
                continue;
            }
            if count == max {
                page.is_truncated = true;
                page.next_after = last;
                break;
            }
            count += 1;
            match rolled {
                Some(common) => {
                    last = Some(common.clone());
                    page.common_prefixes.push(common);
                }
                None => {
                    last = Some(meta.key.clone());
                    page.objects.push(meta);
                }
            }
        }
        Ok(page)
    }

    /// ListObjectsV2's paging: up to `max_keys` keys under `prefix`, from where
    /// `continuation_token` (a previous page's [`ListPage::next_continuation_token`]) points.
    pub fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        continuation_token: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage, BucketError> {
        let after = continuation_token
            .map(|token| {
                decode_continuation_token(token).ok_or_else(|| BucketError::InvalidKey {
                    key: token.to_string(),
                    reason: "it is not a continuation token this store issued; pass the \
                             NextContinuationToken of the previous page unchanged"
                        .to_string(),
                })
            })
            .transpose()?;
        self.list_objects(
            bucket,
            &ListQuery {
                prefix,
                delimiter: None,
                start_after: after.as_deref(),
                max_keys,
            },
        )
    }

    /// Removes what interrupted writes left behind: data files no record points to and
    /// temporary record files, older than `min_age` (so writes in progress are left alone).
    /// Returns how many files were removed.
    pub fn collect_garbage(&self, bucket: &str, min_age: Duration) -> Result<usize, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        let objects = dir.join(OBJECTS_DIR);
        let referenced: std::collections::HashSet<String> = read_all_records(&objects)?
            .into_iter()
            .map(|m| m.data)
            .collect();
        let now = SystemTime::now();
        let old_enough = |path: &Path| {
            fs::metadata(path)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= min_age)
                .unwrap_or(false)
        };
        let mut removed = 0;
        for entry in list_dir(&dir.join(DATA_DIR))? {
            if !referenced.contains(&entry.name) && old_enough(&entry.path) {
                removed += usize::from(fs::remove_file(&entry.path).is_ok());
            }
        }
        for entry in list_dir(&objects)? {
            if !is_record_name(&entry.name) && old_enough(&entry.path) {
                removed += usize::from(fs::remove_file(&entry.path).is_ok());
            }
        }
        Ok(removed)
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, BucketError> {
        // A name S3 would not accept cannot name a bucket created here: it does not exist.
        let dir = self.root.join(bucket);
        if validate_bucket_name(bucket).is_ok() && dir.is_dir() {
            Ok(dir)
        } else {
            Err(BucketError::NoSuchBucket {
                bucket: bucket.to_string(),
                root: self.root.clone(),
            })
        }
    }
}

/// S3's rules for a new bucket's name (general purpose buckets): 3 to 63 characters of
/// lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`,
/// not an IP address, and not using the prefixes and suffixes S3 reserves.
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!(
            "it is {} characters long; S3 wants 3 to 63",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "it contains {c:?}; use only lowercase letters, digits, '.' and '-'"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err("it must start and end with a lowercase letter or a digit".to_string());
    }
    if name.contains("..") {
        return Err("it contains '..'".to_string());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("it is formatted as an IP address".to_string());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("S3 reserves the prefix '{prefix}'"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("S3 reserves the suffix '{suffix}'"));
        }
    }
    Ok(())
}

/// A key S3 accepts: 1 to 1024 bytes of UTF-8. (`&str` is UTF-8 already.) Any characters are
/// fine: keys never become paths.
pub fn validate_key(key: &str) -> Result<(), BucketError> {
    let reason = if key.is_empty() {
        "it is empty; an object key needs at least one character".to_string()
    } else if key.len() > MAX_KEY_BYTES {
        format!(
            "it is {} bytes long in UTF-8; S3 allows at most {MAX_KEY_BYTES}",
            key.len()
        )
    } else {
        return Ok(());
    };
    let shown: String = key.chars().take(64).collect();
    Err(BucketError::InvalidKey { key: shown, reason })
}

/// An opaque continuation token pointing after `key`.
pub fn encode_continuation_token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The key a continuation token points after; `None` if it is not one of ours.
pub fn decode_continuation_token(token: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// ISO 8601 in UTC with whole seconds: `2024-05-01T12:00:00Z`.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn no_such_key(bucket: &str, key: &str) -> BucketError {
    BucketError::NoSuchKey {
        bucket: bucket.to_string(),
        key: key.to_string(),
    }
}

fn record_name(key: &str) -> String {
    format!(
        "{}{RECORD_SUFFIX}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

fn is_record_name(name: &str) -> bool {
    name.strip_suffix(RECORD_SUFFIX)
        .is_some_and(|stem| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

struct DirFile {
    name: String,
    path: PathBuf,
}

/// The plain files in `dir` (none if it does not exist).
fn list_dir(dir: &Path) -> Result<Vec<DirFile>, BucketError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BucketError::io(
                format!("could not read {}", dir.display()),
                e,
            ));
        }
    };
    Ok(entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| DirFile {
            name: e.file_name().to_string_lossy().into_owned(),
            path: e.path(),
        })
        .collect())
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The record at `path`, if any, checked to belong to `key`.
fn read_record(path: &Path, key: &str) -> Result<Option<ObjectMeta>, BucketError> {
    let meta = match parse_record(path)? {
        Some(meta) => meta,
        None => return Ok(None),
    };
    if meta.key != key {
        return Err(BucketError::io(
            format!(
                "the record {} holds the key '{}', not '{key}'; it was edited or copied by hand: \
                 delete it",
                path.display(),
                meta.key
            ),
            io::Error::from(io::ErrorKind::InvalidData),
        ));
    }
    Ok(Some(meta))
}

fn parse_record(path: &Path) -> Result<Option<ObjectMeta>, BucketError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BucketError::io(
                format!("could not read {}", path.display()),
                e,
            ));
        }
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        BucketError::io(
            format!(
                "the object record {} is damaged; delete it (the object is then gone) or restore it",
                path.display()
            ),
            io::Error::new(io::ErrorKind::InvalidData, e),
        )
    })
}

fn read_all_records(objects: &Path) -> Result<Vec<ObjectMeta>, BucketError> {
    let entries = match fs::read_dir(objects) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BucketError::io(
                format!("could not read {}", objects.display()),
                e,
            ));
        }
    };
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| BucketError::io(format!("could not read {}", objects.display()), e))?;
        if !is_record_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        // Deleted since the folder was read: skip it.
        if let Some(meta) = parse_record(&entry.path())? {
            records.push(meta);
        }
    }
    Ok(records)
}

fn write_record(objects: &Path, path: &Path, meta: &ObjectMeta) -> Result<(), BucketError> {
    let context = || {
        format!(
            "could not write the record of '{}' in {}",
            meta.key,
            objects.display()
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".record-")
        .suffix(".tmp")
        .tempfile_in(objects)
        .map_err(|e| BucketError::io(context(), e))?;
    let bytes = serde_json::to_vec(meta)
        .map_err(|e| BucketError::io(context(), io::Error::new(io::ErrorKind::InvalidData, e)))?;
    tmp.write_all(&bytes)
        .map_err(|e| BucketError::io(context(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| BucketError::io(context(), e))?;
    tmp.persist(path)
        .map_err(|e| BucketError::io(context(), e.error))?;
    sync_dir(objects).map_err(|e| BucketError::io(context(), e))
}

/// Makes a rename or removal in `dir` durable (Unix; elsewhere the rename itself must do).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Passes bytes through while counting them and computing their MD5 and CRC-32.
struct HashingWriter<W> {
    inner: W,
    size: u64,
    md5: Md5,
    crc: crc32fast::Hasher,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            size: 0,
            md5: Md5::new(),
            crc: crc32fast::Hasher::new(),
        }
    }

    fn finish(self) -> (u64, [u8; 16], u32) {
        (self.size, self.md5.finalize().into(), self.crc.finalize())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = &buf[..n];
        self.md5.update(written);
        self.crc.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalBuckets) {
        let dir = tempfile::tempdir().unwrap();
        let buckets = LocalBuckets::new(dir.path().join("s3"));
        buckets.create_bucket("bucket-name").unwrap();
        (dir, buckets)
    }

    fn files_under(path: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn create_list_and_exists() {
        let (_d, b) = store();
        assert!(
            !b.create_bucket("bucket-name").unwrap(),
            "second create reports existing"
        );
        assert!(b.create_bucket("other.bucket").unwrap());
        assert!(b.bucket_exists("bucket-name"));
        assert!(!b.bucket_exists("nope-bucket"));
        assert!(!b.bucket_exists("../s3"));
        let names: Vec<_> = b
            .list_buckets()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["bucket-name", "other.bucket"]);
    }

    #[test]
    fn missing_root_has_no_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBuckets::new(dir.path().join("absent"));
        assert!(b.list_buckets().unwrap().is_empty());
        assert!(matches!(
            b.head_object("bucket-name", "k"),
            Err(BucketError::NoSuchBucket { .. })
        ));
    }

    #[test]
    fn bad_bucket_names_are_refused_and_never_found() {
        let (_d, b) = store();
        for name in [
            "",
            "ab",
            "Upper",
            "..",
            ".",
            "a..b",
            "-ab",
            "ab-",
            "a/b",
            "a\\b",
            "192.168.0.1",
            "xn--ab",
        ] {
            assert!(
                matches!(
                    b.create_bucket(name),
                    Err(BucketError::InvalidBucketName { .. })
                ),
                "{name:?}"
            );
            assert!(matches!(
                b.put_object(name, "k", b"x", &PutOptions::default()),
                Err(BucketError::NoSuchBucket { .. })
            ));
        }
        // A name that reaches outside the root through `..` is never a bucket.
        assert!(matches!(
            b.list_objects(
                "..",
                &ListQuery {
                    max_keys: 10,
                    ..Default::default()
                }
            ),
            Err(BucketError::NoSuchBucket { .. })
        ));
        let long = "a".repeat(64);
        assert!(b.create_bucket(&long).is_err());
    }

    #[test]
    fn put_get_head_round_trip() {
        let (_d, b) = store();
        let mut options = PutOptions {
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        options.metadata.insert("Owner".into(), "me".into());
        let put = b
            .put_object("bucket-name", "dir/file.txt", b"text data", &options)
            .unwrap();
        assert_eq!(put.etag, "\"332eec544317a6d340b8e77da7fe54ad\"");
        assert_eq!(put.size, 9);
        assert_eq!(put.checksum_crc32, "0Q/6SA==");
        assert_eq!(put.metadata.get("owner").map(String::as_str), Some("me"));
        let (meta, bytes) = b.get_object("bucket-name", "dir/file.txt").unwrap();
        assert_eq!(bytes, b"text data");
        assert_eq!(meta, put);
        assert_eq!(b.head_object("bucket-name", "dir/file.txt").unwrap(), put);
        assert_eq!(meta.content_type, "text/plain");
        assert!(meta.last_modified_text().ends_with('Z'));
    }

    #[test]
    fn empty_object_has_md5_of_nothing() {
        let (_d, b) = store();
        let meta = b
            .put_object("bucket-name", "empty", b"", &PutOptions::default())
            .unwrap();
        assert_eq!(meta.etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(meta.content_type, DEFAULT_CONTENT_TYPE);
    }

    #[test]
    fn missing_things_are_typed() {
        let (_d, b) = store();
        assert!(matches!(
            b.get_object("bucket-name", "nope"),
            Err(BucketError::NoSuchKey { .. })
        ));
        assert!(matches!(
            b.get_object("no-bucket", "nope"),
            Err(BucketError::NoSuchBucket { .. })
        ));
        let e = b.get_object("bucket-name", "nope").unwrap_err().to_string();
        assert!(e.contains("put it first"), "{e}");
        assert!(matches!(
            b.get_object("bucket-name", ""),
            Err(BucketError::InvalidKey { .. })
        ));
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            b.put_object("bucket-name", &long, b"", &PutOptions::default()),
            Err(BucketError::InvalidKey { .. })
        ));
        let max = "é".repeat(MAX_KEY_BYTES / 2);
        b.put_object("bucket-name", &max, b"ok", &PutOptions::default())
            .unwrap();
        assert_eq!(b.get_object("bucket-name", &max).unwrap().1, b"ok");
    }

    #[test]
    fn traversal_keys_stay_inside_the_bucket() {
        let (dir, b) = store();
        let keys = [
            "../escape",
            "../../escape",
            "/etc/passwd",
            "a/../../b",
            "..",
            ".",
            "a\\..\\..\\b",
            "nul\0byte",
            "CON",
            "Case",
            "case",
            "trailing/",
            "//double//slash",
        ];
        for (i, key) in keys.iter().enumerate() {
            b.put_object(
                "bucket-name",
                key,
                format!("{i}").as_bytes(),
                &PutOptions::default(),
            )
            .unwrap();
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                b.get_object("bucket-name", key).unwrap().1,
                format!("{i}").as_bytes(),
                "{key:?}"
            );
        }
        // Every file written is inside the bucket folder; nothing appeared beside it.
        let bucket_dir = dir.path().join("s3").join("bucket-name");
        for file in files_under(dir.path()) {
            assert!(file.starts_with(&bucket_dir), "{} escaped", file.display());
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let page = b
            .list_objects(
                "bucket-name",
                &ListQuery {
                    max_keys: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        let mut sorted: Vec<_> = keys.iter().map(|k| k.to_string()).collect();
        sorted.sort();
        assert_eq!(
            page.objects
                .iter()
                .map(|m| m.key.clone())
                .collect::<Vec<_>>(),
            sorted
        );
    }

    #[test]
    fn overwrite_replaces_and_removes_the_old_data() {
        let (dir, b) = store();
        b.put_object("bucket-name", "k", b"one", &PutOptions::default())
            .unwrap();
        b.put_object("bucket-name", "k", b"two", &PutOptions::default())
            .unwrap();
        assert_eq!(b.get_object("bucket-name", "k").unwrap().1, b"two");
        let data = dir.path().join("s3/bucket-name/data");
        assert_eq!(fs::read_dir(data).unwrap().count(), 1);
    }

    struct FailingReader {
        sent: usize,
    }
    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.sent >= 3 * 8192 {
                return Err(io::Error::other("connection reset"));
            }
            let n = buf.len().min(8192);
            buf[..n].fill(b'x');
            self.sent += n;
            Ok(n)
        }
    }

    #[test]
    fn a_failed_write_leaves_no_partial_object() {
        let (dir, b) = store();
        let err = b
            .put_object_from(
                "bucket-name",
                "new",
                &mut FailingReader { sent: 0 },
                &PutOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, BucketError::Io { .. }));
        assert!(err.to_string().contains("connection reset"), "{err}");
        assert!(matches!(
            b.head_object("bucket-name", "new"),
            Err(BucketError::NoSuchKey { .. })
        ));
        // No data file, no record, no temporary file left.
        assert!(files_under(&dir.path().join("s3/bucket-name")).is_empty());

        // Over an existing object: the old one is intact.
        b.put_object("bucket-name", "old", b"original", &PutOptions::default())
            .unwrap();
        b.put_object_from(
            "bucket-name",
            "old",
            &mut FailingReader { sent: 0 },
            &PutOptions::default(),
        )
        .unwrap_err();
        assert_eq!(b.get_object("bucket-name", "old").unwrap().1, b"original");
        assert_eq!(files_under(&dir.path().join("s3/bucket-name")).len(), 2);
    }

    #[test]
    fn a_crash_before_the_commit_is_invisible_and_collected() {
        let (dir, b) = store();
        b.put_object("bucket-name", "kept", b"v1", &PutOptions::default())
            .unwrap();
        // What a crash between writing the data file and renaming the record leaves.
        let data = dir.path().join("s3/bucket-name/data");
        fs::write(data.join("obj-orphan"), b"half").unwrap();
        fs::write(
            dir.path().join("s3/bucket-name/objects/.record-x.tmp"),
            b"{",
        )
        .unwrap();
        let page = b
            .list_objects(
                "bucket-name",
                &ListQuery {
                    max_keys: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(page.objects.len(), 1);
        assert_eq!(
            b.collect_garbage("bucket-name", Duration::from_secs(3600))
                .unwrap(),
            0
        );
        assert_eq!(b.collect_garbage("bucket-name", Duration::ZERO).unwrap(), 2);
        assert_eq!(b.get_object("bucket-name", "kept").unwrap().1, b"v1");
        assert_eq!(fs::read_dir(data).unwrap().count(), 1);
    }

    #[test]
    fn damaged_record_is_an_error_not_a_panic() {
        let (dir, b) = store();
        b.put_object("bucket-name", "k", b"v", &PutOptions::default())
            .unwrap();
        let record = dir
            .path()
            .join("s3/bucket-name/objects")
            .join(record_name("k"));
        fs::write(&record, b"not json").unwrap();
        let e = b.get_object("bucket-name", "k").unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
        // A record that names another key.
        let mut other = serde_json::from_str::<serde_json::Value>(
            &serde_json::to_string(
                &b.put_object("bucket-name", "j", b"v", &PutOptions::default())
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        other["key"] = "someone-else".into();
        fs::write(&record, other.to_string()).unwrap();
        assert!(
            b.head_object("bucket-name", "k")
                .unwrap_err()
                .to_string()
                .contains("not 'k'")
        );
    }

    #[test]
    fn copy_and_delete() {
        let (_d, b) = store();
        b.create_bucket("dest-bucket").unwrap();
        let options = PutOptions {
            content_type: Some("application/json".into()),
            metadata: [("a".to_string(), "1".to_string())].into(),
        };
        let src = b.put_object("bucket-name", "src", b"{}", &options).unwrap();
        let copy = b
            .copy_object("bucket-name", "src", "dest-bucket", "dst", None)
            .unwrap();
        assert_eq!(copy.etag, src.etag);
        assert_eq!(copy.content_type, "application/json");
        assert_eq!(copy.metadata, src.metadata);
        let replaced = b
            .copy_object(
                "bucket-name",
                "src",
                "dest-bucket",
                "dst2",
                Some(&PutOptions::default()),
            )
            .unwrap();
        assert_eq!(replaced.content_type, DEFAULT_CONTENT_TYPE);
        assert!(replaced.metadata.is_empty());
        assert!(matches!(
            b.copy_object("bucket-name", "nope", "dest-bucket", "x", None),
            Err(BucketError::NoSuchKey { .. })
        ));
        assert!(matches!(
            b.copy_object("bucket-name", "src", "no-bucket", "x", None),
            Err(BucketError::NoSuchBucket { .. })
        ));

        assert!(b.delete_object("dest-bucket", "dst").unwrap());
        assert!(!b.delete_object("dest-bucket", "dst").unwrap());
        assert!(matches!(
            b.get_object("dest-bucket", "dst"),
            Err(BucketError::NoSuchKey { .. })
        ));
        assert!(matches!(
            b.delete_object("no-bucket", "dst"),
            Err(BucketError::NoSuchBucket { .. })
        ));
    }

    #[test]
    fn listing_pages_prefixes_and_delimiters() {
        let (_d, b) = store();
        for key in ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"] {
            b.put_object("bucket-name", key, b"x", &PutOptions::default())
                .unwrap();
        }
        let all = |q: ListQuery| b.list_objects("bucket-name", &q).unwrap();
        let keys = |p: &ListPage| p.objects.iter().map(|m| m.key.clone()).collect::<Vec<_>>();

        let page = all(ListQuery {
            prefix: "a/",
            max_keys: 1000,
            ..Default::default()
        });
        assert_eq!(keys(&page), ["a/1", "a/2", "a/b/3"]);
        assert!(!page.is_truncated);

        let page = all(ListQuery {
            delimiter: Some("/"),
            max_keys: 1000,
            ..Default::default()
        });
        assert_eq!(keys(&page), ["b", "d"]);
        assert_eq!(page.common_prefixes, ["a/", "c/"]);

        // Paging with a delimiter: a returned common prefix is not returned again.
        let p1 = all(ListQuery {
            delimiter: Some("/"),
            max_keys: 1,
            ..Default::default()
        });
        assert_eq!(p1.common_prefixes, ["a/"]);
        assert!(p1.is_truncated);
        let p2 = all(ListQuery {
            delimiter: Some("/"),
            max_keys: 2,
            start_after: p1.next_after.as_deref(),
            ..Default::default()
        });
        assert_eq!(keys(&p2), ["b"]);
        assert_eq!(p2.common_prefixes, ["c/"]);
        assert_eq!(p2.next_after.as_deref(), Some("c/"));

        // Paging through everything with continuation tokens.
        let mut token: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page = b
                .list_objects_v2("bucket-name", "", token.as_deref(), 3)
                .unwrap();
            seen.extend(keys(&page));
            match page.next_continuation_token() {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"]);
        assert!(matches!(
            b.list_objects_v2("bucket-name", "", Some("%%%"), 3),
            Err(BucketError::InvalidKey { .. })
        ));

        let none = all(ListQuery {
            max_keys: 0,
            ..Default::default()
        });
        assert!(none.objects.is_empty() && !none.is_truncated);
    }

    #[test]
    fn sort_order_is_utf8_binary() {
        let (_d, b) = store();
        for key in ["é", "z", "Z", "a", "~"] {
            b.put_object("bucket-name", key, b"", &PutOptions::default())
                .unwrap();
        }
        let page = b
            .list_objects(
                "bucket-name",
                &ListQuery {
                    max_keys: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        let keys: Vec<_> = page.objects.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["Z", "a", "z", "~", "é"]);
    }
}
