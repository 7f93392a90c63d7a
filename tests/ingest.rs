//! Ingest end to end, without a window: a generated MP4 goes into the local raw bucket, the
//! video-ingest execution starts with the S3 object-created event, its review activity
//! waits for a worker, the built-in video check answers, and the approved copy appears.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use stepwise::engine::MachineType;
use stepwise::runtime::ingest::{self, IngestError, IngestOptions, UploadProgress};
use stepwise::runtime::service::open_local_engine;
use stepwise::runtime::video_check::sample;
use stepwise::runtime::workers::{WorkerSettings, spawn_local_workers};

const BIN: &str = env!("CARGO_BIN_EXE_stepwise");

fn video_ingest() -> String {
    std::fs::read_to_string(crate::repo().join("workflows/video-ingest.asl.json")).unwrap()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// What AWS records for an approved video: the Pass, the activity (scheduled, started by a
/// worker, succeeded), the Choice, the S3 copy, the Succeed state.
pub const APPROVED_HISTORY: [&str; 18] = [
    "ExecutionStarted",
    "PassStateEntered",
    "PassStateExited",
    "TaskStateEntered",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivitySucceeded",
    "TaskStateExited",
    "ChoiceStateEntered",
    "ChoiceStateExited",
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSucceeded",
    "TaskStateExited",
    "SucceedStateEntered",
    "SucceedStateExited",
    "ExecutionSucceeded",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingested_mp4_waits_for_the_worker_then_is_approved_and_copied() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, sample::mp4(320, 240, 2.0)).unwrap();
    let (service, buckets) = open_local_engine(&dir.path().join("data"), 1.0).await.unwrap();
    let machine = service.create_state_machine("video-ingest", &video_ingest(), MachineType::Standard).await.unwrap();
    let definition: Value = serde_json::from_str(&video_ingest()).unwrap();
    let created = ingest::ensure_buckets(&buckets, &definition, &["stepwise-raw"]).unwrap();
    assert_eq!(created, ["stepwise-raw", "stepwise-approved"]);

    let checked = ingest::check_file(&clip, &IngestOptions::default()).unwrap();
    assert_eq!(checked.content_type, "video/mp4");
    let progress = UploadProgress::new(checked.size);
    let done = ingest::ingest_local(&service, &buckets, "stepwise-raw", &machine, checked, progress.clone()).await.unwrap();
    assert_eq!(progress.done(), progress.total(), "every byte was counted");
    assert_eq!(done.key, "clip.mp4");

    // The input is the S3 event; the Pass state read bucket, key and size out of it.
    let execution = service.describe_execution(&done.execution_arn).await.unwrap();
    assert_eq!(execution.input["detail-type"], "Object Created");
    assert_eq!(execution.input["detail"]["object"]["etag"], done.etag.as_str());

    // No worker yet: the review is pending.
    let pending = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let open = service.pending_tasks().await.unwrap();
            if !open.is_empty() {
                break open;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the review activity is scheduled");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state_name, "Review Video");
    assert_eq!(pending[0].status, "scheduled");
    assert_eq!(pending[0].activity_name.as_deref(), Some("stepwise-video-review"));
    assert_eq!(pending[0].timeout_seconds, Some(1800));

    // The default local worker (the built-in video check) answers.
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let _workers = spawn_local_workers(service.clone(), buckets.clone(), &WorkerSettings::default().workers, tx);
    let d = tokio::time::timeout(Duration::from_secs(30), service.wait_for_execution(&done.execution_arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "SUCCEEDED", "{d:?}");
    let report = reports.recv().await.unwrap();
    assert_eq!(report.status, "SUCCEEDED");
    let output = d.output.unwrap();
    assert_eq!(output["review"]["verdict"], "APPROVED", "{output}");
    assert_eq!(output["review"]["video"]["width"], 320);
    let raw = buckets.head_object("stepwise-raw", "clip.mp4").unwrap();
    let approved = buckets.head_object("stepwise-approved", "clip.mp4").expect("the approved copy");
    assert_eq!(approved.etag, raw.etag);
    assert_eq!(approved.size, std::fs::metadata(&clip).unwrap().len());

    let history = service.full_history(&done.execution_arn).await.unwrap();
    assert_eq!(types(&history), APPROVED_HISTORY);
    assert!(service.pending_tasks().await.unwrap().is_empty());
    service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, sample::mp4(320, 240, 1.0)).unwrap();
    let buckets = stepwise::runtime::buckets::LocalBuckets::new(dir.path().join("buckets"));
    buckets.create_bucket("raw").unwrap();
    let checked = ingest::check_file(&clip, &IngestOptions::default()).unwrap();
    let progress = UploadProgress::new(checked.size);
    progress.cancel();
    let result = ingest::upload_local(&buckets, "raw", &checked, &progress);
    assert!(matches!(result, Err(IngestError::Cancelled(_))), "{result:?}");
    assert!(buckets.head_object("raw", "clip.mp4").is_err());
    assert!(matches!(ingest::upload_local(&buckets, "absent", &checked, &UploadProgress::new(1)), Err(IngestError::NoSuchBucket(_))));
}

#[test]
fn bad_files_are_refused_before_anything_is_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let options = IngestOptions::default();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "these are not moving pictures").unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, "").unwrap();
    let folder = dir.path().join("clips");
    std::fs::create_dir(&folder).unwrap();
    let msg = |p: &Path| ingest::check_file(p, &options).unwrap_err().to_string();
    assert!(msg(&text).contains("is not a video"), "{}", msg(&text));
    assert!(msg(&empty).contains("is empty"), "{}", msg(&empty));
    assert!(msg(&folder).contains("is a folder"), "{}", msg(&folder));
    assert!(msg(&dir.path().join("missing.mp4")).contains("cannot read"));
    // The allowed types are the user's to change: everything goes when the list is empty.
    let any = IngestOptions { allowed_types: vec![] };
    assert!(ingest::check_file(&text, &any).is_ok());
}

fn ingest_cmd(dir: &Path, files: &[&Path]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["ingest", "--bucket", "stepwise-raw", "--wait", "--state-machine"])
        .arg(crate::repo().join("workflows/video-ingest.asl.json"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("STEPWISE_CONFIG_DIR", dir.join("config"));
    cmd.args(files);
    cmd
}

/// One command on a fresh data directory: the state machine is created from the file, the
/// buckets with it, and the built-in check answers in the same process.
#[test]
fn stepwise_ingest_wait_runs_the_whole_flow_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("holiday.mp4");
    std::fs::write(&clip, sample::mp4(640, 360, 1.5)).unwrap();
    // An MP4 container with no picture in it passes the signature check; the review rejects it.
    let song = dir.path().join("song.mp4");
    std::fs::write(&song, sample::mp4_audio_only(1.0)).unwrap();
    let text = dir.path().join("readme.mp4");
    std::fs::write(&text, "not a video").unwrap();
    let out = ingest_cmd(dir.path(), &[&clip, &song, &text]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "one file was refused: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");

    assert_eq!(lines[0]["key"], "holiday.mp4");
    assert_eq!(lines[0]["status"], "SUCCEEDED", "{}", lines[0]);
    assert_eq!(lines[0]["output"]["review"]["verdict"], "APPROVED");
    assert!(lines[0]["executionArn"].as_str().unwrap().contains(":execution:video-ingest:holiday-"));

    assert_eq!(lines[1]["status"], "FAILED", "{}", lines[1]);
    assert_eq!(lines[1]["error"], "VideoRejected");

    assert!(lines[2]["error"].as_str().unwrap().contains("is not a video"), "{}", lines[2]);
    assert!(lines[2].get("executionArn").is_none());

    let buckets = stepwise::runtime::buckets::LocalBuckets::new(dir.path().join("data/buckets"));
    assert!(buckets.head_object("stepwise-approved", "holiday.mp4").is_ok());
    assert!(buckets.head_object("stepwise-approved", "song.mp4").is_err(), "a rejected video is not copied");
    assert!(buckets.head_object("stepwise-raw", "readme.mp4").is_err(), "a refused file is not uploaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_is_told_who_owns_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _) = open_local_engine(&dir.path().join("data"), 1.0).await.unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, sample::mp4(320, 240, 1.0)).unwrap();
    let out = ingest_cmd(dir.path(), &[&clip]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains(&format!("process {}", std::process::id())), "{message}");
    assert!(message.contains("stepwise serve"), "{message}");
    service.shutdown().await.unwrap();
    // Released: the next process gets it.
    let out = ingest_cmd(dir.path(), &[&clip]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Uploads stream: a big file does not make `stepwise ingest` big.
#[cfg(target_os = "linux")]
#[test]
fn ingesting_a_large_file_keeps_memory_flat() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.mp4");
    let mut f = std::fs::File::create(&big).unwrap();
    f.write_all(&sample::mp4(320, 240, 1.0)).unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..256 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let definition = dir.path().join("pass.asl.json");
    std::fs::write(&definition, r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
    let mut child = Command::new(BIN)
        .args(["ingest", "--bucket", "raw", "--state-machine"])
        .arg(&definition)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(&big)
        .env("STEPWISE_CONFIG_DIR", dir.path().join("config"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["key"], "big.mp4");
    let stored = stepwise::runtime::buckets::LocalBuckets::new(dir.path().join("data/buckets")).head_object("raw", "big.mp4").unwrap();
    assert_eq!(stored.size, std::fs::metadata(&big).unwrap().len());
    assert!(peak_kb > 0, "the peak was read");
    assert!(peak_kb < 100_000, "peak resident memory {peak_kb} kB for a 256 MiB file");
}
