//! `stepwise resume`: takes over the running executions of a data directory whose process
//! is gone, drives each until it ends or waits only on workers, and prints one JSON line per
//! running execution: `{"executionArn","status","output","error","cause"}`.
//!
//! An execution a live process drives is left alone (its line says which process). One
//! that cannot be rebuilt from its journal is left as stored, with the error
//! `Stepwise.ResumeFailed`. Exit codes: 0 when every execution could be looked after, 1
//! when one could not be rebuilt or the store failed, 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::runtime::resolver::MockResolver;
use crate::runtime::service::{LocalService, Progress, ResumeResult, ServiceConfig, ServiceError};

pub struct ResumeArgs {
    pub data_dir: Option<PathBuf>,
    pub time_scale: f64,
}

pub fn run(args: ResumeArgs) -> ExitCode {
    if !(args.time_scale >= 0.0 && args.time_scale.is_finite()) {
        eprintln!("stepwise resume: --time-scale must be 0 or more");
        return ExitCode::from(2);
    }
    let dir = match super::data_dir::resolve(args.data_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("stepwise resume: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stepwise resume: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(resume(dir, args.time_scale)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stepwise resume: {e}");
            ExitCode::from(1)
        }
    }
}

fn line(arn: &str, status: &str, output: Option<Value>, error: Option<String>, cause: Option<String>) -> Value {
    json!({"executionArn": arn, "status": status, "output": output, "error": error, "cause": cause})
}

/// `Ok(false)` when an execution could not be rebuilt.
async fn resume(dir: PathBuf, time_scale: f64) -> Result<bool, ServiceError> {
    let buckets = crate::runtime::buckets::LocalBuckets::new(dir.join("buckets"));
    let service = LocalService::open(ServiceConfig {
        data_dir: dir,
        time_scale,
        resolver: Arc::new(MockResolver::new().with_buckets(buckets)),
    })
    .await?;
    let mut all_ok = true;
    for (arn, result) in service.resume_executions().await? {
        let out = match result {
            ResumeResult::Resumed { .. } | ResumeResult::AlreadyDriven => {
                let d = service.wait_for_execution(&arn, true).await?;
                let cause = match (d.status.as_str(), service.progress(&arn).await?) {
                    ("RUNNING", Progress::WaitingOnWorkers(states)) => {
                        let list: Vec<String> = states.iter().map(|(s, r)| format!("{s} ({r})")).collect();
                        Some(format!("waiting for workers or callbacks on: {}", list.join(", ")))
                    }
                    ("RUNNING", Progress::NotDriven { lost: Some(why) }) => {
                        all_ok = false;
                        Some(why)
                    }
                    _ => d.cause,
                };
                line(&arn, &d.status, d.output, d.error, cause)
            }
            ResumeResult::OwnedBy { pid } => line(&arn, "RUNNING", None, None, Some(format!("driven by process {pid}"))),
            ResumeResult::Failed(why) => {
                all_ok = false;
                line(&arn, "RUNNING", None, Some("Stepwise.ResumeFailed".into()), Some(why))
            }
        };
        println!("{out}");
    }
    service.shutdown().await?;
    Ok(all_ok)
}
