//! The interpreter on a virtual clock: retries and their back-off, catches, timeouts and
//! heartbeats, Parallel and Map, execution timeouts, stops, history shape and replay.

use std::sync::Arc;

use serde_json::{Value, json};
use stepwise::engine::{Command, Event, Execution, ExecutionInfo, Input, Machine, MachineType, Status, TaskRequest};
use stepwise::runtime::virtual_clock::{TaskAnswer, run_to_end};

const T0: i64 = 1_700_000_000_000;

fn info(seed: u64) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:test:run".into(),
        name: "run".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:test".into(),
        state_machine_name: "test".into(),
        role_arn: "arn:aws:iam::123456789012:role/test".into(),
        start_time: T0,
        machine_type: MachineType::Standard,
        seed,
        extra_context: None,
    }
}

fn start(definition: Value, input: Value) -> Execution {
    let machine = Arc::new(Machine::compile(&definition).expect("the definition compiles"));
    let mut e = Execution::new(machine, info(7));
    e.start(input);
    e
}

/// Runs to the end, answering tasks with `answer`; returns the execution and its events.
fn run(definition: Value, input: Value, mut answer: impl FnMut(&TaskRequest) -> TaskAnswer) -> (Execution, Vec<Event>) {
    let mut e = start(definition, input);
    let mut events = e.take_events();
    let _ = run_to_end(&mut e, &mut |r| answer(r));
    events.extend(e.take_events());
    (e, events)
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type).collect()
}

fn fail(error: &str) -> TaskAnswer {
    TaskAnswer::Failed(stepwise::engine::Failure::new(error, "it broke"))
}

#[test]
fn jsonpath_pipeline_shapes_data() {
    let def = json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass", "InputPath": "$.order", "Parameters": {"id.$": "$.id", "total.$": "States.MathAdd($.total, 5)"},
        "ResultPath": "$.shaped", "OutputPath": "$.shaped", "End": true}}});
    let (e, _) = run(def, json!({"order": {"id": "A1", "total": 10}}), |_| TaskAnswer::Unanswered);
    let o = e.outcome().unwrap();
    assert_eq!(o.status, Status::Succeeded);
    assert_eq!(o.output, Some(json!({"id": "A1", "total": 15})));
}

#[test]
fn retries_back_off_and_then_succeed() {
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}],
        "End": true}}});
    let mut calls = 0;
    let (e, events) = run(def, json!({}), |_| {
        calls += 1;
        if calls < 3 { fail("Flaky") } else { TaskAnswer::Succeeded(json!({"ok": true})) }
    });
    assert_eq!(e.outcome().unwrap().status, Status::Succeeded);
    let scheduled: Vec<i64> = events.iter().filter(|e| e.event_type == "TaskScheduled").map(|e| e.timestamp - T0).collect();
    assert_eq!(scheduled, vec![0, 2_000, 8_000], "2 s, then 2 × 3 = 6 s later");
}

#[test]
fn max_delay_caps_the_back_off_and_attempts_run_out() {
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 10, "MaxAttempts": 2, "MaxDelaySeconds": 15}],
        "End": true}}});
    let (e, events) = run(def, json!({}), |_| fail("Boom"));
    let o = e.outcome().unwrap();
    assert_eq!((o.status, o.error.as_deref()), (Status::Failed, Some("Boom")));
    let scheduled: Vec<i64> = events.iter().filter(|e| e.event_type == "TaskScheduled").map(|e| e.timestamp - T0).collect();
    assert_eq!(scheduled, vec![0, 10_000, 25_000]);
}

#[test]
fn catch_routes_the_error_output_through_result_path() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Catch": [{"ErrorEquals": ["Nope"], "Next": "Other"}, {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}],
              "End": true},
        "Other": {"Type": "Fail", "Error": "WrongCatcher"},
        "Handled": {"Type": "Succeed"}}});
    let (e, events) = run(def, json!({"keep": 1}), |_| fail("Boom"));
    let o = e.outcome().unwrap();
    assert_eq!(o.status, Status::Succeeded);
    assert_eq!(o.output, Some(json!({"keep": 1, "error": {"Error": "Boom", "Cause": "it broke"}})));
    assert!(types(&events).contains(&"TaskFailed"));
}

#[test]
fn runtime_errors_are_not_caught_by_states_all() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "InputPath": "$.missing", "Next": "Done"},
        "Done": {"Type": "Succeed"}}});
    let (e, _) = run(def, json!({}), |_| TaskAnswer::Unanswered);
    let o = e.outcome().unwrap();
    assert_eq!((o.status, o.error.as_deref()), (Status::Failed, Some("States.Runtime")));
    assert!(o.cause.as_deref().unwrap().starts_with("An error occurred while executing the state 'P' (entered at the event id #2)."));
}

#[test]
fn a_task_that_never_answers_times_out() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30,
              "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}], "End": true},
        "Late": {"Type": "Pass", "End": true}}});
    let (e, events) = run(def, json!({}), |_| TaskAnswer::Unanswered);
    assert_eq!(e.outcome().unwrap().status, Status::Succeeded);
    let timed_out = events.iter().find(|e| e.event_type == "TaskTimedOut").expect("TaskTimedOut");
    assert_eq!(timed_out.timestamp - T0, 30_000);
}

#[test]
fn an_activity_without_heartbeats_times_out() {
    let def = json!({"StartAt": "Review", "States": {"Review": {
        "Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review",
        "TimeoutSeconds": 600, "HeartbeatSeconds": 20, "End": true}}});
    let mut e = start(def, json!({"video": "a.mp4"}));
    let task = e.take_commands().into_iter().find_map(|c| match c {
        Command::RunTask(r) => {
            assert!(r.token.as_deref().is_some_and(|t| t.len() >= 32), "activities carry a task token");
            Some(r.id)
        }
        _ => None,
    }).expect("a task");
    e.handle(T0 + 1_000, Input::TaskStarted { task, worker: Some("w1".into()) });
    e.handle(T0 + 15_000, Input::TaskHeartbeat { task });
    // The heartbeat moved the deadline to 35 s: a timer at 21 s (the first deadline) is
    // cancelled, and the new one fires.
    let mut timers = e.pending_timers();
    timers.sort_by_key(|(_, at)| *at);
    let deadlines: Vec<i64> = timers.iter().map(|(_, at)| at - T0).collect();
    assert_eq!(deadlines, vec![35_000, 600_000], "the heartbeat deadline and the task's TimeoutSeconds");
    let (heartbeat, at) = timers[0];
    e.handle(at, Input::TimerFired { timer: heartbeat });
    let o = e.outcome().unwrap();
    // AWS reports a missed heartbeat as States.Timeout (recorded), so one catcher covers both.
    assert_eq!((o.status, o.error.as_deref()), (Status::Failed, Some("States.Timeout")));
    let t = types(&e.take_events());
    assert!(t.contains(&"ActivityStarted") && t.contains(&"ActivityTimedOut"), "{t:?}");
}

#[test]
fn a_failed_branch_fails_the_parallel_and_stops_the_others() {
    let def = json!({"StartAt": "Par", "States": {"Par": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
        {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "BranchBroke", "Cause": "b"}}}
    ]}}});
    let mut e = start(def, json!({}));
    let commands = e.take_commands();
    let task = commands.iter().find_map(|c| match c { Command::RunTask(r) => Some(r.id), _ => None }).expect("the slow task started");
    let o = e.outcome().expect("ended at once").clone();
    assert_eq!((o.status, o.error.as_deref()), (Status::Failed, Some("BranchBroke")));
    assert!(commands.contains(&Command::CancelTask(task)), "the other branch's task is cancelled: {commands:?}");
}

#[test]
fn map_respects_max_concurrency_and_keeps_item_order() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "ItemsPath": "$.items",
        "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
        "End": true}}});
    let mut e = start(def, json!({"items": [10, 20, 30, 40, 50]}));
    let mut outstanding: Vec<TaskRequest> = Vec::new();
    let mut most = 0;
    let mut now = T0;
    loop {
        for c in e.take_commands() {
            if let Command::RunTask(r) = c {
                outstanding.push(r);
            }
        }
        most = most.max(outstanding.len());
        if e.outcome().is_some() {
            break;
        }
        // Answer the newest first, so results arrive out of order.
        let r = outstanding.pop().expect("a task to answer");
        now += 1_000;
        let n = r.payload["n"].as_i64().unwrap();
        e.handle(now, Input::TaskSucceeded { task: r.id, output: json!(n * 2) });
    }
    assert_eq!(most, 2, "never more than MaxConcurrency iterations at once");
    assert_eq!(e.outcome().unwrap().output, Some(json!([20, 40, 60, 80, 100])));
}

#[test]
fn variables_assigned_in_an_iteration_stay_in_it() {
    let def = json!({"StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"outer": "kept"}, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {"Type": "Pass", "Assign": {"inner.$": "$"}, "Parameters": {"seen.$": "$outer"}, "End": true}}},
            "Next": "Read"},
        "Read": {"Type": "Pass", "Parameters": {"outer.$": "$outer", "results.$": "$"}, "End": true}}});
    let (e, _) = run(def, json!({"items": [1, 2]}), |_| TaskAnswer::Unanswered);
    let o = e.outcome().unwrap();
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.output, Some(json!({"outer": "kept", "results": [{"seen": "kept"}, {"seen": "kept"}]})));
}

#[test]
fn the_machine_timeout_ends_the_execution() {
    let def = json!({"TimeoutSeconds": 5, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let (e, events) = run(def, json!({}), |_| TaskAnswer::Unanswered);
    let o = e.outcome().unwrap();
    assert_eq!((o.status, o.error.as_deref()), (Status::TimedOut, Some("States.Timeout")));
    assert_eq!(events.last().unwrap().timestamp - T0, 5_000);
    assert_eq!(events.last().unwrap().event_type, "ExecutionTimedOut");
}

#[test]
fn stop_aborts_and_cancels_work() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}});
    let mut e = start(def, json!({}));
    let task = e.take_commands().into_iter().find_map(|c| match c { Command::RunTask(r) => Some(r.id), _ => None }).unwrap();
    e.handle(T0 + 10, Input::Stop { error: Some("User".into()), cause: Some("changed my mind".into()) });
    assert_eq!(e.outcome().unwrap().status, Status::Aborted);
    assert!(e.take_commands().contains(&Command::CancelTask(task)));
    // Late answers are ignored.
    e.handle(T0 + 20, Input::TaskSucceeded { task, output: json!(1) });
    assert_eq!(e.outcome().unwrap().status, Status::Aborted);
}

#[test]
fn history_ids_chain_and_match_aws_shape() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 3, "Next": "B"},
        "B": {"Type": "Succeed"}}});
    let (_, events) = run(def, json!({"x": 1}), |_| TaskAnswer::Unanswered);
    assert_eq!(types(&events), vec![
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered", "WaitStateExited",
        "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
        assert_eq!(e.previous_event_id, i as u64);
    }
    let entered = events[1].to_aws_json();
    assert_eq!(entered["stateEnteredEventDetails"]["name"], "A");
    assert_eq!(entered["stateEnteredEventDetails"]["input"], "{\"x\":1}", "inputs are JSON text, as AWS sends them");
    assert_eq!(events[4].timestamp - T0, 3_000);
}

#[test]
fn replaying_the_same_inputs_gives_the_same_history() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:a", "Next": "U"},
        "U": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()", "r.$": "States.MathRandom(1, 1000)"}, "End": true}}});
    let drive = || {
        let mut e = start(def.clone(), json!({}));
        let task = e.take_commands().into_iter().find_map(|c| match c { Command::RunTask(r) => Some(r), _ => None }).unwrap();
        e.handle(T0 + 5, Input::TaskStarted { task: task.id, worker: None });
        e.handle(T0 + 9, Input::TaskSucceeded { task: task.id, output: json!({"v": 1}) });
        (task.token, e.take_events(), e.outcome().unwrap().output.clone())
    };
    let (token_a, events_a, out_a) = drive();
    let (token_b, events_b, out_b) = drive();
    assert_eq!(token_a, token_b);
    assert_eq!(events_a, events_b);
    assert_eq!(out_a, out_b);
}

#[test]
fn oversized_results_fail_with_data_limit_exceeded() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}});
    let big = "x".repeat(300 * 1024);
    let (e, _) = run(def, json!({}), |_| TaskAnswer::Succeeded(json!({"blob": big})));
    let o = e.outcome().unwrap();
    assert_eq!((o.status, o.error.as_deref()), (Status::Failed, Some("States.DataLimitExceeded")));
}

#[test]
fn jsonata_states_evaluate_arguments_output_and_conditions() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Arguments": {"total": "{% $sum($states.input.prices) %}"},
              "Assign": {"charged": "{% $states.result.charged %}"},
              "Output": "{% $states.result %}", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $charged > 10 %}", "Next": "Big"}], "Default": "Small"},
        "Big": {"Type": "Pass", "Output": {"size": "big", "charged": "{% $charged %}"}, "End": true},
        "Small": {"Type": "Pass", "Output": {"size": "small"}, "End": true}}});
    let (e, _) = run(def, json!({"prices": [5, 7, 9]}), |r| TaskAnswer::Succeeded(json!({"charged": r.payload["total"].clone()})));
    let o = e.outcome().unwrap();
    assert_eq!(o.output, Some(json!({"size": "big", "charged": 21})), "{o:?}");
}

#[test]
fn a_distributed_map_reads_its_items_then_tolerates_failures() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON", "MaxItems": 4},
                       "Parameters": {"Bucket.$": "$.bucket", "Key": "items.json"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
        "ToleratedFailureCount": 1, "End": true}}});
    let (e, _) = run(def, json!({"bucket": "raw"}), |r| match r.kind {
        stepwise::engine::TaskKind::ItemReader => {
            assert_eq!(r.payload, json!({"Bucket": "raw", "Key": "items.json", "ReaderConfig": {"InputType": "JSON", "MaxItems": 4}}));
            TaskAnswer::Succeeded(json!([1, 2, 3, 4, 5, 6]))
        }
        _ if r.payload == json!(3) => fail("Odd"),
        _ => TaskAnswer::Succeeded(json!({"done": r.payload.clone()})),
    });
    let o = e.outcome().unwrap();
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let out = o.output.clone().unwrap();
    assert_eq!(out.as_array().unwrap().len(), 4, "MaxItems keeps the first four");
    assert_eq!(out[0], json!({"done": 1}));
    assert_eq!(out[2]["Error"], "Odd", "a tolerated failure stays in its slot");
}
