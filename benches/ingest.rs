//! Ingest speed and memory: how fast a video file becomes an object in the local raw bucket,
//! against a plain file copy of the same file on the same disk (the floor any upload to a
//! local store has to pay), and the peak memory of `stepwise ingest` on a 1 GiB file.
//!
//! `cargo bench --bench ingest`. The bar for memory: under 100 MB resident for a 1 GiB file
//! (uploads stream; nothing holds the file). The `aws s3 cp` comparison needs an S3 endpoint
//! in front of the local buckets, which `stepwise serve` will provide; until then the ratio
//! is against `std::fs::copy`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stepwise::runtime::buckets::LocalBuckets;
use stepwise::runtime::ingest::{self, IngestOptions, UploadProgress};
use stepwise::runtime::video_check::sample;

const MIB: u64 = 1 << 20;

/// A video file of `size` bytes: a real MP4 at the start (so the signature check passes),
/// then data.
fn video_file(path: &Path, size: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&sample::mp4(320, 240, 1.0)).unwrap();
    // Written, not sparse: reading holes would flatter the upload.
    let chunk = vec![0x5au8; MIB as usize];
    let mut written = f.metadata().unwrap().len();
    while written < size {
        let n = (size - written).min(MIB) as usize;
        f.write_all(&chunk[..n]).unwrap();
        written += n as u64;
    }
    f.sync_all().unwrap();
}

fn upload(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    let size = 256 * MIB;
    video_file(&file, size);
    let buckets = LocalBuckets::new(dir.path().join("buckets"));
    buckets.create_bucket("raw").unwrap();
    let checked = ingest::check_file(&file, &IngestOptions::default()).unwrap();

    let mut group = c.benchmark_group("ingest_256MiB");
    group.throughput(Throughput::Bytes(size));
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("stepwise_upload_local", |b| {
        b.iter(|| ingest::upload_local(&buckets, "raw", &checked, &UploadProgress::new(size)).unwrap())
    });
    let copy = dir.path().join("copy.mp4");
    group.bench_function("fs_copy", |b| {
        b.iter(|| {
            std::fs::copy(&file, &copy).unwrap();
            // The upload syncs its data before committing; so does the copy, to be fair.
            std::fs::File::open(&copy).unwrap().sync_all().unwrap();
        })
    });
    group.finish();
}

/// The highest resident set the process reached (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `stepwise ingest` on a 1 GiB file, in a process of its own: its peak memory.
fn memory(_: &mut Criterion) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.mp4");
    video_file(&file, 1024 * MIB);
    let definition = dir.path().join("pass.asl.json");
    std::fs::write(&definition, r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
    let began = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(["ingest", "--bucket", "raw", "--state-machine"])
        .arg(&definition)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(&file)
        .env("STEPWISE_CONFIG_DIR", dir.path().join("config"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // VmHWM only grows: the last reading before the process ends is its peak.
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = began.elapsed();
    println!(
        "ingest_1GiB/stepwise_ingest_process: peak RSS {:.1} MB (bar 100 MB), {:.2} s, {:.0} MB/s including start-up",
        peak as f64 / 1e6,
        elapsed.as_secs_f64(),
        1024.0 * MIB as f64 / 1e6 / elapsed.as_secs_f64()
    );
}

criterion_group!(benches, upload, memory);
criterion_main!(benches);
