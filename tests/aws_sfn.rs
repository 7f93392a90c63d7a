//! The AWS Step Functions path against a real Step Functions API. The endpoint comes from
//! `STEPWISE_TEST_AWS_ENDPOINT` (LocalStack on loopback: `scripts/localstack-lib.sh` starts
//! one); without it these tests say "skipped" and pass.

use serde_json::{Value, json};
use stepwise::backend::aws::deploy::{DeployError, DeployRequest};
use stepwise::backend::aws::{AwsSfn, AwsTarget, HistoryCursor, StateMachineSettings, deploy};
use stepwise::monitor::{ExecutionModel, StateStatus};

fn endpoint() -> Option<String> {
    let endpoint = std::env::var("STEPWISE_TEST_AWS_ENDPOINT").ok().filter(|e| !e.is_empty());
    if endpoint.is_none() {
        println!("skipped: no Step Functions endpoint (set STEPWISE_TEST_AWS_ENDPOINT)");
    }
    endpoint
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), stepwise::runtime::service::fresh_seed() as u32)
}

async fn connect(endpoint: &str) -> AwsSfn {
    let target = AwsTarget { profile: None, region: Some("us-east-1".into()), endpoint_url: Some(endpoint.into()) };
    AwsSfn::connect(&target).await.unwrap()
}

fn ids(events: &[Value]) -> Vec<u64> {
    events.iter().map(stepwise::backend::event_id).collect()
}

#[tokio::test]
async fn deploy_run_answer_and_watch_an_activity_execution() {
    let Some(endpoint) = endpoint() else { return };
    let sfn = connect(&endpoint).await;
    let activity = unique("review");
    let name = unique("watch");
    // Written for another account: deploy points the Task at the activity where it lands.
    let definition = json!({
        "StartAt": "Review",
        "States": {
            "Review": {"Type": "Task", "Resource": format!("arn:aws:states:us-east-1:123456789012:activity:{activity}"), "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    })
    .to_string();
    let settings = StateMachineSettings { name: name.clone(), role_arn: None, ..StateMachineSettings::default() };
    let refused = deploy(&sfn, DeployRequest { settings: settings.clone(), definition: definition.clone() }).await;
    assert!(matches!(refused, Err(DeployError::MissingRole)), "{refused:?}");
    let settings = StateMachineSettings { role_arn: Some("arn:aws:iam::000000000000:role/x".into()), ..settings };
    let report = deploy(&sfn, DeployRequest { settings: settings.clone(), definition: definition.clone() }).await.unwrap();
    assert!(report.created);
    assert_eq!(report.activities.len(), 1);
    let activity_arn = report.activities[0].arn.clone();
    let rewritten = report.rewrites.len();
    assert_eq!(rewritten, usize::from(!activity_arn.contains("123456789012")));

    let again = deploy(&sfn, DeployRequest { settings, definition: definition.replace("\"Done\"", "\"Finished\"") }).await.unwrap();
    assert!(!again.created && !again.activities[0].created);
    assert!(again.diff.contains("+") && again.diff.contains("Finished"), "{}", again.diff);

    let started = sfn.start_execution(&report.state_machine_arn, Some("one"), &json!({"n": 1})).await.unwrap();
    let mut cursor = HistoryCursor::new(&started.execution_arn);
    let mut seen = Vec::new();
    // Until the activity is scheduled.
    for _ in 0..50 {
        seen.extend(cursor.poll(&sfn).await.unwrap());
        if seen.iter().any(|e| e["type"] == "ActivityScheduled") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let model = ExecutionModel::from_events(&seen);
    assert_eq!(model.status_of("Review"), StateStatus::WaitingForWorker);
    assert!(cursor.poll(&sfn).await.unwrap().is_empty(), "nothing new, nothing handed out");

    let task = sfn.get_activity_task(&activity_arn, Some("test")).await.unwrap().expect("a task");
    assert_eq!(serde_json::from_str::<Value>(&task.input).unwrap(), json!({"n": 1}));
    sfn.send_task_success(&task.task_token, "{\"ok\":true}").await.unwrap();
    let done = sfn.wait_for_execution(&started.execution_arn).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    seen.extend(cursor.poll(&sfn).await.unwrap());
    let got = ids(&seen);
    let expected: Vec<u64> = (1..=got.len() as u64).collect();
    assert_eq!(got, expected, "every event once, in order");
    let model = ExecutionModel::from_events(&seen);
    assert_eq!(model.status_of("Review"), StateStatus::Succeeded);

    let listed = sfn.list_executions(&report.state_machine_arn, Some("SUCCEEDED")).await.unwrap();
    assert!(listed.iter().any(|e| e.execution_arn == started.execution_arn));
}

#[tokio::test]
async fn errors_say_what_is_missing() {
    let Some(endpoint) = endpoint() else { return };
    let sfn = connect(&endpoint).await;
    let e = sfn.describe_execution("arn:aws:states:us-east-1:000000000000:execution:nope:nope").await.unwrap_err();
    assert!(matches!(e, stepwise::backend::aws::AwsError::NotFound { .. }), "{e:?}");
    let nowhere = AwsTarget { profile: None, region: Some("us-east-1".into()), endpoint_url: Some("http://127.0.0.1:1".into()) };
    let e = AwsSfn::connect(&nowhere).await.unwrap().list_state_machines().await.unwrap_err();
    assert!(matches!(e, stepwise::backend::aws::AwsError::Unreachable { .. }), "{e:?}");
}
