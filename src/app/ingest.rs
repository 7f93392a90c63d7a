//! Uploads: files dropped on the window or picked with "Upload…" go to the raw bucket, one
//! execution each. This panel shows each file's progress (bytes, speed, time left) and why a
//! file was refused; the files themselves are never touched.

use eframe::egui::{self, RichText};

use super::run::RunView;
use super::theme::{self, Palette};
use crate::backend::{Command, UploadState};

/// Paths dropped on the window this frame, and whether files hover over it now.
pub fn dropped_files(ctx: &egui::Context) -> (Vec<std::path::PathBuf>, bool) {
    ctx.input(|i| (i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect(), !i.raw.hovered_files.is_empty()))
}

/// The highlight while files hover over the window: where they will go.
pub fn hover_ui(ctx: &egui::Context, run: &RunView) {
    let pal = Palette::of(ctx);
    let screen = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::new("drop-highlight")));
    painter.rect_filled(screen, 0.0, pal.canvas.gamma_multiply(0.85));
    painter.rect_stroke(screen.shrink(8.0), 12.0, egui::Stroke::new(3.0, pal.selection), egui::StrokeKind::Inside);
    painter.text(
        screen.center(),
        egui::Align2::CENTER_CENTER,
        format!("Drop videos to upload them to {} and run {}", super::run::RAW_BUCKET, run.machine_name()),
        egui::FontId::proportional(22.0),
        pal.node_text,
    );
}

pub(crate) fn size_text(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

pub fn uploads_ui(run: &mut RunView, ui: &mut egui::Ui) {
    let pal = Palette::of(ui.ctx());
    if run.uploads.is_empty() {
        ui.label(RichText::new(format!("Drop video files on the window (or use Upload…) to upload them to {} and start {} for each.", super::run::RAW_BUCKET, run.machine_name())).weak());
        return;
    }
    let mut command = None;
    let mut show = None;
    egui::ScrollArea::vertical().id_salt("uploads").auto_shrink([false, false]).show(ui, |ui| {
        for u in run.uploads.iter().rev() {
            let name = u.path.file_name().map_or_else(|| u.path.display().to_string(), |n| n.to_string_lossy().into_owned());
            ui.horizontal(|ui| {
                ui.add_sized([220.0, 18.0], egui::Label::new(name).truncate()).on_hover_text(u.path.display().to_string());
                match &u.state {
                    UploadState::Queued => {
                        ui.label(RichText::new("queued").weak());
                        if ui.small_button("Cancel").clicked() {
                            command = Some(Command::CancelUpload(u.id));
                        }
                    }
                    UploadState::Uploading { progress, started } => {
                        let (done, total) = (progress.done(), progress.total().max(1));
                        let secs = started.elapsed().as_secs_f64().max(0.001);
                        let speed = done as f64 / secs;
                        let left = if speed > 0.0 { (total.saturating_sub(done)) as f64 / speed } else { 0.0 };
                        ui.add(egui::ProgressBar::new(done as f32 / total as f32).desired_width(200.0).show_percentage());
                        ui.label(format!("{} of {} · {}/s · {:.0} s left", size_text(done), size_text(total), size_text(speed as u64), left));
                        if ui.small_button("Cancel").clicked() {
                            command = Some(Command::CancelUpload(u.id));
                        }
                    }
                    UploadState::Started { execution_arn, size } => {
                        ui.colored_label(theme::succeeded(&pal), format!("✔ uploaded {} · execution started", size_text(*size)));
                        if ui.link("show").clicked() {
                            show = Some(execution_arn.clone());
                        }
                    }
                    UploadState::Failed(why) => {
                        ui.colored_label(pal.error, format!("✖ {why}"));
                    }
                    UploadState::Cancelled => {
                        ui.label(RichText::new("cancelled; nothing was stored").weak());
                    }
                }
            });
        }
    });
    if let Some(c) = command {
        run.send(c);
    }
    if let Some(arn) = show {
        run.watch(arn);
    }
}
