//! `AwsBackend`: the Run views' backend on an AWS account (or an AWS-compatible endpoint such
//! as `stepwise serve` or LocalStack), answering the same [`Command`]s with the same
//! [`Update`]s as the local engine, so the views work unchanged.
//!
//! AWS pushes nothing, so this backend polls, and polls sparingly: each thing it keeps fresh
//! (the watched history, the executions list with the pending tasks built from it, the listed
//! buckets) has its own [`Pace`] — quick while something changes, slower while nothing does,
//! slower still while calls fail. A failure never ends the loop or drops what was read: the
//! history cursor only moves on a successful page, so when the endpoint answers again the
//! watch goes on from the last event shown and no event is shown twice or lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backend::Out;
use crate::backend::uploads::UploadQueue;
use tokio::sync::mpsc::UnboundedReceiver;

use super::connection::{AwsTarget, ConnectionSettings};
use super::deploy::{DeployError, DeployRequest, deploy};
use super::error::{AwsError, classify};
use super::sfn::{AwsSfn, HistoryCursor, StateMachineSettings, token_prefix};
use crate::backend::{
    Backend, Command, ExecutionDescription, ObjectMeta, PendingTask, TakenTask, Update, Waker, WorkerSettings,
    event_id, event_type,
};
use crate::runtime::ingest::IngestOptions;

/// How often the loop looks whether something is due; the paces decide what is.
const TICK: Duration = Duration::from_millis(200);
/// The worker name the window takes tasks under (AWS shows it in `ActivityStarted`).
const WINDOW_WORKER: &str = "stepwise-window";
/// A running execution's history is read this often while events come...
const WATCH_FAST: Duration = Duration::from_secs(1);
/// ...and at most this rarely while it is idle (a long wait for a reviewer).
const WATCH_IDLE: Duration = Duration::from_secs(10);
const LIST_FAST: Duration = Duration::from_secs(3);
const LIST_IDLE: Duration = Duration::from_secs(15);
const BUCKETS_FAST: Duration = Duration::from_secs(5);
const BUCKETS_IDLE: Duration = Duration::from_secs(30);
/// After a failed call the next try waits this long, doubling up to [`FAULT_MAX`].
const FAULT_FIRST: Duration = Duration::from_secs(2);
const FAULT_MAX: Duration = Duration::from_secs(30);
/// AWS never lists activity tasks nor shows their tokens in a history, so a pending row is
/// named by this prefix, its execution and its `ActivityScheduled` event id; the real token
/// comes from `GetActivityTask` when the task is taken.
const PENDING_PREFIX: &str = "aws-pending:";

/// Histories of running executions read at once for the pending tasks: enough to hide AWS's
/// round trip, few enough to stay clear of its GetExecutionHistory throttling.
const PENDING_READS_AT_ONCE: usize = 6;

pub struct AwsBackend;

impl AwsBackend {
    /// Starts the backend's thread; the first update says whether AWS answers.
    pub fn start(target: AwsTarget, config_dir: PathBuf, waker: Waker) -> Backend {
        crate::backend::spawn_backend("stepwise-aws-backend", "the AWS connection", waker, move |rx, out| serve(target, config_dir, rx, out))
    }
}


/// When one thing is next read, and how long to wait after that.
#[derive(Debug, Clone)]
struct Pace {
    next: Instant,
    pause: Duration,
    fast: Duration,
    idle: Duration,
}

impl Pace {
    fn new(fast: Duration, idle: Duration) -> Pace {
        Pace { next: Instant::now(), pause: fast, fast, idle }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Something changed here or was asked for: read at once.
    fn now(&mut self) {
        self.pause = self.fast;
        self.next = Instant::now();
    }

    fn changed(&mut self) {
        self.pause = self.fast;
        self.next = Instant::now() + self.pause;
    }

    fn quiet(&mut self) {
        self.pause = (self.pause * 3 / 2).clamp(self.fast, self.idle);
        self.next = Instant::now() + self.pause;
    }

    fn failed(&mut self) {
        self.pause = (self.pause * 2).clamp(FAULT_FIRST, FAULT_MAX);
        self.next = Instant::now() + self.pause;
    }
}

/// The execution on show.
struct Watch {
    arn: String,
    cursor: HistoryCursor,
    execution: Option<ExecutionDescription>,
    /// `Update::History` has gone out; later events go as `Update::Events`.
    shown: bool,
    /// The end event was read (or the execution had ended when first described).
    ended: bool,
    /// Ended and every event handed out: nothing more to read until a redrive.
    done: bool,
    pace: Pace,
}

/// The open activity tasks of one running execution, read from its history.
#[derive(Default)]
struct PendingScan {
    cursor: HistoryCursor,
    /// `TaskStateEntered` ids → state names (an `ActivityScheduled` follows its state's entry).
    states: HashMap<u64, String>,
    /// `ActivityStarted` ids → the `ActivityScheduled` they started.
    started: HashMap<u64, u64>,
    /// Open tasks by their `ActivityScheduled` id.
    open: BTreeMap<u64, PendingTask>,
}

struct Serving {
    sfn: AwsSfn,
    account: Option<String>,
    config_dir: PathBuf,
    out: Out,
    watched: Option<Watch>,
    /// The executions list the views asked for last (`Some(None)`: all of them).
    listing: Option<Option<String>>,
    list_pace: Pace,
    /// (ARN, status) of the list last sent, to send only changes.
    list_sent: Option<Vec<(String, String)>>,
    /// Running executions of the listed state machine, whose histories give pending tasks.
    scans: HashMap<String, PendingScan>,
    pending_sent: Option<Vec<(String, String)>>,
    pending: Vec<PendingTask>,
    listed: BTreeSet<String>,
    bucket_pace: Pace,
    /// The last failure while calls fail; `None` while they work.
    failing: Option<String>,
    uploads: UploadQueue,
}

fn is_execution_end(kind: &str) -> bool {
    matches!(kind, "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut")
}

/// Failures that waiting (or a fresh login) can cure, as opposed to a refused request.
fn is_fault(e: &AwsError) -> bool {
    matches!(e, AwsError::Unreachable { .. } | AwsError::Throttled { .. } | AwsError::Credentials { .. } | AwsError::AccessDenied { .. } | AwsError::Other { .. })
}

/// An error's words with any task token cut to its start: AWS may quote the token it refused.
fn without_token(text: &str, token: &str) -> String {
    if token.len() < 8 { text.to_owned() } else { text.replace(token, &token_prefix(token)) }
}

async fn serve(target: AwsTarget, config_dir: PathBuf, mut rx: UnboundedReceiver<Command>, out: Out) {
    let sfn = match AwsSfn::connect(&target).await {
        Ok(s) => s,
        Err(e) => {
            out.send(Update::Unavailable(format!("Cannot connect to AWS ({}): {e}.", target.label())));
            return;
        }
    };
    let identity = sfn.clients.identity().await;
    if identity.is_none() {
        // STS may be missing (an AWS-compatible endpoint) or the credentials bad: one Step
        // Functions call tells which, so a dead endpoint or an expired login is said at once.
        if let Err(e) = sfn.list_state_machines().await {
            if matches!(e, AwsError::Unreachable { .. } | AwsError::Credentials { .. }) {
                out.send(Update::Unavailable(sentence(&e.to_string())));
                return;
            }
            out.notice(format!("Connected, but {e}."), true);
        }
    }
    let account = identity.as_ref().map(|i| i.account.clone());
    out.send(Update::Connected { label: format!("AWS · {}", sfn.clients.label(identity.as_ref())) });
    let mut s = Serving {
        sfn,
        account,
        config_dir,
        out: out.clone(),
        watched: None,
        listing: None,
        list_pace: Pace::new(LIST_FAST, LIST_IDLE),
        list_sent: None,
        scans: HashMap::new(),
        pending_sent: None,
        pending: Vec::new(),
        listed: BTreeSet::new(),
        bucket_pace: Pace::new(BUCKETS_FAST, BUCKETS_IDLE),
        failing: None,
        uploads: UploadQueue::new(out.clone()),
    };
    s.send_settings();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(c) => s.handle(c).await,
                None => break,
            },
            _ = tick.tick() => s.tick().await,
        }
    }
    // Cancelled uploads abort their multipart uploads, so S3 keeps no parts of them.
    s.uploads.cancel_running();
}

impl Serving {
    /// A call worked: if calls were failing, say once that they work again.
    fn success(&mut self) {
        if self.failing.take().is_some() {
            self.out.notice(format!("Connection back: {} answers again.", self.sfn.clients.place()), false);
        }
    }

    /// A call failed: say so (once per distinct trouble, not on every retry) when it is the
    /// kind that polling again can get past.
    fn fault(&mut self, what: &str, e: &AwsError) {
        if !is_fault(e) {
            self.out.notice(format!("{what}: {e}"), true);
            return;
        }
        let text = format!("{what}: {e}. Stepwise keeps what it has read and tries again.");
        if self.failing.as_deref() != Some(text.as_str()) {
            self.out.notice(text.clone(), true);
        }
        self.failing = Some(text);
    }

    fn send_settings(&self) {
        match WorkerSettings::load(&self.config_dir) {
            Ok(s) => self.out.send(Update::WorkerProfiles(s.workers)),
            Err(e) => self.out.notice(e, true),
        }
        match IngestOptions::load(&self.config_dir) {
            Ok(o) => self.out.send(Update::IngestTypes(o.allowed_types)),
            Err(e) => self.out.notice(e, true),
        }
    }

    async fn tick(&mut self) {
        self.poll_watch().await;
        if self.listing.is_some() && self.list_pace.due() {
            self.refresh_list().await;
        }
        if !self.listed.is_empty() && self.bucket_pace.due() {
            let mut changed = false;
            for b in self.listed.clone() {
                changed |= self.list_bucket(&b).await;
            }
            if changed { self.bucket_pace.changed() } else { self.bucket_pace.quiet() }
        }
    }

    async fn handle(&mut self, command: Command) {
        if let Command::SendSuccess { token, .. } | Command::SendFailure { token, .. } | Command::Heartbeat { token } = &command
            && token.starts_with(PENDING_PREFIX) {
                // A row the window did not take: its real token is with the worker that did.
                return self.out.notice(
                    "AWS gives a task's token only to the worker that took it: this window can answer only the tasks it took itself (Take).",
                    true,
                );
            }
        match command {
            Command::ListExecutions { state_machine_arn } => {
                if self.listing.as_ref() != Some(&state_machine_arn) {
                    self.scans.clear();
                }
                self.listing = Some(state_machine_arn);
                self.list_sent = None;
                self.list_pace.now();
                self.refresh_list().await;
            }
            Command::Watch(arn) => self.watch(arn).await,
            Command::Stop(arn) => {
                match self.sfn.stop_execution(&arn, None, Some("Stopped from the Stepwise window.")).await {
                    Ok(()) => {
                        self.success();
                        self.out.notice("Stopped the execution.", false);
                    }
                    Err(e) => self.fault("Could not stop the execution", &e),
                }
                self.refresh_soon(&arn);
            }
            Command::StartAgain(arn) => self.start_again(&arn).await,
            Command::Redrive(arn) => self.redrive(&arn).await,
            Command::Start { name, definition, input } => self.start(&name, &definition, &input).await,
            Command::ExportHistory { arn, path } => self.export_history(&arn, &path).await,
            Command::ListPending => {
                self.pending_sent = None;
                self.list_pace.now();
            }
            Command::TakeTask { token } => self.take_task(&token),
            Command::SendSuccess { token, output } => {
                let r = self.sfn.send_task_success(&token, &output).await;
                self.answered(token, r, "Sent success");
            }
            Command::SendFailure { token, error, cause } => {
                let r = self.sfn.send_task_failure(&token, &error, &cause).await;
                self.answered(token, r, "Sent failure");
            }
            Command::Heartbeat { token } => match self.sfn.send_task_heartbeat(&token).await {
                Ok(()) => self.out.notice("Heartbeat sent: the task's heartbeat timeout starts again.", false),
                Err(e) => self.out.notice(without_token(&format!("Could not send the heartbeat: {e}"), &token), true),
            },
            Command::Deploy { name, definition } => {
                if let Ok(arn) = self.deploy(&name, &definition).await {
                    self.out.notice(format!("Deployed {name} to {}.", self.sfn.clients.place()), false);
                    self.out.send(Update::Deployed { name, arn });
                }
            }
            Command::Ingest { paths, bucket, name, definition } => self.ingest(paths, bucket, name, definition).await,
            Command::CancelUpload(id) => self.uploads.cancel(id),
            Command::ListBucket(bucket) => {
                self.listed.insert(bucket.clone());
                self.list_bucket(&bucket).await;
            }
            Command::DeleteObject { bucket, key } => {
                match self.sfn.clients.s3.delete_object().bucket(&bucket).key(&key).send().await {
                    Ok(_) => self.out.notice(format!("Deleted s3://{bucket}/{key}."), false),
                    Err(e) => {
                        let e = self.s3_error("DeleteObject", e);
                        self.out.notice(format!("Could not delete s3://{bucket}/{key}: {e}"), true);
                    }
                }
                self.list_bucket(&bucket).await;
            }
            Command::RevealObject { bucket, key } => self.reveal(&bucket, &key).await,
            Command::SetWorkerProfiles(profiles) => {
                match (WorkerSettings { workers: profiles.clone() }).save(&self.config_dir) {
                    Ok(()) => self.out.notice(
                        "Saved the worker profiles. On AWS the window runs no workers: run `stepwise worker` with the same connection to answer tasks.",
                        false,
                    ),
                    Err(e) => self.out.notice(format!("Could not save the worker profiles: {e}"), true),
                }
                self.out.send(Update::WorkerProfiles(profiles));
            }
            Command::SetIngestTypes(types) => {
                match (IngestOptions { allowed_types: types }).save(&self.config_dir) {
                    Ok(()) => self.out.notice("Saved the accepted upload types.", false),
                    Err(e) => self.out.notice(format!("Could not save the accepted upload types: {e}"), true),
                }
                self.send_settings();
            }
            Command::Deployment(cmd) => {
                for u in crate::backend::deploy_ops::on_aws(&self.sfn, cmd).await {
                    self.out.send(u);
                }
                self.list_pace.now();
            }
        }
    }

    /// After a change to an execution: its list entry, and its history when it is on show.
    fn refresh_soon(&mut self, arn: &str) {
        self.list_pace.now();
        if let Some(w) = self.watched.as_mut().filter(|w| w.arn == arn) {
            w.pace.now();
        }
    }

    // ---- the watched execution ----

    async fn watch(&mut self, arn: Option<String>) {
        self.watched = arn.map(|arn| Watch {
            cursor: HistoryCursor::new(&arn),
            arn,
            execution: None,
            shown: false,
            ended: false,
            done: false,
            pace: Pace::new(WATCH_FAST, WATCH_IDLE),
        });
        self.poll_watch().await;
    }

    async fn poll_watch(&mut self) {
        let Some(mut w) = self.watched.take() else { return };
        if !w.done && w.pace.due() {
            self.read_watched(&mut w).await;
        }
        // A Watch command cannot arrive meanwhile: commands and polls share this loop.
        self.watched = Some(w);
    }

    async fn read_watched(&mut self, w: &mut Watch) {
        if w.execution.is_none() {
            match self.sfn.describe_execution(&w.arn).await {
                Ok(d) => {
                    w.ended = d.status != "RUNNING" && d.status != "PENDING_REDRIVE";
                    w.execution = Some(d);
                }
                Err(e @ AwsError::NotFound { .. }) => {
                    w.done = true;
                    return self.out.notice(format!("Cannot show the execution: {e}"), true);
                }
                Err(e) => {
                    w.pace.failed();
                    return self.fault("Cannot read the execution", &e);
                }
            }
        }
        let events = match w.cursor.poll(&self.sfn).await {
            Ok(events) => events,
            Err(e) => {
                w.pace.failed();
                return self.fault("Cannot read the execution's history", &e);
            }
        };
        self.success();
        let count = events.len();
        let ended_now = events.iter().any(|e| is_execution_end(event_type(e)));
        let ended_by_redrive = events.iter().any(|e| event_type(e) == "ExecutionRedriven");
        if ended_by_redrive && !ended_now {
            w.ended = false;
        }
        if !w.shown {
            if let Some(execution) = w.execution.clone() {
                w.shown = true;
                self.out.send(Update::History { execution, events });
            }
        } else if count > 0 {
            self.out.send(Update::Events { arn: w.arn.clone(), events });
        }
        if ended_now || ended_by_redrive {
            // The description carries the output or error the end event has.
            match self.sfn.describe_execution(&w.arn).await {
                Ok(d) => {
                    w.execution = Some(d.clone());
                    self.out.send(Update::Execution(d));
                }
                Err(e) => self.fault("Cannot read the execution", &e),
            }
            w.ended |= ended_now;
            self.list_pace.now();
        }
        if w.ended && count == 0 {
            w.done = true;
        } else if count >= 1000 {
            // A long history is still being read page by page: go on at once.
            w.pace.now();
        } else if count > 0 {
            w.pace.changed();
        } else {
            w.pace.quiet();
        }
    }

    // ---- executions and the pending tasks built from them ----

    async fn refresh_list(&mut self) {
        let Some(machine) = self.listing.clone() else { return };
        let listed = match &machine {
            Some(arn) => self.sfn.list_executions(arn, None).await,
            None => self.list_all().await,
        };
        let executions = match listed {
            Ok(x) => x,
            Err(e) => {
                self.list_pace.failed();
                return self.fault("Could not list executions", &e);
            }
        };
        self.success();
        let sig: Vec<(String, String)> = executions.iter().map(|e| (e.execution_arn.clone(), e.status.clone())).collect();
        let mut changed = self.list_sent.as_ref() != Some(&sig);
        let running: Vec<String> = if machine.is_some() {
            executions.iter().filter(|e| e.status == "RUNNING").map(|e| e.execution_arn.clone()).collect()
        } else {
            Vec::new()
        };
        if changed {
            self.list_sent = Some(sig);
            self.out.send(Update::Executions { state_machine_arn: machine, executions });
        }
        changed |= self.scan_pending(&running).await;
        if changed { self.list_pace.changed() } else { self.list_pace.quiet() }
    }

    /// AWS lists executions per state machine: "all" is every state machine's, merged.
    async fn list_all(&self) -> Result<Vec<ExecutionDescription>, AwsError> {
        let mut all = Vec::new();
        for m in self.sfn.list_state_machines().await? {
            all.extend(self.sfn.list_executions(&m.state_machine_arn, None).await?);
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.start_date));
        Ok(all)
    }

    /// Reads the new events of each running execution into its open tasks; sends the
    /// pending list when it changed. Answers whether it did.
    async fn scan_pending(&mut self, running: &[String]) -> bool {
        use futures_util::StreamExt;
        // Executions no longer running drop out; each running one reads its new events, a
        // few at once (AWS lists no activity tasks: a history read per execution is the cost).
        let mut scans = std::mem::take(&mut self.scans);
        let sfn = &self.sfn;
        let reads = running.iter().map(|arn| {
            let mut scan = scans.remove(arn).unwrap_or_else(|| PendingScan { cursor: HistoryCursor::new(arn), ..PendingScan::default() });
            async move {
                let read = scan.cursor.poll(sfn).await.map(|events| {
                    for e in &events {
                        scan.read(arn, e);
                    }
                });
                (arn.clone(), scan, read)
            }
        });
        let done: Vec<_> = futures_util::stream::iter(reads).buffer_unordered(PENDING_READS_AT_ONCE).collect().await;
        let mut failure = None;
        for (arn, scan, read) in done {
            // What was read stays, failed or not: the next refresh goes on from there.
            if let Err(e) = read {
                failure.get_or_insert(e);
            }
            self.scans.insert(arn, scan);
        }
        if let Some(e) = failure {
            self.list_pace.failed();
            self.fault("Could not read the pending tasks", &e);
        }
        let mut rows: Vec<PendingTask> = self.scans.values().flat_map(|s| s.open.values().cloned()).collect();
        rows.sort_by(|a, b| a.scheduled_ms.cmp(&b.scheduled_ms).then_with(|| a.token.cmp(&b.token)));
        let sig: Vec<(String, String)> = rows.iter().map(|t| (t.token.clone(), t.status.clone())).collect();
        self.pending = rows.clone();
        if self.pending_sent.as_ref() == Some(&sig) {
            return false;
        }
        self.pending_sent = Some(sig);
        self.out.send(Update::Pending(rows));
        true
    }

    fn take_task(&mut self, token: &str) {
        let Some(row) = self.pending.iter().find(|t| t.token == token).cloned() else {
            return self.out.notice("That task is no longer waiting: the list is being refreshed.", true);
        };
        if row.status != "scheduled" {
            return self.out.notice(format!("A worker ({}) already took that task.", row.worker.as_deref().unwrap_or("unknown")), true);
        }
        let Some(activity) = row.activity_arn.clone() else { return };
        let (sfn, out, rows) = (self.sfn.clone(), self.out.clone(), self.pending.clone());
        self.out.notice(format!("Asking {} for a task of {}…", sfn.clients.place(), row.activity_name.as_deref().unwrap_or("the activity")), false);
        // GetActivityTask may hold its answer up to a minute: the loop must not wait for it.
        tokio::spawn(async move {
            match sfn.get_activity_task(&activity, Some(WINDOW_WORKER)).await {
                Ok(Some(task)) => {
                    let same_input = |r: &PendingTask| json_equal(&r.input, &task.input);
                    // AWS hands out the activity's oldest task, not a chosen one: find which.
                    let given = if same_input(&row) {
                        Some(row.clone())
                    } else {
                        rows.iter().find(|r| r.activity_arn.as_deref() == Some(activity.as_str()) && r.status == "scheduled" && same_input(r)).cloned()
                    };
                    if given.as_ref().is_none_or(|g| g.token != row.token) {
                        let which = given.as_ref().map_or_else(|| "another execution's".to_owned(), |g| format!("{}'s", short_name(&g.execution_arn)));
                        out.notice(
                            format!("AWS hands out an activity's oldest task, not a chosen one: this is {which} task, not {}'s.", short_name(&row.execution_arn)),
                            false,
                        );
                    }
                    out.send(Update::Taken(TakenTask {
                        token: task.task_token,
                        execution_arn: given.as_ref().map(|g| g.execution_arn.clone()).unwrap_or_default(),
                        input: task.input,
                        heartbeat_seconds: given.and_then(|g| g.heartbeat_seconds),
                    }));
                }
                Ok(None) => out.notice("No task of this activity was waiting any more: another worker took it first.", true),
                Err(e) => out.notice(format!("Could not take the task: {e}"), true),
            }
        });
        self.list_pace.now();
    }

    fn answered(&mut self, token: String, result: Result<(), AwsError>, what: &str) {
        match result {
            Ok(()) => {
                self.success();
                self.out.notice(format!("{what}; the execution goes on."), false);
                self.out.send(Update::TaskClosed { token });
            }
            Err(e) if matches!(e.code(), Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")) => {
                self.out.notice(without_token(&format!("The task can no longer be answered: {e}"), &token), true);
                self.out.send(Update::TaskClosed { token });
            }
            Err(e) => self.out.notice(without_token(&format!("Could not answer the task: {e}"), &token), true),
        }
        self.list_pace.now();
        if let Some(w) = self.watched.as_mut() {
            w.pace.now();
        }
    }

    // ---- starting, stopping, redriving ----

    /// Creates the state machine or updates it, with the role from the connection settings.
    async fn deploy(&mut self, name: &str, definition: &str) -> Result<String, ()> {
        let role_arn = match ConnectionSettings::load(&self.config_dir) {
            Ok(s) => s.role_arn.filter(|r| !r.trim().is_empty()),
            Err(e) => {
                self.out.notice(e, true);
                None
            }
        };
        let settings = StateMachineSettings { name: name.to_owned(), role_arn, ..StateMachineSettings::default() };
        match deploy(&self.sfn, DeployRequest { settings, definition: definition.to_owned() }).await {
            Ok(report) => {
                self.success();
                Ok(report.state_machine_arn)
            }
            Err(DeployError::Invalid(diagnostics)) => {
                let lines: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).take(3).map(|d| format!("{} {}", d.location, d.message)).collect();
                self.out.notice(format!("Cannot deploy {name}: {}", lines.join("; ")), true);
                Err(())
            }
            Err(DeployError::MissingRole) => {
                self.out.notice(
                    format!("Cannot deploy {name}: on AWS a new state machine needs the IAM role its executions run as. Set the execution role ARN in the toolbar's connection window (Connect to AWS…)."),
                    true,
                );
                Err(())
            }
            Err(DeployError::Aws(e)) => {
                self.fault(&format!("Cannot deploy {name}"), &e);
                Err(())
            }
        }
    }

    async fn start(&mut self, name: &str, definition: &str, input: &str) {
        let input: Value = match serde_json::from_str(input) {
            Ok(v) => v,
            Err(e) => return self.out.notice(format!("The input is not JSON: {e}"), true),
        };
        let Ok(arn) = self.deploy(name, definition).await else { return };
        self.out.send(Update::Deployed { name: name.to_owned(), arn: arn.clone() });
        match self.sfn.start_execution(&arn, None, &input).await {
            Ok(started) => {
                self.out.notice(format!("Started {name}."), false);
                self.list_pace.now();
                self.watch(Some(started.execution_arn)).await;
            }
            Err(e) => self.fault(&format!("Cannot start {name}"), &e),
        }
    }

    async fn start_again(&mut self, arn: &str) {
        let d = match self.sfn.describe_execution(arn).await {
            Ok(d) => d,
            Err(e) => return self.fault("Cannot start again", &e),
        };
        match self.sfn.start_execution(&d.state_machine_arn, None, &d.input).await {
            Ok(started) => {
                self.out.notice("Started the state machine again with the same input.", false);
                self.list_pace.now();
                self.watch(Some(started.execution_arn)).await;
            }
            Err(e) => self.fault("Cannot start again", &e),
        }
    }

    async fn redrive(&mut self, arn: &str) {
        match self.sfn.redrive_execution(arn).await {
            Ok(_) => {
                self.success();
                self.out.notice("Redriven: the execution goes on from the state that stopped it.", false);
                if let Some(w) = self.watched.as_mut().filter(|w| w.arn == arn) {
                    w.done = false;
                    w.ended = false;
                }
                self.refresh_soon(arn);
            }
            Err(e) => self.fault("Cannot redrive the execution", &e),
        }
    }

    async fn export_history(&mut self, arn: &str, path: &Path) {
        let mut cursor = HistoryCursor::new(arn);
        let mut events = Vec::new();
        loop {
            match cursor.poll(&self.sfn).await {
                Ok(more) if more.is_empty() => break,
                Ok(more) => events.extend(more),
                Err(e) => return self.fault("Cannot export the history", &e),
            }
        }
        let count = events.len();
        let written = serde_json::to_vec_pretty(&Value::Array(events))
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::atomic_file::write_atomic(path, &bytes).map_err(|e| e.to_string()));
        match written {
            Ok(()) => self.out.notice(format!("Exported {count} events to {}.", path.display()), false),
            Err(e) => self.out.notice(format!("Cannot write {}: {e}", path.display()), true),
        }
    }

    // ---- uploads ----

    async fn ingest(&mut self, paths: Vec<PathBuf>, bucket: String, name: String, definition: String) {
        let Ok(machine_arn) = self.deploy(&name, &definition).await else {
            return self.uploads.refuse_all(&paths, &format!("The workflow could not be deployed as {name}; the status line says why."));
        };
        self.out.send(Update::Deployed { name: name.clone(), arn: machine_arn.clone() });
        let options = self.uploads.options(&self.config_dir);
        let (sfn, account) = (self.sfn.clone(), self.account.clone());
        self.uploads.enqueue(paths, &options, |file, progress| {
            let (sfn, account, bucket, machine_arn) = (sfn.clone(), account.clone(), bucket.clone(), machine_arn.clone());
            async move { super::ingest::ingest_file(&sfn, account.as_deref(), &bucket, &machine_arn, file, progress).await }
        });
        self.list_pace.now();
        self.bucket_pace.now();
    }

    // ---- buckets ----

    fn s3_error<E>(&self, action: &str, e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match classify(action, &self.sfn.clients.place(), self.sfn.clients.target.profile.as_deref(), e) {
            AwsError::AccessDenied { message, .. } => {
                format!("access denied to s3:{action} ({message}); the identity in use needs that permission (IAM policy)")
            }
            AwsError::NotFound { .. } => format!("no such bucket or object in {}", self.sfn.clients.place()),
            other => other.to_string(),
        }
    }

    /// Lists a bucket (all pages) and sends it; answers whether it could.
    async fn list_bucket(&mut self, bucket: &str) -> bool {
        let mut pages = self.sfn.clients.s3.list_objects_v2().bucket(bucket).into_paginator().send();
        let mut objects = Vec::new();
        let mut error = None;
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => objects.extend(page.contents().iter().map(|o| {
                    let modified = o.last_modified().and_then(|t| t.to_millis().ok()).unwrap_or(0);
                    ObjectMeta::listed(o.key().unwrap_or_default().to_owned(), o.size().unwrap_or(0).max(0) as u64, o.e_tag().unwrap_or_default().to_owned(), modified)
                })),
                Err(e) => {
                    error = Some(format!("Cannot list {bucket}: {}", self.s3_error("ListBucket", e)));
                    break;
                }
            }
        }
        let ok = error.is_none();
        if error.is_some() {
            objects.clear();
        }
        self.out.send(Update::Bucket { bucket: bucket.to_owned(), objects, error });
        ok
    }

    async fn reveal(&self, bucket: &str, key: &str) {
        let copied: Result<PathBuf, String> = async {
            let got = self.sfn.clients.s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| self.s3_error("GetObject", e))?;
            let dir = std::env::temp_dir().join("stepwise-objects").join(bucket);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            // The key's last segment keeps the extension, so a player opens the copy.
            let name = key.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("object");
            let path = dir.join(name);
            let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            let mut body = got.body;
            while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
                std::io::Write::write_all(&mut file, &chunk).map_err(|e| e.to_string())?;
            }
            Ok(path)
        }
        .await;
        match copied {
            Ok(path) => self.out.send(Update::Revealed { path }),
            Err(e) => self.out.notice(format!("Cannot copy s3://{bucket}/{key} out: {e}"), true),
        }
    }
}

impl PendingScan {
    /// One history event of the execution `arn`.
    fn read(&mut self, arn: &str, e: &Value) {
        let id = event_id(e);
        let previous = e.get("previousEventId").and_then(Value::as_u64).unwrap_or(0);
        let ms = e.get("timestamp").and_then(Value::as_f64).map_or(0, |s| (s * 1000.0) as i64);
        match event_type(e) {
            "TaskStateEntered" => {
                if let Some(name) = e.pointer("/stateEnteredEventDetails/name").and_then(Value::as_str) {
                    self.states.insert(id, name.to_owned());
                }
            }
            "ActivityScheduled" => {
                let d = e.get("activityScheduledEventDetails").cloned().unwrap_or(Value::Null);
                let resource = d.get("resource").and_then(Value::as_str).unwrap_or("").to_owned();
                self.open.insert(
                    id,
                    PendingTask {
                        token: format!("{PENDING_PREFIX}{arn}#{id}"),
                        kind: "activity".into(),
                        activity_arn: Some(resource.clone()),
                        activity_name: resource.rsplit(':').next().map(str::to_owned),
                        execution_arn: arn.to_owned(),
                        state_name: self.states.get(&previous).cloned().unwrap_or_default(),
                        resource,
                        input: d.get("input").and_then(Value::as_str).unwrap_or("{}").to_owned(),
                        status: "scheduled".into(),
                        worker: None,
                        scheduled_ms: ms,
                        started_ms: None,
                        heartbeat_ms: None,
                        timeout_seconds: d.get("timeoutInSeconds").and_then(Value::as_u64),
                        heartbeat_seconds: d.get("heartbeatInSeconds").and_then(Value::as_u64),
                    },
                );
            }
            "ActivityStarted" => {
                self.started.insert(id, previous);
                if let Some(t) = self.open.get_mut(&previous) {
                    t.status = "started".into();
                    t.started_ms = Some(ms);
                    t.worker = e.pointer("/activityStartedEventDetails/workerName").and_then(Value::as_str).map(str::to_owned);
                }
            }
            "ActivitySucceeded" | "ActivityFailed" | "ActivityTimedOut" => {
                let scheduled = self.started.get(&previous).copied().unwrap_or(previous);
                self.open.remove(&scheduled);
            }
            kind if is_execution_end(kind) => self.open.clear(),
            _ => {}
        }
    }
}

/// "cannot reach …" as a sentence: capital first, full stop last.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    format!("{first}{}.", chars.as_str().trim_end_matches('.'))
}

fn short_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Whether two JSON texts hold the same value (AWS may re-serialise an input).
fn json_equal(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_tasks_follow_the_history_of_their_execution() {
        let mut scan = PendingScan::default();
        let arn = "arn:aws:states:us-east-1:0:execution:m:e1";
        let events = [
            json!({"id": 2, "previousEventId": 0, "type": "TaskStateEntered", "timestamp": 1.0, "stateEnteredEventDetails": {"name": "Review"}}),
            json!({"id": 3, "previousEventId": 2, "type": "ActivityScheduled", "timestamp": 2.0,
                   "activityScheduledEventDetails": {"resource": "arn:aws:states:us-east-1:0:activity:review", "input": "{\"a\":1}", "heartbeatInSeconds": 30}}),
        ];
        for e in &events {
            scan.read(arn, e);
        }
        let t = scan.open.get(&3).unwrap();
        assert_eq!((t.state_name.as_str(), t.status.as_str(), t.activity_name.as_deref(), t.heartbeat_seconds), ("Review", "scheduled", Some("review"), Some(30)));
        assert!(t.token.starts_with(PENDING_PREFIX));
        scan.read(arn, &json!({"id": 4, "previousEventId": 3, "type": "ActivityStarted", "timestamp": 3.0, "activityStartedEventDetails": {"workerName": "w1"}}));
        assert_eq!(scan.open.get(&3).unwrap().worker.as_deref(), Some("w1"));
        scan.read(arn, &json!({"id": 5, "previousEventId": 4, "type": "ActivitySucceeded", "timestamp": 4.0}));
        assert!(scan.open.is_empty());
    }

    #[test]
    fn paces_speed_up_on_change_and_back_off_on_failure() {
        let mut p = Pace::new(Duration::from_secs(1), Duration::from_secs(10));
        for _ in 0..20 {
            p.quiet();
        }
        assert_eq!(p.pause, Duration::from_secs(10));
        p.changed();
        assert_eq!(p.pause, Duration::from_secs(1));
        for _ in 0..20 {
            p.failed();
        }
        assert_eq!(p.pause, FAULT_MAX);
    }

    #[test]
    fn tokens_in_error_words_are_cut_short() {
        let token = "AAAAKgAAAAIAAAAAAAAAAsecretpart";
        let text = without_token(&format!("InvalidToken: '{token}'"), token);
        assert!(!text.contains("secretpart"), "{text}");
    }
}
