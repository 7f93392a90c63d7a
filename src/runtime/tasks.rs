//! The worker's side of tokens: take activity tasks, answer them, send heartbeats.
//!
//! A [`TaskClient`] only touches the store (its own connection): it never drives an
//! execution. Answers become rows in `task_messages`, which the execution's owner feeds to
//! its engine. [`super::service::LocalService`] wraps one and wakes its engine thread after
//! each post.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::owner_lock::DataDirLock;
use super::service::ServiceError;
use crate::engine::TaskId;
use crate::store::{ActivityRef, ActivityRow, CloseReason, OpenTask, PostOutcome, Store, TokenMessage, now_wall_ms};

/// How often a waiting worker looks at the store (another process may schedule a task).
pub const WORKER_POLL: Duration = Duration::from_millis(100);

/// AWS's long-poll limit for `GetActivityTask`.
pub const ACTIVITY_POLL: Duration = Duration::from_secs(60);

/// An activity task given to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTask {
    pub task_token: String,
    /// The task's input, JSON text.
    pub input: String,
    pub execution_arn: String,
    pub task: TaskId,
    pub heartbeat_seconds: Option<u64>,
}

#[derive(Clone)]
pub struct TaskClient {
    store: Arc<Mutex<Store>>,
    /// Signalled when this process schedules an activity task.
    scheduled: Arc<Notify>,
}

impl std::fmt::Debug for TaskClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskClient").finish_non_exhaustive()
    }
}

/// Runs a store operation on a blocking thread.
pub(crate) async fn blocking<T, F>(store: &Arc<Mutex<Store>>, f: F) -> Result<T, ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, ServiceError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().map_err(|_| ServiceError::Stopped)?;
        f(&mut guard)
    })
    .await
    .map_err(|_| ServiceError::Stopped)?
}

/// The default ARN of an activity name (the local region and account).
pub fn activity_arn(name: &str) -> String {
    format!("arn:aws:states:{}:{}:activity:{name}", super::service::REGION, super::service::ACCOUNT)
}

impl TaskClient {
    /// A client of the store in `data_dir`, for a process that owns it (the lock is
    /// returned with it: keep it while the client is used).
    pub async fn open(data_dir: &Path) -> Result<(TaskClient, DataDirLock), ServiceError> {
        let dir = data_dir.to_owned();
        let (lock, store) = tokio::task::spawn_blocking(move || -> Result<_, ServiceError> {
            let lock = super::owner_lock::acquire(&dir).map_err(ServiceError::DataDirInUse)?;
            Ok((lock, Store::open(&dir)?))
        })
        .await
        .map_err(|_| ServiceError::Stopped)??;
        Ok((TaskClient::new(Arc::new(Mutex::new(store)), Arc::new(Notify::new())), lock))
    }

    pub(crate) fn new(store: Arc<Mutex<Store>>, scheduled: Arc<Notify>) -> TaskClient {
        TaskClient { store, scheduled }
    }

    pub(crate) fn store(&self) -> &Arc<Mutex<Store>> {
        &self.store
    }

    /// Creates an activity (idempotent, as `CreateActivity` is); returns its ARN.
    pub async fn create_activity(&self, name: &str) -> Result<String, ServiceError> {
        super::service::check_name(name)?;
        let arn = activity_arn(name);
        let (a, n) = (arn.clone(), name.to_owned());
        blocking(&self.store, move |s| Ok(s.insert_activity(&a, &n, now_wall_ms())?)).await?;
        Ok(arn)
    }

    /// Makes sure an activity given by ARN exists locally (a worker may start first).
    pub async fn ensure_activity(&self, arn: &str) -> Result<(), ServiceError> {
        let name = crate::store::activity_name(arn).ok_or_else(|| ServiceError::InvalidArn(arn.to_owned()))?.to_owned();
        let a = arn.to_owned();
        blocking(&self.store, move |s| Ok(s.insert_activity(&a, &name, now_wall_ms())?)).await?;
        Ok(())
    }

    pub async fn describe_activity(&self, arn: &str) -> Result<ActivityRow, ServiceError> {
        let a = arn.to_owned();
        blocking(&self.store, move |s| s.activity(&a)?.ok_or(ServiceError::ActivityDoesNotExist(a))).await
    }

    /// Activities by name.
    pub async fn list_activities(&self) -> Result<Vec<ActivityRow>, ServiceError> {
        blocking(&self.store, |s| Ok(s.activities()?)).await
    }

    /// Deletes an activity (a no-op when it does not exist, as in AWS).
    pub async fn delete_activity(&self, arn: &str) -> Result<(), ServiceError> {
        let a = arn.to_owned();
        blocking(&self.store, move |s| Ok(s.delete_activity(&a).map(|_| ())?)).await
    }

    /// Waits up to `wait` for a task of `activity` and takes it for `worker`. The owner of
    /// the execution learns of it (`ActivityStarted`) through the store.
    pub async fn take_activity_task(&self, activity: ActivityRef<'_>, worker: &str, wait: Duration) -> Result<Option<ActivityTask>, ServiceError> {
        let deadline = tokio::time::Instant::now() + wait;
        let (is_arn, key) = match activity {
            ActivityRef::Arn(a) => (true, a.to_owned()),
            ActivityRef::Name(n) => (false, n.to_owned()),
        };
        loop {
            let notified = self.scheduled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (k, w) = (key.clone(), worker.to_owned());
            let claimed = blocking(&self.store, move |s| {
                let activity = if is_arn { ActivityRef::Arn(&k) } else { ActivityRef::Name(&k) };
                // A read first: polling must not take the write lock for nothing.
                if !s.has_scheduled_task(activity)? {
                    return Ok(None);
                }
                Ok(s.claim_activity_task(activity, &w)?)
            })
            .await?;
            if let Some(c) = claimed {
                return Ok(Some(ActivityTask {
                    task_token: c.token,
                    input: c.input,
                    execution_arn: c.execution_arn,
                    task: c.task,
                    heartbeat_seconds: c.heartbeat_seconds,
                }));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let nap = (deadline - now).min(WORKER_POLL);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Takes one particular waiting activity task (the one a person picked) for `worker`.
    pub async fn take_task(&self, token: &str, worker: &str) -> Result<ActivityTask, ServiceError> {
        let (t, w) = (token.to_owned(), worker.to_owned());
        let claimed = blocking(&self.store, move |s| Ok(s.claim_task(&t, &w)?)).await?;
        let c = claimed.ok_or_else(|| {
            ServiceError::InvalidToken("this task is no longer waiting for a worker: another worker took it, or it ended".into())
        })?;
        Ok(ActivityTask { task_token: c.token, input: c.input, execution_arn: c.execution_arn, task: c.task, heartbeat_seconds: c.heartbeat_seconds })
    }

    /// Every task waiting for an answer (scheduled or taken), oldest first.
    pub async fn open_tasks(&self) -> Result<Vec<OpenTask>, ServiceError> {
        blocking(&self.store, |s| Ok(s.open_tasks()?)).await
    }

    async fn post(&self, token: &str, message: TokenMessage) -> Result<(), ServiceError> {
        let t = token.to_owned();
        let outcome = blocking(&self.store, move |s| Ok(s.post_token_message(&t, message)?)).await?;
        match outcome {
            PostOutcome::Posted => Ok(()),
            PostOutcome::UnknownToken => Err(ServiceError::InvalidToken("no task has this token".into())),
            PostOutcome::Closed(CloseReason::TimedOut) => Err(ServiceError::TaskTimedOut("the task of this token timed out".into())),
            PostOutcome::Closed(reason) => {
                Err(ServiceError::InvalidToken(format!("the task of this token is already closed ({})", reason.as_str())))
            }
        }
    }

    /// `SendTaskSuccess`: `output` must be JSON text.
    pub async fn send_task_success(&self, token: &str, output: &str) -> Result<(), ServiceError> {
        let value: Value = serde_json::from_str(output).map_err(|e| ServiceError::InvalidOutput(format!("the output is not JSON: {e}")))?;
        self.post(token, TokenMessage::Success(value)).await
    }

    /// `SendTaskFailure`.
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), ServiceError> {
        self.post(token, TokenMessage::Failure { error: error.to_owned(), cause: cause.to_owned() }).await
    }

    /// `SendTaskHeartbeat`.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), ServiceError> {
        self.post(token, TokenMessage::Heartbeat).await
    }
}
