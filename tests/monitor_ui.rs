//! The Run half of the window driven through egui_kittest with a real local engine: a video
//! dropped on the window starts an execution, its review activity waits for a worker, and
//! answering it from the Pending tasks panel moves the execution on.
//!
//! Background work runs on real threads, so each step waits (frames plus short sleeps) until
//! what it expects holds, with a time limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use stepwise::app::{DesignerApp, Mode, StartOptions};
use stepwise::backend::{VideoRules, WorkerKind, WorkerProfile, WorkerSettings};
use stepwise::monitor::StateStatus;

const REVIEW: &str = "Review Video";

/// A file dropped on the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// A small valid MP4 (320×240, one second), as the built-in video check reads them.
fn mp4_bytes() -> Vec<u8> {
    stepwise::runtime::video_check::sample::mp4(320, 240, 1.0)
}

struct Fixture {
    dir: tempfile::TempDir,
    data: PathBuf,
}

fn fixture() -> (Fixture, Harness<'static, DesignerApp>) {
    fixture_with(false)
}

/// `default_workers`: the config a fresh install has (the built-in video check answers the
/// review); otherwise the review waits for a person.
fn fixture_with(default_workers: bool) -> (Fixture, Harness<'static, DesignerApp>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(crate::repo().join("workflows/video-ingest.asl.json"), &file).unwrap();
    let (config, data) = (dir.path().join("config"), dir.path().join("data"));
    // No local worker may answer the review: the test answers it from the panel.
    let off = WorkerProfile {
        activity: "stepwise-video-review".into(),
        enabled: false,
        kind: WorkerKind::VideoCheck { rules: VideoRules::default() },
    };
    if !default_workers {
        WorkerSettings { workers: vec![off] }.save(&config).unwrap();
    }
    let app = DesignerApp::new(StartOptions { open: Some(file), config_dir: config, data_dir: Some(data.clone()) });
    let h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    let mut f = (Fixture { dir, data }, h);
    step_until(&mut f.1, "the local engine to start", |a| a.run.is_connected());
    f
}

fn step_until(h: &mut Harness<'static, DesignerApp>, what: &str, done: impl Fn(&DesignerApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.run_steps(2);
        if done(h.state()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; status: {:?}", h.state().status);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Drops a generated video on the window and waits for its execution to show in the list.
fn drop_video(f: &Fixture, h: &mut Harness<'static, DesignerApp>) -> String {
    let video = f.dir.path().join("clip.mp4");
    std::fs::write(&video, mp4_bytes()).unwrap();
    h.input_mut().dropped_files.push(Arc::new(Dropped(video)));
    h.run_steps(1);
    assert_eq!(h.state().mode, Mode::Run, "a drop switches to Run");
    step_until(h, "the execution to be listed", |a| a.run.executions.len() == 1);
    h.state().run.executions[0].execution_arn.clone()
}

fn review_status(app: &DesignerApp) -> Option<StateStatus> {
    app.run.watched.as_ref()?.model.state(REVIEW).map(|v| v.status)
}

#[test]
fn a_dropped_video_starts_an_execution() {
    let (f, mut h) = fixture();
    let arn = drop_video(&f, &mut h);
    let name = h.state().run.executions[0].name.clone();
    // In the list, and in the execution view's header (a new upload's execution is shown).
    assert!(h.query_all_by_label(&name).count() >= 1);
    let store = stepwise::store::Store::open(&f.data).unwrap();
    let stored = store.executions(None, None).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].arn, arn);
    assert_eq!(stored[0].input["detail"]["object"]["key"], "clip.mp4");
    h.get_by_label_contains("Uploads").click();
    h.run_steps(2);
    h.get_by_label_contains("execution started");
}

#[test]
fn the_review_activity_shows_as_waiting_for_a_worker() {
    let (f, mut h) = fixture();
    drop_video(&f, &mut h);
    step_until(&mut h, "the review to wait for a worker", |a| review_status(a) == Some(StateStatus::WaitingForWorker));
    h.run_steps(2);
    h.get_by_label_contains("Review Video: waiting for a worker");
    step_until(&mut h, "the task in the Pending tasks panel", |a| a.run.pending.iter().any(|t| t.state_name == REVIEW && t.status == "scheduled"));
    h.get_by_label_contains("Pending tasks").click();
    h.run_steps(2);
    h.get_by_label("Take");
}

#[test]
fn answering_the_review_from_the_pending_panel_turns_it_green() {
    let (f, mut h) = fixture();
    drop_video(&f, &mut h);
    step_until(&mut h, "the task in the Pending tasks panel", |a| a.run.pending.iter().any(|t| t.state_name == REVIEW && t.status == "scheduled"));
    h.get_by_label_contains("Pending tasks").click();
    h.run_steps(2);
    h.get_by_label("Take").click();
    step_until(&mut h, "the task to be taken", |a| a.run.taken.is_some());
    step_until(&mut h, "a worker to be running it", |a| review_status(a) == Some(StateStatus::WorkerRunning));
    let taken = h.state().run.taken.clone().unwrap();
    assert!(taken.task.input.contains("clip.mp4"), "{}", taken.task.input);
    h.state_mut().run.taken.as_mut().unwrap().output = r#"{"verdict":"APPROVED"}"#.into();
    h.run_steps(2);
    h.get_by_label("✔ Send success").click();
    step_until(&mut h, "the review to succeed", |a| review_status(a) == Some(StateStatus::Succeeded));
    h.run_steps(2);
    let app = h.state();
    let green = stepwise::app::theme::succeeded(&stepwise::app::theme::Palette::new(true));
    assert_eq!(app.run.canvas.status_colour(&app.doc, REVIEW), Some(green), "the node is drawn in the succeeded colour");
    assert!(app.run.taken.is_none(), "the answered task's form closes");
    step_until(&mut h, "the execution to succeed", |a| a.run.watched.as_ref().is_some_and(|w| w.execution.status == "SUCCEEDED"));
}

/// Events reach the views by push: each event of a watched execution arrives within 250 ms of
/// the engine recording it (measured on a Wait state whose end comes a second later).
#[test]
fn live_events_reach_the_view_within_250_ms() {
    use stepwise::backend::{Command, Update, UploadState, local::LocalBackend};
    let dir = tempfile::tempdir().unwrap();
    let (tx, wakes) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    let waker: stepwise::backend::Waker = Arc::new(move || {
        let _ = tx.lock().map(|t| t.send(()));
    });
    let backend = LocalBackend::start(dir.path().join("data"), dir.path().join("config"), waker);
    let file = dir.path().join("clip.mp4");
    std::fs::write(&file, mp4_bytes()).unwrap();
    let definition = r#"{"StartAt":"Pause","States":{"Pause":{"Type":"Wait","Seconds":1,"Next":"Done"},"Done":{"Type":"Succeed"}}}"#;
    backend.send(Command::Ingest { paths: vec![file], bucket: "stepwise-raw".into(), name: "latency".into(), definition: definition.into() });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pushed = Vec::new();
    let mut watching = false;
    while Instant::now() < deadline {
        let _ = wakes.recv_timeout(Duration::from_millis(100));
        for u in backend.poll() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
            match u {
                Update::Uploads(list) if !watching => {
                    if let Some(UploadState::Started { execution_arn, .. }) = list.first().map(|u| &u.state) {
                        backend.send(Command::Watch(Some(execution_arn.clone())));
                        watching = true;
                    }
                }
                Update::Events { events, .. } => {
                    for e in events {
                        let at = stepwise::monitor::timestamp_ms(&e["timestamp"]).unwrap();
                        pushed.push((e["type"].as_str().unwrap_or("").to_string(), now - at));
                    }
                }
                _ => {}
            }
        }
        if pushed.iter().any(|(t, _)| t == "ExecutionSucceeded") {
            break;
        }
    }
    assert!(pushed.iter().any(|(t, _)| t == "WaitStateExited"), "the Wait's end was pushed: {pushed:?}");
    let worst = pushed.iter().map(|(_, ms)| *ms).max().unwrap();
    eprintln!("pushed events, ms from record to the view: {pushed:?}");
    assert!(worst < 250, "an event took {worst} ms to reach the view: {pushed:?}");
}

/// A 30,001-event history opens in the table and filters (benches/monitor.rs measures the
/// frame time).
#[test]
fn a_long_history_opens_and_filters() {
    use stepwise::app::run::SideTab;
    use stepwise::backend::{ExecutionDescription, Update};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(crate::repo().join("workflows/video-ingest.asl.json"), &file).unwrap();
    let mut app = DesignerApp::new(StartOptions { open: Some(file), config_dir: dir.path().join("config"), data_dir: None });
    app.mode = Mode::Run;
    let mut events = vec![serde_json::json!({"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": 1700000000.0,
        "executionStartedEventDetails": {"input": "{}"}})];
    for i in 0..15_000u64 {
        let id = 2 + i * 2;
        let t = 1700000000.0 + i as f64 * 0.001;
        events.push(serde_json::json!({"id": id, "previousEventId": id - 1, "type": "PassStateEntered", "timestamp": t,
            "stateEnteredEventDetails": {"name": "Extract Video Details", "input": "{}"}}));
        events.push(serde_json::json!({"id": id + 1, "previousEventId": id, "type": "PassStateExited", "timestamp": t,
            "stateExitedEventDetails": {"name": "Extract Video Details", "output": "{}"}}));
    }
    let execution = ExecutionDescription {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:video-ingest:long".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:video-ingest".into(),
        name: "long".into(),
        status: "RUNNING".into(),
        start_date: 1_700_000_000_000,
        stop_date: None,
        input: serde_json::json!({}),
        output: None,
        error: None,
        cause: None,
        redrive_count: 0,
        redrive_date: None,
        redrive_status: None,
    };
    app.run.apply(Update::History { execution, events });
    app.run.side = SideTab::History;
    let mut h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    h.run_steps(3);
    let start = Instant::now();
    h.run_steps(20);
    let per_frame = start.elapsed() / 20;
    h.get_by_label("30001 of 30001 events");
    h.state_mut().run.history_filter.failed_only = true;
    h.run_steps(2);
    h.get_by_label("0 of 30001 events");
    // Speed is measured by benches/monitor.rs; this test checks that the table works at size.
    eprintln!("a frame with a 30,001-event history: {per_frame:?}");
}

/// Bad drops are refused one by one, each with its reason, and start nothing.
#[test]
fn bad_drops_say_why_per_file_and_start_nothing() {
    use stepwise::backend::UploadState;
    let (f, mut h) = fixture();
    let folder = f.dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    let empty = f.dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let missing = f.dir.path().join("gone.mp4");
    for p in [&folder, &empty, &missing] {
        h.input_mut().dropped_files.push(Arc::new(Dropped(p.clone())));
    }
    h.run_steps(1);
    step_until(&mut h, "three refusals", |a| a.run.uploads.iter().filter(|u| matches!(u.state, UploadState::Failed(_))).count() == 3);
    for u in &h.state().run.uploads {
        let UploadState::Failed(why) = &u.state else { unreachable!() };
        assert!(!why.is_empty(), "{u:?}");
    }
    h.get_by_label("Uploads").click();
    h.run_steps(2);
    assert_eq!(h.query_all_by_label_contains("✖").count(), 3, "one message per file");
    let store = stepwise::store::Store::open(&f.data).unwrap();
    assert!(store.executions(None, None).unwrap().is_empty());
}

/// On a fresh install the built-in video check answers the review: a dropped video runs to
/// the end, and the copy shows in the approved bucket's listing without asking.
#[test]
fn with_the_default_worker_a_dropped_video_runs_to_the_approved_bucket() {
    let (f, mut h) = fixture_with(true);
    drop_video(&f, &mut h);
    step_until(&mut h, "the execution to succeed", |a| a.run.watched.as_ref().is_some_and(|w| w.execution.status == "SUCCEEDED"));
    step_until(&mut h, "the approved bucket to list the copy", |a| {
        a.run.buckets.get(stepwise::app::run::APPROVED_BUCKET).is_some_and(|b| b.objects.iter().any(|o| o.key == "clip.mp4"))
    });
    assert_eq!(review_status(h.state()), Some(StateStatus::Succeeded));
}

/// A second window on a data directory another process owns says so, and its designer works.
#[test]
fn a_data_directory_in_use_is_said_clearly() {
    let (f, _first) = fixture();
    let file = f.dir.path().join("video-ingest.asl.json");
    let second = DesignerApp::new(StartOptions { open: Some(file), config_dir: f.dir.path().join("config2"), data_dir: Some(f.data.clone()) });
    let mut h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), second);
    step_until(&mut h, "the refusal", |a| matches!(a.run.connection, stepwise::app::run::Connection::Unavailable(_)));
    h.state_mut().mode = Mode::Run;
    h.run_steps(2);
    h.get_by_label("The local engine is not running");
    let stepwise::app::run::Connection::Unavailable(why) = h.state().run.connection.clone() else { unreachable!() };
    assert!(why.contains("STEPWISE_DATA_DIR"), "{why}");
    eprintln!("{why}");
}

/// Worker profiles are edited in Settings and saved in the config directory, where the local
/// workers are read from.
#[test]
fn settings_save_worker_profiles_to_the_config_dir() {
    let (f, mut h) = fixture();
    step_until(&mut h, "the profiles", |a| !a.run.workers.is_empty());
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Settings…").click();
    h.run_steps(2);
    h.get_by_label("Enabled").click();
    h.run_steps(1);
    h.get_by_label("Save").click();
    let config = f.dir.path().join("config");
    step_until(&mut h, "the saved profile", |_| WorkerSettings::load(&config).is_ok_and(|s| s.workers.first().is_some_and(|w| w.enabled)));
    step_until(&mut h, "the notice", |a| a.status.as_ref().is_some_and(|(m, _)| m.contains("worker profiles")));
}

/// What Settings saves loads again: a video check's rules hold decimals (0.1 s), which a
/// buffered serde read turns into maps with the crate's exact numbers.
#[test]
fn worker_profiles_with_video_rules_load_as_saved() {
    let dir = tempfile::tempdir().unwrap();
    let settings = WorkerSettings {
        workers: vec![
            WorkerProfile { activity: "review".into(), enabled: false, kind: WorkerKind::VideoCheck { rules: VideoRules::default() } },
            WorkerProfile { activity: "transcode".into(), enabled: true, kind: WorkerKind::Command { command: "ffmpeg -i -".into() } },
        ],
    };
    settings.save(dir.path()).unwrap();
    assert_eq!(WorkerSettings::load(dir.path()).unwrap(), settings);
    // Written by hand: defaults fill in, and a bad kind is an error that says what is allowed.
    std::fs::write(WorkerSettings::path(dir.path()), r#"{"workers":[{"activity":"a","kind":"videoCheck"}]}"#).unwrap();
    let loaded = WorkerSettings::load(dir.path()).unwrap();
    assert!(loaded.workers[0].enabled);
    assert_eq!(loaded.workers[0].kind, WorkerKind::VideoCheck { rules: VideoRules::default() });
    std::fs::write(WorkerSettings::path(dir.path()), r#"{"workers":[{"activity":"a","kind":"shell"}]}"#).unwrap();
    assert!(WorkerSettings::load(dir.path()).unwrap_err().contains("videoCheck"));
}

/// Stop, then Redrive from the execution view, on the local engine: the review waits for a
/// worker again (only it: the states before it are not run again), and answering it ends the
/// execution succeeded.
#[test]
fn a_stopped_execution_is_redriven_from_the_window() {
    let (f, mut h) = fixture();
    let arn = drop_video(&f, &mut h);
    step_until(&mut h, "the review to wait for a worker", |a| review_status(a) == Some(StateStatus::WaitingForWorker));
    h.get_by_label("⏹ Stop").click();
    step_until(&mut h, "the execution to be aborted", |a| a.run.watched.as_ref().is_some_and(|w| w.execution.status == "ABORTED"));
    assert_eq!(review_status(h.state()), Some(StateStatus::Cancelled));
    h.run_steps(2);
    h.get_by_label("↻ Redrive").click();
    step_until(&mut h, "the execution to run again", |a| a.run.watched.as_ref().is_some_and(|w| w.execution.status == "RUNNING"));
    step_until(&mut h, "the review to wait for a worker again", |a| review_status(a) == Some(StateStatus::WaitingForWorker));
    h.run_steps(2);
    h.get_by_label_contains("Review Video: waiting for a worker");
    step_until(&mut h, "the redriven task in the Pending tasks panel", |a| a.run.pending.iter().any(|t| t.state_name == REVIEW && t.status == "scheduled"));
    h.get_by_label_contains("Pending tasks").click();
    h.run_steps(2);
    h.get_by_label("Take").click();
    step_until(&mut h, "the task to be taken", |a| a.run.taken.is_some());
    h.state_mut().run.taken.as_mut().unwrap().output = r#"{"verdict":"APPROVED"}"#.into();
    h.run_steps(2);
    h.get_by_label("✔ Send success").click();
    step_until(&mut h, "the redriven execution to succeed", |a| a.run.watched.as_ref().is_some_and(|w| w.execution.status == "SUCCEEDED"));
    let store = stepwise::store::Store::open(&f.data).unwrap();
    let row = store.execution(&arn).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.redrive_count), ("SUCCEEDED", 1));
    let model = &h.state().run.watched.as_ref().unwrap().model;
    assert_eq!(model.status_of(REVIEW), StateStatus::Succeeded, "the redriven review, not the cancelled one, colours the state");
}
