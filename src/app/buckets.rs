//! The bucket browser: the raw and approved buckets' objects (key, size, time), refreshed by
//! the backend after uploads and after S3 tasks copy or delete; open a copy, or delete.

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::monitor::clock_text;
use super::run::{APPROVED_BUCKET, RAW_BUCKET, RunView};
use super::theme::Palette;
use crate::backend::Command;

pub fn buckets_ui(run: &mut RunView, ui: &mut egui::Ui) {
    let pal = Palette::of(ui.ctx());
    let mut command = None;
    ui.columns(2, |cols| {
        for (col, bucket) in cols.iter_mut().zip([RAW_BUCKET, APPROVED_BUCKET]) {
            col.push_id(bucket, |ui| {
                ui.horizontal(|ui| {
                    ui.strong(bucket);
                    if ui.small_button("⟳").on_hover_text("List again").clicked() {
                        command = Some(Command::ListBucket(bucket.into()));
                    }
                });
                let Some(view) = run.buckets.get(bucket) else {
                    ui.label(RichText::new("not listed yet").weak());
                    return;
                };
                if let Some(e) = &view.error {
                    ui.colored_label(pal.warning, e);
                    return;
                }
                if view.objects.is_empty() {
                    ui.label(RichText::new("empty").weak());
                    return;
                }
                TableBuilder::new(ui)
                    .id_salt(bucket)
                    .striped(true)
                    .column(Column::remainder().clip(true))
                    .column(Column::exact(80.0))
                    .column(Column::exact(62.0))
                    .column(Column::exact(100.0))
                    .header(18.0, |mut h| {
                        for t in ["Key", "Size", "Modified", ""] {
                            h.col(|ui| {
                                ui.strong(t);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(20.0, view.objects.len(), |mut row| {
                            let o = &view.objects[row.index()];
                            row.col(|ui| {
                                ui.add(egui::Label::new(&o.key).truncate()).on_hover_text(format!("{}\n{} · ETag {}", o.key, o.content_type, o.etag));
                            });
                            row.col(|ui| {
                                ui.label(super::ingest::size_text(o.size)).on_hover_text(format!("{} bytes", o.size));
                            });
                            row.col(|ui| {
                                ui.label(clock_text(o.last_modified_ms));
                            });
                            row.col(|ui| {
                                ui.horizontal(|ui| {
                                    if ui.small_button("Open").on_hover_text("Copy to a temporary file and open it").clicked() {
                                        command = Some(Command::RevealObject { bucket: bucket.into(), key: o.key.clone() });
                                    }
                                    if ui.small_button("Delete").clicked() {
                                        run.confirm_delete = Some((bucket.to_string(), o.key.clone()));
                                    }
                                });
                            });
                        });
                    });
            });
        }
    });
    if let Some(c) = command {
        run.send(c);
    }
}

/// "Delete this object?", asked before anything is deleted.
pub fn confirm_delete_ui(run: &mut RunView, ctx: &egui::Context) {
    let Some((bucket, key)) = run.confirm_delete.clone() else { return };
    let mut answer = None;
    egui::Modal::new(egui::Id::new("confirm-delete")).show(ctx, |ui| {
        ui.heading("Delete object?");
        ui.label(format!("s3://{bucket}/{key} will be deleted from the local bucket. This cannot be undone."));
        ui.horizontal(|ui| {
            if ui.button("Delete").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    match answer {
        Some(true) => {
            run.send(Command::DeleteObject { bucket, key });
            run.confirm_delete = None;
        }
        Some(false) => run.confirm_delete = None,
        None => {}
    }
}
