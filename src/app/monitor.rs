//! The execution panels of the Run mode: the executions list, the execution's diagram with
//! each state coloured by its status, and the details beside it (event history, a state's
//! input and output per processing step, the timeline, the execution's input and output).
//!
//! Everything shown about an execution is read from its [`ExecutionModel`]; these functions
//! only lay it out.

use eframe::egui::{self, Color32, RichText, Sense, Stroke, pos2, vec2};
use egui_extras::{Column, TableBuilder};
use serde_json::Value;

use super::canvas::NodeStatus;
use super::document::Document;
use super::run::{RunView, SideTab, Watched};
use super::theme::{self, Palette};
use crate::backend::Command;
use crate::monitor::{BarKind, ExecutionModel, IoStage, IoSteps, StateStatus, StateView};

const STATUSES: [(&str, Option<&str>); 6] = [
    ("All", None),
    ("Running", Some("RUNNING")),
    ("Succeeded", Some("SUCCEEDED")),
    ("Failed", Some("FAILED")),
    ("Timed out", Some("TIMED_OUT")),
    ("Aborted", Some("ABORTED")),
];

/// Milliseconds since the Unix epoch, now (durations and countdowns).
pub use crate::store::now_wall_ms as now_ms;

/// "4 s", "2 min 5 s", "1 h 3 min".
pub fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A time of day in UTC, to the second (the list is for telling executions apart).
pub fn clock_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%H:%M:%S").to_string())
}

fn date_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
}

pub fn status_word(status: StateStatus) -> &'static str {
    match status {
        StateStatus::NotReached => "not reached",
        StateStatus::Running => "running",
        StateStatus::WaitingForWorker => "waiting for a worker",
        StateStatus::WorkerRunning => "worker running",
        StateStatus::Retrying => "retrying",
        StateStatus::Succeeded => "succeeded",
        StateStatus::Failed => "failed",
        StateStatus::Caught => "caught",
        StateStatus::Cancelled => "cancelled",
    }
}

/// One line about a state's progress: its status, how long it has been at it, and how long
/// until its TimeoutSeconds or HeartbeatSeconds run out.
pub fn state_caption(v: &StateView, now: i64) -> String {
    let mut parts = vec![status_word(v.status).to_string()];
    match v.status {
        StateStatus::WaitingForWorker => {
            if let Some(at) = v.scheduled_at {
                parts.push(duration_text(now - at));
                if let Some(t) = v.timeout_seconds {
                    parts.push(format!("times out in {}", duration_text(at + t as i64 * 1000 - now)));
                }
            }
        }
        StateStatus::WorkerRunning => {
            if let Some(at) = v.started_at {
                parts.push(duration_text(now - at));
            }
            let timeout = v.scheduled_at.zip(v.timeout_seconds).map(|(at, t)| at + t as i64 * 1000);
            let heartbeat = v.last_heartbeat_at.or(v.started_at).zip(v.heartbeat_seconds).map(|(at, t)| at + t as i64 * 1000);
            match (timeout, heartbeat) {
                (Some(t), Some(h)) if h < t => parts.push(format!("heartbeat due in {}", duration_text(h - now))),
                (Some(t), _) => parts.push(format!("times out in {}", duration_text(t - now))),
                (None, Some(h)) => parts.push(format!("heartbeat due in {}", duration_text(h - now))),
                (None, None) => {}
            }
        }
        StateStatus::Running => {
            if let Some(at) = v.entered_at {
                parts.push(duration_text(now - at));
            }
        }
        StateStatus::Retrying => parts.push(format!("attempt {} failed", v.attempts.max(1))),
        StateStatus::Failed | StateStatus::Caught => {
            if let Some((error, _)) = &v.last_error {
                parts.push(error.clone());
            }
        }
        _ => {}
    }
    if let Some(c) = &v.children {
        let total = c.total.map_or_else(|| "?".into(), |t| t.to_string());
        parts.push(format!("{}/{total} done, {} failed", c.succeeded, c.failed));
    }
    if v.entries > 1 {
        parts.push(format!("×{}", v.entries));
    }
    parts.join(" · ")
}

/// The overlay of every diagram node for the model (by node index).
pub fn overlay(doc: &Document, model: &ExecutionModel, pal: &Palette, now: i64) -> Vec<Option<NodeStatus>> {
    doc.diagram
        .nodes
        .iter()
        .map(|n| {
            let name = n.state_name()?;
            let status = model.state(name).map_or(StateStatus::NotReached, |v| v.status);
            let caption = match model.state(name) {
                Some(v) if v.status != StateStatus::NotReached => state_caption(v, now),
                _ => String::new(),
            };
            Some(NodeStatus { colour: theme::status_colour(pal, status), caption, active: status.is_active() })
        })
        .collect()
}

pub fn executions_ui(run: &mut RunView, ui: &mut egui::Ui, doc: &Document) {
    let pal = Palette::of(ui.ctx());
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("Executions");
        if let Some((name, _)) = &run.machine {
            ui.label(RichText::new(format!("of {name}")).weak());
        }
    });
    ui.horizontal(|ui| {
        if ui.button("⬆ Upload…").on_hover_text(format!("Upload videos to {} and start an execution for each", super::run::RAW_BUCKET)).clicked()
            && let Some(paths) = rfd::FileDialog::new().add_filter("Video", &["mp4", "mov", "m4v", "mkv", "webm", "avi"]).pick_files() {
                run.ingest(paths, doc);
            }
        ui.label(RichText::new("or drop files on the window").weak().small());
    });
    if ui.button("▶ Start execution…").on_hover_text("Start the open workflow with an input you type").clicked() {
        run.open_start(doc);
    }
    ui.horizontal(|ui| {
        ui.label("Status");
        let current = STATUSES.iter().find(|(_, s)| *s == run.status_filter).map_or("All", |(l, _)| l);
        egui::ComboBox::from_id_salt("status-filter").selected_text(current).show_ui(ui, |ui| {
            for (label, status) in STATUSES {
                ui.selectable_value(&mut run.status_filter, status, label);
            }
        });
    });
    ui.separator();
    let now = now_ms();
    let rows: Vec<usize> = run.executions.iter().enumerate().filter(|(_, e)| run.status_filter.is_none_or(|s| e.status == s)).map(|(i, _)| i).collect();
    if rows.is_empty() {
        ui.label(RichText::new(if run.executions.is_empty() { "No executions yet. Drop a video on the window to start one." } else { "No execution has this status." }).weak());
        return;
    }
    let watched = run.watched.as_ref().map(|w| w.execution.execution_arn.clone());
    let mut clicked = None;
    TableBuilder::new(ui)
        .id_salt("executions-table")
        .striped(true)
        .sense(Sense::click())
        .column(Column::exact(80.0))
        .column(Column::remainder().at_least(80.0).clip(true))
        .column(Column::exact(62.0))
        .column(Column::exact(70.0))
        .header(18.0, |mut h| {
            for t in ["Status", "Name", "Started", "Duration"] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, rows.len(), |mut row| {
                let e = &run.executions[rows[row.index()]];
                row.set_selected(watched.as_deref() == Some(e.execution_arn.as_str()));
                row.col(|ui| {
                    ui.label(RichText::new(&e.status).color(theme::execution_colour(&pal, &e.status)));
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(&e.name).truncate().selectable(false)).on_hover_text(&e.execution_arn);
                });
                row.col(|ui| {
                    ui.label(clock_text(e.start_date)).on_hover_text(date_text(e.start_date));
                });
                row.col(|ui| {
                    ui.label(duration_text(e.stop_date.unwrap_or(now) - e.start_date));
                });
                if row.response().clicked() {
                    clicked = Some(e.execution_arn.clone());
                }
            });
        });
    if let Some(arn) = clicked {
        run.watch(arn);
    }
}

/// The execution's header (name, status, actions), what is active now, and its diagram.
pub fn execution_ui(run: &mut RunView, ui: &mut egui::Ui, doc: &Document) {
    let pal = Palette::of(ui.ctx());
    let Some(w) = run.watched.as_ref() else {
        ui.add_space(40.0);
        ui.vertical_centered(|ui| {
            ui.label(RichText::new("Pick an execution on the left, or drop a video on the window to start one.").weak());
        });
        return;
    };
    let now = now_ms();
    let mut command = None;
    egui::Frame::new().inner_margin(egui::Margin::symmetric(8, 4)).show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.strong(&w.execution.name);
            ui.label(RichText::new(&w.execution.status).color(theme::execution_colour(&pal, &w.execution.status)).strong());
            ui.label(RichText::new(duration_text(w.execution.stop_date.unwrap_or(now) - w.execution.start_date)).weak());
            ui.separator();
            let arn = w.execution.execution_arn.clone();
            if ui.add_enabled(w.execution.status == "RUNNING", egui::Button::new("⏹ Stop")).clicked() {
                command = Some(Command::Stop(arn.clone()));
            }
            if ui.button("⟲ Start again").on_hover_text("Start the state machine again with this execution's input").clicked() {
                command = Some(Command::StartAgain(arn.clone()));
            }
            // The backend's word when it has one (an EXPRESS execution is never redriven).
            let redrivable = match w.execution.redrive_status.as_deref() {
                Some(status) => status == "REDRIVABLE",
                None => crate::engine::Status::name_ended_unsuccessfully(&w.execution.status),
            };
            if ui
                .add_enabled(redrivable, egui::Button::new("↻ Redrive"))
                .on_hover_text("Go on from the state that stopped this execution, keeping what succeeded (failed, aborted or timed-out executions)")
                .clicked()
            {
                command = Some(Command::Redrive(arn.clone()));
            }
            if ui.button("Export history…").clicked()
                && let Some(path) = rfd::FileDialog::new().set_file_name(format!("{}.history.json", w.execution.name)).add_filter("JSON", &["json"]).save_file() {
                    command = Some(Command::ExportHistory { arn, path });
                }
        });
        if run.machine.as_ref().is_some_and(|(_, arn)| *arn != w.execution.state_machine_arn) {
            let other = w.execution.state_machine_arn.rsplit(':').next().unwrap_or("");
            ui.colored_label(pal.warning, format!("This execution is of {other}; the diagram is the open workflow's. Open {other}'s file to see it drawn."));
        }
        // What is going on now, in words (and for screen readers: the diagram has none).
        let mut active: Vec<(&str, &StateView)> = w.model.states().filter(|(_, v)| v.status.is_active()).collect();
        active.sort_by_key(|(_, v)| v.entered_at);
        ui.horizontal_wrapped(|ui| {
            if active.is_empty() {
                ui.label(RichText::new("Nothing running.").weak());
            }
            for (name, v) in active.iter().take(6) {
                ui.label(RichText::new(format!("• {name}: {}", state_caption(v, now))).color(theme::status_colour(&pal, v.status)));
            }
        });
    });
    if let Some(c) = command {
        run.send(c);
    }
    if run.fit_frames > 0 {
        run.fit_frames -= 1;
        run.canvas.fit_requested = true;
    }
    let statuses = run.watched.as_ref().map(|w| overlay(doc, &w.model, &pal, now)).unwrap_or_default();
    let selection: Vec<String> = run.selected_state.iter().cloned().collect();
    run.canvas.set_overlay(doc, &selection, pal.dark, statuses);
    let out = run.canvas.ui(ui, doc, &selection);
    if let Some(sel) = out.select {
        run.selected_state = sel.into_iter().next();
        if run.selected_state.is_some() {
            run.side = SideTab::StateIo;
        }
    }
}

/// The right-hand panel: history, state I/O, timeline, execution input and output.
pub fn details_ui(run: &mut RunView, ui: &mut egui::Ui, doc: &Document) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.selectable_value(&mut run.side, SideTab::History, "History");
        ui.selectable_value(&mut run.side, SideTab::StateIo, "State input/output");
        ui.selectable_value(&mut run.side, SideTab::Timeline, "Timeline");
        ui.selectable_value(&mut run.side, SideTab::Execution, "Execution");
    });
    ui.separator();
    match run.side {
        SideTab::History => history_ui(run, ui),
        SideTab::StateIo => state_io_ui(run, ui, doc),
        SideTab::Timeline => timeline_ui(run, ui),
        SideTab::Execution => {
            if let Some(w) = &run.watched {
                execution_io_ui(w, ui);
            }
        }
    }
}

fn history_ui(run: &mut RunView, ui: &mut egui::Ui) {
    let Some(w) = run.watched.as_ref() else { return };
    let model = &w.model;
    let mut spec = run.history_filter.clone();
    // "Selected state" follows the selection on the diagram.
    if spec.state.is_some() && run.selected_state.is_some() && spec.state != run.selected_state {
        spec.state = run.selected_state.clone();
    }
    ui.horizontal(|ui| {
        let current = spec.types.first().cloned().unwrap_or_else(|| "All types".into());
        egui::ComboBox::from_id_salt("history-type").selected_text(current).width(190.0).show_ui(ui, |ui| {
            if ui.selectable_label(spec.types.is_empty(), "All types").clicked() {
                spec.types.clear();
            }
            let mut types: Vec<&str> = model.event_types().collect();
            types.sort_unstable();
            for t in types {
                if ui.selectable_label(spec.types.first().is_some_and(|s| s == t), t).clicked() {
                    spec.types = vec![t.to_string()];
                }
            }
        });
        ui.checkbox(&mut spec.failed_only, "Failed only");
        let mut only_state = spec.state.is_some();
        let can = run.selected_state.is_some();
        if ui.add_enabled(can || only_state, egui::Checkbox::new(&mut only_state, "Selected state")).changed() {
            spec.state = if only_state { run.selected_state.clone() } else { None };
        }
    });
    if spec != run.history_filter {
        run.history_filter = spec.clone();
    }
    let seen = model.events().len();
    let fresh = run.history_rows.as_ref().is_some_and(|(n, s, _)| *n == seen && *s == spec);
    if !fresh {
        run.history_rows = Some((seen, spec, model.filter(&run.history_filter)));
    }
    let Some((_, _, rows)) = run.history_rows.as_ref() else { return };
    ui.label(RichText::new(format!("{} of {} events", rows.len(), seen)).weak().small());
    let start = model.started_at().unwrap_or(0);
    let pal = Palette::of(ui.ctx());
    let mut picked = None;
    TableBuilder::new(ui)
        .id_salt("history-table")
        .striped(true)
        .sense(Sense::click())
        .stick_to_bottom(true)
        .column(Column::exact(34.0))
        .column(Column::exact(58.0))
        .column(Column::initial(140.0).resizable(true).clip(true))
        .column(Column::initial(100.0).resizable(true).clip(true))
        .column(Column::remainder().at_least(60.0).clip(true))
        .header(18.0, |mut h| {
            for t in ["Id", "Time", "Type", "State", "Details"] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(18.0, rows.len(), |mut row| {
                let i = rows[row.index()];
                let Some(e) = model.events().get(i) else { return };
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
                let failure = kind.ends_with("Failed") || kind.ends_with("TimedOut") || kind.ends_with("Aborted");
                row.col(|ui| {
                    ui.label(e.get("id").map_or_else(String::new, |v| v.to_string()));
                });
                row.col(|ui| {
                    let t = model.event_time(i).unwrap_or(start);
                    ui.label(format!("+{:.3}", (t - start) as f64 / 1000.0)).on_hover_text(date_text(t));
                });
                row.col(|ui| {
                    let text = RichText::new(kind);
                    ui.label(if failure { text.color(pal.error) } else { text });
                });
                row.col(|ui| {
                    ui.label(model.event_state(i).unwrap_or(""));
                });
                row.col(|ui| {
                    let details = event_details(e);
                    let short: String = details.chars().take(200).collect();
                    ui.add(egui::Label::new(RichText::new(short).monospace().small()).truncate()).on_hover_ui(|ui| {
                        ui.label(RichText::new(pretty(&details)).monospace().small());
                    });
                });
                // A click on an event selects its state (its data shows in State input/output).
                if row.response().clicked() {
                    picked = model.event_state(i).map(str::to_string);
                }
            });
        });
    if let Some(state) = picked {
        run.selected_state = Some(state);
    }
}

/// The `…EventDetails` object of an event as one line of JSON.
fn event_details(e: &Value) -> String {
    e.as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")).map(|(_, v)| v.to_string()))
        .unwrap_or_default()
}

/// JSON text pretty-printed; other text as it is. Fields that hold JSON as text (AWS's
/// `input`, `output`) are shown as the JSON they hold.
pub fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => pretty_value(&v),
        Err(_) => text.to_string(),
    }
}

fn pretty_value(v: &Value) -> String {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => serde_json::to_string_pretty(&inner).unwrap_or_default(),
            _ => s.clone(),
        },
        Value::Object(m) => {
            let expanded: serde_json::Map<String, Value> = m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k.clone(), serde_json::from_str::<Value>(s).ok().filter(|x| x.is_object() || x.is_array()).unwrap_or_else(|| v.clone())),
                    _ => (k.clone(), v.clone()),
                })
                .collect();
            serde_json::to_string_pretty(&Value::Object(expanded)).unwrap_or_default()
        }
        _ => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

fn json_block(ui: &mut egui::Ui, title: &str, value: Option<&Value>) {
    ui.strong(title);
    match value {
        Some(v) => {
            let mut text = pretty_value(v);
            ui.add(egui::TextEdit::multiline(&mut text).code_editor().desired_rows(1).desired_width(f32::INFINITY).interactive(true));
        }
        None => {
            ui.label(RichText::new("—").weak());
        }
    }
    ui.add_space(6.0);
}

fn stage_ui(ui: &mut egui::Ui, title: &str, stage: &IoStage) {
    match stage {
        IoStage::NotApplicable => {}
        IoStage::NotYet => {
            ui.strong(title);
            ui.label(RichText::new("not yet").weak());
            ui.add_space(6.0);
        }
        IoStage::Error(e) => {
            ui.strong(title);
            ui.colored_label(Palette::of(ui.ctx()).error, e);
            ui.add_space(6.0);
        }
        IoStage::Value(v) => json_block(ui, title, Some(v)),
    }
}

fn state_io_ui(run: &mut RunView, ui: &mut egui::Ui, doc: &Document) {
    let Some(w) = run.watched.as_ref() else { return };
    let Some(state) = run.selected_state.clone() else {
        ui.label(RichText::new("Click a state on the diagram to see its input and output at each processing step.").weak());
        return;
    };
    let pal = Palette::of(ui.ctx());
    ui.horizontal(|ui| {
        ui.strong(&state);
        if let Some(v) = w.model.state(&state) {
            ui.label(RichText::new(state_caption(v, now_ms())).color(theme::status_colour(&pal, v.status)));
        }
    });
    let Some(steps) = w.model.io_steps(&doc.root, &state) else {
        ui.label(RichText::new("This state has not been entered in this execution.").weak());
        return;
    };
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        match &steps {
            IoSteps::JsonPath(s) => {
                stage_ui(ui, "Input", &s.input);
                stage_ui(ui, "After InputPath", &s.after_input_path);
                stage_ui(ui, "After Parameters", &s.after_parameters);
                stage_ui(ui, "Result", &s.result);
                stage_ui(ui, "After ResultSelector", &s.after_result_selector);
                stage_ui(ui, "After ResultPath", &s.after_result_path);
                stage_ui(ui, "Output (after OutputPath)", &s.after_output_path);
            }
            IoSteps::Jsonata(s) => {
                stage_ui(ui, "Input", &s.input);
                stage_ui(ui, "Arguments", &s.after_arguments);
                stage_ui(ui, "Result", &s.result);
                stage_ui(ui, "Output", &s.output);
            }
        }
        for note in steps.notes() {
            ui.label(RichText::new(format!("ⓘ {note}")).weak().small());
        }
    });
}

fn execution_io_ui(w: &Watched, ui: &mut egui::Ui) {
    let e = &w.execution;
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.label(RichText::new(&e.execution_arn).weak().small());
        ui.label(format!("Started {}", date_text(e.start_date)));
        if let Some(s) = e.stop_date {
            ui.label(format!("Ended {} ({})", date_text(s), duration_text(s - e.start_date)));
        }
        ui.add_space(6.0);
        json_block(ui, "Input", Some(&e.input));
        json_block(ui, "Output", e.output.as_ref());
        if let Some(error) = &e.error {
            ui.strong("Error");
            ui.colored_label(Palette::of(ui.ctx()).error, error);
        }
        if let Some(cause) = &e.cause {
            ui.strong("Cause");
            ui.label(pretty(cause));
        }
    });
}

fn bar_colour(pal: &Palette, kind: BarKind, status: StateStatus) -> Color32 {
    match kind {
        BarKind::Run => theme::status_colour(pal, status).gamma_multiply(0.45),
        BarKind::Attempt(_) => theme::status_colour(pal, status),
        BarKind::Backoff => pal.warning.gamma_multiply(0.5),
        BarKind::WaitingForWorker => pal.warning,
        BarKind::WorkerRunning => pal.selection,
    }
}

/// The Gantt timeline: a row per state entry, with its attempts, the back-off between
/// retries and an activity's waiting and working parts.
fn timeline_ui(run: &mut RunView, ui: &mut egui::Ui) {
    let Some(w) = run.watched.as_ref() else { return };
    let pal = Palette::of(ui.ctx());
    let bars = w.model.gantt();
    let Some(start) = w.model.started_at().or_else(|| bars.iter().map(|b| b.start).min()) else { return };
    let now = now_ms();
    let end = w.model.ended_at().unwrap_or(now).max(start + 1000);
    let span = (end - start) as f32;
    let mut entries: Vec<usize> = bars.iter().map(|b| b.entry).collect();
    entries.dedup();
    ui.label(RichText::new(format!("{} state entries over {} · dark: an attempt, amber: waiting for a worker or backing off, blue: a worker running", entries.len(), duration_text(end - start))).weak().small());
    let row_h = 20.0;
    let label_w = 150.0;
    egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_h, entries.len(), |ui, range| {
        for row in range {
            let entry = entries[row];
            let (rect, resp) = ui.allocate_exact_size(vec2(ui.available_width(), row_h), Sense::click());
            let painter = ui.painter_at(rect);
            let mine: Vec<_> = bars.iter().filter(|b| b.entry == entry).collect();
            let Some(first) = mine.first() else { continue };
            let status = w.model.entry(entry).map_or(StateStatus::NotReached, |(_, v)| v.status);
            painter.text(pos2(rect.min.x + 2.0, rect.center().y), egui::Align2::LEFT_CENTER, &*first.state, egui::FontId::proportional(12.0), pal.node_text);
            let track = egui::Rect::from_min_max(pos2(rect.min.x + label_w, rect.min.y + 3.0), pos2(rect.max.x - 4.0, rect.max.y - 3.0));
            let x = |t: i64| track.min.x + track.width() * ((t - start) as f32 / span).clamp(0.0, 1.0);
            for b in &mine {
                let (x0, x1) = (x(b.start), x(b.end.unwrap_or(now)).max(x(b.start) + 2.0));
                let inset = match b.kind {
                    BarKind::Run => 0.0,
                    BarKind::Attempt(_) | BarKind::Backoff => 3.0,
                    _ => 5.0,
                };
                let r = egui::Rect::from_min_max(pos2(x0, track.min.y + inset), pos2(x1, track.max.y - inset));
                painter.rect_filled(r, 2.0, bar_colour(&pal, b.kind, status));
                if b.kind == BarKind::Backoff {
                    painter.rect_stroke(r, 2.0, Stroke::new(1.0, pal.warning), egui::StrokeKind::Inside);
                }
            }
            if resp.clicked() {
                run.selected_state = Some(first.state.to_string());
            }
            resp.on_hover_text(mine.iter().map(|b| format!("{:?}: +{:.3} s → {}", b.kind, (b.start - start) as f64 / 1000.0, b.end.map_or("now".into(), |e| format!("+{:.3} s", (e - start) as f64 / 1000.0)))).collect::<Vec<_>>().join("\n"));
        }
    });
}
