//! AWS's typed history events back into `GetExecutionHistory`'s JSON, the shape the local
//! engine records and the monitor model reads, so a watched AWS execution and a local one go
//! through the same code.
//!
//! The SDK decodes the JSON into structs (and offers no way back), so each details struct is
//! written out again member by member under the JSON names AWS uses. The tables below were
//! generated from the SDK's own deserialisers (the `"jsonName" => set_member` pairs), so the
//! names are AWS's and no member is left out; absent members are omitted, as AWS omits them.

use aws_sdk_sfn::types::{self, HistoryEvent};
use serde_json::{Map, Value, json};

/// One SDK value as JSON.
trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for &str {
    fn to_json(&self) -> Value {
        Value::String((*self).to_owned())
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToJson for i32 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

impl<T: ToJson> ToJson for &T {
    fn to_json(&self) -> Value {
        (*self).to_json()
    }
}

impl ToJson for std::collections::HashMap<String, String> {
    fn to_json(&self) -> Value {
        // Sorted, so the same event always reads the same (a HashMap has no order).
        let mut keys: Vec<&String> = self.keys().collect();
        keys.sort();
        Value::Object(keys.into_iter().map(|k| (k.clone(), Value::String(self[k].clone()))).collect())
    }
}

/// An object of the members that are present.
fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(members.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<Map<_, _>>())
}

/// Seconds since the epoch with milliseconds, as the local engine writes `timestamp`.
fn epoch_seconds(t: &aws_sdk_sfn::primitives::DateTime) -> Value {
    let ms = t.to_millis().unwrap_or(0);
    json!(ms as f64 / 1000.0)
}

/// One event in `GetExecutionHistory`'s JSON shape.
pub fn event_json(e: &HistoryEvent) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), epoch_seconds(e.timestamp()));
    m.insert("type".into(), json!(e.r#type().as_str()));
    m.insert("id".into(), json!(e.id()));
    // Always present, 0 on the first event, as AWS and the local engine write it.
    m.insert("previousEventId".into(), json!(e.previous_event_id()));
    for (name, read) in DETAILS {
        let v = read(e);
        if !v.is_null() {
            m.insert((*name).to_owned(), v);
        }
    }
    Value::Object(m)
}

// ---- generated: the details of each event type (from the SDK's own JSON names) ----

/// Reads one `*EventDetails` member of an SDK event as JSON.
type DetailsReader = fn(&HistoryEvent) -> Value;

/// Every `*EventDetails` member of a history event: its JSON name and how to read it.
const DETAILS: &[(&str, DetailsReader)] = &[
    ("activityFailedEventDetails", |e| e.activity_failed_event_details().to_json()),
    ("activityScheduleFailedEventDetails", |e| e.activity_schedule_failed_event_details().to_json()),
    ("activityScheduledEventDetails", |e| e.activity_scheduled_event_details().to_json()),
    ("activityStartedEventDetails", |e| e.activity_started_event_details().to_json()),
    ("activitySucceededEventDetails", |e| e.activity_succeeded_event_details().to_json()),
    ("activityTimedOutEventDetails", |e| e.activity_timed_out_event_details().to_json()),
    ("taskFailedEventDetails", |e| e.task_failed_event_details().to_json()),
    ("taskScheduledEventDetails", |e| e.task_scheduled_event_details().to_json()),
    ("taskStartFailedEventDetails", |e| e.task_start_failed_event_details().to_json()),
    ("taskStartedEventDetails", |e| e.task_started_event_details().to_json()),
    ("taskSubmitFailedEventDetails", |e| e.task_submit_failed_event_details().to_json()),
    ("taskSubmittedEventDetails", |e| e.task_submitted_event_details().to_json()),
    ("taskSucceededEventDetails", |e| e.task_succeeded_event_details().to_json()),
    ("taskTimedOutEventDetails", |e| e.task_timed_out_event_details().to_json()),
    ("executionFailedEventDetails", |e| e.execution_failed_event_details().to_json()),
    ("executionStartedEventDetails", |e| e.execution_started_event_details().to_json()),
    ("executionSucceededEventDetails", |e| e.execution_succeeded_event_details().to_json()),
    ("executionAbortedEventDetails", |e| e.execution_aborted_event_details().to_json()),
    ("executionTimedOutEventDetails", |e| e.execution_timed_out_event_details().to_json()),
    ("executionRedrivenEventDetails", |e| e.execution_redriven_event_details().to_json()),
    ("mapStateStartedEventDetails", |e| e.map_state_started_event_details().to_json()),
    ("mapIterationStartedEventDetails", |e| e.map_iteration_started_event_details().to_json()),
    ("mapIterationSucceededEventDetails", |e| e.map_iteration_succeeded_event_details().to_json()),
    ("mapIterationFailedEventDetails", |e| e.map_iteration_failed_event_details().to_json()),
    ("mapIterationAbortedEventDetails", |e| e.map_iteration_aborted_event_details().to_json()),
    ("lambdaFunctionFailedEventDetails", |e| e.lambda_function_failed_event_details().to_json()),
    ("lambdaFunctionScheduleFailedEventDetails", |e| e.lambda_function_schedule_failed_event_details().to_json()),
    ("lambdaFunctionScheduledEventDetails", |e| e.lambda_function_scheduled_event_details().to_json()),
    ("lambdaFunctionStartFailedEventDetails", |e| e.lambda_function_start_failed_event_details().to_json()),
    ("lambdaFunctionSucceededEventDetails", |e| e.lambda_function_succeeded_event_details().to_json()),
    ("lambdaFunctionTimedOutEventDetails", |e| e.lambda_function_timed_out_event_details().to_json()),
    ("stateEnteredEventDetails", |e| e.state_entered_event_details().to_json()),
    ("stateExitedEventDetails", |e| e.state_exited_event_details().to_json()),
    ("mapRunStartedEventDetails", |e| e.map_run_started_event_details().to_json()),
    ("mapRunFailedEventDetails", |e| e.map_run_failed_event_details().to_json()),
    ("mapRunRedrivenEventDetails", |e| e.map_run_redriven_event_details().to_json()),
    ("evaluationFailedEventDetails", |e| e.evaluation_failed_event_details().to_json()),
];

/// Each details struct as `GetExecutionHistory`'s JSON object: its members in the SDK's own
/// order and JSON names (the table was generated from the SDK's deserialisers).
macro_rules! details_to_json {
    ($($ty:ident { $($json:literal: $getter:ident),* $(,)? })*) => {
        $(impl ToJson for types::$ty {
            fn to_json(&self) -> Value {
                object(&[$(($json, self.$getter().to_json())),*])
            }
        })*
    };
}

details_to_json! {
    ActivityFailedEventDetails { "error": error, "cause": cause }
    ActivityScheduleFailedEventDetails { "error": error, "cause": cause }
    ActivityScheduledEventDetails {
        "resource": resource,
        "input": input,
        "inputDetails": input_details,
        "timeoutInSeconds": timeout_in_seconds,
        "heartbeatInSeconds": heartbeat_in_seconds,
    }
    ActivityStartedEventDetails { "workerName": worker_name }
    ActivitySucceededEventDetails { "output": output, "outputDetails": output_details }
    ActivityTimedOutEventDetails { "error": error, "cause": cause }
    TaskFailedEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "error": error,
        "cause": cause,
    }
    TaskScheduledEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "region": region,
        "parameters": parameters,
        "timeoutInSeconds": timeout_in_seconds,
        "heartbeatInSeconds": heartbeat_in_seconds,
        "taskCredentials": task_credentials,
    }
    TaskStartFailedEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "error": error,
        "cause": cause,
    }
    TaskStartedEventDetails { "resourceType": resource_type, "resource": resource }
    TaskSubmitFailedEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "error": error,
        "cause": cause,
    }
    TaskSubmittedEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "output": output,
        "outputDetails": output_details,
    }
    TaskSucceededEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "output": output,
        "outputDetails": output_details,
    }
    TaskTimedOutEventDetails {
        "resourceType": resource_type,
        "resource": resource,
        "error": error,
        "cause": cause,
    }
    ExecutionFailedEventDetails { "error": error, "cause": cause }
    ExecutionStartedEventDetails {
        "input": input,
        "inputDetails": input_details,
        "roleArn": role_arn,
        "stateMachineAliasArn": state_machine_alias_arn,
        "stateMachineVersionArn": state_machine_version_arn,
    }
    ExecutionSucceededEventDetails { "output": output, "outputDetails": output_details }
    ExecutionAbortedEventDetails { "error": error, "cause": cause }
    ExecutionTimedOutEventDetails { "error": error, "cause": cause }
    ExecutionRedrivenEventDetails { "redriveCount": redrive_count }
    MapStateStartedEventDetails { "length": length }
    MapIterationEventDetails { "name": name, "index": index }
    LambdaFunctionFailedEventDetails { "error": error, "cause": cause }
    LambdaFunctionScheduleFailedEventDetails { "error": error, "cause": cause }
    LambdaFunctionScheduledEventDetails {
        "resource": resource,
        "input": input,
        "inputDetails": input_details,
        "timeoutInSeconds": timeout_in_seconds,
        "taskCredentials": task_credentials,
    }
    LambdaFunctionStartFailedEventDetails { "error": error, "cause": cause }
    LambdaFunctionSucceededEventDetails { "output": output, "outputDetails": output_details }
    LambdaFunctionTimedOutEventDetails { "error": error, "cause": cause }
    StateEnteredEventDetails { "name": name, "input": input, "inputDetails": input_details }
    StateExitedEventDetails {
        "name": name,
        "output": output,
        "outputDetails": output_details,
        "assignedVariables": assigned_variables,
        "assignedVariablesDetails": assigned_variables_details,
    }
    MapRunStartedEventDetails { "mapRunArn": map_run_arn }
    MapRunFailedEventDetails { "error": error, "cause": cause }
    MapRunRedrivenEventDetails { "mapRunArn": map_run_arn, "redriveCount": redrive_count }
    EvaluationFailedEventDetails { "error": error, "cause": cause, "location": location, "state": state }
    HistoryEventExecutionDataDetails { "truncated": truncated }
    TaskCredentials { "roleArn": role_arn }
    AssignedVariablesDetails { "truncated": truncated }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ActivityScheduledEventDetails, ActivityStartedEventDetails, ActivitySucceededEventDetails, ExecutionFailedEventDetails,
        ExecutionStartedEventDetails, HistoryEventExecutionDataDetails, HistoryEventType, MapIterationEventDetails,
        StateEnteredEventDetails, TaskCredentials, TaskScheduledEventDetails,
    };

    use super::*;
    use crate::monitor::{ExecutionModel, StateStatus};

    fn event(id: i64, prev: i64, ty: HistoryEventType) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder().timestamp(DateTime::from_millis(1_700_000_000_000 + id * 1000 + 5)).r#type(ty).id(id).previous_event_id(prev)
    }

    fn data(truncated: bool) -> HistoryEventExecutionDataDetails {
        HistoryEventExecutionDataDetails::builder().truncated(truncated).build()
    }

    #[test]
    fn events_come_back_in_get_execution_history_json() {
        let e = event(3, 2, HistoryEventType::ActivityScheduled)
            .activity_scheduled_event_details(
                ActivityScheduledEventDetails::builder()
                    .resource("arn:aws:states:us-east-1:000000000000:activity:review")
                    .input("{\"key\":\"a.mp4\"}")
                    .input_details(data(false))
                    .timeout_in_seconds(300)
                    .heartbeat_in_seconds(60)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            event_json(&e),
            json!({
                "timestamp": 1700000003.005,
                "type": "ActivityScheduled",
                "id": 3,
                "previousEventId": 2,
                "activityScheduledEventDetails": {
                    "resource": "arn:aws:states:us-east-1:000000000000:activity:review",
                    "input": "{\"key\":\"a.mp4\"}",
                    "inputDetails": {"truncated": false},
                    "timeoutInSeconds": 300,
                    "heartbeatInSeconds": 60
                }
            })
        );
        let first = event(1, 0, HistoryEventType::ExecutionStarted)
            .execution_started_event_details(ExecutionStartedEventDetails::builder().input("{}").role_arn("arn:aws:iam::1:role/r").build())
            .build()
            .unwrap();
        let j = event_json(&first);
        assert_eq!(j["previousEventId"], 0);
        assert_eq!(j["executionStartedEventDetails"], json!({"input": "{}", "roleArn": "arn:aws:iam::1:role/r"}));
    }

    #[test]
    fn nested_details_and_the_details_of_containers_keep_aws_names() {
        let t = event(5, 4, HistoryEventType::TaskScheduled)
            .task_scheduled_event_details(
                TaskScheduledEventDetails::builder()
                    .resource_type("lambda")
                    .resource("invoke")
                    .region("eu-west-1")
                    .parameters("{}")
                    .task_credentials(TaskCredentials::builder().role_arn("arn:aws:iam::1:role/t").build())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            event_json(&t)["taskScheduledEventDetails"],
            json!({"resourceType": "lambda", "resource": "invoke", "region": "eu-west-1", "parameters": "{}", "taskCredentials": {"roleArn": "arn:aws:iam::1:role/t"}})
        );
        let m = event(9, 8, HistoryEventType::MapIterationStarted)
            .map_iteration_started_event_details(MapIterationEventDetails::builder().name("Each").index(2).build())
            .build()
            .unwrap();
        assert_eq!(event_json(&m)["mapIterationStartedEventDetails"], json!({"name": "Each", "index": 2}));
        let p = event(4, 3, HistoryEventType::ParallelStateStarted).build().unwrap();
        assert_eq!(event_json(&p), json!({"timestamp": 1700000004.005, "type": "ParallelStateStarted", "id": 4, "previousEventId": 3}));
    }

    /// The monitor model reads converted AWS events the way it reads the local engine's.
    #[test]
    fn the_monitor_follows_an_activity_through_converted_events() {
        let events = [
            event(1, 0, HistoryEventType::ExecutionStarted)
                .execution_started_event_details(ExecutionStartedEventDetails::builder().input("{}").input_details(data(false)).build())
                .build()
                .unwrap(),
            event(2, 1, HistoryEventType::TaskStateEntered)
                .state_entered_event_details(StateEnteredEventDetails::builder().name("Review").input("{}").build().unwrap())
                .build()
                .unwrap(),
            event(3, 2, HistoryEventType::ActivityScheduled)
                .activity_scheduled_event_details(
                    ActivityScheduledEventDetails::builder().resource("arn:aws:states:us-east-1:1:activity:review").input("{}").build().unwrap(),
                )
                .build()
                .unwrap(),
        ];
        let json: Vec<Value> = events.iter().map(event_json).collect();
        let mut model = ExecutionModel::from_events(&json);
        assert_eq!(model.status_of("Review"), StateStatus::WaitingForWorker);
        let more = [
            event(4, 3, HistoryEventType::ActivityStarted)
                .activity_started_event_details(ActivityStartedEventDetails::builder().worker_name("w").build())
                .build()
                .unwrap(),
        ];
        model.apply_all(&more.iter().map(event_json).collect::<Vec<_>>());
        assert_eq!(model.status_of("Review"), StateStatus::WorkerRunning);
        let done = [
            event(5, 4, HistoryEventType::ActivitySucceeded)
                .activity_succeeded_event_details(ActivitySucceededEventDetails::builder().output("{\"ok\":true}").build())
                .build()
                .unwrap(),
            event(6, 5, HistoryEventType::ExecutionFailed)
                .execution_failed_event_details(ExecutionFailedEventDetails::builder().error("E").cause("C").build())
                .build()
                .unwrap(),
        ];
        model.apply_all(&done.iter().map(event_json).collect::<Vec<_>>());
        assert_eq!(model.error(), Some("E"));
        assert_eq!(model.cause(), Some("C"));
    }
}
