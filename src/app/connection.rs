//! The connection switch: a toolbar button naming where Run talks to (the local engine or an
//! AWS account), and the "Connect to AWS" window (profile, region, endpoint, the role new
//! state machines run as). The choice is saved in `connection.json` in the config directory
//! (a target and a role ARN, never credentials) and taken again at the next start.

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use super::run::RunView;
use super::theme::Palette;
use crate::backend::aws::connection::profile_names;
use crate::backend::aws::{AwsTarget, Connection, ConnectionSettings};

/// Regions offered beside the region field (any other can be typed).
const COMMON_REGIONS: &[&str] = &[
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
];

/// The profile entry that leaves the choice to the standard chain (`AWS_PROFILE`, else
/// `[default]`).
const DEFAULT_PROFILE: &str = "default";

pub struct ConnectionUi {
    config_dir: PathBuf,
    /// The local engine's data directory; `None` when there is none (Local is then off).
    pub data_dir: Option<PathBuf>,
    /// The "Connect to AWS" window is open.
    pub window_open: bool,
    pub profile: String,
    pub region: String,
    pub endpoint: String,
    pub role_arn: String,
    /// Profile names, read when the window opens.
    profiles: Vec<String>,
    /// Why the last save failed, shown in the window.
    pub error: Option<String>,
}

impl ConnectionUi {
    /// The window's fields start from the saved settings.
    pub fn new(config_dir: PathBuf, data_dir: Option<PathBuf>) -> ConnectionUi {
        let saved = ConnectionSettings::load(&config_dir).unwrap_or_default();
        let target = match &saved.connection {
            Connection::Aws(t) => t.clone(),
            Connection::Local => AwsTarget::default(),
        };
        ConnectionUi {
            config_dir,
            data_dir,
            window_open: false,
            profile: target.profile.unwrap_or_else(|| DEFAULT_PROFILE.into()),
            region: target.region.unwrap_or_default(),
            endpoint: target.endpoint_url.unwrap_or_default(),
            role_arn: saved.role_arn.unwrap_or_default(),
            profiles: Vec::new(),
            error: None,
        }
    }

    /// The connection saved last (a damaged file counts as none: the local engine).
    pub fn saved(&self) -> Connection {
        ConnectionSettings::load(&self.config_dir).map(|s| s.connection).unwrap_or_default()
    }

    /// The Run view for `connection`: the local engine needs a data directory, AWS does not.
    pub fn start(&self, connection: &Connection) -> RunView {
        match (connection, &self.data_dir) {
            (Connection::Aws(t), _) => RunView::start_aws(t.clone(), self.config_dir.clone()),
            (Connection::Local, Some(d)) => RunView::start_local(d.clone(), self.config_dir.clone()),
            (Connection::Local, None) => RunView::default(),
        }
    }

    /// The target the window's fields describe, or what is wrong with them.
    pub fn target(&self) -> Result<AwsTarget, String> {
        let endpoint = self.endpoint.trim();
        if !(endpoint.is_empty() || endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err("The endpoint URL starts with http:// or https:// (for example http://127.0.0.1:8099); leave it empty for AWS itself.".into());
        }
        let role = self.role_arn.trim();
        if !role.is_empty() && !role.starts_with("arn:") {
            return Err("The role ARN looks like arn:aws:iam::123456789012:role/NAME.".into());
        }
        let region = self.region.trim();
        if region.contains(char::is_whitespace) {
            return Err("A region is one word, such as eu-west-1.".into());
        }
        let profile = self.profile.trim();
        Ok(AwsTarget {
            profile: (!profile.is_empty() && profile != DEFAULT_PROFILE).then(|| profile.to_owned()),
            region: (!region.is_empty()).then(|| region.to_owned()),
            endpoint_url: (!endpoint.is_empty()).then(|| endpoint.trim_end_matches('/').to_owned()),
        })
    }

    /// Saves the choice (and the role ARN) for the next start.
    pub fn save(&mut self, connection: &Connection) {
        let role = self.role_arn.trim();
        let settings = ConnectionSettings { connection: connection.clone(), role_arn: (!role.is_empty()).then(|| role.to_owned()) };
        self.error = settings.save(&self.config_dir).err();
    }

    /// The toolbar button; answers a connection to switch to.
    pub fn toolbar_ui(&mut self, ui: &mut egui::Ui, run: &RunView) -> Option<Connection> {
        let label = match (&run.target, run.connection_label()) {
            (_, Some((label, _))) => label,
            (Connection::Local, None) => "No engine".into(),
            (Connection::Aws(t), None) => format!("AWS · {}", t.label()),
        };
        // egui's fonts have no cloud glyph: AWS is named by its label alone.
        let text = if run.is_aws() { label } else { format!("🖥 {label}") };
        let mut choice = None;
        ui.menu_button(text, |ui| {
            let local = ui.add_enabled(self.data_dir.is_some(), egui::Button::new("🖥 Local engine"));
            let local = local.on_disabled_hover_text("No data directory: set STEPWISE_DATA_DIR.");
            if local.clicked() {
                choice = Some(Connection::Local);
                ui.close();
            }
            if ui.button("Connect to AWS…").clicked() {
                self.open_window();
                ui.close();
            }
        })
        .response
        .on_hover_text("Where Run deploys, starts and watches executions");
        choice
    }

    pub fn open_window(&mut self) {
        self.profiles = profile_names();
        self.window_open = true;
    }

    /// The "Connect to AWS" window; answers the target when Connect was pressed.
    pub fn window_ui(&mut self, ctx: &egui::Context) -> Option<Connection> {
        if !self.window_open {
            return None;
        }
        let pal = Palette::of(ctx);
        let mut open = true;
        let mut connect = false;
        let mut cancel = false;
        egui::Window::new("Connect to AWS")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(520.0)
            .anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 80.0)).show(ctx, |ui| {
            egui::Grid::new("aws-connection").num_columns(2).spacing([10.0, 8.0]).show(ui, |ui| {
                ui.label("Profile");
                egui::ComboBox::from_id_salt("aws-profile").selected_text(self.profile.clone()).width(260.0).show_ui(ui, |ui| {
                    for p in &self.profiles {
                        ui.selectable_value(&mut self.profile, p.clone(), p);
                    }
                });
                ui.end_row();
                ui.label("Region");
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut self.region).hint_text("from the profile").desired_width(170.0).id_salt("aws-region"));
                    egui::ComboBox::from_id_salt("aws-regions").selected_text("common").width(80.0).show_ui(ui, |ui| {
                        for r in COMMON_REGIONS {
                            if ui.selectable_label(self.region == *r, *r).clicked() {
                                self.region = (*r).to_owned();
                            }
                        }
                    });
                });
                ui.end_row();
                ui.label("Endpoint URL");
                ui.add(
                    egui::TextEdit::singleline(&mut self.endpoint)
                        .hint_text("optional: http://127.0.0.1:8099 for stepwise serve or LocalStack")
                        .desired_width(360.0)
                        .id_salt("aws-endpoint"),
                );
                ui.end_row();
                ui.label("Execution role ARN");
                ui.add(egui::TextEdit::singleline(&mut self.role_arn).hint_text("arn:aws:iam::ACCOUNT:role/NAME").desired_width(360.0).id_salt("aws-role"));
                ui.end_row();
            });
            ui.label(
                RichText::new("Credentials come from the AWS configuration of this machine (environment, profile, SSO); Stepwise never stores them. The role is what new state machines run as.")
                    .weak()
                    .small(),
            );
            let checked = self.target();
            if let Err(e) = &checked {
                ui.colored_label(pal.error, e);
            }
            if let Some(e) = &self.error {
                ui.colored_label(pal.error, format!("Could not save the connection: {e}"));
            }
            ui.horizontal(|ui| {
                if ui.add_enabled(checked.is_ok(), egui::Button::new("Connect")).clicked() {
                    connect = true;
                }
                if ui.button("Cancel").clicked() {
                    cancel = true;
                }
            });
        });
        if !open || cancel {
            self.window_open = false;
        }
        if !connect {
            return None;
        }
        let target = self.target().ok()?;
        self.window_open = false;
        Some(Connection::Aws(target))
    }
}
