//! Deploying a workflow file to AWS: checked here and by AWS, its activities created, then
//! the state machine created or updated, with a diff of what changes.
//!
//! Order matters: nothing is created before both validations pass, and the diff is taken
//! from the deployed definition before it is replaced.

use serde::Serialize;
use serde_json::Value;

use super::error::AwsError;
use super::sfn::{AwsSfn, StateMachineSettings};
use crate::asl::Diagnostic;
use crate::asl::diagnostic::pointer_push;
use crate::engine::MachineType;
use crate::validate::{self, Options};

/// What to deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployRequest {
    pub settings: StateMachineSettings,
    /// The definition as written (JSON or YAML).
    pub definition: String,
}

/// An activity a definition's Task states name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    pub name: String,
    /// The ARN as deployed.
    pub arn: String,
    /// Whether this deploy created it.
    pub created: bool,
}

/// A Task's Resource changed because the activity's ARN in this account and region differs
/// from the one written (another account or region in the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewrite {
    /// JSON pointer of the Resource (`/States/Review/Resource`).
    pub location: String,
    pub from: String,
    pub to: String,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployReport {
    pub state_machine_arn: String,
    /// Created (true) or updated (false).
    pub created: bool,
    pub activities: Vec<ActivityReport>,
    pub rewrites: Vec<Rewrite>,
    /// Unified diff of the deployed definition against the new one (pretty JSON both sides);
    /// empty when created or unchanged.
    pub diff: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_arn: Option<String>,
    /// Warnings from either validation (errors stop the deploy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeployError {
    /// The local validator or AWS's found errors; nothing was created or changed.
    #[error("the definition has errors; nothing was deployed")]
    Invalid(Vec<Diagnostic>),
    #[error("AWS needs the IAM role the executions run as: pass --role-arn arn:aws:iam::ACCOUNT:role/NAME (any role ARN string works on LocalStack)")]
    MissingRole,
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// One Task state whose Resource is an activity ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityUse {
    /// JSON pointer of the Resource value.
    pub location: String,
    pub arn: String,
    pub name: String,
}

/// The activity Tasks of a definition, in every scope (Parallel branches, Map processors).
pub fn activity_uses(root: &Value) -> Vec<ActivityUse> {
    fn walk(scope: &Value, at: &str, out: &mut Vec<ActivityUse>) {
        let Some(states) = scope.get("States").and_then(Value::as_object) else { return };
        let states_at = pointer_push(at, "States");
        for (name, state) in states {
            let here = pointer_push(&states_at, name);
            match state.get("Type").and_then(Value::as_str) {
                Some("Task") => {
                    if let Some(arn) = state.get("Resource").and_then(Value::as_str)
                        && let Some(activity) = crate::store::activity_name(arn) {
                            out.push(ActivityUse { location: pointer_push(&here, "Resource"), arn: arn.to_owned(), name: activity.to_owned() });
                        }
                }
                Some("Parallel") => {
                    if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
                        let at = pointer_push(&here, "Branches");
                        for (i, b) in branches.iter().enumerate() {
                            walk(b, &pointer_push(&at, &i.to_string()), out);
                        }
                    }
                }
                Some("Map") => {
                    for key in ["ItemProcessor", "Iterator"] {
                        if let Some(p) = state.get(key) {
                            walk(p, &pointer_push(&here, key), out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

/// Points each activity Task at the ARN its activity has where it is deployed (`arns`: name →
/// ARN); answers what changed.
pub fn rewrite_activity_arns(root: &mut Value, arns: &[(String, String)]) -> Vec<Rewrite> {
    let mut rewrites = Vec::new();
    for u in activity_uses(root) {
        let Some((_, arn)) = arns.iter().find(|(n, _)| *n == u.name) else { continue };
        if *arn != u.arn
            && let Some(slot) = root.pointer_mut(&u.location) {
                *slot = Value::String(arn.clone());
                rewrites.push(Rewrite { location: u.location, from: u.arn, to: arn.clone() });
            }
    }
    rewrites
}

/// Pretty JSON of a definition text (or the text itself when it is not JSON), for diffs.
fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_owned()),
        Err(_) => text.to_owned(),
    }
}

/// A unified diff from the deployed definition to the new one; empty when they are the same.
pub fn definition_diff(deployed: &str, new: &str) -> String {
    let (old, new) = (pretty(deployed), pretty(new));
    if old == new {
        return String::new();
    }
    let mut old = old;
    let mut new = new;
    // A final newline on both sides keeps the diff free of "no newline at end of file".
    old.push('\n');
    new.push('\n');
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header("deployed", "new").to_string()
}

/// Checks the definition here (the full local validator) and parses it; errors stop.
pub fn check_locally(definition: &str, machine_type: MachineType) -> Result<(Value, Vec<Diagnostic>), DeployError> {
    let kind = match machine_type {
        MachineType::Standard => validate::MachineType::Standard,
        MachineType::Express => validate::MachineType::Express,
    };
    let (doc, diagnostics) = validate::check_bytes(definition.as_bytes(), None, &Options { kind });
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(DeployError::Invalid(diagnostics));
    }
    Ok((doc.root, diagnostics))
}

/// Validates (locally, then with AWS), creates the missing activities, and creates or updates
/// the state machine. Nothing is created when either validation finds an error.
pub async fn deploy(sfn: &AwsSfn, request: DeployRequest) -> Result<DeployReport, DeployError> {
    let settings = &request.settings;
    let (mut root, mut warnings) = check_locally(&request.definition, settings.machine_type)?;
    let as_written = serde_json::to_string_pretty(&root).map_err(|e| DeployError::Invalid(vec![Diagnostic::error("INVALID_JSON", "", e.to_string())]))?;
    let aws = sfn.validate_definition(&as_written, settings.machine_type).await?;
    if aws.iter().any(Diagnostic::is_error) {
        return Err(DeployError::Invalid(aws));
    }
    warnings.extend(aws);

    let existing = sfn.find_state_machine(&settings.name).await?;
    if existing.is_none() && settings.role_arn.is_none() {
        return Err(DeployError::MissingRole);
    }

    let uses = activity_uses(&root);
    let mut names: Vec<String> = uses.iter().map(|u| u.name.clone()).collect();
    names.sort();
    names.dedup();
    let mut activities = Vec::new();
    if !names.is_empty() {
        let present = sfn.list_activities().await?;
        for name in names {
            let had = present.iter().find(|a| a.name == name).map(|a| a.activity_arn.clone());
            let arn = match had.clone() {
                Some(a) => a,
                None => sfn.create_activity(&name).await?,
            };
            activities.push(ActivityReport { name, arn, created: had.is_none() });
        }
    }
    let arns: Vec<(String, String)> = activities.iter().map(|a| (a.name.clone(), a.arn.clone())).collect();
    let rewrites = rewrite_activity_arns(&mut root, &arns);
    let definition = serde_json::to_string_pretty(&root).map_err(|e| DeployError::Invalid(vec![Diagnostic::error("INVALID_JSON", "", e.to_string())]))?;

    let (arn, created, diff, version_arn) = match existing {
        Some(found) => {
            let deployed = sfn.describe_state_machine(&found.state_machine_arn).await?;
            let diff = definition_diff(&deployed.description.definition, &definition);
            let written = sfn.update_state_machine(&found.state_machine_arn, settings, &definition).await?;
            (written.state_machine_arn, false, diff, written.version_arn)
        }
        None => {
            let written = sfn.create_state_machine(settings, &definition).await?;
            (written.state_machine_arn, true, String::new(), written.version_arn)
        }
    };
    Ok(DeployReport { state_machine_arn: arn, created, activities, rewrites, diff, version_arn, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine() -> Value {
        json!({
            "StartAt": "Review",
            "States": {
                "Review": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review", "Next": "Fan"},
                "Fan": {"Type": "Parallel", "End": true, "Branches": [
                    {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:tag", "End": true}}},
                    {"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", "States": {
                        "I": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review", "End": true},
                        "L": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": true}
                    }}}}}
                ]},
                "P": {"Type": "Pass", "Parameters": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:not-a-state"}, "End": true}
            }
        })
    }

    #[test]
    fn activity_tasks_are_found_in_every_scope_and_nowhere_else() {
        let uses = activity_uses(&machine());
        let found: Vec<(&str, &str)> = uses.iter().map(|u| (u.name.as_str(), u.location.as_str())).collect();
        assert_eq!(
            found,
            [
                ("review", "/States/Review/Resource"),
                ("tag", "/States/Fan/Branches/0/States/B/Resource"),
                ("review", "/States/Fan/Branches/1/States/M/ItemProcessor/States/I/Resource"),
            ]
        );
    }

    #[test]
    fn resources_are_rewritten_only_where_the_arn_differs() {
        let mut root = machine();
        let arns = vec![
            ("review".to_owned(), "arn:aws:states:us-east-1:000000000000:activity:review".to_owned()),
            ("tag".to_owned(), "arn:aws:states:us-east-1:123456789012:activity:tag".to_owned()),
        ];
        let rewrites = rewrite_activity_arns(&mut root, &arns);
        assert_eq!(rewrites.len(), 2);
        assert!(rewrites.iter().all(|r| r.to.contains("000000000000") && r.from.contains("123456789012")));
        assert_eq!(root.pointer("/States/Review/Resource").unwrap(), "arn:aws:states:us-east-1:000000000000:activity:review");
        assert_eq!(root.pointer("/States/Fan/Branches/0/States/B/Resource").unwrap(), "arn:aws:states:us-east-1:123456789012:activity:tag");
        assert_eq!(
            root.pointer("/States/Fan/Branches/1/States/M/ItemProcessor/States/I/Resource").unwrap(),
            "arn:aws:states:us-east-1:000000000000:activity:review"
        );
        // A second pass has nothing left to change.
        assert!(rewrite_activity_arns(&mut root, &arns).is_empty());
    }

    #[test]
    fn the_diff_compares_pretty_json_and_is_empty_when_nothing_changed() {
        let old = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#;
        assert_eq!(definition_diff(old, &serde_json::to_string_pretty(&serde_json::from_str::<Value>(old).unwrap()).unwrap()), "");
        let new = r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}"#;
        let diff = definition_diff(old, new);
        assert!(diff.starts_with("--- deployed\n+++ new\n"), "{diff}");
        assert!(diff.contains("-      \"Type\": \"Pass\","), "{diff}");
        assert!(diff.contains("+      \"Type\": \"Succeed\""), "{diff}");
    }

    #[test]
    fn local_errors_stop_before_any_call() {
        let bad = r#"{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}"#;
        assert!(matches!(check_locally(bad, MachineType::Standard), Err(DeployError::Invalid(d)) if !d.is_empty()));
    }
}
