//! `stepwise worker`: answers the tasks of one activity, with a command or the built-in video
//! check.
//!
//! On the local engine the worker runs the engine too (a data directory belongs to one
//! process at a time): it takes over the executions whose process is gone, so a task
//! scheduled by an ingest that has exited is answered and its execution goes on here.
//!
//! `--command`: the command line is split the way a POSIX shell would (`shlex`) and run
//! without a shell. The task's input (JSON) is its standard input; its standard output (one
//! JSON value) is the task's output. A non-zero exit fails the task with `States.TaskFailed`
//! and the last line of standard error as the cause, unless that line is a JSON object
//! `{"error": …, "cause": …}`, which names both. While the command runs, heartbeats go out
//! at half the task's `HeartbeatSeconds`; if the task has timed out meanwhile, the command
//! is killed. `--builtin video-check`: reads the video named by the task input's `bucket` and
//! `key` and answers `{"verdict": "APPROVED"|"REJECTED", "reasons": […], "video": {…}}`, by the
//! rules of the user's worker profile for this activity (Settings → Workers), else the
//! defaults.
//!
//! On AWS (`--profile`, `--region`, `--endpoint-url`), the worker long-polls
//! `GetActivityTask` and answers the same way; the video check reads the object from S3.
//! AWS names no execution to a worker, so `executionArn` is empty in its lines, and a
//! command's heartbeats go out every 10 s (AWS does not say the state's HeartbeatSeconds).
//!
//! Output: one JSON line per task, `{"executionArn","status","error","cause"}`,
//! `status` being `SUCCEEDED`, `FAILED` or `LOST` (the execution no longer took the answer).
//! Exit codes: 0 when it stopped as asked (`--once`), 1 when the store failed or another
//! process owns the data directory, 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::backend::aws::{AwsError, AwsSfn, AwsTarget, Connection};
use crate::runtime::service::{ServiceError, open_local_engine};
use crate::runtime::workers::{self, WorkerKind, WorkerProfile, WorkerSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Builtin {
    /// Read the video's container (duration, resolution, codecs) and approve or reject it.
    VideoCheck,
}

pub struct WorkerArgs {
    pub activity: String,
    pub command: Option<String>,
    pub builtin: Option<Builtin>,
    pub data_dir: Option<PathBuf>,
    pub once: bool,
    pub name: Option<String>,
    pub connection: super::connection::ConnectionArgs,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("stepwise worker: {msg}");
    ExitCode::from(2)
}

pub fn run(args: WorkerArgs) -> ExitCode {
    let kind = match (&args.command, args.builtin) {
        (Some(command), None) => match shlex::split(command) {
            Some(v) if !v.is_empty() => WorkerKind::Command { command: command.clone() },
            _ => return usage("--command must be a command line, such as --command 'python3 handler.py'"),
        },
        (None, Some(Builtin::VideoCheck)) => {
            // The rules the user set for this activity's built-in check, if any.
            let rules = WorkerSettings::load(&crate::paths::config_dir())
                .ok()
                .and_then(|s| match s.for_activity(&args.activity).map(|p| p.kind.clone()) {
                    Some(WorkerKind::VideoCheck { rules }) => Some(rules),
                    _ => None,
                })
                .unwrap_or_default();
            WorkerKind::VideoCheck { rules }
        }
        _ => return usage("give either --command 'CMD ARGS' or --builtin video-check"),
    };
    if let Err(e) = crate::runtime::service::check_name(crate::store::activity_name(&args.activity).unwrap_or(&args.activity)) {
        return usage(&format!("--activity: {e}"));
    }
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stepwise worker: {e}");
            return ExitCode::from(1);
        }
    };
    let profile = WorkerProfile { activity: args.activity.clone(), enabled: true, kind };
    if let Connection::Aws(target) = args.connection.connection() {
        return match rt.block_on(work_aws(&args, profile, &target)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(AwsError::NoRegion) => usage(&AwsError::NoRegion.to_string()),
            Err(e) => {
                eprintln!("stepwise worker: {e}");
                ExitCode::from(1)
            }
        };
    }
    let dir = match super::data_dir::resolve(args.data_dir.clone()) {
        Ok(d) => d,
        Err(e) => return usage(&e),
    };
    match rt.block_on(work(&args, profile, dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServiceError::InvalidName(m) | ServiceError::InvalidArn(m)) => usage(&format!("--activity: {m}")),
        Err(e) => {
            eprintln!("stepwise worker: {e}");
            ExitCode::from(1)
        }
    }
}

async fn work(args: &WorkerArgs, profile: WorkerProfile, dir: PathBuf) -> Result<(), ServiceError> {
    let (service, buckets) = open_local_engine(&dir, 1.0).await?;
    // Executions whose process has gone are driven here, so their tasks reach this worker
    // and its answers reach them.
    for (arn, result) in service.resume_executions().await? {
        if let crate::runtime::service::ResumeResult::Failed(why) = result {
            eprintln!("stepwise worker: could not take over {arn}: {why}");
        }
    }
    let worker = args.name.clone().unwrap_or_else(|| format!("stepwise-worker-{}", std::process::id()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let limit = args.once.then_some(1);
    let serving = tokio::spawn(workers::serve(service.clone(), buckets, profile, worker, limit, tx));
    while let Some(report) = rx.recv().await {
        println!("{}", workers::report_json(&report));
    }
    let served = serving.await.map_err(|_| ServiceError::Stopped)?;
    // The answer is a stored message: if the execution has not taken it yet, whoever runs the
    // engine next feeds it. Give this engine a moment to do so first.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    service.shutdown().await?;
    served
}

async fn work_aws(args: &WorkerArgs, profile: WorkerProfile, target: &AwsTarget) -> Result<(), AwsError> {
    let sfn = AwsSfn::connect(target).await?;
    let worker = args.name.clone().unwrap_or_else(|| format!("stepwise-worker-{}", std::process::id()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let limit = args.once.then_some(1);
    let serving = tokio::spawn(crate::backend::aws::worker::serve(sfn, profile, worker, limit, tx));
    while let Some(report) = rx.recv().await {
        println!("{}", workers::report_json(&report));
    }
    serving.await.map_err(|e| AwsError::Other { action: "the worker".into(), detail: e.to_string() })?
}
