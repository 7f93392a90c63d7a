//! The designer window: palette (left), canvas or Definition text (centre), inspector (right),
//! problems (bottom), menus and shortcuts. The only layer that draws.
//!
//! Flow of a frame: panels read the [`Document`] and push [`Command`]s; [`DesignerApp::apply`]
//! runs them at the end of the frame, the one place the document changes (and undo points are
//! made). File work (open, save, autosave, external changes) also happens here, on the UI
//! thread: it is small and local, and doing it in order keeps "nothing is lost" simple.

pub mod buckets;
pub mod canvas;
pub mod command;
pub mod connection;
pub mod deploy;
pub mod deployed;
pub mod document;
pub mod files;
pub mod ingest;
pub mod inspector;
pub mod monitor;
pub mod pending;
pub mod run;
pub mod settings;
pub mod text;
pub mod theme;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers, RichText};

use crate::asl::model::StateType;
use crate::asl::{Format, Severity};
use crate::diagram::LayoutFile;
pub use command::{Command, PaletteItem, Template};
pub use document::Document;
use files::{Recovery, Settings, Stamp, ThemeChoice};

/// The sample a newcomer sees first (a copy: the shipped file is never written).
const SAMPLE_NAME: &str = "video-ingest.asl.json";
const SAMPLE: &str = include_str!("../../workflows/video-ingest.asl.json");
const SAMPLE_LAYOUT: Option<&str> = None;

/// Unsaved work is copied to a recovery file this often.
const AUTOSAVE_EVERY: f64 = 3.0;
/// How often the open file is checked for changes made by other programs.
const STAMP_EVERY: f64 = 1.0;

/// The window's two halves: edit the workflow, or run it and watch its executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Design,
    Run,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Diagram,
    Definition,
}

/// Something that would replace the open document, waiting for "save or discard?".
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    New,
    Open(Option<PathBuf>),
    /// A deployed definition, opened as a new unsaved document named after its state machine.
    OpenDeployed { name: String, definition: String },
    Close,
}

/// How the window starts.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// The file to open; `None` opens a copy of the video-ingest sample.
    pub open: Option<PathBuf>,
    /// Settings and recovery files; `files::config_dir()` in the real app, a temporary
    /// directory in tests.
    pub config_dir: PathBuf,
    /// The local engine's data directory; `None` runs the designer without a backend.
    pub data_dir: Option<PathBuf>,
}

pub struct DesignerApp {
    pub mode: Mode,
    pub run: run::RunView,
    /// The toolbar's connection switch and the "Connect to AWS" window.
    pub connection: connection::ConnectionUi,
    pub doc: Document,
    pub selection: Vec<String>,
    pub tab: Tab,
    pub canvas: canvas::Canvas,
    inspector: inspector::Inspector,
    /// The last message for the status line, and whether it is an error.
    pub status: Option<(String, bool)>,
    pub settings: Settings,
    config: PathBuf,
    /// Recovery files found at start, offered for restoring.
    pub recoveries: Vec<(PathBuf, Recovery)>,
    pending: Option<Pending>,
    find: Option<String>,
    stamp: Option<Stamp>,
    /// The open file changed on disk since it was opened or saved.
    pub external_change: bool,
    last_stamp_check: f64,
    last_autosave: (f64, u64),
    allow_close: bool,
    commands: Vec<Command>,
    theme_applied: Option<ThemeChoice>,
    /// Suggested file name for the first Save As.
    name_hint: String,
    pub deploy: deploy::DeployDialog,
    pub deployed: deployed::DeployedPanel,
    pub cfn: deploy::CfnExport,
}

impl DesignerApp {
    pub fn new(options: StartOptions) -> DesignerApp {
        let settings = Settings::load(&options.config_dir);
        let recoveries = Recovery::list(&options.config_dir);
        let connection = connection::ConnectionUi::new(options.config_dir.clone(), options.data_dir.clone());
        let run = connection.start(&connection.saved());
        let mut app = DesignerApp {
            mode: Mode::Design,
            run,
            connection,
            doc: Document::new_untitled(),
            selection: Vec::new(),
            tab: Tab::Diagram,
            canvas: canvas::Canvas::default(),
            inspector: inspector::Inspector::default(),
            status: None,
            settings,
            config: options.config_dir,
            recoveries,
            pending: None,
            find: None,
            stamp: None,
            external_change: false,
            last_stamp_check: 0.0,
            last_autosave: (0.0, 0),
            allow_close: false,
            commands: Vec::new(),
            theme_applied: None,
            name_hint: "state-machine.asl.json".into(),
            deploy: deploy::DeployDialog::default(),
            deployed: deployed::DeployedPanel::default(),
            cfn: deploy::CfnExport::default(),
        };
        match options.open {
            Some(path) => app.open_path(&path),
            None => {
                let layout = SAMPLE_LAYOUT.and_then(|t| serde_json::from_str::<LayoutFile>(t).ok());
                app.doc = Document::from_text(SAMPLE, Format::Json, None, layout.as_ref());
                app.name_hint = SAMPLE_NAME.into();
                app.status = Some(("A copy of the video-ingest sample: Save As to keep your changes.".into(), false));
            }
        }
        app.canvas.fit_requested = true;
        app
    }

    /// Runs one command now (tests and the end of each frame).
    pub fn apply(&mut self, cmd: Command) {
        let rebuilds_selection = matches!(cmd, Command::Delete(_) | Command::Undo | Command::Redo | Command::SetText(_));
        match command::apply(&mut self.doc, cmd) {
            Ok(out) => {
                if let Some(s) = out.select {
                    self.selection = vec![s];
                }
                if let Some(m) = out.message {
                    self.status = Some((m, false));
                }
            }
            Err(reason) => self.status = Some((reason, true)),
        }
        if rebuilds_selection {
            let names = crate::asl::model::all_state_names(&self.doc.root);
            self.selection.retain(|s| names.contains(s));
        }
    }

    /// Replaces the backend: the old one is ended, the new one started, the choice saved.
    pub fn switch_connection(&mut self, to: crate::backend::aws::Connection) {
        self.connection.save(&to);
        self.deploy.forget_connection();
        self.run.shut_down();
        self.run = self.connection.start(&to);
        self.mode = Mode::Run;
    }

    /// Opens a file (after the unsaved-changes question has been answered).
    pub fn open_path(&mut self, path: &Path) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                self.status = Some((format!("Cannot open {}: {e}. Check the path and your permissions.", path.display()), true));
                return;
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            self.status = Some((format!("{} is not UTF-8 text; a state machine definition is JSON or YAML text.", path.display()), true));
            return;
        };
        let format = Format::from_path(path).unwrap_or_else(|| Format::sniff(&text));
        let (layout, layout_problem) = match LayoutFile::load_beside(path) {
            Ok(l) => (l, None),
            Err(e) => (None, Some(e)),
        };
        self.doc = Document::from_text(&text, format, Some(path.to_path_buf()), layout.as_ref());
        self.selection.clear();
        self.deploy.forget_document();
        self.stamp = Stamp::of(path);
        self.external_change = false;
        self.settings.remember(path);
        let _ = self.settings.save(&self.config);
        self.canvas.fit_requested = true;
        self.status = Some(match (&self.doc.text_error, layout_problem) {
            (Some(e), _) => (format!("{} does not parse yet: {} Fix it in the Definition tab.", path.display(), e.message), true),
            (None, Some(p)) => (p, true),
            (None, None) => (format!("Opened {}.", path.display()), false),
        });
        if self.doc.text_error.is_some() {
            self.tab = Tab::Definition;
        }
    }

    /// Saves to the document's path (atomically), with its layout beside it.
    pub fn save_to(&mut self, path: &Path) -> bool {
        // Save As with another extension writes that format (text that does not parse is
        // saved as typed, in whatever format it is).
        let format = Format::from_path(path).unwrap_or(self.doc.format);
        let reformat = format != self.doc.format && self.doc.text_error.is_none();
        let text = if reformat { crate::asl::to_text(&self.doc.root, format) } else { self.doc.text_to_save() };
        if let Err(e) = files::atomic_write(path, text.as_bytes()) {
            self.status = Some((e, true));
            return false;
        }
        if reformat {
            self.doc.format = format;
            self.doc.tree_changed();
        }
        let layout = self.doc.layout_file();
        if let Err(e) = files::atomic_write(&LayoutFile::path_for(path), layout.to_json().as_bytes()) {
            self.status = Some((format!("Saved the definition, but not its layout: {e}"), true));
        } else {
            self.status = Some((format!("Saved {}.", path.display()), false));
        }
        Recovery::remove(&self.config, self.doc.path.as_deref());
        self.doc.path = Some(path.to_path_buf());
        self.doc.saved_revision = self.doc.revision;
        self.stamp = Stamp::of(path);
        self.external_change = false;
        self.settings.remember(path);
        let _ = self.settings.save(&self.config);
        true
    }

    fn save(&mut self) -> bool {
        match self.doc.path.clone() {
            Some(p) => self.save_to(&p),
            None => self.save_as(),
        }
    }

    fn save_as(&mut self) -> bool {
        let dialog = rfd::FileDialog::new()
            .set_file_name(self.doc.path.as_ref().and_then(|p| p.file_name()).map_or(self.name_hint.clone(), |n| n.to_string_lossy().into_owned()))
            .add_filter("State machine (JSON)", &["json"])
            .add_filter("State machine (YAML)", &["yaml", "yml"]);
        match dialog.save_file() {
            Some(p) => self.save_to(&p),
            None => false,
        }
    }

    fn export(&mut self, png: bool) {
        let ext = if png { "png" } else { "svg" };
        let stem = self.doc.title().split('.').next().unwrap_or("diagram").to_string();
        let Some(path) = rfd::FileDialog::new().set_file_name(format!("{stem}.{ext}")).add_filter(ext, &[ext]).save_file() else { return };
        self.status = Some(match export_diagram(&self.doc, &path, png, self.settings.theme == ThemeChoice::Dark) {
            Ok(()) => (format!("Exported {}.", path.display()), false),
            Err(e) => (e, true),
        });
    }

    /// Runs an action that replaces the document, or asks first when there is unsaved work.
    fn request(&mut self, p: Pending) {
        if self.doc.is_dirty() {
            self.pending = Some(p);
        } else {
            self.proceed(p);
        }
    }

    fn proceed(&mut self, p: Pending) {
        match p {
            Pending::New => {
                Recovery::remove(&self.config, self.doc.path.as_deref());
                self.doc = Document::new_untitled();
                self.selection.clear();
                self.deploy.forget_document();
                self.stamp = None;
                self.name_hint = "state-machine.asl.json".into();
            }
            Pending::Open(path) => {
                let path = path.or_else(|| rfd::FileDialog::new().add_filter("State machine", &["json", "yaml", "yml"]).pick_file());
                if let Some(path) = path {
                    Recovery::remove(&self.config, self.doc.path.as_deref());
                    self.open_path(&path);
                }
            }
            Pending::OpenDeployed { name, definition } => {
                Recovery::remove(&self.config, self.doc.path.as_deref());
                self.open_deployed(&name, &definition);
            }
            Pending::Close => {
                Recovery::remove(&self.config, self.doc.path.as_deref());
                self.allow_close = true;
            }
        }
    }

    /// Writes the recovery copy when there is unsaved work that changed since the last copy.
    pub fn autosave(&mut self, now: f64) {
        if !self.doc.is_dirty() || self.last_autosave.1 == self.doc.revision || now - self.last_autosave.0 < AUTOSAVE_EVERY {
            return;
        }
        let r = Recovery {
            path: self.doc.path.clone(),
            json: self.doc.format == Format::Json,
            text: self.doc.text_to_save(),
            layout: self.doc.layout_file(),
            saved_at: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        if let Err(e) = r.write(&self.config) {
            self.status = Some((format!("Could not write the recovery copy: {e}"), true));
        }
        self.last_autosave = (now, self.doc.revision);
    }

    /// Restores a recovery file as unsaved work.
    pub fn restore(&mut self, index: usize) {
        if index >= self.recoveries.len() {
            return;
        }
        let (_, r) = self.recoveries.remove(index);
        self.doc = Document::from_text(&r.text, r.format(), r.path.clone(), Some(&r.layout));
        self.deploy.forget_document();
        // Restored work is unsaved until the person saves it.
        self.doc.revision = 1;
        self.doc.saved_revision = 0;
        self.stamp = r.path.as_deref().and_then(Stamp::of);
        self.selection.clear();
        self.canvas.fit_requested = true;
        self.status = Some(("Restored unsaved work. Save to keep it.".into(), false));
    }

    fn check_external_change(&mut self, now: f64) {
        if now - self.last_stamp_check < STAMP_EVERY {
            return;
        }
        self.last_stamp_check = now;
        if let Some(path) = &self.doc.path {
            let current = Stamp::of(path);
            if current.is_some() && current != self.stamp {
                self.external_change = true;
            }
        }
    }

    /// A deployed definition as a new, unsaved document titled by its state machine's name.
    pub fn open_deployed(&mut self, name: &str, definition: &str) {
        // Deployed definitions are stored compact: shown as the designer writes JSON.
        let text = serde_json::from_str::<serde_json::Value>(definition).map_or_else(|_| definition.to_owned(), |v| crate::asl::to_text(&v, Format::Json));
        self.doc = Document::from_text(&text, Format::Json, None, None);
        self.doc.name = Some(name.to_owned());
        self.deploy.forget_document();
        // Unsaved until the person saves it somewhere.
        self.doc.revision = 1;
        self.doc.saved_revision = 0;
        self.name_hint = format!("{name}.asl.json");
        self.selection.clear();
        self.stamp = None;
        self.external_change = false;
        self.canvas.fit_requested = true;
        self.mode = Mode::Design;
        self.status = Some((format!("Opened the deployed {name}: Save As to keep it in a file."), false));
    }

    /// Where deploys go: the connection's label while connected, and whether it is the local engine.
    fn deploy_target(&self) -> (Option<String>, bool) {
        let label = self.run.connection_label().filter(|_| self.run.is_connected()).map(|(l, _)| l);
        let local = label.as_deref().is_none_or(|l| l.starts_with("Local engine"));
        (label, local)
    }

    pub fn open_deploy_dialog(&mut self) {
        // One role per connection, shared with the Connect to AWS window and the Run tab's
        // starts: connection.json holds it.
        let role = Some(self.connection.role_arn.trim()).filter(|r| !r.is_empty()).map(str::to_owned);
        self.deploy.show(&self.run.machine_name(), role.as_deref());
    }

    pub fn open_deployed_panel(&mut self) {
        let cmd = self.deployed.show();
        self.run.send(crate::backend::Command::Deployment(cmd));
    }

    fn open_cfn_export(&mut self) {
        let stem = self.run.machine_name();
        self.cfn.show(&stem, &self.doc);
    }

    /// Answers for the Deploy dialog and the Deployed panel, and their windows.
    fn deployment_ui(&mut self, ctx: &egui::Context) {
        for u in std::mem::take(&mut self.run.deployment) {
            match self.deployed.apply(u) {
                Some(crate::backend::deploy_ops::DeploymentUpdate::Definition { name, definition, .. }) => self.request(Pending::OpenDeployed { name, definition }),
                Some(u) => {
                    let refresh = matches!(u, crate::backend::deploy_ops::DeploymentUpdate::Deployed(_)) && self.deployed.open;
                    self.deploy.apply(u, &self.doc);
                    if refresh {
                        let cmd = self.deployed.show();
                        self.run.send(crate::backend::Command::Deployment(cmd));
                    }
                }
                None => {}
            }
        }
        let (label, local) = self.deploy_target();
        let out = self.deploy.ui(ctx, &self.doc, label.as_deref(), local);
        if let Some(role) = out.remember_role
            && self.connection.role_arn.trim() != role {
                self.connection.role_arn = role;
                let target = self.run.target.clone();
                self.connection.save(&target);
            }
        if let Some(c) = out.command {
            self.run.send(crate::backend::Command::Deployment(c));
        }
        if let Some(c) = self.deployed.ui(ctx, label.as_deref()).command {
            self.run.send(crate::backend::Command::Deployment(c));
        }
        if self.cfn.ui(ctx) {
            self.export_cfn();
        }
    }

    fn export_cfn(&mut self) {
        let options = self.cfn.options();
        let dialog = rfd::FileDialog::new()
            .set_file_name(format!("{}.cfn.yaml", options.name))
            .add_filter("CloudFormation (YAML)", &["yaml", "yml"])
            .add_filter("CloudFormation (JSON)", &["json"]);
        let Some(path) = dialog.save_file() else { return };
        match deploy::export_cloudformation(&self.doc, &path, &options) {
            Ok(notes) => {
                self.status = Some((format!("Exported {}.", path.display()), false));
                self.cfn.error = None;
                self.cfn.done = Some((path.display().to_string(), notes));
            }
            Err(e) => {
                self.status = Some((e.clone(), true));
                self.cfn.error = Some(e);
            }
        }
    }

    fn selected_state(&self) -> Option<&str> {
        match self.selection.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// A palette click: the new state goes after the selected one (into its Next arrow), or
    /// below everything when nothing is selected.
    pub fn add_from_palette(&mut self, item: PaletteItem) {
        let doc = &self.doc;
        let after = self.selected_state().and_then(|s| doc.diagram.index_of(s));
        let (at, scope, on_edge) = match after {
            Some(i) => {
                let p = doc.positions.0[i];
                let edge = doc.diagram.edges.iter().position(|e| e.from == i && matches!(e.kind, crate::diagram::EdgeKind::Transition(crate::asl::model::TransitionKind::Next) | crate::diagram::EdgeKind::End));
                ([p[0] + 30.0, p[1] + 70.0], doc.diagram.nodes[i].scope.clone(), edge.and_then(|e| command::EdgeRef::of(doc, e)))
            }
            None => {
                let bottom = doc.frames.outer.iter().map(|r| r.max[1]).fold(0.0f32, f32::max);
                ([0.0, bottom + 60.0], String::new(), None)
            }
        };
        self.apply(Command::AddState { item, at, scope, on_edge });
    }

    /// The whole window's contents. eframe calls it each frame; tests call it through kittest.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if self.theme_applied != Some(self.settings.theme) {
            ctx.set_theme(match self.settings.theme {
                ThemeChoice::Dark => egui::Theme::Dark,
                ThemeChoice::Light => egui::Theme::Light,
            });
            self.theme_applied = Some(self.settings.theme);
        }
        let now = ctx.input(|i| i.time);
        // Remembered for the next start (written with the settings on exit).
        if let Some(r) = ctx.input(|i| i.viewport().inner_rect) {
            self.settings.window_size = Some([r.width(), r.height()]);
        }
        self.run.poll(&ctx);
        self.run.workflow_file = self.doc.path.as_ref().and_then(|p| p.file_name()).map_or_else(|| self.name_hint.clone(), |n| n.to_string_lossy().into_owned());
        let (dropped, hovering) = ingest::dropped_files(&ctx);
        if !dropped.is_empty() {
            self.mode = Mode::Run;
            self.run.ingest(dropped, &self.doc);
        }
        if hovering {
            ingest::hover_ui(&ctx, &self.run);
        }
        self.shortcuts(&ctx);
        self.menu_ui(ui);
        if let Some(c) = self.connection.window_ui(&ctx) {
            self.switch_connection(c);
        }
        self.status_ui(ui);
        // Settings open from the File menu in either mode.
        settings::workers_window(&mut self.run, &ctx);
        self.deployment_ui(&ctx);
        if self.mode == Mode::Run {
            self.run.ui(ui, &self.doc);
            if let Some(n) = self.run.notice.take() {
                self.status = Some(n);
            }
            self.dialogs_ui(&ctx);
            self.finish_frame(&ctx, now);
            return;
        }
        self.problems_ui(ui);
        self.palette_ui(ui);
        self.inspector_ui(ui);
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.add_space(6.0);
                ui.selectable_value(&mut self.tab, Tab::Diagram, "Diagram");
                ui.selectable_value(&mut self.tab, Tab::Definition, "Definition");
                if self.doc.text_error.is_some() {
                    ui.colored_label(theme::Palette::of(ui.ctx()).error, "⚠ the text does not parse; the diagram shows the last good version");
                }
            });
            match self.tab {
                Tab::Diagram => {
                    let out = self.canvas.ui(ui, &self.doc, &self.selection);
                    self.commands.extend(out.commands);
                    if let Some(sel) = out.select {
                        self.selection = sel;
                    }
                    if let Some(r) = out.refusal {
                        self.status = Some((r, true));
                    }
                }
                Tab::Definition => {
                    if let Some(t) = text::definition_ui(ui, &self.doc) {
                        self.commands.push(Command::SetText(t));
                    }
                }
            }
        });
        self.dialogs_ui(&ctx);
        for cmd in std::mem::take(&mut self.commands) {
            self.apply(cmd);
        }
        if let Some(n) = self.run.notice.take() {
            self.status = Some(n);
        }
        self.finish_frame(&ctx, now);
    }

    /// What every frame ends with, in either mode: autosave, the file watch, closing, title.
    fn finish_frame(&mut self, ctx: &egui::Context, now: f64) {
        self.autosave(now);
        self.check_external_change(now);
        // Closing with unsaved work asks first.
        if ctx.input(|i| i.viewport().close_requested()) && self.doc.is_dirty() && !self.allow_close {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.pending = Some(Pending::Close);
        }
        if self.allow_close {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        let title = format!("{}{} — Stepwise", if self.doc.is_dirty() { "● " } else { "" }, self.doc.title());
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(title));
        // Autosave and the file watch need a frame now and then even when nothing moves.
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let cmd = Modifiers::COMMAND;
        let shift_cmd = Modifiers::COMMAND | Modifiers::SHIFT;
        let press = |m: Modifiers, k: Key| ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(m, k)));
        if press(cmd, Key::S) {
            self.save();
        }
        if press(shift_cmd, Key::S) {
            self.save_as();
        }
        if press(cmd, Key::O) {
            self.request(Pending::Open(None));
        }
        if press(cmd, Key::N) {
            self.request(Pending::New);
        }
        if press(cmd, Key::F) {
            self.find = Some(String::new());
        }
        // Editing keys edit only in Design: in Run they would change a workflow nobody sees.
        if typing || self.mode != Mode::Design {
            return;
        }
        if press(shift_cmd, Key::Z) || press(cmd, Key::Y) {
            self.commands.push(Command::Redo);
        }
        if press(cmd, Key::Z) {
            self.commands.push(Command::Undo);
        }
        if press(cmd, Key::D) && !self.selection.is_empty() {
            self.commands.push(Command::Duplicate(self.selection.clone()));
        }
        if (press(Modifiers::NONE, Key::Delete) || press(Modifiers::NONE, Key::Backspace)) && !self.selection.is_empty() {
            self.commands.push(Command::Delete(self.selection.clone()));
        }
        if press(Modifiers::NONE, Key::F) {
            self.canvas.fit_requested = true;
        }
        if press(Modifiers::NONE, Key::F2)
            && let Some(s) = self.selected_state().map(str::to_string) {
                self.canvas.start_rename(&s);
            }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.selectable_value(&mut self.mode, Mode::Design, RichText::new("✏ Design").strong());
                ui.selectable_value(&mut self.mode, Mode::Run, RichText::new("▶ Run").strong());
                if let Some(c) = self.connection.toolbar_ui(ui, &self.run) {
                    self.switch_connection(c);
                }
                ui.separator();
                ui.menu_button("File", |ui| {
                    if ui.add(egui::Button::new("New").shortcut_text("Ctrl+N")).clicked() {
                        self.request(Pending::New);
                    }
                    if ui.add(egui::Button::new("Open…").shortcut_text("Ctrl+O")).clicked() {
                        self.request(Pending::Open(None));
                    }
                    ui.menu_button("Open Recent", |ui| {
                        if self.settings.recent.is_empty() {
                            ui.label("No recent files");
                        }
                        for p in self.settings.recent.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                self.request(Pending::Open(Some(p)));
                            }
                        }
                    });
                    ui.separator();
                    if ui.add(egui::Button::new("Save").shortcut_text("Ctrl+S")).clicked() {
                        self.save();
                    }
                    if ui.add(egui::Button::new("Save As…").shortcut_text("Ctrl+Shift+S")).clicked() {
                        self.save_as();
                    }
                    ui.menu_button("Export", |ui| {
                        if ui.button("Diagram as SVG…").clicked() {
                            self.export(false);
                        }
                        if ui.button("Diagram as PNG…").clicked() {
                            self.export(true);
                        }
                    });
                    if ui.button("Export CloudFormation…").clicked() {
                        self.open_cfn_export();
                    }
                    ui.separator();
                    if ui.button("Deploy…").clicked() {
                        self.open_deploy_dialog();
                    }
                    if ui.button("Deployed…").clicked() {
                        self.open_deployed_panel();
                    }
                    ui.separator();
                    if ui.button("Settings…").clicked() {
                        self.run.settings_open = true;
                    }
                    ui.separator();
                    if ui.button("Quit").clicked() {
                        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                });
                ui.menu_button("Edit", |ui| {
                    if ui.add_enabled(self.doc.can_undo(), egui::Button::new("Undo").shortcut_text("Ctrl+Z")).clicked() {
                        self.commands.push(Command::Undo);
                    }
                    if ui.add_enabled(self.doc.can_redo(), egui::Button::new("Redo").shortcut_text("Ctrl+Shift+Z")).clicked() {
                        self.commands.push(Command::Redo);
                    }
                    ui.separator();
                    let any = !self.selection.is_empty();
                    if ui.add_enabled(any, egui::Button::new("Delete").shortcut_text("Del")).clicked() {
                        self.commands.push(Command::Delete(self.selection.clone()));
                    }
                    if ui.add_enabled(any, egui::Button::new("Duplicate").shortcut_text("Ctrl+D")).clicked() {
                        self.commands.push(Command::Duplicate(self.selection.clone()));
                    }
                    if ui.add_enabled(self.selected_state().is_some(), egui::Button::new("Rename").shortcut_text("F2")).clicked()
                        && let Some(s) = self.selected_state().map(str::to_string) {
                            self.tab = Tab::Diagram;
                            self.canvas.start_rename(&s);
                        }
                    if let Some(s) = self.selected_state().map(str::to_string)
                        && self.doc.diagram.index_of(&s).is_some_and(|i| self.doc.diagram.nodes[i].branches > 0) {
                            let label = if self.doc.collapsed.contains(&s) { "Expand" } else { "Collapse" };
                            if ui.button(label).clicked() {
                                self.commands.push(Command::ToggleCollapse(s));
                            }
                        }
                    ui.separator();
                    if ui.add(egui::Button::new("Find state…").shortcut_text("Ctrl+F")).clicked() {
                        self.find = Some(String::new());
                    }
                });
                ui.menu_button("View", |ui| {
                    if ui.add(egui::Button::new("Fit").shortcut_text("F")).clicked() {
                        self.tab = Tab::Diagram;
                        self.canvas.fit_requested = true;
                    }
                    if ui.button("Auto layout").clicked() {
                        self.commands.push(Command::AutoLayout);
                        self.canvas.fit_requested = true;
                    }
                    ui.separator();
                    let mut t = self.settings.theme;
                    ui.radio_value(&mut t, ThemeChoice::Dark, "Dark theme");
                    ui.radio_value(&mut t, ThemeChoice::Light, "Light theme");
                    if t != self.settings.theme {
                        self.settings.theme = t;
                        let _ = self.settings.save(&self.config);
                    }
                    ui.separator();
                    let mut f = self.doc.format;
                    ui.radio_value(&mut f, Format::Json, "Definition as JSON");
                    ui.radio_value(&mut f, Format::Yaml, "Definition as YAML");
                    if f != self.doc.format && self.doc.text_error.is_none() {
                        self.doc.format = f;
                        self.doc.tree_changed();
                    }
                });
                ui.separator();
                if ui.button("🚀 Deploy…").on_hover_text("Check and deploy the open workflow to the current connection").clicked() {
                    self.open_deploy_dialog();
                }
                if ui.button("☰ Deployed").on_hover_text("State machines and activities on the current connection").clicked() {
                    self.open_deployed_panel();
                }
            });
        });
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                let pal = theme::Palette::of(ui.ctx());
                let errors = self.doc.error_count();
                let warnings = self.doc.diagnostics.len() - errors;
                if errors == 0 {
                    ui.colored_label(pal.accent(crate::diagram::NodeKind::State(StateType::Succeed)), "✔ valid");
                } else {
                    ui.colored_label(pal.error, format!("{errors} errors"));
                }
                if warnings > 0 {
                    ui.colored_label(pal.warning, format!("{warnings} warnings"));
                }
                ui.separator();
                ui.label(format!("{} states", self.doc.state_count));
                ui.separator();
                if let Some((label, bad)) = self.run.connection_label() {
                    if bad {
                        ui.colored_label(pal.error, label);
                    } else {
                        ui.label(RichText::new(label).weak());
                    }
                    ui.separator();
                }
                if let Some((m, err)) = &self.status {
                    if *err {
                        ui.colored_label(pal.error, m);
                    } else {
                        ui.label(m);
                    }
                }
            });
        });
    }

    fn problems_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("problems").resizable(true).default_size(130.0).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Problems");
                ui.label(RichText::new(format!("{}", self.doc.diagnostics.len() + self.deploy.remote_problems(&self.doc).len() + usize::from(self.doc.text_error.is_some()))).weak());
            });
            let pal = theme::Palette::of(ui.ctx());
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                if let Some(e) = &self.doc.text_error {
                    let at = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                    if ui.add(egui::Label::new(RichText::new(format!("✖ Definition text, {at}{}", e.message)).color(pal.error)).sense(egui::Sense::click())).clicked() {
                        self.tab = Tab::Definition;
                    }
                }
                // The last deploy check's problems (AWS's) stand beside the validator's.
                let remote = self.deploy.remote_problems(&self.doc);
                if self.doc.diagnostics.is_empty() && self.doc.text_error.is_none() && remote.is_empty() {
                    ui.label(RichText::new("No problems: the definition is valid.").weak());
                }
                for d in self.doc.diagnostics.iter().chain(remote.iter()) {
                    let state = self.doc.state_of_pointer(&d.location);
                    let (icon, colour) = if d.severity == Severity::Error { ("✖", pal.error) } else { ("⚠", pal.warning) };
                    let place = state.clone().unwrap_or_else(|| if d.location.is_empty() { "machine".into() } else { d.location.clone() });
                    let text = RichText::new(format!("{icon} {place}: {}", d.message)).color(colour);
                    if ui.add(egui::Label::new(text).sense(egui::Sense::click())).on_hover_text(d.code).clicked()
                        && let Some(s) = state {
                            self.selection = vec![s.clone()];
                            self.canvas.center_on = Some(s);
                            self.tab = Tab::Diagram;
                        }
                }
            });
        });
    }

    fn palette_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("palette").resizable(true).default_size(170.0).show(ui, |ui| {
            ui.add_space(4.0);
            ui.strong("States");
            ui.label(RichText::new("Drag onto the canvas or an arrow; click to add after the selection.").weak().small());
            let pal = theme::Palette::of(ui.ctx());
            let mut clicked = None;
            let items: Vec<(PaletteItem, String)> = StateType::ALL
                .iter()
                .map(|t| (PaletteItem::Type(*t), t.name().to_string()))
                .chain(std::iter::once((PaletteItem::Type(StateType::Task), String::new())))
                .chain(Template::ALL.iter().map(|t| (PaletteItem::Template(*t), t.label().to_string())))
                .collect();
            for (item, label) in items {
                if label.is_empty() {
                    ui.add_space(6.0);
                    ui.strong("Task templates");
                    continue;
                }
                let kind = match item {
                    PaletteItem::Type(t) => crate::diagram::NodeKind::State(t),
                    PaletteItem::Template(_) => crate::diagram::NodeKind::State(StateType::Task),
                };
                // One widget both clicks (add after the selection) and drags (drop where wanted).
                let resp = ui
                    .horizontal(|ui| {
                        ui.label(RichText::new(theme::icon(kind)).color(pal.accent(kind)));
                        ui.add(egui::Button::new(label.as_str()).min_size(egui::vec2(120.0, 0.0)).sense(egui::Sense::click_and_drag()))
                    })
                    .inner;
                if resp.drag_started() {
                    resp.dnd_set_drag_payload(item);
                }
                if resp.dragged() {
                    ui.ctx().set_cursor_icon(egui::CursorIcon::Grabbing);
                }
                if resp.clicked() {
                    clicked = Some(item);
                }
            }
            if let Some(item) = clicked {
                self.add_from_palette(item);
            }
        });
    }

    fn inspector_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::right("inspector").resizable(true).default_size(300.0).show(ui, |ui| {
            ui.add_space(4.0);
            let mut cmds = Vec::new();
            self.inspector.ui(ui, &self.doc, &self.selection, &mut cmds);
            self.commands.extend(cmds);
        });
    }

    fn dialogs_ui(&mut self, ctx: &egui::Context) {
        if let Some(p) = self.pending.clone() {
            let what = match &p {
                Pending::New => "starting a new workflow",
                Pending::Open(_) | Pending::OpenDeployed { .. } => "opening another file",
                Pending::Close => "closing",
            };
            let mut choice = None;
            egui::Modal::new(egui::Id::new("unsaved")).show(ctx, |ui| {
                ui.heading("Unsaved changes");
                ui.label(format!("{} has changes that are not saved. Save them before {what}?", self.doc.title()));
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        choice = Some(0);
                    }
                    if ui.button("Discard changes").clicked() {
                        choice = Some(1);
                    }
                    if ui.button("Cancel").clicked() {
                        choice = Some(2);
                    }
                });
            });
            match choice {
                // A failed save keeps the question open (the save said why).
                #[allow(clippy::collapsible_match)]
                Some(0) => {
                    if self.save() {
                        self.pending = None;
                        self.proceed(p);
                    }
                }
                Some(1) => {
                    self.pending = None;
                    self.proceed(p);
                }
                Some(_) => self.pending = None,
                None => {}
            }
        }
        if !self.recoveries.is_empty() && self.pending.is_none() {
            let mut action = None;
            egui::Modal::new(egui::Id::new("recover")).show(ctx, |ui| {
                ui.heading("Recover unsaved work?");
                ui.label("Stepwise closed without saving this work. Restore it, or discard the copy.");
                for (i, (_, r)) in self.recoveries.iter().enumerate() {
                    let name = r.path.as_ref().map_or("Untitled".to_string(), |p| p.display().to_string());
                    ui.horizontal(|ui| {
                        ui.label(name);
                        if ui.button("Restore").clicked() {
                            action = Some((i, true));
                        }
                        if ui.button("Discard").clicked() {
                            action = Some((i, false));
                        }
                    });
                }
            });
            if let Some((i, restore)) = action {
                let file = self.recoveries[i].0.clone();
                if restore {
                    self.restore(i);
                } else {
                    self.recoveries.remove(i);
                }
                // The copy is now either the open (unsaved) document, which autosaves again, or gone.
                let _ = std::fs::remove_file(file);
            }
        }
        if self.external_change {
            let mut act = None;
            egui::Window::new("File changed on disk").collapsible(false).resizable(false).anchor(egui::Align2::CENTER_TOP, [0.0, 40.0]).show(ctx, |ui| {
                ui.label(format!("{} was changed by another program.", self.doc.title()));
                ui.horizontal(|ui| {
                    if ui.button("Reload from disk").clicked() {
                        act = Some(true);
                    }
                    if ui.button("Keep my version").clicked() {
                        act = Some(false);
                    }
                });
            });
            match act {
                Some(true) => {
                    if let Some(p) = self.doc.path.clone() {
                        self.open_path(&p);
                    }
                }
                Some(false) => {
                    self.external_change = false;
                    self.stamp = self.doc.path.as_deref().and_then(Stamp::of);
                    // Keeping mine means it differs from the disk: mark it unsaved.
                    self.doc.revision += 1;
                }
                None => {}
            }
        }
        if let Some(query) = self.find.as_mut() {
            let mut open = true;
            let mut chosen = None;
            egui::Window::new("Find state").open(&mut open).collapsible(false).show(ctx, |ui| {
                let r = ui.add(egui::TextEdit::singleline(query).hint_text("name").id_salt("find-field"));
                r.request_focus();
                let q = query.to_lowercase();
                let names: Vec<String> = crate::asl::model::all_state_names(&self.doc.root).into_iter().filter(|n| n.to_lowercase().contains(&q)).take(30).collect();
                for n in &names {
                    if ui.selectable_label(false, n).clicked() {
                        chosen = Some(n.clone());
                    }
                }
                if ui.input(|i| i.key_pressed(Key::Enter)) {
                    chosen = names.first().cloned();
                }
            });
            if let Some(n) = chosen {
                self.selection = vec![n.clone()];
                self.canvas.center_on = Some(n);
                self.tab = Tab::Diagram;
                open = false;
            }
            if !open || ctx.input(|i| i.key_pressed(Key::Escape)) {
                self.find = None;
            }
        }
    }
}

/// Writes the diagram as it is on the canvas to an SVG or PNG file (atomically).
fn export_diagram(doc: &Document, path: &Path, png: bool, dark: bool) -> Result<(), String> {
    use crate::diagram::render;
    let theme = if dark { render::Theme::dark() } else { render::Theme::light() };
    let svg = render::to_svg(&doc.diagram, &doc.positions, &theme);
    let bytes = if png { render::to_png(&svg, 2.0)? } else { svg.into_bytes() };
    files::atomic_write(path, &bytes)
}

impl eframe::App for DesignerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        DesignerApp::ui(self, ui);
        // For measuring cold start (scripts/ui-smoke.sh): close once the first frame is drawn.
        if std::env::var_os("STEPWISE_EXIT_AFTER_FIRST_FRAME").is_some() {
            self.allow_close = true;
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        let _ = self.settings.save(&self.config);
    }
}

/// Opens the designer window; returns when it closes.
pub fn run(open: Option<PathBuf>) -> std::process::ExitCode {
    let config_dir = files::config_dir();
    // Without a data directory the designer still opens; Run says why it cannot.
    let data_dir = crate::paths::data_dir(None).ok();
    let settings = Settings::load(&config_dir);
    let size = settings.window_size.unwrap_or([1400.0, 880.0]);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_title("Stepwise").with_inner_size(size).with_min_inner_size([640.0, 420.0]),
        ..Default::default()
    };
    let result = eframe::run_native(
        "Stepwise",
        options,
        Box::new(move |cc| {
            cc.egui_ctx.options_mut(|o| o.zoom_with_keyboard = true);
            Ok(Box::new(DesignerApp::new(StartOptions { open, config_dir, data_dir })))
        }),
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stepwise: cannot open the window: {e}. On Linux this needs a desktop session (X11 or Wayland) with OpenGL.");
            std::process::ExitCode::from(2)
        }
    }
}
