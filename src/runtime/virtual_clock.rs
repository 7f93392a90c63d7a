//! Runs an execution to its end on a virtual clock: waits, retries and timeouts pass at
//! once, tasks are answered by a resolver as soon as they are scheduled. This is
//! `stepwise run --time-scale 0`, the test runs and the benchmarks.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::engine::{Command, Execution, Failure, Input, Millis, TaskRequest, TimerId};

/// How a resolver answers a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskAnswer {
    Succeeded(Value),
    Failed(Failure),
    TimedOut(Failure),
    /// No answer will come (no worker, no mock): the execution cannot finish here.
    Unanswered,
}

/// Why a virtual run stopped before the execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stuck {
    /// Tasks nobody answers; names the states.
    UnansweredTasks(Vec<String>),
}

/// Drives `exec` (already started) until it ends or can go no further.
pub fn run_to_end(exec: &mut Execution, resolve: &mut dyn FnMut(&TaskRequest) -> TaskAnswer) -> Result<(), Stuck> {
    let mut timers: BTreeMap<(Millis, TimerId), ()> = BTreeMap::new();
    let mut timer_at: rustc_hash::FxHashMap<TimerId, Millis> = Default::default();
    let mut inputs: VecDeque<Input> = VecDeque::new();
    let mut unanswered: Vec<String> = Vec::new();
    loop {
        for command in exec.take_commands() {
            match command {
                Command::RunTask(req) => match resolve(&req) {
                    TaskAnswer::Succeeded(output) => inputs.push_back(Input::TaskSucceeded { task: req.id, output }),
                    TaskAnswer::Failed(f) => inputs.push_back(Input::TaskFailed { task: req.id, error: f.error, cause: f.cause }),
                    TaskAnswer::TimedOut(f) => inputs.push_back(Input::TaskTimedOut { task: req.id, error: f.error, cause: f.cause }),
                    TaskAnswer::Unanswered => unanswered.push(req.state_name.clone()),
                },
                Command::CancelTask(_) => {}
                Command::StartTimer { timer, at } => {
                    timers.insert((at, timer), ());
                    timer_at.insert(timer, at);
                }
                Command::CancelTimer(timer) => {
                    if let Some(at) = timer_at.remove(&timer) {
                        timers.remove(&(at, timer));
                    }
                }
            }
        }
        if exec.outcome().is_some() {
            return Ok(());
        }
        let now = exec.now();
        if let Some(input) = inputs.pop_front() {
            exec.handle(now, input);
            continue;
        }
        // A task answered at once beats any timer (a timeout of a task that answered is
        // cancelled); otherwise the clock jumps to the next timer.
        let Some(((at, timer), ())) = timers.pop_first() else {
            return Err(Stuck::UnansweredTasks(unanswered));
        };
        timer_at.remove(&timer);
        exec.handle(at, Input::TimerFired { timer });
    }
}
