//! The local backend: the engine and store of this machine (`LocalService`) and its buckets,
//! served on a thread of its own with a tokio runtime.
//!
//! One loop owns everything: it answers commands in order, and listens to the service's live
//! events, which it pushes to the views at once for the watched execution. Lists that events
//! change (executions, pending tasks, listed buckets) are marked stale by the events and
//! refreshed on the next tick (every 100 ms at most), so a burst of events costs one query.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::backend::Out;
use crate::backend::uploads::UploadQueue;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Backend, Command, TakenTask, Update, Waker, WorkerSettings, event_id, event_type};
use crate::engine::MachineType;
use crate::runtime::buckets::{ListQuery, LocalBuckets};
use crate::runtime::ingest::{self, IngestOptions};
use crate::runtime::service::{LiveEvent, LocalService, ServiceError, StartExecution, open_local_engine};
use crate::runtime::workers::{LocalWorkers, WorkerReport, spawn_local_workers};

/// Stale lists are refreshed at most this often.
const TICK: Duration = Duration::from_millis(100);
/// The worker name the window claims tasks under.
const WINDOW_WORKER: &str = "stepwise-window";

pub struct LocalBackend;

impl LocalBackend {
    /// Starts the backend's thread; the first update says whether the engine opened.
    pub fn start(data_dir: PathBuf, config_dir: PathBuf, waker: Waker) -> Backend {
        super::spawn_backend("stepwise-backend", "the local engine", waker, move |rx, out| serve(data_dir, config_dir, rx, out))
    }
}


/// What the loop remembers between commands.
struct Serving {
    service: LocalService,
    buckets: LocalBuckets,
    config_dir: PathBuf,
    out: Out,
    /// The watched execution and the id of the last event sent for it.
    watched: Option<(String, u64)>,
    /// The executions list the views asked for last (`Some(None)`: all of them).
    listing: Option<Option<String>>,
    /// Buckets the views have listed; kept fresh.
    listed: BTreeSet<String>,
    stale_executions: bool,
    stale_pending: bool,
    stale_buckets: bool,
    uploads: UploadQueue,
    /// The workers the profiles ask for, in this process (dropped to stop them).
    workers: LocalWorkers,
    reports: tokio::sync::mpsc::UnboundedSender<WorkerReport>,
}

async fn serve(data_dir: PathBuf, config_dir: PathBuf, mut rx: UnboundedReceiver<Command>, out: Out) {
    let (service, buckets) = match open_local_engine(&data_dir, 1.0).await {
        Ok(opened) => opened,
        Err(e) => {
            out.send(Update::Unavailable(open_failure(&data_dir, &e)));
            return;
        }
    };
    // Subscribed before anything runs, so no event of a resumed execution is missed.
    let mut live = service.subscribe();
    out.send(Update::Connected { label: format!("Local engine · {}", data_dir.display()) });
    match service.resume_executions().await {
        Ok(results) => {
            let failed = results.iter().filter(|(_, r)| matches!(r, crate::runtime::service::ResumeResult::Failed(_))).count();
            if failed > 0 {
                out.notice(format!("{failed} running executions could not be resumed; their histories say why."), true);
            }
        }
        Err(e) => out.notice(format!("Could not resume running executions: {e}"), true),
    }
    let (reports, mut worker_reports) = tokio::sync::mpsc::unbounded_channel();
    let mut s = Serving {
        service,
        buckets,
        config_dir,
        out: out.clone(),
        watched: None,
        listing: None,
        listed: BTreeSet::new(),
        stale_executions: false,
        stale_pending: true,
        stale_buckets: false,
        uploads: UploadQueue::new(out.clone()),
        workers: LocalWorkers::default(),
        reports,
    };
    s.restart_workers();
    s.send_ingest_types();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(c) => s.handle(c).await,
                None => break,
            },
            event = live.recv() => match event {
                Ok(e) => {
                    let mut batch = vec![e];
                    // Whatever else has arrived goes out in the same update.
                    while let Ok(more) = live.try_recv() {
                        batch.push(more);
                    }
                    s.on_events(batch);
                }
                Err(RecvError::Lagged(_)) => {
                    // Events were dropped: send the watched history whole again.
                    s.stale_executions = true;
                    s.stale_pending = true;
                    if let Some((arn, _)) = s.watched.clone() {
                        s.watch(Some(arn)).await;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            Some(report) = worker_reports.recv() => s.on_worker_report(report),
            _ = tick.tick() => s.refresh().await,
        }
    }
    // Uploads stop at their next read: the runtime waits for its blocking threads when it
    // is dropped, and closing the window must not wait for a large file to finish.
    s.uploads.cancel_running();
    // Workers first: they hold tasks of executions the engine is about to release.
    drop(std::mem::take(&mut s.workers));
    let _ = s.service.shutdown().await;
}

fn open_failure(data_dir: &Path, e: &ServiceError) -> String {
    match e {
        // The runtime's message names the owner and what to do.
        ServiceError::DataDirInUse(who) => who.clone(),
        ServiceError::Store(_) => format!(
            "Cannot open the local engine's store in {}: {e}. Check that the folder exists and is writable, or set STEPWISE_DATA_DIR to another folder.",
            data_dir.display()
        ),
        _ => format!(
            "The local engine could not start on {}: {e}. If another Stepwise window or `stepwise` command uses this data directory, close it or set STEPWISE_DATA_DIR to another folder.",
            data_dir.display()
        ),
    }
}

fn is_execution_end(kind: &str) -> bool {
    matches!(kind, "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut")
}

impl Serving {
    fn on_events(&mut self, batch: Vec<LiveEvent>) {
        let mut mine = Vec::new();
        let mut ended = false;
        for e in batch {
            let kind = event_type(&e.event);
            // A redrive changes the execution's status back to RUNNING, like a start.
            let reopened = kind == "ExecutionRedriven";
            if kind == "ExecutionStarted" || reopened || is_execution_end(kind) {
                self.stale_executions = true;
            }
            if kind.starts_with("Activity") || is_execution_end(kind) {
                self.stale_pending = true;
            }
            // Copies and deletes by S3 tasks, and uploads, change the buckets on show.
            if kind == "TaskSucceeded" || is_execution_end(kind) {
                self.stale_buckets = true;
            }
            if let Some((arn, last)) = self.watched.as_mut() {
                let id = event_id(&e.event);
                if *arn == *e.execution_arn && id > *last {
                    *last = id;
                    ended |= is_execution_end(kind) || reopened;
                    mine.push(e.event);
                }
            }
        }
        if let (Some((arn, _)), false) = (&self.watched, mine.is_empty()) {
            self.out.send(Update::Events { arn: arn.clone(), events: mine });
            if ended {
                // The description carries the output or error the end event has.
                self.stale_executions = true;
                let (service, out, arn) = (self.service.clone(), self.out.clone(), arn.clone());
                tokio::spawn(async move {
                    if let Ok(d) = service.describe_execution(&arn).await {
                        out.send(Update::Execution(d));
                    }
                });
            }
        }
    }

    async fn refresh(&mut self) {
        if self.stale_executions {
            self.stale_executions = false;
            if let Some(m) = self.listing.clone() {
                self.list_executions(m).await;
            }
        }
        if self.stale_pending {
            self.stale_pending = false;
            self.list_pending().await;
        }
        if self.stale_buckets {
            self.stale_buckets = false;
            for b in self.listed.clone() {
                self.list_bucket(&b).await;
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::ListExecutions { state_machine_arn } => {
                self.listing = Some(state_machine_arn.clone());
                self.list_executions(state_machine_arn).await;
            }
            Command::Watch(arn) => self.watch(arn).await,
            Command::Stop(arn) => match self.service.stop_execution(&arn, None, Some("Stopped from the Stepwise window.".into())).await {
                Ok(()) => self.out.notice("Stopped the execution.", false),
                Err(e) => self.out.notice(format!("Could not stop the execution: {e}"), true),
            },
            Command::StartAgain(arn) => self.start_again(&arn).await,
            Command::Redrive(arn) => match self.service.redrive_execution(&arn).await {
                Ok(_) => self.out.notice("Redriven: the execution goes on from the state that stopped it.", false),
                Err(e) => self.out.notice(format!("Could not redrive the execution: {e}"), true),
            },
            Command::Start { name, definition, input } => self.start(&name, &definition, &input).await,
            Command::ExportHistory { arn, path } => self.export_history(&arn, &path).await,
            Command::ListPending => self.list_pending().await,
            Command::TakeTask { token } => self.take_task(&token).await,
            Command::SendSuccess { token, output } => {
                let r = self.service.send_task_success(&token, &output).await;
                self.answered(token, r, "Sent success");
            }
            Command::SendFailure { token, error, cause } => {
                let r = self.service.send_task_failure(&token, &error, &cause).await;
                self.answered(token, r, "Sent failure");
            }
            Command::Heartbeat { token } => match self.service.send_task_heartbeat(&token).await {
                Ok(()) => self.out.notice("Heartbeat sent: the task's heartbeat timeout starts again.", false),
                Err(e) => self.out.notice(format!("Could not send the heartbeat: {e}"), true),
            },
            Command::Deploy { name, definition } => {
                if let Ok(arn) = self.deploy(&name, &definition).await {
                    self.out.notice(format!("Deployed {name} to the local engine."), false);
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
                let (b, k, buckets) = (bucket.clone(), key.clone(), self.buckets.clone());
                match tokio::task::spawn_blocking(move || buckets.delete_object(&b, &k)).await {
                    Ok(Ok(_)) => self.out.notice(format!("Deleted s3://{bucket}/{key}."), false),
                    Ok(Err(e)) => self.out.notice(format!("Could not delete s3://{bucket}/{key}: {e}"), true),
                    Err(e) => self.out.notice(format!("Could not delete s3://{bucket}/{key}: {e}"), true),
                }
                self.list_bucket(&bucket).await;
            }
            Command::RevealObject { bucket, key } => self.reveal(&bucket, &key).await,
            Command::SetWorkerProfiles(profiles) => {
                let settings = WorkerSettings { workers: profiles };
                match settings.save(&self.config_dir) {
                    Ok(()) => self.out.notice("Saved the worker profiles; the local workers follow them now.", false),
                    Err(e) => self.out.notice(format!("Could not save the worker profiles: {e}"), true),
                }
                self.restart_workers();
            }
            Command::SetIngestTypes(types) => {
                let options = IngestOptions { allowed_types: types };
                match options.save(&self.config_dir) {
                    Ok(()) => self.out.notice("Saved the accepted upload types.", false),
                    Err(e) => self.out.notice(format!("Could not save the accepted upload types: {e}"), true),
                }
                self.send_ingest_types();
            }
            Command::Deployment(cmd) => {
                for u in super::deploy_ops::on_local(&self.service, cmd).await {
                    self.out.send(u);
                }
            }
        }
    }

    fn send_ingest_types(&self) {
        match IngestOptions::load(&self.config_dir) {
            Ok(o) => self.out.send(Update::IngestTypes(o.allowed_types)),
            Err(e) => self.out.notice(e, true),
        }
    }

    /// Reads the saved profiles and runs the workers they enable (replacing the old ones).
    fn restart_workers(&mut self) {
        let settings = match WorkerSettings::load(&self.config_dir) {
            Ok(s) => s,
            Err(e) => {
                // A damaged file may hold someone's commands: no worker runs until it is fixed.
                self.out.notice(format!("No local workers run: {e}"), true);
                self.workers = LocalWorkers::default();
                return;
            }
        };
        self.workers = LocalWorkers::default();
        self.workers = spawn_local_workers(self.service.clone(), self.buckets.clone(), &settings.workers, self.reports.clone());
        self.out.send(Update::WorkerProfiles(settings.workers));
    }

    fn on_worker_report(&mut self, r: WorkerReport) {
        let execution = r.execution_arn.rsplit(':').next().unwrap_or("");
        let why = [r.error.as_deref(), r.cause.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": ");
        match r.status.as_str() {
            "SUCCEEDED" => self.out.notice(format!("The local worker for {} answered {execution}.", r.activity), false),
            "STOPPED" => self.out.notice(why, true),
            other => self.out.notice(format!("The local worker for {} reported {other} for {execution}: {why}", r.activity), other != "LOST"),
        }
        self.stale_pending = true;
    }

    async fn list_executions(&self, state_machine_arn: Option<String>) {
        match self.service.list_executions(state_machine_arn.as_deref(), None).await {
            Ok(executions) => self.out.send(Update::Executions { state_machine_arn, executions }),
            Err(e) => self.out.notice(format!("Could not list executions: {e}"), true),
        }
    }

    async fn watch(&mut self, arn: Option<String>) {
        let Some(arn) = arn else {
            self.watched = None;
            return;
        };
        let described = self.service.describe_execution(&arn).await;
        let history = self.service.full_history(&arn).await;
        match (described, history) {
            (Ok(execution), Ok(events)) => {
                let last = events.last().map_or(0, event_id);
                self.watched = Some((arn, last));
                self.out.send(Update::History { execution, events });
            }
            (Err(e), _) | (_, Err(e)) => {
                self.watched = None;
                self.out.notice(format!("Cannot show the execution: {e}"), true);
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
        match self.service.start_execution(StartExecution { state_machine_arn: arn, input, ..Default::default() }).await {
            Ok(started) => {
                self.out.notice(format!("Started {name}."), false);
                self.stale_executions = true;
                self.watch(Some(started.execution_arn)).await;
            }
            Err(e) => self.out.notice(format!("Cannot start {name}: {e}"), true),
        }
    }

    async fn start_again(&mut self, arn: &str) {
        let d = match self.service.describe_execution(arn).await {
            Ok(d) => d,
            Err(e) => return self.out.notice(format!("Cannot start again: {e}"), true),
        };
        let request = StartExecution { state_machine_arn: d.state_machine_arn, input: d.input, ..Default::default() };
        match self.service.start_execution(request).await {
            Ok(started) => {
                self.out.notice("Started the state machine again with the same input.", false);
                self.stale_executions = true;
                self.watch(Some(started.execution_arn)).await;
            }
            Err(e) => self.out.notice(format!("Cannot start again: {e}"), true),
        }
    }

    async fn export_history(&self, arn: &str, path: &Path) {
        let events = match self.service.full_history(arn).await {
            Ok(e) => e,
            Err(e) => return self.out.notice(format!("Cannot export the history: {e}"), true),
        };
        let count = events.len();
        let written = serde_json::to_vec_pretty(&Value::Array(events))
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::atomic_file::write_atomic(path, &bytes).map_err(|e| e.to_string()));
        match written {
            Ok(()) => self.out.notice(format!("Exported {count} events to {}.", path.display()), false),
            Err(e) => self.out.notice(format!("Cannot write {}: {e}", path.display()), true),
        }
    }

    async fn list_pending(&mut self) {
        match self.service.pending_tasks().await {
            Ok(tasks) => self.out.send(Update::Pending(tasks)),
            Err(e) => self.out.notice(format!("Could not list pending tasks: {e}"), true),
        }
    }

    async fn take_task(&mut self, token: &str) {
        match self.service.take_task(token, WINDOW_WORKER).await {
            Ok(task) => {
                self.stale_pending = true;
                self.out.send(Update::Taken(TakenTask {
                    token: task.task_token,
                    execution_arn: task.execution_arn,
                    input: task.input,
                    heartbeat_seconds: task.heartbeat_seconds,
                }));
            }
            Err(e) => {
                self.stale_pending = true;
                self.out.notice(format!("Could not take the task: {e}"), true);
            }
        }
    }

    fn answered(&mut self, token: String, result: Result<(), ServiceError>, what: &str) {
        match result {
            Ok(()) => {
                self.out.notice(format!("{what}; the execution goes on."), false);
                self.out.send(Update::TaskClosed { token });
            }
            Err(e @ (ServiceError::InvalidToken(_) | ServiceError::TaskTimedOut(_))) => {
                self.out.notice(format!("The task can no longer be answered: {e}"), true);
                self.out.send(Update::TaskClosed { token });
            }
            Err(e) => self.out.notice(format!("Could not answer the task: {e}"), true),
        }
        self.stale_pending = true;
    }

    /// Creates the state machine, or updates it when one of that name exists.
    async fn deploy(&self, name: &str, definition: &str) -> Result<String, ()> {
        self.service.deploy_state_machine(name, definition, MachineType::Standard).await.map_err(|e| {
            self.out.notice(format!("Cannot deploy {name}: {e}"), true);
        })
    }

    async fn ingest(&mut self, paths: Vec<PathBuf>, bucket: String, name: String, definition: String) {
        let Ok(machine_arn) = self.deploy(&name, &definition).await else {
            return self.uploads.refuse_all(&paths, &format!("The workflow could not be deployed as {name}; fix its problems in Design first."));
        };
        self.out.send(Update::Deployed { name: name.clone(), arn: machine_arn.clone() });
        let root: Value = crate::asl::parse_bytes(definition.as_bytes(), None).0.root;
        if let Err(e) = ingest::ensure_buckets(&self.buckets, &root, &[bucket.as_str()]) {
            return self.uploads.refuse_all(&paths, &format!("The bucket {bucket} cannot be created: {e}"));
        }
        let options = self.uploads.options(&self.config_dir);
        let (service, buckets) = (self.service.clone(), self.buckets.clone());
        self.uploads.enqueue(paths, &options, |file, progress| {
            let (service, buckets, bucket, machine_arn) = (service.clone(), buckets.clone(), bucket.clone(), machine_arn.clone());
            async move { ingest::ingest_local(&service, &buckets, &bucket, &machine_arn, file, progress).await }
        });
        self.stale_buckets = true;
    }

    async fn list_bucket(&self, bucket: &str) {
        if !self.buckets.bucket_exists(bucket) {
            let error = Some("Not created yet: an upload, or a workflow's S3 task, creates it.".to_owned());
            return self.out.send(Update::Bucket { bucket: bucket.to_owned(), objects: Vec::new(), error });
        }
        let (b, buckets) = (bucket.to_owned(), self.buckets.clone());
        let listed = tokio::task::spawn_blocking(move || {
            let mut objects = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let query = ListQuery { prefix: "", delimiter: None, start_after: after.as_deref(), max_keys: 1000 };
                let page = buckets.list_objects(&b, &query)?;
                objects.extend(page.objects);
                match page.next_after.filter(|_| page.is_truncated) {
                    Some(next) => after = Some(next),
                    None => return Ok(objects),
                }
            }
        })
        .await;
        let (objects, error) = match listed {
            Ok(Ok(o)) => (o, None),
            Ok(Err(e)) => (Vec::new(), Some(bucket_error(bucket, &e))),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        self.out.send(Update::Bucket { bucket: bucket.to_owned(), objects, error });
    }

    async fn reveal(&self, bucket: &str, key: &str) {
        let (b, k, buckets) = (bucket.to_owned(), key.to_owned(), self.buckets.clone());
        let copied = tokio::task::spawn_blocking(move || -> Result<PathBuf, String> {
            let (_, mut file) = buckets.open_object(&b, &k).map_err(|e| e.to_string())?;
            let dir = std::env::temp_dir().join("stepwise-objects").join(&b);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            // The key's last segment keeps the extension, so a player opens the copy.
            let name = k.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("object");
            let path = dir.join(name);
            let mut target = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            std::io::copy(&mut file, &mut target).map_err(|e| e.to_string())?;
            Ok(path)
        })
        .await;
        match copied {
            Ok(Ok(path)) => self.out.send(Update::Revealed { path }),
            Ok(Err(e)) => self.out.notice(format!("Cannot copy s3://{bucket}/{key} out: {e}"), true),
            Err(e) => self.out.notice(format!("Cannot copy s3://{bucket}/{key} out: {e}"), true),
        }
    }
}

fn bucket_error(bucket: &str, e: &crate::runtime::buckets::BucketError) -> String {
    format!("Cannot list {bucket}: {e}")
}
