//! Watching a long execution: building the monitor model from 50,001 history events,
//! filtering them, and one whole window frame in the Run tab with a 30,001-event history open
//! (the table draws only the rows on screen).
//!
//! `cargo bench --bench monitor`. The run-and-watch bar: the history table stays fast with tens
//! of thousands of events (a frame well under the 16 ms of a 60 Hz display).

use criterion::{Criterion, criterion_group, criterion_main};
use eframe::egui;
use serde_json::{Value, json};
use stepwise::app::run::SideTab;
use stepwise::app::{DesignerApp, Mode, StartOptions};
use stepwise::backend::{ExecutionDescription, Update};
use stepwise::monitor::{ExecutionModel, FilterSpec};

/// `loops` × 10 events: a task that fails once and is retried, around a Pass.
fn history(loops: usize) -> Vec<Value> {
    let mut events = vec![json!({"id": 1, "previousEventId": 0, "timestamp": 1715680000.0, "type": "ExecutionStarted",
        "executionStartedEventDetails": {"input": "{}"}})];
    let mut push = |t: &str, key: Option<&str>, details: Value| {
        let id = events.len() as u64 + 1;
        let mut e = json!({"id": id, "previousEventId": id - 1, "timestamp": 1715680000.0 + id as f64 / 1000.0, "type": t});
        if let Some(k) = key {
            e[k] = details;
        }
        events.push(e);
    };
    for i in 0..loops {
        let name = format!("Step {}", i % 10);
        push("TaskStateEntered", Some("stateEnteredEventDetails"), json!({"name": name, "input": "{}"}));
        push("TaskScheduled", Some("taskScheduledEventDetails"), json!({"resource": "invoke", "parameters": "{}"}));
        push("TaskStarted", None, Value::Null);
        push("TaskFailed", Some("taskFailedEventDetails"), json!({"error": "E", "cause": "c"}));
        push("TaskScheduled", Some("taskScheduledEventDetails"), json!({"resource": "invoke", "parameters": "{}"}));
        push("TaskStarted", None, Value::Null);
        push("TaskSucceeded", Some("taskSucceededEventDetails"), json!({"output": "{}"}));
        push("TaskStateExited", Some("stateExitedEventDetails"), json!({"name": name, "output": "{}"}));
        push("PassStateEntered", Some("stateEnteredEventDetails"), json!({"name": "Between", "input": "{}"}));
        push("PassStateExited", Some("stateExitedEventDetails"), json!({"name": "Between", "output": "{}"}));
    }
    events
}

fn model_bench(c: &mut Criterion) {
    let events = history(5_000);
    let mut group = c.benchmark_group("monitor_50001_events");
    group.bench_function("build_model", |b| b.iter(|| ExecutionModel::from_events(std::hint::black_box(&events))));
    let model = ExecutionModel::from_events(&events);
    let failed = FilterSpec { failed_only: true, ..FilterSpec::default() };
    group.bench_function("filter_failed_only", |b| b.iter(|| model.filter(std::hint::black_box(&failed))));
    group.finish();
}

fn frame_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/workflows/video-ingest.asl.json"), &file).expect("copy");
    let mut app = DesignerApp::new(StartOptions { open: Some(file), config_dir: dir.path().join("config"), data_dir: None });
    app.mode = Mode::Run;
    let events = history(3_000);
    let execution = ExecutionDescription {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:video-ingest:long".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:video-ingest".into(),
        name: "long".into(),
        status: "RUNNING".into(),
        start_date: 1_715_680_000_000,
        stop_date: None,
        input: json!({}),
        output: None,
        error: None,
        cause: None,
        redrive_count: 0,
        redrive_date: None,
        redrive_status: None,
    };
    app.run.apply(Update::History { execution, events });
    app.run.side = SideTab::History;
    let ctx = egui::Context::default();
    let mut t = 0.0;
    let mut frame = |app: &mut DesignerApp| {
        t += 1.0 / 60.0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1500.0, 950.0))),
            time: Some(t),
            ..Default::default()
        };
        let out = ctx.run_ui(input, |ui| app.ui(ui));
        ctx.tessellate(out.shapes, out.pixels_per_point)
    };
    for _ in 0..5 {
        frame(&mut app);
    }
    c.bench_function("run_tab_frame_30001_event_history", |b| b.iter(|| frame(&mut app)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = model_bench, frame_bench
}
criterion_main!(benches);
