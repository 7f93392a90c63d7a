//! The Pending tasks panel: every activity task waiting for a worker or being worked on,
//! across executions. A person can take one, read its input and answer it as a worker would.

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::monitor::{duration_text, now_ms};
use super::run::RunView;
use super::theme::Palette;
use crate::backend::{Command, TakenTask};

pub fn pending_ui(run: &mut RunView, ui: &mut egui::Ui) {
    // The taken task's form replaces the list: answering needs the room, and the list is one
    // click away.
    if run.taken.is_some() {
        taken_ui(run, ui);
    } else {
        list_ui(run, ui);
    }
}

fn list_ui(run: &mut RunView, ui: &mut egui::Ui) {
    if run.pending.is_empty() {
        ui.label(RichText::new("No activity task is waiting. Tasks appear here when an execution reaches an activity.").weak());
        return;
    }
    let pal = Palette::of(ui.ctx());
    let now = now_ms();
    let mut take = None;
    let mut answer = None;
    let mut show = None;
    TableBuilder::new(ui)
        .id_salt("pending-table")
        .striped(true)
        .column(Column::initial(150.0).resizable(true).clip(true))
        .column(Column::initial(150.0).resizable(true).clip(true))
        .column(Column::initial(120.0).clip(true))
        .column(Column::exact(130.0))
        .column(Column::exact(110.0))
        .column(Column::remainder())
        .header(18.0, |mut h| {
            for t in ["Activity", "Execution", "State", "Waiting since", "Timeout", ""] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(22.0, run.pending.len(), |mut row| {
                let t = &run.pending[row.index()];
                row.col(|ui| {
                    ui.label(t.activity_name.as_deref().unwrap_or(&t.resource)).on_hover_text(&t.resource);
                });
                row.col(|ui| {
                    let name = t.execution_arn.rsplit(':').next().unwrap_or(&t.execution_arn);
                    if ui.link(name).on_hover_text(&t.execution_arn).clicked() {
                        show = Some(t.execution_arn.clone());
                    }
                });
                row.col(|ui| {
                    ui.label(&t.state_name);
                });
                row.col(|ui| {
                    ui.label(duration_text(now - t.scheduled_ms));
                });
                row.col(|ui| {
                    let left = t.timeout_seconds.map(|s| t.scheduled_ms + s as i64 * 1000 - now);
                    ui.label(left.map_or("none".into(), |l| format!("in {}", duration_text(l))));
                });
                row.col(|ui| {
                    if t.status == "scheduled" {
                        if ui.button("Take").on_hover_text("Claim this task as a worker would, then answer it").clicked() {
                            take = Some(t.token.clone());
                        }
                    } else {
                        ui.horizontal(|ui| {
                            // Whoever holds the token may answer; this also recovers a task
                            // this window took before it was closed.
                            if ui.small_button("Answer").on_hover_text("Answer for the worker that holds it").clicked() {
                                answer = Some(TakenTask { token: t.token.clone(), execution_arn: t.execution_arn.clone(), input: t.input.clone(), heartbeat_seconds: t.heartbeat_seconds });
                            }
                            ui.add(egui::Label::new(RichText::new(format!("worker running: {}", t.worker.as_deref().unwrap_or("?"))).color(pal.selection).small()).truncate());
                        });
                    }
                });
            });
        });
    if let Some(token) = take {
        run.send(Command::TakeTask { token });
    }
    if let Some(task) = answer {
        run.apply(crate::backend::Update::Taken(task));
    }
    if let Some(arn) = show {
        run.watch(arn);
    }
}

fn taken_ui(run: &mut RunView, ui: &mut egui::Ui) {
    let pal = Palette::of(ui.ctx());
    let Some(form) = run.taken.as_mut() else { return };
    let mut command = None;
    let mut close = false;
    egui::ScrollArea::vertical().id_salt("taken").auto_shrink([false, false]).show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.strong("Taken task");
            ui.label(RichText::new(form.task.execution_arn.rsplit(':').next().unwrap_or("")).weak());
            if ui.small_button("All pending tasks").on_hover_text("Hide this form; the task stays taken by this window until it is answered or times out").clicked() {
                close = true;
            }
        });
        ui.label("Output (JSON): what the worker returns");
        ui.add(egui::TextEdit::multiline(&mut form.output).code_editor().desired_rows(2).desired_width(f32::INFINITY).id_salt("task-output"));
        let parsed = serde_json::from_str::<serde_json::Value>(&form.output);
        ui.horizontal(|ui| {
            if ui.add_enabled(parsed.is_ok(), egui::Button::new("✔ Send success")).clicked() {
                command = Some(Command::SendSuccess { token: form.task.token.clone(), output: form.output.clone() });
            }
            if let Err(e) = &parsed {
                ui.colored_label(pal.error, format!("Not JSON yet: {e}"));
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Error");
            ui.add(egui::TextEdit::singleline(&mut form.error).hint_text("Review.Rejected").desired_width(150.0).id_salt("task-error"));
            ui.label("Cause");
            ui.add(egui::TextEdit::singleline(&mut form.cause).desired_width(180.0).id_salt("task-cause"));
        });
        ui.horizontal(|ui| {
            if ui.button("✖ Send failure").clicked() {
                command = Some(Command::SendFailure { token: form.task.token.clone(), error: form.error.clone(), cause: form.cause.clone() });
            }
            if ui.button("♥ Send heartbeat").on_hover_text(form.task.heartbeat_seconds.map_or("This task has no HeartbeatSeconds".into(), |s| format!("Restarts the {s} s heartbeat timeout"))).clicked() {
                command = Some(Command::Heartbeat { token: form.task.token.clone() });
            }
        });
        // The input last: the answer is what the panel is for, and the input can be long.
        ui.separator();
        ui.label("Input");
        let mut input = super::monitor::pretty(&form.task.input);
        ui.add(egui::TextEdit::multiline(&mut input).code_editor().desired_rows(3).desired_width(f32::INFINITY));
    });
    if let Some(c) = command {
        run.send(c);
    }
    if close {
        run.taken = None;
    }
}
