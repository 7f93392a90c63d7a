//! The backend: the one thing the Run views talk to. Commands go in, updates come out.
//!
//! Design choices, made so the same views can later drive AWS as well as the local engine:
//!
//! - **Messages, not calls.** The views never wait: [`Backend::send`] queues a [`Command`] and
//!   returns; answers and live changes arrive as [`Update`]s that the UI drains once per frame
//!   with [`Backend::poll`]. A slow store, a large history or (later) a network round trip
//!   therefore never holds a frame.
//! - **Push, not polling.** A backend wakes the UI through the `waker` it was given whenever it
//!   queues an update (the window sets it to "draw a new frame"), so a history
//!   event reaches the screen within a frame of happening. This module names no GUI crate.
//! - **AWS's shapes.** Executions are `DescribeExecution`'s shape, history events
//!   `GetExecutionHistory`'s, so a remote backend can pass its answers through unchanged.
//! - **One watched execution.** The execution view shows one execution at a time; a backend
//!   sends its whole history once ([`Update::History`]) and then only the new events
//!   ([`Update::Events`]), never the same event twice.
//! - **Failures are updates.** Every command that can fail answers with an [`Update::Notice`]
//!   in words a person can act on; a backend that cannot start at all says so with
//!   [`Update::Unavailable`] and the views stay usable (the designer keeps working).
//! - **The only place that names `aws_sdk_*`** (and `aws_config`): the layers below stay
//!   testable without AWS, and `tests/layers.rs` checks that nothing else names the SDK.

pub mod aws;
pub mod deploy_ops;
pub mod local;
mod uploads;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use serde_json::Value;

pub use crate::runtime::buckets::ObjectMeta;
pub use crate::runtime::ingest::UploadProgress;
pub use crate::runtime::service::ExecutionDescription;
/// An activity task waiting for a worker or being worked on (AWS has no such list; the local
/// engine keeps one, and a remote backend would build it from the histories it watches).
pub use crate::runtime::service::OpenTask as PendingTask;
pub use crate::runtime::video_check::VideoRules;
pub use crate::runtime::workers::{WorkerKind, WorkerProfile, WorkerSettings};

/// Called by a backend after it queues updates: the app makes it request a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The id of one file's upload, unique within a backend.
pub type UploadId = u64;

/// What the views ask of a backend.
#[derive(Debug, Clone)]
pub enum Command {
    /// Executions of one state machine (by ARN), newest first; `None` lists them all. The
    /// backend keeps this list fresh as executions start and end.
    ListExecutions { state_machine_arn: Option<String> },
    /// Show this execution: its whole history, then each new event as it happens. `None`
    /// stops watching.
    Watch(Option<String>),
    Stop(String),
    /// Starts the execution's state machine again with the execution's input.
    StartAgain(String),
    /// Goes on with a failed, aborted or timed-out execution from the state that stopped it
    /// (AWS's `RedriveExecution`).
    Redrive(String),
    /// Starts an execution of the state machine `name` (deployed from `definition` first)
    /// with `input` (JSON text), and watches it.
    Start { name: String, definition: String, input: String },
    /// Writes the execution's whole history as a JSON array (atomically).
    ExportHistory { arn: String, path: PathBuf },
    /// Every activity task that waits for a worker or is being worked on.
    ListPending,
    /// Claims one scheduled task for the person at the window.
    TakeTask { token: String },
    SendSuccess { token: String, output: String },
    SendFailure { token: String, error: String, cause: String },
    Heartbeat { token: String },
    /// Creates (or updates) a state machine from a definition (JSON or YAML text).
    Deploy { name: String, definition: String },
    /// Uploads each file to `bucket` and starts an execution of the state machine `name`
    /// (deployed from `definition` first) per file, a few at a time.
    Ingest { paths: Vec<PathBuf>, bucket: String, name: String, definition: String },
    CancelUpload(UploadId),
    ListBucket(String),
    DeleteObject { bucket: String, key: String },
    /// Copies the object to a temporary file and answers with its path.
    RevealObject { bucket: String, key: String },
    /// Replaces the local workers and saves their profiles.
    SetWorkerProfiles(Vec<WorkerProfile>),
    /// Saves the MIME types an upload may have (recognised from the content; empty accepts any).
    SetIngestTypes(Vec<String>),
    /// The Deploy dialog and the Deployed panel (check, deploy, list, open a deployed one).
    Deployment(deploy_ops::DeployCommand),
}

/// One file of an ingest, as the views show it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub path: PathBuf,
    pub state: UploadState,
}

#[derive(Debug, Clone)]
pub enum UploadState {
    /// Waiting for a free slot (a few uploads run at once).
    Queued,
    /// Bytes are moving; the progress is shared with the uploading thread.
    Uploading { progress: Arc<UploadProgress>, started: std::time::Instant },
    /// Uploaded and an execution started.
    Started { execution_arn: String, size: u64 },
    /// Refused or failed, with what to do about it.
    Failed(String),
    Cancelled,
}

/// A task claimed from the Pending tasks panel.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenTask {
    pub token: String,
    pub execution_arn: String,
    pub input: String,
    pub heartbeat_seconds: Option<u64>,
}

/// What a backend tells the views.
#[derive(Debug, Clone)]
pub enum Update {
    /// The backend is serving; `label` names the connection ("Local engine · /path").
    Connected { label: String },
    /// The backend could not start; the message says why and what to do.
    Unavailable(String),
    Executions { state_machine_arn: Option<String>, executions: Vec<ExecutionDescription> },
    /// The watched execution's description and whole history (sent again after a gap).
    History { execution: ExecutionDescription, events: Vec<Value> },
    /// New events of the watched execution, in order.
    Events { arn: String, events: Vec<Value> },
    /// The watched execution's description changed (it ended, was stopped).
    Execution(ExecutionDescription),
    Pending(Vec<PendingTask>),
    Taken(TakenTask),
    /// A claimed task was answered (or can no longer be): the panel forgets it.
    TaskClosed { token: String },
    Deployed { name: String, arn: String },
    /// The uploads of this backend, whenever one changes state.
    Uploads(Vec<Upload>),
    Bucket { bucket: String, objects: Vec<ObjectMeta>, error: Option<String> },
    Revealed { path: PathBuf },
    WorkerProfiles(Vec<WorkerProfile>),
    IngestTypes(Vec<String>),
    /// A result in words; `error` when it failed.
    Notice { text: String, error: bool },
    /// The answer to a [`Command::Deployment`].
    Deployment(deploy_ops::DeploymentUpdate),
}

/// The sending half of a backend's updates, which wakes the UI after each one.
#[derive(Clone)]
pub(crate) struct Out {
    tx: std::sync::mpsc::Sender<Update>,
    waker: Waker,
}

impl Out {
    pub(crate) fn send(&self, update: Update) {
        if self.tx.send(update).is_ok() {
            (self.waker)();
        }
    }

    pub(crate) fn notice(&self, text: impl Into<String>, error: bool) {
        self.send(Update::Notice { text: text.into(), error });
    }
}

/// Starts a backend on a thread of its own with a tokio runtime: `serve` answers commands
/// until the views drop their [`Backend`]. `what` names it in the one message a runtime that
/// cannot start gives ("the local engine", "the AWS connection").
pub(crate) fn spawn_backend<F, Fut>(thread_name: &str, what: &'static str, waker: Waker, serve: F) -> Backend
where
    F: FnOnce(tokio::sync::mpsc::UnboundedReceiver<Command>, Out) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
    let (tx, updates) = std::sync::mpsc::channel();
    let out = Out { tx, waker };
    let thread = std::thread::Builder::new().name(thread_name.into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
        match runtime {
            Ok(rt) => rt.block_on(serve(rx, out)),
            Err(e) => out.send(Update::Unavailable(format!("Cannot start {what}'s async runtime: {e}."))),
        }
    });
    Backend { commands: Some(commands), updates, thread: thread.ok() }
}

/// The views' handle on a running backend.
pub struct Backend {
    commands: Option<tokio::sync::mpsc::UnboundedSender<Command>>,
    updates: Receiver<Update>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Backend {
    /// Closing the command channel ends the backend's loop; waiting for its thread lets the
    /// engine release its executions before the process exits, so the next start resumes
    /// them at once instead of waiting for a lease to lapse.
    fn drop(&mut self) {
        self.commands.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Backend {
    /// Queues a command; a backend that has stopped drops it (its last update said why).
    pub fn send(&self, command: Command) {
        if let Some(c) = &self.commands {
            let _ = c.send(command);
        }
    }

    /// Every update queued since the last call, oldest first.
    pub fn poll(&self) -> Vec<Update> {
        self.updates.try_iter().collect()
    }
}

/// The event's type (`TaskStateEntered`…).
pub fn event_type(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The event's id.
pub fn event_id(event: &Value) -> u64 {
    event.get("id").and_then(Value::as_u64).unwrap_or(0)
}
