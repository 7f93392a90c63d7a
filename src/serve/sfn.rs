//! The Step Functions API over AWS's JSON 1.0 protocol: one JSON object in, one out, the
//! operation named by `X-Amz-Target`. Each operation maps onto [`LocalService`]; field names
//! and types are AWS's (timestamps are epoch seconds, `input` and `output` are JSON text).

use serde_json::{Map, Value, json};

use crate::asl::Severity;
use crate::engine::{MachineType, Millis};
use crate::runtime::service::{ExecutionDescription, LocalService, ServiceError, StartExecution, check_tags};
use crate::validate::{self, Options};

/// An error answer: AWS's error name, what went wrong, and the HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), status: 400 }
    }

    fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new("ValidationException", message)
    }

    fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new("SerializationException", message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let code = e.code();
        let text = e.to_string();
        let message = text.strip_prefix(&format!("{code}: ")).unwrap_or(&text).to_owned();
        if code == "ServiceException" {
            // The store or the engine failed: not the caller's doing.
            return ApiError { code: "InternalFailure", message, status: 500 };
        }
        ApiError::new(code, message)
    }
}

type Answer = Result<Value, ApiError>;

/// The operations [`call`] answers.
pub const OPERATIONS: &[&str] = &[
    "CreateStateMachine",
    "UpdateStateMachine",
    "DescribeStateMachine",
    "DescribeStateMachineForExecution",
    "ListStateMachines",
    "DeleteStateMachine",
    "StartExecution",
    "StopExecution",
    "RedriveExecution",
    "DescribeExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "CreateActivity",
    "DescribeActivity",
    "ListActivities",
    "DeleteActivity",
    "GetActivityTask",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "ValidateStateMachineDefinition",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

pub fn unknown_operation(operation: &str) -> ApiError {
    ApiError::new("UnknownOperationException", format!("stepwise serve does not support the operation '{operation}'"))
}

/// Runs one operation on its (already parsed) request object.
pub async fn call(service: &LocalService, operation: &str, body: &Map<String, Value>) -> Answer {
    let r = Request(body);
    match operation {
        "CreateStateMachine" => create_state_machine(service, r).await,
        "UpdateStateMachine" => update_state_machine(service, r).await,
        "DescribeStateMachine" => describe_state_machine(service, r).await,
        "ListStateMachines" => list_state_machines(service, r).await,
        "DeleteStateMachine" => {
            let arn = r.arn("stateMachineArn")?;
            service.delete_state_machine(arn).await?;
            Ok(json!({}))
        }
        "StartExecution" => start_execution(service, r).await,
        "StopExecution" => {
            let arn = r.arn("executionArn")?;
            service.stop_execution(arn, r.opt_str("error")?.map(str::to_owned), r.opt_str("cause")?.map(str::to_owned)).await?;
            let stop = service.describe_execution(arn).await?.stop_date.unwrap_or_else(crate::store::now_wall_ms);
            Ok(json!({ "stopDate": seconds(stop) }))
        }
        "RedriveExecution" => {
            let at = service.redrive_execution(r.arn("executionArn")?).await?;
            Ok(json!({ "redriveDate": seconds(at) }))
        }
        "DescribeExecution" => {
            let d = service.describe_execution(r.arn("executionArn")?).await?;
            Ok(execution_json(&d, true))
        }
        "ListExecutions" => list_executions(service, r).await,
        "GetExecutionHistory" => get_execution_history(service, r).await,
        "CreateActivity" => {
            let name = r.str("name")?;
            let tags = r.tags("tags")?;
            check_tags(&tags)?;
            let arn = service.create_activity(name).await?;
            if !tags.is_empty() {
                service.tag_resource(&arn, tags).await?;
            }
            let created = service.describe_activity(&arn).await?.created_ms;
            Ok(json!({ "activityArn": arn, "creationDate": seconds(created) }))
        }
        "DescribeActivity" => {
            let a = service.describe_activity(r.arn("activityArn")?).await?;
            Ok(json!({ "activityArn": a.arn, "name": a.name, "creationDate": seconds(a.created_ms) }))
        }
        "ListActivities" => {
            let all = service.list_activities().await?;
            let items: Vec<Value> =
                all.into_iter().map(|a| json!({ "activityArn": a.arn, "name": a.name, "creationDate": seconds(a.created_ms) })).collect();
            page(r, items, "activities")
        }
        "DeleteActivity" => {
            service.delete_activity(r.arn("activityArn")?).await?;
            Ok(json!({}))
        }
        "GetActivityTask" => {
            let arn = r.arn("activityArn")?;
            match service.get_activity_task(arn, r.opt_str("workerName")?).await? {
                Some(task) => Ok(json!({ "taskToken": task.task_token, "input": task.input })),
                None => Ok(json!({})),
            }
        }
        "SendTaskSuccess" => {
            service.send_task_success(r.token()?, r.str("output")?).await?;
            Ok(json!({}))
        }
        "SendTaskFailure" => {
            service.send_task_failure(r.token()?, r.opt_str("error")?.unwrap_or(""), r.opt_str("cause")?.unwrap_or("")).await?;
            Ok(json!({}))
        }
        "SendTaskHeartbeat" => {
            service.send_task_heartbeat(r.token()?).await?;
            Ok(json!({}))
        }
        "TagResource" => {
            service.tag_resource(r.arn("resourceArn")?, r.tags("tags")?).await?;
            Ok(json!({}))
        }
        "UntagResource" => {
            service.untag_resource(r.arn("resourceArn")?, r.strings("tagKeys")?).await?;
            Ok(json!({}))
        }
        "ListTagsForResource" => {
            let tags = service.list_tags(r.arn("resourceArn")?).await?;
            Ok(json!({ "tags": tags.into_iter().map(|(key, value)| json!({ "key": key, "value": value })).collect::<Vec<_>>() }))
        }
        "ValidateStateMachineDefinition" => validate_definition(r),
        "DescribeStateMachineForExecution" => {
            let (machine_arn, definition) = service.execution_definition(r.arn("executionArn")?).await?;
            let name = machine_arn.rsplit(':').next().unwrap_or("").to_owned();
            let mut out = json!({ "stateMachineArn": machine_arn, "name": name, "definition": definition, "roleArn": crate::runtime::service::ROLE_ARN });
            // The machine may be gone since; its dates go with it.
            if let Ok(d) = service.describe_state_machine(&machine_arn).await {
                out["updateDate"] = seconds(d.update_date.unwrap_or(d.creation_date));
            }
            Ok(out)
        }
        other => Err(unknown_operation(other)),
    }
}

/// Epoch seconds, as AWS's JSON protocol writes timestamps.
fn seconds(ms: Millis) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Typed access to the request's fields, with AWS's errors for missing or mistyped ones.
#[derive(Clone, Copy)]
struct Request<'a>(&'a Map<String, Value>);

impl<'a> Request<'a> {
    fn opt_str(self, field: &str) -> Result<Option<&'a str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::serialization(format!("'{field}' must be a string"))),
        }
    }

    fn str(self, field: &str) -> Result<&'a str, ApiError> {
        self.opt_str(field)?.ok_or_else(|| ApiError::validation(format!("1 validation error detected: '{field}' must not be null")))
    }

    fn arn(self, field: &str) -> Result<&'a str, ApiError> {
        let arn = self.str(field)?;
        if !arn.starts_with("arn:") || arn.len() > 2048 {
            return Err(ApiError::new("InvalidArn", format!("Invalid Arn: '{arn}' (the {field} must be an ARN)")));
        }
        Ok(arn)
    }

    fn token(self) -> Result<&'a str, ApiError> {
        let token = self.str("taskToken")?;
        if token.is_empty() || token.len() > 2048 {
            return Err(ApiError::validation("'taskToken' must be 1 to 2048 characters"));
        }
        Ok(token)
    }

    fn opt_bool(self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::serialization(format!("'{field}' must be true or false"))),
        }
    }

    /// A list of `{"key", "value"}` tags (absent: none).
    fn tags(self, field: &str) -> Result<Vec<(String, String)>, ApiError> {
        let list = match self.0.get(field) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(ApiError::serialization(format!("'{field}' must be a list of {{\"key\", \"value\"}}"))),
        };
        let bad = || ApiError::serialization(format!("each of '{field}' must be {{\"key\": string, \"value\": string}}"));
        list.iter()
            .map(|t| {
                let key = t.get("key").and_then(Value::as_str).ok_or_else(bad)?;
                // A tag's value is optional in AWS's model: absent is empty.
                let value = match t.get("value") {
                    None | Some(Value::Null) => "",
                    Some(v) => v.as_str().ok_or_else(bad)?,
                };
                Ok((key.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// A list of strings (absent: none).
    fn strings(self, field: &str) -> Result<Vec<String>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| ApiError::serialization(format!("'{field}' must be a list of strings"))))
                .collect(),
            Some(_) => Err(ApiError::serialization(format!("'{field}' must be a list of strings"))),
        }
    }

    /// `maxResults`: 0 or absent means the default; more than 1000 is refused, as AWS does.
    fn max_results(self, default: usize) -> Result<usize, ApiError> {
        match self.0.get("maxResults") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(0) => Ok(default),
                Some(n) if n <= 1000 => Ok(n as usize),
                _ => Err(ApiError::validation("'maxResults' must be between 0 and 1000")),
            },
            Some(_) => Err(ApiError::serialization("'maxResults' must be a number")),
        }
    }
}

/// `publish: true` asks for a version, which `serve` does not keep: refused in words rather
/// than answered without the version ARN the caller expects.
fn no_versions(r: Request) -> Result<(), ApiError> {
    if r.opt_bool("publish")? == Some(true) {
        return Err(ApiError::validation("stepwise serve does not keep state machine versions; create or update without publishing one"));
    }
    Ok(())
}

/// One page of a list the service returns whole; the token is the offset of the next page.
fn page(r: Request, items: Vec<Value>, field: &str) -> Answer {
    let limit = r.max_results(100)?;
    let start = match r.opt_str("nextToken")? {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| ApiError::new("InvalidToken", format!("Invalid Token: '{t}' is not a page token")))?,
    };
    let total = items.len();
    let rest: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let end = start + rest.len();
    let mut out = Map::new();
    out.insert(field.into(), Value::Array(rest));
    if end < total {
        out.insert("nextToken".into(), json!(end.to_string()));
    }
    Ok(Value::Object(out))
}

fn machine_type(r: Request) -> Result<MachineType, ApiError> {
    match r.opt_str("type")? {
        None | Some("STANDARD") => Ok(MachineType::Standard),
        Some("EXPRESS") => Ok(MachineType::Express),
        Some(other) => Err(ApiError::validation(format!("'type' must be STANDARD or EXPRESS, not '{other}'"))),
    }
}

async fn create_state_machine(service: &LocalService, r: Request<'_>) -> Answer {
    let name = r.str("name")?;
    let definition = r.str("definition")?;
    // The role is AWS's business; local executions report Stepwise's own.
    r.opt_str("roleArn")?;
    let tags = r.tags("tags")?;
    check_tags(&tags)?;
    no_versions(r)?;
    let arn = service.create_state_machine(name, definition, machine_type(r)?).await?;
    if !tags.is_empty() {
        service.tag_resource(&arn, tags).await?;
    }
    let d = service.describe_state_machine(&arn).await?;
    Ok(json!({ "stateMachineArn": arn, "creationDate": seconds(d.creation_date) }))
}

async fn update_state_machine(service: &LocalService, r: Request<'_>) -> Answer {
    let arn = r.arn("stateMachineArn")?;
    no_versions(r)?;
    match r.opt_str("definition")? {
        Some(definition) => service.update_state_machine(arn, definition).await?,
        // Only the role or logging changed: nothing the local engine keeps, but the machine must exist.
        None => {
            service.describe_state_machine(arn).await?;
        }
    }
    let d = service.describe_state_machine(arn).await?;
    Ok(json!({ "updateDate": seconds(d.update_date.unwrap_or(d.creation_date)) }))
}

async fn describe_state_machine(service: &LocalService, r: Request<'_>) -> Answer {
    let d = service.describe_state_machine(r.arn("stateMachineArn")?).await?;
    Ok(json!({
        "stateMachineArn": d.state_machine_arn,
        "name": d.name,
        "status": "ACTIVE",
        "definition": d.definition,
        "roleArn": d.role_arn,
        "type": d.machine_type,
        "creationDate": seconds(d.creation_date),
        "loggingConfiguration": { "level": "OFF", "includeExecutionData": false },
    }))
}

async fn list_state_machines(service: &LocalService, r: Request<'_>) -> Answer {
    let items: Vec<Value> = service
        .list_state_machines()
        .await?
        .into_iter()
        .map(|d| json!({ "stateMachineArn": d.state_machine_arn, "name": d.name, "type": d.machine_type, "creationDate": seconds(d.creation_date) }))
        .collect();
    page(r, items, "stateMachines")
}

async fn start_execution(service: &LocalService, r: Request<'_>) -> Answer {
    let state_machine_arn = r.arn("stateMachineArn")?.to_owned();
    let input = match r.opt_str("input")? {
        None => json!({}),
        Some(text) => serde_json::from_str(text).map_err(|e| ApiError::new("InvalidExecutionInput", format!("the input is not JSON: {e}")))?,
    };
    let started = service
        .start_execution(StartExecution { state_machine_arn, name: r.opt_str("name")?.map(str::to_owned), input, ..Default::default() })
        .await?;
    Ok(json!({ "executionArn": started.execution_arn, "startDate": seconds(started.start_date) }))
}

fn execution_json(d: &ExecutionDescription, full: bool) -> Value {
    let mut out = Map::new();
    out.insert("executionArn".into(), json!(d.execution_arn));
    out.insert("stateMachineArn".into(), json!(d.state_machine_arn));
    out.insert("name".into(), json!(d.name));
    out.insert("status".into(), json!(d.status));
    out.insert("startDate".into(), seconds(d.start_date));
    if let Some(stop) = d.stop_date {
        out.insert("stopDate".into(), seconds(stop));
    }
    if full {
        out.insert("input".into(), json!(d.input.to_string()));
        out.insert("inputDetails".into(), json!({ "included": true }));
        if let Some(output) = &d.output {
            out.insert("output".into(), json!(output.to_string()));
            out.insert("outputDetails".into(), json!({ "included": true }));
        }
        if let Some(error) = &d.error {
            out.insert("error".into(), json!(error));
        }
        if let Some(cause) = &d.cause {
            out.insert("cause".into(), json!(cause));
        }
        let redrivable = d.redrive_status.as_deref() == Some("REDRIVABLE");
        out.insert("redriveStatus".into(), json!(if redrivable { "REDRIVABLE" } else { "NOT_REDRIVABLE" }));
        if !redrivable {
            let reason = match d.status.as_str() {
                "RUNNING" | "SUCCEEDED" => format!("Execution is {} and cannot be redriven", d.status),
                _ => "EXPRESS executions cannot be redriven".to_owned(),
            };
            out.insert("redriveStatusReason".into(), json!(reason));
        }
    }
    out.insert("redriveCount".into(), json!(d.redrive_count));
    if let Some(at) = d.redrive_date {
        out.insert("redriveDate".into(), seconds(at));
    }
    Value::Object(out)
}

const STATUSES: &[&str] = &["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];

async fn list_executions(service: &LocalService, r: Request<'_>) -> Answer {
    let machine = match r.opt_str("stateMachineArn")? {
        Some(_) => Some(r.arn("stateMachineArn")?),
        None => None,
    };
    if let Some(arn) = machine {
        service.describe_state_machine(arn).await?;
    }
    let status = r.opt_str("statusFilter")?;
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(ApiError::validation(format!("'statusFilter' must be one of {}, not '{s}'", STATUSES.join(", "))));
    }
    let redriven = match r.opt_str("redriveFilter")? {
        None => None,
        Some("REDRIVEN") => Some(true),
        Some("NOT_REDRIVEN") => Some(false),
        Some(other) => return Err(ApiError::validation(format!("'redriveFilter' must be REDRIVEN or NOT_REDRIVEN, not '{other}'"))),
    };
    let items: Vec<Value> = service
        .list_executions(machine, status)
        .await?
        .iter()
        .filter(|d| redriven.is_none_or(|wanted| (d.redrive_count > 0) == wanted))
        .map(|d| execution_json(d, false))
        .collect();
    page(r, items, "executions")
}

async fn get_execution_history(service: &LocalService, r: Request<'_>) -> Answer {
    let arn = r.arn("executionArn")?;
    let limit = r.max_results(100)?;
    let reverse = r.opt_bool("reverseOrder")?.unwrap_or(false);
    let include_data = r.opt_bool("includeExecutionData")?.unwrap_or(true);
    let page = service.get_execution_history(arn, limit, r.opt_str("nextToken")?, reverse).await?;
    let events: Vec<Value> = if include_data { page.events } else { page.events.into_iter().map(without_data).collect() };
    let mut out = Map::new();
    out.insert("events".into(), Value::Array(events));
    if let Some(token) = page.next_token {
        out.insert("nextToken".into(), json!(token));
    }
    Ok(Value::Object(out))
}

/// An event without the execution's data (`includeExecutionData: false`): its details keep
/// everything but `input` and `output`.
fn without_data(mut event: Value) -> Value {
    if let Some(obj) = event.as_object_mut() {
        for (key, details) in obj.iter_mut() {
            if key.ends_with("EventDetails")
                && let Some(d) = details.as_object_mut()
            {
                for field in ["input", "output"] {
                    if d.remove(field).is_some() {
                        d.insert(format!("{field}Details"), json!({ "included": false }));
                    }
                }
            }
        }
    }
    event
}

fn validate_definition(r: Request) -> Answer {
    let definition = r.str("definition")?;
    let kind = match machine_type(r)? {
        MachineType::Standard => validate::MachineType::Standard,
        MachineType::Express => validate::MachineType::Express,
    };
    let with_warnings = match r.opt_str("severity")? {
        None | Some("ERROR") => false,
        Some("WARNING") => true,
        Some(other) => return Err(ApiError::validation(format!("'severity' must be ERROR or WARNING, not '{other}'"))),
    };
    let limit = r.max_results(100)?;
    let (_, diagnostics) = validate::check_bytes(definition.as_bytes(), None, &Options { kind });
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    let shown: Vec<_> = diagnostics.iter().filter(|d| with_warnings || d.severity == Severity::Error).collect();
    let truncated = shown.len() > limit;
    let list: Vec<Value> = shown
        .into_iter()
        .take(limit)
        .map(|d| {
            let mut o = Map::new();
            o.insert("severity".into(), json!(d.severity.as_str()));
            o.insert("code".into(), json!(d.code));
            o.insert("message".into(), json!(d.message));
            if !d.location.is_empty() {
                o.insert("location".into(), json!(d.location));
            }
            Value::Object(o)
        })
        .collect();
    Ok(json!({ "result": if failed { "FAIL" } else { "OK" }, "diagnostics": list, "truncated": truncated }))
}
