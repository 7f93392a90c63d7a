//! `LocalService`: the Step Functions API, served by the local engine and store.
//!
//! Operations are named as AWS names them (`create_state_machine`, `start_execution`,
//! `get_activity_task`, `send_task_success`…) and fail with AWS's error names
//! ([`ServiceError::code`]). The service is a cheap handle (clone it freely): reads and
//! worker-side writes go through its own store connection on blocking threads; everything
//! that drives an execution is a message to the engine thread ([`super::engine_loop`]).
//!
//! Opening a service drives nothing; [`LocalService::resume_executions`] takes over the
//! running executions whose owner is gone. Dropping the last handle (or `shutdown`) stops
//! the engine thread and releases the executions it drove, so the next process can resume
//! them at once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, broadcast, oneshot};

use super::driver::DriverError;
use super::owner_lock::{self, DataDirLock};
use super::engine_loop::{EngineLoop, LoopParts, Msg, StartRequest};
pub use super::engine_loop::{Progress, ResumeResult};
use super::resolver::TaskResolver;
use super::tasks::{ACTIVITY_POLL, ActivityTask, TaskClient, blocking};
use crate::asl::{Diagnostic, Severity};
use crate::engine::{ExecutionInfo, Machine, MachineType, Millis};
pub use crate::store::OpenTask;
use crate::store::{ActivityRef, ActivityRow, ExecutionRow, Owner, StateMachineRow, Store, StoreError, now_wall_ms};
use crate::validate::{self, Options};

/// The region and account of local ARNs.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The role local executions report.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/stepwise-local";

/// AWS's errors, by the names its API uses.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("InvalidDefinition: {}", summary(.0))]
    InvalidDefinition(Vec<Diagnostic>),
    #[error("InvalidName: {0}")]
    InvalidName(String),
    #[error("InvalidArn: {0}")]
    InvalidArn(String),
    #[error("InvalidExecutionInput: {0}")]
    InvalidExecutionInput(String),
    #[error("InvalidOutput: {0}")]
    InvalidOutput(String),
    #[error("StateMachineDoesNotExist: {0}")]
    StateMachineDoesNotExist(String),
    #[error("StateMachineAlreadyExists: {0}")]
    StateMachineAlreadyExists(String),
    #[error("ExecutionDoesNotExist: {0}")]
    ExecutionDoesNotExist(String),
    #[error("ExecutionAlreadyExists: {0}")]
    ExecutionAlreadyExists(String),
    #[error("ExecutionNotRedrivable: {0}")]
    ExecutionNotRedrivable(String),
    #[error("ResourceNotFound: {0}")]
    ResourceNotFound(String),
    #[error("TooManyTags: {0}")]
    TooManyTags(String),
    #[error("ValidationException: {0}")]
    Validation(String),
    #[error("ActivityDoesNotExist: {0}")]
    ActivityDoesNotExist(String),
    #[error("InvalidToken: {0}")]
    InvalidToken(String),
    #[error("TaskTimedOut: {0}")]
    TaskTimedOut(String),
    #[error("this process stopped driving the execution: {0}")]
    Lost(String),
    #[error(transparent)]
    Driver(DriverError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the local service has stopped")]
    Stopped,
    /// Another process runs the local engine over this data directory (the message names it).
    #[error("{0}")]
    DataDirInUse(String),
}

fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{} {} at {}", d.code, d.message, if d.location.is_empty() { "/" } else { &d.location }))
        .collect();
    errors.join("; ")
}

impl ServiceError {
    /// AWS's error code (`InvalidToken`…); `ServiceError`-like for local failures.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::InvalidDefinition(_) => "InvalidDefinition",
            ServiceError::InvalidName(_) => "InvalidName",
            ServiceError::InvalidArn(_) => "InvalidArn",
            ServiceError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            ServiceError::InvalidOutput(_) => "InvalidOutput",
            ServiceError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            ServiceError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            ServiceError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            ServiceError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            ServiceError::ExecutionNotRedrivable(_) => "ExecutionNotRedrivable",
            ServiceError::ResourceNotFound(_) => "ResourceNotFound",
            ServiceError::TooManyTags(_) => "TooManyTags",
            ServiceError::Validation(_) => "ValidationException",
            ServiceError::ActivityDoesNotExist(_) => "ActivityDoesNotExist",
            ServiceError::InvalidToken(_) => "InvalidToken",
            ServiceError::TaskTimedOut(_) => "TaskTimedOut",
            ServiceError::Lost(_)
            | ServiceError::Driver(_)
            | ServiceError::Store(_)
            | ServiceError::Stopped
            | ServiceError::DataDirInUse(_) => "ServiceException",
        }
    }
}

/// A resource has at most this many tags.
const MAX_TAGS: usize = 50;

/// AWS's limits on tags given in one request: at most 50, keys of 1 to 128 characters, values
/// of at most 256. Checked before anything is created with them.
pub fn check_tags(tags: &[(String, String)]) -> Result<(), ServiceError> {
    if tags.len() > MAX_TAGS {
        return Err(ServiceError::TooManyTags(format!("{} tags given; a resource has at most {MAX_TAGS}", tags.len())));
    }
    if let Some((k, _)) = tags.iter().find(|(k, v)| k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256) {
        return Err(ServiceError::Validation(format!("tag '{k}': keys are 1 to 128 characters and values at most 256")));
    }
    Ok(())
}

/// AWS's rule for state machine, execution and activity names.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let bad = name.is_empty()
        || name.chars().count() > 80
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c));
    if bad {
        return Err(ServiceError::InvalidName(format!(
            "'{name}' must be 1 to 80 characters without spaces, brackets, wildcards or any of \"#%\\^|~`$&,;:/"
        )));
    }
    Ok(())
}

pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
}

fn execution_arn(machine_name: &str, name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{name}")
}

/// A history event as it happens.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub execution_arn: Arc<str>,
    /// `GetExecutionHistory`'s shape.
    pub event: Value,
}

pub struct ServiceConfig {
    pub data_dir: PathBuf,
    /// 0: timers fire at once, in deadline order; 1: real time; 10: ten times as fast.
    pub time_scale: f64,
    pub resolver: Arc<dyn TaskResolver>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineDescription {
    pub state_machine_arn: String,
    pub name: String,
    pub definition: String,
    #[serde(rename = "type")]
    pub machine_type: String,
    pub role_arn: String,
    pub creation_date: Millis,
    pub update_date: Option<Millis>,
}

impl From<StateMachineRow> for StateMachineDescription {
    fn from(r: StateMachineRow) -> Self {
        StateMachineDescription {
            state_machine_arn: r.arn,
            name: r.name,
            definition: r.definition,
            machine_type: r.machine_type,
            role_arn: r.role_arn,
            creation_date: r.created_ms,
            update_date: r.updated_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub start_date: Millis,
    pub stop_date: Option<Millis>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Times redriven, and when last (`RedriveExecution`).
    pub redrive_count: u32,
    pub redrive_date: Option<Millis>,
    /// AWS's `redriveStatus` (`REDRIVABLE`, `NOT_REDRIVABLE`…) when known.
    pub redrive_status: Option<String>,
}

impl From<ExecutionRow> for ExecutionDescription {
    fn from(r: ExecutionRow) -> Self {
        // EXPRESS executions are never redriven; a STANDARD one that ended unsuccessfully is.
        let redrivable = r.info.machine_type == MachineType::Standard && crate::engine::Status::name_ended_unsuccessfully(&r.status);
        ExecutionDescription {
            execution_arn: r.arn,
            state_machine_arn: r.state_machine_arn,
            name: r.name,
            status: r.status,
            start_date: r.start_ms,
            stop_date: r.stop_ms,
            input: r.input,
            output: r.output,
            error: r.error,
            cause: r.cause,
            redrive_count: r.redrive_count,
            redrive_date: r.redrive_ms,
            redrive_status: Some(if redrivable { "REDRIVABLE" } else { "NOT_REDRIVABLE" }.to_owned()),
        }
    }
}

/// `StartExecution`'s arguments, plus what a local run adds.
#[derive(Debug, Clone, Default)]
pub struct StartExecution {
    pub state_machine_arn: String,
    /// A fresh name when `None`.
    pub name: Option<String>,
    pub input: Value,
    /// Merged into the context object (`stepwise run --context`).
    pub context: Option<Value>,
    /// Handed to the task resolver with every task of this execution (`{"mockConfig": …}`).
    pub task_config: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartedExecution {
    pub execution_arn: String,
    pub start_date: Millis,
}

/// One page of `GetExecutionHistory`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub events: Vec<Value>,
    pub next_token: Option<String>,
}

struct Inner {
    tx: Mutex<std::sync::mpsc::Sender<Msg>>,
    tasks: TaskClient,
    events: broadcast::Sender<LiveEvent>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// This process's hold on the data directory; released after the engine thread stops.
    lock: Mutex<Option<DataDirLock>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The engine thread ends when its channel closes; wait so its executions are
        // released before the process goes on.
        if let Ok(tx) = self.tx.lock() {
            let (reply, _) = oneshot::channel();
            let _ = tx.send(Msg::Shutdown { reply });
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }
}

#[derive(Clone)]
pub struct LocalService {
    inner: Arc<Inner>,
}

/// A fresh seed for an execution (names, tokens, `States.UUID`).
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn machine_type_of(s: &str) -> MachineType {
    if s.eq_ignore_ascii_case("EXPRESS") { MachineType::Express } else { MachineType::Standard }
}

/// The local engine as commands and the app run it: S3 tasks and item readers on the local
/// buckets of the data directory (`DATA_DIR/buckets`), mocks when an execution brings them.
pub async fn open_local_engine(data_dir: &std::path::Path, time_scale: f64) -> Result<(LocalService, super::buckets::LocalBuckets), ServiceError> {
    let buckets = super::buckets::LocalBuckets::new(data_dir.join("buckets"));
    let resolver = Arc::new(super::resolver::MockResolver::new().with_buckets(buckets.clone()));
    let service = LocalService::open(ServiceConfig { data_dir: data_dir.to_owned(), time_scale, resolver }).await?;
    Ok((service, buckets))
}

impl LocalService {
    /// Takes the data directory for this process (another process that has it is named in
    /// the error), opens the store in it and starts the engine thread on the current tokio
    /// runtime's blocking pool (for resolver calls).
    pub async fn open(config: ServiceConfig) -> Result<LocalService, ServiceError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| ServiceError::Stopped)?;
        let dir = config.data_dir.clone();
        let (lock, writer, side) = tokio::task::spawn_blocking(move || -> Result<(DataDirLock, Store, Store), ServiceError> {
            let lock = owner_lock::acquire(&dir).map_err(ServiceError::DataDirInUse)?;
            Ok((lock, Store::open(&dir)?, Store::open(&dir)?))
        })
        .await
        .map_err(|_| ServiceError::Stopped)??;
        let (tx, rx) = std::sync::mpsc::channel();
        let (events, _) = broadcast::channel(4096);
        let scheduled = Arc::new(Notify::new());
        let parts = LoopParts {
            store: writer,
            owner: Owner::this_process(),
            rx,
            tx: tx.clone(),
            handle,
            resolver: config.resolver,
            events: events.clone(),
            scheduled: Arc::clone(&scheduled),
            time_scale: config.time_scale,
        };
        let thread = std::thread::Builder::new()
            .name("stepwise-engine".into())
            .spawn(move || EngineLoop::new(parts).run())
            .map_err(|_| ServiceError::Stopped)?;
        Ok(LocalService {
            inner: Arc::new(Inner {
                tx: Mutex::new(tx),
                tasks: TaskClient::new(Arc::new(Mutex::new(side)), scheduled),
                events,
                thread: Mutex::new(Some(thread)),
                lock: Mutex::new(Some(lock)),
            }),
        })
    }

    fn send(&self, msg: Msg) -> Result<(), ServiceError> {
        let tx = self.inner.tx.lock().map_err(|_| ServiceError::Stopped)?;
        tx.send(msg).map_err(|_| ServiceError::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        answer.await.map_err(|_| ServiceError::Stopped)
    }

    fn store(&self) -> &Arc<Mutex<Store>> {
        self.inner.tasks.store()
    }

    /// The worker-side client this service uses (same store connection).
    pub fn task_client(&self) -> &TaskClient {
        &self.inner.tasks
    }

    /// Live history events of every execution this process drives.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.events.subscribe()
    }

    /// Stops the engine thread, releases the executions it drove and the data directory.
    pub async fn shutdown(&self) -> Result<(), ServiceError> {
        let stopped = self.ask(|reply| Msg::Shutdown { reply }).await;
        if let Some(handle) = self.inner.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        if let Ok(mut lock) = self.inner.lock.lock() {
            lock.take();
        }
        stopped
    }

    // -------------------------------------------------------------------------------
    // State machines
    // -------------------------------------------------------------------------------

    /// Validates a definition (JSON or YAML text) and returns it as JSON text.
    fn checked_definition(definition: &str, machine_type: MachineType) -> Result<String, ServiceError> {
        let kind = match machine_type {
            MachineType::Standard => validate::MachineType::Standard,
            MachineType::Express => validate::MachineType::Express,
        };
        let (doc, diagnostics) = validate::check_bytes(definition.as_bytes(), None, &Options { kind });
        if diagnostics.iter().any(|d| d.severity == Severity::Error) {
            return Err(ServiceError::InvalidDefinition(diagnostics));
        }
        Machine::compile(&doc.root).map_err(|e| {
            ServiceError::InvalidDefinition(vec![Diagnostic::error("SCHEMA_VALIDATION_FAILED", "", e)])
        })?;
        serde_json::to_string(&doc.root).map_err(|e| ServiceError::InvalidDefinition(vec![Diagnostic::error("INVALID_JSON_DESCRIPTION", "", e.to_string())]))
    }

    /// `CreateStateMachine`; the same name and definition again is not an error (as in AWS).
    pub async fn create_state_machine(&self, name: &str, definition: &str, machine_type: MachineType) -> Result<String, ServiceError> {
        check_name(name)?;
        let json = Self::checked_definition(definition, machine_type)?;
        let row = StateMachineRow {
            arn: state_machine_arn(name),
            name: name.to_owned(),
            definition: json,
            machine_type: match machine_type {
                MachineType::Standard => "STANDARD".into(),
                MachineType::Express => "EXPRESS".into(),
            },
            role_arn: ROLE_ARN.into(),
            created_ms: now_wall_ms(),
            updated_ms: None,
        };
        blocking(self.store(), move |s| {
            if s.insert_state_machine(&row)? {
                return Ok(row.arn);
            }
            match s.state_machine(&row.arn)? {
                Some(old) if old.definition == row.definition && old.machine_type == row.machine_type => Ok(row.arn),
                _ => Err(ServiceError::StateMachineAlreadyExists(row.arn)),
            }
        })
        .await
    }

    /// Creates the state machine, or updates its definition when one of that name exists: how
    /// a workflow file is deployed to the local engine (`run`, `ingest`, the app).
    pub async fn deploy_state_machine(&self, name: &str, definition: &str, machine_type: MachineType) -> Result<String, ServiceError> {
        match self.create_state_machine(name, definition, machine_type).await {
            Err(ServiceError::StateMachineAlreadyExists(arn)) => {
                self.update_state_machine(&arn, definition).await?;
                Ok(arn)
            }
            other => other,
        }
    }

    /// `UpdateStateMachine` (the definition; running executions keep the one they started with).
    pub async fn update_state_machine(&self, arn: &str, definition: &str) -> Result<(), ServiceError> {
        let current = self.describe_state_machine(arn).await?;
        let machine_type = machine_type_of(&current.machine_type);
        let json = Self::checked_definition(definition, machine_type)?;
        let a = arn.to_owned();
        blocking(self.store(), move |s| {
            if s.update_state_machine(&a, &json, &current.machine_type, now_wall_ms())? {
                Ok(())
            } else {
                Err(ServiceError::StateMachineDoesNotExist(a))
            }
        })
        .await
    }

    pub async fn describe_state_machine(&self, arn: &str) -> Result<StateMachineDescription, ServiceError> {
        let a = arn.to_owned();
        blocking(self.store(), move |s| match s.state_machine(&a)? {
            Some(row) => Ok(row.into()),
            None => Err(ServiceError::StateMachineDoesNotExist(a)),
        })
        .await
    }

    /// `DeleteStateMachine`: running executions go on to their end (as in AWS); deleting one
    /// that does not exist is not an error (AWS answers it with success too).
    pub async fn delete_state_machine(&self, arn: &str) -> Result<(), ServiceError> {
        let a = arn.to_owned();
        blocking(self.store(), move |s| {
            s.delete_state_machine(&a)?;
            Ok(())
        })
        .await
    }

    /// State machines by name.
    pub async fn list_state_machines(&self) -> Result<Vec<StateMachineDescription>, ServiceError> {
        blocking(self.store(), |s| Ok(s.state_machines()?.into_iter().map(Into::into).collect())).await
    }

    // -------------------------------------------------------------------------------
    // Executions
    // -------------------------------------------------------------------------------

    pub async fn start_execution(&self, request: StartExecution) -> Result<StartedExecution, ServiceError> {
        let machine_row = self.describe_state_machine(&request.state_machine_arn).await?;
        let seed = fresh_seed();
        let name = request.name.unwrap_or_else(|| format!("{seed:016x}"));
        check_name(&name)?;
        let definition: Value = serde_json::from_str(&machine_row.definition).map_err(StoreError::from)?;
        let machine = Machine::compile(&definition)
            .map_err(|e| ServiceError::InvalidDefinition(vec![Diagnostic::error("SCHEMA_VALIDATION_FAILED", "", e)]))?;
        let start_time = now_wall_ms();
        let info = ExecutionInfo {
            execution_arn: execution_arn(&machine_row.name, &name),
            name,
            state_machine_arn: machine_row.state_machine_arn.clone(),
            state_machine_name: machine_row.name.clone(),
            role_arn: machine_row.role_arn.clone(),
            start_time,
            machine_type: machine_type_of(&machine_row.machine_type),
            seed,
            extra_context: request.context,
        };
        let execution_arn = info.execution_arn.clone();
        let start = StartRequest {
            machine: Arc::new(machine),
            info,
            definition: machine_row.definition,
            input: request.input,
            task_config: request.task_config,
        };
        self.ask(|reply| Msg::Start { request: Box::new(start), reply }).await??;
        Ok(StartedExecution { execution_arn, start_date: start_time })
    }

    /// `StopExecution`; stopping an execution that has ended does nothing.
    pub async fn stop_execution(&self, arn: &str, error: Option<String>, cause: Option<String>) -> Result<(), ServiceError> {
        let arn = arn.to_owned();
        self.ask(|reply| Msg::Stop { arn, error, cause, reply }).await??;
        Ok(())
    }

    /// `RedriveExecution`: a STANDARD execution that ended failed, aborted or timed out runs
    /// again from the state it stopped in; answers the redrive's time.
    pub async fn redrive_execution(&self, arn: &str) -> Result<Millis, ServiceError> {
        let arn = arn.to_owned();
        self.ask(|reply| Msg::Redrive { arn, reply }).await?
    }

    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionDescription, ServiceError> {
        let a = arn.to_owned();
        blocking(self.store(), move |s| match s.execution(&a)? {
            Some(row) => Ok(row.into()),
            None => Err(ServiceError::ExecutionDoesNotExist(a)),
        })
        .await
    }

    /// The state machine an execution ran and the definition it started with
    /// (`DescribeStateMachineForExecution`): `(state machine ARN, definition)`.
    pub async fn execution_definition(&self, arn: &str) -> Result<(String, String), ServiceError> {
        let a = arn.to_owned();
        blocking(self.store(), move |s| match s.execution(&a)? {
            Some(row) => Ok((row.state_machine_arn, row.definition)),
            None => Err(ServiceError::ExecutionDoesNotExist(a)),
        })
        .await
    }

    /// Executions, newest first; of one state machine and/or with one status.
    pub async fn list_executions(&self, state_machine_arn: Option<&str>, status: Option<&str>) -> Result<Vec<ExecutionDescription>, ServiceError> {
        let (m, st) = (state_machine_arn.map(str::to_owned), status.map(str::to_owned));
        blocking(self.store(), move |s| Ok(s.executions(m.as_deref(), st.as_deref())?.into_iter().map(Into::into).collect())).await
    }

    /// `GetExecutionHistory`: up to `max_results` events (100 when 0, at most 1000).
    pub async fn get_execution_history(
        &self,
        arn: &str,
        max_results: usize,
        next_token: Option<&str>,
        reverse_order: bool,
    ) -> Result<HistoryPage, ServiceError> {
        let limit = if max_results == 0 { 100 } else { max_results.min(1000) };
        let after = match next_token {
            Some(t) => Some(t.parse::<u64>().map_err(|_| ServiceError::InvalidToken(format!("'{t}' is not a history page token")))?),
            None => None,
        };
        let a = arn.to_owned();
        blocking(self.store(), move |s| {
            if s.execution(&a)?.is_none() {
                return Err(ServiceError::ExecutionDoesNotExist(a));
            }
            let mut rows = s.history(&a, after, limit + 1, reverse_order)?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            let next_token = if more { rows.last().map(|(id, _)| id.to_string()) } else { None };
            Ok(HistoryPage { events: rows.into_iter().map(|(_, e)| e).collect(), next_token })
        })
        .await
    }

    /// Every history event of an execution, in order.
    pub async fn full_history(&self, arn: &str) -> Result<Vec<Value>, ServiceError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.get_execution_history(arn, 1000, token.as_deref(), false).await?;
            out.extend(page.events);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Takes over every running execution whose owner is gone (replaying its journal);
    /// the result for each running execution, oldest first.
    pub async fn resume_executions(&self) -> Result<Vec<(String, ResumeResult)>, ServiceError> {
        self.ask(|reply| Msg::Resume { reply }).await?
    }

    /// How far an execution this process drives has come.
    pub async fn progress(&self, arn: &str) -> Result<Progress, ServiceError> {
        let arn = arn.to_owned();
        self.ask(|reply| Msg::Progress { arn, reply }).await
    }

    /// Waits until the execution ends (or this process stops driving it, or it waits only
    /// for workers when `until_workers`); returns its description then.
    pub async fn wait_for_execution(&self, arn: &str, until_workers: bool) -> Result<ExecutionDescription, ServiceError> {
        let mut events = self.subscribe();
        loop {
            let description = self.describe_execution(arn).await?;
            if description.status != "RUNNING" {
                return Ok(description);
            }
            match self.progress(arn).await? {
                // It may have ended between the two looks.
                Progress::NotDriven { .. } => return self.describe_execution(arn).await,
                Progress::WaitingOnWorkers(_) if until_workers => return Ok(description),
                _ => {}
            }
            // Any event may be the last; look again after one, or after a while.
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    }

    // -------------------------------------------------------------------------------
    // Tags (`TagResource`, `UntagResource`, `ListTagsForResource`)
    // -------------------------------------------------------------------------------

    /// The resource must exist: a state machine or an activity.
    async fn tagged_resource(&self, arn: &str) -> Result<(), ServiceError> {
        let found = if arn.contains(":stateMachine:") {
            self.describe_state_machine(arn).await.is_ok()
        } else if arn.contains(":activity:") {
            self.describe_activity(arn).await.is_ok()
        } else {
            false
        };
        if found { Ok(()) } else { Err(ServiceError::ResourceNotFound(format!("Resource not found: '{arn}'"))) }
    }

    /// `TagResource`: AWS's limits ([`check_tags`], and at most 50 tags on the resource after
    /// it) refuse the whole request.
    pub async fn tag_resource(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ServiceError> {
        check_tags(&tags)?;
        self.tagged_resource(arn).await?;
        let a = arn.to_owned();
        blocking(self.store(), move |s| match s.tag_resource(&a, &tags, MAX_TAGS)? {
            Ok(()) => Ok(()),
            Err(count) => Err(ServiceError::TooManyTags(format!("'{a}' would have {count} tags; a resource has at most {MAX_TAGS}"))),
        })
        .await
    }

    pub async fn untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<(), ServiceError> {
        self.tagged_resource(arn).await?;
        let a = arn.to_owned();
        blocking(self.store(), move |s| Ok(s.untag_resource(&a, &keys)?)).await
    }

    /// A resource's tags, by key.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>, ServiceError> {
        self.tagged_resource(arn).await?;
        let a = arn.to_owned();
        blocking(self.store(), move |s| Ok(s.tags(&a)?)).await
    }

    // -------------------------------------------------------------------------------
    // Activities and tokens
    // -------------------------------------------------------------------------------

    pub async fn create_activity(&self, name: &str) -> Result<String, ServiceError> {
        self.inner.tasks.create_activity(name).await
    }

    pub async fn describe_activity(&self, arn: &str) -> Result<ActivityRow, ServiceError> {
        self.inner.tasks.describe_activity(arn).await
    }

    pub async fn list_activities(&self) -> Result<Vec<ActivityRow>, ServiceError> {
        self.inner.tasks.list_activities().await
    }

    pub async fn delete_activity(&self, arn: &str) -> Result<(), ServiceError> {
        self.inner.tasks.delete_activity(arn).await
    }

    /// `GetActivityTask`: waits up to 60 s for a task of the activity; `None` when none came.
    pub async fn get_activity_task(&self, activity_arn: &str, worker_name: Option<&str>) -> Result<Option<ActivityTask>, ServiceError> {
        self.get_activity_task_within(activity_arn, worker_name, ACTIVITY_POLL).await
    }

    /// `GetActivityTask` with a shorter (or longer) long poll.
    pub async fn get_activity_task_within(
        &self,
        activity_arn: &str,
        worker_name: Option<&str>,
        wait: Duration,
    ) -> Result<Option<ActivityTask>, ServiceError> {
        self.describe_activity(activity_arn).await?;
        let worker = worker_name.map_or_else(|| format!("stepwise-{}", std::process::id()), str::to_owned);
        let task = self.inner.tasks.take_activity_task(ActivityRef::Arn(activity_arn), &worker, wait).await?;
        if task.is_some() {
            self.wake();
        }
        Ok(task)
    }

    fn wake(&self) {
        let _ = self.send(Msg::Wake);
    }

    /// Every activity or callback task waiting for an answer, across executions, oldest
    /// first (the Pending tasks panel).
    pub async fn pending_tasks(&self) -> Result<Vec<OpenTask>, ServiceError> {
        self.inner.tasks.open_tasks().await
    }

    /// Takes one particular scheduled activity task for `worker` (as `GetActivityTask` would
    /// have handed it out).
    pub async fn take_task(&self, token: &str, worker: &str) -> Result<ActivityTask, ServiceError> {
        let task = self.inner.tasks.take_task(token, worker).await?;
        self.wake();
        Ok(task)
    }

    pub async fn send_task_success(&self, token: &str, output: &str) -> Result<(), ServiceError> {
        self.inner.tasks.send_task_success(token, output).await?;
        self.wake();
        Ok(())
    }

    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), ServiceError> {
        self.inner.tasks.send_task_failure(token, error, cause).await?;
        self.wake();
        Ok(())
    }

    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), ServiceError> {
        self.inner.tasks.send_task_heartbeat(token).await?;
        self.wake();
        Ok(())
    }
}
