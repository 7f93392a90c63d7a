//! The S3 upload path against a real S3 API. The endpoint comes from `STEPWISE_TEST_S3_ENDPOINT`
//! (LocalStack: `scripts/bench-upload-s3.sh` shows how to start one); without it these tests
//! say "skipped: no S3 endpoint" and pass. The part plan needs no endpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::ChecksumMode;
use stepwise::backend::aws::s3_upload::{self, MAX_PARTS, MIN_PART_SIZE, Plan, UploadError, UploadOptions};
use stepwise::runtime::ingest::UploadProgress;

const MIB: u64 = 1 << 20;

#[test]
fn parts_cover_the_file_in_order_with_the_last_one_smaller() {
    assert_eq!(Plan::new(1, 8 * MIB), Some(Plan::Single));
    assert_eq!(Plan::new(8 * MIB, 8 * MIB), Some(Plan::Single));

    let plan = Plan::new(41 * MIB, 8 * MIB).unwrap();
    let parts: Vec<_> = plan.parts().collect();
    assert_eq!(parts.len(), 6);
    assert!(parts[..5].iter().all(|p| p.length == 8 * MIB));
    assert_eq!(parts[5].length, MIB);
    assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);

    // Parts below S3's 5 MiB minimum are raised to it.
    assert_eq!(Plan::new(12 * MIB, MIB), Some(Plan::Multipart { size: 12 * MIB, part_size: MIN_PART_SIZE, count: 3 }));

    // A file that would need more than 10,000 parts gets bigger parts.
    for size in [80_000 * MIB + 1, 1 << 40, 5 << 40] {
        let Some(Plan::Multipart { part_size, count, .. }) = Plan::new(size, 8 * MIB) else { panic!("{size} is multipart") };
        assert!(count <= MAX_PARTS, "{size}: {count} parts");
        assert!(part_size > 8 * MIB);
        let parts: Vec<_> = Plan::new(size, 8 * MIB).unwrap().parts().collect();
        assert_eq!(parts.len() as u64, count);
        let mut offset = 0;
        for p in &parts {
            assert_eq!(p.offset, offset);
            offset += p.length;
        }
        assert_eq!(offset, size);
        let last = parts.last().unwrap();
        assert!(last.length <= part_size && last.length > 0);
    }

    // S3 holds at most 5 TiB.
    assert_eq!(Plan::new((5 << 40) + 1, 8 * MIB), None);
}

/// The endpoint, or `None` after saying the test is skipped.
fn endpoint() -> Option<String> {
    let endpoint = std::env::var("STEPWISE_TEST_S3_ENDPOINT").ok().filter(|e| !e.is_empty());
    if endpoint.is_none() {
        println!("skipped: no S3 endpoint (set STEPWISE_TEST_S3_ENDPOINT)");
    }
    endpoint
}

/// A client for the test endpoint through the production constructor, with LocalStack's dummy
/// credentials (whatever the environment holds is not meant for a test endpoint).
async fn client(endpoint: &str) -> Client {
    let client = s3_upload::client_for(Some(endpoint), "us-east-1", None).await.unwrap();
    let credentials = Credentials::new("test", "test", None, None, "stepwise-tests");
    Client::from_conf(client.config().to_builder().credentials_provider(credentials).build())
}

/// A fresh bucket per test: the tests run in parallel against one endpoint.
async fn bucket(client: &Client, name: &str) -> String {
    let bucket = format!("stepwise-{name}-{}", std::process::id());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// A file of `size` bytes that are not all the same, so a part sent at the wrong offset shows.
fn data_file(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join(format!("data-{size}.bin"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..size / 4 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.write_all(&x.to_le_bytes()).unwrap();
    }
    f.write_all(&vec![0x5a; (size % 4) as usize]).unwrap();
    f.flush().unwrap();
    path
}

async fn object_bytes(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = client.get_object().bucket(bucket).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_one_put() {
    let Some(endpoint) = endpoint() else { return };
    let client = client(&endpoint).await;
    let bucket = bucket(&client, "small").await;
    let dir = tempfile::tempdir().unwrap();
    let file = data_file(dir.path(), 100_003);
    let progress = UploadProgress::new(100_003);
    let stored = s3_upload::upload_file(&client, &bucket, "clips/small.bin", &file, "video/mp4", Arc::clone(&progress), UploadOptions::default())
        .await
        .unwrap();
    assert_eq!((stored.size, stored.parts), (100_003, 1));
    assert!(!stored.etag.contains('-'), "a PutObject ETag: {}", stored.etag);
    assert_eq!(progress.done(), 100_003);
    let head = client.head_object().bucket(&bucket).key("clips/small.bin").send().await.unwrap();
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert_eq!(object_bytes(&client, &bucket, "clips/small.bin").await, std::fs::read(&file).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_goes_up_in_parts() {
    let Some(endpoint) = endpoint() else { return };
    let client = client(&endpoint).await;
    let bucket = bucket(&client, "large").await;
    let dir = tempfile::tempdir().unwrap();
    let size = 40 * MIB;
    let file = data_file(dir.path(), size);
    let progress = UploadProgress::new(size);
    let options = UploadOptions { concurrency: 4, ..UploadOptions::default() };
    let stored =
        s3_upload::upload_file(&client, &bucket, "large.bin", &file, "video/mp4", Arc::clone(&progress), options).await.unwrap();
    assert_eq!((stored.size, stored.parts), (size, 5));
    assert!(stored.etag.trim_matches('"').ends_with("-5"), "a multipart ETag: {}", stored.etag);
    assert_eq!(progress.done(), size);
    let head =
        client.head_object().bucket(&bucket).key("large.bin").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.content_length(), Some(size as i64));
    assert_eq!(head.e_tag(), Some(stored.etag.as_str()));
    // Every part went with its CRC32, so S3 holds the composite one ("BASE64-5"); how the
    // uploader recognises an upload whose complete answer was lost, from its parts alone.
    let bytes = std::fs::read(&file).unwrap();
    let parts: Vec<&[u8]> = bytes.chunks((8 * MIB) as usize).collect();
    let crcs: Vec<u32> = parts.iter().map(|p| crc32fast::hash(p)).collect();
    assert_eq!(head.checksum_crc32(), Some(s3_upload::composite_crc32(&crcs).as_str()));
    let md5s: Vec<[u8; 16]> = parts.iter().map(|p| { use md5::Digest as _; md5::Md5::digest(p).into() }).collect();
    assert_eq!(head.e_tag().map(|e| e.trim_matches('"')), Some(s3_upload::multipart_etag(&md5s).as_str()));
    assert!(object_bytes(&client, &bucket, "large.bin").await == std::fs::read(&file).unwrap(), "the stored bytes differ");
    let uploads = client.list_multipart_uploads().bucket(&bucket).send().await.unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_leaves_nothing() {
    let Some(endpoint) = endpoint() else { return };
    let client = client(&endpoint).await;
    let bucket = bucket(&client, "cancel").await;
    let dir = tempfile::tempdir().unwrap();
    let size = 64 * MIB;
    let file = data_file(dir.path(), size);
    let progress = UploadProgress::new(size);
    // One part at a time, so the cancel lands with most of the file still to send.
    let options = UploadOptions { part_size: MIN_PART_SIZE, concurrency: 1, crc32: true };
    let watcher = Arc::clone(&progress);
    let canceller = tokio::spawn(async move {
        while watcher.done() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        watcher.cancel();
    });
    let result = s3_upload::upload_file(&client, &bucket, "cancelled.bin", &file, "video/mp4", Arc::clone(&progress), options).await;
    canceller.await.unwrap();
    let error = result.unwrap_err();
    assert!(matches!(error, UploadError::Cancelled { .. }), "{error}");
    assert!(error.to_string().contains("cancelled; nothing was stored"), "{error}");
    assert!(progress.done() < size);
    let uploads = client.list_multipart_uploads().bucket(&bucket).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "parts left behind: {:?}", uploads.uploads());
    assert!(client.head_object().bucket(&bucket).key("cancelled.bin").send().await.is_err(), "the object exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named() {
    let Some(endpoint) = endpoint() else { return };
    let client = client(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    // One PutObject, then a multipart upload (CreateMultipartUpload is refused).
    for size in [1_000, 6 * MIB] {
        let file = data_file(dir.path(), size);
        let error = s3_upload::upload_file(
            &client,
            "stepwise-no-such-bucket",
            "x.bin",
            &file,
            "video/mp4",
            UploadProgress::new(size),
            UploadOptions { part_size: MIN_PART_SIZE, ..UploadOptions::default() },
        )
        .await
        .unwrap_err();
        assert!(matches!(error, UploadError::NoSuchBucket { .. }), "{size}: {error:?}");
        assert_eq!(
            error.to_string(),
            "the bucket 'stepwise-no-such-bucket' does not exist; create it, or check the bucket name and the endpoint"
        );
    }
}
