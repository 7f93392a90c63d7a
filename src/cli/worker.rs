//! `stepwise worker`: takes the tasks of one activity from the local store and answers each
//! with a command.
//!
//! The command line is split the way a POSIX shell would (`shlex`) and run without a shell.
//! The task's input (JSON) is its standard input; its standard output (one JSON value) is
//! the task's output. A non-zero exit fails the task with `States.TaskFailed` and the last
//! line of standard error as the cause, unless that line is a JSON object
//! `{"error": …, "cause": …}`, which names both. While the command runs, heartbeats go out
//! at half the task's `HeartbeatSeconds`; if the task has timed out meanwhile, the command
//! is killed.
//!
//! Output: one JSON line per task, `{"executionArn","status","error","cause"}`,
//! `status` being `SUCCEEDED`, `FAILED` or `LOST` (the execution no longer took the answer).
//! Exit codes: 0 when it stopped as asked (`--once`), 1 when the store failed, 2 bad usage.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::runtime::service::ServiceError;
use crate::runtime::tasks::{ACTIVITY_POLL, ActivityTask, TaskClient};
use crate::store::ActivityRef;

pub struct WorkerArgs {
    pub activity: String,
    pub command: String,
    pub data_dir: Option<PathBuf>,
    pub once: bool,
    pub name: Option<String>,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("stepwise worker: {msg}");
    ExitCode::from(2)
}

pub fn run(args: WorkerArgs) -> ExitCode {
    let argv = match shlex::split(&args.command) {
        Some(v) if !v.is_empty() => v,
        _ => return usage("--command must be a command line, such as --command 'python3 handler.py'"),
    };
    let dir = match super::data_dir::resolve(args.data_dir.clone()) {
        Ok(d) => d,
        Err(e) => return usage(&e),
    };
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stepwise worker: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(work(&args, &argv, dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServiceError::InvalidName(m) | ServiceError::InvalidArn(m)) => usage(&format!("--activity: {m}")),
        Err(e) => {
            eprintln!("stepwise worker: {e}");
            ExitCode::from(1)
        }
    }
}

async fn work(args: &WorkerArgs, argv: &[String], dir: PathBuf) -> Result<(), ServiceError> {
    let client = TaskClient::open(&dir).await?;
    let activity = ActivityRef::parse(&args.activity);
    match activity {
        ActivityRef::Arn(arn) => client.ensure_activity(arn).await?,
        ActivityRef::Name(name) => {
            client.create_activity(name).await?;
        }
    }
    let worker = args.name.clone().unwrap_or_else(|| format!("stepwise-worker-{}", std::process::id()));
    loop {
        let Some(task) = client.take_activity_task(activity, &worker, ACTIVITY_POLL).await? else { continue };
        let report = answer(&client, argv, &task).await;
        println!("{report}");
        if args.once {
            return Ok(());
        }
    }
}

/// The last non-empty line of a text.
fn last_line(text: &str) -> &str {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// How the command's run turns into the task's answer.
enum Answer {
    Success(String),
    Failure { error: String, cause: String },
    /// The execution no longer waits for this task (it timed out or was cancelled).
    Lost(String),
}

async fn run_command(client: &TaskClient, argv: &[String], task: &ActivityTask) -> Answer {
    let failure = |cause: String| Answer::Failure { error: "States.TaskFailed".into(), cause };
    let spawned = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return failure(format!("cannot run '{}': {e}", argv[0])),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let input = task.input.clone().into_bytes();
        // A command that does not read its input closes the pipe early: not an error.
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let beat = task.heartbeat_seconds.map(|s| Duration::from_millis((s * 1000 / 2).max(100)));
    let output = child.wait_with_output();
    tokio::pin!(output);
    let mut ticker = beat.map(|b| tokio::time::interval_at(tokio::time::Instant::now() + b, b));
    let output = loop {
        tokio::select! {
            out = &mut output => match out {
                Ok(o) => break o,
                Err(e) => return failure(format!("'{}' failed: {e}", argv[0])),
            },
            _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending::<()>().await } } => {
                match client.send_task_heartbeat(&task.task_token).await {
                    Ok(()) => {}
                    // The execution gave up on the task: stop the command (dropping it kills it).
                    Err(e @ (ServiceError::TaskTimedOut(_) | ServiceError::InvalidToken(_))) => return Answer::Lost(e.to_string()),
                    Err(e) => eprintln!("stepwise worker: heartbeat failed: {e}"),
                }
            }
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        let text = stdout.trim();
        return match serde_json::from_str::<Value>(text) {
            Ok(_) => Answer::Success(text.to_owned()),
            Err(e) => failure(format!("'{}' printed no JSON on its standard output ({e})", argv[0])),
        };
    }
    let line = last_line(&stderr);
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) {
        if m.contains_key("error") || m.contains_key("cause") {
            let s = |k: &str| m.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default();
            return Answer::Failure { error: s("error"), cause: s("cause") };
        }
    }
    let status = output.status.code().map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
    let cause = if line.is_empty() {
        format!("'{}' exited with {status}", argv[0])
    } else {
        format!("'{}' exited with {status}: {line}", argv[0])
    };
    failure(cause)
}

/// Runs the command for one task and sends the answer; a JSON line for the report.
async fn answer(client: &TaskClient, argv: &[String], task: &ActivityTask) -> Value {
    let (sent, status, error, cause) = match run_command(client, argv, task).await {
        Answer::Success(out) => (client.send_task_success(&task.task_token, &out).await, "SUCCEEDED", None, None),
        Answer::Failure { error, cause } => {
            let sent = client.send_task_failure(&task.task_token, &error, &cause).await;
            (sent, "FAILED", Some(error), Some(cause))
        }
        Answer::Lost(why) => (Ok(()), "LOST", None, Some(why)),
    };
    let (status, error, cause) = match sent {
        Ok(()) => (status, error, cause),
        Err(e) => ("LOST", Some(e.code().to_owned()), Some(e.to_string())),
    };
    json!({"executionArn": task.execution_arn, "status": status, "error": error, "cause": cause})
}
