//! Uploads one file to S3 with Stepwise's uploader and exits: what `benches/upload_s3.rs` times
//! against `aws s3 cp`, process start included for both.
//!
//!   s3_upload FILE BUCKET KEY [--endpoint-url URL] [--region R] [--profile P]
//!             [--part-size-mib N] [--concurrency N]
//!
//! Credentials come from the standard AWS chain (for LocalStack: AWS_ACCESS_KEY_ID=test...).
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use stepwise::backend::aws::s3_upload::{self, UploadOptions};
use stepwise::runtime::ingest::UploadProgress;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3_upload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut positional = Vec::new();
    let mut endpoint = None;
    let mut region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).unwrap_or_else(|_| "us-east-1".into());
    let mut profile = None;
    let mut options = UploadOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--endpoint-url" => endpoint = Some(value()?),
            "--region" => region = value()?,
            "--profile" => profile = Some(value()?),
            "--part-size-mib" => options.part_size = value()?.parse::<u64>().map_err(|e| e.to_string())? << 20,
            "--concurrency" => options.concurrency = value()?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
            _ => positional.push(arg),
        }
    }
    let [file, bucket, key] = positional.as_slice() else {
        return Err("usage: s3_upload FILE BUCKET KEY [--endpoint-url URL] [--region R] [--profile P] [--part-size-mib N] [--concurrency N]".into());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let began = Instant::now();
        let client = s3_upload::client_for(endpoint.as_deref(), &region, profile.as_deref()).await.map_err(|e| e.to_string())?;
        let size = std::fs::metadata(file).map_err(|e| format!("{file}: {e}"))?.len();
        let progress = UploadProgress::new(size);
        let stored = s3_upload::upload_file(&client, bucket, key, file.as_ref(), "application/octet-stream", Arc::clone(&progress), options)
            .await
            .map_err(|e| e.to_string())?;
        let secs = began.elapsed().as_secs_f64();
        println!(
            "uploaded {} bytes in {} parts, ETag {}, {secs:.2} s ({:.0} MB/s)",
            stored.size,
            stored.parts,
            stored.etag,
            stored.size as f64 / 1e6 / secs
        );
        Ok(())
    })
}
