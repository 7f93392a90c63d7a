//! One execution bound to the store: every engine step is written before anyone acts on it.
//!
//! A [`Driver`] owns an [`Execution`] and what the engine's commands imply (pending tasks,
//! pending timers and which task each timer guards). [`Driver::feed`] hands one input to
//! the engine and writes the step ([`StepRecord`]: journal entry, events, tokens, timers,
//! outcome) in one transaction; only then does the caller see the [`Step`] (tasks to
//! dispatch, timers to arm). If the write fails the driver must be dropped: its memory is
//! ahead of the store, and [`Driver::resume`] rebuilds it from what was committed.
//!
//! Resuming replays the journal into a fresh `Execution` (same `ExecutionInfo`, so the same
//! seed, tokens and event ids) and checks the regenerated event ids and types, timers and
//! tokens against the stored ones; the regenerated events themselves are discarded.
//!
//! Which timer guards which task is not said by the engine; it is read from the order of
//! its commands: a task's `RunTask` is followed at once by its timeout timer and (for
//! callbacks and requests) its heartbeat timer, each at `now + seconds`; an activity's
//! heartbeat timer is the one started by a `TaskStarted`/`TaskHeartbeat` input. This is how
//! a token knows it timed out (`TaskTimedOut` to a late worker) and how `stepwise resume`
//! knows an execution waits only on workers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::engine::{Command, Event, Execution, ExecutionInfo, Input, Machine, Millis, Outcome, TaskId, TaskKind, TaskRequest, TimerId};
use crate::store::{CloseReason, EventRow, NewExecution, NewToken, OutcomeRow, Owner, StepRecord, Store, StoreError, TokenKind};

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("execution {0} already exists")]
    AlreadyExists(String),
    #[error("execution {0} is not running")]
    NotRunning(String),
    #[error("execution {arn} cannot be redriven: {why}")]
    NotRedrivable { arn: String, why: String },
    #[error("the stored definition of {arn} no longer compiles: {detail}")]
    Definition { arn: String, detail: String },
    #[error("replaying {arn} does not give what was stored: {detail}")]
    Diverged { arn: String, detail: String },
}

/// A request or callback task to hand to the resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub request: TaskRequest,
    /// How many tasks of the same state this execution ran before (retries included):
    /// what mock responses are indexed by, so resolvers need no memory of their own.
    pub invocation: u32,
}

/// What a committed step asks of the caller.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<Event>,
    /// Every task the step scheduled, activities included (a live service leaves those to
    /// workers; a virtual run answers them with mocks).
    pub dispatch: Vec<Dispatch>,
    pub cancelled: Vec<TaskId>,
    pub timers_started: Vec<(TimerId, Millis)>,
    pub timers_removed: Vec<TimerId>,
    /// Set by the step that ended the execution.
    pub outcome: Option<Outcome>,
}

/// What a resumed execution needs from its new driver.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Timers to arm again, at their original deadlines.
    pub timers: Vec<(TimerId, Millis)>,
    /// Request tasks whose answer never came: dispatched again.
    pub dispatch: Vec<Dispatch>,
    /// Journal entries replayed.
    pub replayed: usize,
}

struct PendingTask {
    request: TaskRequest,
    invocation: u32,
}

pub struct Driver {
    exec: Execution,
    arn: String,
    task_config: Option<Arc<Value>>,
    next_seq: u64,
    next_event: u64,
    timers: BTreeMap<TimerId, (Millis, Option<TaskId>)>,
    tasks: BTreeMap<TaskId, PendingTask>,
    invocations: FxHashMap<String, u32>,
    /// The step that ended the execution was absorbed (the engine ignores later inputs but
    /// a redrive).
    ended: bool,
    /// Redrives absorbed.
    redrives: u32,
}

/// A step before it is written: the record, and what the caller will be told.
struct Absorbed {
    record: StepRecord,
    step: Step,
}

/// The definition JSON a store keeps compiled into a machine.
pub fn compile(arn: &str, definition: &str) -> Result<Machine, DriverError> {
    let value: Value = serde_json::from_str(definition).map_err(|e| DriverError::Definition { arn: arn.to_owned(), detail: e.to_string() })?;
    Machine::compile(&value).map_err(|detail| DriverError::Definition { arn: arn.to_owned(), detail })
}

/// The task an input is about, if any.
pub fn task_of(input: &Input) -> Option<TaskId> {
    match input {
        Input::TaskStarted { task, .. }
        | Input::TaskHeartbeat { task }
        | Input::TaskSucceeded { task, .. }
        | Input::TaskFailed { task, .. }
        | Input::TaskTimedOut { task, .. } => Some(*task),
        Input::TimerFired { .. } | Input::Stop { .. } | Input::Redrive => None,
    }
}

fn event_row(e: &Event) -> EventRow {
    EventRow {
        id: e.id,
        event_type: e.event_type.to_owned(),
        timestamp: e.timestamp,
        json: e.to_aws_json().to_string(),
    }
}

impl Driver {
    fn new(machine: Arc<Machine>, info: ExecutionInfo, task_config: Option<Arc<Value>>) -> Driver {
        Driver {
            arn: info.execution_arn.clone(),
            exec: Execution::new(machine, info),
            task_config,
            next_seq: 1,
            next_event: 1,
            timers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            invocations: FxHashMap::default(),
            ended: false,
            redrives: 0,
        }
    }

    /// Starts a new execution and writes it with its first step; `owner` drives it.
    pub fn start(
        store: &mut Store,
        owner: &Owner,
        machine: Arc<Machine>,
        info: ExecutionInfo,
        definition: &str,
        input: Value,
        task_config: Option<Value>,
    ) -> Result<(Driver, Step), DriverError> {
        let start = info.start_time;
        let mut d = Driver::new(machine, info.clone(), task_config.map(Arc::new));
        d.exec.start(input.clone());
        let mut a = d.absorb(None, start)?;
        a.record.events = a.step.events.iter().map(event_row).collect();
        let new = NewExecution {
            info: &info,
            input: &input,
            definition,
            task_config: d.task_config.as_deref(),
        };
        if !store.insert_execution(&new, owner, &a.record)? {
            return Err(DriverError::AlreadyExists(info.execution_arn));
        }
        Ok((d, a.step))
    }

    /// Rebuilds a running execution from the store by replaying its journal.
    pub fn resume(store: &Store, arn: &str) -> Result<(Driver, Resumed), DriverError> {
        let row = store.execution(arn)?.ok_or_else(|| StoreError::NoExecution(arn.to_owned()))?;
        if row.status != "RUNNING" {
            return Err(DriverError::NotRunning(arn.to_owned()));
        }
        Driver::replay(store, arn, row)
    }

    /// Redrives an execution that ended failed, aborted or timed out (AWS's
    /// `RedriveExecution`): its journal is replayed to its end, then the redrive is fed and
    /// written like any step, with `owner` driving it from then on.
    pub fn redrive(store: &mut Store, owner: &Owner, arn: &str, now: Millis) -> Result<(Driver, Step), DriverError> {
        let row = store.execution(arn)?.ok_or_else(|| StoreError::NoExecution(arn.to_owned()))?;
        if !crate::engine::Status::name_ended_unsuccessfully(&row.status) {
            return Err(DriverError::NotRedrivable { arn: arn.to_owned(), why: format!("its status is {}", row.status) });
        }
        let (mut d, _) = Driver::replay(store, arn, row)?;
        if !d.exec.can_redrive() {
            let why = if d.exec.info().machine_type == crate::engine::MachineType::Express {
                "it is an EXPRESS execution".to_owned()
            } else {
                "it has no state to start again from".to_owned()
            };
            return Err(DriverError::NotRedrivable { arn: arn.to_owned(), why });
        }
        let step = d.feed(store, owner, now, Input::Redrive, None)?;
        Ok((d, step))
    }

    /// A fresh engine brought to where the stored execution is, checked against the store.
    fn replay(store: &Store, arn: &str, row: crate::store::ExecutionRow) -> Result<(Driver, Resumed), DriverError> {
        let running = row.status == "RUNNING";
        let diverged = |detail: String| DriverError::Diverged { arn: arn.to_owned(), detail };
        let machine = Arc::new(compile(arn, &row.definition)?);
        let start = row.info.start_time;
        let mut d = Driver::new(machine, row.info, row.task_config.map(Arc::new));
        let mut ids: Vec<(u64, &'static str)> = Vec::new();
        d.exec.start(row.input);
        let a = d.absorb(None, start)?;
        ids.extend(a.step.events.iter().map(|e| (e.id, e.event_type)));
        let journal = store.journal(arn)?;
        let replayed = journal.len();
        for (seq, at, input) in journal {
            if seq != d.next_seq {
                return Err(diverged(format!("journal entry {seq} where {} was expected", d.next_seq)));
            }
            d.exec.handle(at, input.clone());
            let a = d.absorb(Some(&input), at)?;
            ids.extend(a.step.events.iter().map(|e| (e.id, e.event_type)));
            d.next_seq += 1;
        }
        let stored = store.event_ids(arn)?;
        if stored.len() != ids.len() || stored.iter().zip(&ids).any(|((a, at), (b, bt))| a != b || at != bt) {
            let first = stored
                .iter()
                .zip(&ids)
                .find(|((a, at), (b, bt))| a != b || at != bt)
                .map_or_else(String::new, |((a, at), (_, bt))| format!("; event {a} is {at} stored, {bt} replayed"));
            return Err(diverged(format!("{} events stored, {} replayed{first}", stored.len(), ids.len())));
        }
        if d.exec.outcome().is_some() == running {
            let said = if running { "the replay ends the execution, the store says it runs" } else { "the replay leaves the execution running, the store says it ended" };
            return Err(diverged(said.into()));
        }
        let stored_timers = store.timers(arn)?;
        let timers: Vec<(TimerId, Millis, Option<TaskId>)> = d.timers.iter().map(|(t, (at, task))| (*t, *at, *task)).collect();
        if stored_timers != timers {
            return Err(diverged(format!("timers stored {stored_timers:?}, replayed {timers:?}")));
        }
        let engine_timers: Vec<(TimerId, Millis)> = d.exec.pending_timers();
        if engine_timers != d.timers.iter().map(|(t, (at, _))| (*t, *at)).collect::<Vec<_>>() {
            return Err(diverged("the engine's pending timers differ from its commands".into()));
        }
        if d.exec.pending_tasks() != d.tasks.keys().copied().collect::<Vec<_>>() {
            return Err(diverged("the engine's pending tasks differ from its commands".into()));
        }
        let tokens = store.tokens(arn)?;
        for (id, t) in &d.tasks {
            if t.request.kind != TaskKind::Request && !tokens.iter().any(|row| row.task == *id) {
                return Err(diverged(format!("task {} of state '{}' has no stored token", id.0, t.request.state_name)));
            }
        }
        let resumed = Resumed {
            timers: engine_timers,
            dispatch: d
                .tasks
                .values()
                .filter(|t| t.request.kind == TaskKind::Request)
                .map(|t| Dispatch { request: t.request.clone(), invocation: t.invocation })
                .collect(),
            replayed,
        };
        Ok((d, resumed))
    }

    /// Feeds one input at `now`, writes the step (consuming worker message `consumed`, if
    /// any) and returns what to do next. On an error the driver must be dropped.
    pub fn feed(&mut self, store: &mut Store, owner: &Owner, now: Millis, input: Input, consumed: Option<i64>) -> Result<Step, DriverError> {
        self.exec.handle(now, input.clone());
        let mut a = self.absorb(Some(&input), now)?;
        a.record.events = a.step.events.iter().map(event_row).collect();
        a.record.consumed_message = consumed;
        a.record.journal = Some((self.next_seq, now, input));
        store.record_step(&self.arn, owner, &a.record)?;
        self.next_seq += 1;
        Ok(a.step)
    }

    /// Reads the engine's output after a start or an input.
    fn absorb(&mut self, input: Option<&Input>, now: Millis) -> Result<Absorbed, DriverError> {
        let events = self.exec.take_events();
        let commands = self.exec.take_commands();
        for e in &events {
            if e.id != self.next_event {
                return Err(DriverError::Diverged {
                    arn: self.arn.clone(),
                    detail: format!("the engine wrote event {} where {} was next", e.id, self.next_event),
                });
            }
            self.next_event += 1;
        }
        let step_now = self.exec.now();
        let mut record = StepRecord { now: now.max(step_now), ..StepRecord::default() };
        let mut step = Step { events, ..Step::default() };
        let mut fired_task = None;
        let mut refreshed_task = None;
        let close = |tasks: &mut BTreeMap<TaskId, PendingTask>, record: &mut StepRecord, task: TaskId, reason: CloseReason| {
            if let Some(t) = tasks.remove(&task) {
                if t.request.kind != TaskKind::Request {
                    record.closed_tokens.push((task, reason));
                }
                true
            } else {
                false
            }
        };
        match input {
            Some(Input::TimerFired { timer }) => {
                if let Some((_, task)) = self.timers.remove(timer) {
                    record.timers_removed.push(*timer);
                    step.timers_removed.push(*timer);
                    fired_task = task;
                }
            }
            Some(Input::TaskSucceeded { task, .. }) => {
                close(&mut self.tasks, &mut record, *task, CloseReason::Succeeded);
            }
            Some(Input::TaskFailed { task, .. }) => {
                close(&mut self.tasks, &mut record, *task, CloseReason::Failed);
            }
            Some(Input::TaskTimedOut { task, .. }) => {
                close(&mut self.tasks, &mut record, *task, CloseReason::TimedOut);
            }
            Some(Input::TaskStarted { task, .. } | Input::TaskHeartbeat { task }) => refreshed_task = Some(*task),
            Some(Input::Redrive) => {
                // The engine ignores a redrive it cannot do; one it did may end at once again.
                let count = self.exec.redrive_count();
                if count > self.redrives {
                    self.redrives = count;
                    self.ended = false;
                    record.redriven = Some(count);
                }
            }
            Some(Input::Stop { .. }) | None => {}
        }
        // Deadlines of the timers that the last RunTask's task starts next, in order.
        let mut expected: VecDeque<Millis> = VecDeque::new();
        let mut expected_task = None;
        for command in commands {
            match command {
                Command::RunTask(request) => {
                    expected.clear();
                    if let Some(s) = request.timeout_seconds {
                        expected.push_back(step_now + (s as i64) * 1000);
                    }
                    if let (Some(s), false) = (request.heartbeat_seconds, request.kind == TaskKind::Activity) {
                        expected.push_back(step_now + (s as i64) * 1000);
                    }
                    expected_task = Some(request.id);
                    let count = self.invocations.entry(request.state_name.clone()).or_insert(0);
                    let invocation = *count;
                    *count += 1;
                    match request.kind {
                        TaskKind::Activity | TaskKind::Callback => {
                            let kind = if request.kind == TaskKind::Activity { TokenKind::Activity } else { TokenKind::Callback };
                            record.new_tokens.push(NewToken {
                                token: request.token.clone().unwrap_or_else(|| format!("{}#{}", self.arn, request.id.0)),
                                task: request.id,
                                kind,
                                state_name: request.state_name.clone(),
                                resource: request.resource.clone(),
                                input: request.payload.to_string(),
                                heartbeat_seconds: request.heartbeat_seconds,
                                timeout_seconds: request.timeout_seconds,
                            });
                        }
                        TaskKind::Request | TaskKind::ItemReader => {}
                    }
                    step.dispatch.push(Dispatch { request: request.clone(), invocation });
                    self.tasks.insert(request.id, PendingTask { request, invocation });
                }
                Command::StartTimer { timer, at } => {
                    let task = if expected.front() == Some(&at) {
                        expected.pop_front();
                        expected_task
                    } else {
                        expected.clear();
                        refreshed_task
                    };
                    self.timers.insert(timer, (at, task));
                    record.timers_started.push((timer, at, task));
                    step.timers_started.push((timer, at));
                }
                Command::CancelTimer(timer) => {
                    expected.clear();
                    if self.timers.remove(&timer).is_some() {
                        record.timers_removed.push(timer);
                        step.timers_removed.push(timer);
                    }
                }
                Command::CancelTask(task) => {
                    expected.clear();
                    let reason = if fired_task == Some(task) { CloseReason::TimedOut } else { CloseReason::Cancelled };
                    if close(&mut self.tasks, &mut record, task, reason) {
                        step.cancelled.push(task);
                    }
                }
            }
        }
        if let Some(o) = self.exec.outcome()
            && !self.ended {
                self.ended = true;
                record.outcome = Some(OutcomeRow {
                    status: o.status.name().to_owned(),
                    output: o.output.clone(),
                    error: o.error.clone(),
                    cause: o.cause.clone(),
                    stop_ms: step_now,
                });
                step.outcome = Some(o.clone());
                // The engine cancels what is left; anything it did not name goes too.
                self.tasks.clear();
                self.timers.clear();
            }
        Ok(Absorbed { record, step })
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn task_config(&self) -> Option<&Arc<Value>> {
        self.task_config.as_ref()
    }

    pub fn execution(&self) -> &Execution {
        &self.exec
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.exec.outcome()
    }

    /// Whether the task is waiting for an answer.
    pub fn is_pending(&self, task: TaskId) -> bool {
        self.tasks.contains_key(&task)
    }

    pub fn task_kind(&self, task: TaskId) -> Option<TaskKind> {
        self.tasks.get(&task).map(|t| t.request.kind)
    }

    /// Pending timers: `(timer, deadline)`, by timer id.
    pub fn timers(&self) -> Vec<(TimerId, Millis)> {
        self.timers.iter().map(|(t, (at, _))| (*t, *at)).collect()
    }

    pub fn timer_deadline(&self, timer: TimerId) -> Option<Millis> {
        self.timers.get(&timer).map(|(at, _)| *at)
    }

    /// The execution only waits for workers or callbacks: no request task is pending and
    /// every timer guards a task that waits for a token (its timeout or heartbeat).
    pub fn waits_only_on_workers(&self) -> bool {
        self.exec.outcome().is_none()
            && !self.tasks.is_empty()
            && self.tasks.values().all(|t| t.request.kind != TaskKind::Request)
            && self.timers.values().all(|(_, task)| task.is_some_and(|t| self.tasks.contains_key(&t)))
    }

    /// The states whose tasks wait, with their resources, by task id.
    pub fn waiting_states(&self) -> Vec<(String, String)> {
        self.tasks.values().map(|t| (t.request.state_name.clone(), t.request.resource.clone())).collect()
    }
}
