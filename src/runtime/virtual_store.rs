//! Runs an execution to its end on a virtual clock, writing every step to a store: the
//! same order of events as `virtual_clock::run_to_end` (answers first, then the earliest
//! timer at its deadline), but durable. `stepwise run --time-scale 0` uses it, with an
//! in-memory store unless a data directory is given.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use super::driver::{Driver, DriverError, Step, task_of};
use super::liveness::LEASE_REFRESH;
use super::resolver::{TaskAnswer, TaskCall};
use super::virtual_clock::Stuck;
use crate::engine::{Event, Input, Millis, TimerId};
use crate::store::{Owner, Store};

/// Drives `driver` from its first step until the execution ends or only unanswered tasks
/// are left. Every task (activities too) goes to `resolve`. `on_events` sees each step's
/// events.
pub fn run_to_end(
    store: &mut Store,
    owner: &Owner,
    driver: &mut Driver,
    first: Step,
    resolve: &mut dyn FnMut(&TaskCall<'_>) -> TaskAnswer,
    on_events: &mut dyn FnMut(Vec<Event>),
) -> Result<Result<(), Stuck>, DriverError> {
    let mut timers: BTreeSet<(Millis, TimerId)> = BTreeSet::new();
    let mut inputs: VecDeque<Input> = VecDeque::new();
    let mut unanswered: Vec<String> = Vec::new();
    let mut last_lease = Instant::now();
    let mut step = first;
    loop {
        on_events(std::mem::take(&mut step.events));
        for (timer, at) in &step.timers_started {
            timers.insert((*at, *timer));
        }
        for d in &step.dispatch {
            let call = TaskCall {
                execution_arn: driver.arn(),
                request: &d.request,
                invocation: d.invocation,
                task_config: driver.task_config().map(|c| &**c),
            };
            let task = d.request.id;
            match resolve(&call) {
                TaskAnswer::Succeeded(output) => inputs.push_back(Input::TaskSucceeded { task, output }),
                TaskAnswer::Failed(f) => inputs.push_back(Input::TaskFailed { task, error: f.error, cause: f.cause }),
                TaskAnswer::TimedOut(f) => inputs.push_back(Input::TaskTimedOut { task, error: f.error, cause: f.cause }),
                TaskAnswer::Unanswered => unanswered.push(d.request.state_name.clone()),
            }
        }
        if driver.outcome().is_some() {
            return Ok(Ok(()));
        }
        if last_lease.elapsed() >= LEASE_REFRESH {
            last_lease = Instant::now();
            store.refresh_lease(owner)?;
        }
        let now = driver.execution().now();
        if let Some(input) = inputs.pop_front() {
            step = match task_of(&input) {
                Some(task) if !driver.is_pending(task) => Step::default(),
                _ => driver.feed(store, owner, now, input, None)?,
            };
            continue;
        }
        // The clock jumps to the next timer still pending.
        loop {
            let Some((at, timer)) = timers.pop_first() else {
                return Ok(Err(Stuck::UnansweredTasks(unanswered)));
            };
            if driver.timer_deadline(timer) == Some(at) {
                step = driver.feed(store, owner, at, Input::TimerFired { timer }, None)?;
                break;
            }
        }
    }
}
