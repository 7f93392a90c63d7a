//! The Settings window's worker profiles: for each activity, run a command per task or the
//! built-in video check (its rules edited as JSON), or nothing. Profiles are kept in the
//! config directory by the backend; a workflow file never names a command.

use eframe::egui::{self, RichText};

use super::run::RunView;
use super::theme::Palette;
use crate::backend::{Command, VideoRules, WorkerKind, WorkerProfile};

/// One profile being edited: the rules as text until they parse.
fn rules_text(rules: &VideoRules) -> String {
    serde_json::to_string_pretty(rules).unwrap_or_default()
}

pub fn workers_window(run: &mut RunView, ctx: &egui::Context) {
    if !run.settings_open {
        run.workers_draft = None;
        run.types_draft = None;
        return;
    }
    let types = run.types_draft.get_or_insert_with(|| run.ingest_types.join("\n"));
    let draft = run.workers_draft.get_or_insert_with(|| run.workers.clone());
    let pal = Palette::of(ctx);
    let mut open = true;
    let mut save = false;
    let mut problems = Vec::new();
    let mut save_types = false;
    egui::Window::new("Settings").open(&mut open).default_width(560.0).show(ctx, |ui| {
        ui.heading("Ingest");
        ui.label(RichText::new("Accepted types of uploaded files, one MIME type a line, recognised from the content (not the extension). Empty accepts any file.").weak());
        ui.add(egui::TextEdit::multiline(types).desired_rows(3).desired_width(f32::INFINITY).id_salt("ingest-types"));
        if ui.button("Save accepted types").clicked() {
            save_types = true;
        }
        ui.separator();
        ui.heading("Local workers");
        ui.label(RichText::new("Workers answer activity tasks of the local engine. They are set here, never by a workflow file.").weak());
        ui.separator();
        let mut remove = None;
        for (i, p) in draft.iter_mut().enumerate() {
            ui.push_id(i, |ui| {
                ui.horizontal(|ui| {
                    ui.checkbox(&mut p.enabled, "Enabled");
                    ui.label("Activity");
                    ui.add(egui::TextEdit::singleline(&mut p.activity).desired_width(220.0));
                    let is_command = matches!(p.kind, WorkerKind::Command { .. });
                    if ui.selectable_label(is_command, "Command").clicked() && !is_command {
                        p.kind = WorkerKind::Command { command: String::new() };
                    }
                    if ui.selectable_label(!is_command, "Video check").clicked() && is_command {
                        p.kind = WorkerKind::VideoCheck { rules: VideoRules::default() };
                    }
                    if ui.small_button("Remove").clicked() {
                        remove = Some(i);
                    }
                });
                match &mut p.kind {
                    WorkerKind::Command { command } => {
                        ui.add(egui::TextEdit::singleline(command).hint_text("a command; the task input arrives on standard input").desired_width(f32::INFINITY));
                    }
                    WorkerKind::VideoCheck { rules } => {
                        let id = ui.id().with("rules");
                        let mut text = ui.data_mut(|d| d.get_temp::<String>(id)).unwrap_or_else(|| rules_text(rules));
                        ui.add(egui::TextEdit::multiline(&mut text).code_editor().desired_rows(4).desired_width(f32::INFINITY));
                        match serde_json::from_str::<VideoRules>(&text) {
                            Ok(r) => *rules = r,
                            Err(e) => {
                                ui.colored_label(pal.error, format!("Rules are not valid yet: {e}"));
                                problems.push(i);
                            }
                        }
                        ui.data_mut(|d| d.insert_temp(id, text));
                    }
                }
                if p.activity.trim().is_empty() {
                    problems.push(i);
                }
                ui.separator();
            });
        }
        if let Some(i) = remove {
            draft.remove(i);
        }
        ui.horizontal(|ui| {
            if ui.button("+ Add worker").clicked() {
                draft.push(WorkerProfile { activity: String::new(), enabled: true, kind: WorkerKind::Command { command: String::new() } });
            }
            if ui.add_enabled(problems.is_empty(), egui::Button::new("Save")).clicked() {
                save = true;
            }
            if !problems.is_empty() {
                ui.colored_label(pal.warning, "Fix the marked profiles to save.");
            }
        });
    });
    let types_list: Option<Vec<String>> = save_types.then(|| types.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect());
    let profiles = save.then(|| draft.clone());
    if let Some(list) = types_list {
        run.send(Command::SetIngestTypes(list.clone()));
        run.ingest_types = list;
    }
    if let Some(profiles) = profiles {
        run.send(Command::SetWorkerProfiles(profiles.clone()));
        run.workers = profiles;
    }
    if !open {
        run.settings_open = false;
    }
}
