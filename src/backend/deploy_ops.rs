//! Deploying from the window: check (locally and, on AWS, with `ValidateStateMachineDefinition`)
//! and preview, deploy, list what is deployed, and read a deployed definition back.
//!
//! The same [`DeployCommand`]s are answered by the local engine ([`on_local`]) and by AWS
//! ([`on_aws`]) with the same [`DeploymentUpdate`]s, so the Deploy dialog and the Deployed panel
//! never know which they talk to. The steps are those of `stepwise deploy` ([`deploy_local`]
//! is shared with it; AWS uses `aws::deploy::deploy`), so the window and the command line
//! cannot disagree about what a deploy does.
//!
//! A preview writes nothing: it answers what a deploy would do (the diff against the deployed
//! definition after activity ARNs are rewritten, the activities to create), so a second check
//! of an unchanged, deployed workflow shows "no changes".

use serde_json::Value;

use super::Update;
use super::aws::deploy::{self as aws_deploy, ActivityReport, DeployError, DeployReport, DeployRequest, Rewrite};
use super::aws::roles::{RoleChoice, execution_roles};
use super::aws::{AwsError, AwsSfn, StateMachineSettings};
use crate::asl::Diagnostic;
use crate::engine::{MachineType, Millis};
use crate::runtime::service::{LocalService, ServiceError};

/// What the Deploy dialog and the Deployed panel ask of a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployCommand {
    /// Validate and compute what a deploy would change; writes nothing.
    Preview { settings: StateMachineSettings, definition: String },
    Deploy { settings: StateMachineSettings, definition: String },
    ListDeployed,
    OpenDeployed { arn: String },
    /// The roles Step Functions may assume in this account, for the role field.
    ListRoles,
}

/// A deployed state machine, as the Deployed panel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedMachine {
    pub name: String,
    pub arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub created: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedActivity {
    pub name: String,
    pub arn: String,
    pub created: Millis,
}

/// What a backend answers to a [`DeployCommand`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentUpdate {
    /// The answer to `Preview`. `diagnostics`: the local validator's and AWS's (AWS's messages
    /// end in "(AWS)"); `diff`: `None` when no state machine of that name exists, `Some("")`
    /// when the deployed definition is the same.
    Preview {
        name: String,
        diagnostics: Vec<Diagnostic>,
        diff: Option<String>,
        activities_to_create: Vec<String>,
        rewrites: Vec<Rewrite>,
        exists: bool,
    },
    Deployed(DeployReport),
    /// A preview or deploy that could not be done: what was wrong and what to do.
    Failed { message: String, diagnostics: Vec<Diagnostic> },
    /// The answer to `ListDeployed`; `error` says why the lists may be empty.
    List { state_machines: Vec<DeployedMachine>, activities: Vec<DeployedActivity>, error: Option<String> },
    /// The answer to `OpenDeployed`: the definition as deployed (JSON text).
    Definition { name: String, arn: String, definition: String },
    /// The answer to `ListRoles`; `error` says why there are none to choose (typing an ARN
    /// still works).
    Roles { roles: Vec<RoleChoice>, error: Option<String> },
}

fn update(u: DeploymentUpdate) -> Vec<Update> {
    vec![Update::Deployment(u)]
}

fn failed(message: impl Into<String>, diagnostics: Vec<Diagnostic>) -> Vec<Update> {
    update(DeploymentUpdate::Failed { message: message.into(), diagnostics })
}

/// A deploy error in words a person can act on.
pub fn explain(e: &DeployError) -> String {
    match e {
        DeployError::Invalid(d) => {
            let errors = d.iter().filter(|d| d.is_error()).count();
            format!("The definition has {errors} errors; nothing was deployed. Fix them (they are listed in Problems) and check again.")
        }
        DeployError::MissingRole => {
            "AWS needs the IAM role the executions run as: type its ARN (arn:aws:iam::ACCOUNT:role/NAME) in Execution role and check again.".into()
        }
        DeployError::Aws(a) => format!("{a}"),
    }
}

fn deploy_failed(e: DeployError) -> Vec<Update> {
    let message = explain(&e);
    let diagnostics = match e {
        DeployError::Invalid(d) => d,
        _ => Vec::new(),
    };
    failed(message, diagnostics)
}

/// The state machine name, checked by AWS's rule before anything is asked of a backend.
fn check_name(settings: &StateMachineSettings) -> Result<(), String> {
    crate::runtime::service::check_name(&settings.name).map_err(|e| format!("The name {e}; choose another in the Name field."))
}

/// Local validation as a preview sees it: the diagnostics, and the tree when it has no errors.
fn check(definition: &str, machine_type: MachineType) -> (Option<Value>, Vec<Diagnostic>) {
    match aws_deploy::check_locally(definition, machine_type) {
        Ok((root, warnings)) => (Some(root), warnings),
        Err(DeployError::Invalid(d)) => (None, d),
        Err(other) => (None, vec![Diagnostic::error("SCHEMA_VALIDATION_FAILED", "", other.to_string())]),
    }
}

/// Activity names a definition's tasks use, sorted, once each.
fn activity_names(root: &Value) -> Vec<String> {
    let mut names: Vec<String> = aws_deploy::activity_uses(root).into_iter().map(|u| u.name).collect();
    names.sort();
    names.dedup();
    names
}

/// `arn:aws:states:REGION:ACCOUNT:` of an ARN in the account, to name activities not yet created.
fn arn_prefix(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[2] == "states").then(|| format!("{}:{}:{}:{}:{}:", parts[0], parts[1], parts[2], parts[3], parts[4]))
}

// ---------------------------------------------------------------------------------------
// The local engine
// ---------------------------------------------------------------------------------------

fn local_error(e: ServiceError) -> DeployError {
    match e {
        ServiceError::InvalidDefinition(d) => DeployError::Invalid(d),
        other => DeployError::Aws(AwsError::Other { action: "deploy on the local engine".into(), detail: other.to_string() }),
    }
}

/// `stepwise deploy --local` and the window's deploy to the local engine: validated, its
/// activities created (their ARNs written as the local engine names them), the state machine
/// created or updated, with the diff against what was deployed.
pub async fn deploy_local(service: &LocalService, request: DeployRequest) -> Result<DeployReport, DeployError> {
    let settings = &request.settings;
    let (mut root, warnings) = aws_deploy::check_locally(&request.definition, settings.machine_type)?;
    let existing = crate::runtime::service::state_machine_arn(&settings.name);
    let before = service.describe_state_machine(&existing).await.ok();
    let present = service.list_activities().await.map_err(local_error)?;
    let mut activities = Vec::new();
    for name in activity_names(&root) {
        let had = present.iter().any(|a| a.name == name);
        let arn = service.create_activity(&name).await.map_err(local_error)?;
        activities.push(ActivityReport { name, arn, created: !had });
    }
    let arns: Vec<(String, String)> = activities.iter().map(|a| (a.name.clone(), a.arn.clone())).collect();
    let rewrites = aws_deploy::rewrite_activity_arns(&mut root, &arns);
    let definition = serde_json::to_string_pretty(&root).unwrap_or_else(|_| Value::Null.to_string());
    let diff = before.as_ref().map(|b| aws_deploy::definition_diff(&b.definition, &definition)).unwrap_or_default();
    let arn = service.deploy_state_machine(&settings.name, &definition, settings.machine_type).await.map_err(local_error)?;
    Ok(DeployReport { state_machine_arn: arn, created: before.is_none(), activities, rewrites, diff, version_arn: None, warnings })
}

/// The local engine's answer to a deploy command.
pub async fn on_local(service: &LocalService, cmd: DeployCommand) -> Vec<Update> {
    match cmd {
        DeployCommand::Preview { settings, definition } => {
            if let Err(e) = check_name(&settings) {
                return failed(e, Vec::new());
            }
            let (root, diagnostics) = check(&definition, settings.machine_type);
            let before = service.describe_state_machine(&crate::runtime::service::state_machine_arn(&settings.name)).await.ok();
            let (mut activities_to_create, mut rewrites, mut diff) = (Vec::new(), Vec::new(), before.as_ref().map(|_| String::new()));
            if let Some(mut root) = root {
                let present = match service.list_activities().await {
                    Ok(p) => p,
                    Err(e) => return failed(format!("Cannot list the local engine's activities: {e}"), diagnostics),
                };
                let names = activity_names(&root);
                activities_to_create = names.iter().filter(|n| !present.iter().any(|a| a.name == **n)).cloned().collect();
                let arns: Vec<(String, String)> = names.iter().map(|n| (n.clone(), crate::runtime::tasks::activity_arn(n))).collect();
                rewrites = aws_deploy::rewrite_activity_arns(&mut root, &arns);
                let new = serde_json::to_string_pretty(&root).unwrap_or_default();
                diff = before.as_ref().map(|b| aws_deploy::definition_diff(&b.definition, &new));
            }
            update(DeploymentUpdate::Preview { name: settings.name, diagnostics, exists: before.is_some(), diff, activities_to_create, rewrites })
        }
        DeployCommand::Deploy { settings, definition } => {
            if let Err(e) = check_name(&settings) {
                return failed(e, Vec::new());
            }
            if settings.publish || !settings.tags.is_empty() || settings.logging.is_some() || settings.tracing {
                return failed("Versions, tags, logging and tracing are AWS features: clear them to deploy to the local engine, or switch the connection to AWS.", Vec::new());
            }
            match deploy_local(service, DeployRequest { settings, definition }).await {
                Ok(report) => update(DeploymentUpdate::Deployed(report)),
                Err(e) => deploy_failed(e),
            }
        }
        DeployCommand::ListDeployed => {
            let (machines, activities) = (service.list_state_machines().await, service.list_activities().await);
            let error = [machines.as_ref().err(), activities.as_ref().err()].into_iter().flatten().next().map(|e| format!("Cannot list the local engine's state machines: {e}"));
            let state_machines = machines
                .unwrap_or_default()
                .into_iter()
                .map(|m| DeployedMachine { name: m.name, arn: m.state_machine_arn, machine_type: m.machine_type, created: m.creation_date })
                .collect();
            let activities = activities.unwrap_or_default().into_iter().map(|a| DeployedActivity { name: a.name, arn: a.arn, created: a.created_ms }).collect();
            update(DeploymentUpdate::List { state_machines, activities, error })
        }
        // Local executions run as nobody: there is no role to choose.
        DeployCommand::ListRoles => update(DeploymentUpdate::Roles { roles: Vec::new(), error: None }),
        DeployCommand::OpenDeployed { arn } => match service.describe_state_machine(&arn).await {
            Ok(d) => update(DeploymentUpdate::Definition { name: d.name, arn: d.state_machine_arn, definition: d.definition }),
            Err(e) => vec![Update::Notice { text: format!("Cannot open the deployed state machine: {e}"), error: true }],
        },
    }
}

// ---------------------------------------------------------------------------------------
// AWS
// ---------------------------------------------------------------------------------------

async fn preview_aws(sfn: &AwsSfn, settings: StateMachineSettings, definition: String) -> Result<DeploymentUpdate, AwsError> {
    let (root, mut diagnostics) = check(&definition, settings.machine_type);
    let existing = sfn.find_state_machine(&settings.name).await?;
    let deployed = match &existing {
        Some(m) => Some(sfn.describe_state_machine(&m.state_machine_arn).await?),
        None => None,
    };
    let (mut activities_to_create, mut rewrites, mut diff) = (Vec::new(), Vec::new(), deployed.as_ref().map(|_| String::new()));
    if let Some(mut root) = root {
        // AWS is asked only about a definition the local validator accepts: its errors would
        // repeat the local ones, in words less specific.
        let as_written = serde_json::to_string_pretty(&root).unwrap_or_default();
        diagnostics.extend(sfn.validate_definition(&as_written, settings.machine_type).await?);
        let names = activity_names(&root);
        let present = if names.is_empty() { Vec::new() } else { sfn.list_activities().await? };
        // Where an activity is not created yet, its ARN is this account's and region's: taken
        // from any ARN of the account that is known.
        let prefix = present.first().map(|a| a.activity_arn.as_str()).or(existing.as_ref().map(|m| m.state_machine_arn.as_str())).and_then(arn_prefix);
        let mut arns = Vec::new();
        for name in names {
            match present.iter().find(|a| a.name == name) {
                Some(a) => arns.push((name, a.activity_arn.clone())),
                None => {
                    if let Some(p) = &prefix {
                        arns.push((name.clone(), format!("{p}activity:{name}")));
                    }
                    activities_to_create.push(name);
                }
            }
        }
        rewrites = aws_deploy::rewrite_activity_arns(&mut root, &arns);
        let new = serde_json::to_string_pretty(&root).unwrap_or_default();
        diff = deployed.as_ref().map(|d| aws_deploy::definition_diff(&d.description.definition, &new));
    }
    Ok(DeploymentUpdate::Preview { name: settings.name, diagnostics, exists: existing.is_some(), diff, activities_to_create, rewrites })
}

/// AWS's answer to a deploy command (the AWS backend thread calls it with its client).
pub async fn on_aws(sfn: &AwsSfn, cmd: DeployCommand) -> Vec<Update> {
    match cmd {
        DeployCommand::Preview { settings, definition } => {
            if let Err(e) = check_name(&settings) {
                return failed(e, Vec::new());
            }
            match preview_aws(sfn, settings, definition).await {
                Ok(u) => update(u),
                Err(e) => failed(format!("Cannot check with AWS: {e}"), Vec::new()),
            }
        }
        DeployCommand::Deploy { settings, definition } => {
            if let Err(e) = check_name(&settings) {
                return failed(e, Vec::new());
            }
            match aws_deploy::deploy(sfn, DeployRequest { settings, definition }).await {
                Ok(report) => update(DeploymentUpdate::Deployed(report)),
                Err(e) => deploy_failed(e),
            }
        }
        DeployCommand::ListDeployed => {
            let machines = sfn.list_state_machines().await;
            let activities = sfn.list_activities().await;
            let error = [machines.as_ref().err(), activities.as_ref().err()].into_iter().flatten().next().map(|e| format!("Cannot list what is deployed: {e}"));
            let state_machines = machines
                .unwrap_or_default()
                .into_iter()
                .map(|m| DeployedMachine { name: m.name, arn: m.state_machine_arn, machine_type: m.machine_type, created: m.creation_date })
                .collect();
            let activities =
                activities.unwrap_or_default().into_iter().map(|a| DeployedActivity { name: a.name, arn: a.activity_arn, created: a.creation_date }).collect();
            update(DeploymentUpdate::List { state_machines, activities, error })
        }
        DeployCommand::ListRoles => match execution_roles(&sfn.clients).await {
            Ok(roles) => update(DeploymentUpdate::Roles { roles, error: None }),
            Err(e) => update(DeploymentUpdate::Roles { roles: Vec::new(), error: Some(format!("Cannot list the account's roles ({e}); type the role's ARN.")) }),
        },
        DeployCommand::OpenDeployed { arn } => match sfn.describe_state_machine(&arn).await {
            Ok(d) => update(DeploymentUpdate::Definition { name: d.description.name, arn: d.description.state_machine_arn, definition: d.description.definition }),
            Err(e) => vec![Update::Notice { text: format!("Cannot open the deployed state machine: {e}"), error: true }],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_prefix_names_the_account_and_region() {
        assert_eq!(arn_prefix("arn:aws:states:eu-west-1:000000000000:stateMachine:m").as_deref(), Some("arn:aws:states:eu-west-1:000000000000:"));
        assert_eq!(arn_prefix("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_prefix("nonsense"), None);
    }
}
