//! Answering an AWS activity's tasks with the same worker kinds as the local engine: a
//! command (input on stdin, output from stdout) or the built-in video check.
//!
//! Differences from a local worker, all because of what `GetActivityTask` tells: AWS gives
//! neither the execution nor the state's `HeartbeatSeconds`, so reports carry no execution
//! ARN and a running command sends a heartbeat every [`HEARTBEAT_EVERY`] (harmless for a
//! state without a heartbeat timeout). The video is not on this machine: the check reads it
//! from S3 into a temporary file, deleted when the check ends.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::error::AwsError;
use super::sfn::{AwsActivityTask, AwsSfn};
use crate::runtime::video_check::{self, VideoRules};
use crate::runtime::workers::{Answer, Beat, WorkerKind, WorkerProfile, WorkerReport, object_of, run_command_with};

/// Seconds between heartbeats of a running command: short enough for the usual
/// HeartbeatSeconds (tens of seconds or more), a handful of calls per minute.
pub const HEARTBEAT_EVERY: u64 = 10;

/// The ARN of a profile's activity (created when missing, as a local worker does).
pub async fn activity_arn(sfn: &AwsSfn, activity: &str) -> Result<String, AwsError> {
    match crate::store::activity_name(activity) {
        Some(_) => Ok(activity.to_owned()),
        None => sfn.create_activity(activity).await,
    }
}

/// Reads `s3://bucket/key` into a temporary file and runs the video check on it.
async fn check_video(sfn: &AwsSfn, rules: &VideoRules, task: &AwsActivityTask) -> Answer {
    let input: Value = serde_json::from_str(&task.input).unwrap_or(Value::Null);
    let Some((bucket, key)) = object_of(&input) else {
        return Answer::Failure {
            error: "Stepwise.VideoCheckInput".into(),
            cause: "the task input names no video: the built-in check needs {\"bucket\": …, \"key\": …}".into(),
        };
    };
    let not_found = |cause: String| Answer::Failure { error: "Stepwise.VideoNotFound".into(), cause };
    let object = match sfn.clients.s3.get_object().bucket(&bucket).key(&key).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = super::error::classify("s3:GetObject", &sfn.clients.place(), sfn.clients.target.profile.as_deref(), e);
            return not_found(format!("cannot read s3://{bucket}/{key}: {e}"));
        }
    };
    let mut file = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return Answer::Failure { error: "States.TaskFailed".into(), cause: format!("no temporary file for the video: {e}") },
    };
    let mut body = object.body;
    let mut size = 0u64;
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                size += chunk.len() as u64;
                if let Err(e) = file.write_all(&chunk) {
                    return Answer::Failure { error: "States.TaskFailed".into(), cause: format!("cannot write the video to a temporary file: {e}") };
                }
            }
            Ok(None) => break,
            Err(e) => return not_found(format!("reading s3://{bucket}/{key} stopped: {e}")),
        }
    }
    let rules = rules.clone();
    let checked = tokio::task::spawn_blocking(move || {
        use std::io::Seek;
        file.rewind().map_err(|e| e.to_string())?;
        Ok::<Value, String>(video_check::review(std::io::BufReader::new(file), size, &rules))
    })
    .await;
    match checked {
        Ok(Ok(verdict)) => Answer::Success(verdict.to_string()),
        Ok(Err(cause)) => Answer::Failure { error: "States.TaskFailed".into(), cause },
        Err(e) => Answer::Failure { error: "States.TaskFailed".into(), cause: format!("the video check stopped: {e}") },
    }
}

/// Answers one AWS task the way `kind` says, and sends the answer.
pub async fn answer(sfn: &AwsSfn, activity: &str, kind: &WorkerKind, task: &AwsActivityTask) -> WorkerReport {
    let answer = match kind {
        WorkerKind::Command { command } => match shlex::split(command).filter(|a| !a.is_empty()) {
            Some(argv) => {
                let token = task.task_token.as_str();
                let beat = move || async move {
                    match sfn.send_task_heartbeat(token).await {
                        Ok(()) => Beat::Sent,
                        Err(e) if matches!(e.code(), Some("TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist")) => Beat::Lost(e.to_string()),
                        Err(e) => Beat::Failed(e.to_string()),
                    }
                };
                run_command_with(&argv, &task.input, Some(HEARTBEAT_EVERY * 2), beat).await
            }
            None => Answer::Failure {
                error: "States.TaskFailed".into(),
                cause: format!("the worker command for '{activity}' is not a valid command line: {command}"),
            },
        },
        WorkerKind::VideoCheck { rules } => check_video(sfn, rules, task).await,
    };
    let (sent, status, error, cause) = match answer {
        Answer::Success(out) => (sfn.send_task_success(&task.task_token, &out).await, "SUCCEEDED", None, None),
        Answer::Failure { error, cause } => {
            let sent = sfn.send_task_failure(&task.task_token, &error, &cause).await;
            (sent, "FAILED", Some(error), Some(cause))
        }
        Answer::Lost(why) => (Ok(()), "LOST", None, Some(why)),
    };
    let (status, error, cause) = match sent {
        Ok(()) => (status, error, cause),
        Err(e) => ("LOST", Some(e.code().unwrap_or("ServiceException").to_owned()), Some(e.to_string())),
    };
    WorkerReport { activity: activity.to_owned(), execution_arn: String::new(), status: status.to_owned(), error, cause }
}

/// Polls the profile's activity on AWS and answers its tasks one at a time, until `limit`
/// tasks were answered (forever when `None`). A failed poll (network, throttling) is said on
/// `errors` and retried after a pause; an access or credentials problem ends the loop.
pub async fn serve(
    sfn: AwsSfn,
    profile: WorkerProfile,
    worker_name: String,
    limit: Option<usize>,
    reports: tokio::sync::mpsc::UnboundedSender<WorkerReport>,
) -> Result<(), AwsError> {
    let arn = activity_arn(&sfn, &profile.activity).await?;
    let mut answered = 0;
    let mut pause = Duration::from_secs(1);
    while limit.is_none_or(|l| answered < l) {
        let task = match sfn.get_activity_task(&arn, Some(&worker_name)).await {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e @ (AwsError::Credentials { .. } | AwsError::AccessDenied { .. } | AwsError::NotFound { .. } | AwsError::NoRegion)) => return Err(e),
            Err(e) => {
                eprintln!("stepwise worker: {e}; polling again in {} s", pause.as_secs());
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        pause = Duration::from_secs(1);
        let report = answer(&sfn, &profile.activity, &profile.kind, &task).await;
        answered += 1;
        if reports.send(report).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
