//! The designer at scale: auto-layout of a generated 1,000-state machine, and the CPU cost of
//! one whole window frame (every panel, the canvas with all nodes, and tessellation into
//! triangles; only the GPU upload is left out) with that machine open.
//!
//! Bars (issue 4): a frame under 8 ms, auto-layout under 100 ms.

use criterion::{Criterion, criterion_group, criterion_main};
use eframe::egui;
use stepwise::app::{DesignerApp, StartOptions};
use stepwise::diagram::{Diagram, layout};

fn machine(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("large-{n}.asl.json"));
    std::fs::write(&file, stepwise::asl::generate::large_definition(n)).expect("write");
    (dir, file)
}

fn layout_bench(c: &mut Criterion) {
    let text = stepwise::asl::generate::large_definition(1000);
    let root: serde_json::Value = serde_json::from_str(&text).expect("generated JSON");
    let d = Diagram::build(&root, &Default::default());
    c.bench_function("auto_layout_1000_states", |b| b.iter(|| layout::auto_layout(std::hint::black_box(&d))));
}

fn frame_bench(c: &mut Criterion) {
    let (dir, file) = machine(1000);
    let mut app = DesignerApp::new(StartOptions { open: Some(file), config_dir: dir.path().join("config"), data_dir: None });
    let ctx = egui::Context::default();
    let input = |t: f64| egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1400.0, 900.0))),
        time: Some(t),
        ..Default::default()
    };
    let mut t = 0.0;
    let mut frame = |app: &mut DesignerApp| {
        t += 1.0 / 60.0;
        let out = ctx.run_ui(input(t), |ui| app.ui(ui));
        ctx.tessellate(out.shapes, out.pixels_per_point)
    };
    // First frames fit the machine into view and build the canvas graph.
    for _ in 0..5 {
        frame(&mut app);
    }
    let mut group = c.benchmark_group("designer_frame_1000_states");
    group.bench_function("whole_machine_in_view", |b| b.iter(|| frame(&mut app)));
    // Zoomed to 100 % on one state: labels drawn, most nodes off screen.
    app.canvas.center_on = Some("Step 00500".into());
    let meta_id = egui::Id::new(egui_graphs::MetadataFrame::new(Some(stepwise::app::canvas::CANVAS_ID.into())).get_id());
    ctx.data_mut(|d| d.get_persisted_mut_or_default::<egui_graphs::MetadataFrame>(meta_id).zoom = 1.0);
    for _ in 0..3 {
        frame(&mut app);
    }
    group.bench_function("zoomed_to_one_state", |b| b.iter(|| frame(&mut app)));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = layout_bench, frame_bench
}
criterion_main!(benches);
