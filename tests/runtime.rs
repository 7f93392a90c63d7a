//! The durable runtime: the store's step transactions, replay, the service's activities and
//! tokens, and crash recovery through the `stepwise` binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stepwise::engine::{ExecutionInfo, Input, Machine, MachineType, TaskKind};
use stepwise::runtime::driver::Driver;
use stepwise::runtime::resolver::{DefaultResolver, MockResolver};
use stepwise::runtime::service::{LocalService, Progress, ResumeResult, ServiceConfig, ServiceError, StartExecution};
use stepwise::store::{Owner, StepRecord, Store};

const BIN: &str = env!("CARGO_BIN_EXE_stepwise");

fn activity_machine(name: &str, heartbeat: Option<u64>) -> String {
    let mut task = json!({
        "Type": "Task",
        "Resource": format!("arn:aws:states:us-east-1:123456789012:activity:{name}"),
        "TimeoutSeconds": 120,
        "End": true
    });
    if let Some(h) = heartbeat {
        task["HeartbeatSeconds"] = json!(h);
    }
    json!({"StartAt": "Work", "States": {"Work": task}}).to_string()
}

async fn service(dir: &Path) -> LocalService {
    LocalService::open(ServiceConfig { data_dir: dir.to_owned(), time_scale: 1.0, resolver: Arc::new(MockResolver::new()) })
        .await
        .unwrap()
}

async fn start(svc: &LocalService, machine: &str, definition: &str, input: Value) -> String {
    let sm = svc.create_state_machine(machine, definition, MachineType::Standard).await.unwrap();
    svc.start_execution(StartExecution { state_machine_arn: sm, input, ..Default::default() })
        .await
        .unwrap()
        .execution_arn
}

/// Event ids are 1..n, in order, without gaps or duplicates.
fn assert_ids_dense(events: &[Value]) {
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, expected, "history ids");
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Store and driver
// ---------------------------------------------------------------------------------------

fn info(arn: &str, seed: u64) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: arn.into(),
        name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        start_time: 1_000_000,
        machine_type: MachineType::Standard,
        seed,
        extra_context: None,
    }
}

/// A Parallel whose branches wait, call a task with a timeout and wait for an activity.
const BRANCHY: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
  {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}},
  {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":5,"End":true}}},
  {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:a","HeartbeatSeconds":3,"End":true}}}
]}}}"#;

#[test]
fn replay_rebuilds_the_execution_from_its_journal() {
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let definition: Value = serde_json::from_str(BRANCHY).unwrap();
    let machine = Arc::new(Machine::compile(&definition).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:e";
    let (mut d, first) = Driver::start(&mut store, &owner, machine, info(arn, 7), BRANCHY, json!({}), None).unwrap();
    let tasks: Vec<_> = first.dispatch.iter().map(|x| (x.request.id, x.request.kind)).collect();
    assert_eq!(tasks.len(), 2, "a lambda task and an activity task: {tasks:?}");
    let (lambda, _) = tasks.iter().find(|(_, k)| *k == TaskKind::Request).copied().unwrap();
    let (activity, _) = tasks.iter().find(|(_, k)| *k == TaskKind::Activity).copied().unwrap();
    // The lambda's timeout timer and the Wait's timer have the same deadline; only the
    // first guards the lambda task.
    let stored = store.timers(arn).unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored.iter().filter(|(_, _, t)| *t == Some(lambda)).count(), 1, "{stored:?}");
    assert_eq!(stored[0].1, stored[1].1, "same deadline");

    // A worker takes the activity task: the owner consumes its message in the next step.
    let claimed = store.claim_activity_task(stepwise::store::ActivityRef::Name("a"), "w").unwrap().expect("claimed");
    assert_eq!(claimed.task, activity);
    let messages = store.task_messages().unwrap();
    assert_eq!(messages[0].input, Input::TaskStarted { task: activity, worker: Some("w".into()) });
    d.feed(&mut store, &owner, 1_000_500, messages[0].input.clone(), Some(messages[0].id)).unwrap();
    assert!(store.task_messages().unwrap().is_empty(), "consumed in the step");
    d.feed(&mut store, &owner, 1_001_000, Input::TaskSucceeded { task: lambda, output: json!({"ok": 1}) }, None).unwrap();
    assert!(!d.waits_only_on_workers(), "the Wait's timer is still pending");

    let (r, resumed) = Driver::resume(&store, arn).unwrap();
    assert_eq!(resumed.replayed, 2);
    assert_eq!(r.timers(), d.timers(), "timers keep their deadlines");
    assert!(resumed.dispatch.is_empty(), "no request task is pending");
    assert!(r.is_pending(activity));
    let ids = store.event_ids(arn).unwrap();
    assert_eq!(ids.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (1..=ids.len() as u64).collect::<Vec<_>>());
    let token = store.tokens(arn).unwrap();
    assert_eq!(token.len(), 1);
    assert_eq!(token[0].status, "started");
    assert_eq!(token[0].worker.as_deref(), Some("w"));
}

#[test]
fn a_step_that_cannot_be_written_leaves_nothing_behind() {
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}}"#;
    let machine = Arc::new(Machine::compile(&serde_json::from_str(def).unwrap()).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:e";
    Driver::start(&mut store, &owner, machine, info(arn, 1), def, json!({}), None).unwrap();
    let before = store.event_ids(arn).unwrap();
    // Event 1 exists: a step that writes it again must fail whole, journal entry included.
    let bad = StepRecord {
        journal: Some((1, 1_000_001, Input::Stop { error: None, cause: None })),
        events: vec![stepwise::store::EventRow { id: 1, event_type: "X".into(), timestamp: 0, json: "{}".into() }],
        ..StepRecord::default()
    };
    assert!(store.record_step(arn, &owner, &bad).is_err());
    assert!(store.journal(arn).unwrap().is_empty());
    assert_eq!(store.event_ids(arn).unwrap(), before);
    // Another owner is fenced out.
    let other = Owner { id: "someone-else".into(), pid: 1 };
    let ok = StepRecord { journal: Some((1, 1_000_001, Input::Stop { error: None, cause: None })), ..StepRecord::default() };
    assert!(matches!(store.record_step(arn, &other, &ok), Err(stepwise::store::StoreError::NotOwner(_))));
}

// ---------------------------------------------------------------------------------------
// Activities through the service
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_round_trip_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let activity = svc.create_activity("resize").await.unwrap();
    let arn = start(&svc, "Resize", &activity_machine("resize", None), json!({"image": "a.png"})).await;

    let task = svc.get_activity_task_within(&activity, Some("w1"), Duration::from_secs(10)).await.unwrap().expect("a task");
    assert_eq!(serde_json::from_str::<Value>(&task.input).unwrap(), json!({"image": "a.png"}));
    svc.send_task_heartbeat(&task.task_token).await.unwrap();
    svc.send_task_success(&task.task_token, r#"{"width": 10}"#).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "SUCCEEDED");
    assert_eq!(d.output, Some(json!({"width": 10})));

    let again = svc.send_task_success(&task.task_token, "{}").await;
    assert!(matches!(again, Err(ServiceError::InvalidToken(_))), "{again:?}");
    assert!(matches!(svc.send_task_success("no-such-token", "{}").await, Err(ServiceError::InvalidToken(_))));

    let history = svc.full_history(&arn).await.unwrap();
    assert_ids_dense(&history);
    let started = history.iter().find(|e| e["type"] == "ActivityStarted").expect("ActivityStarted");
    assert_eq!(started["activityStartedEventDetails"]["workerName"], "w1");
    let page = svc.get_execution_history(&arn, 2, None, false).await.unwrap();
    assert_eq!(page.events.len(), 2);
    let rest = svc.get_execution_history(&arn, 100, page.next_token.as_deref(), false).await.unwrap();
    assert_eq!(page.events.len() + rest.events.len(), history.len());
    assert!(rest.next_token.is_none());
    svc.shutdown().await.unwrap();
}

/// Runs `stepwise worker --once` on a data directory nobody else holds (the worker runs the
/// engine itself: it takes over the execution, answers its task and hands it back).
async fn worker_once(dir: &Path, activity: &str, command: &str) -> std::process::Output {
    let out = tokio::process::Command::new(BIN)
        .args(["worker", "--activity", activity, "--once", "--command", command, "--data-dir"])
        .arg(dir)
        .env("STEPWISE_CONFIG_DIR", dir.join("config"))
        .output();
    tokio::time::timeout(Duration::from_secs(30), out).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_binary_answers_with_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let arn = start(&svc, "Echo", &activity_machine("echo", Some(30)), json!({"n": 1, "s": "x y"})).await;
    // While this process runs the engine, a worker process is told who has the directory.
    let refused = worker_once(dir.path(), "echo", "cat").await;
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains(&format!("process {}", std::process::id())) && message.contains("stepwise serve"), "{message}");
    svc.shutdown().await.unwrap();

    let out = worker_once(dir.path(), "echo", "cat").await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "SUCCEEDED");
    assert_eq!(report["executionArn"], arn.as_str());
    let svc = service(dir.path()).await;
    svc.resume_executions().await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "SUCCEEDED");
    assert_eq!(d.output, Some(json!({"n": 1, "s": "x y"})));

    // A failing command: its last stderr line names the error.
    let arn = start(&svc, "Fail", &activity_machine("fail", None), json!({})).await;
    svc.shutdown().await.unwrap();
    let out = worker_once(
        dir.path(),
        "fail",
        r#"sh -c 'echo working >&2; echo "{\"error\":\"Img.Broken\",\"cause\":\"bad pixels\"}" >&2; exit 3'"#,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let svc = service(dir.path()).await;
    svc.resume_executions().await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "FAILED");
    assert_eq!(d.error.as_deref(), Some("Img.Broken"));
    assert_eq!(d.cause.as_deref(), Some("bad pixels"));
    svc.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_times_out_on_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let activity = svc.create_activity("slow").await.unwrap();
    let arn = start(&svc, "Slow", &activity_machine("slow", Some(1)), json!({})).await;
    let task = svc.get_activity_task_within(&activity, None, Duration::from_secs(10)).await.unwrap().expect("a task");
    let began = Instant::now();
    let d = tokio::time::timeout(Duration::from_secs(20), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert!(began.elapsed() >= Duration::from_millis(500), "the heartbeat timer ran in real time");
    assert_eq!(d.status, "FAILED");
    // AWS reports a missed heartbeat as States.Timeout (recorded).
    assert_eq!(d.error.as_deref(), Some("States.Timeout"));
    let late = svc.send_task_success(&task.task_token, "{}").await;
    assert!(matches!(late, Err(ServiceError::TaskTimedOut(_))), "{late:?}");
    let history = svc.full_history(&arn).await.unwrap();
    assert_ids_dense(&history);
    assert!(types(&history).contains(&"ActivityTimedOut".to_owned()), "{:?}", types(&history));
    svc.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_are_refused_with_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let svc = LocalService::open(ServiceConfig { data_dir: dir.path().to_owned(), time_scale: 0.0, resolver: Arc::new(DefaultResolver) })
        .await
        .unwrap();
    let bad = r#"{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}"#;
    match svc.create_state_machine("Bad", bad, MachineType::Standard).await {
        Err(ServiceError::InvalidDefinition(d)) => assert!(!d.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(svc.create_state_machine("bad name", bad, MachineType::Standard).await, Err(ServiceError::InvalidName(_))));
    // Virtual time: a long wait passes at once; a request task without a mock fails clearly.
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"Next":"T"},
        "T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}"#;
    let arn = start(&svc, "Virtual", def, json!({})).await;
    let d = tokio::time::timeout(Duration::from_secs(10), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "FAILED");
    assert!(d.cause.as_deref().unwrap_or("").contains("arn:aws:states:::lambda:invoke"), "{d:?}");
    let listed = svc.list_executions(None, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    svc.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------------------

fn store_status(dir: &Path, arn: &str) -> Option<String> {
    Store::open(dir).ok()?.execution(arn).ok()?.map(|r| r.status)
}

#[test]
fn a_killed_run_resumes_and_keeps_its_wait_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("wait.asl.json");
    std::fs::write(&def, r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3,"Next":"Done"},"Done":{"Type":"Pass","Result":"ok","End":true}}}"#).unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args(["run", "--name", "crash1", "--time-scale", "1", "--data-dir"])
        .arg(&data)
        .arg(&def)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let arn = "arn:aws:states:us-east-1:123456789012:execution:wait:crash1";
    let began = Instant::now();
    while store_status(&data, arn).is_none() {
        assert!(began.elapsed() < Duration::from_secs(20), "the run never recorded its execution");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(store_status(&data, arn).as_deref(), Some("RUNNING"), "killed mid-wait");

    let out = Command::new(BIN).args(["resume", "--data-dir"]).arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["executionArn"], arn);
    assert_eq!(lines[0]["status"], "SUCCEEDED", "{text}");
    assert_eq!(lines[0]["output"], "ok");

    let store = Store::open(&data).unwrap();
    let row = store.execution(arn).unwrap().unwrap();
    let stop = row.stop_ms.unwrap();
    assert!(stop >= row.start_ms + 3000, "ended {} ms after the start, before the 3 s deadline", stop - row.start_ms);
    let history: Vec<Value> = store.history(arn, None, 1000, false).unwrap().into_iter().map(|(_, e)| e).collect();
    assert_ids_dense(&history);
    assert_eq!(
        types(&history),
        ["ExecutionStarted", "WaitStateEntered", "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    );
    // Nothing is left to resume.
    let again = Command::new(BIN).args(["resume", "--data-dir"]).arg(&data).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(again.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_outlives_the_process_that_issued_it() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("job.asl.json");
    std::fs::write(&def, activity_machine("job", None)).unwrap();
    let data = dir.path().join("data");
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--name", "tok", "--input", r#"{"k": "v"}"#, "--data-dir"])
        .arg(&data)
        .arg(&def)
        .env("STEPWISE_CONFIG_DIR", dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The task is issued while the run lives (read from the store: the run owns the data
    // directory, so no worker process could take it now)…
    let began = Instant::now();
    let token = loop {
        let open = Store::open(&data).ok().and_then(|s| s.open_tasks().ok()).unwrap_or_default();
        if let Some(t) = open.into_iter().next() {
            break t;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "the run never scheduled its task");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(serde_json::from_str::<Value>(&token.input).unwrap(), json!({"k": "v"}));
    assert_eq!(token.status, "scheduled");
    // …and the run dies before anyone answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().await.unwrap();
    let arn = token.execution_arn.clone();

    let svc = service(&data).await;
    let resumed = svc.resume_executions().await.unwrap();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(matches!(resumed[0].1, ResumeResult::Resumed { .. }), "{resumed:?}");
    match svc.progress(&arn).await.unwrap() {
        Progress::WaitingOnWorkers(states) => assert_eq!(states[0].0, "Work"),
        other => panic!("{other:?}"),
    }
    // The same token, issued by the dead process, is taken and answered here.
    let task = svc.take_task(&token.token, "w").await.unwrap();
    assert_eq!(task.task_token, token.token);
    assert!(svc.take_task(&token.token, "w2").await.is_err(), "a taken task is not handed out twice");
    svc.send_task_success(&task.task_token, r#"{"done": true}"#).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), svc.wait_for_execution(&arn, false)).await.unwrap().unwrap();
    assert_eq!(d.status, "SUCCEEDED");
    assert_eq!(d.output, Some(json!({"done": true})));
    let history = svc.full_history(&arn).await.unwrap();
    assert_ids_dense(&history);
    assert_eq!(types(&history).iter().filter(|t| *t == "ActivityStarted").count(), 1);
    svc.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_execution_aborts_a_waiting_execution() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}"#;
    let arn = start(&svc, "Long", def, json!({})).await;
    svc.stop_execution(&arn, Some("User.Stop".into()), Some("enough".into())).await.unwrap();
    let d = svc.describe_execution(&arn).await.unwrap();
    assert_eq!(d.status, "ABORTED");
    assert_eq!(d.error.as_deref(), Some("User.Stop"));
    assert!(matches!(svc.describe_execution("arn:nope").await, Err(ServiceError::ExecutionDoesNotExist(_))));
    let history = svc.full_history(&arn).await.unwrap();
    assert_eq!(types(&history).last().map(String::as_str), Some("ExecutionAborted"));
    svc.shutdown().await.unwrap();
}

#[test]
fn virtual_runs_record_into_a_named_data_dir_and_workers_check_usage() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("quick.asl.json");
    std::fs::write(&def, r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#).unwrap();
    let data = dir.path().join("data");
    let out = Command::new(BIN).args(["run", "--time-scale", "0", "--name", "v1", "--data-dir"]).arg(&data).arg(&def).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "SUCCEEDED");
    let store = Store::open(&data).unwrap();
    let row = store.execution("arn:aws:states:us-east-1:123456789012:execution:quick:v1").unwrap().expect("recorded");
    assert_eq!(row.status, "SUCCEEDED");
    assert_eq!(row.stop_ms.unwrap() - row.start_ms, 3_600_000, "virtual time passed the whole wait");
    assert_eq!(store.journal(&row.arn).unwrap().len(), 1, "one timer firing");

    let bad = Command::new(BIN).args(["worker", "--activity", "a", "--command", "", "--data-dir"]).arg(&data).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = Command::new(BIN).args(["worker", "--activity", "a b", "--command", "cat", "--data-dir"]).arg(&data).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}

// ---------------------------------------------------------------------------------------
// Redrive
// ---------------------------------------------------------------------------------------

/// A Parallel whose first branch passes at once and whose two others wait for activities.
const TRIO: &str = r#"{"StartAt":"Prepare","States":{
  "Prepare":{"Type":"Pass","Result":{"n":1},"Next":"P"},
  "P":{"Type":"Parallel","End":true,"Branches":[
    {"StartAt":"Quick","States":{"Quick":{"Type":"Pass","Result":"quick","End":true}}},
    {"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:b","End":true}}},
    {"StartAt":"C","States":{"C":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:c","End":true}}}
  ]}}}"#;

fn count(events: &[Value], kind: &str, name: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind && e["stateEnteredEventDetails"]["name"] == name).count()
}

fn stored_events(store: &Store, arn: &str) -> Vec<Value> {
    store.history(arn, None, 10_000, false).unwrap().into_iter().map(|(_, e)| e).collect()
}

/// A failed Parallel is redriven: the branch that succeeded keeps its result and is not run
/// again, the failed and the aborted ones run again; the redrive is durable (a fresh driver
/// replays it from the store) and the execution then ends with every branch's result.
#[test]
fn a_redrive_runs_again_only_what_did_not_succeed_and_survives_a_restart() {
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let machine = Arc::new(Machine::compile(&serde_json::from_str(TRIO).unwrap()).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:redrive";
    let (mut d, first) = Driver::start(&mut store, &owner, machine, info(arn, 3), TRIO, json!({}), None).unwrap();
    let task = |step: &stepwise::runtime::driver::Step, state: &str| {
        step.dispatch.iter().find(|x| x.request.state_name == state).map(|x| x.request.id).unwrap()
    };
    let (b, c) = (task(&first, "B"), task(&first, "C"));
    assert!(matches!(Driver::redrive(&mut store, &owner, arn, 1_000_100), Err(stepwise::runtime::driver::DriverError::NotRedrivable { .. })), "a running execution is not redriven");
    let failed = d.feed(&mut store, &owner, 1_000_200, Input::TaskFailed { task: b, error: "Review.Crashed".into(), cause: "first try".into() }, None).unwrap();
    assert_eq!(failed.outcome.map(|o| o.status.name()), Some("FAILED"));
    assert!(!d.is_pending(c), "the other branch was stopped");
    drop(d);

    let (_, step) = Driver::redrive(&mut store, &owner, arn, 1_000_300).unwrap();
    let row = store.execution(arn).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.redrive_count, row.redrive_ms), ("RUNNING", 1, Some(1_000_300)));
    assert_eq!(row.error, None);
    let again: Vec<&str> = step.dispatch.iter().map(|x| x.request.state_name.as_str()).collect();
    assert_eq!(again, ["B", "C"], "the failed and the aborted branch run again, not the one that succeeded");
    let events = stored_events(&store, arn);
    assert_ids_dense(&events);
    let redriven = events.iter().find(|e| e["type"] == "ExecutionRedriven").expect("ExecutionRedriven");
    assert_eq!(redriven["executionRedrivenEventDetails"]["redriveCount"], 1);
    assert_eq!(count(&events, "PassStateEntered", "Prepare"), 1, "what succeeded before the failed state is not run again");
    assert_eq!(count(&events, "ParallelStateEntered", "P"), 2, "the failed state is entered again");
    assert_eq!(count(&events, "PassStateEntered", "Quick"), 1);
    assert_eq!(count(&events, "TaskStateEntered", "B"), 2);

    // The process "crashes": a fresh driver is rebuilt from the store, redrive included.
    let (mut d, resumed) = Driver::resume(&store, arn).unwrap();
    assert_eq!(resumed.replayed, 2, "the failure and the redrive");
    let (b2, c2) = (task(&step, "B"), task(&step, "C"));
    assert!(d.is_pending(b2) && d.is_pending(c2));
    d.feed(&mut store, &owner, 1_000_400, Input::TaskSucceeded { task: c2, output: json!("c") }, None).unwrap();
    let done = d.feed(&mut store, &owner, 1_000_500, Input::TaskSucceeded { task: b2, output: json!("b") }, None).unwrap();
    let outcome = done.outcome.expect("the execution ends");
    assert_eq!(outcome.status.name(), "SUCCEEDED");
    assert_eq!(outcome.output, Some(json!(["quick", "b", "c"])), "branch results in branch order, the kept one included");
    let row = store.execution(arn).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.redrive_count), ("SUCCEEDED", 1));
    // The monitor sees the redriven Parallel whole: the kept branch counts as done, and the
    // state's result is every branch's, each at its own place.
    let model = stepwise::monitor::ExecutionModel::from_events(&stored_events(&store, arn));
    assert_eq!(model.status_of("P"), stepwise::monitor::StateStatus::Succeeded);
    let progress = model.state("P").and_then(|v| v.children).expect("branch progress");
    assert_eq!((progress.total, progress.succeeded, progress.failed), (Some(3), 3, 0), "{progress:?}");
    let io = model.io_steps(&serde_json::from_str(TRIO).unwrap(), "P").expect("I/O of P");
    assert_eq!(io.output().value(), Some(&json!(["quick", "b", "c"])), "{:?}", io.notes());
    let stepwise::monitor::io::IoSteps::JsonPath(steps) = &io else { panic!("JSONPath steps: {io:?}") };
    assert_eq!(steps.result.value(), Some(&json!(["quick", "b", "c"])), "the branch results, recomputed: {:?}", io.notes());
    assert!(io.notes().is_empty(), "{:?}", io.notes());
    assert!(matches!(Driver::redrive(&mut store, &owner, arn, 1_000_600), Err(stepwise::runtime::driver::DriverError::NotRedrivable { .. })), "a succeeded execution is not redriven");
    let resumed = Driver::resume(&store, arn).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(resumed.contains("not running"), "{resumed}");
}

/// Through the service (what `stepwise serve` and the window call): an aborted execution
/// goes on from its Wait, can be aborted and redriven again, and what cannot be redriven
/// says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_execution_is_redriven_from_the_state_it_stopped_in() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let def = r#"{"StartAt":"Hello","States":{"Hello":{"Type":"Pass","Next":"Nap"},"Nap":{"Type":"Wait","Seconds":600,"End":true}}}"#;
    let arn = start(&svc, "Napper", def, json!({"who": "me"})).await;
    let refused = svc.redrive_execution(&arn).await;
    assert!(matches!(&refused, Err(ServiceError::ExecutionNotRedrivable(why)) if why.contains("running")), "{refused:?}");
    for round in 1..=2u32 {
        svc.stop_execution(&arn, None, None).await.unwrap();
        assert_eq!(svc.describe_execution(&arn).await.unwrap().status, "ABORTED");
        svc.redrive_execution(&arn).await.unwrap();
        let d = svc.describe_execution(&arn).await.unwrap();
        assert_eq!((d.status.as_str(), d.redrive_count), ("RUNNING", round));
        assert!(d.redrive_date.is_some() && d.stop_date.is_none());
        let history = svc.full_history(&arn).await.unwrap();
        assert_ids_dense(&history);
        assert_eq!(count(&history, "PassStateEntered", "Hello"), 1);
        assert_eq!(count(&history, "WaitStateEntered", "Nap"), 1 + round as usize);
        let nap = history.iter().rev().find(|e| e["type"] == "WaitStateEntered").unwrap();
        assert_eq!(serde_json::from_str::<Value>(nap["stateEnteredEventDetails"]["input"].as_str().unwrap()).unwrap(), json!({"who": "me"}), "entered again with its input");
        // The monitor shows the execution running again and the Wait active, not cancelled.
        let model = stepwise::monitor::ExecutionModel::from_events(&history);
        assert_eq!(model.status(), stepwise::monitor::ExecutionStatus::Running);
        assert_eq!(model.status_of("Nap"), stepwise::monitor::StateStatus::Running);
        assert_eq!(model.status_of("Hello"), stepwise::monitor::StateStatus::Succeeded);
    }
    let missing = svc.redrive_execution("arn:aws:states:us-east-1:123456789012:execution:Napper:nope").await;
    assert!(matches!(missing, Err(ServiceError::ExecutionDoesNotExist(_))), "{missing:?}");
    svc.shutdown().await.unwrap();
}

/// An inline Map redriven after one iteration failed: the iteration that succeeded keeps its
/// result, the failed one and the one stopped with it run again with their own items.
#[test]
fn a_redriven_map_runs_again_only_the_iterations_that_did_not_succeed() {
    let def = r#"{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","End":true,
      "ItemProcessor":{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:w","End":true}}}}}}"#;
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let machine = Arc::new(Machine::compile(&serde_json::from_str(def).unwrap()).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:map-redrive";
    let (mut d, first) = Driver::start(&mut store, &owner, machine, info(arn, 5), def, json!({"items": ["a", "b", "c"]}), None).unwrap();
    let by_item = |step: &stepwise::runtime::driver::Step| -> Vec<(String, stepwise::engine::TaskId)> {
        step.dispatch.iter().map(|x| (x.request.payload.as_str().unwrap_or_default().to_owned(), x.request.id)).collect()
    };
    let tasks = by_item(&first);
    assert_eq!(tasks.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    d.feed(&mut store, &owner, 1_000_100, Input::TaskSucceeded { task: tasks[0].1, output: json!("A") }, None).unwrap();
    let failed = d.feed(&mut store, &owner, 1_000_200, Input::TaskFailed { task: tasks[1].1, error: "Bad".into(), cause: "b".into() }, None).unwrap();
    assert_eq!(failed.outcome.map(|o| o.status.name()), Some("FAILED"));
    drop(d);

    let (mut d, step) = Driver::redrive(&mut store, &owner, arn, 1_000_300).unwrap();
    let again = by_item(&step);
    assert_eq!(again.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["b", "c"], "only what did not succeed runs again");
    d.feed(&mut store, &owner, 1_000_400, Input::TaskSucceeded { task: again[1].1, output: json!("C") }, None).unwrap();
    let done = d.feed(&mut store, &owner, 1_000_500, Input::TaskSucceeded { task: again[0].1, output: json!("B") }, None).unwrap();
    assert_eq!(done.outcome.and_then(|o| o.output), Some(json!(["A", "B", "C"])));
    let events = stored_events(&store, arn);
    assert_ids_dense(&events);
    let started: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "MapIterationStarted")
        .map(|e| e["mapIterationStartedEventDetails"]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(started, [0, 1, 2, 1, 2]);
}

/// A timed-out execution redriven gets its TimeoutSeconds again, counted from the redrive.
#[test]
fn a_timed_out_execution_is_redriven_with_its_timeout_counted_again() {
    let def = r#"{"TimeoutSeconds":10,"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:w","End":true}}}"#;
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let machine = Arc::new(Machine::compile(&serde_json::from_str(def).unwrap()).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:late";
    let (mut d, first) = Driver::start(&mut store, &owner, machine, info(arn, 9), def, json!({}), None).unwrap();
    let (timer, at) = first.timers_started[0];
    assert_eq!(at, 1_000_000 + 10_000);
    let ended = d.feed(&mut store, &owner, at, Input::TimerFired { timer }, None).unwrap();
    assert_eq!(ended.outcome.map(|o| o.status.name()), Some("TIMED_OUT"));
    let (_, step) = Driver::redrive(&mut store, &owner, arn, 2_000_000).unwrap();
    assert_eq!(step.timers_started.iter().map(|(_, at)| *at).collect::<Vec<_>>(), [2_000_000 + 10_000]);
    assert_eq!(step.dispatch.iter().map(|x| x.request.state_name.as_str()).collect::<Vec<_>>(), ["Work"]);
    assert_eq!(store.timers(arn).unwrap().len(), 1, "the new deadline is stored");
}

/// A distributed Map that failed past its tolerated failures: a redrive runs again every
/// iteration that did not succeed, the tolerated ones included, and keeps only successes.
#[test]
fn a_redriven_distributed_map_reruns_its_tolerated_failures_too() {
    let def = r#"{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","End":true,"ToleratedFailureCount":1,
      "ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"Work",
        "States":{"Work":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:w","End":true}}}}}}"#;
    let mut store = Store::open_in_memory().unwrap();
    let owner = Owner::this_process();
    let machine = Arc::new(Machine::compile(&serde_json::from_str(def).unwrap()).unwrap());
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:tolerated";
    let (mut d, first) = Driver::start(&mut store, &owner, machine, info(arn, 6), def, json!({"items": ["a", "b", "c"]}), None).unwrap();
    let task = |step: &stepwise::runtime::driver::Step, item: &str| step.dispatch.iter().find(|x| x.request.payload == json!(item)).map(|x| x.request.id).unwrap();
    d.feed(&mut store, &owner, 1_000_100, Input::TaskFailed { task: task(&first, "a"), error: "Bad".into(), cause: "a".into() }, None).unwrap();
    d.feed(&mut store, &owner, 1_000_200, Input::TaskSucceeded { task: task(&first, "b"), output: json!("B") }, None).unwrap();
    let failed = d.feed(&mut store, &owner, 1_000_300, Input::TaskFailed { task: task(&first, "c"), error: "Bad".into(), cause: "c".into() }, None).unwrap();
    assert_eq!(failed.outcome.map(|o| o.error), Some(Some("States.ExceedToleratedFailureThreshold".into())));
    let (mut d, step) = Driver::redrive(&mut store, &owner, arn, 1_000_400).unwrap();
    let mut again: Vec<String> = step.dispatch.iter().map(|x| x.request.payload.as_str().unwrap_or_default().to_owned()).collect();
    again.sort();
    assert_eq!(again, ["a", "c"], "the tolerated failure runs again too; the success is kept");
    d.feed(&mut store, &owner, 1_000_500, Input::TaskSucceeded { task: task(&step, "a"), output: json!("A") }, None).unwrap();
    let done = d.feed(&mut store, &owner, 1_000_600, Input::TaskSucceeded { task: task(&step, "c"), output: json!("C") }, None).unwrap();
    assert_eq!(done.outcome.and_then(|o| o.output), Some(json!(["A", "B", "C"])));
}
