//! The model of a watched execution, built only from its history events: each state's status
//! and timings, the event table's filters, the Gantt timeline, and (in [`io`]) a state's input
//! and output through each processing step.
//!
//! Boundary: reads events in `GetExecutionHistory`'s shape (`serde_json::Value`s), so the
//! same model serves a local execution and one on AWS; draws nothing and names no GUI crate.
//! The window colours the designer's diagram from [`ExecutionModel::state`].
//!
//! How events are attributed: every event's `previousEventId` points at the last event of the
//! same *thread* (the top level, one Parallel branch or one Map iteration), so following it
//! gives the state entry an event belongs to even when branches and iterations interleave. A
//! `*StateEntered` chained to a thread whose Map or Parallel is running begins a new thread.
//!
//! Bad input never panics: an event that is not an object is skipped, missing fields read as
//! absent, an unknown `previousEventId` puts the event on the top-level thread.

pub mod io;

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

pub use io::{IoStage, IoSteps, JsonPathSteps, JsonataSteps};

/// Where a state (or one entry of it) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateStatus {
    /// Never entered.
    NotReached,
    /// Entered and working: a Pass/Choice in progress, a Wait waiting, a Task whose request is
    /// out, a Map or Parallel running its children, or the output being processed.
    Running,
    /// An activity task is scheduled and no worker has taken it yet.
    WaitingForWorker,
    /// A worker took the activity task and has not answered yet.
    WorkerRunning,
    /// An attempt failed and the state has not exited: a Retry's back-off is running. (Until
    /// the next event this is also how a failure that nothing retries looks.)
    Retrying,
    /// Exited normally.
    Succeeded,
    /// Failed and ended its thread: the execution, branch or iteration failed with it.
    Failed,
    /// Failed and exited through a Catch.
    Caught,
    /// Stopped from outside while running: a sibling branch or iteration failed, or the
    /// execution was aborted or timed out.
    Cancelled,
}

impl StateStatus {
    /// Still going: the entry may change again.
    pub fn is_active(self) -> bool {
        matches!(self, StateStatus::Running | StateStatus::WaitingForWorker | StateStatus::WorkerRunning | StateStatus::Retrying)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

const STATUS_COUNT: usize = 9;

/// A state's status when it has several entries (in Map iterations, or loops): the most
/// active entry wins, then the worst ending.
const AGGREGATE_ORDER: [StateStatus; STATUS_COUNT] = [
    StateStatus::WorkerRunning,
    StateStatus::Running,
    StateStatus::WaitingForWorker,
    StateStatus::Retrying,
    StateStatus::Failed,
    StateStatus::Cancelled,
    StateStatus::Caught,
    StateStatus::Succeeded,
    StateStatus::NotReached,
];

/// One state as the monitor shows it. For a state entered several times, `entries` counts
/// the entries, `status` aggregates them, and the other fields are those of the entry that
/// changed last. From [`ExecutionModel::entry`], the same fields describe one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StateView {
    pub status: StateStatus,
    /// Milliseconds since the Unix epoch.
    pub entered_at: Option<i64>,
    /// When the entry ended: exited, or failed or cancelled without exiting.
    pub exited_at: Option<i64>,
    pub entries: u32,
    /// The current attempt's task (or activity) scheduling.
    pub scheduled_at: Option<i64>,
    /// When the current attempt's task started (`TaskStarted` / `ActivityStarted`).
    pub started_at: Option<i64>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// The activity's start: heartbeats themselves are not history events.
    pub last_heartbeat_at: Option<i64>,
    pub worker_name: Option<String>,
    /// Tasks scheduled in the entry (1 + retries); for a Map or Parallel, times it started
    /// its children.
    pub attempts: u32,
    /// (error, cause) of the last failed attempt.
    pub last_error: Option<(String, String)>,
    /// A Map's or Parallel's children.
    pub children: Option<ChildProgress>,
}

impl StateView {
    fn new() -> StateView {
        StateView {
            status: StateStatus::NotReached,
            entered_at: None,
            exited_at: None,
            entries: 0,
            scheduled_at: None,
            started_at: None,
            timeout_seconds: None,
            heartbeat_seconds: None,
            last_heartbeat_at: None,
            worker_name: None,
            attempts: 0,
            last_error: None,
            children: None,
        }
    }
}

/// Progress of a Map's iterations or a Parallel's branches (of the current attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildProgress {
    /// A Map's item count (`MapStateStarted`); a Parallel's branch count once it has ended.
    /// `None` while unknown (a Parallel running, a Distributed Map run on AWS).
    pub total: Option<u64>,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// The execution as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// Which events the history table shows; the default shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Event types to keep (`TaskFailed`...); empty keeps every type.
    pub types: Vec<String>,
    /// Keep only failures: types ending in `Failed`, `TimedOut` or `Aborted`.
    pub failed_only: bool,
    /// Keep only the events of this state's entries.
    pub state: Option<String>,
}

/// What a Gantt bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// A whole state entry, entered to exited.
    Run,
    /// One task attempt (1-based), scheduled to its result.
    Attempt(u32),
    /// A Retry's wait between a failed attempt and the next one.
    Backoff,
    /// An activity scheduled, not yet taken by a worker.
    WaitingForWorker,
    /// An activity taken by a worker, until its answer.
    WorkerRunning,
}

/// One bar of the timeline. Times are milliseconds since the Unix epoch; `end` is `None` while
/// the bar is still growing.
#[derive(Debug, Clone, PartialEq)]
pub struct GanttBar {
    pub state: Arc<str>,
    /// The entry (see [`ExecutionModel::entry`]); one entry has a `Run` bar and its parts.
    pub entry: usize,
    pub start: i64,
    pub end: Option<i64>,
    pub kind: BarKind,
}

const NONE: u32 = u32::MAX;
const ROOT_THREAD: u32 = 0;

/// Per event, what the table and the filters need without reading the JSON again.
#[derive(Debug, Clone, Copy)]
struct EventMeta {
    type_id: u16,
    failure: bool,
    entry: u32,
    thread: u32,
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    scheduled_at: Option<i64>,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    activity: bool,
    failed: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    state: u32,
    /// Index of the `*StateEntered` event.
    entered_event: u32,
    exit_event: u32,
    /// The last task result (`TaskSucceeded`/`ActivitySucceeded`).
    result_event: u32,
    /// The last `TaskScheduled`/`ActivityScheduled`.
    scheduled_event: u32,
    /// A failure was recorded and nothing has followed it yet: it is retried, caught or ends
    /// the thread, whichever event comes next says.
    pending_failure: bool,
    attempts: Vec<Attempt>,
    /// Threads of a Map's iterations or a Parallel's branches, every attempt's.
    children: Vec<u32>,
    map: bool,
    /// Iterations started whose first state has not been entered yet.
    unclaimed_iterations: VecDeque<u64>,
    /// A redrive ran the entry's state again: the entry keeps its status but no longer
    /// counts towards its state's.
    superseded: bool,
    /// The Parallel or Map entry this one redrives: its children that succeeded are kept
    /// (`kept_children`, threads of that entry), the others run again here in slot order
    /// (`rerun_slots`, a Parallel's branch numbers; a Map's iterations name theirs).
    redrive_of: u32,
    kept_children: Vec<u32>,
    rerun_slots: VecDeque<u64>,
    view: StateView,
}

#[derive(Debug, Clone)]
struct Thread {
    /// The parent's attempt that started this thread (1-based).
    parent_attempt: u32,
    /// Map iteration index, or Parallel branch number.
    index: u64,
    current: u32,
}

#[derive(Debug, Clone)]
struct StateSlot {
    name: Arc<str>,
    view: StateView,
    counts: [u32; STATUS_COUNT],
    entries: Vec<u32>,
}

/// Everything known about one execution, updated one history event at a time.
#[derive(Debug, Clone)]
pub struct ExecutionModel {
    events: Vec<Value>,
    meta: Vec<EventMeta>,
    index_of_id: FxHashMap<u64, u32>,
    last_id: u64,
    type_names: Vec<Box<str>>,
    type_ids: FxHashMap<Box<str>, u16>,
    states: Vec<StateSlot>,
    state_ids: FxHashMap<Arc<str>, u32>,
    entries: Vec<Entry>,
    threads: Vec<Thread>,
    /// (Map entry, iteration index) → thread, for the iteration events the Map emits.
    iteration_threads: FxHashMap<(u32, u64), u32>,
    status: ExecutionStatus,
    /// The top-level Parallel or Map a redrive is about to enter again.
    redriven_fork: Option<u32>,
    input: Option<Value>,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl Default for ExecutionModel {
    fn default() -> Self {
        ExecutionModel::new()
    }
}

impl ExecutionModel {
    pub fn new() -> Self {
        ExecutionModel {
            events: Vec::new(),
            meta: Vec::new(),
            index_of_id: FxHashMap::default(),
            last_id: 0,
            type_names: Vec::new(),
            type_ids: FxHashMap::default(),
            states: Vec::new(),
            state_ids: FxHashMap::default(),
            entries: Vec::new(),
            threads: vec![Thread { parent_attempt: 0, index: 0, current: NONE }],
            iteration_threads: FxHashMap::default(),
            status: ExecutionStatus::Running,
            redriven_fork: None,
            input: None,
            output: None,
            error: None,
            cause: None,
            started_at: None,
            ended_at: None,
        }
    }

    /// A model of a whole history.
    pub fn from_events(events: &[Value]) -> Self {
        let mut m = ExecutionModel::new();
        m.apply_all(events);
        m
    }

    pub fn apply_all(&mut self, events: &[Value]) {
        for e in events {
            self.apply(e);
        }
    }

    /// Adds one event. Events come in id order; an id already seen is ignored, so pages of a
    /// history may overlap.
    pub fn apply(&mut self, event: &Value) {
        let Some(obj) = event.as_object() else { return };
        let id = obj.get("id").and_then(Value::as_u64).unwrap_or(self.last_id + 1);
        if id <= self.last_id {
            return;
        }
        let Ok(index) = u32::try_from(self.events.len()) else { return };
        self.last_id = id;
        let event_type = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let ts = obj.get("timestamp").and_then(timestamp_ms);
        let previous = obj
            .get("previousEventId")
            .and_then(Value::as_u64)
            .and_then(|p| self.index_of_id.get(&p).copied());
        let type_id = self.type_id(event_type);
        let failure = is_failure_type(event_type);
        self.index_of_id.insert(id, index);
        self.events.push(event.clone());
        self.meta.push(EventMeta { type_id, failure, entry: NONE, thread: ROOT_THREAD });

        let thread = self.thread_of(event_type, previous);
        if let Some(m) = self.meta.get_mut(index as usize) {
            m.thread = thread;
        }
        if let Some(kind) = event_type.strip_suffix("StateEntered") {
            self.entered(index, thread, kind, obj, ts);
            return;
        }
        if event_type.starts_with("Execution") {
            self.execution_event(event_type, index, thread, obj, ts);
            return;
        }
        let Some(entry) = self.threads.get(thread as usize).map(|t| t.current).filter(|&e| e != NONE) else {
            return;
        };
        if let Some(m) = self.meta.get_mut(index as usize) {
            m.entry = entry;
        }
        self.entry_event(entry, index, event_type, obj, ts);
        self.refresh(entry);
    }

    /// The id of the last event applied: ask for the events after it.
    pub fn last_event_id(&self) -> u64 {
        self.last_id
    }

    pub fn state(&self, name: &str) -> Option<&StateView> {
        let id = self.state_ids.get(name)?;
        self.states.get(*id as usize).map(|s| &s.view)
    }

    /// A state's status; `NotReached` for a state never entered (the model knows only the
    /// states the history names).
    pub fn status_of(&self, name: &str) -> StateStatus {
        self.state(name).map_or(StateStatus::NotReached, |s| s.status)
    }

    /// Every state entered so far, in the order first entered.
    pub fn states(&self) -> impl Iterator<Item = (&str, &StateView)> {
        self.states.iter().map(|s| (&*s.name, &s.view))
    }

    /// The entries of a state (indexes for [`ExecutionModel::entry`]), in the order entered.
    pub fn entries(&self, state_name: &str) -> impl Iterator<Item = usize> + '_ {
        let list: &[u32] = match self.state_ids.get(state_name).and_then(|i| self.states.get(*i as usize)) {
            Some(s) => &s.entries,
            None => &[],
        };
        list.iter().map(|&e| e as usize)
    }

    /// One entry of a state: its name and what happened in it (`entries` is 1).
    pub fn entry(&self, entry: usize) -> Option<(&str, &StateView)> {
        let e = self.entries.get(entry)?;
        let name = self.states.get(e.state as usize)?;
        Some((&name.name, &e.view))
    }

    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub fn status(&self) -> ExecutionStatus {
        self.status
    }

    /// The execution's input, from `ExecutionStarted`.
    pub fn input(&self) -> Option<&Value> {
        self.input.as_ref()
    }

    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    pub fn started_at(&self) -> Option<i64> {
        self.started_at
    }

    pub fn ended_at(&self) -> Option<i64> {
        self.ended_at
    }

    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// The state an event belongs to (by its index in [`ExecutionModel::events`]).
    pub fn event_state(&self, index: usize) -> Option<&str> {
        let entry = self.meta.get(index)?.entry;
        self.entries.get(entry as usize).and_then(|e| self.states.get(e.state as usize)).map(|s| &*s.name)
    }

    /// The entry an event belongs to.
    pub fn event_entry(&self, index: usize) -> Option<usize> {
        let entry = self.meta.get(index)?.entry;
        (entry != NONE).then_some(entry as usize)
    }

    /// An event's time, milliseconds since the Unix epoch.
    pub fn event_time(&self, index: usize) -> Option<i64> {
        self.events.get(index)?.get("timestamp").and_then(timestamp_ms)
    }

    /// The event types seen so far, in the order first seen (for a type picker).
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.type_names.iter().map(|t| &**t)
    }

    /// Indexes (into [`ExecutionModel::events`]) of the events the filter keeps, in order.
    /// One pass over a compact per-event table: no JSON is read.
    pub fn filter(&self, spec: &FilterSpec) -> Vec<usize> {
        let types: Option<Vec<bool>> = (!spec.types.is_empty()).then(|| {
            let mut keep = vec![false; self.type_names.len()];
            for t in &spec.types {
                if let Some(&id) = self.type_ids.get(t.as_str()) {
                    keep[id as usize] = true;
                }
            }
            keep
        });
        let state = match &spec.state {
            Some(name) => match self.state_ids.get(name.as_str()) {
                Some(&id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let mut out = Vec::new();
        for (i, m) in self.meta.iter().enumerate() {
            if spec.failed_only && !m.failure {
                continue;
            }
            if let Some(keep) = &types
                && !keep.get(m.type_id as usize).copied().unwrap_or(false)
            {
                continue;
            }
            if let Some(s) = state
                && self.entries.get(m.entry as usize).is_none_or(|e| e.state != s)
            {
                continue;
            }
            out.push(i);
        }
        out
    }

    /// The timeline: for every entry, in the order entered, a `Run` bar, then for each task
    /// attempt an `Attempt(n)` bar (with its `WaitingForWorker` and `WorkerRunning` parts for
    /// an activity) and a `Backoff` bar before each retry.
    pub fn gantt(&self) -> Vec<GanttBar> {
        let mut bars = Vec::with_capacity(self.entries.len());
        for (i, e) in self.entries.iter().enumerate() {
            let Some(slot) = self.states.get(e.state as usize) else { continue };
            let Some(start) = e.view.entered_at else { continue };
            // An entry that ended closes its open bars at its end.
            let close = |t: Option<i64>| t.or(e.view.exited_at);
            let mut bar = |kind, start: i64, end: Option<i64>| {
                bars.push(GanttBar { state: Arc::clone(&slot.name), entry: i, start, end, kind });
            };
            bar(BarKind::Run, start, e.view.exited_at);
            let mut previous_end: Option<i64> = None;
            for (n, a) in e.attempts.iter().enumerate() {
                let Some(scheduled) = a.scheduled_at else { continue };
                if let Some(failed_at) = previous_end {
                    bar(BarKind::Backoff, failed_at, Some(scheduled));
                }
                bar(BarKind::Attempt(n as u32 + 1), scheduled, close(a.ended_at));
                if a.activity {
                    bar(BarKind::WaitingForWorker, scheduled, close(a.started_at.or(a.ended_at)));
                    if let Some(started) = a.started_at {
                        bar(BarKind::WorkerRunning, started, close(a.ended_at));
                    }
                }
                previous_end = if a.failed { a.ended_at } else { None };
            }
            if let (Some(failed_at), StateStatus::Retrying) = (previous_end, e.view.status) {
                bar(BarKind::Backoff, failed_at, None);
            }
        }
        bars
    }

    /// A state's input and output through each processing step, for its last entry.
    pub fn io_steps(&self, definition: &Value, state_name: &str) -> Option<IoSteps> {
        let last = self.entries(state_name).last()?;
        self.io_steps_at(definition, last)
    }

    /// As [`ExecutionModel::io_steps`], for one entry.
    pub fn io_steps_at(&self, definition: &Value, entry: usize) -> Option<IoSteps> {
        io::steps(self, definition, entry)
    }

    // -----------------------------------------------------------------------------------
    // Applying events
    // -----------------------------------------------------------------------------------

    fn type_id(&mut self, event_type: &str) -> u16 {
        if let Some(&id) = self.type_ids.get(event_type) {
            return id;
        }
        // Far more types than AWS has: share the last id rather than fail.
        let id = u16::try_from(self.type_names.len()).unwrap_or(u16::MAX);
        if id < u16::MAX {
            self.type_names.push(event_type.into());
            self.type_ids.insert(event_type.into(), id);
        }
        id
    }

    fn thread_of(&mut self, event_type: &str, previous: Option<u32>) -> u32 {
        // A redrive goes on at the top level, whichever thread's event came last before it.
        if event_type == "ExecutionRedriven" {
            return ROOT_THREAD;
        }
        let Some(p) = previous.and_then(|p| self.meta.get(p as usize).copied()) else {
            return ROOT_THREAD;
        };
        if !event_type.ends_with("StateEntered") {
            return p.thread;
        }
        // A thread never enters a state while its Map or Parallel runs: a state entered from
        // there begins a child thread. (Stepwise chains an iteration's first state to the
        // event before its `MapIterationStarted`, AWS to that event itself: this covers both.)
        let parent = self.threads.get(p.thread as usize).map_or(NONE, |t| t.current);
        let Some(parent_entry) = self.entries.get_mut(parent as usize) else { return p.thread };
        if parent_entry.view.children.is_none() || !parent_entry.view.status.is_active() {
            return p.thread;
        }
        let parent_attempt = parent_entry.attempts.len() as u32;
        let is_map = parent_entry.map;
        // Chained to its own `MapIterationStarted` (AWS) an iteration says which it is;
        // otherwise iterations enter in the order they were started.
        let named = (self.type_names.get(p.type_id as usize).map(|t| &**t) == Some("MapIterationStarted"))
            .then(|| self.events.get(previous.unwrap_or(0) as usize)?.get("mapIterationStartedEventDetails")?.get("index")?.as_u64())
            .flatten();
        let Some(parent_entry) = self.entries.get_mut(parent as usize) else { return p.thread };
        let index = if is_map {
            let queue = &mut parent_entry.unclaimed_iterations;
            match named.and_then(|i| queue.iter().position(|&q| q == i)) {
                Some(at) => queue.remove(at).unwrap_or(0),
                None => queue.pop_front().unwrap_or(0),
            }
        } else if parent_entry.redrive_of != NONE {
            // Branches run again in slot order after the ones kept.
            parent_entry.rerun_slots.pop_front().unwrap_or(0)
        } else {
            parent_entry.view.children.map_or(0, |c| c.started)
        };
        let Ok(thread) = u32::try_from(self.threads.len()) else { return p.thread };
        parent_entry.children.push(thread);
        if !is_map {
            let progress = parent_entry.view.children.get_or_insert_with(ChildProgress::default);
            progress.started += 1;
        }
        self.threads.push(Thread { parent_attempt, index, current: NONE });
        if is_map {
            self.iteration_threads.insert((parent, index), thread);
        }
        self.refresh(parent);
        thread
    }

    fn entered(&mut self, index: u32, thread: u32, kind: &str, obj: &serde_json::Map<String, Value>, ts: Option<i64>) {
        let details = obj.get("stateEnteredEventDetails");
        let name = details.and_then(|d| d.get("name")).and_then(Value::as_str).unwrap_or("");
        let state = self.state_id(name);
        let Ok(entry) = u32::try_from(self.entries.len()) else { return };
        let mut view = StateView::new();
        view.entered_at = ts;
        view.entries = 1;
        view.status = StateStatus::Running;
        // A Fail state always ends its thread in failure; nothing else will be recorded for it.
        if kind == "Fail" {
            view.status = StateStatus::Failed;
            view.exited_at = ts;
        }
        let status = view.status;
        self.entries.push(Entry {
            state,
            entered_event: index,
            exit_event: NONE,
            result_event: NONE,
            scheduled_event: NONE,
            pending_failure: false,
            attempts: Vec::new(),
            children: Vec::new(),
            map: false,
            unclaimed_iterations: VecDeque::new(),
            superseded: false,
            redrive_of: NONE,
            kept_children: Vec::new(),
            rerun_slots: VecDeque::new(),
            view,
        });
        if thread == ROOT_THREAD
            && let Some(prev) = self.redriven_fork.take_if(|&mut p| self.entries.get(p as usize).is_some_and(|e| e.state == state))
        {
            self.redrive_fork(entry, prev);
        }
        if let Some(slot) = self.states.get_mut(state as usize) {
            slot.entries.push(entry);
            slot.counts[status.slot()] += 1;
            slot.view.entries += 1;
        }
        if let Some(t) = self.threads.get_mut(thread as usize) {
            t.current = entry;
        }
        if let Some(m) = self.meta.get_mut(index as usize) {
            m.entry = entry;
        }
        self.refresh(entry);
    }

    fn state_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.state_ids.get(name) {
            return id;
        }
        let id = self.states.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.states.push(StateSlot { name: Arc::clone(&name), view: StateView::new(), counts: [0; STATUS_COUNT], entries: Vec::new() });
        self.state_ids.insert(name, id);
        id
    }

    fn entry_event(&mut self, entry: u32, index: u32, event_type: &str, obj: &serde_json::Map<String, Value>, ts: Option<i64>) {
        let details = details_of(obj, event_type);
        let field = |k: &str| details.and_then(|d| d.get(k));
        match event_type {
            _ if event_type.ends_with("StateExited") => {
                let Some(e) = self.entries.get_mut(entry as usize) else { return };
                e.exit_event = index;
                e.view.exited_at = ts;
                let status = if e.pending_failure { StateStatus::Caught } else { StateStatus::Succeeded };
                e.pending_failure = false;
                self.set_status(entry, status);
            }
            "TaskScheduled" | "ActivityScheduled" | "MapStateStarted" | "ParallelStateStarted" => {
                let activity = event_type == "ActivityScheduled";
                let task = activity || event_type == "TaskScheduled";
                let Some(e) = self.entries.get_mut(entry as usize) else { return };
                e.pending_failure = false;
                e.attempts.push(Attempt { scheduled_at: ts, started_at: None, ended_at: None, activity, failed: false });
                e.view.attempts = e.attempts.len() as u32;
                if task {
                    e.scheduled_event = index;
                    e.view.scheduled_at = ts;
                    e.view.started_at = None;
                    e.view.worker_name = None;
                    e.view.last_heartbeat_at = None;
                    e.view.timeout_seconds = field("timeoutInSeconds").and_then(Value::as_u64);
                    e.view.heartbeat_seconds = field("heartbeatInSeconds").and_then(Value::as_u64);
                } else {
                    e.map = event_type == "MapStateStarted";
                    e.unclaimed_iterations.clear();
                    let total = if e.map { field("length").and_then(Value::as_u64) } else { None };
                    // A redriven fork starts with what it kept as done; a Retry of it after
                    // that runs every child again.
                    if e.view.children.is_some() {
                        e.redrive_of = NONE;
                        e.kept_children.clear();
                        e.rerun_slots.clear();
                    }
                    let kept = e.kept_children.len() as u64;
                    e.view.children = Some(ChildProgress { total, started: kept, succeeded: kept, failed: 0 });
                }
                let status = if activity { StateStatus::WaitingForWorker } else { StateStatus::Running };
                self.set_status(entry, status);
            }
            "TaskStarted" | "ActivityStarted" => {
                let Some(e) = self.entries.get_mut(entry as usize) else { return };
                if let Some(a) = e.attempts.last_mut() {
                    a.started_at = ts;
                }
                e.view.started_at = ts;
                let status = if event_type == "ActivityStarted" {
                    e.view.worker_name = field("workerName").and_then(Value::as_str).map(str::to_owned);
                    e.view.last_heartbeat_at = ts;
                    StateStatus::WorkerRunning
                } else {
                    StateStatus::Running
                };
                self.set_status(entry, status);
            }
            "MapRunStarted" => {
                // A Distributed Map on AWS runs its iterations as child executions: their
                // events are not in this history.
                if let Some(e) = self.entries.get_mut(entry as usize) {
                    e.map = true;
                }
                self.progress(entry, |_| {});
            }
            "TaskSucceeded" | "ActivitySucceeded" | "MapStateSucceeded" | "ParallelStateSucceeded" => {
                let Some(e) = self.entries.get_mut(entry as usize) else { return };
                if let Some(a) = e.attempts.last_mut() {
                    a.ended_at = ts;
                }
                if event_type.ends_with("Succeeded") && (event_type.starts_with("Task") || event_type.starts_with("Activity")) {
                    e.result_event = index;
                }
                if event_type == "ParallelStateSucceeded"
                    && let Some(p) = e.view.children.as_mut()
                {
                    p.succeeded = p.started.saturating_sub(p.failed);
                    p.total = Some(p.started);
                }
                self.set_status(entry, StateStatus::Running);
            }
            "MapIterationStarted" => {
                if let (Some(e), Some(i)) = (self.entries.get_mut(entry as usize), field("index").and_then(Value::as_u64)) {
                    e.unclaimed_iterations.push_back(i);
                }
                self.progress(entry, |p| p.started += 1);
            }
            "MapIterationSucceeded" => {
                self.progress(entry, |p| p.succeeded += 1);
            }
            "MapIterationFailed" | "MapIterationAborted" => {
                let failed = event_type == "MapIterationFailed";
                self.progress(entry, |p| {
                    if failed {
                        p.failed += 1;
                    }
                });
                let iteration = field("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(&thread) = self.iteration_threads.get(&(entry, iteration)) {
                    let end = if failed { StateStatus::Failed } else { StateStatus::Cancelled };
                    self.end_thread(thread, end, ts);
                }
            }
            _ if is_failure_type(event_type) => {
                let error = field("error").and_then(Value::as_str).unwrap_or("").to_owned();
                let cause = field("cause").and_then(Value::as_str).unwrap_or("").to_owned();
                let children = {
                    let Some(e) = self.entries.get_mut(entry as usize) else { return };
                    if event_type.ends_with("ScheduleFailed") || e.attempts.is_empty() {
                        // A scheduling that failed has no scheduled event of its own.
                        e.attempts.push(Attempt { scheduled_at: ts, started_at: None, ended_at: None, activity: false, failed: false });
                        e.view.attempts = e.attempts.len() as u32;
                    }
                    if let Some(a) = e.attempts.last_mut().filter(|a| a.ended_at.is_none()) {
                        a.ended_at = ts;
                        a.failed = true;
                    }
                    e.pending_failure = true;
                    if !error.is_empty() || !cause.is_empty() {
                        e.view.last_error = Some((error, cause));
                    }
                    if event_type == "MapStateFailed" || event_type == "ParallelStateFailed" || event_type == "MapRunFailed" {
                        e.children.clone()
                    } else {
                        Vec::new()
                    }
                };
                // The children still going were stopped because one of them failed; those
                // waiting on a failure are the ones that failed.
                let mut failed = 0;
                for thread in children {
                    let Some(current) = self.threads.get(thread as usize).map(|t| t.current) else { continue };
                    let Some(c) = self.entries.get(current as usize) else { continue };
                    if c.pending_failure {
                        failed += 1;
                        self.end_thread(thread, StateStatus::Failed, ts);
                    } else if c.view.status.is_active() {
                        self.end_thread(thread, StateStatus::Cancelled, ts);
                    }
                }
                if event_type == "ParallelStateFailed" {
                    self.progress(entry, |p| p.failed += failed);
                }
                self.set_status(entry, StateStatus::Retrying);
            }
            _ => {}
        }
    }

    fn progress(&mut self, entry: u32, f: impl FnOnce(&mut ChildProgress)) {
        if let Some(e) = self.entries.get_mut(entry as usize) {
            f(e.view.children.get_or_insert_with(ChildProgress::default));
        }
    }

    /// A thread ended without exiting its current state: failed, or stopped from outside
    /// (then everything under it stops too).
    fn end_thread(&mut self, thread: u32, status: StateStatus, ts: Option<i64>) {
        let mut stack = vec![(thread, status)];
        while let Some((thread, status)) = stack.pop() {
            let Some(current) = self.threads.get(thread as usize).map(|t| t.current) else { continue };
            let Some(e) = self.entries.get_mut(current as usize) else { continue };
            if !e.view.status.is_active() {
                continue;
            }
            e.pending_failure = false;
            if e.view.exited_at.is_none() {
                e.view.exited_at = ts;
            }
            if let Some(a) = e.attempts.last_mut().filter(|a| a.ended_at.is_none()) {
                a.ended_at = ts;
            }
            for &child in &e.children {
                stack.push((child, StateStatus::Cancelled));
            }
            self.set_status(current, status);
            self.refresh(current);
        }
    }

    fn execution_event(&mut self, event_type: &str, index: u32, thread: u32, obj: &serde_json::Map<String, Value>, ts: Option<i64>) {
        let details = details_of(obj, event_type);
        let text = |k: &str| details.and_then(|d| d.get(k)).and_then(Value::as_str).map(str::to_owned);
        match event_type {
            "ExecutionStarted" => {
                self.started_at = ts;
                self.input = details.and_then(|d| d.get("input")).map(json_text_value);
                return;
            }
            "ExecutionSucceeded" => {
                self.status = ExecutionStatus::Succeeded;
                self.output = details.and_then(|d| d.get("output")).map(json_text_value);
            }
            "ExecutionFailed" => self.status = ExecutionStatus::Failed,
            "ExecutionTimedOut" => self.status = ExecutionStatus::TimedOut,
            "ExecutionAborted" => self.status = ExecutionStatus::Aborted,
            "ExecutionRedriven" => return self.redriven(),
            _ => return,
        }
        self.error = text("error").filter(|s| !s.is_empty());
        self.cause = text("cause").filter(|s| !s.is_empty());
        self.ended_at = ts;
        // The thread that failed the execution is the one its event continues; everything
        // else still going was abandoned.
        if event_type == "ExecutionFailed"
            && let Some(current) = self.threads.get(thread as usize).map(|t| t.current)
        {
            if let Some(m) = self.meta.get_mut(index as usize) {
                m.entry = current;
            }
            self.end_thread(thread, StateStatus::Failed, ts);
        }
        for t in 0..self.threads.len() as u32 {
            let pending = self
                .threads
                .get(t as usize)
                .and_then(|th| self.entries.get(th.current as usize))
                .is_some_and(|e| e.pending_failure);
            let status = if pending { StateStatus::Failed } else { StateStatus::Cancelled };
            self.end_thread(t, status, ts);
        }
    }

    /// The execution runs again from where it stopped: what failed or was cancelled then no
    /// longer colours its state, which shows what the redrive does next.
    fn redriven(&mut self) {
        let root = self.threads.get(ROOT_THREAD as usize).map_or(NONE, |t| t.current);
        self.redriven_fork = self.entries.get(root as usize).filter(|e| !e.children.is_empty()).map(|_| root);
        self.status = ExecutionStatus::Running;
        self.error = None;
        self.cause = None;
        self.ended_at = None;
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            if e.superseded || !matches!(e.view.status, StateStatus::Failed | StateStatus::Cancelled) {
                continue;
            }
            e.superseded = true;
            let (state, old) = (e.state as usize, e.view.status.slot());
            if let Some(slot) = self.states.get_mut(state) {
                slot.counts[old] = slot.counts[old].saturating_sub(1);
            }
            self.refresh(i as u32);
        }
    }

    /// Whether a child thread ended with its last state done (succeeded or caught).
    fn child_succeeded(&self, thread: u32) -> bool {
        self.threads
            .get(thread as usize)
            .and_then(|t| self.entries.get(t.current as usize))
            .is_some_and(|c| c.exit_event != NONE && matches!(c.view.status, StateStatus::Succeeded | StateStatus::Caught))
    }

    /// `entry` runs `prev`'s Parallel or Map again: what succeeded there is kept, the rest
    /// is rerun, in slot order.
    fn redrive_fork(&mut self, entry: u32, prev: u32) {
        let Some(p) = self.entries.get(prev as usize) else { return };
        let attempt = p.attempts.len() as u32;
        let mut last: Vec<(u64, u32)> = p
            .children
            .iter()
            .filter_map(|&t| self.threads.get(t as usize).filter(|th| th.parent_attempt == attempt).map(|th| (th.index, t)))
            .collect();
        last.sort_unstable();
        // (slot, thread) of each child of the last attempt.
        type Children = Vec<(u64, u32)>;
        let (kept, rerun): (Children, Children) = last.into_iter().partition(|&(_, t)| self.child_succeeded(t));
        if let Some(e) = self.entries.get_mut(entry as usize) {
            e.redrive_of = prev;
            e.kept_children = kept.into_iter().map(|(_, t)| t).collect();
            e.rerun_slots = rerun.into_iter().map(|(i, _)| i).collect();
        }
    }

    fn set_status(&mut self, entry: u32, status: StateStatus) {
        let Some(e) = self.entries.get_mut(entry as usize) else { return };
        let old = e.view.status;
        if old == status {
            return;
        }
        e.view.status = status;
        if e.superseded {
            return;
        }
        if let Some(slot) = self.states.get_mut(e.state as usize) {
            slot.counts[old.slot()] = slot.counts[old.slot()].saturating_sub(1);
            slot.counts[status.slot()] += 1;
        }
    }

    /// Copies an entry into its state's view, with the state's aggregate status.
    fn refresh(&mut self, entry: u32) {
        let Some(e) = self.entries.get(entry as usize) else { return };
        let Some(slot) = self.states.get_mut(e.state as usize) else { return };
        let entries = slot.view.entries;
        slot.view = e.view.clone();
        slot.view.entries = entries;
        slot.view.status = AGGREGATE_ORDER
            .iter()
            .copied()
            .find(|s| slot.counts[s.slot()] > 0)
            .unwrap_or(StateStatus::NotReached);
    }

    // For `io`.
    fn event(&self, index: u32) -> Option<&Value> {
        if index == NONE {
            return None;
        }
        self.events.get(index as usize)
    }
}

/// The details object of an event: `<type>EventDetails`, or the state entered/exited one.
fn details_of<'a>(obj: &'a serde_json::Map<String, Value>, event_type: &str) -> Option<&'a Value> {
    if event_type.ends_with("StateEntered") {
        return obj.get("stateEnteredEventDetails");
    }
    if event_type.ends_with("StateExited") {
        return obj.get("stateExitedEventDetails");
    }
    let mut chars = event_type.chars();
    let first = chars.next()?;
    let key: String = first.to_lowercase().chain(chars).chain("EventDetails".chars()).collect();
    obj.get(&key)
}

/// Failure events, as the "failed only" filter and the status rules see them.
fn is_failure_type(event_type: &str) -> bool {
    event_type.ends_with("Failed") || event_type.ends_with("TimedOut") || event_type.ends_with("Aborted")
}

/// Input and output fields hold JSON text; text that does not parse is kept as a string.
fn json_text_value(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// Below this a number is epoch seconds (as the AWS JSON protocol and Stepwise send them);
/// at or above it, milliseconds (year 5138 in seconds).
const SECONDS_LIMIT: f64 = 1e11;

/// An event timestamp in milliseconds: epoch seconds or milliseconds as a number, or an
/// RFC 3339 text.
pub fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let f = n.as_f64()?;
            if !f.is_finite() {
                return None;
            }
            let ms = if f.abs() < SECONDS_LIMIT { f * 1000.0 } else { f };
            Some(ms.round() as i64)
        }
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => timestamp_ms(&serde_json::json!(f)),
            Err(_) => chrono::DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.timestamp_millis()),
        },
        _ => None,
    }
}
