//! The Run half of the window: the open workflow deployed to a backend, its executions, the
//! execution view, pending tasks, uploads, buckets and worker profiles.
//!
//! Boundary: everything here talks to a [`Backend`] (commands out, updates in) and never to
//! the engine or store, so the same panels will watch AWS. Updates are drained at the start
//! of each frame; the backend's waker asks for that frame, so live events show at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use eframe::egui::{self, RichText};

use super::canvas::Canvas;
use super::document::Document;
use super::theme::Palette;
use crate::backend::{Backend, Command, ExecutionDescription, ObjectMeta, PendingTask, TakenTask, Update, Upload, WorkerProfile};
use crate::monitor::{ExecutionModel, FilterSpec};

/// The bucket files are uploaded to, and the one approved videos are copied to (the
/// video-ingest workflow's names).
pub const RAW_BUCKET: &str = "stepwise-raw";
pub const APPROVED_BUCKET: &str = "stepwise-approved";

/// Where the backend is.
#[derive(Clone, Debug, PartialEq)]
pub enum Connection {
    /// No backend (designer-only windows and tests).
    Off,
    Connecting,
    Connected(String),
    Unavailable(String),
}

/// The execution on show.
pub struct Watched {
    pub execution: ExecutionDescription,
    pub model: ExecutionModel,
}

/// The form of a task taken from the Pending tasks panel.
#[derive(Clone, Debug)]
pub struct TakenForm {
    pub task: TakenTask,
    pub output: String,
    pub error: String,
    pub cause: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideTab {
    History,
    StateIo,
    Timeline,
    Execution,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BottomTab {
    Pending,
    Uploads,
    Buckets,
}

/// A bucket's listing as last reported.
#[derive(Clone, Debug, Default)]
pub struct BucketView {
    pub objects: Vec<ObjectMeta>,
    pub error: Option<String>,
}

pub struct RunView {
    backend: Option<Backend>,
    /// Which engine the backend is: the local one or an AWS target.
    pub target: crate::backend::aws::Connection,
    /// The window's context, once the first frame has run: the backend's waker repaints it.
    repaint: Arc<OnceLock<egui::Context>>,
    pub connection: Connection,
    /// The open workflow's file name (or the name it will be saved under): the state
    /// machine's name comes from it.
    pub workflow_file: String,
    /// The open workflow as deployed: (state machine name, ARN).
    pub machine: Option<(String, String)>,
    /// The document revision and name last deployed.
    deployed: Option<(u64, String)>,
    pub executions: Vec<ExecutionDescription>,
    /// Only executions with this status (`None`: all).
    pub status_filter: Option<&'static str>,
    pub watched: Option<Watched>,
    pub pending: Vec<PendingTask>,
    pub taken: Option<TakenForm>,
    pub uploads: Vec<Upload>,
    pub buckets: BTreeMap<String, BucketView>,
    pub workers: Vec<WorkerProfile>,
    /// The MIME types uploads may have (empty: any).
    pub ingest_types: Vec<String>,
    pub settings_open: bool,
    pub canvas: Canvas,
    pub selected_state: Option<String>,
    pub side: SideTab,
    pub bottom: BottomTab,
    pub history_filter: FilterSpec,
    /// The rows the history filter keeps, for (events seen, filter): recomputed only when
    /// either changes, so a long history costs nothing per frame.
    pub(crate) history_rows: Option<(usize, FilterSpec, Vec<usize>)>,
    pub(crate) confirm_delete: Option<(String, String)>,
    pub(crate) fit_frames: u8,
    /// The "Start execution" window's input text, while it is open.
    pub start_input: Option<String>,
    pub(crate) workers_draft: Option<Vec<WorkerProfile>>,
    /// The accepted types being edited, one per line.
    pub(crate) types_draft: Option<String>,
    /// The last result worth a line in the status bar.
    pub notice: Option<(String, bool)>,
    /// Answers for the Deploy dialog and the Deployed panel, taken by them each frame.
    pub deployment: Vec<crate::backend::deploy_ops::DeploymentUpdate>,
}

impl Default for RunView {
    fn default() -> Self {
        RunView {
            backend: None,
            target: crate::backend::aws::Connection::Local,
            repaint: Arc::new(OnceLock::new()),
            connection: Connection::Off,
            workflow_file: String::new(),
            machine: None,
            deployed: None,
            executions: Vec::new(),
            status_filter: None,
            watched: None,
            pending: Vec::new(),
            taken: None,
            uploads: Vec::new(),
            buckets: BTreeMap::new(),
            workers: Vec::new(),
            ingest_types: Vec::new(),
            settings_open: false,
            canvas: Canvas::read_only("stepwise-run-canvas"),
            selected_state: None,
            side: SideTab::History,
            bottom: BottomTab::Pending,
            history_filter: FilterSpec::default(),
            history_rows: None,
            confirm_delete: None,
            fit_frames: 0,
            start_input: None,
            workers_draft: None,
            types_draft: None,
            notice: None,
            deployment: Vec::new(),
        }
    }
}

impl RunView {
    /// Starts the local backend on `data_dir` (settings and worker profiles in `config_dir`).
    pub fn start_local(data_dir: PathBuf, config_dir: PathBuf) -> RunView {
        let mut view = RunView::default();
        let waker = view.waker();
        view.backend = Some(crate::backend::local::LocalBackend::start(data_dir, config_dir, waker));
        view.connection = Connection::Connecting;
        view
    }

    /// Starts the AWS backend on `target` (settings and worker profiles in `config_dir`).
    pub fn start_aws(target: crate::backend::aws::AwsTarget, config_dir: PathBuf) -> RunView {
        let mut view = RunView::default();
        let waker = view.waker();
        view.backend = Some(crate::backend::aws::AwsBackend::start(target.clone(), config_dir, waker));
        view.target = crate::backend::aws::Connection::Aws(target);
        view.connection = Connection::Connecting;
        view
    }

    /// A waker that repaints the window once it has drawn its first frame.
    fn waker(&self) -> crate::backend::Waker {
        let slot = Arc::clone(&self.repaint);
        Arc::new(move || {
            if let Some(ctx) = slot.get() {
                ctx.request_repaint();
            }
        })
    }

    pub fn is_aws(&self) -> bool {
        matches!(self.target, crate::backend::aws::Connection::Aws(_))
    }

    /// Ends the backend without making the window wait: an AWS backend may be inside a call
    /// that takes seconds to fail, so it is let go on a thread of its own. A local one is
    /// ended here, because the next local backend needs its data directory free.
    pub fn shut_down(&mut self) {
        if let Some(b) = self.backend.take()
            && self.is_aws() {
                let _ = std::thread::Builder::new().name("stepwise-aws-close".into()).spawn(move || drop(b));
            }
    }

    pub fn send(&self, command: Command) {
        if let Some(b) = &self.backend {
            b.send(command);
        }
    }

    /// What the status line says about the connection.
    pub fn connection_label(&self) -> Option<(String, bool)> {
        match &self.connection {
            Connection::Off => None,
            Connection::Connecting if self.is_aws() => Some(("AWS · connecting…".into(), false)),
            Connection::Connecting => Some(("Local engine · starting…".into(), false)),
            Connection::Connected(label) => Some((label.clone(), false)),
            Connection::Unavailable(_) if self.is_aws() => Some(("AWS · not connected".into(), true)),
            Connection::Unavailable(_) => Some(("Local engine · not running".into(), true)),
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.connection, Connection::Connected(_))
    }

    /// Drains the backend's updates (start of every frame, in both modes).
    pub fn poll(&mut self, ctx: &egui::Context) {
        let _ = self.repaint.set(ctx.clone());
        let Some(backend) = &self.backend else { return };
        for update in backend.poll() {
            self.apply(update);
        }
    }

    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Connected { label } => self.connection = Connection::Connected(label),
            Update::Unavailable(why) => {
                self.notice = Some((why.clone(), true));
                self.connection = Connection::Unavailable(why);
            }
            Update::Executions { state_machine_arn, executions } => {
                if state_machine_arn.is_none() || state_machine_arn == self.machine.as_ref().map(|m| m.1.clone()) {
                    self.executions = executions;
                    // The list also tells the watched execution's status.
                    if let Some(w) = self.watched.as_mut()
                        && let Some(d) = self.executions.iter().find(|e| e.execution_arn == w.execution.execution_arn) {
                            // AWS's list has no input or output: those come with the watched
                            // execution's own description, so only the status is taken here.
                            w.execution.status = d.status.clone();
                            w.execution.stop_date = d.stop_date;
                        }
                }
            }
            Update::History { execution, events } => {
                self.history_rows = None;
                // The details panel appears with the first execution and takes its width over
                // a few frames: fit the diagram until it has settled.
                self.fit_frames = 4;
                self.watched = Some(Watched { execution, model: ExecutionModel::from_events(&events) });
            }
            Update::Events { arn, events } => {
                if let Some(w) = self.watched.as_mut().filter(|w| w.execution.execution_arn == arn) {
                    w.model.apply_all(&events);
                }
            }
            Update::Execution(d) => {
                if let Some(w) = self.watched.as_mut().filter(|w| w.execution.execution_arn == d.execution_arn) {
                    w.execution = d;
                }
            }
            Update::Pending(tasks) => self.pending = tasks,
            Update::Taken(task) => {
                self.bottom = BottomTab::Pending;
                self.taken = Some(TakenForm { task, output: "{}".into(), error: String::new(), cause: String::new() });
            }
            Update::TaskClosed { token } => {
                if self.taken.as_ref().is_some_and(|t| t.task.token == token) {
                    self.taken = None;
                }
            }
            Update::Deployed { name, arn } => {
                self.send(Command::ListExecutions { state_machine_arn: Some(arn.clone()) });
                self.machine = Some((name, arn));
            }
            Update::Uploads(list) => {
                // A new execution from an upload is the one a person wants to see.
                let newly_started = list.iter().find_map(|u| match &u.state {
                    crate::backend::UploadState::Started { execution_arn, .. }
                        if !self.uploads.iter().any(|o| o.id == u.id && matches!(o.state, crate::backend::UploadState::Started { .. })) =>
                    {
                        Some(execution_arn.clone())
                    }
                    _ => None,
                });
                self.uploads = list;
                if let Some(arn) = newly_started.filter(|_| self.watched.is_none()) {
                    self.watch(arn);
                }
            }
            Update::Bucket { bucket, objects, error } => {
                self.buckets.insert(bucket, BucketView { objects, error });
            }
            Update::Revealed { path } => {
                self.notice = Some((format!("Copied to {}", path.display()), false));
                open_with_platform(&path);
            }
            Update::WorkerProfiles(p) => self.workers = p,
            Update::IngestTypes(t) => self.ingest_types = t,
            Update::Notice { text, error } => self.notice = Some((text, error)),
            Update::Deployment(u) => self.deployment.push(u),
        }
    }

    pub fn watch(&mut self, arn: String) {
        self.selected_state = None;
        self.history_rows = None;
        self.send(Command::Watch(Some(arn)));
    }

    /// The state machine name the open workflow deploys as: its file name up to the first
    /// dot, with what AWS does not allow in names replaced.
    pub fn machine_name(&self) -> String {
        let title = &self.workflow_file;
        let stem = title.split('.').next().unwrap_or("");
        let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).take(80).collect();
        if name.is_empty() { "state-machine".into() } else { name }
    }

    /// Deploys the open workflow when it changed since the last deploy (and parses).
    pub fn deploy_if_changed(&mut self, doc: &Document) {
        let key = (doc.revision, self.machine_name());
        if !self.is_connected() || self.deployed.as_ref() == Some(&key) {
            return;
        }
        self.deployed = Some(key);
        if doc.error_count() > 0 || doc.text_error.is_some() {
            self.notice = Some(("The workflow has problems; fix them in Design to run it.".into(), true));
            return;
        }
        let definition = crate::asl::to_text(&doc.root, crate::asl::Format::Json);
        self.send(Command::Deploy { name: self.machine_name(), definition });
        self.send(Command::ListBucket(RAW_BUCKET.into()));
        self.send(Command::ListBucket(APPROVED_BUCKET.into()));
        self.send(Command::ListPending);
    }

    /// Uploads files to the raw bucket, one execution of the open workflow each.
    pub fn ingest(&mut self, paths: Vec<PathBuf>, doc: &Document) {
        if paths.is_empty() {
            return;
        }
        self.bottom = BottomTab::Uploads;
        match &self.connection {
            Connection::Connected(_) => {}
            Connection::Unavailable(why) => {
                self.notice = Some((format!("Cannot upload: {why}"), true));
                return;
            }
            _ => {
                let what = if self.is_aws() { "the connection to AWS is still being made" } else { "the local engine is still starting" };
                self.notice = Some((format!("Cannot upload yet: {what}. Drop the files again in a moment."), true));
                return;
            }
        }
        if doc.error_count() > 0 || doc.text_error.is_some() {
            self.notice = Some(("Cannot start executions: the workflow has problems. Fix them in Design, then drop the files again.".into(), true));
            return;
        }
        let definition = crate::asl::to_text(&doc.root, crate::asl::Format::Json);
        self.send(Command::Ingest { paths, bucket: RAW_BUCKET.into(), name: self.machine_name(), definition });
    }

    /// Opens the "Start execution" window with the workflow's sample input when there is one
    /// (`NAME.input.json` beside the file), else `{}`.
    pub fn open_start(&mut self, doc: &Document) {
        let sample = doc.path.as_ref().and_then(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            let stem = name.strip_suffix(".asl.json").or_else(|| name.strip_suffix(".asl.yaml")).or_else(|| name.split('.').next())?;
            std::fs::read_to_string(p.with_file_name(format!("{stem}.input.json"))).ok()
        });
        self.start_input = Some(sample.unwrap_or_else(|| "{}".into()));
    }

    fn start_window(&mut self, ctx: &egui::Context, doc: &Document) {
        let name = self.machine_name();
        let Some(input) = self.start_input.as_mut() else { return };
        let pal = Palette::of(ctx);
        let mut open = true;
        let mut start = false;
        egui::Window::new("Start execution").open(&mut open).default_width(460.0).show(ctx, |ui| {
            let place = if self.target == crate::backend::aws::Connection::Local { "the local engine" } else { "AWS (deployed first)" };
            ui.label(format!("Runs {name} on {place} with this input."));
            egui::ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
                ui.add(egui::TextEdit::multiline(input).code_editor().desired_rows(8).desired_width(f32::INFINITY).id_salt("start-input"));
            });
            let parsed = serde_json::from_str::<serde_json::Value>(input);
            ui.horizontal(|ui| {
                if ui.add_enabled(parsed.is_ok(), egui::Button::new("▶ Start")).clicked() {
                    start = true;
                }
                if let Err(e) = parsed {
                    ui.colored_label(pal.error, format!("Not JSON yet: {e}"));
                }
            });
        });
        if start {
            let input = self.start_input.take().unwrap_or_default();
            if doc.error_count() > 0 || doc.text_error.is_some() {
                self.notice = Some(("The workflow has problems; fix them in Design to run it.".into(), true));
            } else {
                let definition = crate::asl::to_text(&doc.root, crate::asl::Format::Json);
                self.send(Command::Start { name: self.machine_name(), definition, input });
            }
        }
        if !open {
            self.start_input = None;
        }
    }

    /// Asks for frames while something on show changes with time (running durations,
    /// countdowns, uploads).
    fn keep_ticking(&self, ctx: &egui::Context) {
        let running = self.executions.iter().any(|e| e.status == "RUNNING")
            || self.uploads.iter().any(|u| matches!(u.state, crate::backend::UploadState::Uploading { .. } | crate::backend::UploadState::Queued))
            || !self.pending.is_empty();
        if running {
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
    }

    /// The whole Run mode: executions (left), details (right), tasks/uploads/buckets
    /// (bottom), the execution's diagram (centre).
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: &Document) {
        self.deploy_if_changed(doc);
        self.keep_ticking(ui.ctx());
        if let Connection::Unavailable(why) = &self.connection {
            let pal = Palette::of(ui.ctx());
            let why = why.clone();
            let (heading, hint) = if self.is_aws() {
                ("Not connected to AWS", "The designer keeps working; fix the cause, then connect again from the connection button in the toolbar (or pick the local engine there).")
            } else {
                ("The local engine is not running", "The designer keeps working; restart Stepwise once the data directory is free, or connect to AWS from the toolbar.")
            };
            egui::CentralPanel::default().show(ui, |ui| {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.heading(RichText::new(heading).color(pal.error));
                    ui.add_space(8.0);
                    ui.label(why);
                    ui.add_space(8.0);
                    ui.label(RichText::new(hint).weak());
                });
            });
            return;
        }
        egui::Panel::left("executions").resizable(true).default_size(330.0).show(ui, |ui| {
            super::monitor::executions_ui(self, ui, doc);
        });
        egui::Panel::bottom("run-bottom").resizable(true).default_size(240.0).min_size(170.0).show(ui, |ui| {
            ui.horizontal(|ui| {
                let pending = format!("Pending tasks ({})", self.pending.len());
                ui.selectable_value(&mut self.bottom, BottomTab::Pending, pending);
                let active = self.uploads.iter().filter(|u| matches!(u.state, crate::backend::UploadState::Uploading { .. } | crate::backend::UploadState::Queued)).count();
                let uploads = if active > 0 { format!("Uploads ({active})") } else { "Uploads".into() };
                ui.selectable_value(&mut self.bottom, BottomTab::Uploads, uploads);
                ui.selectable_value(&mut self.bottom, BottomTab::Buckets, "Buckets");
            });
            ui.separator();
            match self.bottom {
                BottomTab::Pending => super::pending::pending_ui(self, ui),
                BottomTab::Uploads => super::ingest::uploads_ui(self, ui),
                BottomTab::Buckets => super::buckets::buckets_ui(self, ui),
            }
        });
        if self.watched.is_some() {
            egui::Panel::right("run-details").resizable(true).default_size(470.0).show(ui, |ui| {
                super::monitor::details_ui(self, ui, doc);
            });
        }
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| {
            super::monitor::execution_ui(self, ui, doc);
        });
        self.start_window(ui.ctx(), doc);
        super::buckets::confirm_delete_ui(self, ui.ctx());
    }
}

/// Opens a file with the platform's opener; failing that, the path stays in the status line.
fn open_with_platform(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener).arg(path).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn();
}
