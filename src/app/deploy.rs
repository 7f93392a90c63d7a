//! The Deploy dialog (check, then deploy, to the current connection) and the CloudFormation
//! export's options window.
//!
//! The dialog only reads the document and the backend's answers, and hands back the
//! [`DeployCommand`] to send: the window sends it, so nothing here talks to a backend or
//! changes the document. Deploy stays disabled until a check of the document as it is now
//! found no errors, so what is deployed is always what was last checked.

use std::path::Path;

use eframe::egui::{self, RichText};

use super::document::Document;
use super::theme::Palette;
use crate::asl::{Diagnostic, Format};
use crate::backend::aws::StateMachineSettings;
use crate::backend::aws::deploy::{DeployReport, Rewrite};
use crate::backend::aws::sfn::Logging;
use crate::backend::deploy_ops::{DeployCommand, DeploymentUpdate};
use crate::cloudformation::{ExportOptions, export};
use crate::engine::MachineType;

pub const LOG_LEVELS: [&str; 4] = ["OFF", "ALL", "ERROR", "FATAL"];

/// A check's answer, for the document revision it was made of.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub revision: u64,
    pub name: String,
    /// Every diagnostic of the check, with lines and columns from the document's text.
    pub diagnostics: Vec<Diagnostic>,
    pub diff: Option<String>,
    pub activities_to_create: Vec<String>,
    pub rewrites: Vec<Rewrite>,
    pub exists: bool,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    Checking,
    Deploying,
}

#[derive(Default)]
pub struct DeployDialog {
    pub open: bool,
    pub name: String,
    pub express: bool,
    pub role_arn: String,
    pub log_level: String,
    pub log_group_arn: String,
    pub include_execution_data: bool,
    pub tracing: bool,
    /// `key=value`, one a line.
    pub tags: String,
    pub publish: bool,
    pub version_description: String,
    pub busy: Option<Busy>,
    pub checked: Option<Checked>,
    pub report: Option<DeployReport>,
    /// The last failure in words, with what to do.
    pub failure: Option<String>,
    /// The account's roles Step Functions may assume (asked once per connection); the error
    /// says why there are none.
    pub roles: Option<(Vec<crate::backend::aws::roles::RoleChoice>, Option<String>)>,
    roles_asked: bool,
}

/// What the dialog asks of the window this frame.
#[derive(Debug, Default)]
pub struct DialogOut {
    pub command: Option<DeployCommand>,
    /// The role ARN typed, to remember for this connection.
    pub remember_role: Option<String>,
}

/// `key=value` lines as tags; an empty line is skipped.
pub fn parse_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("Tag \"{l}\": write KEY=VALUE, such as team=video.")),
        })
        .collect()
}

/// A check's diagnostics given lines and columns through the document's source map, so the
/// problems panel places them like the validator's.
pub fn place(doc: &Document, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let (parsed, _) = crate::asl::parse(&doc.text, doc.format);
    diagnostics
        .into_iter()
        .map(|mut d| {
            if d.line.is_none()
                && let Some(p) = parsed.position(&d.location) {
                    d.line = Some(p.line);
                    d.column = Some(p.column);
                }
            d
        })
        .collect()
}

impl DeployDialog {
    /// Opens the dialog for the document; `stem` is the default name, `role` the ARN last
    /// used on this connection.
    pub fn show(&mut self, stem: &str, role: Option<&str>) {
        if self.name.is_empty() {
            self.name = stem.to_owned();
        }
        if self.role_arn.is_empty() {
            self.role_arn = role.unwrap_or_default().to_owned();
        }
        if self.log_level.is_empty() {
            self.log_level = "OFF".into();
        }
        self.report = None;
        self.failure = None;
        self.open = true;
    }

    /// Another connection: its roles are not this one's.
    pub fn forget_connection(&mut self) {
        self.roles = None;
        self.roles_asked = false;
        self.checked = None;
        self.report = None;
    }

    /// Another document replaced the open one: its checks and report no longer apply, and its
    /// name comes from the new document when the dialog opens again.
    pub fn forget_document(&mut self) {
        self.open = false;
        self.name.clear();
        self.busy = None;
        self.checked = None;
        self.report = None;
        self.failure = None;
    }

    /// The settings as typed, or what is wrong with them.
    pub fn settings(&self, local: bool) -> Result<StateMachineSettings, String> {
        let name = self.name.trim().to_owned();
        if let Err(e) = crate::runtime::service::check_name(&name) {
            return Err(format!("The name {e}."));
        }
        let machine_type = if self.express { MachineType::Express } else { MachineType::Standard };
        if local {
            // The local engine has no roles, versions, tags, logs or traces.
            return Ok(StateMachineSettings { name, machine_type, ..StateMachineSettings::default() });
        }
        let tags = parse_tags(&self.tags)?;
        let level = if self.log_level.is_empty() { "OFF" } else { self.log_level.as_str() };
        let logging = if level == "OFF" {
            None
        } else {
            let arn = self.log_group_arn.trim();
            if arn.is_empty() {
                return Err(format!("Logging level {level} needs a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*)."));
            }
            Some(Logging { level: level.to_owned(), log_group_arn: Some(arn.to_owned()), include_execution_data: self.include_execution_data })
        };
        let role = self.role_arn.trim();
        Ok(StateMachineSettings {
            name,
            machine_type,
            role_arn: (!role.is_empty()).then(|| role.to_owned()),
            logging,
            tracing: self.tracing,
            tags,
            publish: self.publish,
            version_description: (self.publish && !self.version_description.trim().is_empty()).then(|| self.version_description.trim().to_owned()),
        })
    }

    /// A backend's answer; `List` and `Definition` belong to the Deployed panel.
    pub fn apply(&mut self, update: DeploymentUpdate, doc: &Document) {
        match update {
            DeploymentUpdate::Preview { name, diagnostics, diff, activities_to_create, rewrites, exists } => {
                self.busy = None;
                self.failure = None;
                let diagnostics = place(doc, diagnostics);
                self.checked = Some(Checked { revision: doc.revision, name, diagnostics, diff, activities_to_create, rewrites, exists });
            }
            DeploymentUpdate::Deployed(report) => {
                self.busy = None;
                self.failure = None;
                // What was checked is now deployed: a new check is needed before the next deploy.
                self.checked = None;
                self.report = Some(report);
            }
            DeploymentUpdate::Failed { message, diagnostics } => {
                self.busy = None;
                self.report = None;
                if !diagnostics.is_empty() {
                    let diagnostics = place(doc, diagnostics);
                    let name = self.name.clone();
                    self.checked = Some(Checked { revision: doc.revision, name, diagnostics, diff: None, activities_to_create: Vec::new(), rewrites: Vec::new(), exists: false });
                }
                self.failure = Some(message);
            }
            DeploymentUpdate::Roles { roles, error } => self.roles = Some((roles, error)),
            DeploymentUpdate::List { .. } | DeploymentUpdate::Definition { .. } => {}
        }
    }

    /// The check's problems that the validator in the window does not already show (AWS's),
    /// while the document is the one that was checked.
    pub fn remote_problems(&self, doc: &Document) -> Vec<Diagnostic> {
        let Some(c) = self.checked.as_ref().filter(|c| c.revision == doc.revision) else { return Vec::new() };
        c.diagnostics.iter().filter(|d| !doc.diagnostics.iter().any(|o| o.location == d.location && o.message == d.message)).cloned().collect()
    }

    /// Whether Deploy may be pressed, and if not, why.
    pub fn deploy_blocked(&self, doc: &Document, connected: bool) -> Option<&'static str> {
        if !connected {
            return Some("Not connected.");
        }
        if doc.text_error.is_some() || doc.error_count() > 0 {
            return Some("The workflow has errors: fix them (see Problems), then check again.");
        }
        if self.busy.is_some() {
            return Some("Waiting for the answer…");
        }
        match &self.checked {
            None => Some("Check first."),
            Some(c) if c.revision != doc.revision || c.name != self.name.trim() => Some("The workflow or name changed since the check: check again."),
            Some(c) if c.errors() > 0 => Some("The check found errors: fix them, then check again."),
            Some(_) => None,
        }
    }

    /// The dialog. `connection`: the label of where it deploys; `local`: the local engine.
    pub fn ui(&mut self, ctx: &egui::Context, doc: &Document, connection: Option<&str>, local: bool) -> DialogOut {
        let mut out = DialogOut::default();
        if !self.open {
            return out;
        }
        let mut open = true;
        let top = ctx.content_rect().center_top() + egui::vec2(0.0, 50.0);
        let window = egui::Window::new("Deploy").id(egui::Id::new("deploy-dialog")).open(&mut open).pivot(egui::Align2::CENTER_TOP).default_pos(top);
        window.default_width(620.0).show(ctx, |ui| {
            let pal = Palette::of(ui.ctx());
            match connection {
                Some(label) => ui.label(RichText::new(format!("Deploys to: {label}")).strong()),
                None => ui.colored_label(pal.error, "No connection: Stepwise could not start its engine, so nothing can be deployed."),
            };
            ui.separator();
            if !local && connection.is_some() && !self.roles_asked {
                self.roles_asked = true;
                out.command = Some(DeployCommand::ListRoles);
            }
            self.form_ui(ui, local);
            let settings = self.settings(local);
            if let Err(e) = &settings {
                ui.colored_label(pal.error, e);
            }
            ui.separator();
            let connected = connection.is_some();
            ui.horizontal(|ui| {
                let can_check = connected && settings.is_ok() && self.busy.is_none() && doc.text_error.is_none();
                if ui.add_enabled(can_check, egui::Button::new("Check")).on_hover_text("Validate (locally and, on AWS, with AWS) and show what a deploy would change").clicked()
                    && let Ok(s) = &settings {
                        self.busy = Some(Busy::Checking);
                        self.report = None;
                        self.failure = None;
                        out.command = Some(DeployCommand::Preview { settings: s.clone(), definition: crate::asl::to_text(&doc.root, Format::Json) });
                    }
                let blocked = self.deploy_blocked(doc, connected).or(settings.as_ref().err().map(|_| "Fix the settings first."));
                let deploy = ui.add_enabled(blocked.is_none(), egui::Button::new("Deploy"));
                let deploy = match blocked {
                    Some(why) => deploy.on_disabled_hover_text(why),
                    None => deploy,
                };
                if deploy.clicked()
                    && let Ok(s) = &settings {
                        self.busy = Some(Busy::Deploying);
                        self.failure = None;
                        if !local && !self.role_arn.trim().is_empty() {
                            out.remember_role = Some(self.role_arn.trim().to_owned());
                        }
                        out.command = Some(DeployCommand::Deploy { settings: s.clone(), definition: crate::asl::to_text(&doc.root, Format::Json) });
                    }
                match self.busy {
                    Some(Busy::Checking) => {
                        ui.spinner();
                        ui.label("Checking…");
                    }
                    Some(Busy::Deploying) => {
                        ui.spinner();
                        ui.label("Deploying…");
                    }
                    None => {
                        if let Some(why) = blocked.filter(|_| self.checked.is_some() || doc.error_count() > 0) {
                            ui.label(RichText::new(why).weak());
                        }
                    }
                }
            });
            ui.separator();
            self.result_ui(ui, doc);
        });
        if !open {
            self.open = false;
        }
        out
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, local: bool) {
        egui::Grid::new("deploy-form").num_columns(2).spacing([10.0, 6.0]).show(ui, |ui| {
            ui.label("Name");
            ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(320.0).id_salt("deploy-name"));
            ui.end_row();
            ui.label("Type");
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.express, false, "STANDARD");
                ui.radio_value(&mut self.express, true, "EXPRESS");
            });
            ui.end_row();
            if local {
                ui.label("");
                ui.label(RichText::new("The local engine needs no role; versions, tags, logging and tracing are AWS features.").weak());
                ui.end_row();
                return;
            }
            ui.label("Execution role ARN");
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut self.role_arn).hint_text("arn:aws:iam::ACCOUNT:role/NAME").desired_width(420.0).id_salt("deploy-role"));
                    match &self.roles {
                        Some((roles, _)) if !roles.is_empty() => {
                            egui::ComboBox::from_id_salt("deploy-role-choice").selected_text("Choose…").show_ui(ui, |ui| {
                                for r in roles {
                                    if ui.selectable_label(self.role_arn == r.arn, &r.name).on_hover_text(&r.arn).clicked() {
                                        self.role_arn = r.arn.clone();
                                    }
                                }
                            });
                        }
                        None => {
                            ui.spinner();
                        }
                        Some(_) => {}
                    }
                });
                if let Some((roles, error)) = &self.roles {
                    let note = match error {
                        Some(e) => e.clone(),
                        None if roles.is_empty() => "No role in this account lets Step Functions assume it; type the ARN of one.".into(),
                        None => format!("{} role(s) in this account let Step Functions assume them.", roles.len()),
                    };
                    ui.label(RichText::new(note).weak().small());
                }
            });
            ui.end_row();
            ui.label("Logging");
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("deploy-log-level").selected_text(self.log_level.clone()).show_ui(ui, |ui| {
                    for l in LOG_LEVELS {
                        ui.selectable_value(&mut self.log_level, l.to_owned(), l);
                    }
                });
                if self.log_level != "OFF" {
                    ui.checkbox(&mut self.include_execution_data, "include execution data");
                }
            });
            ui.end_row();
            if self.log_level != "OFF" {
                ui.label("Log group ARN");
                ui.add(egui::TextEdit::singleline(&mut self.log_group_arn).hint_text("arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*").desired_width(420.0).id_salt("deploy-log-group"));
                ui.end_row();
            }
            ui.label("Tracing");
            ui.checkbox(&mut self.tracing, "X-Ray tracing");
            ui.end_row();
            ui.label("Tags");
            ui.add(egui::TextEdit::multiline(&mut self.tags).hint_text("key=value, one a line").desired_rows(2).desired_width(420.0).id_salt("deploy-tags"));
            ui.end_row();
            ui.label("Version");
            ui.horizontal(|ui| {
                ui.checkbox(&mut self.publish, "publish a version");
                if self.publish {
                    ui.add(egui::TextEdit::singleline(&mut self.version_description).hint_text("description").desired_width(260.0).id_salt("deploy-version"));
                }
            });
            ui.end_row();
        });
    }

    fn result_ui(&self, ui: &mut egui::Ui, doc: &Document) {
        let pal = Palette::of(ui.ctx());
        if let Some(f) = &self.failure {
            ui.colored_label(pal.error, format!("✖ {f}"));
        }
        if let Some(r) = &self.report {
            ui.label(RichText::new(if r.created { "✔ Created the state machine." } else { "✔ Updated the state machine." }).color(pal.accent(crate::diagram::NodeKind::State(crate::asl::model::StateType::Succeed))).strong());
            egui::Grid::new("deploy-report").num_columns(2).show(ui, |ui| {
                ui.label("ARN");
                ui.label(RichText::new(&r.state_machine_arn).monospace());
                ui.end_row();
                if let Some(v) = &r.version_arn {
                    ui.label("Version");
                    ui.label(RichText::new(v).monospace());
                    ui.end_row();
                }
                for a in r.activities.iter().filter(|a| a.created) {
                    ui.label("Created activity");
                    ui.label(RichText::new(&a.arn).monospace());
                    ui.end_row();
                }
            });
            for w in &r.warnings {
                ui.colored_label(pal.warning, format!("⚠ {}", w.message));
            }
            if !r.diff.is_empty() {
                ui.label("Deployed these changes:");
                diff_ui(ui, &r.diff);
            }
            ui.label(RichText::new("Check again before the next deploy.").weak());
            return;
        }
        let Some(c) = &self.checked else {
            ui.label(RichText::new("Check shows what a deploy would change: the diff against the deployed definition, the activities it creates.").weak());
            return;
        };
        if c.revision != doc.revision {
            ui.label(RichText::new("The workflow changed since this check.").color(pal.warning));
        }
        let errors = c.errors();
        if errors > 0 {
            ui.colored_label(pal.error, format!("✖ {errors} errors (listed in Problems; click one to select its state)."));
        } else if c.diagnostics.is_empty() {
            ui.label("✔ Valid.");
        } else {
            ui.colored_label(pal.warning, format!("⚠ {} warnings (listed in Problems).", c.diagnostics.len()));
        }
        for d in c.diagnostics.iter().filter(|d| d.message.ends_with("(AWS)")).take(5) {
            let at = d.line.map(|l| format!("line {l}: ")).unwrap_or_default();
            ui.colored_label(if d.is_error() { pal.error } else { pal.warning }, format!("{at}{}", d.message));
        }
        if !c.activities_to_create.is_empty() {
            ui.label(format!("Activities it will create: {}", c.activities_to_create.join(", ")));
        }
        for r in &c.rewrites {
            ui.label(RichText::new(format!("{}: {} → {}", r.location, r.from, r.to)).monospace().small());
        }
        match &c.diff {
            None => {
                ui.label(RichText::new(format!("New state machine: {} does not exist yet.", c.name)).strong());
            }
            Some(d) if d.is_empty() => {
                ui.label(format!("No changes: {} is deployed as it is.", c.name));
            }
            Some(d) => {
                ui.label(RichText::new(format!("Changes to the deployed {}:", c.name)).strong());
                diff_ui(ui, d);
            }
        }
    }
}

/// A unified diff, coloured by line.
pub fn diff_ui(ui: &mut egui::Ui, diff: &str) {
    let pal = Palette::of(ui.ctx());
    let added = pal.accent(crate::diagram::NodeKind::State(crate::asl::model::StateType::Succeed));
    egui::Frame::group(ui.style()).show(ui, |ui| {
        egui::ScrollArea::both().id_salt("deploy-diff").min_scrolled_height(180.0).max_height(320.0).auto_shrink([false, true]).show(ui, |ui| {
            for line in diff.lines() {
                let text = RichText::new(line).monospace();
                let text = if line.starts_with("+++") || line.starts_with("---") {
                    text.strong()
                } else if line.starts_with('+') {
                    text.color(added)
                } else if line.starts_with('-') {
                    text.color(pal.error)
                } else if line.starts_with("@@") {
                    text.color(pal.warning)
                } else {
                    text
                };
                ui.add(egui::Label::new(text).extend());
            }
        });
    });
}

// ---------------------------------------------------------------------------------------
// CloudFormation export
// ---------------------------------------------------------------------------------------

/// Whether the workflow starts from an S3 "Object Created" event (EventBridge's shape), as
/// video-ingest does: then the template gets the raw bucket and its rule.
pub fn reads_s3_event(root: &serde_json::Value) -> bool {
    let text = root.to_string();
    text.contains("$.detail.bucket.name") || text.contains("$.detail.object.key") || text.contains("$states.input.detail.bucket")
}

/// The options window of File → Export CloudFormation…
#[derive(Default)]
pub struct CfnExport {
    pub open: bool,
    pub name: String,
    pub express: bool,
    /// Empty: no raw bucket.
    pub raw_bucket: String,
    /// The last export: where, and the template's notes.
    pub done: Option<(String, Vec<String>)>,
    pub error: Option<String>,
}

impl CfnExport {
    pub fn show(&mut self, stem: &str, doc: &Document) {
        self.name = stem.to_owned();
        self.raw_bucket = if reads_s3_event(&doc.root) { crate::app::run::RAW_BUCKET.to_owned() } else { String::new() };
        self.done = None;
        self.error = None;
        self.open = true;
    }

    pub fn options(&self) -> ExportOptions {
        let raw = self.raw_bucket.trim();
        ExportOptions {
            name: self.name.trim().to_owned(),
            machine_type: if self.express { "EXPRESS" } else { "STANDARD" }.into(),
            raw_bucket: (!raw.is_empty()).then(|| raw.to_owned()),
        }
    }

    /// The window; answers true when Export… was pressed (the caller asks where to save).
    pub fn ui(&mut self, ctx: &egui::Context) -> bool {
        let mut go = false;
        let mut open = self.open;
        let top = ctx.content_rect().center_top() + egui::vec2(0.0, 80.0);
        let window = egui::Window::new("Export CloudFormation").id(egui::Id::new("cfn-export")).open(&mut open).pivot(egui::Align2::CENTER_TOP).default_pos(top);
        window.default_width(520.0).show(ctx, |ui| {
            let pal = Palette::of(ui.ctx());
            egui::Grid::new("cfn-form").num_columns(2).spacing([10.0, 6.0]).show(ui, |ui| {
                ui.label("State machine name");
                ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(300.0).id_salt("cfn-name"));
                ui.end_row();
                ui.label("Type");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut self.express, false, "STANDARD");
                    ui.radio_value(&mut self.express, true, "EXPRESS");
                });
                ui.end_row();
                ui.label("Raw bucket");
                ui.add(egui::TextEdit::singleline(&mut self.raw_bucket).hint_text("none").desired_width(300.0).id_salt("cfn-raw"));
                ui.end_row();
            });
            ui.label(RichText::new("The raw bucket's uploads start an execution (through EventBridge); leave it empty for none.").weak().small());
            let named = crate::runtime::service::check_name(self.name.trim()).is_ok();
            if ui.add_enabled(named, egui::Button::new("Export…")).clicked() {
                go = true;
            }
            if let Some(e) = &self.error {
                ui.colored_label(pal.error, e);
            }
            if let Some((path, notes)) = &self.done {
                ui.label(format!("✔ Wrote {path}."));
                if notes.is_empty() {
                    ui.label("No notes: every grant is as narrow as the definition allows.");
                }
                for n in notes {
                    ui.colored_label(pal.warning, format!("⚠ {n}"));
                }
            }
        });
        self.open = open;
        go
    }
}

/// Writes the workflow's CloudFormation template to `path` (atomically): JSON when the name
/// ends in `.json`, else YAML. Answers the template's notes.
pub fn export_cloudformation(doc: &Document, path: &Path, options: &ExportOptions) -> Result<Vec<String>, String> {
    if let Some(e) = &doc.text_error {
        return Err(format!("The definition text does not parse ({}); fix it before exporting.", e.message));
    }
    let template = export(&doc.root, options);
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if json { template.to_json() } else { template.to_yaml() };
    crate::atomic_file::write_atomic(path, text.as_bytes()).map_err(|e| format!("Cannot write {}: {e}. Choose a folder you can write to.", path.display()))?;
    Ok(template.notes)
}
