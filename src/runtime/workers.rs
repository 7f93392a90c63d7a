//! Local workers: who answers activity tasks when the local engine runs them.
//!
//! A worker profile says, for one activity, how a task is answered: by running a command
//! (the task's input on its stdin, its output from stdout, heartbeats while it runs) or by
//! the built-in video check ([`super::video_check`]). Profiles live in the user's config
//! directory (`workers.json`), never in a workflow file: a definition may come from anyone,
//! and nothing in it can make Stepwise run a command.
//!
//! The same code answers for `stepwise worker`, for `stepwise ingest --wait` and `stepwise
//! run` (the profiles run beside the engine in that process) and for the app.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::buckets::LocalBuckets;
use super::service::{LocalService, ServiceError};
use super::tasks::ActivityTask;
use super::video_check::{self, VideoRules};
use crate::store::ActivityRef;

/// The activity of the video-ingest sample, answered by the built-in check out of the box.
pub const VIDEO_REVIEW_ACTIVITY: &str = "stepwise-video-review";

/// How long one `GetActivityTask` long poll of a local worker lasts before it polls again
/// (short: a stopped worker should not hold a task request open for a minute).
const LOCAL_POLL: Duration = Duration::from_secs(5);

/// One activity and how its tasks are answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerProfile {
    /// The activity's name or ARN.
    pub activity: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(flatten)]
    pub kind: WorkerKind,
}

fn yes() -> bool {
    true
}

/// Read by hand, in the shape the derived `Serialize` writes: serde's `flatten` and tagged
/// enums buffer their input, and with serde_json's `arbitrary_precision` a buffered number no
/// longer reads as an `f64`, so a saved video check's rules (`0.1` seconds) would not load.
impl<'de> Deserialize<'de> for WorkerProfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        let activity = match map.remove("activity") {
            Some(Value::String(a)) => a,
            _ => return Err(D::Error::custom("a worker profile needs \"activity\": the activity's name or ARN")),
        };
        let enabled = match map.remove("enabled") {
            None => yes(),
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(D::Error::custom("\"enabled\" is true or false")),
        };
        let kind = match map.remove("kind").as_ref().and_then(Value::as_str) {
            Some("command") => match map.remove("command") {
                Some(Value::String(command)) => WorkerKind::Command { command },
                _ => return Err(D::Error::custom("a command worker needs \"command\": the command line")),
            },
            Some("videoCheck") => {
                let rules = match map.remove("rules") {
                    None | Some(Value::Null) => VideoRules::default(),
                    Some(v) => serde_json::from_value(v).map_err(D::Error::custom)?,
                };
                WorkerKind::VideoCheck { rules }
            }
            _ => return Err(D::Error::custom("\"kind\" is \"command\" or \"videoCheck\"")),
        };
        Ok(WorkerProfile { activity, enabled, kind })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum WorkerKind {
    /// A command line, split like a shell would (no shell runs).
    Command { command: String },
    /// The built-in check: reads the video's container from the bucket and key in the task
    /// input and approves or rejects it by these rules.
    VideoCheck {
        #[serde(default)]
        rules: VideoRules,
    },
}

/// The worker profiles of this user (`workers.json` in the config directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSettings {
    pub workers: Vec<WorkerProfile>,
}

impl Default for WorkerSettings {
    /// The video-ingest sample's review activity answered by the built-in check, so that a
    /// video dropped on a fresh install runs the whole flow.
    fn default() -> Self {
        WorkerSettings {
            workers: vec![WorkerProfile {
                activity: VIDEO_REVIEW_ACTIVITY.to_owned(),
                enabled: true,
                kind: WorkerKind::VideoCheck { rules: VideoRules::default() },
            }],
        }
    }
}

impl WorkerSettings {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("workers.json")
    }

    /// The saved profiles; the defaults when there is no file yet.
    pub fn load(config_dir: &Path) -> Result<WorkerSettings, String> {
        crate::paths::load_settings(&Self::path(config_dir), "worker settings")
    }

    pub fn save(&self, config_dir: &Path) -> Result<(), String> {
        crate::paths::save_settings(&Self::path(config_dir), self)
    }

    /// The enabled profile for an activity (by name or ARN), if any.
    pub fn for_activity(&self, activity: &str) -> Option<&WorkerProfile> {
        let name = |a: &str| crate::store::activity_name(a).unwrap_or(a).to_owned();
        let wanted = name(activity);
        self.workers.iter().find(|w| w.enabled && name(&w.activity) == wanted)
    }
}

/// What one task came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReport {
    #[serde(skip)]
    pub activity: String,
    pub execution_arn: String,
    /// `SUCCEEDED`, `FAILED`, or `LOST` (the execution no longer took the answer).
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// How a task is answered.
pub enum Answer {
    Success(String),
    Failure { error: String, cause: String },
    /// The execution no longer waits for this task (it timed out or was cancelled).
    Lost(String),
}

/// The last non-empty line of a text.
fn last_line(text: &str) -> &str {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// What one heartbeat came to.
pub enum Beat {
    Sent,
    /// The execution no longer waits for the task: the command is stopped.
    Lost(String),
    /// The heartbeat did not go out (the task goes on; the message is said on stderr).
    Failed(String),
}

async fn run_command(service: &LocalService, argv: &[String], task: &ActivityTask) -> Answer {
    let token = task.task_token.as_str();
    let beat = move || async move {
        match service.send_task_heartbeat(token).await {
            Ok(()) => Beat::Sent,
            Err(e @ (ServiceError::TaskTimedOut(_) | ServiceError::InvalidToken(_))) => Beat::Lost(e.to_string()),
            Err(e) => Beat::Failed(e.to_string()),
        }
    };
    run_command_with(argv, &task.input, task.heartbeat_seconds, beat).await
}

/// Runs a worker command for one task (its input on stdin), sending a heartbeat through
/// `beat` every `heartbeat_every_seconds / 2` while it runs: the same contract for local and
/// AWS tasks.
pub async fn run_command_with<F, Fut>(argv: &[String], input: &str, heartbeat_every_seconds: Option<u64>, mut beat: F) -> Answer
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Beat>,
{
    let failure = |cause: String| Answer::Failure { error: "States.TaskFailed".into(), cause };
    let Some(program) = argv.first() else { return failure("the worker's command line is empty".into()) };
    let spawned = tokio::process::Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return failure(format!("cannot run '{program}': {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.as_bytes().to_vec();
        // A command that does not read its input closes the pipe early: not an error.
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let every = heartbeat_every_seconds.map(|s| Duration::from_millis((s * 1000 / 2).max(100)));
    let output = child.wait_with_output();
    tokio::pin!(output);
    let mut ticker = every.map(|b| tokio::time::interval_at(tokio::time::Instant::now() + b, b));
    let output = loop {
        tokio::select! {
            out = &mut output => match out {
                Ok(o) => break o,
                Err(e) => return failure(format!("'{program}' failed: {e}")),
            },
            _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending::<()>().await } } => {
                match beat().await {
                    Beat::Sent => {}
                    // The execution gave up on the task: stop the command (dropping it kills it).
                    Beat::Lost(why) => return Answer::Lost(why),
                    Beat::Failed(why) => eprintln!("stepwise worker: heartbeat failed: {why}"),
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
            Err(e) => failure(format!("'{program}' printed no JSON on its standard output ({e})")),
        };
    }
    let line = last_line(&stderr);
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line)
        && (m.contains_key("error") || m.contains_key("cause")) {
            let s = |k: &str| m.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default();
            return Answer::Failure { error: s("error"), cause: s("cause") };
        }
    let status = output.status.code().map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
    let cause = if line.is_empty() {
        format!("'{program}' exited with {status}")
    } else {
        format!("'{program}' exited with {status}: {line}")
    };
    failure(cause)
}

/// The bucket and key a video task is about: `{"bucket","key"}` (video-ingest's review
/// input), or an S3 object-created event as ingest starts executions with.
pub fn object_of(input: &Value) -> Option<(String, String)> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let direct = text(input.get("bucket")).zip(text(input.get("key")));
    direct.or_else(|| {
        let detail = input.get("detail")?;
        text(detail.pointer("/bucket/name")).zip(text(detail.pointer("/object/key")))
    })
}

async fn check_video(buckets: &LocalBuckets, rules: &VideoRules, task: &ActivityTask) -> Answer {
    let input: Value = serde_json::from_str(&task.input).unwrap_or(Value::Null);
    let Some((bucket, key)) = object_of(&input) else {
        return Answer::Failure {
            error: "Stepwise.VideoCheckInput".into(),
            cause: "the task input names no video: the built-in check needs {\"bucket\": …, \"key\": …}".into(),
        };
    };
    let (b, r) = (buckets.clone(), rules.clone());
    let checked = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let (meta, file) = b.open_object(&bucket, &key).map_err(|e| e.to_string())?;
        Ok(video_check::review(std::io::BufReader::new(file), meta.size, &r))
    })
    .await;
    match checked {
        Ok(Ok(verdict)) => Answer::Success(verdict.to_string()),
        Ok(Err(cause)) => Answer::Failure { error: "Stepwise.VideoNotFound".into(), cause },
        Err(e) => Answer::Failure { error: "States.TaskFailed".into(), cause: format!("the video check stopped: {e}") },
    }
}

/// Answers one task the way `kind` says, and sends the answer.
pub async fn answer(service: &LocalService, buckets: &LocalBuckets, activity: &str, kind: &WorkerKind, task: &ActivityTask) -> WorkerReport {
    let answer = match kind {
        WorkerKind::Command { command } => match shlex::split(command).filter(|a| !a.is_empty()) {
            Some(argv) => run_command(service, &argv, task).await,
            None => Answer::Failure {
                error: "States.TaskFailed".into(),
                cause: format!("the worker command for '{activity}' is not a valid command line: {command}"),
            },
        },
        WorkerKind::VideoCheck { rules } => check_video(buckets, rules, task).await,
    };
    let (sent, status, error, cause) = match answer {
        Answer::Success(out) => (service.send_task_success(&task.task_token, &out).await, "SUCCEEDED", None, None),
        Answer::Failure { error, cause } => {
            let sent = service.send_task_failure(&task.task_token, &error, &cause).await;
            (sent, "FAILED", Some(error), Some(cause))
        }
        Answer::Lost(why) => (Ok(()), "LOST", None, Some(why)),
    };
    let (status, error, cause) = match sent {
        Ok(()) => (status, error, cause),
        Err(e) => ("LOST", Some(e.code().to_owned()), Some(e.to_string())),
    };
    WorkerReport { activity: activity.to_owned(), execution_arn: task.execution_arn.clone(), status: status.to_owned(), error, cause }
}

/// The ARN of a profile's activity, created locally when missing (a worker may start first).
pub async fn activity_arn(service: &LocalService, activity: &str) -> Result<String, ServiceError> {
    match ActivityRef::parse(activity) {
        ActivityRef::Arn(arn) => {
            service.task_client().ensure_activity(arn).await?;
            Ok(arn.to_owned())
        }
        ActivityRef::Name(name) => service.create_activity(name).await,
    }
}

/// Takes the tasks of one profile's activity and answers them, one at a time, until
/// `limit` tasks were answered (forever when `None`). Each answer is reported.
pub async fn serve(
    service: LocalService,
    buckets: LocalBuckets,
    profile: WorkerProfile,
    worker_name: String,
    limit: Option<usize>,
    reports: tokio::sync::mpsc::UnboundedSender<WorkerReport>,
) -> Result<(), ServiceError> {
    let arn = activity_arn(&service, &profile.activity).await?;
    let mut answered = 0;
    while limit.is_none_or(|l| answered < l) {
        let Some(task) = service.get_activity_task_within(&arn, Some(&worker_name), LOCAL_POLL).await? else { continue };
        let report = answer(&service, &buckets, &profile.activity, &profile.kind, &task).await;
        answered += 1;
        if reports.send(report).is_err() {
            // Nobody listens any more: the process is stopping.
            return Ok(());
        }
    }
    Ok(())
}

/// The local workers running in this process; dropping it stops them (a running command is
/// killed, and its task goes back to waiting for its timeout or another worker).
#[derive(Debug, Default)]
pub struct LocalWorkers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts one worker per enabled profile on the current tokio runtime.
pub fn spawn_local_workers(
    service: LocalService,
    buckets: LocalBuckets,
    profiles: &[WorkerProfile],
    reports: tokio::sync::mpsc::UnboundedSender<WorkerReport>,
) -> LocalWorkers {
    let tasks = profiles
        .iter()
        .filter(|p| p.enabled)
        .map(|p| {
            let (service, buckets, profile, reports) = (service.clone(), buckets.clone(), p.clone(), reports.clone());
            let name = format!("stepwise-local-{}", std::process::id());
            tokio::spawn(async move {
                if let Err(e) = serve(service, buckets, profile.clone(), name, None, reports.clone()).await {
                    let _ = reports.send(WorkerReport {
                        activity: profile.activity.clone(),
                        execution_arn: String::new(),
                        status: "STOPPED".into(),
                        error: Some(e.code().to_owned()),
                        cause: Some(format!("the local worker for '{}' stopped: {e}", profile.activity)),
                    });
                }
            })
        })
        .collect();
    LocalWorkers { tasks }
}

/// Starts the local workers of a command (`stepwise run`, `stepwise ingest --wait`): their
/// answers show in the execution's result; a worker that cannot run is said on stderr.
pub fn spawn_for_command(service: LocalService, buckets: LocalBuckets, profiles: &[WorkerProfile], command: &'static str) -> LocalWorkers {
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel::<WorkerReport>();
    tokio::spawn(async move {
        while let Some(r) = reports.recv().await {
            if r.status == "STOPPED" {
                eprintln!("stepwise {command}: {}", r.cause.unwrap_or_default());
            }
        }
    });
    spawn_local_workers(service, buckets, profiles, tx)
}

/// JSON for a report line (`stepwise worker`, `stepwise ingest`).
pub fn report_json(r: &WorkerReport) -> Value {
    json!({"executionArn": r.execution_arn, "status": r.status, "error": r.error, "cause": r.cause})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_and_default_to_the_built_in_video_check() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = WorkerSettings::load(dir.path()).unwrap();
        assert!(matches!(defaults.for_activity("arn:aws:states:us-east-1:123456789012:activity:stepwise-video-review").map(|p| &p.kind), Some(WorkerKind::VideoCheck { .. })));
        let mine = WorkerSettings {
            workers: vec![WorkerProfile { activity: "echo".into(), enabled: true, kind: WorkerKind::Command { command: "cat".into() } }],
        };
        mine.save(dir.path()).unwrap();
        assert_eq!(WorkerSettings::load(dir.path()).unwrap(), mine);
        std::fs::write(WorkerSettings::path(dir.path()), "{not json").unwrap();
        assert!(WorkerSettings::load(dir.path()).unwrap_err().contains("workers.json"));
    }

    #[test]
    fn a_video_task_names_its_object_directly_or_through_the_s3_event() {
        assert_eq!(object_of(&json!({"bucket": "b", "key": "k"})), Some(("b".into(), "k".into())));
        let event = json!({"detail": {"bucket": {"name": "raw"}, "object": {"key": "v.mp4"}}});
        assert_eq!(object_of(&event), Some(("raw".into(), "v.mp4".into())));
        assert_eq!(object_of(&json!({"size": 1})), None);
    }
}
