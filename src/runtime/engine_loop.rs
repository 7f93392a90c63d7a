//! The engine thread: the one place in a process that drives executions.
//!
//! It owns the store connection that writes steps, every [`Driver`] this process drives,
//! and the timer queue. Everything reaches it as a [`Msg`] on a channel (the service's API,
//! the resolver's answers) or as a row in `task_messages` (workers, in any process), which it
//! notices through `PRAGMA data_version` every [`POLL`]. It is a plain thread, not a tokio
//! task: every step is a synchronous SQLite transaction, which must not block the async
//! runtime; replies go back through `oneshot` channels and live events through `broadcast`.
//!
//! Time: with `time_scale > 0`, virtual time runs `time_scale` times as fast as a monotonic
//! clock started at the wall-clock time; a timer fires when virtual time reaches its
//! deadline. With `time_scale == 0` a timer fires at once, at its deadline, in deadline
//! order, but only once no request task of its execution is still with the resolver (an
//! answer that comes "at once" beats any timer, as in `virtual_clock`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Notify, broadcast, oneshot};

use super::driver::{Dispatch, Driver, DriverError, Step, task_of};
use super::liveness::{LEASE_REFRESH, owner_is_alive};
use super::resolver::{TaskAnswer, TaskCall, TaskResolver};
use super::service::{LiveEvent, ServiceError};
use crate::engine::{ExecutionInfo, Input, Machine, Millis, TaskId, TaskKind, TimerId};
use crate::store::{Claim, Owner, Store, now_wall_ms};

/// How often the engine thread looks for worker messages from other processes.
pub const POLL: Duration = Duration::from_millis(50);

/// Timers fired before the thread looks at its channel again (time scale 0 can fire many).
const TIMER_BATCH: usize = 256;

pub(crate) struct StartRequest {
    pub machine: Arc<Machine>,
    pub info: ExecutionInfo,
    pub definition: String,
    pub input: Value,
    pub task_config: Option<Value>,
}

/// How far an execution has come, as the engine thread sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Not running any more (or this process never drove it).
    NotDriven { lost: Option<String> },
    /// Waits only for workers or callbacks: `(state, resource)` of each waiting task.
    WaitingOnWorkers(Vec<(String, String)>),
    /// Timers or request tasks will move it on by themselves.
    Running,
}

/// What became of one running execution when a process tried to resume it.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeResult {
    /// This process drives it now; `replayed` journal entries were replayed.
    Resumed { replayed: usize },
    /// This process already drove it.
    AlreadyDriven,
    /// A live process drives it.
    OwnedBy { pid: u32 },
    /// It could not be rebuilt; it stays as stored.
    Failed(String),
}

pub(crate) enum Msg {
    Start { request: Box<StartRequest>, reply: oneshot::Sender<Result<(), ServiceError>> },
    Stop { arn: String, error: Option<String>, cause: Option<String>, reply: oneshot::Sender<Result<bool, ServiceError>> },
    Redrive { arn: String, reply: oneshot::Sender<Result<Millis, ServiceError>> },
    Answer { arn: String, task: TaskId, answer: TaskAnswer },
    /// A worker message was posted in this process: look now.
    Wake,
    Resume { reply: oneshot::Sender<Result<Vec<(String, ResumeResult)>, ServiceError>> },
    Progress { arn: String, reply: oneshot::Sender<Progress> },
    Shutdown { reply: oneshot::Sender<()> },
}

struct Clock {
    scale: f64,
    origin: Instant,
    origin_ms: Millis,
}

impl Clock {
    fn now_ms(&self) -> Millis {
        let elapsed = self.origin.elapsed().as_secs_f64() * 1000.0;
        if self.scale > 0.0 { self.origin_ms + (elapsed * self.scale) as Millis } else { self.origin_ms + elapsed as Millis }
    }

    /// Real time until virtual time reaches `at` (zero on the virtual clock).
    fn until(&self, at: Millis) -> Duration {
        if self.scale <= 0.0 {
            return Duration::ZERO;
        }
        let ms = (at - self.now_ms()) as f64 / self.scale;
        if ms <= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(ms / 1000.0) }
    }
}

struct Driven {
    driver: Driver,
    /// Request tasks handed to the resolver and not answered yet. By id, not a count: an
    /// answer to a task of an earlier run (before a redrive) must not count for this one.
    in_flight: BTreeSet<TaskId>,
}

pub(crate) struct EngineLoop {
    store: Store,
    owner: Owner,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
    handle: tokio::runtime::Handle,
    resolver: Arc<dyn TaskResolver>,
    events: broadcast::Sender<LiveEvent>,
    scheduled: Arc<Notify>,
    clock: Clock,
    driven: BTreeMap<String, Driven>,
    /// `(deadline, execution, timer)`; stale entries (cancelled timers) are skipped.
    timers: BTreeSet<(Millis, String, TimerId)>,
    /// Why this process stopped driving an execution it drove.
    lost: BTreeMap<String, String>,
    data_version: i64,
    look_for_messages: bool,
    last_lease: Instant,
}

pub(crate) struct LoopParts {
    pub store: Store,
    pub owner: Owner,
    pub rx: Receiver<Msg>,
    pub tx: Sender<Msg>,
    pub handle: tokio::runtime::Handle,
    pub resolver: Arc<dyn TaskResolver>,
    pub events: broadcast::Sender<LiveEvent>,
    pub scheduled: Arc<Notify>,
    pub time_scale: f64,
}

impl EngineLoop {
    pub(crate) fn new(p: LoopParts) -> EngineLoop {
        EngineLoop {
            store: p.store,
            owner: p.owner,
            rx: p.rx,
            tx: p.tx,
            handle: p.handle,
            resolver: p.resolver,
            events: p.events,
            scheduled: p.scheduled,
            clock: Clock { scale: p.time_scale, origin: Instant::now(), origin_ms: now_wall_ms() },
            driven: BTreeMap::new(),
            timers: BTreeSet::new(),
            lost: BTreeMap::new(),
            data_version: 0,
            look_for_messages: true,
            last_lease: Instant::now(),
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let wait = self.next_wait();
            match self.rx.recv_timeout(wait) {
                Ok(msg) => {
                    if self.handle_msg(msg) {
                        break;
                    }
                    while let Ok(msg) = self.rx.try_recv() {
                        if self.handle_msg(msg) {
                            self.release_all();
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.poll_messages();
            self.fire_due_timers();
            self.refresh_lease();
        }
        self.release_all();
    }

    fn next_wait(&self) -> Duration {
        if self.driven.is_empty() {
            return Duration::from_millis(500);
        }
        let mut wait = POLL.min(LEASE_REFRESH.saturating_sub(self.last_lease.elapsed()));
        if let Some(at) = self.next_timer() {
            wait = wait.min(self.clock.until(at));
        }
        wait
    }

    /// The deadline of the first timer that may fire (on the virtual clock: whose
    /// execution has no request with the resolver).
    fn next_timer(&self) -> Option<Millis> {
        self.timers
            .iter()
            .find(|(_, arn, _)| self.clock.scale > 0.0 || self.driven.get(arn).is_some_and(|d| d.in_flight.is_empty()))
            .map(|(at, _, _)| *at)
    }

    /// Handles one message; `true` to stop.
    fn handle_msg(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Start { request, reply } => {
                let r = self.start(*request);
                let _ = reply.send(r);
            }
            Msg::Stop { arn, error, cause, reply } => {
                let r = self.stop(&arn, error, cause);
                let _ = reply.send(r);
            }
            Msg::Redrive { arn, reply } => {
                let r = self.redrive(&arn);
                let _ = reply.send(r);
            }
            Msg::Answer { arn, task, answer } => self.answer(&arn, task, answer),
            Msg::Wake => self.look_for_messages = true,
            Msg::Resume { reply } => {
                let r = self.resume_all();
                let _ = reply.send(r);
            }
            Msg::Progress { arn, reply } => {
                self.look_for_messages = true;
                self.poll_messages();
                let _ = reply.send(self.progress(&arn));
            }
            Msg::Shutdown { reply } => {
                self.release_all();
                let _ = reply.send(());
                return true;
            }
        }
        false
    }

    fn now_for(&self, arn: &str) -> Millis {
        match self.driven.get(arn) {
            Some(d) if self.clock.scale <= 0.0 => d.driver.execution().now(),
            _ => self.clock.now_ms(),
        }
    }

    fn start(&mut self, r: StartRequest) -> Result<(), ServiceError> {
        let arn = r.info.execution_arn.clone();
        let started = Driver::start(&mut self.store, &self.owner, r.machine, r.info, &r.definition, r.input, r.task_config);
        match started {
            Ok((driver, step)) => {
                self.driven.insert(arn.clone(), Driven { driver, in_flight: BTreeSet::new() });
                self.after_step(&arn, step);
                Ok(())
            }
            Err(DriverError::AlreadyExists(a)) => Err(ServiceError::ExecutionAlreadyExists(a)),
            Err(e) => Err(ServiceError::Driver(e)),
        }
    }

    /// `Ok(false)` when the execution had already ended.
    fn stop(&mut self, arn: &str, error: Option<String>, cause: Option<String>) -> Result<bool, ServiceError> {
        if self.driven.contains_key(arn) {
            let now = self.now_for(arn);
            self.feed(arn, now, Input::Stop { error, cause }, None);
            return match self.lost.get(arn) {
                Some(why) => Err(ServiceError::Lost(why.clone())),
                None => Ok(true),
            };
        }
        match self.store.execution(arn)? {
            None => Err(ServiceError::ExecutionDoesNotExist(arn.to_owned())),
            Some(row) if row.status != "RUNNING" => Ok(false),
            Some(_) => {
                // Another process drives it (or will, when resumed): tell it through the store.
                self.store.post_stop(arn, &Input::Stop { error, cause })?;
                Ok(true)
            }
        }
    }

    /// Redrives an ended execution; this process drives it from then on.
    fn redrive(&mut self, arn: &str) -> Result<Millis, ServiceError> {
        if self.driven.contains_key(arn) {
            return Err(ServiceError::ExecutionNotRedrivable(format!("{arn} is still running")));
        }
        let now = self.clock.now_ms();
        match Driver::redrive(&mut self.store, &self.owner, arn, now) {
            Ok((driver, step)) => {
                self.lost.remove(arn);
                self.driven.insert(arn.to_owned(), Driven { driver, in_flight: BTreeSet::new() });
                self.after_step(arn, step);
                Ok(now)
            }
            // No row, or (another process redrove it first) no longer an ended one.
            Err(DriverError::Store(crate::store::StoreError::NoExecution(_))) => match self.store.execution(arn)? {
                None => Err(ServiceError::ExecutionDoesNotExist(arn.to_owned())),
                Some(row) => Err(ServiceError::ExecutionNotRedrivable(format!("{arn}: its status is {}", row.status))),
            },
            Err(DriverError::NotRedrivable { arn, why }) => Err(ServiceError::ExecutionNotRedrivable(format!("{arn}: {why}"))),
            Err(e) => Err(ServiceError::Driver(e)),
        }
    }

    fn answer(&mut self, arn: &str, task: TaskId, answer: TaskAnswer) {
        let Some(d) = self.driven.get_mut(arn) else { return };
        if !d.in_flight.remove(&task) {
            return;
        }
        if !d.driver.is_pending(task) {
            return;
        }
        let input = match answer {
            TaskAnswer::Succeeded(output) => Input::TaskSucceeded { task, output },
            TaskAnswer::Failed(f) => Input::TaskFailed { task, error: f.error, cause: f.cause },
            TaskAnswer::TimedOut(f) => Input::TaskTimedOut { task, error: f.error, cause: f.cause },
            TaskAnswer::Unanswered => return,
        };
        let now = self.now_for(arn);
        self.feed(arn, now, input, None);
    }

    fn feed(&mut self, arn: &str, now: Millis, input: Input, consumed: Option<i64>) {
        let Some(d) = self.driven.get_mut(arn) else { return };
        match d.driver.feed(&mut self.store, &self.owner, now, input, consumed) {
            Ok(step) => self.after_step(arn, step),
            Err(e) => {
                // The driver's memory is ahead of the store now: drop it. What was
                // committed stays, and a resume rebuilds it.
                eprintln!("stepwise: stopped driving {arn}: {e}");
                self.driven.remove(arn);
                self.lost.insert(arn.to_owned(), e.to_string());
            }
        }
    }

    fn after_step(&mut self, arn: &str, step: Step) {
        let shared: Arc<str> = Arc::from(arn);
        for e in &step.events {
            let _ = self.events.send(LiveEvent { execution_arn: Arc::clone(&shared), event: e.to_aws_json() });
        }
        if step.outcome.is_some() {
            self.driven.remove(arn);
            self.timers.retain(|(_, a, _)| a != arn);
            return;
        }
        for (timer, at) in &step.timers_started {
            self.timers.insert((*at, arn.to_owned(), *timer));
        }
        let mut activities = false;
        for d in step.dispatch {
            match d.request.kind {
                TaskKind::Activity => activities = true,
                TaskKind::Callback | TaskKind::Request | TaskKind::ItemReader => self.dispatch(arn, d),
            }
        }
        if activities {
            self.scheduled.notify_waiters();
        }
    }

    fn dispatch(&mut self, arn: &str, d: Dispatch) {
        let Some(driven) = self.driven.get_mut(arn) else { return };
        driven.in_flight.insert(d.request.id);
        let resolver = Arc::clone(&self.resolver);
        let tx = self.tx.clone();
        let config = driven.driver.task_config().cloned();
        let arn = arn.to_owned();
        self.handle.spawn_blocking(move || {
            let call = TaskCall {
                execution_arn: &arn,
                request: &d.request,
                invocation: d.invocation,
                task_config: config.as_deref(),
            };
            let answer = resolver.resolve(&call);
            let _ = tx.send(Msg::Answer { arn, task: d.request.id, answer });
        });
    }

    fn poll_messages(&mut self) {
        if self.driven.is_empty() {
            return;
        }
        let version = match self.store.data_version() {
            Ok(v) => v,
            Err(e) => {
                eprintln!("stepwise: cannot read the store: {e}");
                return;
            }
        };
        if version == self.data_version && !self.look_for_messages {
            return;
        }
        self.data_version = version;
        self.look_for_messages = false;
        let messages = match self.store.task_messages() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("stepwise: cannot read worker messages: {e}");
                return;
            }
        };
        for m in messages {
            let Some(d) = self.driven.get(&m.execution_arn) else { continue };
            let live = match task_of(&m.input) {
                Some(task) => d.driver.is_pending(task),
                None => true,
            };
            if live {
                let now = self.now_for(&m.execution_arn);
                self.feed(&m.execution_arn, now, m.input, Some(m.id));
            } else if let Err(e) = self.store.delete_task_message(m.id) {
                eprintln!("stepwise: cannot drop a stale worker message: {e}");
            }
        }
    }

    fn fire_due_timers(&mut self) {
        for _ in 0..TIMER_BATCH {
            let now = self.clock.now_ms();
            let due = if self.clock.scale > 0.0 {
                // In deadline order: when the first is not due, none is.
                self.timers.first().filter(|(at, _, _)| *at <= now).cloned()
            } else {
                self.timers.iter().find(|(_, arn, _)| self.driven.get(arn).is_some_and(|d| d.in_flight.is_empty())).cloned()
            };
            let Some(entry) = due else { return };
            self.timers.remove(&entry);
            let (at, arn, timer) = entry;
            let Some(d) = self.driven.get(&arn) else { continue };
            if d.driver.timer_deadline(timer) != Some(at) {
                continue;
            }
            let when = if self.clock.scale > 0.0 { now.max(at) } else { at };
            self.feed(&arn, when, Input::TimerFired { timer }, None);
        }
        // More may be due; come back after a look at the channel.
        let _ = self.tx.send(Msg::Wake);
    }

    fn refresh_lease(&mut self) {
        if self.driven.is_empty() || self.last_lease.elapsed() < LEASE_REFRESH {
            return;
        }
        self.last_lease = Instant::now();
        if let Err(e) = self.store.refresh_lease(&self.owner) {
            eprintln!("stepwise: cannot renew the lease on running executions: {e}");
        }
    }

    fn resume_all(&mut self) -> Result<Vec<(String, ResumeResult)>, ServiceError> {
        let mut out = Vec::new();
        let running = self.store.executions(None, Some("RUNNING"))?;
        for row in running.into_iter().rev() {
            let arn = row.arn;
            if self.driven.contains_key(&arn) {
                out.push((arn, ResumeResult::AlreadyDriven));
                continue;
            }
            match self.store.claim_execution(&arn, &self.owner, &owner_is_alive)? {
                Claim::NotRunning => continue,
                Claim::OwnedBy(o) => out.push((arn, ResumeResult::OwnedBy { pid: o.pid })),
                Claim::Claimed => match Driver::resume(&self.store, &arn) {
                    Ok((driver, resumed)) => {
                        self.lost.remove(&arn);
                        self.driven.insert(arn.clone(), Driven { driver, in_flight: BTreeSet::new() });
                        for (timer, at) in resumed.timers {
                            self.timers.insert((at, arn.clone(), timer));
                        }
                        for d in resumed.dispatch {
                            self.dispatch(&arn, d);
                        }
                        self.look_for_messages = true;
                        out.push((arn, ResumeResult::Resumed { replayed: resumed.replayed }));
                    }
                    Err(e) => {
                        self.store.release_execution(&arn, &self.owner)?;
                        out.push((arn, ResumeResult::Failed(e.to_string())));
                    }
                },
            }
        }
        self.scheduled.notify_waiters();
        Ok(out)
    }

    fn progress(&self, arn: &str) -> Progress {
        let Some(d) = self.driven.get(arn) else {
            return Progress::NotDriven { lost: self.lost.get(arn).cloned() };
        };
        if d.in_flight.is_empty() && d.driver.waits_only_on_workers() {
            Progress::WaitingOnWorkers(d.driver.waiting_states())
        } else {
            Progress::Running
        }
    }

    fn release_all(&mut self) {
        for arn in std::mem::take(&mut self.driven).into_keys() {
            if let Err(e) = self.store.release_execution(&arn, &self.owner) {
                eprintln!("stepwise: cannot release {arn}: {e}");
            }
        }
    }
}
