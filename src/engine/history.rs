//! Execution history events in the shape of AWS's `GetExecutionHistory`.
//!
//! Events keep their data as JSON values while the interpreter runs (cheap: no text is
//! produced per transition); [`Event::to_aws_json`] turns one into AWS's wire shape, where
//! inputs and outputs are JSON text.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::asl::model::StateType;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    None,
    StateEntered { name: Arc<str>, input: Arc<Value> },
    StateExited { name: Arc<str>, output: Arc<Value> },
    ExecutionStarted { input: Arc<Value>, role_arn: String },
    ExecutionSucceeded { output: Value },
    /// `ExecutionFailed`, `ExecutionTimedOut`, `ExecutionAborted`, `MapIterationFailed`…
    ErrorCause { error: String, cause: String },
    /// Any other details, already in AWS's shape.
    Object(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: Millis,
    pub event_type: &'static str,
    pub details: Details,
}

pub fn entered_type(kind: StateType) -> &'static str {
    match kind {
        StateType::Task => "TaskStateEntered",
        StateType::Pass => "PassStateEntered",
        StateType::Choice => "ChoiceStateEntered",
        StateType::Wait => "WaitStateEntered",
        StateType::Succeed => "SucceedStateEntered",
        StateType::Fail => "FailStateEntered",
        StateType::Parallel => "ParallelStateEntered",
        StateType::Map => "MapStateEntered",
    }
}

pub fn exited_type(kind: StateType) -> &'static str {
    match kind {
        StateType::Task => "TaskStateExited",
        StateType::Pass => "PassStateExited",
        StateType::Choice => "ChoiceStateExited",
        StateType::Wait => "WaitStateExited",
        StateType::Succeed => "SucceedStateExited",
        StateType::Fail => "FailStateExited",
        StateType::Parallel => "ParallelStateExited",
        StateType::Map => "MapStateExited",
    }
}

/// JSON text as AWS puts it in history events (compact).
pub fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// An ISO 8601 timestamp with milliseconds, as the context object shows times.
pub fn iso_time(ms: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => String::from("1970-01-01T00:00:00.000Z"),
    }
}

impl Event {
    /// The key AWS uses for this event's details, e.g. `stateEnteredEventDetails`.
    pub fn details_key(&self) -> String {
        if self.event_type.ends_with("StateEntered") {
            return "stateEnteredEventDetails".into();
        }
        if self.event_type.ends_with("StateExited") {
            return "stateExitedEventDetails".into();
        }
        let mut chars = self.event_type.chars();
        let mut key = String::new();
        if let Some(first) = chars.next() {
            key.extend(first.to_lowercase());
        }
        key.extend(chars);
        key.push_str("EventDetails");
        key
    }

    /// The event in `GetExecutionHistory`'s shape; `timestamp` in epoch seconds, as the
    /// AWS JSON protocol sends it.
    pub fn to_aws_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), json!(self.timestamp as f64 / 1000.0));
        m.insert("type".into(), json!(self.event_type));
        m.insert("id".into(), json!(self.id));
        m.insert("previousEventId".into(), json!(self.previous_event_id));
        let details = match &self.details {
            Details::None => None,
            Details::StateEntered { name, input } => Some(json!({
                "name": &**name, "input": json_text(input), "inputDetails": {"truncated": false}
            })),
            Details::StateExited { name, output } => Some(json!({
                "name": &**name, "output": json_text(output), "outputDetails": {"truncated": false}
            })),
            Details::ExecutionStarted { input, role_arn } => Some(json!({
                "input": json_text(input), "inputDetails": {"truncated": false}, "roleArn": role_arn
            })),
            Details::ExecutionSucceeded { output } => Some(json!({
                "output": json_text(output), "outputDetails": {"truncated": false}
            })),
            Details::ErrorCause { error, cause } => Some(json!({"error": error, "cause": cause})),
            Details::Object(v) => Some(v.clone()),
        };
        if let Some(d) = details {
            m.insert(self.details_key(), d);
        }
        Value::Object(m)
    }

    /// The state name, for state entered/exited events.
    pub fn state_name(&self) -> Option<&str> {
        match &self.details {
            Details::StateEntered { name, .. } | Details::StateExited { name, .. } => Some(name),
            _ => None,
        }
    }
}
