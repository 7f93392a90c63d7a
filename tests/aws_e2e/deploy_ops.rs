//! `deploy_ops::on_aws`, what the Deploy dialog and the Deployed window send on an AWS
//! connection: preview (new, unchanged, changed), deploy, list, open.

use serde_json::json;
use stepwise::backend::Update;
use stepwise::backend::aws::{AwsSfn, AwsTarget, StateMachineSettings};
use stepwise::backend::deploy_ops::{DeployCommand, DeploymentUpdate, on_aws};

fn one(updates: Vec<Update>) -> DeploymentUpdate {
    match <[Update; 1]>::try_from(updates) {
        Ok([Update::Deployment(u)]) => u,
        Ok([other]) => panic!("not a deployment update: {other:?}"),
        Err(v) => panic!("expected one update, got {v:?}"),
    }
}

#[tokio::test]
async fn aws_e2e_deploy_preview_and_update() {
    let Some(endpoint) = std::env::var("STEPWISE_TEST_AWS_ENDPOINT").ok().filter(|e| !e.is_empty()) else {
        println!("skipped: no Step Functions endpoint (set STEPWISE_TEST_AWS_ENDPOINT)");
        return;
    };
    let target = AwsTarget { profile: None, region: Some("us-east-1".into()), endpoint_url: Some(endpoint) };
    let sfn = AwsSfn::connect(&target).await.unwrap();
    let tag = format!("{}-{}", std::process::id(), stepwise::runtime::service::fresh_seed() as u32);
    let (name, activity) = (format!("ui-deploy-{tag}"), format!("ui-review-{tag}"));
    let definition = json!({
        "StartAt": "Review",
        "States": {
            "Review": {"Type": "Task", "Resource": format!("arn:aws:states:us-east-1:123456789012:activity:{activity}"), "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    })
    .to_string();
    let settings = StateMachineSettings { name: name.clone(), ..StateMachineSettings::default() };

    let preview = |definition: &str, settings: &StateMachineSettings| DeployCommand::Preview { settings: settings.clone(), definition: definition.to_owned() };
    match one(on_aws(&sfn, preview(&definition, &settings)).await) {
        DeploymentUpdate::Preview { diff, exists, activities_to_create, diagnostics, .. } => {
            assert!(!exists && diff.is_none());
            assert_eq!(activities_to_create, std::slice::from_ref(&activity));
            assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        }
        other => panic!("{other:?}"),
    }
    // Without a role AWS cannot create it: the failure says what to type.
    match one(on_aws(&sfn, DeployCommand::Deploy { settings: settings.clone(), definition: definition.clone() }).await) {
        DeploymentUpdate::Failed { message, .. } => assert!(message.contains("Execution role"), "{message}"),
        other => panic!("{other:?}"),
    }
    let settings = StateMachineSettings { role_arn: Some("arn:aws:iam::000000000000:role/x".into()), ..settings };
    let report = match one(on_aws(&sfn, DeployCommand::Deploy { settings: settings.clone(), definition: definition.clone() }).await) {
        DeploymentUpdate::Deployed(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(report.created);
    // Deployed as it is: the preview diffs against the rewritten ARNs, so there is nothing to change.
    match one(on_aws(&sfn, preview(&definition, &settings)).await) {
        DeploymentUpdate::Preview { diff, exists, activities_to_create, .. } => {
            assert!(exists && activities_to_create.is_empty());
            assert_eq!(diff.as_deref(), Some(""));
        }
        other => panic!("{other:?}"),
    }
    let changed = definition.replace("\"Done\"", "\"Finished\"");
    match one(on_aws(&sfn, preview(&changed, &settings)).await) {
        DeploymentUpdate::Preview { diff, .. } => assert!(diff.as_deref().is_some_and(|d| d.contains("+") && d.contains("Finished")), "{diff:?}"),
        other => panic!("{other:?}"),
    }
    match one(on_aws(&sfn, DeployCommand::ListDeployed).await) {
        DeploymentUpdate::List { state_machines, activities, error } => {
            assert!(error.is_none(), "{error:?}");
            assert!(state_machines.iter().any(|m| m.name == name && m.arn == report.state_machine_arn));
            assert!(activities.iter().any(|a| a.name == activity));
        }
        other => panic!("{other:?}"),
    }
    match one(on_aws(&sfn, DeployCommand::OpenDeployed { arn: report.state_machine_arn.clone() }).await) {
        DeploymentUpdate::Definition { name: n, definition: d, .. } => {
            assert_eq!(n, name);
            assert!(d.contains("\"Review\""), "{d}");
        }
        other => panic!("{other:?}"),
    }
    // LocalStack has IAM: the role list answers without an error (whatever roles exist).
    match one(on_aws(&sfn, DeployCommand::ListRoles).await) {
        DeploymentUpdate::Roles { error, roles } => assert!(error.is_none(), "{error:?} {roles:?}"),
        other => panic!("{other:?}"),
    }
}
