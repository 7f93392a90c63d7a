//! The interpreter of one execution.
//!
//! An [`Execution`] is a set of *threads*: the top level, each running Parallel branch and
//! each running Map iteration. A thread is either runnable (in the ready queue) or waiting:
//! for a task result, a timer, or its children. [`Execution::handle`] feeds one input (a
//! task result, a timer firing, a stop request) at a given time and runs every runnable
//! thread until all wait again; what the outside world must do comes out as [`Command`]s,
//! and what happened as history [`Event`]s.
//!
//! Nothing here reads a clock or a random source: time comes with each input and the
//! random generator is seeded by the caller. Feeding the same inputs again gives the same
//! events and commands, which is how the runtime resumes an execution after a restart.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::choice;
use super::env::{Env, Random, Vars};
use super::failure::{Failure, names};
use super::history::{Details, Event, Millis, entered_type, exited_type, iso_time};
use super::io_jsonpath as jp;
use super::jsonata_eval as jsonata;
use super::machine::{Machine, ROOT_SCOPE, ScopeId, StateDef, StateId};
use crate::asl::model::StateType;

/// A map keyed by ids that only grow: a sorted vector. Inserts append; an execution usually
/// holds one or two entries, and thousands of executions may be parked at once, so this
/// allocates exactly what it holds while small (a hash map reserves several buckets).
#[derive(Debug)]
struct IdMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap { entries: Vec::new() }
    }
}

impl<K: Ord + Copy, V> IdMap<K, V> {
    fn insert(&mut self, key: K, value: V) {
        if self.entries.len() == self.entries.capacity() && self.entries.len() < 4 {
            self.entries.reserve_exact(1);
        }
        match self.entries.last() {
            Some((last, _)) if *last >= key => match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => self.entries[i].1 = value,
                Err(i) => self.entries.insert(i, (key, value)),
            },
            _ => self.entries.push((key, value)),
        }
    }

    fn get(&self, key: K) -> Option<&V> {
        self.entries
            .binary_search_by(|(k, _)| k.cmp(&key))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    fn remove(&mut self, key: K) -> Option<V> {
        let i = self.entries.binary_search_by(|(k, _)| k.cmp(&key)).ok()?;
        Some(self.entries.remove(i).1)
    }

    fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    fn iter(&self) -> impl Iterator<Item = &(K, V)> + '_ {
        self.entries.iter()
    }

    fn into_vec(self) -> Vec<(K, V)> {
        self.entries
    }
}

/// A JSONata failure as a runtime error value; `after_step` adds where it happened.
fn ja<T>(r: Result<T, jsonata::QueryFailure>) -> Result<T, Failure> {
    r.map_err(|q| q.to_failure())
}

/// Largest state input or output, in bytes of JSON text (AWS's 256 KiB payload quota).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerId(pub u64);

type ThreadId = usize;

/// What the outside world tells the interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input")]
pub enum Input {
    /// A worker took an activity task (or a service acknowledged a request).
    TaskStarted { task: TaskId, worker: Option<String> },
    TaskHeartbeat { task: TaskId },
    TaskSucceeded { task: TaskId, output: Value },
    TaskFailed { task: TaskId, error: String, cause: String },
    /// The task ran out of time on the resource's side (a mocked timeout).
    TaskTimedOut { task: TaskId, error: String, cause: String },
    TimerFired { timer: TimerId },
    Stop { error: Option<String>, cause: Option<String> },
    /// Runs a failed, aborted or timed-out execution again from the state it stopped in
    /// (AWS's `RedriveExecution`); ignored unless [`Execution::can_redrive`].
    Redrive,
}

/// How a task resource is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// `arn:aws:states:…:activity:NAME`: a worker polls for it.
    Activity,
    /// `.waitForTaskToken`: the request is sent; a callback with the token completes it.
    Callback,
    /// Request-response and `.sync`: the resource's answer completes it.
    Request,
    /// A Distributed Map's `ItemReader`: the answer is the array of items (the runtime reads
    /// and parses the object or listing).
    ItemReader,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    pub id: TaskId,
    pub state_name: String,
    pub resource: String,
    pub kind: TaskKind,
    pub payload: Value,
    pub token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// How many times this state's task has been tried before (0 the first time).
    pub attempt: u32,
}

/// What the interpreter asks the outside world to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    RunTask(TaskRequest),
    CancelTask(TaskId),
    StartTimer { timer: TimerId, at: Millis },
    CancelTimer(TimerId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    /// Failed, timed out or aborted: the ends a redrive goes on from.
    pub fn ended_unsuccessfully(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut | Status::Aborted)
    }

    /// [`Status::ended_unsuccessfully`] for a status as AWS and the store write it.
    pub fn name_ended_unsuccessfully(name: &str) -> bool {
        [Status::Failed, Status::TimedOut, Status::Aborted].iter().any(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

/// Who and what an execution is: the values of the context object's `Execution` and
/// `StateMachine` parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub start_time: Millis,
    pub machine_type: MachineType,
    /// Seeds `States.UUID`, `States.MathRandom`, task tokens and retry jitter.
    pub seed: u64,
    /// Merged into the context object (`stepwise run --context`).
    pub extra_context: Option<Value>,
}

/// One answer from a state's body.
enum Step {
    /// The state is done; go to `next` (or end the thread when `None`).
    Next(Value, Option<StateId>),
    /// The same, with an output shared with the input (a Pass that changes nothing).
    Shared(Arc<Value>, Option<StateId>),
    /// The thread waits for a task, a timer or its children.
    Wait,
    /// The state failed; Retry and Catch may still handle it.
    Fail(Failure),
    /// The thread ends in failure (a Fail state): no Retry or Catch in this scope applies.
    FailThread(Failure),
    /// The thread ends successfully (Succeed state).
    Succeed(Value),
}

struct Children {
    kind: StateType,
    /// Running thread of each slot.
    threads: Vec<Option<ThreadId>>,
    results: Vec<Option<Value>>,
    /// Inputs not yet started (Map), by slot.
    pending_inputs: VecDeque<(usize, Value)>,
    running: usize,
    finished: usize,
    failed: usize,
    max_concurrency: usize,
    tolerated_count: Option<u64>,
    tolerated_percentage: Option<f64>,
    distributed: bool,
    /// Slots whose failure a distributed Map tolerated (their result holds the error).
    tolerated_slots: Vec<usize>,
}

impl Children {
    /// The results of the children that succeeded, by slot: what a redrive keeps.
    fn succeeded(&self) -> Vec<Option<Value>> {
        let mut kept = self.results.clone();
        for &slot in &self.tolerated_slots {
            if let Some(r) = kept.get_mut(slot) {
                *r = None;
            }
        }
        kept
    }
}

enum Phase {
    Ready,
    Task {
        task: TaskId,
        kind: TaskKind,
        resource: Arc<str>,
        heartbeat_seconds: Option<u64>,
        timeout_timer: Option<TimerId>,
        heartbeat_timer: Option<TimerId>,
    },
    Wait {
        timer: TimerId,
        output: Value,
    },
    Retry {
        timer: TimerId,
    },
    /// A Map waiting for its ItemReader's items.
    ReadItems {
        task: TaskId,
    },
    Children(Box<Children>),
    Done,
}

struct Thread {
    scope: ScopeId,
    state: StateId,
    /// The current state's raw input; shared with the history events that show it.
    input: Arc<Value>,
    vars: Vars,
    parent: Option<(ThreadId, usize)>,
    phase: Phase,
    last_event: u64,
    /// The id of the current state's `…StateEntered` event (AWS names it in error causes).
    entered_event: u64,
    entered_at: Millis,
    /// Retries done in this visit of the state.
    attempt: u32,
    retry_counts: Vec<u32>,
    /// The current task's token, for `$$.Task.Token`.
    token: Option<String>,
    /// `$$.Map.Item` while an iteration's input is built; kept for the context object.
    map_item: Option<Box<(usize, Value)>>,
}

#[derive(Clone, Copy)]
enum TimerPurpose {
    Wait,
    Retry,
    TaskTimeout,
    Heartbeat,
    ExecutionTimeout,
}

/// Where a redrive picks up: the top-level state that did not finish, as it was entered, and
/// for a Parallel or Map the results of the branches and iterations that succeeded (AWS runs
/// only the others again).
struct RedrivePoint {
    state: StateId,
    input: Arc<Value>,
    vars: Vars,
    kept: Option<Vec<Option<Value>>>,
}

pub struct Execution {
    machine: Arc<Machine>,
    info: ExecutionInfo,
    input: Arc<Value>,
    threads: Vec<Option<Thread>>,
    /// Slots of `threads` that ended, for reuse.
    free_threads: Vec<ThreadId>,
    ready: VecDeque<ThreadId>,
    tasks: IdMap<TaskId, ThreadId>,
    timers: IdMap<TimerId, (Option<ThreadId>, TimerPurpose, Millis)>,
    next_task: u64,
    next_timer: u64,
    now: Millis,
    random: Random,
    events: Vec<Event>,
    next_event_id: u64,
    record_history: bool,
    commands: Vec<Command>,
    outcome: Option<Box<Outcome>>,
    transitions: u64,
    /// Set when the execution ends unsuccessfully.
    redrive_point: Option<Box<RedrivePoint>>,
    /// The children results of the top-level Parallel or Map that just failed, with the id
    /// of its entered event (a Retry or Catch that follows makes them stale).
    root_kept: Option<(u64, Vec<Option<Value>>)>,
    /// Results a redriven top-level Parallel or Map starts with: its thread and state. Taken
    /// by the first fork that starts its children after the redrive, used only if it is that one.
    redrive_kept: Option<(ThreadId, StateId, Vec<Option<Value>>)>,
    redrive_count: u32,
}

/// Whether a Retry or Catch's `ErrorEquals` covers `error`. `States.ALL` covers everything
/// but the terminal errors (which never reach here); `States.TaskFailed` everything but
/// timeouts.
fn error_matches(list: &[String], error: &str) -> bool {
    list.iter().any(|e| {
        e == error
            || e == names::ALL
            || (e == names::TASK_FAILED && error != names::TIMEOUT && error != names::HEARTBEAT_TIMEOUT)
    })
}

/// The size of a value's compact JSON text, stopping early once past `limit`.
fn json_size_over(v: &Value, limit: usize) -> bool {
    fn size(v: &Value, acc: &mut usize, limit: usize) {
        if *acc > limit {
            return;
        }
        match v {
            Value::Null => *acc += 4,
            Value::Bool(b) => *acc += if *b { 4 } else { 5 },
            Value::Number(n) => *acc += n.to_string().len(),
            Value::String(s) => *acc += s.len() + 2,
            Value::Array(a) => {
                *acc += 2 + a.len().saturating_sub(1);
                for x in a {
                    size(x, acc, limit);
                }
            }
            Value::Object(m) => {
                *acc += 2 + m.len().saturating_sub(1);
                for (k, x) in m {
                    *acc += k.len() + 3;
                    size(x, acc, limit);
                }
            }
        }
    }
    let mut acc = 0;
    size(v, &mut acc, limit);
    acc > limit
}

fn resource_parts(resource: &str) -> (String, String) {
    // arn:aws:states:::service:action[.pattern] or arn:aws:states:::aws-sdk:service:action
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.len() == 6 && parts[2] == "states" && parts[4].is_empty() {
        let rest = parts[5];
        if let Some(sdk) = rest.strip_prefix("aws-sdk:")
            && let Some((svc, action)) = sdk.split_once(':') {
                return (format!("aws-sdk:{svc}"), action.to_owned());
            }
        if let Some((svc, action)) = rest.split_once(':') {
            return (svc.to_owned(), action.to_owned());
        }
    }
    if parts.len() == 6 && parts[2] == "lambda" {
        return ("lambda".into(), "invoke".into());
    }
    (String::new(), resource.to_owned())
}

pub fn is_activity(resource: &str) -> bool {
    let parts: Vec<&str> = resource.split(':').collect();
    parts.len() >= 7 && parts[2] == "states" && parts[5] == "activity"
}

impl Execution {
    pub fn new(machine: Arc<Machine>, info: ExecutionInfo) -> Execution {
        let random = Random::new(info.seed);
        let now = info.start_time;
        Execution {
            machine,
            info,
            input: Arc::new(Value::Null),
            threads: Vec::new(),
            free_threads: Vec::new(),
            ready: VecDeque::new(),
            tasks: IdMap::default(),
            timers: IdMap::default(),
            next_task: 1,
            next_timer: 1,
            now,
            random,
            events: Vec::new(),
            next_event_id: 1,
            record_history: true,
            commands: Vec::new(),
            outcome: None,
            transitions: 0,
            redrive_point: None,
            root_kept: None,
            redrive_kept: None,
            redrive_count: 0,
        }
    }

    /// Keeps no history (the interpreter then only computes the outcome).
    pub fn without_history(mut self) -> Execution {
        self.record_history = false;
        self
    }

    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_deref()
    }

    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// Tasks scheduled and not yet answered, cancelled or timed out.
    pub fn pending_tasks(&self) -> Vec<TaskId> {
        self.tasks.keys().collect()
    }

    /// Timers started and not yet fired or cancelled, with their deadlines.
    pub fn pending_timers(&self) -> Vec<(TimerId, Millis)> {
        self.timers.iter().map(|(id, (_, _, at))| (*id, *at)).collect()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Starts the execution at `info.start_time` and runs until every thread waits.
    pub fn start(&mut self, input: Value) {
        let input = Arc::new(input);
        self.input = Arc::clone(&input);
        self.emit_raw(
            0,
            "ExecutionStarted",
            Details::ExecutionStarted {
                input: input.clone(),
                role_arn: self.info.role_arn.clone(),
            },
        );
        self.arm_execution_timeout();
        let start = self.machine.scopes[ROOT_SCOPE].start;
        let tid = self.spawn(ROOT_SCOPE, start, input, Vars::new(), None, 1);
        self.ready.push_back(tid);
        self.run();
    }

    /// Whether the execution ended failed, aborted or timed out with a state to start again
    /// from (AWS's redrive applies to STANDARD executions only).
    pub fn can_redrive(&self) -> bool {
        self.info.machine_type == MachineType::Standard
            && self.redrive_point.is_some()
            && self.outcome.as_ref().is_some_and(|o| o.status.ended_unsuccessfully())
    }

    /// How many times the execution was redriven.
    pub fn redrive_count(&self) -> u32 {
        self.redrive_count
    }

    /// Starts the machine's TimeoutSeconds, counted from now (the start, or a redrive).
    fn arm_execution_timeout(&mut self) {
        if let Some(t) = self.machine.timeout_seconds {
            self.new_timer(None, TimerPurpose::ExecutionTimeout, self.now + (t as i64) * 1000);
        }
    }

    /// Feeds one input at time `now` and runs until every thread waits again.
    pub fn handle(&mut self, now: Millis, input: Input) {
        if matches!(input, Input::Redrive) {
            if self.can_redrive() {
                self.now = self.now.max(now);
                self.redrive();
                self.run();
            }
            return;
        }
        if self.outcome.is_some() {
            return;
        }
        self.now = self.now.max(now);
        match input {
            Input::TimerFired { timer } => self.timer_fired(timer),
            Input::TaskStarted { task, worker } => self.task_started(task, worker),
            Input::TaskHeartbeat { task } => self.task_heartbeat(task),
            Input::TaskSucceeded { task, output } => self.task_done(task, Ok(output)),
            Input::TaskFailed { task, error, cause } => {
                self.task_done(task, Err((Failure::new(error, cause), false)))
            }
            Input::TaskTimedOut { task, error, cause } => {
                self.task_done(task, Err((Failure::new(error, cause), true)))
            }
            Input::Stop { error, cause } => {
                let details = Details::ErrorCause {
                    error: error.clone().unwrap_or_default(),
                    cause: cause.clone().unwrap_or_default(),
                };
                self.finish(Status::Aborted, None, error, cause, "ExecutionAborted", details);
            }
            Input::Redrive => {}
        }
        self.run();
    }

    /// Starts the execution again where it stopped: `ExecutionRedriven`, then the top-level
    /// state that did not finish is entered anew with the input and variables it had, its
    /// retry counts reset, the execution's timeout counted again from now. A Parallel or Map
    /// keeps the results of its branches and iterations that succeeded and runs only the rest.
    fn redrive(&mut self) {
        let Some(point) = self.redrive_point.take() else { return };
        self.outcome = None;
        self.redrive_count += 1;
        // `finish` dropped every thread: no slot is free to reuse.
        self.free_threads.clear();
        let previous = self.next_event_id - 1;
        let redriven = self.emit_raw(previous, "ExecutionRedriven", Details::Object(json!({"redriveCount": self.redrive_count})));
        self.arm_execution_timeout();
        let RedrivePoint { state, input, vars, kept } = *point;
        let tid = self.spawn(ROOT_SCOPE, state, input, vars, None, redriven);
        self.redrive_kept = kept.map(|k| (tid, state, k));
        self.ready.push_back(tid);
    }

    // -----------------------------------------------------------------------------------
    // Threads and events
    // -----------------------------------------------------------------------------------

    fn spawn(
        &mut self,
        scope: ScopeId,
        state: StateId,
        input: Arc<Value>,
        vars: Vars,
        parent: Option<(ThreadId, usize)>,
        last_event: u64,
    ) -> ThreadId {
        let thread = Thread {
            scope,
            state,
            input,
            vars,
            parent,
            phase: Phase::Ready,
            last_event,
            entered_event: 0,
            entered_at: self.now,
            attempt: 0,
            retry_counts: Vec::new(),
            token: None,
            map_item: None,
        };
        // Most executions never have more than one thread: no spare capacity for them.
        if self.threads.len() == self.threads.capacity() && self.threads.len() < 4 {
            self.threads.reserve_exact(1);
        }
        if let Some(free) = self.free_threads.pop() {
            self.threads[free] = Some(thread);
            free
        } else {
            self.threads.push(Some(thread));
            self.threads.len() - 1
        }
    }

    fn emit_raw(&mut self, previous: u64, event_type: &'static str, details: Details) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        if self.record_history {
            self.events.push(Event {
                id,
                previous_event_id: previous,
                timestamp: self.now,
                event_type,
                details,
            });
        }
        id
    }

    fn emit(&mut self, tid: ThreadId, event_type: &'static str, details: Details) {
        let previous = self.threads[tid].as_ref().map_or(0, |t| t.last_event);
        let id = self.emit_raw(previous, event_type, details);
        if let Some(t) = self.threads[tid].as_mut() {
            t.last_event = id;
        }
    }

    fn new_timer(&mut self, tid: Option<ThreadId>, purpose: TimerPurpose, at: Millis) -> TimerId {
        let id = TimerId(self.next_timer);
        self.next_timer += 1;
        self.timers.insert(id, (tid, purpose, at));
        self.commands.push(Command::StartTimer { timer: id, at });
        id
    }

    fn start_timer(&mut self, tid: ThreadId, purpose: TimerPurpose, at: Millis) -> TimerId {
        self.new_timer(Some(tid), purpose, at)
    }

    fn cancel_timer(&mut self, timer: Option<TimerId>) {
        if let Some(t) = timer
            && self.timers.remove(t).is_some() {
                self.commands.push(Command::CancelTimer(t));
            }
    }

    fn thread(&self, tid: ThreadId) -> Option<&Thread> {
        self.threads.get(tid).and_then(Option::as_ref)
    }

    fn thread_mut(&mut self, tid: ThreadId) -> Option<&mut Thread> {
        self.threads.get_mut(tid).and_then(Option::as_mut)
    }

    fn run(&mut self) {
        while let Some(tid) = self.ready.pop_front() {
            if self.outcome.is_some() {
                self.ready.clear();
                return;
            }
            self.run_thread(tid);
        }
    }

    /// Runs one thread from the entry of its current state until it waits or ends.
    fn run_thread(&mut self, tid: ThreadId) {
        let machine = Arc::clone(&self.machine);
        loop {
            let now = self.now;
            self.transitions += 1;
            let record = self.record_history;
            let Some(t) = self.threads.get_mut(tid).and_then(Option::as_mut) else { return };
            let def = machine.state(t.scope, t.state);
            t.entered_at = now;
            t.attempt = 0;
            t.retry_counts.clear();
            t.token = None;
            if record {
                let input = Arc::clone(&t.input);
                self.emit(
                    tid,
                    entered_type(def.kind),
                    Details::StateEntered {
                        name: Arc::clone(&def.name),
                        input,
                    },
                );
            }
            let entered = self.next_event_id - 1;
            if let Some(t) = self.thread_mut(tid) {
                t.entered_event = entered;
            }
            let step = if def.plain_pass {
                let Some(t) = self.thread_mut(tid) else { return };
                Step::Shared(Arc::clone(&t.input), def.next)
            } else {
                self.execute(tid, def)
            };
            if !self.after_step(tid, def, step) {
                return;
            }
            if self.outcome.is_some() {
                return;
            }
        }
    }

    /// Applies a state's result. Returns true when the thread goes on to another state at
    /// once (so the caller loops), false when it waits or ended.
    fn after_step(&mut self, tid: ThreadId, def: &StateDef, step: Step) -> bool {
        match step {
            Step::Next(output, next) => self.after_step(tid, def, Step::Shared(Arc::new(output), next)),
            Step::Shared(output, next) => {
                if json_size_over(&output, MAX_PAYLOAD_BYTES) {
                    return self.after_step(
                        tid,
                        def,
                        Step::Fail(Failure::new(
                            names::DATA_LIMIT_EXCEEDED,
                            format!(
                                "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                                def.name
                            ),
                        )),
                    );
                }
                if self.record_history {
                    self.emit(
                        tid,
                        exited_type(def.kind),
                        Details::StateExited {
                            name: Arc::clone(&def.name),
                            output: Arc::clone(&output),
                        },
                    );
                }
                match next {
                    Some(n) => {
                        if let Some(t) = self.thread_mut(tid) {
                            t.state = n;
                            t.input = output;
                            t.phase = Phase::Ready;
                        }
                        true
                    }
                    None => {
                        let output = Arc::try_unwrap(output).unwrap_or_else(|shared| (*shared).clone());
                        self.thread_ended(tid, Ok(output));
                        false
                    }
                }
            }
            Step::Succeed(output) => {
                if self.record_history {
                    self.emit(
                        tid,
                        exited_type(def.kind),
                        Details::StateExited {
                            name: Arc::clone(&def.name),
                            output: Arc::new(output.clone()),
                        },
                    );
                }
                self.thread_ended(tid, Ok(output));
                false
            }
            Step::Wait => false,
            Step::FailThread(f) => {
                let f = self.located(tid, def, f);
                self.thread_ended(tid, Err(f));
                false
            }
            Step::Fail(f) => match self.handle_failure(tid, def, self.located(tid, def, f)) {
                Some(step) => self.after_step(tid, def, step),
                None => false,
            },
        }
    }

    /// AWS prefixes the causes of the errors it raises while evaluating a state with where
    /// it happened.
    fn located(&self, tid: ThreadId, def: &StateDef, mut f: Failure) -> Failure {
        const PREFIX: &str = "An error occurred while executing the state";
        if (f.error == names::RUNTIME || f.error == names::QUERY_EVALUATION_ERROR) && !f.cause.starts_with(PREFIX) {
            let entered = self.thread(tid).map_or(0, |t| t.entered_event);
            f.cause = format!("{PREFIX} '{}' (entered at the event id #{entered}). {}", def.name, f.cause);
        }
        f
    }

    /// Retry or Catch for a failed state. `None` when a retry was scheduled.
    fn handle_failure(&mut self, tid: ThreadId, def: &StateDef, failure: Failure) -> Option<Step> {
        // States.Runtime ends the execution whatever the state's Retry and Catch say
        // (AWS's rule). Everything else, States.DataLimitExceeded included (recorded), can
        // be retried and caught.
        if failure.error == names::RUNTIME {
            return Some(Step::FailThread(failure));
        }
        let matches = |errors: &[String]| error_matches(errors, &failure.error);
        if let Some((i, r)) = def
            .retriers
            .iter()
            .enumerate()
            .find(|(_, r)| matches(&r.errors))
        {
            let t = self.thread_mut(tid)?;
            if t.retry_counts.len() < def.retriers.len() {
                t.retry_counts.resize(def.retriers.len(), 0);
            }
            let count = t.retry_counts[i];
            if count < r.max_attempts {
                t.retry_counts[i] += 1;
                t.attempt += 1;
                let mut delay = r.interval_seconds * r.backoff_rate.powi(count as i32);
                if let Some(max) = r.max_delay_seconds {
                    delay = delay.min(max);
                }
                if r.full_jitter {
                    let unit = (self.random.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    delay *= unit;
                }
                let at = self.now + (delay * 1000.0).round() as i64;
                let timer = self.start_timer(tid, TimerPurpose::Retry, at);
                if let Some(t) = self.thread_mut(tid) {
                    t.phase = Phase::Retry { timer };
                }
                return None;
            }
        }
        if let Some(c) = def.catchers.iter().find(|c| matches(&c.errors)) {
            let error_output = json!({"Error": failure.error, "Cause": failure.cause});
            return Some(match self.catch_output(tid, def, &c.fields, error_output) {
                Ok(output) => Step::Next(output, Some(c.next)),
                Err(f) => Step::FailThread(f),
            });
        }
        Some(Step::FailThread(failure))
    }

    fn catch_output(
        &mut self,
        tid: ThreadId,
        def: &StateDef,
        catcher: &Map<String, Value>,
        error_output: Value,
    ) -> Result<Value, Failure> {
        let context = self.context(tid, def);
        let Some(t) = self.thread(tid) else {
            return Err(Failure::runtime("internal: thread vanished"));
        };
        let input = (*t.input).clone();
        let vars = t.vars.clone();
        if def.is_jsonata() {
            let states = json!({"input": input, "context": context, "errorOutput": error_output});
            let output = match catcher.get("Output") {
                Some(o) => ja(jsonata::evaluate_field("Output", o, &states, &vars, &self.random))?,
                None => error_output,
            };
            self.assign_jsonata(tid, catcher.get("Assign"), &states)?;
            Ok(output)
        } else {
            let env = self.env(&error_output, &context, &vars);
            let assigned = match catcher.get("Assign") {
                Some(a) => Some(jp::apply_template(a, &env)?),
                None => None,
            };
            let output = jp::apply_result_path(&input, error_output.clone(), catcher.get("ResultPath"))?;
            self.assign_values(tid, assigned);
            Ok(output)
        }
    }

    /// A thread finished its scope.
    fn thread_ended(&mut self, tid: ThreadId, result: Result<Value, Failure>) {
        let Some(thread) = self.threads.get_mut(tid).and_then(Option::take) else {
            return;
        };
        self.free_threads.push(tid);
        match thread.parent {
            None => match result {
                Ok(output) => {
                    let details = Details::ExecutionSucceeded { output: output.clone() };
                    self.finish_from(thread.last_event, Status::Succeeded, Some(output), None, None, "ExecutionSucceeded", details);
                }
                Err(f) => {
                    let kept = self.root_kept.take().filter(|(entered, _)| *entered == thread.entered_event).map(|(_, k)| k);
                    self.redrive_point = Some(Box::new(RedrivePoint { state: thread.state, input: thread.input, vars: thread.vars, kept }));
                    let details = Details::ErrorCause {
                        error: f.error.clone(),
                        cause: f.cause.clone(),
                    };
                    self.finish_from(thread.last_event, Status::Failed, None, Some(f.error), Some(f.cause), "ExecutionFailed", details);
                }
            },
            Some((parent, slot)) => self.child_ended(parent, slot, thread.last_event, result),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_from(
        &mut self,
        previous: u64,
        status: Status,
        output: Option<Value>,
        error: Option<String>,
        cause: Option<String>,
        event_type: &'static str,
        details: Details,
    ) {
        if self.outcome.is_some() {
            return;
        }
        self.emit_raw(previous, event_type, details);
        if status != Status::Succeeded && self.redrive_point.is_none() {
            // Aborted or timed out: the top-level thread is still in the state it stopped in.
            let root = self.threads.iter().flatten().find(|t| t.parent.is_none());
            self.redrive_point = root.map(|t| {
                let kept = match &t.phase {
                    Phase::Children(c) => Some(c.succeeded()),
                    _ => None,
                };
                Box::new(RedrivePoint { state: t.state, input: Arc::clone(&t.input), vars: t.vars.clone(), kept })
            });
        }
        self.outcome = Some(Box::new(Outcome {
            status,
            output,
            error,
            cause,
        }));
        // Everything still running is abandoned: cancel its tasks and timers.
        for (task, _) in std::mem::take(&mut self.tasks).into_vec() {
            self.commands.push(Command::CancelTask(task));
        }
        let timers: Vec<TimerId> = std::mem::take(&mut self.timers).into_vec().into_iter().map(|(t, _)| t).collect();
        for t in timers {
            self.commands.push(Command::CancelTimer(t));
        }
        self.threads.clear();
        self.ready.clear();
    }

    fn finish(
        &mut self,
        status: Status,
        output: Option<Value>,
        error: Option<String>,
        cause: Option<String>,
        event_type: &'static str,
        details: Details,
    ) {
        let previous = self.next_event_id - 1;
        self.finish_from(previous, status, output, error, cause, event_type, details);
    }

    /// Stops a thread and everything under it (a sibling branch failed).
    fn abort_thread(&mut self, tid: ThreadId) {
        let Some(thread) = self.threads.get_mut(tid).and_then(Option::take) else {
            return;
        };
        self.free_threads.push(tid);
        match thread.phase {
            Phase::Task {
                task,
                timeout_timer,
                heartbeat_timer,
                ..
            } => {
                if self.tasks.remove(task).is_some() {
                    self.commands.push(Command::CancelTask(task));
                }
                self.cancel_timer(timeout_timer);
                self.cancel_timer(heartbeat_timer);
            }
            Phase::Wait { timer, .. } | Phase::Retry { timer } => self.cancel_timer(Some(timer)),
            Phase::ReadItems { task } => {
                if self.tasks.remove(task).is_some() {
                    self.commands.push(Command::CancelTask(task));
                }
            }
            Phase::Children(children) => {
                for child in children.threads.into_iter().flatten() {
                    self.abort_thread(child);
                }
            }
            Phase::Ready | Phase::Done => {}
        }
        self.ready.retain(|&r| r != tid);
    }

    // -----------------------------------------------------------------------------------
    // Context object and variables
    // -----------------------------------------------------------------------------------

    fn context(&self, tid: ThreadId, def: &StateDef) -> Value {
        let Some(t) = self.thread(tid) else {
            return Value::Null;
        };
        let mut state = Map::new();
        state.insert("Name".into(), json!(&*def.name));
        state.insert("EnteredTime".into(), json!(iso_time(t.entered_at)));
        if def.kind == StateType::Task {
            state.insert("RetryCount".into(), json!(t.attempt));
        }
        let mut ctx = Map::new();
        ctx.insert(
            "Execution".into(),
            json!({
                "Id": self.info.execution_arn,
                "Input": *self.input,
                "StartTime": iso_time(self.info.start_time),
                "Name": self.info.name,
                "RoleArn": self.info.role_arn,
                "RedriveCount": 0,
            }),
        );
        ctx.insert(
            "StateMachine".into(),
            json!({"Id": self.info.state_machine_arn, "Name": self.info.state_machine_name}),
        );
        ctx.insert("State".into(), Value::Object(state));
        if let Some(token) = &t.token {
            ctx.insert("Task".into(), json!({"Token": token}));
        }
        if let Some((index, value)) = t.map_item.as_deref() {
            ctx.insert("Map".into(), json!({"Item": {"Index": index, "Value": value}}));
        }
        let mut ctx = Value::Object(ctx);
        if let Some(extra) = &self.info.extra_context {
            merge(&mut ctx, extra);
        }
        ctx
    }

    fn assign_values(&mut self, tid: ThreadId, assigned: Option<Value>) {
        if let (Some(Value::Object(values)), Some(t)) = (assigned, self.thread_mut(tid)) {
            for (k, v) in values {
                t.vars.set(k, v);
            }
        }
    }

    fn assign_jsonata(&mut self, tid: ThreadId, assign: Option<&Value>, states: &Value) -> Result<(), Failure> {
        let Some(assign) = assign else { return Ok(()) };
        let Some(t) = self.thread(tid) else { return Ok(()) };
        let value = ja(jsonata::evaluate_field("Assign", assign, states, &t.vars, &self.random))?;
        self.assign_values(tid, Some(value));
        Ok(())
    }

    /// What a JSONPath expression of this execution sees: `$`, `$$` and the variables.
    fn env<'a>(&'a self, input: &'a Value, context: &'a Value, vars: &'a Vars) -> Env<'a> {
        Env {
            input,
            context,
            vars,
            random: &self.random,
        }
    }

    /// A JSONata state's `Output`, or its input when it has none.
    fn jsonata_output(&self, output: Option<&Value>, states: &Value, vars: &Vars, input: &Value) -> Result<Value, Failure> {
        match output {
            Some(o) => ja(jsonata::evaluate_field("Output", o, states, vars, &self.random)),
            None => Ok(input.clone()),
        }
    }

    fn states_object(&self, tid: ThreadId, _def: &StateDef, context: Value) -> Value {
        let input = self.thread(tid).map(|t| (*t.input).clone()).unwrap_or(Value::Null);
        json!({"input": input, "context": context})
    }

    // -----------------------------------------------------------------------------------
    // State bodies
    // -----------------------------------------------------------------------------------

    fn execute(&mut self, tid: ThreadId, def: &StateDef) -> Step {
        let result = match def.kind {
            StateType::Pass => self.pass(tid, def),
            StateType::Choice => self.choice(tid, def),
            StateType::Succeed => self.succeed(tid, def),
            StateType::Fail => self.fail(tid, def),
            StateType::Wait => self.wait(tid, def),
            StateType::Task => self.task(tid, def),
            StateType::Parallel | StateType::Map => self.fork(tid, def),
        };
        result.unwrap_or_else(Step::Fail)
    }

    fn context_if_needed(&self, tid: ThreadId, def: &StateDef) -> Value {
        if def.reads_context || self.info.extra_context.is_some() {
            self.context(tid, def)
        } else {
            Value::Null
        }
    }

    fn pass(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        if def.is_jsonata() {
            let states = self.states_object(tid, def, context);
            let output = self.jsonata_output(def.field("Output"), &states, &t.vars, &t.input)?;
            self.assign_jsonata(tid, def.field("Assign"), &states)?;
            return Ok(Step::Next(output, def.next));
        }
        let env = self.env(&t.input, &context, &t.vars);
        let effective = jp::apply_input_path(&t.input, def.field("InputPath"), &env)?;
        let env = Env { input: &effective, ..env };
        let result = match (def.field("Result"), def.field("Parameters")) {
            (Some(r), _) => r.clone(),
            (None, Some(p)) => jp::apply_template(p, &env)?,
            (None, None) => effective.clone(),
        };
        let assigned = match def.field("Assign") {
            Some(a) => Some(jp::apply_template(a, &Env { input: &result, ..env })?),
            None => None,
        };
        let output = jp::apply_result_path(&t.input, result, def.field("ResultPath"))?;
        let output = jp::apply_output_path(output, def.field("OutputPath"), &env)?;
        self.assign_values(tid, assigned);
        Ok(Step::Next(output, def.next))
    }

    fn succeed(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        if def.is_jsonata() {
            let states = self.states_object(tid, def, context);
            let output = self.jsonata_output(def.field("Output"), &states, &t.vars, &t.input)?;
            return Ok(Step::Succeed(output));
        }
        let env = self.env(&t.input, &context, &t.vars);
        let effective = jp::apply_input_path(&t.input, def.field("InputPath"), &env)?;
        let output = jp::apply_output_path(effective, def.field("OutputPath"), &env)?;
        Ok(Step::Succeed(output))
    }

    fn fail(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        let text = |v: Value| match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let (error, cause) = if def.is_jsonata() {
            let states = self.states_object(tid, def, context);
            let eval = |name: &str| -> Result<Option<String>, Failure> {
                match def.field(name) {
                    Some(v) => Ok(Some(text(ja(jsonata::evaluate_field(name, v, &states, &t.vars, &self.random))?))),
                    None => Ok(None),
                }
            };
            (eval("Error")?, eval("Cause")?)
        } else {
            let env = self.env(&t.input, &context, &t.vars);
            let eval = |name: &str| -> Result<Option<String>, Failure> {
                if let Some(v) = def.field(name) {
                    return Ok(v.as_str().map(str::to_owned));
                }
                match def.field(&format!("{name}Path")).and_then(Value::as_str) {
                    Some(p) => Ok(Some(text(jp::select_in_field(p, &format!("{name}Path"), &env)?))),
                    None => Ok(None),
                }
            };
            (eval("Error")?, eval("Cause")?)
        };
        Ok(Step::FailThread(Failure::new(
            error.unwrap_or_default(),
            cause.unwrap_or_default(),
        )))
    }

    fn choice(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        if def.is_jsonata() {
            let states = self.states_object(tid, def, context);
            for rule in &def.choices {
                let cond = rule.rule.get("Condition").unwrap_or(&Value::Null);
                if ja(jsonata::evaluate_condition("Condition", cond, &states, &t.vars, &self.random))? {
                    let output = self.jsonata_output(rule.rule.get("Output").or(def.field("Output")), &states, &t.vars, &t.input)?;
                    let rule_assign = rule.rule.get("Assign").cloned();
                    self.assign_jsonata(tid, def.field("Assign"), &states)?;
                    self.assign_jsonata(tid, rule_assign.as_ref(), &states)?;
                    return Ok(Step::Next(output, Some(rule.next)));
                }
            }
            return match def.default {
                Some(d) => {
                    let output = self.jsonata_output(def.field("Output"), &states, &t.vars, &t.input)?;
                    self.assign_jsonata(tid, def.field("Assign"), &states)?;
                    Ok(Step::Next(output, Some(d)))
                }
                None => Err(no_choice(def)),
            };
        }
        let env = self.env(&t.input, &context, &t.vars);
        let effective = jp::apply_input_path(&t.input, def.field("InputPath"), &env)?;
        let env = Env { input: &effective, ..env };
        let mut chosen = None;
        for rule in &def.choices {
            if choice::matches(&rule.rule, &env)? {
                chosen = Some((rule.next, rule.rule.get("Assign")));
                break;
            }
        }
        let (next, rule_assign) = match chosen {
            Some(c) => c,
            None => match def.default {
                Some(d) => (d, None),
                None => return Err(no_choice(def)),
            },
        };
        let mut assigned = Map::new();
        for a in [def.field("Assign"), rule_assign].into_iter().flatten() {
            if let Value::Object(m) = jp::apply_template(a, &env)? {
                assigned.extend(m);
            }
        }
        let output = jp::apply_output_path(effective.clone(), def.field("OutputPath"), &env)?;
        self.assign_values(tid, Some(Value::Object(assigned)));
        Ok(Step::Next(output, Some(next)))
    }

    fn wait(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        let (output, until) = if def.is_jsonata() {
            let states = self.states_object(tid, def, context);
            let until = if let Some(s) = def.field("Seconds") {
                let v = ja(jsonata::evaluate_field("Seconds", s, &states, &t.vars, &self.random))?;
                WaitUntil::SecondsFromPath(JSONATA_SOURCE.into(), v)
            } else if let Some(ts) = def.field("Timestamp") {
                WaitUntil::TimestampFromPath(
                    JSONATA_SOURCE.into(),
                    ja(jsonata::evaluate_field("Timestamp", ts, &states, &t.vars, &self.random))?,
                )
            } else {
                WaitUntil::Seconds(json!(0))
            };
            let output = self.jsonata_output(def.field("Output"), &states, &t.vars, &t.input)?;
            self.assign_jsonata(tid, def.field("Assign"), &states)?;
            (output, until)
        } else {
            let env = self.env(&t.input, &context, &t.vars);
            let effective = jp::apply_input_path(&t.input, def.field("InputPath"), &env)?;
            let env = Env { input: &effective, ..env };
            let until = if let Some(s) = def.field("Seconds") {
                WaitUntil::Seconds(s.clone())
            } else if let Some(p) = def.field("SecondsPath").and_then(Value::as_str) {
                let v = jp::select(p, &env).map_err(|_| {
                    Failure::runtime(format!("The SecondsPath parameter does not reference an input value: {p}"))
                })?;
                WaitUntil::SecondsFromPath(p.to_owned(), v)
            } else if let Some(ts) = def.field("Timestamp") {
                WaitUntil::Timestamp(ts.clone())
            } else if let Some(p) = def.field("TimestampPath").and_then(Value::as_str) {
                let v = jp::select(p, &env).map_err(|_| {
                    Failure::runtime(format!("The TimestampPath parameter does not reference an input value: {p}"))
                })?;
                WaitUntil::TimestampFromPath(p.to_owned(), v)
            } else {
                WaitUntil::Seconds(json!(0))
            };
            let assigned = match def.field("Assign") {
                Some(a) => Some(jp::apply_template(a, &env)?),
                None => None,
            };
            let output = jp::apply_output_path(effective.clone(), def.field("OutputPath"), &env)?;
            self.assign_values(tid, assigned);
            (output, until)
        };
        let (seconds, timestamp) = match until {
            WaitUntil::Seconds(v) => (Some((None, v)), None),
            WaitUntil::SecondsFromPath(p, v) => (Some((Some(p), v)), None),
            WaitUntil::Timestamp(v) => (None, Some((None, v))),
            WaitUntil::TimestampFromPath(p, v) => (None, Some((Some(p), v))),
        };
        let shown = |path: &Option<String>, v: &Value| match path {
            Some(p) => format!("{p} == {}", plain_text(v)),
            None => plain_text(v),
        };
        let at = if let Some((path, v)) = seconds {
            if path.as_deref() == Some(JSONATA_SOURCE) && v.as_i64().is_none_or(|n| n < 0) {
                return Err(Failure::query(format!(
                    "The Seconds field must be a non-negative integer, but was: {}",
                    plain_text(&v)
                )));
            }
            let secs = match v.as_i64() {
                Some(n) if n < 0 => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter references a negative value: {}",
                        shown(&path, &v)
                    )));
                }
                Some(n) => n,
                None => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {}",
                        shown(&path, &v)
                    )));
                }
            };
            self.now.saturating_add(secs.saturating_mul(1000))
        } else if let Some((path, v)) = timestamp {
            let ts = v.as_str().and_then(choice::timestamp).ok_or_else(|| {
                if path.as_deref() == Some(JSONATA_SOURCE) {
                    return Failure::query(format!(
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
                        plain_text(&v)
                    ));
                }
                Failure::runtime(format!(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {}",
                    shown(&path, &v)
                ))
            })?;
            ts.timestamp_millis()
        } else {
            self.now
        };
        // AWS keeps a wait's delay in a signed 32-bit count of seconds.
        if (at - self.now) / 1000 > i64::from(i32::MAX) {
            return Err(Failure::runtime("Wait state delay is too long."));
        }
        let timer = self.start_timer(tid, TimerPurpose::Wait, at.max(self.now));
        if let Some(t) = self.thread_mut(tid) {
            t.phase = Phase::Wait { timer, output };
        }
        Ok(Step::Wait)
    }

    // -----------------------------------------------------------------------------------
    // Tasks
    // -----------------------------------------------------------------------------------

    fn task_token(&self, task: TaskId) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.random.next_u64(),
            self.random.next_u64(),
            task.0
        )
    }

    /// A number field that may come from a path (`TimeoutSecondsPath`) or an expression.
    fn seconds_field(&self, tid: ThreadId, def: &StateDef, name: &str, env_input: &Value, context: &Value) -> Result<Option<u64>, Failure> {
        let Some(t) = self.thread(tid) else { return Ok(None) };
        let value = if let Some(v) = def.field(name) {
            if def.is_jsonata() {
                let states = json!({"input": *t.input, "context": context});
                ja(jsonata::evaluate_field(name, v, &states, &t.vars, &self.random))?
            } else {
                v.clone()
            }
        } else if let Some(p) = def.field(&format!("{name}Path")).and_then(Value::as_str) {
            let env = Env {
                input: env_input,
                context,
                vars: &t.vars,
                random: &self.random,
            };
            jp::select(p, &env)?
        } else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(Failure::runtime(format!(
                "The {name} field of state '{}' must be a positive integer, got {value}",
                def.name
            ))),
        }
    }

    fn task(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        let resource: Arc<str> = def.resource.clone().unwrap_or_else(|| Arc::from(""));
        let kind = if is_activity(&resource) {
            TaskKind::Activity
        } else if resource.ends_with(".waitForTaskToken") {
            TaskKind::Callback
        } else {
            TaskKind::Request
        };
        let task = TaskId(self.next_task);
        self.next_task += 1;
        if kind != TaskKind::Request || def.reads_context {
            let token = self.task_token(task);
            if let Some(t) = self.thread_mut(tid) {
                t.token = Some(token);
            }
        }
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        let (payload, effective) = if def.is_jsonata() {
            let states = self.states_object(tid, def, context.clone());
            let payload = match def.field("Arguments") {
                Some(a) => ja(jsonata::evaluate_field("Arguments", a, &states, &t.vars, &self.random))?,
                None => (*t.input).clone(),
            };
            (payload, (*t.input).clone())
        } else {
            let env = self.env(&t.input, &context, &t.vars);
            let effective = jp::apply_input_path(&t.input, def.field("InputPath"), &env)?;
            let payload = match def.field("Parameters") {
                Some(p) => jp::apply_template(p, &Env { input: &effective, ..env })?,
                None => effective.clone(),
            };
            (payload, effective)
        };
        let timeout_seconds = self.seconds_field(tid, def, "TimeoutSeconds", &effective, &context)?;
        let heartbeat_seconds = self.seconds_field(tid, def, "HeartbeatSeconds", &effective, &context)?;
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        let token = t.token.clone();
        let attempt = t.attempt;
        let (resource_type, action) = resource_parts(&resource);
        match kind {
            TaskKind::Activity => {
                let mut d = Map::new();
                d.insert("resource".into(), json!(&*resource));
                d.insert("input".into(), json!(super::history::json_text(&payload)));
                d.insert("inputDetails".into(), json!({"truncated": false}));
                if let Some(s) = timeout_seconds {
                    d.insert("timeoutInSeconds".into(), json!(s));
                }
                if let Some(s) = heartbeat_seconds {
                    d.insert("heartbeatInSeconds".into(), json!(s));
                }
                self.emit(tid, "ActivityScheduled", Details::Object(Value::Object(d)));
            }
            _ => {
                let mut d = Map::new();
                d.insert("resourceType".into(), json!(resource_type));
                d.insert("resource".into(), json!(action));
                d.insert("region".into(), json!(region_of(&self.info.state_machine_arn)));
                d.insert("parameters".into(), json!(super::history::json_text(&payload)));
                if let Some(s) = timeout_seconds {
                    d.insert("timeoutInSeconds".into(), json!(s));
                }
                if let Some(s) = heartbeat_seconds {
                    d.insert("heartbeatInSeconds".into(), json!(s));
                }
                self.emit(tid, "TaskScheduled", Details::Object(Value::Object(d)));
                // AWS starts a service task as soon as it is scheduled (no worker takes it),
                // and records both events before the result.
                self.emit(tid, "TaskStarted", Details::Object(json!({"resourceType": resource_type, "resource": action})));
            }
        }
        self.tasks.insert(task, tid);
        self.commands.push(Command::RunTask(TaskRequest {
            id: task,
            state_name: def.name.to_string(),
            resource: resource.to_string(),
            kind,
            payload,
            token,
            timeout_seconds,
            heartbeat_seconds,
            attempt,
        }));
        let timeout_timer = timeout_seconds
            .map(|s| self.start_timer(tid, TimerPurpose::TaskTimeout, self.now + (s as i64) * 1000));
        let heartbeat_timer = match (kind, heartbeat_seconds) {
            (TaskKind::Activity, _) | (_, None) => None,
            (_, Some(s)) => Some(self.start_timer(tid, TimerPurpose::Heartbeat, self.now + (s as i64) * 1000)),
        };
        if let Some(t) = self.thread_mut(tid) {
            t.phase = Phase::Task {
                task,
                kind,
                resource,
                heartbeat_seconds,
                timeout_timer,
                heartbeat_timer,
            };
        }
        Ok(Step::Wait)
    }

    fn task_started(&mut self, task: TaskId, worker: Option<String>) {
        let Some(&tid) = self.tasks.get(task) else { return };
        let (kind, resource, heartbeat) = match self.thread(tid).map(|t| &t.phase) {
            Some(Phase::Task {
                kind,
                resource,
                heartbeat_seconds,
                ..
            }) => (*kind, resource.clone(), *heartbeat_seconds),
            _ => return,
        };
        if kind == TaskKind::Activity {
            let mut d = Map::new();
            if let Some(w) = worker {
                d.insert("workerName".into(), json!(w));
            }
            self.emit(tid, "ActivityStarted", Details::Object(Value::Object(d)));
        } else {
            // A service task was started when it was scheduled.
            let _ = resource;
            return;
        }
        if let Some(s) = heartbeat {
            let timer = self.start_timer(tid, TimerPurpose::Heartbeat, self.now + (s as i64) * 1000);
            if let Some(Phase::Task { heartbeat_timer, .. }) = self.thread_mut(tid).map(|t| &mut t.phase) {
                let old = heartbeat_timer.replace(timer);
                self.cancel_timer(old);
            }
        }
    }

    fn task_heartbeat(&mut self, task: TaskId) {
        let Some(&tid) = self.tasks.get(task) else { return };
        let heartbeat = match self.thread(tid).map(|t| &t.phase) {
            Some(Phase::Task { heartbeat_seconds, .. }) => *heartbeat_seconds,
            _ => return,
        };
        if let Some(s) = heartbeat {
            let timer = self.start_timer(tid, TimerPurpose::Heartbeat, self.now + (s as i64) * 1000);
            if let Some(Phase::Task { heartbeat_timer, .. }) = self.thread_mut(tid).map(|t| &mut t.phase) {
                let old = heartbeat_timer.replace(timer);
                self.cancel_timer(old);
            }
        }
    }

    /// A task finished: `Err((failure, timed_out))`.
    fn task_done(&mut self, task: TaskId, result: Result<Value, (Failure, bool)>) {
        let Some(tid) = self.tasks.remove(task) else { return };
        let machine = Arc::clone(&self.machine);
        let Some(t) = self.thread_mut(tid) else { return };
        let def = machine.state(t.scope, t.state);
        if matches!(t.phase, Phase::ReadItems { .. }) {
            t.phase = Phase::Ready;
            let step = match result {
                Ok(Value::Array(items)) => {
                    let max = def
                        .field("ItemReader")
                        .and_then(|r| r.pointer("/ReaderConfig/MaxItems"))
                        .and_then(Value::as_u64);
                    let mut items = items;
                    if let Some(max) = max.filter(|m| *m > 0) {
                        items.truncate(usize::try_from(max).unwrap_or(usize::MAX));
                    }
                    self.fork_with(tid, def, Some(items)).unwrap_or_else(Step::Fail)
                }
                Ok(other) => Step::Fail(Failure::new(
                    names::ITEM_READER_FAILED,
                    format!("The ItemReader did not return an array of items: {}", super::history::json_text(&other)),
                )),
                Err((f, _)) => Step::Fail(f),
            };
            if self.after_step(tid, def, step) {
                self.ready.push_back(tid);
            }
            return;
        }
        let (kind, resource, timeout_timer, heartbeat_timer) =
            match std::mem::replace(&mut t.phase, Phase::Done) {
                Phase::Task {
                    kind,
                    resource,
                    timeout_timer,
                    heartbeat_timer,
                    ..
                } => (kind, resource, timeout_timer, heartbeat_timer),
                _ => return,
            };
        self.cancel_timer(timeout_timer);
        self.cancel_timer(heartbeat_timer);
        let (resource_type, action) = resource_parts(&resource);
        let activity = kind == TaskKind::Activity;
        let step = match result {
            Ok(output) => {
                if json_size_over(&output, MAX_PAYLOAD_BYTES) {
                    Step::Fail(Failure::new(
                        names::DATA_LIMIT_EXCEEDED,
                        format!(
                            "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                            def.name
                        ),
                    ))
                } else {
                    let text = super::history::json_text(&output);
                    if activity {
                        self.emit(
                            tid,
                            "ActivitySucceeded",
                            Details::Object(json!({"output": text, "outputDetails": {"truncated": false}})),
                        );
                    } else {
                        self.emit(
                            tid,
                            "TaskSucceeded",
                            Details::Object(json!({
                                "resourceType": resource_type, "resource": action,
                                "output": text, "outputDetails": {"truncated": false}
                            })),
                        );
                    }
                    self.task_result(tid, def, output).unwrap_or_else(Step::Fail)
                }
            }
            Err((f, timed_out)) => {
                let event = match (activity, timed_out) {
                    (true, true) => "ActivityTimedOut",
                    (true, false) => "ActivityFailed",
                    (false, true) => "TaskTimedOut",
                    (false, false) => "TaskFailed",
                };
                let details = if activity {
                    json!({"error": f.error, "cause": f.cause})
                } else {
                    json!({"resourceType": resource_type, "resource": action, "error": f.error, "cause": f.cause})
                };
                self.emit(tid, event, Details::Object(details));
                Step::Fail(f)
            }
        };
        if self.after_step(tid, def, step) {
            self.ready.push_back(tid);
        }
    }

    /// ResultSelector → ResultPath → OutputPath (or Output), and Assign.
    fn task_result(&mut self, tid: ThreadId, def: &StateDef, result: Value) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        if def.is_jsonata() {
            let input = (*t.input).clone();
            let states = json!({"input": input, "context": context, "result": result});
            let output = match def.field("Output") {
                Some(o) => ja(jsonata::evaluate_field("Output", o, &states, &t.vars, &self.random))?,
                None => result,
            };
            self.assign_jsonata(tid, def.field("Assign"), &states)?;
            return Ok(Step::Next(output, def.next));
        }
        let env = self.env(&result, &context, &t.vars);
        let selected = match def.field("ResultSelector") {
            Some(s) => jp::apply_template(s, &env)?,
            None => result.clone(),
        };
        let assigned = match def.field("Assign") {
            Some(a) => Some(jp::apply_template(a, &Env { input: &selected, ..env })?),
            None => None,
        };
        let output = jp::apply_result_path(&t.input, selected, def.field("ResultPath"))?;
        let output = jp::apply_output_path(output, def.field("OutputPath"), &env)?;
        self.assign_values(tid, assigned);
        Ok(Step::Next(output, def.next))
    }

    fn timer_fired(&mut self, timer: TimerId) {
        let Some((tid, purpose, _)) = self.timers.remove(timer) else { return };
        let machine = Arc::clone(&self.machine);
        let Some(tid) = tid else {
            // The execution's own TimeoutSeconds.
            let details = Details::ErrorCause {
                error: names::TIMEOUT.into(),
                cause: String::new(),
            };
            self.finish(Status::TimedOut, None, Some(names::TIMEOUT.into()), None, "ExecutionTimedOut", details);
            return;
        };
        let Some(t) = self.thread_mut(tid) else { return };
        let def = machine.state(t.scope, t.state);
        match purpose {
            TimerPurpose::Wait => {
                let output = match std::mem::replace(&mut t.phase, Phase::Done) {
                    Phase::Wait { output, .. } => output,
                    _ => return,
                };
                if self.after_step(tid, def, Step::Next(output, def.next)) {
                    self.ready.push_back(tid);
                }
            }
            TimerPurpose::Retry => {
                t.phase = Phase::Ready;
                let step = self.execute(tid, def);
                if self.after_step(tid, def, step) {
                    self.ready.push_back(tid);
                }
            }
            TimerPurpose::TaskTimeout | TimerPurpose::Heartbeat => {
                let task = match &t.phase {
                    Phase::Task { task, .. } => *task,
                    _ => return,
                };
                self.commands.push(Command::CancelTask(task));
                // A missed heartbeat is a States.Timeout too (recorded on AWS), so a
                // `States.Timeout` catcher covers both.
                self.task_done(task, Err((Failure::new(names::TIMEOUT, ""), true)));
            }
            TimerPurpose::ExecutionTimeout => {}
        }
    }

    // -----------------------------------------------------------------------------------
    // Parallel and Map
    // -----------------------------------------------------------------------------------

    fn fork(&mut self, tid: ThreadId, def: &StateDef) -> Result<Step, Failure> {
        if self.thread(tid).is_some_and(|t| t.parent.is_none()) {
            // A new attempt of a top-level fork: what an earlier attempt kept is stale.
            self.root_kept = None;
        }
        self.fork_with(tid, def, None)
    }

    /// Starts a Parallel's branches or a Map's iterations. A Map with an `ItemReader` first
    /// asks the runtime to read its items (a task of kind `ItemReader`), then comes back here
    /// with them.
    fn fork_with(&mut self, tid: ThreadId, def: &StateDef, read_items: Option<Vec<Value>>) -> Result<Step, Failure> {
        let context = self.context_if_needed(tid, def);
        let Some(t) = self.thread(tid) else { return Ok(Step::Wait) };
        let vars = t.vars.clone();
        let input = (*t.input).clone();
        let jsonata_mode = def.is_jsonata();
        let states = if jsonata_mode {
            self.states_object(tid, def, context.clone())
        } else {
            Value::Null
        };
        // The state's effective input.
        let effective = if jsonata_mode {
            match def.field("Arguments") {
                Some(a) => ja(jsonata::evaluate_field("Arguments", a, &states, &vars, &self.random))?,
                None => input.clone(),
            }
        } else {
            let env = self.env(&input, &context, &vars);
            let effective = jp::apply_input_path(&input, def.field("InputPath"), &env)?;
            match (def.kind, def.field("Parameters")) {
                (StateType::Parallel, Some(p)) => jp::apply_template(p, &Env { input: &effective, ..env })?,
                _ => effective,
            }
        };
        let mut children = Children {
            kind: def.kind,
            threads: Vec::new(),
            results: Vec::new(),
            pending_inputs: VecDeque::new(),
            running: 0,
            finished: 0,
            failed: 0,
            max_concurrency: 0,
            tolerated_count: None,
            tolerated_percentage: None,
            distributed: false,
            tolerated_slots: Vec::new(),
        };
        if def.kind == StateType::Parallel {
            self.emit(tid, "ParallelStateStarted", Details::None);
            for (i, _) in def.children.iter().enumerate() {
                children.pending_inputs.push_back((i, effective.clone()));
            }
        } else {
            let items = match (read_items, def.field("ItemReader")) {
                (Some(items), _) => items,
                (None, Some(reader)) => return self.read_items(tid, def, reader, &effective, &states, &context, &vars),
                (None, None) => self.map_items(def, &effective, &states, &context, &vars)?,
            };
            let items = self.batch_items(def, items, &effective, &states, &context, &vars)?;
            let mut inputs = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                inputs.push(self.item_input(tid, def, index, item, &effective, &context, &vars)?);
            }
            self.emit(
                tid,
                "MapStateStarted",
                Details::Object(json!({"length": inputs.len()})),
            );
            children.pending_inputs = inputs.into_iter().enumerate().collect();
            children.max_concurrency = self.number_field(def, "MaxConcurrency", &effective, &states, &context, &vars)?.unwrap_or(0) as usize;
            children.tolerated_count = self.number_field(def, "ToleratedFailureCount", &effective, &states, &context, &vars)?;
            children.tolerated_percentage = self
                .number_value(def, "ToleratedFailurePercentage", false, &effective, &states, &context, &vars)?;
            if children.tolerated_percentage.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
                return Err(Failure::runtime("ToleratedFailurePercentage must be between 0 and 100."));
            }
            children.distributed = def
                .field("ItemProcessor")
                .and_then(|p| p.pointer("/ProcessorConfig/Mode"))
                .and_then(Value::as_str)
                == Some("DISTRIBUTED");
        }
        let n = children.pending_inputs.len();
        children.threads = vec![None; n];
        children.results = vec![None; n];
        let current = self.thread(tid).map(|t| t.state);
        if let Some((_, _, kept)) = self.redrive_kept.take().filter(|(owner, state, kept)| *owner == tid && Some(*state) == current && kept.len() == n) {
            // A redrive: what succeeded before stays, the rest runs again.
            children.pending_inputs.retain(|(slot, _)| kept[*slot].is_none());
            children.finished = n - children.pending_inputs.len();
            children.results = kept;
            if children.pending_inputs.is_empty() {
                if let Some(t) = self.thread_mut(tid) {
                    t.phase = Phase::Children(Box::new(children));
                }
                self.children_done(tid, def);
                return Ok(Step::Wait);
            }
        }
        if n == 0 {
            return self.forked_result(tid, def, Vec::new()).inspect(|_s| {
                if def.kind == StateType::Map {
                    self.emit(tid, "MapStateSucceeded", Details::None);
                }
            });
        }
        if let Some(t) = self.thread_mut(tid) {
            t.phase = Phase::Children(Box::new(children));
        }
        self.start_children(tid, def);
        Ok(Step::Wait)
    }

    /// A number field given directly, as `{name}Path`, or as a JSONata expression. Strings
    /// holding a number are accepted, as AWS accepts them.
    /// Schedules the reading of a Map's items: the payload is the reader's Parameters (or
    /// Arguments) with its `ReaderConfig`.
    #[allow(clippy::too_many_arguments)]
    fn read_items(&mut self, tid: ThreadId, def: &StateDef, reader: &Value, effective: &Value, states: &Value, context: &Value, vars: &Vars) -> Result<Step, Failure> {
        let params = if def.is_jsonata() {
            match reader.get("Arguments") {
                Some(a) => ja(jsonata::evaluate_field("ItemReader/Arguments", a, states, vars, &self.random))?,
                None => json!({}),
            }
        } else {
            match reader.get("Parameters") {
                Some(p) => {
                    let env = Env {
                        input: effective,
                        context,
                        vars,
                        random: &self.random,
                    };
                    jp::apply_template(p, &env)?
                }
                None => json!({}),
            }
        };
        let mut payload = match params {
            Value::Object(m) => m,
            other => {
                return Err(Failure::new(
                    names::ITEM_READER_FAILED,
                    format!("The ItemReader parameters must be a JSON object, got {}", super::history::json_text(&other)),
                ));
            }
        };
        if let Some(config) = reader.get("ReaderConfig") {
            let config = if def.is_jsonata() {
                ja(jsonata::evaluate_field("ItemReader/ReaderConfig", config, states, vars, &self.random))?
            } else {
                config.clone()
            };
            payload.insert("ReaderConfig".into(), config);
        }
        let resource: String = reader.get("Resource").and_then(Value::as_str).unwrap_or("").to_owned();
        let task = TaskId(self.next_task);
        self.next_task += 1;
        self.tasks.insert(task, tid);
        self.commands.push(Command::RunTask(TaskRequest {
            id: task,
            state_name: def.name.to_string(),
            resource,
            kind: TaskKind::ItemReader,
            payload: Value::Object(payload),
            token: None,
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: self.thread(tid).map_or(0, |t| t.attempt),
        }));
        if let Some(t) = self.thread_mut(tid) {
            t.phase = Phase::ReadItems { task };
        }
        Ok(Step::Wait)
    }

    #[allow(clippy::too_many_arguments)]
    fn number_value(&self, def: &StateDef, name: &str, integer: bool, effective: &Value, states: &Value, context: &Value, vars: &Vars) -> Result<Option<f64>, Failure> {
        let (v, source) = if let Some(v) = def.field(name) {
            if def.is_jsonata() {
                (ja(jsonata::evaluate_field(name, v, states, vars, &self.random))?, None)
            } else {
                (v.clone(), None)
            }
        } else if let Some(p) = def.field(&format!("{name}Path")).and_then(Value::as_str) {
            let env = Env {
                input: effective,
                context,
                vars,
                random: &self.random,
            };
            (jp::select(p, &env)?, Some(p))
        } else {
            return Ok(None);
        };
        let parsed = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|f| !integer || f.fract() == 0.0);
        match parsed {
            Some(f) => Ok(Some(f)),
            None => {
                let kind = if integer { "integer" } else { "float" };
                let shown = plain_text(&v);
                Err(Failure::runtime(match source {
                    Some(p) => format!("The {name}Path field refers to value \"{shown}\" which is not a valid {kind}: {p}"),
                    None => format!("The {name} field refers to value \"{shown}\" which is not a valid {kind}"),
                }))
            }
        }
    }

    fn number_field(&self, def: &StateDef, name: &str, effective: &Value, states: &Value, context: &Value, vars: &Vars) -> Result<Option<u64>, Failure> {
        match self.number_value(def, name, true, effective, states, context, vars)? {
            Some(f) if f < 0.0 => Err(Failure::runtime(format!("{name} cannot be negative."))),
            Some(f) => Ok(Some(f as u64)),
            None => Ok(None),
        }
    }

    fn map_items(&self, def: &StateDef, effective: &Value, states: &Value, context: &Value, vars: &Vars) -> Result<Vec<Value>, Failure> {
        let items = if def.is_jsonata() {
            match def.field("Items") {
                Some(i) => ja(jsonata::evaluate_field_as("Items", i, jsonata::Expected::Array, states, vars, &self.random))?,
                None => match states.get("input") {
                    Some(Value::Array(a)) => return Ok(a.clone()),
                    other => {
                        return Err(Failure::query(format!(
                            "Map state input must be an array but was: {}",
                            super::history::json_text(other.unwrap_or(&Value::Null))
                        )));
                    }
                },
            }
        } else {
            let path = def.field("ItemsPath").and_then(Value::as_str).unwrap_or("$");
            let env = Env {
                input: effective,
                context,
                vars,
                random: &self.random,
            };
            return jp::select_items_path(path, &env);
        };
        match items {
            Value::Array(a) => Ok(a),
            other => Err(Failure::runtime(format!(
                "Map state '{}': the items to process must be a JSON array, got {}",
                def.name,
                super::history::json_text(&other)
            ))),
        }
    }

    fn batch_items(&self, def: &StateDef, items: Vec<Value>, effective: &Value, states: &Value, context: &Value, vars: &Vars) -> Result<Vec<Value>, Failure> {
        let Some(batcher) = def.field("ItemBatcher").and_then(Value::as_object) else {
            return Ok(items);
        };
        let batcher_def = StateDef {
            fields: batcher.clone(),
            ..shallow(def)
        };
        let max_items = self.number_field(&batcher_def, "MaxItemsPerBatch", effective, states, context, vars)?;
        let max_bytes = self.number_field(&batcher_def, "MaxInputBytesPerBatch", effective, states, context, vars)?;
        let batch_input = match batcher.get("BatchInput") {
            Some(b) if def.is_jsonata() => Some(ja(jsonata::evaluate_field("BatchInput", b, states, vars, &self.random))?),
            Some(b) => {
                let env = Env {
                    input: effective,
                    context,
                    vars,
                    random: &self.random,
                };
                Some(jp::apply_template(b, &env)?)
            }
            None => None,
        };
        let mut batches = Vec::new();
        let mut current: Vec<Value> = Vec::new();
        let mut bytes = 0usize;
        for item in items {
            let size = super::history::json_text(&item).len();
            let full_items = max_items.is_some_and(|m| current.len() as u64 >= m.max(1));
            let full_bytes = max_bytes.is_some_and(|m| !current.is_empty() && (bytes + size) as u64 > m);
            if full_items || full_bytes {
                batches.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += size;
            current.push(item);
        }
        if !current.is_empty() {
            batches.push(current);
        }
        Ok(batches
            .into_iter()
            .map(|items| {
                let mut m = Map::new();
                if let Some(b) = &batch_input {
                    m.insert("BatchInput".into(), b.clone());
                }
                m.insert("Items".into(), Value::Array(items));
                Value::Object(m)
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn item_input(&mut self, tid: ThreadId, def: &StateDef, index: usize, item: Value, effective: &Value, context: &Value, vars: &Vars) -> Result<Value, Failure> {
        let selector = def.field("ItemSelector").or_else(|| def.field("Parameters"));
        let Some(selector) = selector else { return Ok(item) };
        if let Some(t) = self.thread_mut(tid) {
            t.map_item = Some(Box::new((index, item)));
        }
        let context = if def.reads_context || context.is_null() {
            self.context(tid, def)
        } else {
            context.clone()
        };
        let result = if def.is_jsonata() {
            let input = self.thread(tid).map(|t| (*t.input).clone()).unwrap_or(Value::Null);
            let states = json!({"input": input, "context": context});
            ja(jsonata::evaluate_field("ItemSelector", selector, &states, vars, &self.random))
        } else {
            let env = Env {
                input: effective,
                context: &context,
                vars,
                random: &self.random,
            };
            jp::apply_template(selector, &env)
        };
        if let Some(t) = self.thread_mut(tid) {
            t.map_item = None;
        }
        result
    }

    /// Starts waiting children up to the concurrency limit.
    fn start_children(&mut self, tid: ThreadId, def: &StateDef) {
        loop {
            let (slot, input, last_event, vars) = {
                let Some(t) = self.thread_mut(tid) else { return };
                let last_event = t.last_event;
                let vars = t.vars.child();
                let Phase::Children(c) = &mut t.phase else { return };
                if c.max_concurrency > 0 && c.running >= c.max_concurrency {
                    return;
                }
                let Some((slot, input)) = c.pending_inputs.pop_front() else { return };
                c.running += 1;
                (slot, input, last_event, vars)
            };
            let scope = if def.kind == StateType::Parallel {
                def.children[slot]
            } else {
                def.children[0]
            };
            if def.kind == StateType::Map {
                self.emit(
                    tid,
                    "MapIterationStarted",
                    Details::Object(json!({"name": &*def.name, "index": slot})),
                );
            }
            let start = self.machine.scopes[scope].start;
            let child = self.spawn(scope, start, Arc::new(input), vars, Some((tid, slot)), last_event);
            if let Some(Phase::Children(c)) = self.thread_mut(tid).map(|t| &mut t.phase) {
                c.threads[slot] = Some(child);
            }
            self.ready.push_back(child);
        }
    }

    fn child_ended(&mut self, tid: ThreadId, slot: usize, child_last_event: u64, result: Result<Value, Failure>) {
        let machine = Arc::clone(&self.machine);
        let Some(t) = self.thread_mut(tid) else { return };
        let def = machine.state(t.scope, t.state);
        let Phase::Children(c) = &mut t.phase else { return };
        c.threads[slot] = None;
        c.running = c.running.saturating_sub(1);
        c.finished += 1;
        let total = c.results.len();
        let is_map = c.kind == StateType::Map;
        let _ = child_last_event;
        match result {
            Ok(output) => {
                c.results[slot] = Some(output);
                if is_map {
                    self.emit(
                        tid,
                        "MapIterationSucceeded",
                        Details::Object(json!({"name": &*def.name, "index": slot})),
                    );
                }
            }
            Err(f) => {
                c.failed += 1;
                let tolerated = c.distributed
                    && (c.tolerated_count.is_some_and(|n| c.failed as u64 <= n)
                        || c.tolerated_percentage.is_some_and(|p| (c.failed as f64) * 100.0 / (total as f64) <= p));
                if is_map {
                    self.emit(
                        tid,
                        "MapIterationFailed",
                        Details::Object(json!({"name": &*def.name, "index": slot})),
                    );
                }
                if tolerated {
                    if let Some(Phase::Children(c)) = self.thread_mut(tid).map(|t| &mut t.phase) {
                        c.results[slot] = Some(json!({"Error": f.error, "Cause": f.cause}));
                        c.tolerated_slots.push(slot);
                    }
                } else {
                    // The whole state fails: stop the other children.
                    let Some(t) = self.thread_mut(tid) else { return };
                    let (is_root, entered) = (t.parent.is_none(), t.entered_event);
                    let Phase::Children(c) = std::mem::replace(&mut t.phase, Phase::Done) else { return };
                    if is_root {
                        self.root_kept = Some((entered, c.succeeded()));
                    }
                    for other in c.threads.into_iter().flatten() {
                        self.abort_thread(other);
                    }
                    let failure = if c.distributed {
                        Failure::new(
                            names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                            "The specified tolerated failure threshold was exceeded",
                        )
                    } else {
                        f
                    };
                    let event = if is_map { "MapStateFailed" } else { "ParallelStateFailed" };
                    self.emit(tid, event, Details::None);
                    if self.after_step(tid, def, Step::Fail(failure)) {
                        self.ready.push_back(tid);
                    }
                    return;
                }
            }
        }
        let done = match self.thread(tid).map(|t| &t.phase) {
            Some(Phase::Children(c)) => c.finished == c.results.len(),
            _ => return,
        };
        if !done {
            self.start_children(tid, def);
            return;
        }
        self.children_done(tid, def);
    }

    /// Every branch or iteration of the thread's Parallel or Map has succeeded.
    fn children_done(&mut self, tid: ThreadId, def: &StateDef) {
        let is_map = def.kind == StateType::Map;
        let Some(t) = self.thread_mut(tid) else { return };
        let Phase::Children(c) = std::mem::replace(&mut t.phase, Phase::Done) else { return };
        let results: Vec<Value> = c.results.into_iter().map(|r| r.unwrap_or(Value::Null)).collect();
        let event = if is_map { "MapStateSucceeded" } else { "ParallelStateSucceeded" };
        self.emit(tid, event, Details::None);
        let step = self.forked_result(tid, def, results).unwrap_or_else(Step::Fail);
        if self.after_step(tid, def, step) {
            self.ready.push_back(tid);
        }
    }

    fn forked_result(&mut self, tid: ThreadId, def: &StateDef, results: Vec<Value>) -> Result<Step, Failure> {
        self.task_result(tid, def, Value::Array(results))
    }
}

/// Marks a Wait duration that came from a JSONata expression (errors are worded for it).
const JSONATA_SOURCE: &str = "{% %}";

enum WaitUntil {
    Seconds(Value),
    SecondsFromPath(String, Value),
    Timestamp(Value),
    TimestampFromPath(String, Value),
}

/// A value as AWS quotes it in messages: strings bare, the rest as JSON text.
fn plain_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => super::history::json_text(other),
    }
}

fn no_choice(def: &StateDef) -> Failure {
    Failure::new(
        names::NO_CHOICE_MATCHED,
        format!("No Matches! in state '{}'", def.name),
    )
}

fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("").to_owned()
}

/// A state definition with the same identity but no fields, to read a sub-object's fields
/// (ItemBatcher) through the same helpers.
fn shallow(def: &StateDef) -> StateDef {
    StateDef {
        name: Arc::clone(&def.name),
        kind: def.kind,
        query_language: def.query_language,
        fields: Map::new(),
        next: None,
        children: Vec::new(),
        choices: Vec::new(),
        default: None,
        retriers: Vec::new(),
        catchers: Vec::new(),
        resource: None,
        reads_context: false,
        plain_pass: false,
    }
}

/// Merges `extra` into `base`, object by object.
fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, e) => *b = e.clone(),
    }
}

