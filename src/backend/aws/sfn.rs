//! `AwsSfn`: the Step Functions API of an AWS account, answering in Stepwise's own types.
//!
//! Executions come back as [`ExecutionDescription`] and history events as
//! `GetExecutionHistory`'s JSON (through [`super::history`]), the shapes the local engine
//! gives, so the Run views and the monitor model take either without knowing which.
//! Every failure is an [`AwsError`] that says what to do.

use std::time::Duration;

use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, ExecutionStatus, LogDestination, LogLevel, LoggingConfiguration, StateMachineType, Tag,
    TracingConfiguration, ValidateStateMachineDefinitionResultCode, ValidateStateMachineDefinitionSeverity,
};
use serde::Serialize;
use serde_json::Value;

use super::connection::{AwsClients, AwsTarget, LONG_POLL_TIMEOUT, timeouts};
use super::error::{AwsError, classify};
use super::history::event_json;
use crate::asl::diagnostic::codes;
use crate::asl::{Diagnostic, Severity};
use crate::engine::{MachineType, Millis};
pub use crate::runtime::service::{ExecutionDescription, StartedExecution, StateMachineDescription};

/// A state machine as `ListStateMachines` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineSummary {
    pub state_machine_arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub machine_type: String,
    pub creation_date: Millis,
}

/// `DescribeStateMachine`: the local engine's description plus what only AWS has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineDetails {
    #[serde(flatten)]
    pub description: StateMachineDescription,
    /// `ACTIVE` or `DELETING`.
    pub status: String,
    pub logging: Option<Logging>,
    pub tracing: bool,
    pub revision_id: Option<String>,
}

/// Execution logging to CloudWatch Logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    /// `OFF`, `ALL`, `ERROR` or `FATAL`.
    pub level: String,
    /// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`; required unless the level is `OFF`.
    pub log_group_arn: Option<String>,
    pub include_execution_data: bool,
}

/// An activity as `ListActivities` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivitySummary {
    pub activity_arn: String,
    pub name: String,
    pub creation_date: Millis,
}

/// A task handed out by `GetActivityTask`. AWS says neither the execution nor the
/// heartbeat interval; the input is JSON text.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsActivityTask {
    pub task_token: String,
    pub input: String,
}

impl std::fmt::Debug for AwsActivityTask {
    /// A token is a credential for answering the task: only its start is ever shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsActivityTask").field("task_token", &token_prefix(&self.task_token)).field("input", &self.input).finish()
    }
}

/// The first characters of a task token, for logs and messages.
pub fn token_prefix(token: &str) -> String {
    let head: String = token.chars().take(12).collect();
    if head.len() < token.len() { format!("{head}…") } else { head }
}

/// What a new (or updated) state machine is made with, besides its definition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateMachineSettings {
    pub name: String,
    pub machine_type: MachineType,
    /// The IAM role executions run as; AWS requires one.
    pub role_arn: Option<String>,
    pub logging: Option<Logging>,
    pub tracing: bool,
    pub tags: Vec<(String, String)>,
    /// Publish a version with this update (and its description).
    pub publish: bool,
    pub version_description: Option<String>,
}

/// The result of a create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub state_machine_arn: String,
    pub version_arn: Option<String>,
}

fn millis(t: &aws_sdk_sfn::primitives::DateTime) -> Millis {
    t.to_millis().unwrap_or(0)
}

fn json_or_text(text: Option<&str>) -> Option<Value> {
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())))
}

fn type_name(t: MachineType) -> StateMachineType {
    match t {
        MachineType::Standard => StateMachineType::Standard,
        MachineType::Express => StateMachineType::Express,
    }
}

/// AWS's diagnostic code as one of Stepwise's, so the problems panel treats both alike; a
/// code Stepwise does not know keeps its name in the message.
fn known_code(code: &str) -> Option<&'static str> {
    [
        codes::SCHEMA_VALIDATION_FAILED,
        codes::MISSING_TRANSITION_TARGET,
        codes::MISSING_END_STATE,
        codes::DUPLICATE_STATE_NAME,
        codes::INVALID_STATE_NAME,
        codes::INVALID_RESOURCE,
        codes::TOO_DEEPLY_NESTED,
        codes::NO_DOLLAR,
        codes::NO_PATH,
        codes::PASS_RESULT_IS_STATIC,
        codes::INVALID_LABEL_NAME,
        codes::INVALID_JSONATA_EXPRESSION,
        codes::INVALID_JSON_PATH,
        codes::INVALID_INTRINSIC_FUNCTION,
        codes::UNREACHABLE_STATE,
        codes::DEFINITION_TOO_LARGE,
        codes::INVALID_JSON,
    ]
    .into_iter()
    .find(|c| *c == code)
}

/// One of `ValidateStateMachineDefinition`'s diagnostics as Stepwise's. AWS's `location` is
/// already a JSON pointer (`/States/Wait/Seconds`); line and column come later from the
/// document's source map, like the local validator's.
pub fn aws_diagnostic(severity: &str, code: &str, message: &str, location: Option<&str>) -> Diagnostic {
    let location = location.unwrap_or("").trim_end_matches('/').to_owned();
    let (code, message) = match known_code(code) {
        Some(c) => (c, format!("{message} (AWS)")),
        None => (codes::SCHEMA_VALIDATION_FAILED, format!("{code}: {message} (AWS)")),
    };
    let mut d = Diagnostic::error(code, location, message);
    if severity != "ERROR" {
        d.severity = Severity::Warning;
    }
    d
}

/// Step Functions in one AWS account and region.
#[derive(Clone, Debug)]
pub struct AwsSfn {
    pub clients: AwsClients,
}

impl AwsSfn {
    /// Builds the clients for `target` (see [`AwsClients::connect`]).
    pub async fn connect(target: &AwsTarget) -> Result<AwsSfn, AwsError> {
        Ok(AwsSfn { clients: AwsClients::connect(target).await? })
    }

    fn err<E>(&self, action: &str, e: aws_sdk_sfn::error::SdkError<E, aws_sdk_sfn::config::http::HttpResponse>) -> AwsError
    where
        E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        classify(action, &self.clients.place(), self.clients.target.profile.as_deref(), e)
    }

    fn sfn(&self) -> &aws_sdk_sfn::Client {
        &self.clients.sfn
    }

    /// `ValidateStateMachineDefinition`: AWS's own diagnostics (errors and warnings).
    pub async fn validate_definition(&self, definition: &str, machine_type: MachineType) -> Result<Vec<Diagnostic>, AwsError> {
        let out = self
            .sfn()
            .validate_state_machine_definition()
            .definition(definition)
            .r#type(type_name(machine_type))
            .send()
            .await
            .map_err(|e| self.err("ValidateStateMachineDefinition", e))?;
        let mut list: Vec<Diagnostic> = out
            .diagnostics()
            .iter()
            .map(|d| {
                let severity = match d.severity() {
                    ValidateStateMachineDefinitionSeverity::Error => "ERROR",
                    _ => "WARNING",
                };
                aws_diagnostic(severity, d.code(), d.message(), d.location())
            })
            .collect();
        // A FAIL with no diagnostic still has to stop a deploy.
        if *out.result() == ValidateStateMachineDefinitionResultCode::Fail && !list.iter().any(Diagnostic::is_error) {
            list.push(Diagnostic::error(codes::SCHEMA_VALIDATION_FAILED, "", "AWS found the definition invalid without saying where"));
        }
        Ok(list)
    }

    /// Every state machine of the account and region (all pages), by name.
    pub async fn list_state_machines(&self) -> Result<Vec<StateMachineSummary>, AwsError> {
        let mut pages = self.sfn().list_state_machines().into_paginator().send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListStateMachines", e))?;
            all.extend(page.state_machines().iter().map(|m| StateMachineSummary {
                state_machine_arn: m.state_machine_arn().to_owned(),
                name: m.name().to_owned(),
                machine_type: m.r#type().as_str().to_owned(),
                creation_date: millis(m.creation_date()),
            }));
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The state machine named `name`, if there is one.
    pub async fn find_state_machine(&self, name: &str) -> Result<Option<StateMachineSummary>, AwsError> {
        Ok(self.list_state_machines().await?.into_iter().find(|m| m.name == name))
    }

    pub async fn describe_state_machine(&self, arn: &str) -> Result<StateMachineDetails, AwsError> {
        let out = self.sfn().describe_state_machine().state_machine_arn(arn).send().await.map_err(|e| self.err("DescribeStateMachine", e))?;
        let logging = out.logging_configuration().map(|l| Logging {
            level: l.level().map_or("OFF", |v| v.as_str()).to_owned(),
            log_group_arn: l
                .destinations()
                .iter()
                .find_map(|d| d.cloud_watch_logs_log_group().and_then(|g| g.log_group_arn()).map(str::to_owned)),
            include_execution_data: l.include_execution_data(),
        });
        Ok(StateMachineDetails {
            description: StateMachineDescription {
                state_machine_arn: out.state_machine_arn().to_owned(),
                name: out.name().to_owned(),
                definition: out.definition().to_owned(),
                machine_type: out.r#type().as_str().to_owned(),
                role_arn: out.role_arn().to_owned(),
                creation_date: millis(out.creation_date()),
                update_date: None,
            },
            status: out.status().map_or("ACTIVE", |s| s.as_str()).to_owned(),
            logging,
            tracing: out.tracing_configuration().is_some_and(|t| t.enabled()),
            revision_id: out.revision_id().map(str::to_owned),
        })
    }

    fn logging_config(logging: &Option<Logging>) -> Option<LoggingConfiguration> {
        let l = logging.as_ref()?;
        let mut b = LoggingConfiguration::builder().level(LogLevel::from(l.level.as_str())).include_execution_data(l.include_execution_data);
        if let Some(arn) = &l.log_group_arn {
            b = b.destinations(LogDestination::builder().cloud_watch_logs_log_group(CloudWatchLogsLogGroup::builder().log_group_arn(arn).build()).build());
        }
        Some(b.build())
    }

    /// `CreateStateMachine`.
    pub async fn create_state_machine(&self, settings: &StateMachineSettings, definition: &str) -> Result<Written, AwsError> {
        let role = settings.role_arn.clone().ok_or_else(|| AwsError::Rejected {
            action: "CreateStateMachine".into(),
            code: "MissingRoleArn".into(),
            message: "AWS needs the IAM role the executions run as: pass --role-arn arn:aws:iam::ACCOUNT:role/NAME".into(),
        })?;
        let mut req = self
            .sfn()
            .create_state_machine()
            .name(&settings.name)
            .definition(definition)
            .role_arn(role)
            .r#type(type_name(settings.machine_type))
            .tracing_configuration(TracingConfiguration::builder().enabled(settings.tracing).build())
            .set_logging_configuration(Self::logging_config(&settings.logging))
            .publish(settings.publish)
            .set_version_description(settings.version_description.clone().filter(|_| settings.publish));
        for (k, v) in &settings.tags {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        let out = req.send().await.map_err(|e| self.err("CreateStateMachine", e))?;
        Ok(Written { state_machine_arn: out.state_machine_arn().to_owned(), version_arn: out.state_machine_version_arn().map(str::to_owned) })
    }

    /// `UpdateStateMachine` (definition, and the role, logging and tracing when given).
    pub async fn update_state_machine(&self, arn: &str, settings: &StateMachineSettings, definition: &str) -> Result<Written, AwsError> {
        let out = self
            .sfn()
            .update_state_machine()
            .state_machine_arn(arn)
            .definition(definition)
            .set_role_arn(settings.role_arn.clone())
            .tracing_configuration(TracingConfiguration::builder().enabled(settings.tracing).build())
            .set_logging_configuration(Self::logging_config(&settings.logging))
            .publish(settings.publish)
            .set_version_description(settings.version_description.clone().filter(|_| settings.publish))
            .send()
            .await
            .map_err(|e| self.err("UpdateStateMachine", e))?;
        if !settings.tags.is_empty() {
            let tags: Vec<Tag> = settings.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            self.sfn().tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(|e| self.err("TagResource", e))?;
        }
        Ok(Written { state_machine_arn: arn.to_owned(), version_arn: out.state_machine_version_arn().map(str::to_owned) })
    }

    /// Every activity of the account and region (all pages), by name.
    pub async fn list_activities(&self) -> Result<Vec<ActivitySummary>, AwsError> {
        let mut pages = self.sfn().list_activities().into_paginator().send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListActivities", e))?;
            all.extend(page.activities().iter().map(|a| ActivitySummary {
                activity_arn: a.activity_arn().to_owned(),
                name: a.name().to_owned(),
                creation_date: millis(a.creation_date()),
            }));
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// `CreateActivity`: the ARN of the activity `name`, created when missing (AWS answers
    /// an existing name with its ARN).
    pub async fn create_activity(&self, name: &str) -> Result<String, AwsError> {
        let out = self.sfn().create_activity().name(name).send().await.map_err(|e| self.err("CreateActivity", e))?;
        Ok(out.activity_arn().to_owned())
    }

    /// `StartExecution`; a fresh name when `name` is `None`.
    pub async fn start_execution(&self, state_machine_arn: &str, name: Option<&str>, input: &Value) -> Result<StartedExecution, AwsError> {
        let out = self
            .sfn()
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .set_name(name.map(str::to_owned))
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| self.err("StartExecution", e))?;
        Ok(StartedExecution { execution_arn: out.execution_arn().to_owned(), start_date: millis(out.start_date()) })
    }

    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionDescription, AwsError> {
        let out = self.sfn().describe_execution().execution_arn(arn).send().await.map_err(|e| self.err("DescribeExecution", e))?;
        Ok(ExecutionDescription {
            execution_arn: out.execution_arn().to_owned(),
            state_machine_arn: out.state_machine_arn().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            status: out.status().as_str().to_owned(),
            start_date: millis(out.start_date()),
            stop_date: out.stop_date().map(millis),
            input: json_or_text(out.input()).unwrap_or(Value::Null),
            output: json_or_text(out.output()),
            error: out.error().map(str::to_owned),
            cause: out.cause().map(str::to_owned),
            redrive_count: out.redrive_count().map_or(0, |n| u32::try_from(n).unwrap_or(0)),
            redrive_date: out.redrive_date().map(millis),
            redrive_status: out.redrive_status().map(|s| s.as_str().to_owned()),
        })
    }

    /// The executions of a state machine (all pages), newest first, optionally only those
    /// with `status` (`RUNNING`, `SUCCEEDED`…). `ListExecutions` gives no input or output:
    /// those are `null` here; describe an execution for them.
    pub async fn list_executions(&self, state_machine_arn: &str, status: Option<&str>) -> Result<Vec<ExecutionDescription>, AwsError> {
        let mut pages = self
            .sfn()
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .set_status_filter(status.map(ExecutionStatus::from))
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListExecutions", e))?;
            all.extend(page.executions().iter().map(|x| ExecutionDescription {
                execution_arn: x.execution_arn().to_owned(),
                state_machine_arn: x.state_machine_arn().to_owned(),
                name: x.name().to_owned(),
                status: x.status().as_str().to_owned(),
                start_date: millis(x.start_date()),
                stop_date: x.stop_date().map(millis),
                input: Value::Null,
                output: None,
                error: None,
                cause: None,
                redrive_count: x.redrive_count().map_or(0, |n| u32::try_from(n).unwrap_or(0)),
                redrive_date: x.redrive_date().map(millis),
                redrive_status: None,
            }));
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.start_date));
        Ok(all)
    }

    /// One page of `GetExecutionHistory`, events in JSON.
    pub async fn history_page(&self, arn: &str, next_token: Option<String>, reverse: bool) -> Result<(Vec<Value>, Option<String>), AwsError> {
        let out = self
            .sfn()
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .reverse_order(reverse)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| self.err("GetExecutionHistory", e))?;
        Ok((out.events().iter().map(event_json).collect(), out.next_token().map(str::to_owned)))
    }

    /// `StopExecution`.
    pub async fn stop_execution(&self, arn: &str, error: Option<&str>, cause: Option<&str>) -> Result<(), AwsError> {
        self.sfn()
            .stop_execution()
            .execution_arn(arn)
            .set_error(error.map(str::to_owned))
            .set_cause(cause.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.err("StopExecution", e))?;
        Ok(())
    }

    /// `RedriveExecution`: restarts a failed, timed-out or aborted STANDARD execution from
    /// where it stopped; answers the redrive time.
    pub async fn redrive_execution(&self, arn: &str) -> Result<Millis, AwsError> {
        let out = self.sfn().redrive_execution().execution_arn(arn).send().await.map_err(|e| self.err("RedriveExecution", e))?;
        Ok(millis(out.redrive_date()))
    }

    /// `GetActivityTask`: waits (AWS holds the request up to 60 s) for a task of the activity;
    /// `None` when none came.
    pub async fn get_activity_task(&self, activity_arn: &str, worker_name: Option<&str>) -> Result<Option<AwsActivityTask>, AwsError> {
        let out = self
            .sfn()
            .get_activity_task()
            .activity_arn(activity_arn)
            .set_worker_name(worker_name.map(str::to_owned))
            .customize()
            .config_override(aws_sdk_sfn::config::Builder::default().timeout_config(timeouts(LONG_POLL_TIMEOUT)))
            .send()
            .await
            .map_err(|e| self.err("GetActivityTask", e))?;
        Ok(match out.task_token() {
            Some(t) if !t.is_empty() => Some(AwsActivityTask { task_token: t.to_owned(), input: out.input().unwrap_or("{}").to_owned() }),
            _ => None,
        })
    }

    pub async fn send_task_success(&self, token: &str, output: &str) -> Result<(), AwsError> {
        self.sfn().send_task_success().task_token(token).output(output).send().await.map_err(|e| self.err("SendTaskSuccess", e))?;
        Ok(())
    }

    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), AwsError> {
        self.sfn()
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(|e| self.err("SendTaskFailure", e))?;
        Ok(())
    }

    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), AwsError> {
        self.sfn().send_task_heartbeat().task_token(token).send().await.map_err(|e| self.err("SendTaskHeartbeat", e))?;
        Ok(())
    }

    /// Polls `DescribeExecution` until the execution leaves `RUNNING`, waiting longer between
    /// polls as it runs on (1 s growing to 10 s), so a long execution costs few calls.
    pub async fn wait_for_execution(&self, arn: &str) -> Result<ExecutionDescription, AwsError> {
        let mut pause = Duration::from_secs(1);
        loop {
            let d = self.describe_execution(arn).await?;
            if d.status != "RUNNING" && d.status != "PENDING_REDRIVE" {
                return Ok(d);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_secs(10));
        }
    }
}

/// Reads an execution's history incrementally: each [`HistoryCursor::poll`] answers only the
/// events that came since the last one, never the same event twice.
///
/// The first reads go forward page by page (keeping AWS's `nextToken` across calls, so a
/// failed page is asked again, not the whole history). Once caught up, AWS has no token that
/// means "after this event", so later polls read newest first and stop at the last event
/// already seen: a poll costs one request while little happens.
#[derive(Debug, Clone, Default)]
pub struct HistoryCursor {
    pub execution_arn: String,
    next_token: Option<String>,
    last_id: u64,
    caught_up: bool,
}

impl HistoryCursor {
    pub fn new(execution_arn: &str) -> HistoryCursor {
        HistoryCursor { execution_arn: execution_arn.to_owned(), ..HistoryCursor::default() }
    }

    /// The id of the last event handed out (0 before any).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// The events after the last one handed out, in order.
    pub async fn poll(&mut self, sfn: &AwsSfn) -> Result<Vec<Value>, AwsError> {
        let mut new = Vec::new();
        if !self.caught_up {
            loop {
                let (events, token) = sfn.history_page(&self.execution_arn, self.next_token.clone(), false).await?;
                self.take(events, &mut new);
                self.next_token = token;
                if self.next_token.is_none() {
                    self.caught_up = true;
                    return Ok(new);
                }
                if !new.is_empty() {
                    // Hand out what came so far; the next poll goes on from the token.
                    return Ok(new);
                }
            }
        }
        let mut newest_first = Vec::new();
        let mut token = None;
        loop {
            let (events, next) = sfn.history_page(&self.execution_arn, token, true).await?;
            let reached = events.iter().any(|e| crate::backend::event_id(e) <= self.last_id);
            newest_first.extend(events.into_iter().filter(|e| crate::backend::event_id(e) > self.last_id));
            match next {
                Some(t) if !reached => token = Some(t),
                _ => break,
            }
        }
        newest_first.reverse();
        self.take(newest_first, &mut new);
        Ok(new)
    }

    /// Keeps the events past the last id, in id order.
    fn take(&mut self, events: Vec<Value>, out: &mut Vec<Value>) {
        for e in events {
            let id = crate::backend::event_id(&e);
            if id > self.last_id {
                self.last_id = id;
                out.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_diagnostics_keep_known_codes_and_name_unknown_ones() {
        let d = aws_diagnostic("ERROR", "MISSING_TRANSITION_TARGET", "Missing 'Next' target: Nope", Some("/States/A/Next"));
        assert_eq!((d.code, d.location.as_str(), d.severity), ("MISSING_TRANSITION_TARGET", "/States/A/Next", Severity::Error));
        let d = aws_diagnostic("WARNING", "SOMETHING_NEW", "odd", None);
        assert_eq!((d.code, d.severity), ("SCHEMA_VALIDATION_FAILED", Severity::Warning));
        assert!(d.message.starts_with("SOMETHING_NEW: odd"), "{}", d.message);
    }

    #[test]
    fn the_cursor_hands_out_each_event_once_in_order() {
        let mut c = HistoryCursor::new("arn");
        let ev = |id: u64| serde_json::json!({"id": id, "type": "PassStateEntered"});
        let mut out = Vec::new();
        c.take(vec![ev(1), ev(2)], &mut out);
        c.take(vec![ev(2), ev(3)], &mut out);
        c.take(vec![ev(1)], &mut out);
        let ids: Vec<u64> = out.iter().map(crate::backend::event_id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(c.last_id(), 3);
    }

    #[test]
    fn tokens_are_shown_by_their_start_only() {
        let t = AwsActivityTask { task_token: "AAAAKgAAAAIAAAAAAAAAAsecretpart".into(), input: "{}".into() };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secretpart"), "{shown}");
        assert_eq!(token_prefix("short"), "short");
    }
}
