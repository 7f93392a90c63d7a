//! Every colour and glyph the designer draws with. Panels never hard-code a colour.

use eframe::egui::{self, Color32};

use crate::asl::model::StateType;
use crate::diagram::NodeKind;

#[derive(Clone, Copy, Debug)]
pub struct Palette {
    pub dark: bool,
    pub canvas: Color32,
    pub grid: Color32,
    pub node_fill: Color32,
    pub node_text: Color32,
    pub muted_text: Color32,
    pub edge: Color32,
    pub edge_label_bg: Color32,
    pub selection: Color32,
    pub error: Color32,
    pub warning: Color32,
    pub frame: Color32,
}

impl Palette {
    pub fn new(dark: bool) -> Palette {
        if dark {
            Palette {
                dark,
                canvas: Color32::from_rgb(0x1b, 0x1e, 0x24),
                grid: Color32::from_rgb(0x26, 0x2a, 0x31),
                node_fill: Color32::from_rgb(0x2a, 0x2f, 0x38),
                node_text: Color32::from_rgb(0xe8, 0xea, 0xee),
                muted_text: Color32::from_rgb(0x9a, 0xa3, 0xb0),
                edge: Color32::from_rgb(0x8a, 0x94, 0xa3),
                edge_label_bg: Color32::from_rgba_unmultiplied(0x1b, 0x1e, 0x24, 230),
                selection: Color32::from_rgb(0x4d, 0xa3, 0xff),
                error: Color32::from_rgb(0xf0, 0x5a, 0x5a),
                warning: Color32::from_rgb(0xe8, 0xb3, 0x39),
                frame: Color32::from_rgb(0x6b, 0x74, 0x84),
            }
        } else {
            Palette {
                dark,
                canvas: Color32::from_rgb(0xf6, 0xf7, 0xf9),
                grid: Color32::from_rgb(0xe6, 0xe8, 0xec),
                node_fill: Color32::WHITE,
                node_text: Color32::from_rgb(0x16, 0x19, 0x1f),
                muted_text: Color32::from_rgb(0x5f, 0x67, 0x73),
                edge: Color32::from_rgb(0x6b, 0x74, 0x84),
                edge_label_bg: Color32::from_rgba_unmultiplied(0xf6, 0xf7, 0xf9, 235),
                selection: Color32::from_rgb(0x1a, 0x73, 0xe8),
                error: Color32::from_rgb(0xd9, 0x30, 0x25),
                warning: Color32::from_rgb(0xb7, 0x79, 0x1f),
                frame: Color32::from_rgb(0x9a, 0xa3, 0xb0),
            }
        }
    }

    pub fn of(ctx: &egui::Context) -> Palette {
        Palette::new(ctx.global_style().visuals.dark_mode)
    }

    /// The accent of a node kind, from the diagram's shared table (the exported SVG uses the
    /// same colours).
    pub fn accent(&self, kind: NodeKind) -> Color32 {
        let [r, g, b, a] = crate::diagram::accent(kind);
        Color32::from_rgba_unmultiplied(r, g, b, a)
    }
}

/// A glyph per state type, drawn at the left of its box.
pub fn icon(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::State(StateType::Task) => "⚙",
        NodeKind::State(StateType::Pass) => "➡",
        NodeKind::State(StateType::Choice) => "🔀",
        NodeKind::State(StateType::Wait) => "⏳",
        NodeKind::State(StateType::Succeed) => "✔",
        NodeKind::State(StateType::Fail) => "✖",
        NodeKind::State(StateType::Parallel) => "☰",
        NodeKind::State(StateType::Map) => "⟳",
        NodeKind::Start => "▶",
        NodeKind::End => "■",
        NodeKind::Unknown => "?",
    }
}

/// The colour of a state's run status on the execution view's diagram, timeline and lists.
pub fn status_colour(pal: &Palette, status: crate::monitor::StateStatus) -> Color32 {
    use crate::monitor::StateStatus as S;
    match status {
        S::NotReached | S::Cancelled => pal.muted_text,
        S::Running | S::WorkerRunning => pal.selection,
        S::WaitingForWorker | S::Retrying => pal.warning,
        S::Succeeded => succeeded(pal),
        S::Failed => pal.error,
        S::Caught => caught(pal),
    }
}

/// Green for what ended well (states, executions).
pub fn succeeded(pal: &Palette) -> Color32 {
    if pal.dark { Color32::from_rgb(0x3f, 0xb9, 0x50) } else { Color32::from_rgb(0x1a, 0x7f, 0x37) }
}

/// A failure something handled: neither the red of a failure nor the green of success.
pub fn caught(pal: &Palette) -> Color32 {
    if pal.dark { Color32::from_rgb(0xc2, 0x7a, 0xf0) } else { Color32::from_rgb(0x82, 0x3c, 0xc0) }
}

/// The colour of an execution's status (`RUNNING`, `SUCCEEDED`… as AWS spells them).
pub fn execution_colour(pal: &Palette, status: &str) -> Color32 {
    match status {
        "RUNNING" => pal.selection,
        "SUCCEEDED" => succeeded(pal),
        "FAILED" | "TIMED_OUT" => pal.error,
        _ => pal.muted_text,
    }
}
