//! The execution monitor's model over real histories: the example workflows run on the
//! engine with a virtual clock and their mocks, and an activity driven through the local
//! service by hand (waiting for a worker, taken, answered).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stepwise::engine::{Execution, ExecutionInfo, Failure, Machine, MachineType, TaskRequest};
use stepwise::monitor::{BarKind, ChildProgress, ExecutionModel, ExecutionStatus, FilterSpec, IoStage, IoSteps, StateStatus};
use stepwise::runtime::mocks::{MockConfig, MockResponse};
use stepwise::runtime::resolver::MockResolver;
use stepwise::runtime::service::{LocalService, ServiceConfig, StartExecution};
use stepwise::runtime::virtual_clock::{TaskAnswer, run_to_end};

const START: i64 = 1_715_680_000_000;

fn workflow(stem: &str, suffix: &str) -> Value {
    let path = crate::repo().join("workflows").join(format!("{stem}.{suffix}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn info(seed: u64) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:e".into(),
        name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        start_time: START,
        machine_type: MachineType::Standard,
        seed,
        extra_context: None,
    }
}

/// Runs `definition` to its end on a virtual clock; `answer` answers every task. Returns the
/// history in `GetExecutionHistory`'s shape.
fn run(definition: &Value, input: Value, answer: &mut dyn FnMut(&TaskRequest) -> TaskAnswer) -> Vec<Value> {
    let machine = Arc::new(Machine::compile(definition).unwrap());
    let mut exec = Execution::new(machine, info(7));
    exec.start(input);
    run_to_end(&mut exec, answer).unwrap();
    exec.take_events().iter().map(|e| e.to_aws_json()).collect()
}

fn mocked(mocks: &mut MockConfig, req: &TaskRequest) -> TaskAnswer {
    match mocks.next_response(&req.state_name) {
        Some(MockResponse::Return(v)) => TaskAnswer::Succeeded(v),
        Some(MockResponse::Throw(f)) => TaskAnswer::Failed(f),
        Some(MockResponse::Timeout { error }) => TaskAnswer::TimedOut(Failure::new(error, "")),
        None => TaskAnswer::Unanswered,
    }
}

/// A test case of an example workflow's mock file. The S3 copy of video-ingest is not mocked
/// there; it answers as S3 would.
fn run_case(stem: &str, case: &str) -> (Value, Vec<Value>) {
    let definition = workflow(stem, "asl.json");
    let path = crate::repo().join("workflows").join(format!("{stem}.mocks.json"));
    let mut mocks = MockConfig::load(&path, stem, case).unwrap();
    let events = run(&definition, workflow(stem, "input.json"), &mut |req| {
        if req.state_name == "Copy To Approved Bucket" {
            return TaskAnswer::Succeeded(json!({"CopyObjectResult": {"ETag": "\"9b2cf535f27731c974343645a3985328\""}}));
        }
        mocked(&mut mocks, req)
    });
    (definition, events)
}

fn statuses(model: &ExecutionModel, names: &[&str]) -> Vec<StateStatus> {
    names.iter().map(|n| model.status_of(n)).collect()
}

/// For every state entered, the output rebuilt through the processing steps is the one the
/// engine recorded, with nothing left to explain.
fn assert_io_steps_match(definition: &Value, model: &ExecutionModel) {
    let names: Vec<String> = model.states().map(|(n, _)| n.to_owned()).collect();
    for name in names {
        for entry in model.entries(&name).collect::<Vec<_>>() {
            let exit = model
                .events()
                .iter()
                .enumerate()
                .find(|(i, e)| model.event_entry(*i) == Some(entry) && e["type"].as_str().unwrap().ends_with("StateExited"));
            let Some((_, exit)) = exit else { continue };
            let recorded: Value = serde_json::from_str(exit["stateExitedEventDetails"]["output"].as_str().unwrap()).unwrap();
            let steps = model.io_steps_at(definition, entry).unwrap();
            assert!(steps.notes().is_empty(), "{name}: {:?}\n{steps:#?}", steps.notes());
            assert_eq!(steps.output(), &IoStage::Value(recorded), "{name}");
            if let IoSteps::JsonPath(s) = &steps {
                let input: Value = serde_json::from_str(
                    model.events()[model.events().iter().position(|e| e["stateEnteredEventDetails"]["name"] == name.as_str()).unwrap()]
                        ["stateEnteredEventDetails"]["input"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap();
                if model.entries(&name).count() == 1 {
                    assert_eq!(s.input, IoStage::Value(input), "{name}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------

const VIDEO_STATES: [&str; 6] = ["Extract Video Details", "Review Video", "Check Verdict", "Copy To Approved Bucket", "Video Published", "Video Rejected"];

#[test]
fn video_ingest_approved_succeeds_state_by_state() {
    let (definition, events) = run_case("video-ingest", "HappyPath");
    let model = ExecutionModel::from_events(&events);
    use StateStatus::*;
    assert_eq!(statuses(&model, &VIDEO_STATES), [Succeeded, Succeeded, Succeeded, Succeeded, Succeeded, NotReached]);
    assert_eq!(model.status(), ExecutionStatus::Succeeded);
    assert_eq!(model.last_event_id(), events.len() as u64);
    let review = model.state("Review Video").unwrap();
    assert_eq!((review.timeout_seconds, review.heartbeat_seconds, review.attempts), (Some(1800), Some(300), 1));
    assert_eq!(review.entered_at, Some(START));
    assert_eq!(model.output().unwrap()["review"]["verdict"], "APPROVED");
    assert_eq!(model.input().unwrap()["detail"]["object"]["key"], "videos/clip.mp4");
    assert_io_steps_match(&definition, &model);
    let Some(IoSteps::JsonPath(review)) = model.io_steps(&definition, "Review Video") else { panic!("JSONPath steps") };
    assert_eq!(review.after_parameters, IoStage::Value(json!({"bucket": "stepwise-raw", "key": "videos/clip.mp4", "size": 123456})));
    assert_eq!(review.result.value().unwrap()["verdict"], "APPROVED");
    assert_eq!(review.after_result_path.value().unwrap()["review"]["verdict"], "APPROVED");
}

#[test]
fn video_ingest_rejected_fails_in_the_fail_state() {
    let (definition, events) = run_case("video-ingest", "Rejected");
    let model = ExecutionModel::from_events(&events);
    use StateStatus::*;
    assert_eq!(statuses(&model, &VIDEO_STATES), [Succeeded, Succeeded, Succeeded, NotReached, NotReached, Failed]);
    assert_eq!(model.status(), ExecutionStatus::Failed);
    assert_eq!(model.error(), Some("VideoRejected"));
    assert_eq!(model.cause(), Some("The reviewer did not approve this video."));
    assert!(model.ended_at().is_some());
    assert_io_steps_match(&definition, &model);
}

#[test]
fn a_caught_failure_is_caught_and_the_handler_runs() {
    let (definition, events) = run_case("video-ingest", "ReviewErrored");
    let model = ExecutionModel::from_events(&events);
    assert_eq!(model.status_of("Review Video"), StateStatus::Caught);
    assert_eq!(model.state("Review Video").unwrap().last_error.as_ref().unwrap().0, "ReviewToolCrashed");
    assert_eq!(model.status_of("Review Errored"), StateStatus::Succeeded);
    assert_eq!(model.status_of("Review Timed Out"), StateStatus::NotReached);
    assert_eq!(model.status_of("Review Failed"), StateStatus::Failed);
    assert_io_steps_match(&definition, &model);
    let Some(IoSteps::JsonPath(review)) = model.io_steps(&definition, "Review Video") else { panic!("JSONPath steps") };
    assert_eq!(review.result.value().unwrap()["Error"], "ReviewToolCrashed");
}

#[test]
fn retries_show_as_retrying_with_attempts_and_backoff_bars() {
    let (definition, events) = run_case("order-processing", "ReserveThrottledThenSucceeds");
    // Event by event, as a watcher sees them arrive.
    let mut model = ExecutionModel::new();
    let mut seen = Vec::new();
    for e in &events {
        model.apply(e);
        let s = model.status_of("Reserve Inventory");
        if seen.last() != Some(&s) {
            seen.push(s);
        }
    }
    use StateStatus::*;
    assert_eq!(seen, [NotReached, Running, Retrying, Running, Succeeded]);
    let reserve = model.state("Reserve Inventory").unwrap();
    assert_eq!(reserve.attempts, 2);
    assert_eq!(reserve.last_error.as_ref().unwrap().0, "Lambda.TooManyRequestsException");
    assert_eq!(model.status(), ExecutionStatus::Succeeded);
    let bars: Vec<_> = model.gantt().into_iter().filter(|b| &*b.state == "Reserve Inventory").collect();
    let kinds: Vec<BarKind> = bars.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, [BarKind::Run, BarKind::Attempt(1), BarKind::Backoff, BarKind::Attempt(2)]);
    let backoff = &bars[2];
    assert_eq!(backoff.end.unwrap() - backoff.start, 2000, "IntervalSeconds 2");
    assert_io_steps_match(&definition, &model);

    // Six attempts, then the Catch.
    let (definition, events) = run_case("order-processing", "PaymentDeclined");
    let model = ExecutionModel::from_events(&events);
    let charge = model.state("Charge Payment").unwrap();
    assert_eq!((charge.status, charge.attempts, charge.entries), (Caught, 6, 1));
    let backoffs = model.gantt().iter().filter(|b| &*b.state == "Charge Payment" && b.kind == BarKind::Backoff).count();
    assert_eq!(backoffs, 5);
    assert_eq!(model.status_of("Release Inventory"), Succeeded);
    assert_eq!(model.status_of("Order Failed"), Failed);
    assert_eq!(model.status(), ExecutionStatus::Failed);
    assert_io_steps_match(&definition, &model);
}

#[test]
fn a_map_counts_its_iterations() {
    let (definition, events) = run_case("media-pipeline", "HappyPath");
    let mut model = ExecutionModel::new();
    let mut running_seen = false;
    for e in &events {
        model.apply(e);
        if model.status_of("Process Segments") == StateStatus::Running && model.status_of("Transcode Segment") == StateStatus::Running {
            running_seen = true;
        }
    }
    assert!(running_seen, "the Map and its iterations run together");
    let map = model.state("Process Segments").unwrap();
    assert_eq!(map.status, StateStatus::Succeeded);
    assert_eq!(map.children, Some(ChildProgress { total: Some(3), started: 3, succeeded: 3, failed: 0 }));
    let transcode = model.state("Transcode Segment").unwrap();
    assert_eq!((transcode.status, transcode.entries), (StateStatus::Succeeded, 3));
    assert_eq!(model.gantt().iter().filter(|b| &*b.state == "Transcode Segment" && b.kind == BarKind::Run).count(), 3);
    // Every event of an iteration belongs to its Transcode Segment entry.
    let in_transcode = model.filter(&FilterSpec { state: Some("Transcode Segment".into()), ..FilterSpec::default() });
    assert_eq!(in_transcode.len(), 3 * 5, "entered, scheduled, started, succeeded, exited per iteration");
    assert_io_steps_match(&definition, &model);
    let Some(IoSteps::JsonPath(steps)) = model.io_steps(&definition, "Process Segments") else { panic!("JSONPath steps") };
    assert_eq!(steps.result.value().unwrap().as_array().unwrap().len(), 3);
}

#[test]
fn a_failed_branch_fails_the_parallel_and_cancels_its_sibling() {
    let definition = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 60, "End": true}}},
            {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}
        ], "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]},
        "Handled": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}
    }});
    let events = run(&definition, json!({"x": 1}), &mut |_| TaskAnswer::Failed(Failure::new("Boom", "it broke")));
    let model = ExecutionModel::from_events(&events);
    assert_eq!(model.status_of("Call"), StateStatus::Failed);
    assert_eq!(model.status_of("Slow"), StateStatus::Cancelled);
    assert_eq!(model.status_of("P"), StateStatus::Caught);
    assert_eq!(model.state("P").unwrap().children.unwrap().failed, 1);
    assert_eq!(model.status_of("Handled"), StateStatus::Succeeded);
    assert_eq!(model.status_of("Done"), StateStatus::NotReached);
    assert_eq!(model.status(), ExecutionStatus::Succeeded);

    let events = run(&definition, json!({"x": 1}), &mut |_| TaskAnswer::Succeeded(json!({"ok": true})));
    let model = ExecutionModel::from_events(&events);
    let p = model.state("P").unwrap();
    assert_eq!((p.status, p.children), (StateStatus::Succeeded, Some(ChildProgress { total: Some(2), started: 2, succeeded: 2, failed: 0 })));
    assert_io_steps_match(&definition, &model);
}

// ---------------------------------------------------------------------------------------
// The event table
// ---------------------------------------------------------------------------------------

#[test]
fn filters_run_over_fifty_thousand_events() {
    let mut events = vec![json!({"id": 1, "previousEventId": 0, "timestamp": 1715680000.0, "type": "ExecutionStarted",
        "executionStartedEventDetails": {"input": "{}"}})];
    let mut id = 1u64;
    let mut push = |events: &mut Vec<Value>, t: &str, details: Value| {
        id += 1;
        let mut e = json!({"id": id, "previousEventId": id - 1, "timestamp": 1715680000.0 + id as f64 / 1000.0, "type": t});
        if let Some((k, v)) = details.as_object().and_then(|d| d.iter().next()) {
            e[k] = v.clone();
        }
        events.push(e);
    };
    // 5,000 loops of 10 events: a task that fails once and is retried, around a Pass.
    for i in 0..5_000 {
        let name = format!("Step {}", i % 10);
        push(&mut events, "TaskStateEntered", json!({"stateEnteredEventDetails": {"name": name, "input": "{}"}}));
        push(&mut events, "TaskScheduled", json!({"taskScheduledEventDetails": {"resource": "invoke", "parameters": "{}"}}));
        push(&mut events, "TaskStarted", json!({}));
        push(&mut events, "TaskFailed", json!({"taskFailedEventDetails": {"error": "E", "cause": "c"}}));
        push(&mut events, "TaskScheduled", json!({"taskScheduledEventDetails": {"resource": "invoke", "parameters": "{}"}}));
        push(&mut events, "TaskStarted", json!({}));
        push(&mut events, "TaskSucceeded", json!({"taskSucceededEventDetails": {"output": "{}"}}));
        push(&mut events, "TaskStateExited", json!({"stateExitedEventDetails": {"name": name, "output": "{}"}}));
        push(&mut events, "PassStateEntered", json!({"stateEnteredEventDetails": {"name": "Between", "input": "{}"}}));
        push(&mut events, "PassStateExited", json!({"stateExitedEventDetails": {"name": "Between", "output": "{}"}}));
    }
    assert_eq!(events.len(), 50_001);
    let built = std::time::Instant::now();
    let model = ExecutionModel::from_events(&events);
    let build_time = built.elapsed();

    let t = std::time::Instant::now();
    let all = model.filter(&FilterSpec::default());
    let failed = model.filter(&FilterSpec { failed_only: true, ..FilterSpec::default() });
    let scheduled = model.filter(&FilterSpec { types: vec!["TaskScheduled".into(), "TaskStarted".into()], ..FilterSpec::default() });
    let step3 = model.filter(&FilterSpec { state: Some("Step 3".into()), ..FilterSpec::default() });
    let step3_failed = model.filter(&FilterSpec { state: Some("Step 3".into()), failed_only: true, ..FilterSpec::default() });
    let filter_time = t.elapsed();
    assert_eq!(all.len(), 50_001);
    assert_eq!(failed.len(), 5_000);
    assert!(failed.iter().all(|&i| events[i]["type"] == "TaskFailed"));
    assert_eq!(scheduled.len(), 20_000);
    assert_eq!(step3.len(), 500 * 8);
    assert_eq!(step3_failed.len(), 500);
    assert!(model.filter(&FilterSpec { state: Some("Nowhere".into()), ..FilterSpec::default() }).is_empty());
    let step = model.state("Step 3").unwrap();
    assert_eq!((step.status, step.entries, step.attempts), (StateStatus::Succeeded, 500, 2));
    assert_eq!(model.gantt().len(), 5_000 * 4 + 5_000, "per task entry Run, 2 attempts, 1 backoff; per Pass a Run");
    // Speed is measured by benches/monitor.rs; this only shows the figures of this build.
    eprintln!("50,001 events: model built in {build_time:?}, five filters in {filter_time:?}");
}

#[test]
fn bad_events_never_panic_and_duplicates_are_ignored() {
    let mut model = ExecutionModel::new();
    let garbage = [
        json!(null),
        json!([1, 2]),
        json!("text"),
        json!({}),
        json!({"id": "x", "type": 5}),
        json!({"id": 10, "previousEventId": 999, "type": "TaskScheduled", "timestamp": "not a time"}),
        json!({"id": 11, "previousEventId": 10, "type": "TaskStateExited", "stateExitedEventDetails": 3}),
        json!({"id": 12, "previousEventId": 11, "type": "MapIterationFailed", "mapIterationFailedEventDetails": {"index": -1}}),
        json!({"id": 13, "previousEventId": 12, "type": "PassStateEntered", "timestamp": f64::MAX}),
        json!({"id": 14, "previousEventId": 13, "type": "ExecutionFailed", "timestamp": "2024-05-14T09:30:00.250Z"}),
        json!({"id": 14, "type": "ExecutionSucceeded"}),
        json!({"id": 3, "type": "ExecutionSucceeded"}),
    ];
    model.apply_all(&garbage);
    assert_eq!(model.status(), ExecutionStatus::Failed, "the repeated and older ids are ignored");
    assert_eq!(model.last_event_id(), 14);
    assert_eq!(model.ended_at(), Some(1_715_679_000_250));
    assert_eq!(model.status_of(""), StateStatus::Failed);
    let _ = model.gantt();
    let _ = model.filter(&FilterSpec { failed_only: true, types: vec!["nothing".into()], state: Some(String::new()) });
    assert!(model.io_steps(&json!({"States": 1}), "").is_some());
    assert!(model.io_steps(&json!(null), "missing").is_none());

    // Timestamps: epoch seconds, epoch milliseconds, RFC 3339 text.
    for (ts, ms) in [(json!(1715680000.5), 1_715_680_000_500i64), (json!(1715680000500i64), 1_715_680_000_500), (json!("2024-05-14T09:46:40.5Z"), 1_715_680_000_500)] {
        let m = ExecutionModel::from_events(&[json!({"id": 1, "type": "ExecutionStarted", "timestamp": ts})]);
        assert_eq!(m.started_at(), Some(ms));
    }
}

// ---------------------------------------------------------------------------------------
// An activity through the local service
// ---------------------------------------------------------------------------------------

/// Fetches the events after the model's last one, as a window polling
/// `GetExecutionHistory` does.
async fn catch_up(svc: &LocalService, arn: &str, model: &mut ExecutionModel) {
    loop {
        let token = (model.last_event_id() > 0).then(|| model.last_event_id().to_string());
        let page = svc.get_execution_history(arn, 100, token.as_deref(), false).await.unwrap();
        model.apply_all(&page.events);
        if page.next_token.is_none() {
            return;
        }
    }
}

async fn poll_until(svc: &LocalService, arn: &str, model: &mut ExecutionModel, what: &str, until: impl Fn(&ExecutionModel) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        catch_up(svc, arn, model).await;
        if until(model) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {:?}", model.states().collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_waits_for_a_worker_then_runs_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let svc = LocalService::open(ServiceConfig { data_dir: dir.path().to_owned(), time_scale: 1.0, resolver: Arc::new(MockResolver::new()) })
        .await
        .unwrap();
    let activity = svc.create_activity("stepwise-video-review").await.unwrap();
    let definition = workflow("video-ingest", "asl.json");
    let sm = svc.create_state_machine("video-ingest", &definition.to_string(), MachineType::Standard).await.unwrap();
    let copy = json!({"CopyObjectResult": {"ETag": "\"e\""}});
    let arn = svc
        .start_execution(StartExecution {
            state_machine_arn: sm,
            input: workflow("video-ingest", "input.json"),
            task_config: Some(json!({"mockConfig": {"Copy To Approved Bucket": [{"Return": copy}]}})),
            ..StartExecution::default()
        })
        .await
        .unwrap()
        .execution_arn;

    let mut model = ExecutionModel::new();
    poll_until(&svc, &arn, &mut model, "scheduled", |m| m.status_of("Review Video") == StateStatus::WaitingForWorker).await;
    assert_eq!(model.status_of("Extract Video Details"), StateStatus::Succeeded);
    assert_eq!(model.status(), ExecutionStatus::Running);
    let waiting = model.gantt().into_iter().find(|b| b.kind == BarKind::WaitingForWorker).unwrap();
    assert_eq!(waiting.end, None, "still waiting");

    let task = svc.get_activity_task_within(&activity, Some("reviewer-1"), Duration::from_secs(10)).await.unwrap().expect("a task");
    poll_until(&svc, &arn, &mut model, "taken", |m| m.status_of("Review Video") == StateStatus::WorkerRunning).await;
    let review = model.state("Review Video").unwrap();
    assert_eq!(review.worker_name.as_deref(), Some("reviewer-1"));
    assert!(review.started_at.is_some() && review.last_heartbeat_at == review.started_at);

    svc.send_task_success(&task.task_token, r#"{"verdict": "APPROVED"}"#).await.unwrap();
    poll_until(&svc, &arn, &mut model, "ended", |m| m.status() != ExecutionStatus::Running).await;
    use StateStatus::*;
    assert_eq!(statuses(&model, &VIDEO_STATES), [Succeeded, Succeeded, Succeeded, Succeeded, Succeeded, NotReached]);
    assert_eq!(model.status(), ExecutionStatus::Succeeded);
    let kinds: Vec<BarKind> = model.gantt().iter().filter(|b| &*b.state == "Review Video").map(|b| b.kind).collect();
    assert_eq!(kinds, [BarKind::Run, BarKind::Attempt(1), BarKind::WaitingForWorker, BarKind::WorkerRunning]);
    let history = svc.full_history(&arn).await.unwrap();
    assert_eq!(model.events(), &history[..], "fetched page by page, nothing twice");
    assert_io_steps_match(&definition, &model);
    svc.shutdown().await.unwrap();
}

#[test]
fn a_failed_iteration_fails_the_map_and_cancels_the_others() {
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "Pick", "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "Call"}], "Default": "Sleep"},
            "Sleep": {"Type": "Wait", "Seconds": 60, "End": true},
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}
        }}}}});
    let events = run(&definition, json!({"items": [0, 1, 2]}), &mut |_| TaskAnswer::Failed(Failure::new("Boom", "it broke")));
    let model = ExecutionModel::from_events(&events);
    assert_eq!(model.status_of("Call"), StateStatus::Failed);
    assert_eq!(model.status_of("Sleep"), StateStatus::Cancelled);
    let sleep = model.entries("Sleep").collect::<Vec<_>>();
    assert_eq!(sleep.len(), 2);
    let m = model.state("M").unwrap();
    assert_eq!(m.status, StateStatus::Failed);
    assert_eq!(m.children, Some(ChildProgress { total: Some(3), started: 3, succeeded: 0, failed: 1 }));
    assert_eq!(model.status(), ExecutionStatus::Failed);
    assert_eq!(model.error(), Some("Boom"));
}

/// AWS chains an iteration's first state to its own `MapIterationStarted`, and iterations
/// may enter in any order.
#[test]
fn iterations_chained_the_aws_way_find_their_index() {
    let e = |id: u64, prev: u64, t: &str, details: Value| {
        let mut v = json!({"id": id, "previousEventId": prev, "timestamp": 1715680000.0 + id as f64, "type": t});
        if let Some((k, d)) = details.as_object().and_then(|d| d.iter().next()) {
            v[k] = d.clone();
        }
        v
    };
    let entered = |name: &str| json!({"stateEnteredEventDetails": {"name": name, "input": "1"}});
    let exited = |name: &str, out: &str| json!({"stateExitedEventDetails": {"name": name, "output": out}});
    let events = [
        e(1, 0, "ExecutionStarted", json!({"executionStartedEventDetails": {"input": "[1,2]"}})),
        e(2, 1, "MapStateEntered", entered("M")),
        e(3, 2, "MapStateStarted", json!({"mapStateStartedEventDetails": {"length": 2}})),
        e(4, 3, "MapIterationStarted", json!({"mapIterationStartedEventDetails": {"name": "M", "index": 0}})),
        e(5, 4, "MapIterationStarted", json!({"mapIterationStartedEventDetails": {"name": "M", "index": 1}})),
        e(6, 5, "PassStateEntered", entered("P")),
        e(7, 6, "PassStateExited", exited("P", "\"second\"")),
        e(8, 5, "MapIterationSucceeded", json!({"mapIterationSucceededEventDetails": {"name": "M", "index": 1}})),
        e(9, 4, "PassStateEntered", entered("P")),
    ];
    let model = ExecutionModel::from_events(&events);
    let p = model.entries("P").collect::<Vec<_>>();
    assert_eq!(model.entry(p[0]).unwrap().1.status, StateStatus::Succeeded, "iteration 1, done");
    assert_eq!(model.entry(p[1]).unwrap().1.status, StateStatus::Running, "iteration 0, running");
    assert_eq!(model.status_of("P"), StateStatus::Running);
    assert_eq!(model.state("M").unwrap().children, Some(ChildProgress { total: Some(2), started: 2, succeeded: 1, failed: 0 }));
    assert_eq!(model.event_state(8), Some("P"), "the last event belongs to iteration 0's P");
}
