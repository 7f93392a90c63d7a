//! A CloudFormation template for a workflow: the state machine, the activities its tasks use,
//! the buckets its S3 tasks name (and the raw bucket whose uploads start it), and an execution
//! role whose policy is read from the definition's task resources. This is how the video-ingest
//! sample was first shipped, and it lets a person hand the workflow to the usual AWS tooling
//! (`aws cloudformation deploy`) instead of Stepwise's own deploy.
//!
//! Choices:
//! - **Portable.** Account, region and bucket names are not baked in. Activity ARNs and literal
//!   bucket names in the definition become `${…}` placeholders filled through the state
//!   machine's `DefinitionSubstitutions`, and bucket names are template parameters (S3 names
//!   are global, so a stack in a second account must be able to pick others).
//! - **Least privilege where the definition says enough.** S3 actions are granted on the
//!   template's buckets only; an integration whose target the definition computes at run time
//!   gets `*` and a note saying so, for the person to narrow.
//! - **Long forms only** (`{"Ref": …}`, `{"Fn::GetAtt": …}`), so the same value is valid JSON
//!   and valid YAML without custom tags.

use serde_json::{Map, Value, json};

use crate::asl::model::{StateType, scopes, state_type};

/// What the template is for.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The state machine's name (`StateMachineName`).
    pub name: String,
    /// STANDARD or EXPRESS.
    pub machine_type: String,
    /// The bucket whose "Object Created" events start an execution (through EventBridge).
    pub raw_bucket: Option<String>,
}

/// A template and what a person should know about it.
#[derive(Debug, Clone)]
pub struct Template {
    pub value: Value,
    /// Grants that had to be broad, integrations that need more than the policy gives.
    pub notes: Vec<String>,
}

impl Template {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.value).unwrap_or_default() + "\n"
    }

    pub fn to_yaml(&self) -> String {
        crate::asl::yaml_out::to_yaml(&self.value)
    }
}

/// An activity referenced by a Task state.
fn activity_name(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:")?;
    let mut parts = rest.splitn(6, ':');
    let (_partition, service, _region, _account, kind, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "states" && kind == "activity" && !name.is_empty()).then_some(name)
}

/// `stepwise-video-review` → `StepwiseVideoReview`: CloudFormation logical IDs are alphanumeric.
fn logical_id(name: &str, suffix: &str, taken: &mut Vec<String>) -> String {
    let mut id = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert(0, 'R');
    }
    id.push_str(suffix);
    let base = id.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}{n}");
        n += 1;
    }
    taken.push(id.clone());
    id
}

/// The IAM actions an S3 SDK action needs.
fn s3_iam_actions(action: &str) -> (&'static [&'static str], bool) {
    // (actions, on the bucket itself rather than its objects)
    match action {
        "getObject" | "headObject" | "getObjectAttributes" | "getObjectTagging" => (&["s3:GetObject"], false),
        "putObject" | "putObjectTagging" => (&["s3:PutObject"], false),
        // CopyObject reads the source object and writes the destination one.
        "copyObject" => (&["s3:GetObject", "s3:PutObject"], false),
        "deleteObject" | "deleteObjects" => (&["s3:DeleteObject"], false),
        "listObjectsV2" | "listObjects" => (&["s3:ListBucket"], true),
        _ => (&[], false),
    }
}

/// `sendMessage` → `SendMessage`.
fn pascal(action: &str) -> String {
    let mut c = action.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

#[derive(Default)]
struct Grants {
    /// (action, resource) pairs, in first-seen order.
    pairs: Vec<(String, Value)>,
    notes: Vec<String>,
}

impl Grants {
    fn add(&mut self, action: &str, resource: Value) {
        if !self.pairs.iter().any(|(a, r)| a == action && *r == resource) {
            self.pairs.push((action.to_owned(), resource));
        }
    }

    fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text);
        }
    }
}

/// Exports `definition` (a parsed ASL document) as a template.
pub fn export(definition: &Value, options: &ExportOptions) -> Template {
    let mut definition = definition.clone();
    let mut taken = vec!["StateMachine".to_owned(), "StateMachineRole".to_owned()];
    let mut activities: Vec<(String, String)> = Vec::new(); // (name, logical id)
    let mut buckets: Vec<(String, String)> = Vec::new(); // (name, logical id)
    let mut grants = Grants::default();

    let bucket_id = |name: &str, buckets: &mut Vec<(String, String)>, taken: &mut Vec<String>| -> String {
        if let Some((_, id)) = buckets.iter().find(|(n, _)| n == name) {
            return id.clone();
        }
        let id = logical_id(name, "Bucket", taken);
        buckets.push((name.to_owned(), id.clone()));
        id
    };
    if let Some(raw) = &options.raw_bucket {
        bucket_id(raw, &mut buckets, &mut taken);
    }

    // Every Task state in every scope, by pointer, so the copy can be rewritten in place.
    let mut tasks: Vec<(String, String)> = Vec::new(); // (state pointer, state name)
    for scope in scopes(&definition) {
        for (name, state) in scope.states().into_iter().flatten() {
            if state_type(state) == Some(StateType::Task) {
                tasks.push((scope.state_pointer(name), name.clone()));
            }
        }
    }
    // A Distributed Map's ItemReader and ResultWriter are S3 calls too.
    let mut s3_calls: Vec<(String, String, String)> = Vec::new(); // (pointer of call, action, state)
    for scope in scopes(&definition) {
        for (name, state) in scope.states().into_iter().flatten() {
            if state_type(state) == Some(StateType::Map) {
                for field in ["ItemReader", "ResultWriter"] {
                    if state.get(field).is_some() {
                        let p = format!("{}/{field}", scope.state_pointer(name));
                        s3_calls.push((p, String::new(), name.clone()));
                    }
                }
                let distributed = state.pointer("/ItemProcessor/ProcessorConfig/Mode").and_then(Value::as_str) == Some("DISTRIBUTED");
                if distributed {
                    grants.add("states:StartExecution", json!({"Ref": "StateMachine"}));
                    grants.note(format!(
                        "\"{name}\" is a Distributed Map: its child executions also need states:DescribeExecution and states:StopExecution on the execution ARNs; the role grants StartExecution only."
                    ));
                }
            }
        }
    }

    for (pointer, state_name) in &tasks {
        let Some(resource) = definition.pointer(pointer).and_then(|s| s.get("Resource")).and_then(Value::as_str).map(str::to_owned)
        else {
            continue;
        };
        if let Some(name) = activity_name(&resource) {
            let id = match activities.iter().find(|(n, _)| n == name) {
                Some((_, id)) => id.clone(),
                None => {
                    let id = logical_id(name, "Activity", &mut taken);
                    activities.push((name.to_owned(), id.clone()));
                    id
                }
            };
            if let Some(r) = definition.pointer_mut(&format!("{pointer}/Resource")) {
                *r = Value::String(format!("${{{id}}}"));
            }
            continue;
        }
        let integration = resource.strip_prefix("arn:aws:states:::").map(|r| {
            r.trim_end_matches(".sync:2").trim_end_matches(".sync").trim_end_matches(".waitForTaskToken").to_owned()
        });
        match integration.as_deref().map(|r| r.split(':').collect::<Vec<_>>()).as_deref() {
            Some(["aws-sdk", "s3", action]) => s3_calls.push((pointer.clone(), (*action).to_owned(), state_name.clone())),
            Some(["aws-sdk", service, action]) => {
                grants.add(&format!("{service}:{}", pascal(action)), json!("*"));
                grants.note(format!("\"{state_name}\" calls {service}:{}; the role allows it on every resource, narrow it to yours.", pascal(action)));
            }
            Some(["lambda", "invoke"]) => {
                let function = definition
                    .pointer(pointer)
                    .and_then(|s| s.get("Parameters").or_else(|| s.get("Arguments")))
                    .and_then(|p| p.get("FunctionName"))
                    .and_then(Value::as_str)
                    .filter(|f| f.starts_with("arn:") && !f.contains("{%"));
                match function {
                    Some(f) => grants.add("lambda:InvokeFunction", json!(f)),
                    None => {
                        grants.add("lambda:InvokeFunction", json!("*"));
                        grants.note(format!("\"{state_name}\" names its function at run time; the role may invoke any function, narrow it to yours."));
                    }
                }
            }
            Some(["http", "invoke"]) => {
                // An HTTP Task calls through an EventBridge connection whose secret holds the
                // credentials.
                for a in ["states:InvokeHTTPEndpoint", "events:RetrieveConnectionCredentials", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"] {
                    grants.add(a, json!("*"));
                }
                grants.note(format!("\"{state_name}\" calls an HTTPS endpoint: the role may invoke any endpoint through any connection, narrow it to yours."));
            }
            Some([service, action]) => {
                grants.add(&format!("{service}:{}", pascal(action)), json!("*"));
                grants.note(format!("\"{state_name}\" uses the {service} integration; the role allows {service}:{} on every resource, narrow it to yours.", pascal(action)));
                if resource.ends_with(".sync") || resource.ends_with(".sync:2") {
                    grants.note(format!("\"{state_name}\" waits for its job (.sync): that also needs the service's describe/stop actions and events rules, which the template does not grant."));
                }
            }
            _ if resource.starts_with("arn:aws:lambda:") => grants.add("lambda:InvokeFunction", json!(resource)),
            _ => grants.note(format!("\"{state_name}\" uses {resource}, which Stepwise cannot grant a policy for; add one to the role.")),
        }
    }

    for (pointer, action, state_name) in &s3_calls {
        let Some(call) = definition.pointer(pointer).cloned() else { continue };
        let action = if action.is_empty() {
            // ItemReader / ResultWriter: the action is in their own Resource.
            call.get("Resource").and_then(Value::as_str).and_then(|r| r.rsplit(':').next()).unwrap_or("").to_owned()
        } else {
            action.clone()
        };
        let args = ["Parameters", "Arguments"].iter().find_map(|f| call.get(*f).map(|v| (*f, v.clone())));
        let literal = args
            .as_ref()
            .and_then(|(_, a)| a.get("Bucket"))
            .and_then(Value::as_str)
            // A JSONata template computes the name at run time.
            .filter(|b| !b.is_empty() && !b.contains("{%"))
            .map(str::to_owned);
        let targets: Vec<String> = match &literal {
            Some(b) => {
                let id = bucket_id(b, &mut buckets, &mut taken);
                if let Some((field, _)) = &args
                    && let Some(v) = definition.pointer_mut(&format!("{pointer}/{field}/Bucket")) {
                        *v = Value::String(format!("${{{id}}}"));
                    }
                vec![id]
            }
            None if buckets.is_empty() => {
                grants.note(format!("\"{state_name}\" names its bucket at run time; the role allows s3 {action} on every bucket, narrow it to yours."));
                vec!["*".to_owned()]
            }
            None => {
                grants.note(format!("\"{state_name}\" names its bucket at run time; the role allows s3 {action} on the template's buckets only."));
                Vec::new()
            }
        };
        let (iam, on_bucket) = s3_iam_actions(&action);
        if iam.is_empty() {
            grants.add(&format!("s3:{}", pascal(&action)), json!("*"));
            grants.note(format!("\"{state_name}\" calls s3:{}; the role allows it on every resource, narrow it to yours.", pascal(&action)));
            continue;
        }
        // A copy's source is usually computed (from the triggering event), so reading is
        // granted on every bucket of the template; writing only where the definition says.
        let read_everywhere = action == "copyObject";
        for a in iam {
            let on: Vec<String> = if (read_everywhere && *a == "s3:GetObject" || targets.is_empty()) && !buckets.is_empty() {
                buckets.iter().map(|(_, id)| id.clone()).collect()
            } else {
                targets.clone()
            };
            for id in on {
                let arn = if id == "*" {
                    json!(if on_bucket { "arn:aws:s3:::*" } else { "arn:aws:s3:::*/*" })
                } else if on_bucket {
                    json!({"Fn::GetAtt": [id, "Arn"]})
                } else {
                    json!({"Fn::Sub": format!("${{{id}.Arn}}/*")})
                };
                grants.add(a, arn);
            }
        }
    }

    let mut parameters = Map::new();
    let mut resources = Map::new();
    let mut outputs = Map::new();
    let mut substitutions = Map::new();
    for (name, id) in &buckets {
        let param = format!("{id}Name");
        parameters.insert(param.clone(), json!({"Type": "String", "Default": name, "Description": format!("Name of the {name} bucket (S3 names are global: pick another if it is taken)")}));
        let mut props = json!({"BucketName": {"Ref": param}});
        if options.raw_bucket.as_deref() == Some(name.as_str()) {
            // Object Created events reach the rule below through EventBridge.
            props["NotificationConfiguration"] = json!({"EventBridgeConfiguration": {"EventBridgeEnabled": true}});
        }
        resources.insert(id.clone(), json!({"Type": "AWS::S3::Bucket", "Properties": props}));
        substitutions.insert(id.clone(), json!({"Ref": id}));
        outputs.insert(id.clone(), json!({"Value": {"Ref": id}}));
    }
    for (name, id) in &activities {
        resources.insert(id.clone(), json!({"Type": "AWS::StepFunctions::Activity", "Properties": {"Name": name}}));
        substitutions.insert(id.clone(), json!({"Ref": id}));
        outputs.insert(id.clone(), json!({"Value": {"Ref": id}}));
    }

    // One statement per action, listing its resources.
    let mut statements: Vec<Value> = Vec::new();
    let mut actions: Vec<&String> = Vec::new();
    for (a, _) in &grants.pairs {
        if !actions.contains(&a) {
            actions.push(a);
        }
    }
    for a in actions {
        let res: Vec<Value> = grants.pairs.iter().filter(|(x, _)| x == a).map(|(_, r)| r.clone()).collect();
        let res = if res.iter().any(|r| r == "*") { json!("*") } else { Value::Array(res) };
        statements.push(json!({"Effect": "Allow", "Action": a, "Resource": res}));
    }
    let mut role = json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            }
        }
    });
    if !statements.is_empty() {
        role["Properties"]["Policies"] = json!([{
            "PolicyName": "StateMachineTasks",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}
        }]);
    }
    resources.insert("StateMachineRole".into(), role);

    let mut machine = json!({
        "StateMachineName": options.name,
        "StateMachineType": options.machine_type,
        "Definition": definition,
        "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]}
    });
    if !substitutions.is_empty() {
        machine["DefinitionSubstitutions"] = Value::Object(substitutions);
    }
    resources.insert("StateMachine".into(), json!({"Type": "AWS::StepFunctions::StateMachine", "Properties": machine}));
    outputs.insert("StateMachineArn".into(), json!({"Value": {"Ref": "StateMachine"}}));

    if let Some(raw) = &options.raw_bucket {
        let raw_id = buckets.iter().find(|(n, _)| n == raw).map(|(_, id)| id.clone()).unwrap_or_default();
        resources.insert("IngestRuleRole".into(), json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]
                },
                "Policies": [{
                    "PolicyName": "StartIngest",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": "StateMachine"}}
                    ]}
                }]
            }
        }));
        resources.insert("IngestRule".into(), json!({
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": format!("Starts {} for each object created in {raw}", options.name),
                "EventPattern": {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [{"Ref": raw_id}]}}
                },
                "Targets": [{
                    "Id": "StartExecution",
                    "Arn": {"Ref": "StateMachine"},
                    "RoleArn": {"Fn::GetAtt": ["IngestRuleRole", "Arn"]}
                }]
            }
        }));
    }

    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("{} state machine, exported by Stepwise", options.name),
    });
    if !parameters.is_empty() {
        template["Parameters"] = Value::Object(parameters);
    }
    template["Resources"] = Value::Object(resources);
    template["Outputs"] = Value::Object(outputs);
    Template { value: template, notes: grants.notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_alphanumeric_and_unique() {
        let mut taken = Vec::new();
        assert_eq!(logical_id("stepwise-video-review", "Activity", &mut taken), "StepwiseVideoReviewActivity");
        assert_eq!(logical_id("stepwise.video_review", "Activity", &mut taken), "StepwiseVideoReviewActivity2");
        assert_eq!(logical_id("1raw", "Bucket", &mut taken), "R1rawBucket");
    }

    #[test]
    fn activity_names_come_from_activity_arns_only() {
        assert_eq!(activity_name("arn:aws:states:us-east-1:123456789012:activity:review"), Some("review"));
        assert_eq!(activity_name("arn:aws:states:::aws-sdk:s3:copyObject"), None);
        assert_eq!(activity_name("arn:aws:lambda:us-east-1:1:function:f"), None);
        assert_eq!(activity_name("not an arn"), None);
    }
}
