//! The seam between the runtime and whatever answers request tasks: mocks now, handlers and
//! real services later.
//!
//! Design choices:
//! - The trait is synchronous; the service calls it on a blocking thread
//!   (`spawn_blocking`), so an implementation may do IO freely.
//! - It is told the invocation number (how many tasks of the same state the execution ran
//!   before), so an implementation needs no memory of its own to give "the third answer"
//!   and gives the same answers after a restart.
//! - Activities never reach it (workers take them). Callbacks (`.waitForTaskToken`) do: an
//!   answer completes the task (as a mock would), `Unanswered` leaves it to whoever holds
//!   the token.

use std::sync::Mutex;

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::buckets::LocalBuckets;
use super::mocks::{MockConfig, MockResponse};
pub use super::virtual_clock::TaskAnswer;
use crate::engine::{Failure, TaskKind, TaskRequest};

/// One task to answer.
#[derive(Debug, Clone, Copy)]
pub struct TaskCall<'a> {
    pub execution_arn: &'a str,
    pub request: &'a TaskRequest,
    /// Tasks of this state the execution ran before this one (retries included).
    pub invocation: u32,
    /// What the execution was started with for its resolver (`{"mockConfig": …}`).
    pub task_config: Option<&'a Value>,
}

pub trait TaskResolver: Send + Sync {
    fn resolve(&self, call: &TaskCall<'_>) -> TaskAnswer;
}

/// No local implementation: a request task fails with an error that names the resource; a
/// callback waits for its token.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultResolver;

impl TaskResolver for DefaultResolver {
    fn resolve(&self, call: &TaskCall<'_>) -> TaskAnswer {
        let req = call.request;
        match req.kind {
            TaskKind::Callback | TaskKind::Activity => TaskAnswer::Unanswered,
            TaskKind::Request | TaskKind::ItemReader => TaskAnswer::Failed(Failure::new(
                "States.TaskFailed",
                format!(
                    "Stepwise has no local implementation, mock or handler for the resource '{}' of state '{}'; give one with --mock-config",
                    req.resource, req.state_name
                ),
            )),
        }
    }
}

/// How many answers each state has had from its mocks, by state name.
type AnswersByState = FxHashMap<String, u32>;

/// Answers from the execution's mock configuration (`task_config.mockConfig`, the format of
/// `stepwise run --mock-config`, with `machineName` and `testCase` for Step Functions Local
/// files), then from the local buckets (`aws-sdk:s3:*` tasks and Map ItemReaders), then from
/// [`DefaultResolver`].
#[derive(Debug, Default)]
pub struct MockResolver {
    /// Per execution: its mocks, and how many answers each state has had from them.
    executions: Mutex<FxHashMap<String, (MockConfig, AnswersByState)>>,
    buckets: Option<LocalBuckets>,
}

impl MockResolver {
    pub fn new() -> MockResolver {
        MockResolver::default()
    }

    /// Serves S3 tasks and ItemReaders from these buckets.
    pub fn with_buckets(mut self, buckets: LocalBuckets) -> MockResolver {
        self.buckets = Some(buckets);
        self
    }

    /// A local handler the user configured for this resource (`stepwise run --handler
    /// RESOURCE=COMMAND`, kept with the execution as `task_config.handlers`). Never a command
    /// from the workflow file.
    fn handler(&self, call: &TaskCall<'_>) -> Option<TaskAnswer> {
        let req = call.request;
        if req.kind != TaskKind::Request {
            return None;
        }
        let command = call.task_config?.get("handlers")?.get(&req.resource)?.as_str()?;
        let Some(argv) = shlex::split(command).filter(|a| !a.is_empty()) else {
            return Some(TaskAnswer::Failed(Failure::new(
                "States.TaskFailed",
                format!("The local handler for '{}' is not a valid command line: {command}", req.resource),
            )));
        };
        let timeout = req.timeout_seconds.map(std::time::Duration::from_secs);
        Some(match super::mocks::run_handler(&argv, &req.payload, timeout) {
            Ok(v) => TaskAnswer::Succeeded(v),
            Err(f) if f.error == "States.Timeout" => TaskAnswer::TimedOut(f),
            Err(f) => TaskAnswer::Failed(f),
        })
    }

    fn local(&self, req: &TaskRequest) -> Option<TaskAnswer> {
        let buckets = self.buckets.as_ref()?;
        let answer = |r: Result<Value, Failure>| match r {
            Ok(v) => TaskAnswer::Succeeded(v),
            Err(f) => TaskAnswer::Failed(f),
        };
        if req.kind == TaskKind::ItemReader {
            return Some(answer(super::item_reader::read_items(buckets, &req.resource, &req.payload)));
        }
        let action = req.resource.strip_prefix("arn:aws:states:::aws-sdk:s3:")?;
        if req.kind == TaskKind::Request && super::s3_tasks::supports(action) {
            return Some(answer(super::s3_tasks::run_s3_task(buckets, action, &req.payload)));
        }
        None
    }

    fn mocked(&self, call: &TaskCall<'_>) -> Option<MockResponse> {
        let config = call.task_config?.get("mockConfig")?;
        let mut map = self.executions.lock().ok()?;
        if !map.contains_key(call.execution_arn) {
            let text = |k: &str| call.task_config.and_then(|c| c.get(k)).and_then(Value::as_str).unwrap_or("");
            let mocks = MockConfig::from_value(config, text("machineName"), text("testCase")).ok()?;
            map.insert(call.execution_arn.to_owned(), (mocks, FxHashMap::default()));
        }
        let (mocks, served) = map.get_mut(call.execution_arn)?;
        let state = &call.request.state_name;
        let n = served.entry(state.clone()).or_insert(0);
        // The mocks hand out answers in order; catch up to this invocation (after a
        // restart, earlier invocations were answered by another process).
        while *n < call.invocation {
            mocks.next_response(state);
            *n += 1;
        }
        *n += 1;
        mocks.next_response(state)
    }
}

impl TaskResolver for MockResolver {
    fn resolve(&self, call: &TaskCall<'_>) -> TaskAnswer {
        match self.mocked(call) {
            Some(MockResponse::Return(v)) => TaskAnswer::Succeeded(v),
            Some(MockResponse::Throw(f)) => TaskAnswer::Failed(f),
            Some(MockResponse::Timeout { error }) => TaskAnswer::TimedOut(Failure::new(error, "")),
            None => self
                .handler(call)
                .or_else(|| self.local(call.request))
                .unwrap_or_else(|| DefaultResolver.resolve(call)),
        }
    }
}
