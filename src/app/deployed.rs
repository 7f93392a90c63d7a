//! The Deployed window: the state machines and activities on the current connection, and
//! Open, which loads a deployed definition as a new unsaved document.
//!
//! It reads the backend's answers and hands back commands; opening the definition goes through
//! the window's own open path (the unsaved-changes question, undo, validation).

use eframe::egui::{self, RichText};

use super::theme::Palette;
use crate::backend::deploy_ops::{DeployCommand, DeployedActivity, DeployedMachine, DeploymentUpdate};

#[derive(Default)]
pub struct DeployedPanel {
    pub open: bool,
    pub machines: Vec<DeployedMachine>,
    pub activities: Vec<DeployedActivity>,
    pub error: Option<String>,
    /// A list was asked for and has not come back.
    pub loading: bool,
    /// Whether a list has arrived since the panel opened.
    pub loaded: bool,
}

/// What the panel asks of the window.
#[derive(Debug, Default)]
pub struct PanelOut {
    pub command: Option<DeployCommand>,
}

/// A creation time as a date and time in UTC.
pub fn date_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

impl DeployedPanel {
    /// Opens the panel; the caller sends the command to list what is deployed.
    pub fn show(&mut self) -> DeployCommand {
        self.open = true;
        self.loading = true;
        DeployCommand::ListDeployed
    }

    /// Takes `List`; answers the other updates back (they belong to the Deploy dialog or
    /// open a document).
    pub fn apply(&mut self, update: DeploymentUpdate) -> Option<DeploymentUpdate> {
        match update {
            DeploymentUpdate::List { state_machines, activities, error } => {
                self.machines = state_machines;
                self.activities = activities;
                self.error = error;
                self.loading = false;
                self.loaded = true;
                None
            }
            other => Some(other),
        }
    }

    pub fn ui(&mut self, ctx: &egui::Context, connection: Option<&str>) -> PanelOut {
        let mut out = PanelOut::default();
        if !self.open {
            return out;
        }
        let mut open = true;
        // Beside the Deploy dialog (which opens in the middle), over the inspector.
        let corner = ctx.content_rect().right_top() + egui::vec2(-12.0, 40.0);
        let window = egui::Window::new("Deployed").id(egui::Id::new("deployed-panel")).open(&mut open).pivot(egui::Align2::RIGHT_TOP).default_pos(corner);
        window.default_width(520.0).default_height(420.0).show(ctx, |ui| {
            let pal = Palette::of(ui.ctx());
            ui.horizontal(|ui| {
                ui.label(RichText::new(connection.unwrap_or("No connection")).strong());
                if ui.add_enabled(connection.is_some() && !self.loading, egui::Button::new("⟳ Refresh")).clicked() {
                    self.loading = true;
                    out.command = Some(DeployCommand::ListDeployed);
                }
                if self.loading {
                    ui.spinner();
                }
            });
            if let Some(e) = &self.error {
                ui.colored_label(pal.error, e);
            }
            ui.separator();
            egui::ScrollArea::vertical().auto_shrink([false, true]).show(ui, |ui| {
                ui.strong(format!("State machines ({})", self.machines.len()));
                if self.machines.is_empty() && self.loaded {
                    ui.label(RichText::new("None deployed here yet: Deploy… in the toolbar deploys the open workflow.").weak());
                }
                egui::Grid::new("deployed-machines").num_columns(4).striped(true).spacing([14.0, 4.0]).show(ui, |ui| {
                    for m in &self.machines {
                        ui.label(&m.name).on_hover_text(&m.arn);
                        ui.label(RichText::new(&m.machine_type).small());
                        ui.label(RichText::new(date_text(m.created)).weak());
                        if ui.button("Open").on_hover_text("Open its definition as a new unsaved document").clicked() {
                            out.command = Some(DeployCommand::OpenDeployed { arn: m.arn.clone() });
                        }
                        ui.end_row();
                    }
                });
                ui.add_space(8.0);
                ui.strong(format!("Activities ({})", self.activities.len()));
                egui::Grid::new("deployed-activities").num_columns(2).striped(true).spacing([14.0, 4.0]).show(ui, |ui| {
                    for a in &self.activities {
                        ui.label(&a.name).on_hover_text(&a.arn);
                        ui.label(RichText::new(date_text(a.created)).weak());
                        ui.end_row();
                    }
                });
            });
        });
        if !open {
            self.open = false;
        }
        out
    }
}
