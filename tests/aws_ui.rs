//! The Run views on AWS: the window connected through `AwsBackend` to a `stepwise serve`
//! child (the AWS API on loopback), driven through egui_kittest — a dropped video goes up by
//! the AWS path and starts an execution, the review waits for a worker, taking it from the
//! Pending tasks panel (GetActivityTask) and approving it turns the state green. And the
//! backend alone across an endpoint that goes away and comes back: it says so, keeps the
//! history it read, and resumes with each event once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use stepwise::app::{DesignerApp, Mode, StartOptions};
use stepwise::backend::aws::{AwsBackend, AwsSfn, AwsTarget, Connection, ConnectionSettings};
use stepwise::backend::{Command, Update, event_id, event_type};
use stepwise::monitor::StateStatus;

const REVIEW: &str = "Review Video";
const ROLE: &str = "arn:aws:iam::000000000000:role/stepwise-ui";

/// A `stepwise serve` child; stopped (SIGTERM, then waited for) when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(data: &Path, port: u16) -> Serve {
        let config = data.join("serve-config");
        // A build directory shared between checkouts may hold another checkout's binary at
        // Cargo's path; STEPWISE_TEST_BIN names the one to run instead.
        let bin = std::env::var_os("STEPWISE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_stepwise").into());
        let mut child = Process::new(bin)
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data)
            .env("STEPWISE_CONFIG_DIR", &config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stepwise serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("serve printed its URL: {line:?}")).to_owned();
        Serve { child, url: url.trim_end_matches('/').to_owned() }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops it as a person would (SIGTERM), so the data directory is free for the next one.
    fn stop(mut self) {
        let _ = Process::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target(url: &str) -> AwsTarget {
    AwsTarget { profile: None, region: Some("us-east-1".into()), endpoint_url: Some(url.into()) }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// The buckets video-ingest reads and writes: on AWS they exist before anything runs.
fn create_buckets(url: &str) {
    block_on(async {
        let sfn = AwsSfn::connect(&target(url)).await.unwrap();
        for b in [stepwise::app::run::RAW_BUCKET, stepwise::app::run::APPROVED_BUCKET] {
            sfn.clients.s3.create_bucket().bucket(b).send().await.unwrap_or_else(|e| panic!("create {b}: {e:?}"));
        }
    });
}

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

struct Fixture {
    dir: tempfile::TempDir,
    serve: Serve,
}

/// The window as a person left it connected to AWS: `connection.json` names the serve child,
/// so the app starts the AWS backend, not the local engine.
fn fixture() -> (Fixture, Harness<'static, DesignerApp>) {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve-data"), 0);
    create_buckets(&serve.url);
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(crate::repo().join("workflows/video-ingest.asl.json"), &file).unwrap();
    let config = dir.path().join("config");
    ConnectionSettings { connection: Connection::Aws(target(&serve.url)), role_arn: Some(ROLE.into()) }.save(&config).unwrap();
    let app = DesignerApp::new(StartOptions { open: Some(file), config_dir: config, data_dir: None });
    let h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    let mut f = (Fixture { dir, serve }, h);
    step_until(&mut f.1, "the AWS connection", |a| a.run.is_connected());
    f
}

fn step_until(h: &mut Harness<'static, DesignerApp>, what: &str, done: impl Fn(&DesignerApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        h.run_steps(2);
        if done(h.state()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; status: {:?}", h.state().status);
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn review_status(app: &DesignerApp) -> Option<StateStatus> {
    app.run.watched.as_ref()?.model.state(REVIEW).map(|v| v.status)
}

#[test]
fn a_video_dropped_on_a_window_connected_to_aws_runs_through_review() {
    let (f, mut h) = fixture();
    let label = h.state().run.connection_label().unwrap().0;
    assert!(label.starts_with("AWS · ") && label.contains("us-east-1") && label.contains(&f.serve.url), "{label}");
    assert!(h.query_all_by_label_contains(&label).count() >= 2, "the toolbar button and the status line name the connection");

    // The drop goes up to the raw bucket by the AWS path and starts an execution there.
    let video = f.dir.path().join("clip.mp4");
    std::fs::write(&video, stepwise::runtime::video_check::sample::mp4(320, 240, 1.0)).unwrap();
    h.input_mut().dropped_files.push(Arc::new(Dropped(video.clone())));
    h.run_steps(1);
    assert_eq!(h.state().mode, Mode::Run);
    step_until(&mut h, "the execution to be listed", |a| a.run.executions.len() == 1);
    let arn = h.state().run.executions[0].execution_arn.clone();
    let described = block_on(async {
        let sfn = AwsSfn::connect(&target(&f.serve.url)).await.unwrap();
        let stored = sfn.clients.s3.head_object().bucket("stepwise-raw").key("clip.mp4").send().await.expect("the clip is in the raw bucket");
        assert_eq!(stored.content_length(), Some(std::fs::metadata(&video).unwrap().len() as i64));
        sfn.describe_execution(&arn).await.unwrap()
    });
    assert_eq!(described.input["detail"]["object"]["key"], "clip.mp4", "the execution's input is the object-created event");
    let name = h.state().run.executions[0].name.clone();
    assert!(h.query_all_by_label(&name).count() >= 1, "the execution is in the list");

    // The review waits for a worker, and the execution view says so.
    step_until(&mut h, "the review to wait for a worker", |a| review_status(a) == Some(StateStatus::WaitingForWorker));
    h.run_steps(2);
    h.get_by_label_contains("Review Video: waiting for a worker");

    // AWS lists no tasks: the panel's row is read from the running execution's history.
    step_until(&mut h, "the task in the Pending tasks panel", |a| a.run.pending.iter().any(|t| t.state_name == REVIEW && t.status == "scheduled"));
    h.get_by_label_contains("Pending tasks").click();
    h.run_steps(2);
    h.get_by_label("Take").click();
    step_until(&mut h, "the task to be taken (GetActivityTask)", |a| a.run.taken.is_some());
    let taken = h.state().run.taken.clone().unwrap();
    assert!(taken.task.input.contains("clip.mp4"), "{}", taken.task.input);
    assert_eq!(taken.task.execution_arn, arn, "the task AWS handed out is matched to its execution");
    step_until(&mut h, "the worker to be running it", |a| review_status(a) == Some(StateStatus::WorkerRunning));
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
    let w = h.state().run.watched.as_ref().unwrap();
    assert!(w.execution.output.is_some(), "the ended execution's description carries its output");
    step_until(&mut h, "the approved copy to be listed", |a| {
        a.run.buckets.get(stepwise::app::run::APPROVED_BUCKET).is_some_and(|b| b.objects.iter().any(|o| o.key == "clip.mp4"))
    });
}

#[test]
fn connect_to_aws_from_the_toolbar_replaces_the_local_engine_and_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve-data"), 0);
    let config = dir.path().join("config");
    let app = DesignerApp::new(StartOptions { open: None, config_dir: config.clone(), data_dir: Some(dir.path().join("data")) });
    let mut h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    step_until(&mut h, "the local engine", |a| a.run.is_connected());
    assert!(!h.state().run.is_aws());
    h.get_by_label_contains("🖥 Local engine ·").click();
    h.run_steps(2);
    h.get_by_label("Connect to AWS…").click();
    h.run_steps(2);
    h.get_by_label("Connect to AWS");
    {
        let c = &mut h.state_mut().connection;
        c.region = "us-east-1".into();
        c.endpoint = "not a url".into();
    }
    h.run_steps(2);
    h.get_by_label_contains("The endpoint URL starts with http://");
    {
        let c = &mut h.state_mut().connection;
        c.endpoint = serve.url.clone();
        c.role_arn = ROLE.into();
    }
    h.run_steps(2);
    h.get_by_label("Connect").click();
    step_until(&mut h, "the AWS connection", |a| a.run.is_aws() && a.run.is_connected());
    let saved = ConnectionSettings::load(&config).unwrap();
    assert_eq!(saved.connection, Connection::Aws(target(&serve.url)));
    assert_eq!(saved.role_arn.as_deref(), Some(ROLE));
    let text = std::fs::read_to_string(ConnectionSettings::path(&config)).unwrap();
    assert!(!text.to_ascii_lowercase().contains("secret") && !text.contains("stepwise-local"), "no credentials saved: {text}");
    drop(h);
    // The next window starts on AWS.
    let app = DesignerApp::new(StartOptions { open: None, config_dir: config, data_dir: Some(dir.path().join("data")) });
    assert!(app.run.is_aws());
}

/// A backend's updates as a test reads them: every update kept in `log`, each looked at once.
struct Feed {
    backend: stepwise::backend::Backend,
    log: Vec<Update>,
    next: usize,
}

impl Feed {
    /// Waits until `pick` finds an update not looked at yet.
    fn wait_for<T>(&mut self, limit: Duration, what: &str, pick: impl Fn(&Update) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            while self.next < self.log.len() {
                self.next += 1;
                if let Some(t) = pick(&self.log[self.next - 1]) {
                    return t;
                }
            }
            self.log.extend(self.backend.poll());
            if self.next == self.log.len() {
                assert!(Instant::now() < deadline, "no {what} within {limit:?}; updates: {:#?}", self.log.iter().map(short).collect::<Vec<_>>());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn short(u: &Update) -> String {
    match u {
        Update::Notice { text, error } => format!("Notice({error}): {text}"),
        Update::History { events, .. } => format!("History({} events)", events.len()),
        Update::Events { events, .. } => format!("Events({:?})", events.iter().map(event_id).collect::<Vec<_>>()),
        other => format!("{other:?}").chars().take(120).collect(),
    }
}

fn aws_backend(url: &str, config: &Path) -> Feed {
    Feed { backend: AwsBackend::start(target(url), config.to_owned(), Arc::new(|| {})), log: Vec::new(), next: 0 }
}

#[test]
fn an_unreachable_endpoint_is_said_with_what_to_do() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = tempfile::tempdir().unwrap();
    let mut feed = aws_backend(&format!("http://127.0.0.1:{port}"), config.path());
    let why = feed.wait_for(Duration::from_secs(90), "Unavailable", |u| match u {
        Update::Unavailable(why) => Some(why.clone()),
        _ => None,
    });
    assert!(why.starts_with("Cannot reach the endpoint") && why.contains("check the network connection"), "{why}");
}

/// Four seconds of waiting: time to take the endpoint away while the execution runs.
const WAITING: &str = r#"{"StartAt":"Pause","States":{"Pause":{"Type":"Wait","Seconds":4,"Next":"Done"},"Done":{"Type":"Pass","End":true}}}"#;

#[test]
fn a_watch_survives_the_endpoint_going_away_and_coming_back_with_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("serve-data"), dir.path().join("config"));
    ConnectionSettings { connection: Connection::Local, role_arn: Some(ROLE.into()) }.save(&config).unwrap();
    let serve = Serve::start(&data, 0);
    let (port, url) = (serve.port(), serve.url.clone());
    let mut feed = aws_backend(&url, &config);
    feed.wait_for(Duration::from_secs(30), "Connected", |u| matches!(u, Update::Connected { .. }).then_some(()));
    feed.backend.send(Command::Start { name: "fault-wait".into(), definition: WAITING.into(), input: r#"{"n":1}"#.into() });
    let arn = feed.wait_for(Duration::from_secs(30), "History", |u| match u {
        Update::History { execution, .. } => Some(execution.execution_arn.clone()),
        _ => None,
    });

    // The endpoint goes away mid-execution: a notice in words, and the loop goes on.
    serve.stop();
    let fault = feed.wait_for(Duration::from_secs(90), "a fault notice", |u| match u {
        Update::Notice { text, error: true } => Some(text.clone()),
        _ => None,
    });
    assert!(fault.contains("cannot reach") && fault.contains("tries again"), "{fault}");
    let before = feed.log.len();

    // It comes back (same port, same data: the engine takes its executions over).
    let _serve = Serve::start(&data, port);
    feed.wait_for(Duration::from_secs(120), "Connection back", |u| match u {
        Update::Notice { text, error: false } if text.starts_with("Connection back") => Some(()),
        _ => None,
    });
    feed.wait_for(Duration::from_secs(60), "the end event", |u| match u {
        Update::Events { events, .. } => events.iter().any(|e| event_type(e) == "ExecutionSucceeded").then_some(()),
        _ => None,
    });
    let ended = feed.wait_for(Duration::from_secs(30), "the ended description", |u| match u {
        Update::Execution(d) => Some(d.clone()),
        _ => None,
    });
    assert_eq!(ended.status, "SUCCEEDED");
    assert!(feed.log[before..].iter().filter(|u| matches!(u, Update::Notice { text, .. } if text.starts_with("Connection back"))).count() == 1, "said once");

    // Every event reached the views exactly once, in order, and they are the whole history.
    let mut shown = Vec::new();
    let mut histories = 0;
    for u in &feed.log {
        match u {
            Update::History { execution, events } if execution.execution_arn == arn => {
                histories += 1;
                shown.extend(events.iter().cloned());
            }
            Update::Events { arn: a, events } if *a == arn => shown.extend(events.iter().cloned()),
            _ => {}
        }
    }
    assert_eq!(histories, 1, "the whole history was sent once; the rest came as new events");
    let ids: Vec<u64> = shown.iter().map(event_id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "each event once, in order");
    let full = block_on(async {
        let sfn = AwsSfn::connect(&target(&url)).await.unwrap();
        let mut cursor = stepwise::backend::aws::HistoryCursor::new(&arn);
        let mut all = Vec::new();
        loop {
            let more = cursor.poll(&sfn).await.unwrap();
            if more.is_empty() {
                return all;
            }
            all.extend(more);
        }
    });
    assert_eq!(shown, full, "what the views got is the history as the endpoint has it");
}
