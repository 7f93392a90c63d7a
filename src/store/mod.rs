//! The durable local store: one SQLite file per data directory.
//!
//! It owns the schema and every SQL statement; nothing else in Stepwise names `rusqlite`.
//! It knows the engine's serializable values (`Input`, `ExecutionInfo`, task and timer ids)
//! but never drives an engine: the runtime decides what a step is, the store writes it.
//!
//! Durability:
//! - WAL journal, `synchronous=NORMAL`: a commit survives the process being killed at any
//!   point (the WAL is in the OS's hands once `COMMIT` returns); a power cut may lose the
//!   last few commits but never leaves a half-written step, because each step is one
//!   transaction. `FULL` would add an fsync to every engine step (a Map of a thousand
//!   items is thousands of steps); for a local development runtime we take the speed.
//! - `busy_timeout` of 5 s, and every writing transaction is `BEGIN IMMEDIATE`, so two
//!   processes (`stepwise run` and `stepwise worker`) queue for the write lock instead of
//!   failing on an upgrade from a read lock.
//! - One engine step = one transaction: the journal entry, the history events it produced,
//!   the task tokens it created or closed, its timers, the worker message it consumed and,
//!   at the end, the outcome ([`Store::record_step`]). Primary keys on
//!   (execution, seq) and (execution, event id) make a duplicate write fail the whole step.
//! - Every step checks, inside its transaction, that the writer still owns the execution
//!   (a fencing check): two processes never both write one execution's journal.

mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use crate::engine::{ExecutionInfo, Input, Millis, TaskId, TimerId};

pub use schema::SCHEMA_VERSION;

/// The file inside a data directory.
pub const DB_FILE: &str = "stepwise.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the local store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the local store holds JSON it cannot read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("the store {path} has schema version {found}, newer than this Stepwise ({known}); use a newer Stepwise or another --data-dir")]
    NewerSchema { path: String, found: i64, known: i64 },
    #[error("execution {0} is now driven by another process; this one stopped driving it")]
    NotOwner(String),
    #[error("execution {0} is not in the store")]
    NoExecution(String),
    #[error("a step of execution {arn} does not follow the stored journal or history: {detail}")]
    Inconsistent { arn: String, detail: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Who drives an execution: a process, and one store opened in it (several services may
/// share a process, in tests and in the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub pid: u32,
}

impl Owner {
    /// A fresh owner for this process.
    pub fn this_process() -> Owner {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now_wall_ms() as u128);
        h.write_u32(std::process::id());
        Owner { id: format!("{:016x}", h.finish()), pid: std::process::id() }
    }
}

/// The recorded owner of a running execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    pub id: String,
    pub pid: u32,
    /// When the owner last said it was alive (wall-clock milliseconds).
    pub lease_ms: Millis,
}

/// Milliseconds since the Unix epoch, from the wall clock.
pub fn now_wall_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[derive(Debug, Clone, PartialEq)]
pub struct StateMachineRow {
    pub arn: String,
    pub name: String,
    /// The definition as JSON text (YAML is converted when it is stored).
    pub definition: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub role_arn: String,
    pub created_ms: Millis,
    pub updated_ms: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: Millis,
    pub stop_ms: Option<Millis>,
    pub info: ExecutionInfo,
    /// The definition this execution runs (JSON text), kept with it: replay must use
    /// exactly what ran, even after the state machine is updated.
    pub definition: String,
    /// What the task resolver was configured with for this execution (mocks…), opaque here.
    pub task_config: Option<Value>,
    pub owner: Option<OwnerRecord>,
    /// Times the execution was redriven, and when last.
    pub redrive_count: u32,
    pub redrive_ms: Option<Millis>,
}

/// What a new execution needs besides its first step.
pub struct NewExecution<'a> {
    pub info: &'a ExecutionInfo,
    pub input: &'a Value,
    pub definition: &'a str,
    pub task_config: Option<&'a Value>,
}

/// One history event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: u64,
    pub event_type: String,
    pub timestamp: Millis,
    /// `GetExecutionHistory`'s shape, as JSON text.
    pub json: String,
}

/// How an activity or callback task is identified when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Activity,
    Callback,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Activity => "activity",
            TokenKind::Callback => "callback",
        }
    }
}

/// A task that waits for someone holding its token.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub token: String,
    pub task: TaskId,
    pub kind: TokenKind,
    pub state_name: String,
    pub resource: String,
    pub input: String,
    pub heartbeat_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
}

/// Why a token stopped being usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Succeeded,
    Failed,
    TimedOut,
    /// Cancelled by the execution (a sibling branch failed, the execution ended).
    Cancelled,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Succeeded => "succeeded",
            CloseReason::Failed => "failed",
            CloseReason::TimedOut => "timed_out",
            CloseReason::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> CloseReason {
        match s {
            "succeeded" => CloseReason::Succeeded,
            "failed" => CloseReason::Failed,
            "timed_out" => CloseReason::TimedOut,
            _ => CloseReason::Cancelled,
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow {
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stop_ms: Millis,
}

/// Everything one engine step changed; written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    /// The input fed to the engine (`None` for the start, whose input is the execution's).
    pub journal: Option<(u64, Millis, Input)>,
    pub events: Vec<EventRow>,
    pub new_tokens: Vec<NewToken>,
    pub closed_tokens: Vec<(TaskId, CloseReason)>,
    pub timers_started: Vec<(TimerId, Millis, Option<TaskId>)>,
    pub timers_removed: Vec<TimerId>,
    /// The worker message this step consumed.
    pub consumed_message: Option<i64>,
    pub now: Millis,
    pub outcome: Option<OutcomeRow>,
    /// The step redrove the ended execution: it runs again (this many redrives in all), and
    /// the step's owner drives it.
    pub redriven: Option<u32>,
}

/// A task a worker took.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTask {
    pub token: String,
    pub execution_arn: String,
    pub task: TaskId,
    pub input: String,
    pub heartbeat_seconds: Option<u64>,
}

/// A task waiting for its token to be answered (`Store::open_tasks`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenTask {
    pub token: String,
    /// `activity` or `callback`.
    pub kind: String,
    pub activity_arn: Option<String>,
    pub activity_name: Option<String>,
    pub execution_arn: String,
    pub state_name: String,
    pub resource: String,
    /// JSON text.
    pub input: String,
    /// `scheduled` (no worker yet) or `started`.
    pub status: String,
    pub worker: Option<String>,
    pub scheduled_ms: Millis,
    pub started_ms: Option<Millis>,
    pub heartbeat_ms: Option<Millis>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
}

/// A message from a worker (or a callback) to the execution's owner: the engine input it
/// asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    pub id: i64,
    pub execution_arn: String,
    pub input: Input,
}

/// The stored state of a task token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub token: String,
    pub execution_arn: String,
    pub task: TaskId,
    pub kind: String,
    pub state_name: String,
    pub resource: String,
    pub status: String,
    pub closed_reason: Option<CloseReason>,
    pub worker: Option<String>,
    pub heartbeat_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
}

/// What became of a message sent with a task token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Posted,
    UnknownToken,
    Closed(CloseReason),
}

/// What a worker sends with a token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenMessage {
    Success(Value),
    Failure { error: String, cause: String },
    Heartbeat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub arn: String,
    pub name: String,
    pub created_ms: Millis,
}

/// Which activity a worker polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityRef<'a> {
    Arn(&'a str),
    Name(&'a str),
}

impl<'a> ActivityRef<'a> {
    /// An ARN when it looks like one, otherwise a name.
    pub fn parse(s: &'a str) -> ActivityRef<'a> {
        if s.starts_with("arn:") { ActivityRef::Arn(s) } else { ActivityRef::Name(s) }
    }
}

/// The name part of an activity ARN (`arn:aws:states:REGION:ACCOUNT:activity:NAME`).
pub fn activity_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        [_, _, "states", _, _, "activity", name] if !name.is_empty() => Some(name),
        _ => None,
    }
}

/// The store's claim on an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This owner drives it now.
    Claimed,
    /// A live process drives it.
    OwnedBy(OwnerRecord),
    /// It is not running (or does not exist).
    NotRunning,
}

pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn json_opt(text: Option<String>) -> Result<Option<Value>> {
    Ok(match text {
        Some(t) => Some(serde_json::from_str(&t)?),
        None => None,
    })
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|x| u64::try_from(x).ok())
}

impl Store {
    /// Opens (creating when needed) the store of a data directory.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        let mut store = Store { conn, path: Some(path) };
        store.configure(true)?;
        Ok(store)
    }

    /// A store that lives only as long as this value (one connection: no other process or
    /// service can see it). `stepwise run --time-scale 0` uses it.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        let mut store = Store { conn, path: None };
        store.configure(false)?;
        Ok(store)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn configure(&mut self, file: bool) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(5))?;
        if file {
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let path = self.path.as_ref().map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        schema::migrate(&mut self.conn, &path)
    }

    /// A number that changes whenever another connection commits (`PRAGMA data_version`):
    /// a cheap way to know whether to look for worker messages.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    // -------------------------------------------------------------------------------
    // State machines
    // -------------------------------------------------------------------------------

    /// Adds a state machine; `false` when one with this ARN or name exists.
    pub fn insert_state_machine(&mut self, row: &StateMachineRow) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO state_machines (arn, name, definition, type, role_arn, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![row.arn, row.name, row.definition, row.machine_type, row.role_arn, row.created_ms, row.updated_ms],
        )?;
        Ok(n == 1)
    }

    /// Replaces a state machine's definition (and type); `false` when there is none.
    pub fn update_state_machine(&mut self, arn: &str, definition: &str, machine_type: &str, now: Millis) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE state_machines SET definition = ?2, type = ?3, updated_ms = ?4 WHERE arn = ?1",
            params![arn, definition, machine_type, now],
        )?;
        Ok(n == 1)
    }

    /// Adds a state machine or replaces its definition (what `stepwise run FILE` does).
    pub fn upsert_state_machine(&mut self, row: &StateMachineRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO state_machines (arn, name, definition, type, role_arn, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)
             ON CONFLICT(arn) DO UPDATE SET definition = excluded.definition, type = excluded.type,
               updated_ms = CASE WHEN state_machines.definition = excluded.definition
                                 THEN state_machines.updated_ms ELSE excluded.created_ms END",
            params![row.arn, row.name, row.definition, row.machine_type, row.role_arn, row.created_ms],
        )?;
        Ok(())
    }

    pub fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT arn, name, definition, type, role_arn, created_ms, updated_ms FROM state_machines WHERE arn = ?1",
                [arn],
                state_machine_row,
            )
            .optional()?)
    }

    /// Every state machine, by name.
    pub fn state_machines(&self) -> Result<Vec<StateMachineRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT arn, name, definition, type, role_arn, created_ms, updated_ms FROM state_machines ORDER BY name")?;
        let rows = stmt.query_map([], state_machine_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    // -------------------------------------------------------------------------------
    // Executions
    // -------------------------------------------------------------------------------

    /// Adds a running execution owned by `owner`, with its first step (the start), in one
    /// transaction. `false` when an execution with this ARN exists.
    pub fn insert_execution(&mut self, new: &NewExecution<'_>, owner: &Owner, step: &StepRecord) -> Result<bool> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let info = new.info;
        let n = tx.execute(
            "INSERT OR IGNORE INTO executions (arn, state_machine_arn, name, status, input, start_ms, info, definition,
               task_config, owner_id, owner_pid, owner_lease_ms)
             VALUES (?1, ?2, ?3, 'RUNNING', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                info.execution_arn,
                info.state_machine_arn,
                info.name,
                serde_json::to_string(new.input)?,
                info.start_time,
                serde_json::to_string(info)?,
                new.definition,
                new.task_config.map(serde_json::to_string).transpose()?,
                owner.id,
                owner.pid,
                now_wall_ms(),
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        write_step(&tx, &info.execution_arn, step)?;
        tx.commit()?;
        Ok(true)
    }

    /// Writes one engine step of an execution `owner` drives, all or nothing.
    pub fn record_step(&mut self, arn: &str, owner: &Owner, step: &StepRecord) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(count) = step.redriven {
            // Only an execution that ended unsuccessfully (`Status::ended_unsuccessfully`)
            // runs again; from then on it is this owner's.
            let reopened = tx.execute(
                "UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, stop_ms = NULL,
                   redrive_count = ?2, redrive_ms = ?3, owner_id = ?4, owner_pid = ?5, owner_lease_ms = ?6
                 WHERE arn = ?1 AND status IN ('FAILED', 'ABORTED', 'TIMED_OUT')",
                params![arn, count, step.now, owner.id, owner.pid, now_wall_ms()],
            )?;
            if reopened == 0 {
                return Err(StoreError::NoExecution(arn.to_owned()));
            }
        }
        let current: Option<Option<String>> = tx
            .query_row("SELECT owner_id FROM executions WHERE arn = ?1 AND status = 'RUNNING'", [arn], |r| r.get(0))
            .optional()?;
        match current {
            None => return Err(StoreError::NoExecution(arn.to_owned())),
            Some(Some(id)) if id == owner.id => {}
            Some(_) => return Err(StoreError::NotOwner(arn.to_owned())),
        }
        write_step(&tx, arn, step)?;
        tx.commit()?;
        Ok(())
    }

    pub fn execution(&self, arn: &str) -> Result<Option<ExecutionRow>> {
        let row = self
            .conn
            .query_row(&format!("{EXECUTION_COLUMNS} WHERE arn = ?1"), [arn], raw_execution_row)
            .optional()?;
        row.map(RawExecution::parse).transpose()
    }

    /// Executions, newest first, optionally of one state machine and/or with one status.
    pub fn executions(&self, state_machine_arn: Option<&str>, status: Option<&str>) -> Result<Vec<ExecutionRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "{EXECUTION_COLUMNS} WHERE (?1 IS NULL OR state_machine_arn = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY start_ms DESC, arn"
        ))?;
        let rows = stmt.query_map(params![state_machine_arn, status], raw_execution_row)?;
        let raw = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        raw.into_iter().map(RawExecution::parse).collect()
    }

    /// Takes an execution over when it runs and nobody (alive) drives it. `is_alive` decides
    /// about the recorded owner; the check and the take-over are one transaction, so two
    /// processes cannot both claim it.
    pub fn claim_execution(&mut self, arn: &str, owner: &Owner, is_alive: &dyn Fn(&OwnerRecord) -> bool) -> Result<Claim> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // status, owner id, owner pid, lease.
        type OwnerColumns = (String, Option<String>, Option<i64>, Option<i64>);
        let row: Option<OwnerColumns> = tx
            .query_row(
                "SELECT status, owner_id, owner_pid, owner_lease_ms FROM executions WHERE arn = ?1",
                [arn],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((status, id, pid, lease)) = row else { return Ok(Claim::NotRunning) };
        if status != "RUNNING" {
            return Ok(Claim::NotRunning);
        }
        if let Some(id) = id
            && id != owner.id {
                let record = OwnerRecord {
                    id,
                    pid: pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                    lease_ms: lease.unwrap_or(0),
                };
                if is_alive(&record) {
                    return Ok(Claim::OwnedBy(record));
                }
            }
        tx.execute(
            "UPDATE executions SET owner_id = ?2, owner_pid = ?3, owner_lease_ms = ?4 WHERE arn = ?1",
            params![arn, owner.id, owner.pid, now_wall_ms()],
        )?;
        tx.commit()?;
        Ok(Claim::Claimed)
    }

    /// Gives up driving an execution (a clean exit), so the next process need not wait.
    pub fn release_execution(&mut self, arn: &str, owner: &Owner) -> Result<()> {
        self.conn.execute(
            "UPDATE executions SET owner_id = NULL, owner_pid = NULL, owner_lease_ms = NULL WHERE arn = ?1 AND owner_id = ?2",
            params![arn, owner.id],
        )?;
        Ok(())
    }

    /// Says that `owner` is alive, for every execution it drives.
    pub fn refresh_lease(&mut self, owner: &Owner) -> Result<()> {
        self.conn.execute(
            "UPDATE executions SET owner_lease_ms = ?2 WHERE owner_id = ?1 AND status = 'RUNNING'",
            params![owner.id, now_wall_ms()],
        )?;
        Ok(())
    }

    /// An execution's journal of engine inputs, in order: `(seq, at, input)`.
    pub fn journal(&self, arn: &str) -> Result<Vec<(u64, Millis, Input)>> {
        let mut stmt = self.conn.prepare("SELECT seq, at_ms, input FROM journal WHERE execution_arn = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([arn], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, text) = row?;
            out.push((u64::try_from(seq).unwrap_or(0), at, serde_json::from_str(&text)?));
        }
        Ok(out)
    }

    /// The ids and types of an execution's history events, in id order.
    pub fn event_ids(&self, arn: &str) -> Result<Vec<(u64, String)>> {
        let mut stmt = self.conn.prepare("SELECT id, type FROM history WHERE execution_arn = ?1 ORDER BY id")?;
        let rows = stmt.query_map([arn], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, t) = row?;
            out.push((u64::try_from(id).unwrap_or(0), t));
        }
        Ok(out)
    }

    /// Up to `limit` history events after event `after` (before it when `reverse`), in
    /// AWS's shape.
    pub fn history(&self, arn: &str, after: Option<u64>, limit: usize, reverse: bool) -> Result<Vec<(u64, Value)>> {
        let sql = if reverse {
            "SELECT id, event FROM history WHERE execution_arn = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        } else {
            "SELECT id, event FROM history WHERE execution_arn = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"
        };
        let mut stmt = self.conn.prepare(sql)?;
        let after = after.and_then(|a| i64::try_from(a).ok());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![arn, after, limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, text) = row?;
            out.push((u64::try_from(id).unwrap_or(0), serde_json::from_str(&text)?));
        }
        Ok(out)
    }

    /// The timers an execution's steps started and did not remove: `(timer, at, task)`.
    pub fn timers(&self, arn: &str) -> Result<Vec<(TimerId, Millis, Option<TaskId>)>> {
        let mut stmt = self.conn.prepare("SELECT timer_id, at_ms, task_id FROM timers WHERE execution_arn = ?1 ORDER BY timer_id")?;
        let rows = stmt.query_map([arn], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (t, at, task) = row?;
            out.push((TimerId(t as u64), at, task.map(|x| TaskId(x as u64))));
        }
        Ok(out)
    }

    // -------------------------------------------------------------------------------
    // Task tokens and worker messages
    // -------------------------------------------------------------------------------

    /// The tokens of an execution, by task id.
    pub fn tokens(&self, arn: &str) -> Result<Vec<TokenRow>> {
        let mut stmt = self.conn.prepare(&format!("{TOKEN_COLUMNS} WHERE execution_arn = ?1 ORDER BY task_id"))?;
        let rows = stmt.query_map([arn], token_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn token(&self, token: &str) -> Result<Option<TokenRow>> {
        Ok(self.conn.query_row(&format!("{TOKEN_COLUMNS} WHERE token = ?1"), [token], token_row).optional()?)
    }

    /// Whether an activity has a task waiting for a worker (a read; cheap to poll).
    pub fn has_scheduled_task(&self, activity: ActivityRef<'_>) -> Result<bool> {
        let (sql, key) = match activity {
            ActivityRef::Arn(a) => ("SELECT EXISTS(SELECT 1 FROM tasks WHERE status = 'scheduled' AND activity_arn = ?1)", a),
            ActivityRef::Name(n) => ("SELECT EXISTS(SELECT 1 FROM tasks WHERE status = 'scheduled' AND activity_name = ?1)", n),
        };
        Ok(self.conn.query_row(sql, [key], |r| r.get(0))?)
    }

    /// Gives the oldest waiting task of an activity to `worker`, and tells the execution's
    /// owner (a `TaskStarted` message), in one transaction.
    pub fn claim_activity_task(&mut self, activity: ActivityRef<'_>, worker: &str) -> Result<Option<ClaimedTask>> {
        let (pick, key) = match activity {
            ActivityRef::Arn(a) => (
                "SELECT token FROM tasks WHERE status = 'scheduled' AND activity_arn = ?1 ORDER BY scheduled_ms, rowid LIMIT 1",
                a,
            ),
            ActivityRef::Name(n) => (
                "SELECT token FROM tasks WHERE status = 'scheduled' AND activity_name = ?1 ORDER BY scheduled_ms, rowid LIMIT 1",
                n,
            ),
        };
        self.claim_where(pick, key, worker)
    }

    /// Gives one particular waiting activity task (by its token) to `worker`: the app's
    /// Pending tasks panel takes the task the person picked, not the oldest.
    pub fn claim_task(&mut self, token: &str, worker: &str) -> Result<Option<ClaimedTask>> {
        self.claim_where("SELECT token FROM tasks WHERE status = 'scheduled' AND kind = 'activity' AND token = ?1", token, worker)
    }

    fn claim_where(&mut self, pick: &str, key: &str, worker: &str) -> Result<Option<ClaimedTask>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sql = format!(
            "UPDATE tasks SET status = 'started', worker = ?2, started_ms = ?3 WHERE token = ({pick})
             RETURNING token, execution_arn, task_id, input, heartbeat_seconds"
        );
        let now = now_wall_ms();
        let claimed = tx
            .query_row(&sql, params![key, worker, now], |r| {
                Ok(ClaimedTask {
                    token: r.get(0)?,
                    execution_arn: r.get(1)?,
                    task: TaskId(r.get::<_, i64>(2)? as u64),
                    input: r.get(3)?,
                    heartbeat_seconds: to_u64(r.get(4)?),
                })
            })
            .optional()?;
        if let Some(c) = &claimed {
            let input = Input::TaskStarted { task: c.task, worker: Some(worker.to_owned()) };
            insert_message(&tx, &c.execution_arn, &c.token, &input, now)?;
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// Every task still waiting for a token (scheduled or started), oldest first, across
    /// executions: what a person acting as the worker chooses from.
    pub fn open_tasks(&self) -> Result<Vec<OpenTask>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT token, kind, activity_arn, activity_name, execution_arn, state_name, resource, input, status,
                    worker, scheduled_ms, started_ms, heartbeat_ms, timeout_seconds, heartbeat_seconds
             FROM tasks WHERE status IN ('scheduled', 'started') ORDER BY scheduled_ms, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OpenTask {
                token: r.get(0)?,
                kind: r.get(1)?,
                activity_arn: r.get(2)?,
                activity_name: r.get(3)?,
                execution_arn: r.get(4)?,
                state_name: r.get(5)?,
                resource: r.get(6)?,
                input: r.get(7)?,
                status: r.get(8)?,
                worker: r.get(9)?,
                scheduled_ms: r.get(10)?,
                started_ms: r.get(11)?,
                heartbeat_ms: r.get(12)?,
                timeout_seconds: to_u64(r.get(13)?),
                heartbeat_seconds: to_u64(r.get(14)?),
            })
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Posts a worker's answer (or heartbeat) for a token. A success or failure closes the
    /// token in the same transaction, so a token is answered at most once.
    pub fn post_token_message(&mut self, token: &str, message: TokenMessage) -> Result<PostOutcome> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, i64, String, Option<String>)> = tx
            .query_row(
                "SELECT execution_arn, task_id, status, closed_reason FROM tasks WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((arn, task, status, reason)) = row else { return Ok(PostOutcome::UnknownToken) };
        if status == "closed" {
            return Ok(PostOutcome::Closed(CloseReason::parse(reason.as_deref().unwrap_or(""))));
        }
        let task = TaskId(task as u64);
        let now = now_wall_ms();
        let (input, close) = match message {
            TokenMessage::Success(output) => (Input::TaskSucceeded { task, output }, Some(CloseReason::Succeeded)),
            TokenMessage::Failure { error, cause } => (Input::TaskFailed { task, error, cause }, Some(CloseReason::Failed)),
            TokenMessage::Heartbeat => (Input::TaskHeartbeat { task }, None),
        };
        if let Some(reason) = close {
            tx.execute(
                "UPDATE tasks SET status = 'closed', closed_reason = ?2, closed_ms = ?3 WHERE token = ?1",
                params![token, reason.as_str(), now],
            )?;
        } else {
            tx.execute("UPDATE tasks SET heartbeat_ms = ?2 WHERE token = ?1", params![token, now])?;
        }
        insert_message(&tx, &arn, token, &input, now)?;
        tx.commit()?;
        Ok(PostOutcome::Posted)
    }

    /// Asks the owner of a running execution (whichever process) to stop it.
    pub fn post_stop(&mut self, arn: &str, input: &Input) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_message(&tx, arn, "", input, now_wall_ms())?;
        tx.commit()?;
        Ok(())
    }

    /// Messages waiting for their executions' owners, oldest first.
    pub fn task_messages(&self) -> Result<Vec<TaskMessage>> {
        let mut stmt = self.conn.prepare("SELECT id, execution_arn, input FROM task_messages ORDER BY id LIMIT 1000")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, execution_arn, text) = row?;
            out.push(TaskMessage { id, execution_arn, input: serde_json::from_str(&text)? });
        }
        Ok(out)
    }

    /// Drops a message that needs no engine step (its task is already over).
    pub fn delete_task_message(&mut self, id: i64) -> Result<()> {
        self.conn.execute("DELETE FROM task_messages WHERE id = ?1", [id])?;
        Ok(())
    }

    // -------------------------------------------------------------------------------
    // Activities
    // -------------------------------------------------------------------------------

    /// Adds an activity; `false` when it exists (creating one is idempotent, as in AWS).
    pub fn insert_activity(&mut self, arn: &str, name: &str, now: Millis) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO activities (arn, name, created_ms) VALUES (?1, ?2, ?3)",
            params![arn, name, now],
        )?;
        Ok(n == 1)
    }

    pub fn activity(&self, arn: &str) -> Result<Option<ActivityRow>> {
        Ok(self
            .conn
            .query_row("SELECT arn, name, created_ms FROM activities WHERE arn = ?1", [arn], activity_row)
            .optional()?)
    }

    /// Activities by name.
    pub fn activities(&self) -> Result<Vec<ActivityRow>> {
        let mut stmt = self.conn.prepare("SELECT arn, name, created_ms FROM activities ORDER BY name, arn")?;
        let rows = stmt.query_map([], activity_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// `false` when there was no such activity.
    pub fn delete_activity(&mut self, arn: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let deleted = tx.execute("DELETE FROM activities WHERE arn = ?1", [arn])? == 1;
        tx.execute("DELETE FROM tags WHERE resource_arn = ?1", [arn])?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Removes a state machine (and its tags); its executions stay (they keep the definition
    /// they started with). `false` when there was none.
    pub fn delete_state_machine(&mut self, arn: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let deleted = tx.execute("DELETE FROM state_machines WHERE arn = ?1", [arn])? == 1;
        tx.execute("DELETE FROM tags WHERE resource_arn = ?1", [arn])?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Sets tags of a resource (a key already there takes the new value), in one transaction;
    /// refused whole when the resource would then have more than `max` tags.
    pub fn tag_resource(&mut self, arn: &str, tags: &[(String, String)], max: usize) -> Result<std::result::Result<(), usize>> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO tags (resource_arn, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(resource_arn, key) DO UPDATE SET value = excluded.value",
            )?;
            for (k, v) in tags {
                stmt.execute(params![arn, k, v])?;
            }
        }
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM tags WHERE resource_arn = ?1", [arn], |r| r.get(0))?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > max {
            // Dropping the transaction rolls it back.
            return Ok(Err(count));
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Removes tags of a resource by key; keys it does not have are ignored (as in AWS).
    pub fn untag_resource(&mut self, arn: &str, keys: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for k in keys {
            tx.execute("DELETE FROM tags WHERE resource_arn = ?1 AND key = ?2", params![arn, k])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A resource's tags, by key.
    pub fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached("SELECT key, value FROM tags WHERE resource_arn = ?1 ORDER BY key")?;
        let rows = stmt.query_map([arn], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

const EXECUTION_COLUMNS: &str = "SELECT arn, state_machine_arn, name, status, input, output, error, cause, start_ms, stop_ms,
    info, definition, task_config, owner_id, owner_pid, owner_lease_ms, redrive_count, redrive_ms FROM executions";

const TOKEN_COLUMNS: &str = "SELECT token, execution_arn, task_id, kind, state_name, resource, status, closed_reason, worker,
    heartbeat_seconds, timeout_seconds FROM tasks";

struct RawExecution {
    arn: String,
    state_machine_arn: String,
    name: String,
    status: String,
    input: String,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    start_ms: i64,
    stop_ms: Option<i64>,
    info: String,
    definition: String,
    task_config: Option<String>,
    owner_id: Option<String>,
    owner_pid: Option<i64>,
    owner_lease_ms: Option<i64>,
    redrive_count: u32,
    redrive_ms: Option<i64>,
}

fn raw_execution_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawExecution> {
    Ok(RawExecution {
        arn: r.get(0)?,
        state_machine_arn: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        input: r.get(4)?,
        output: r.get(5)?,
        error: r.get(6)?,
        cause: r.get(7)?,
        start_ms: r.get(8)?,
        stop_ms: r.get(9)?,
        info: r.get(10)?,
        definition: r.get(11)?,
        task_config: r.get(12)?,
        owner_id: r.get(13)?,
        owner_pid: r.get(14)?,
        owner_lease_ms: r.get(15)?,
        redrive_count: r.get(16)?,
        redrive_ms: r.get(17)?,
    })
}

impl RawExecution {
    fn parse(self) -> Result<ExecutionRow> {
        Ok(ExecutionRow {
            arn: self.arn,
            state_machine_arn: self.state_machine_arn,
            name: self.name,
            status: self.status,
            input: serde_json::from_str(&self.input)?,
            output: json_opt(self.output)?,
            error: self.error,
            cause: self.cause,
            start_ms: self.start_ms,
            stop_ms: self.stop_ms,
            info: serde_json::from_str(&self.info)?,
            definition: self.definition,
            task_config: json_opt(self.task_config)?,
            owner: self.owner_id.map(|id| OwnerRecord {
                id,
                pid: self.owner_pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                lease_ms: self.owner_lease_ms.unwrap_or(0),
            }),
            redrive_count: self.redrive_count,
            redrive_ms: self.redrive_ms,
        })
    }
}

fn state_machine_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StateMachineRow> {
    Ok(StateMachineRow {
        arn: r.get(0)?,
        name: r.get(1)?,
        definition: r.get(2)?,
        machine_type: r.get(3)?,
        role_arn: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn activity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActivityRow> {
    Ok(ActivityRow { arn: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        token: r.get(0)?,
        execution_arn: r.get(1)?,
        task: TaskId(r.get::<_, i64>(2)? as u64),
        kind: r.get(3)?,
        state_name: r.get(4)?,
        resource: r.get(5)?,
        status: r.get(6)?,
        closed_reason: r.get::<_, Option<String>>(7)?.map(|s| CloseReason::parse(&s)),
        worker: r.get(8)?,
        heartbeat_seconds: to_u64(r.get(9)?),
        timeout_seconds: to_u64(r.get(10)?),
    })
}

fn insert_message(tx: &rusqlite::Transaction<'_>, arn: &str, token: &str, input: &Input, now: Millis) -> Result<()> {
    tx.execute(
        "INSERT INTO task_messages (execution_arn, token, input, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![arn, token, serde_json::to_string(input)?, now],
    )?;
    Ok(())
}

fn write_step(tx: &rusqlite::Transaction<'_>, arn: &str, step: &StepRecord) -> Result<()> {
    if let Some((seq, at, input)) = &step.journal {
        tx.execute(
            "INSERT INTO journal (execution_arn, seq, at_ms, input) VALUES (?1, ?2, ?3, ?4)",
            params![arn, *seq as i64, at, serde_json::to_string(input)?],
        )?;
    }
    if !step.events.is_empty() {
        let mut stmt =
            tx.prepare_cached("INSERT INTO history (execution_arn, id, type, timestamp_ms, event) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for e in &step.events {
            stmt.execute(params![arn, e.id as i64, e.event_type, e.timestamp, e.json])?;
        }
    }
    for t in &step.new_tokens {
        let (activity_arn, activity) = match t.kind {
            TokenKind::Activity => (Some(t.resource.as_str()), activity_name(&t.resource)),
            TokenKind::Callback => (None, None),
        };
        if let (Some(a), Some(name)) = (activity_arn, activity) {
            // Activities a definition names exist locally as soon as a task is scheduled.
            tx.execute(
                "INSERT OR IGNORE INTO activities (arn, name, created_ms) VALUES (?1, ?2, ?3)",
                params![a, name, step.now],
            )?;
        }
        tx.execute(
            "INSERT INTO tasks (token, execution_arn, task_id, kind, state_name, resource, activity_arn, activity_name,
               input, status, heartbeat_seconds, timeout_seconds, scheduled_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'scheduled', ?10, ?11, ?12)",
            params![
                t.token,
                arn,
                t.task.0 as i64,
                t.kind.as_str(),
                t.state_name,
                t.resource,
                activity_arn,
                activity,
                t.input,
                t.heartbeat_seconds.map(|s| s as i64),
                t.timeout_seconds.map(|s| s as i64),
                step.now,
            ],
        )?;
    }
    for (task, reason) in &step.closed_tokens {
        tx.execute(
            "UPDATE tasks SET status = 'closed', closed_reason = ?3, closed_ms = ?4
             WHERE execution_arn = ?1 AND task_id = ?2 AND status <> 'closed'",
            params![arn, task.0 as i64, reason.as_str(), step.now],
        )?;
    }
    for (timer, at, task) in &step.timers_started {
        tx.execute(
            "INSERT INTO timers (execution_arn, timer_id, at_ms, task_id) VALUES (?1, ?2, ?3, ?4)",
            params![arn, timer.0 as i64, at, task.map(|t| t.0 as i64)],
        )?;
    }
    for timer in &step.timers_removed {
        tx.execute("DELETE FROM timers WHERE execution_arn = ?1 AND timer_id = ?2", params![arn, timer.0 as i64])?;
    }
    if let Some(id) = step.consumed_message {
        tx.execute("DELETE FROM task_messages WHERE id = ?1", [id])?;
    }
    if let Some(o) = &step.outcome {
        tx.execute(
            "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, stop_ms = ?6,
               owner_id = NULL, owner_pid = NULL, owner_lease_ms = NULL
             WHERE arn = ?1",
            params![arn, o.status, o.output.as_ref().map(serde_json::to_string).transpose()?, o.error, o.cause, o.stop_ms],
        )?;
        tx.execute(
            "UPDATE tasks SET status = 'closed', closed_reason = 'cancelled', closed_ms = ?2
             WHERE execution_arn = ?1 AND status <> 'closed'",
            params![arn, o.stop_ms],
        )?;
        tx.execute("DELETE FROM timers WHERE execution_arn = ?1", [arn])?;
        tx.execute("DELETE FROM task_messages WHERE execution_arn = ?1", [arn])?;
    }
    Ok(())
}
