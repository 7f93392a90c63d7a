//! Upload to an S3 endpoint: Stepwise's uploader against `aws s3 cp`, in the same run, on the
//! same file and endpoint, each as a process timed from spawn to exit (both pay their start);
//! and the uploader's peak memory on a 1 GiB file (the bar: under 100 MB resident).
//!
//! Run through `scripts/bench-upload-s3.sh`, which starts LocalStack, creates the bucket,
//! builds `examples/s3_upload.rs` and sets:
//!   STEPWISE_BENCH_S3_ENDPOINT   the endpoint (without it the bench says it is skipped)
//!   STEPWISE_BENCH_UPLOADER      the built example (default: beside this bench's target dir)
//!   STEPWISE_BENCH_AWS           the AWS CLI (default `aws`)
//!   STEPWISE_BENCH_BUCKET        the bucket (default `bench`)
//!   STEPWISE_BENCH_RUNS          timed runs of each, after one warm-up (default 5)
//!   STEPWISE_BENCH_UPLOAD_ARGS   extra arguments for the uploader (`--part-size-mib 16`...)
//!   STEPWISE_BENCH_SKIP_MEMORY=1 skips the 1 GiB run
//! The uploader and the CLI get LocalStack's dummy credentials (test/test) in their environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn main() {
    let Ok(endpoint) = std::env::var("STEPWISE_BENCH_S3_ENDPOINT") else {
        println!("upload_s3: skipped: no S3 endpoint (run scripts/bench-upload-s3.sh)");
        return;
    };
    let uploader = std::env::var_os("STEPWISE_BENCH_UPLOADER").map(PathBuf::from).unwrap_or_else(default_uploader);
    assert!(uploader.is_file(), "{} not found: cargo build --release --example s3_upload", uploader.display());
    let aws = std::env::var("STEPWISE_BENCH_AWS").unwrap_or_else(|_| "aws".into());
    let bucket = std::env::var("STEPWISE_BENCH_BUCKET").unwrap_or_else(|_| "bench".into());
    let runs: usize = std::env::var("STEPWISE_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let extra: Vec<String> =
        std::env::var("STEPWISE_BENCH_UPLOAD_ARGS").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let tools = Tools { endpoint, uploader, aws, bucket, extra };

    let dir = tempfile::tempdir().unwrap();
    let size = 256 * MIB;
    let file = data_file(&dir.path().join("clip.bin"), size);

    // One warm-up each (page cache, LocalStack's first bucket writes), then alternate so that
    // any drift of the endpoint falls on both alike.
    tools.aws_cp(&file, "aws.bin").wait();
    tools.stepwise(&file, "stepwise.bin").wait();
    let (mut aws_times, mut stepwise_times) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        aws_times.push(tools.aws_cp(&file, "aws.bin").wait().elapsed);
        stepwise_times.push(tools.stepwise(&file, "stepwise.bin").wait().elapsed);
    }
    let mbps = |t: Duration| size as f64 / 1e6 / t.as_secs_f64();
    let (aws_median, stepwise_median) = (median(&mut aws_times), median(&mut stepwise_times));
    println!("upload_s3 256 MiB, median of {runs} runs, process spawn to exit:");
    println!("  aws s3 cp:         {:6.1} MB/s ({:.2} s)  runs: {}", mbps(aws_median), aws_median.as_secs_f64(), list(&aws_times));
    println!(
        "  stepwise uploader: {:6.1} MB/s ({:.2} s)  runs: {}",
        mbps(stepwise_median),
        stepwise_median.as_secs_f64(),
        list(&stepwise_times)
    );
    println!("  ratio (stepwise / aws s3 cp): {:.2}x", aws_median.as_secs_f64() / stepwise_median.as_secs_f64());

    if std::env::var("STEPWISE_BENCH_SKIP_MEMORY").is_ok_and(|v| v == "1") || !cfg!(target_os = "linux") {
        return;
    }
    drop(dir);
    let dir = tempfile::tempdir().unwrap();
    let big = data_file(&dir.path().join("big.bin"), 1024 * MIB);
    let run = tools.stepwise(&big, "big.bin").wait();
    println!(
        "upload_s3 1 GiB, stepwise uploader: peak RSS {:.1} MB (bar 100 MB), {:.1} MB/s",
        run.peak_rss as f64 / 1e6,
        1024.0 * MIB as f64 / 1e6 / run.elapsed.as_secs_f64()
    );
    let run = tools.aws_cp(&big, "big-aws.bin").wait();
    println!(
        "upload_s3 1 GiB, aws s3 cp: peak RSS {:.1} MB, {:.1} MB/s",
        run.peak_rss as f64 / 1e6,
        1024.0 * MIB as f64 / 1e6 / run.elapsed.as_secs_f64()
    );
}

/// `target/release/examples/s3_upload`, from this bench's own path (`target/release/deps/`).
fn default_uploader() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("examples").join("s3_upload")
}

struct Tools {
    endpoint: String,
    uploader: PathBuf,
    aws: String,
    bucket: String,
    extra: Vec<String>,
}

impl Tools {
    fn aws_cp(&self, file: &Path, key: &str) -> Running {
        let mut cmd = Command::new(&self.aws);
        cmd.args(["s3", "cp", "--only-show-errors"])
            .arg(file)
            .arg(format!("s3://{}/{key}", self.bucket))
            .args(["--endpoint-url", &self.endpoint]);
        Running::start(cmd)
    }

    fn stepwise(&self, file: &Path, key: &str) -> Running {
        let mut cmd = Command::new(&self.uploader);
        cmd.arg(file).args([&self.bucket, key, "--endpoint-url", &self.endpoint]).args(&self.extra);
        Running::start(cmd)
    }
}

struct Running {
    child: std::process::Child,
    began: Instant,
}

struct Finished {
    elapsed: Duration,
    peak_rss: u64,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        // LocalStack's dummy credentials; the same for both tools.
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::null());
        let began = Instant::now();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Running { child, began }
    }

    /// Waits for the exit, polling the peak resident set (`VmHWM` only grows, so the last
    /// reading before the exit is the peak).
    fn wait(mut self) -> Finished {
        let mut peak_rss = 0;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let elapsed = self.began.elapsed();
                assert!(status.success(), "upload failed: {status}");
                return Finished { elapsed, peak_rss };
            }
            peak_rss = peak_rss.max(vm_hwm(self.child.id()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `size` bytes, none zero and not one repeated block, written (not sparse) and synced.
fn data_file(path: &Path, size: u64) -> PathBuf {
    let mut block = vec![0u8; MIB as usize];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0;
    while written < size {
        for b in block.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x as u8) | 1;
        }
        let n = (size - written).min(MIB) as usize;
        f.write_all(&block[..n]).unwrap();
        written += n as u64;
    }
    f.sync_all().unwrap();
    path.to_owned()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn list(times: &[Duration]) -> String {
    times.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect::<Vec<_>>().join(" ")
}
