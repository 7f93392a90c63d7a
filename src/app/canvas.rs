//! The diagram on screen: an `egui_graphs` view of the document's [`Diagram`], with
//! Stepwise's own node and arrow looks, frames for Parallel/Map, wires dragged from a node's
//! handle, palette drops, in-place rename, fit and a minimap.
//!
//! The gesture → command decisions ([`drop_target`], [`connection`], [`hit_handle`]) are plain
//! functions of the document and canvas coordinates, so tests call them without a window.

use eframe::egui::{self, Color32, CornerRadius, Pos2, Rect, Sense, Shape, Stroke, StrokeKind, Vec2, pos2, vec2};
use egui_graphs::{DisplayEdge, DisplayNode, DrawContext, EdgeProps, GraphChange, GraphView, MetadataFrame, NodeProps, SettingsInteraction, SettingsNavigation};
use petgraph::Directed;
use petgraph::stable_graph::{DefaultIx, NodeIndex};
use serde::{Deserialize, Serialize};

use super::command::{Command, EdgeRef, PaletteItem, can_connect_from};
use super::document::Document;
use super::theme::{Palette, icon};
use crate::asl::edit::Connect;
use crate::asl::model::StateType;
use crate::diagram::{self, NodeKind};

/// The egui id of the canvas (pan and zoom live in egui memory under it).
pub const CANVAS_ID: &str = "stepwise-canvas";
/// Radius of the connection handle under each node, in canvas units.
pub const HANDLE_RADIUS: f32 = 7.0;

pub type CanvasGraph = egui_graphs::Graph<NodeData, EdgeData, Directed, DefaultIx, NodeShape, EdgeShape>;

/// What a box needs to draw itself; refreshed from the document every frame.
#[derive(Clone, Debug)]
pub struct NodeData {
    pub kind: NodeKind,
    pub label: String,
    /// The node's hit and edge-snapping area: its box, or its whole frame for a container.
    pub frame: Rect,
    pub branch_frames: Vec<Rect>,
    pub container: bool,
    pub hidden_states: usize,
    pub errors: usize,
    pub warnings: usize,
    pub handle: bool,
    pub palette: Palette,
    pub highlighted: bool,
    /// How far an execution has got in this state (the Run view's overlay).
    pub status: Option<NodeStatus>,
}

/// A state's run status as the execution view draws it over the box.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeStatus {
    pub colour: Color32,
    /// A line under the box ("waiting for a worker · 12 s").
    pub caption: String,
    /// Still going: drawn with a pulsing border.
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct EdgeData {
    pub label: String,
    pub catch: bool,
    pub palette: Palette,
}

fn to_rect(r: diagram::Rect) -> Rect {
    Rect::from_min_max(pos2(r.min[0], r.min[1]), pos2(r.max[0], r.max[1]))
}

fn from_pos(p: [f32; 2]) -> Pos2 {
    pos2(p[0], p[1])
}

/// Where an arrow between two boxes starts and ends: on each box's border, on the line
/// between their centres. Used for drawing and for hit-testing, so both agree.
pub fn arrow_points(a: Rect, b: Rect) -> (Pos2, Pos2) {
    let (ca, cb) = (a.center(), b.center());
    (border_point(a, cb - ca), border_point(b, ca - cb))
}

fn border_point(r: Rect, dir: Vec2) -> Pos2 {
    let c = r.center();
    if dir.length_sq() < f32::EPSILON {
        return c;
    }
    let half = r.size() / 2.0;
    let sx = if dir.x.abs() > f32::EPSILON { half.x / dir.x.abs() } else { f32::INFINITY };
    let sy = if dir.y.abs() > f32::EPSILON { half.y / dir.y.abs() } else { f32::INFINITY };
    c + dir * sx.min(sy)
}

fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = if ab.length_sq() > 0.0 { ((p - a).dot(ab) / ab.length_sq()).clamp(0.0, 1.0) } else { 0.0 };
    (a + ab * t - p).length()
}

/// The hit and snapping area of each node of the document, in canvas units.
pub fn node_areas(doc: &Document) -> Vec<Rect> {
    doc.frames.outer.iter().map(|r| to_rect(*r)).collect()
}

/// Where a palette item dropped at `at` goes: the innermost branch frame around the point (or
/// the top level), and the arrow under the point when there is one.
pub fn drop_target(doc: &Document, at: Pos2) -> (String, Option<EdgeRef>) {
    let areas = node_areas(doc);
    for (i, e) in doc.diagram.edges.iter().enumerate() {
        let (a, b) = arrow_points(areas[e.from], areas[e.to]);
        if distance_to_segment(at, a, b) <= 8.0 {
            return (doc.diagram.nodes[e.from].scope.clone(), EdgeRef::of(doc, i));
        }
    }
    // Innermost: the smallest branch frame holding the point.
    let mut best: Option<(f32, String)> = None;
    for (i, node) in doc.diagram.nodes.iter().enumerate() {
        if !node.is_container() {
            continue;
        }
        for (b, r) in doc.frames.branches[i].iter().enumerate() {
            let r = to_rect(*r);
            if r.contains(at) && best.as_ref().is_none_or(|(area, _)| r.area() < *area) {
                let scope = diagram_branch_scope(doc, i, b);
                best = Some((r.area(), scope));
            }
        }
    }
    (best.map(|(_, s)| s).unwrap_or_default(), None)
}

fn diagram_branch_scope(doc: &Document, owner: usize, branch: usize) -> String {
    let node = &doc.diagram.nodes[owner];
    let state = doc.root.pointer(&node.pointer);
    match state.and_then(crate::asl::model::state_type) {
        Some(StateType::Parallel) => format!("{}/Branches/{branch}", node.pointer),
        _ => {
            let key = if state.is_some_and(|s| s.get("ItemProcessor").is_some()) { "ItemProcessor" } else { "Iterator" };
            format!("{}/{key}", node.pointer)
        }
    }
}

/// The centre of a node's connection handle: the middle of its bottom edge.
pub fn handle_center(area: Rect) -> Pos2 {
    pos2(area.center().x, area.max.y)
}

/// The node whose handle is under `at`, when that node can start a connection.
pub fn hit_handle(doc: &Document, at: Pos2, zoom: f32) -> Option<usize> {
    let areas = node_areas(doc);
    let r = HANDLE_RADIUS * 1.6 / zoom.max(0.2);
    (0..areas.len()).find(|&i| can_connect_from(doc, i) && (handle_center(areas[i]) - at).length() <= r.max(HANDLE_RADIUS))
}

/// The innermost node under `at` (children come first in the diagram's order).
pub fn node_at(doc: &Document, at: Pos2) -> Option<usize> {
    node_areas(doc).iter().position(|r| r.contains(at))
}

/// Modifier keys held when a wire is dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireModifiers {
    /// Shift: a Catch (all errors) instead of Next.
    pub catch: bool,
    /// Alt: a Choice's Default instead of a new rule.
    pub default: bool,
}

/// The command for a wire dragged from node `from` and dropped on node `to`, or why not.
pub fn connection(doc: &Document, from: usize, to: Option<usize>, m: WireModifiers) -> Result<Command, String> {
    let Some(to) = to else { return Err("Drop the wire on a state to connect to it.".into()) };
    let (a, b) = (&doc.diagram.nodes[from], &doc.diagram.nodes[to]);
    let from_name = a.state_name().ok_or("Start and End markers are moved by editing StartAt and End.")?;
    let to_name = match b.kind {
        NodeKind::Start => return Err("A transition cannot lead to the Start marker; drag onto a state.".into()),
        NodeKind::End => return Err(format!("To end here, tick End on \"{from_name}\" in the inspector.")),
        _ => b.id.clone(),
    };
    let how = if m.catch {
        Connect::Catch(Vec::new())
    } else if m.default {
        Connect::Default
    } else {
        Connect::Next
    };
    Ok(Command::Connect { from: from_name.to_string(), to: to_name, how })
}

/// Layout for `egui_graphs` that never moves a node: positions belong to the document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FixedState;
impl egui_graphs::LayoutState for FixedState {}

#[derive(Default)]
pub struct FixedLayout;
impl egui_graphs::Layout<FixedState> for FixedLayout {
    fn from_state(_: FixedState) -> impl egui_graphs::Layout<FixedState> {
        FixedLayout
    }
    fn next<N, E, Ty, Ix, Dn, De>(&mut self, _: &mut egui_graphs::Graph<N, E, Ty, Ix, Dn, De>, _: &egui::Ui)
    where
        N: Clone,
        E: Clone,
        Ty: petgraph::EdgeType,
        Ix: petgraph::stable_graph::IndexType,
        Dn: DisplayNode<N, E, Ty, Ix>,
        De: DisplayEdge<N, E, Ty, Ix, Dn>,
    {
    }
    fn state(&self) -> FixedState {
        FixedState
    }
}

#[derive(Clone, Debug)]
pub struct NodeShape {
    loc: Pos2,
    data: NodeData,
    selected: bool,
}

impl From<NodeProps<NodeData>> for NodeShape {
    fn from(p: NodeProps<NodeData>) -> Self {
        NodeShape { loc: p.location(), data: p.payload.clone(), selected: p.selected }
    }
}

impl NodeShape {
    fn own_box(&self) -> Rect {
        let [w, h] = if matches!(self.data.kind, NodeKind::Start | NodeKind::End) {
            [diagram::MARKER_W, diagram::MARKER_H]
        } else {
            [diagram::NODE_W, diagram::NODE_H]
        };
        Rect::from_center_size(self.loc, vec2(w, h))
    }
}

impl DisplayNode<NodeData, EdgeData, Directed, DefaultIx> for NodeShape {
    fn closest_boundary_point(&self, dir: Vec2) -> Pos2 {
        border_point(self.data.frame, dir)
    }

    fn is_inside(&self, pos: Pos2) -> bool {
        self.data.frame.contains(pos)
    }

    fn update(&mut self, p: &NodeProps<NodeData>) {
        self.loc = p.location();
        self.data = p.payload.clone();
        self.selected = p.selected;
    }

    fn shapes(&mut self, ctx: &DrawContext) -> Vec<Shape> {
        let meta = ctx.meta;
        let z = meta.zoom;
        let to_screen = |r: Rect| Rect::from_min_max(meta.canvas_to_screen_pos(r.min), meta.canvas_to_screen_pos(r.max));
        let pal = self.data.palette;
        let accent = pal.accent(self.data.kind);
        let mut out = Vec::new();
        let sel_stroke = Stroke::new(2.5, pal.selection);
        if self.data.container {
            let frame = to_screen(self.data.frame);
            out.push(Shape::rect_stroke(frame, CornerRadius::same((10.0 * z) as u8), Stroke::new(1.5, accent.gamma_multiply(0.8)), StrokeKind::Inside));
            for b in &self.data.branch_frames {
                let r = to_screen(*b);
                out.extend(Shape::dashed_line(&[r.left_top(), r.right_top(), r.right_bottom(), r.left_bottom(), r.left_top()], Stroke::new(1.0, pal.frame), 6.0 * z, 4.0 * z));
            }
            if self.selected {
                out.push(Shape::rect_stroke(frame.expand(2.0), CornerRadius::same((11.0 * z) as u8), sel_stroke, StrokeKind::Outside));
            }
        }
        let b = to_screen(self.own_box());
        let radius = match self.data.kind {
            NodeKind::Start | NodeKind::End | NodeKind::State(StateType::Succeed | StateType::Fail) => b.height() / 2.0,
            NodeKind::State(StateType::Choice) => 2.0 * z,
            _ => 8.0 * z,
        };
        let marker = matches!(self.data.kind, NodeKind::Start | NodeKind::End);
        let fill = if marker { accent.gamma_multiply(0.9) } else { pal.node_fill };
        let cr = CornerRadius::same(radius.min(255.0) as u8);
        out.push(Shape::rect_filled(b, cr, fill));
        if !marker {
            // The type's colour: a band on the left, and the outline.
            let band = Rect::from_min_max(b.min, pos2(b.min.x + 6.0 * z, b.max.y));
            out.push(Shape::rect_filled(band, CornerRadius { nw: cr.nw, sw: cr.sw, ne: 0, se: 0 }, accent));
            let outline = if self.data.kind == NodeKind::State(StateType::Choice) { Stroke::new(2.0, accent) } else { Stroke::new(1.2, accent.gamma_multiply(0.7)) };
            out.push(Shape::rect_stroke(b, cr, outline, StrokeKind::Inside));
        }
        if let Some(st) = &self.data.status {
            out.extend(status_shapes(ctx, b, cr, st, z, self.data.container));
        }
        if self.selected && !self.data.container {
            out.push(Shape::rect_stroke(b.expand(2.0), cr, sel_stroke, StrokeKind::Outside));
        }
        if self.data.highlighted {
            out.push(Shape::rect_stroke(b.expand(5.0), cr, Stroke::new(2.0, pal.warning), StrokeKind::Outside));
        }
        // Text only when it can be read; at tiny zoom the colours carry the picture.
        if z >= 0.35 {
            let text_colour = if marker { Color32::WHITE } else { pal.node_text };
            let font = egui::FontId::proportional(13.0 * z);
            if marker {
                let g = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(self.data.label.clone(), font, text_colour));
                out.push(Shape::galley(b.center() - g.size() / 2.0, g, text_colour));
            } else {
                let ic = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(icon(self.data.kind).to_string(), egui::FontId::proportional(14.0 * z), accent));
                out.push(Shape::galley(pos2(b.min.x + 12.0 * z, b.center().y - ic.size().y / 2.0), ic, accent));
                let max_w = b.width() - 40.0 * z;
                let mut label = self.data.label.clone();
                if self.data.hidden_states > 0 {
                    label = format!("{label}  ▸ {}", self.data.hidden_states);
                }
                let mut job = egui::text::LayoutJob::simple_singleline(label, font, text_colour);
                job.wrap = egui::text::TextWrapping::truncate_at_width(max_w);
                let g = ctx.ctx.fonts_mut(|f| f.layout_job(job));
                out.push(Shape::galley(pos2(b.min.x + 32.0 * z, b.center().y - g.size().y / 2.0), g, text_colour));
                let caption = match self.data.kind {
                    NodeKind::State(t) => t.name(),
                    _ => "Unknown type",
                };
                let cg = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(caption.to_string(), egui::FontId::proportional(9.0 * z), pal.muted_text));
                out.push(Shape::galley(pos2(b.max.x - cg.size().x - 6.0 * z, b.min.y + 2.0 * z), cg, pal.muted_text));
            }
        }
        // Problems sit on the node they belong to.
        if self.data.errors + self.data.warnings > 0 {
            let colour = if self.data.errors > 0 { pal.error } else { pal.warning };
            let c = pos2(b.max.x - 2.0 * z, b.min.y + 2.0 * z);
            out.push(Shape::circle_filled(c, 8.0 * z, colour));
            if z >= 0.35 {
                let n = (self.data.errors + self.data.warnings).to_string();
                let g = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(n, egui::FontId::proportional(10.0 * z), Color32::WHITE));
                out.push(Shape::galley(c - g.size() / 2.0, g, Color32::WHITE));
            }
        }
        if self.data.handle {
            let h = meta.canvas_to_screen_pos(handle_center(self.data.frame));
            out.push(Shape::circle_filled(h, HANDLE_RADIUS * 0.6 * z, pal.node_fill));
            out.push(Shape::circle_stroke(h, HANDLE_RADIUS * 0.6 * z, Stroke::new(1.5, accent)));
        }
        out
    }
}

/// The run status over a box: a tint, a border in the status colour (pulsing while the state
/// is active) and the caption under the box.
fn status_shapes(ctx: &DrawContext, b: Rect, cr: CornerRadius, st: &NodeStatus, z: f32, container: bool) -> Vec<Shape> {
    let mut out = vec![Shape::rect_filled(b, cr, st.colour.gamma_multiply(0.18))];
    let mut width = 2.5;
    if st.active {
        // One pulse a second; the view asks for frames only while something is active.
        let t = ctx.ctx.input(|i| i.time);
        let phase = (t.fract() as f32 * std::f32::consts::TAU).sin() * 0.5 + 0.5;
        width = 2.0 + 2.0 * phase;
        out.push(Shape::rect_stroke(b.expand(3.0 + 4.0 * phase), cr, Stroke::new(2.0, st.colour.gamma_multiply(0.6 * (1.0 - phase))), StrokeKind::Outside));
        ctx.ctx.request_repaint_after(std::time::Duration::from_millis(33));
    }
    out.push(Shape::rect_stroke(b, cr, Stroke::new(width, st.colour), StrokeKind::Inside));
    if z >= 0.35 && !st.caption.is_empty() {
        let g = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(st.caption.clone(), egui::FontId::proportional(11.0 * z), st.colour));
        // A container's children start right under its box: its caption goes above.
        let y = if container { b.min.y - g.size().y - 12.0 * z } else { b.max.y + 3.0 * z };
        out.push(Shape::galley(pos2(b.center().x - g.size().x / 2.0, y), g, st.colour));
    }
    out
}

#[derive(Clone, Debug)]
pub struct EdgeShape {
    data: EdgeData,
    order: usize,
    selected: bool,
}

impl From<EdgeProps<EdgeData>> for EdgeShape {
    fn from(p: EdgeProps<EdgeData>) -> Self {
        EdgeShape { data: p.payload.clone(), order: p.order, selected: p.selected }
    }
}

impl EdgeShape {
    fn points(&self, a: Rect, b: Rect) -> (Pos2, Pos2) {
        let (mut s, mut e) = arrow_points(a, b);
        // Several arrows between the same two states (a rule and the Default, two catchers)
        // fan out side by side instead of drawing over each other.
        if self.order > 0 {
            let n = (e - s).normalized().rot90() * (14.0 * self.order as f32);
            s += n;
            e += n;
        }
        (s, e)
    }
}

impl DisplayEdge<NodeData, EdgeData, Directed, DefaultIx, NodeShape> for EdgeShape {
    fn update(&mut self, p: &EdgeProps<EdgeData>) {
        self.data = p.payload.clone();
        self.order = p.order;
        self.selected = p.selected;
    }

    fn is_inside(&self, start: &egui_graphs::Node<NodeData, EdgeData, Directed, DefaultIx, NodeShape>, end: &egui_graphs::Node<NodeData, EdgeData, Directed, DefaultIx, NodeShape>, pos: Pos2) -> bool {
        let (s, e) = self.points(start.payload().frame, end.payload().frame);
        distance_to_segment(pos, s, e) <= 6.0
    }

    fn shapes(&mut self, start: &egui_graphs::Node<NodeData, EdgeData, Directed, DefaultIx, NodeShape>, end: &egui_graphs::Node<NodeData, EdgeData, Directed, DefaultIx, NodeShape>, ctx: &DrawContext) -> Vec<Shape> {
        let meta = ctx.meta;
        let z = meta.zoom;
        let pal = self.data.palette;
        let (s, e) = self.points(start.payload().frame, end.payload().frame);
        let (s, e) = (meta.canvas_to_screen_pos(s), meta.canvas_to_screen_pos(e));
        let colour = if self.selected { pal.selection } else if self.data.catch { pal.error.gamma_multiply(0.85) } else { pal.edge };
        let stroke = Stroke::new(if self.selected { 2.5 } else { 1.4 }, colour);
        let mut out = Vec::new();
        if self.data.catch {
            out.extend(Shape::dashed_line(&[s, e], stroke, 6.0 * z, 4.0 * z));
        } else {
            out.push(Shape::line_segment([s, e], stroke));
        }
        let dir = (e - s).normalized();
        let size = 8.0 * z.max(0.4);
        let left = e - dir * size + dir.rot90() * size * 0.5;
        let right = e - dir * size - dir.rot90() * size * 0.5;
        out.push(Shape::convex_polygon(vec![e, left, right], colour, Stroke::NONE));
        if !self.data.label.is_empty() && z >= 0.45 {
            let g = ctx.ctx.fonts_mut(|f| f.layout_no_wrap(self.data.label.clone(), egui::FontId::proportional(11.0 * z), pal.muted_text));
            let mid = s + (e - s) * 0.5;
            let r = Rect::from_center_size(mid, g.size()).expand(2.0 * z);
            out.push(Shape::rect_filled(r, CornerRadius::same(3), pal.edge_label_bg));
            out.push(Shape::galley(r.min + vec2(2.0 * z, 2.0 * z), g, if self.data.catch { pal.error } else { pal.muted_text }));
        }
        out
    }
}

/// A wire being dragged out of a node's handle.
#[derive(Clone, Copy, Debug)]
struct Wire {
    from: usize,
}

/// In-place rename of a state.
#[derive(Clone, Debug)]
struct Renaming {
    state: String,
    text: String,
    focus: bool,
}

/// What the graph was built from: document revision, dark theme, selection.
type BuildKey = (u64, bool, Vec<String>);

/// The canvas's own state between frames.
pub struct Canvas {
    graph: CanvasGraph,
    /// The document revision and theme the graph was built from.
    built: Option<BuildKey>,
    wire: Option<Wire>,
    renaming: Option<Renaming>,
    /// Fit the whole machine into view on the next frame.
    pub fit_requested: bool,
    /// Bring this node into the middle of the view on the next frame.
    pub center_on: Option<String>,
    rect: Rect,
    /// Container drags move what they hold: node → (ids, start positions) during a drag.
    dragging: Option<usize>,
    /// The egui id pan and zoom are kept under: the designer's and the Run view's canvases
    /// each keep their own view of the machine.
    id: &'static str,
    /// The Run view's canvas: nodes can be selected, nothing can be edited.
    read_only: bool,
    /// The overlay last applied to the graph's nodes, to apply a new one only when it changed.
    overlay: Option<(Option<BuildKey>, Vec<Option<NodeStatus>>)>,
}

/// What the canvas wants the app to do besides document commands.
#[derive(Debug, Default, PartialEq)]
pub struct CanvasOutput {
    pub commands: Vec<Command>,
    /// A refused gesture, with the reason.
    pub refusal: Option<String>,
    /// The selection after this frame, when the canvas changed it.
    pub select: Option<Vec<String>>,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas {
            graph: CanvasGraph::new(),
            built: None,
            wire: None,
            renaming: None,
            fit_requested: false,
            center_on: None,
            rect: Rect::NOTHING,
            dragging: None,
            id: CANVAS_ID,
            read_only: false,
            overlay: None,
        }
    }
}

impl Canvas {
    /// A canvas that only shows the machine (the Run view), under its own pan and zoom.
    pub fn read_only(id: &'static str) -> Canvas {
        Canvas { id, read_only: true, fit_requested: true, ..Canvas::default() }
    }

    /// Colours the states by how far an execution has got (by node index; `None` draws the
    /// plain box).
    pub fn set_overlay(&mut self, doc: &Document, selection: &[String], dark: bool, statuses: Vec<Option<NodeStatus>>) {
        self.sync(doc, selection, dark);
        if self.overlay.as_ref().is_some_and(|(built, s)| *built == self.built && *s == statuses) {
            return;
        }
        for (i, st) in statuses.iter().enumerate() {
            if let Some(n) = self.graph.node_mut(NodeIndex::new(i)) {
                n.payload_mut().status = st.clone();
            }
        }
        self.overlay = Some((self.built.clone(), statuses));
    }

    /// The status colour the node of `state` is drawn with now, if any.
    pub fn status_colour(&self, doc: &Document, state: &str) -> Option<Color32> {
        let i = doc.diagram.index_of(state)?;
        self.graph.node(NodeIndex::new(i))?.payload().status.as_ref().map(|s| s.colour)
    }

    pub fn start_rename(&mut self, state: &str) {
        self.renaming = Some(Renaming { state: state.into(), text: state.into(), focus: true });
    }

    fn sync(&mut self, doc: &Document, selection: &[String], dark: bool) {
        let key = (doc.revision, dark, selection.to_vec());
        if self.built.as_ref() == Some(&key) || self.dragging.is_some() {
            return;
        }
        let pal = Palette::new(dark);
        let problems = doc.problems_by_state();
        let mut g = CanvasGraph::new();
        for (i, n) in doc.diagram.nodes.iter().enumerate() {
            let (errors, warnings) = problems.get(&n.id).copied().unwrap_or_default();
            let data = NodeData {
                kind: n.kind,
                label: n.label.clone(),
                frame: to_rect(doc.frames.outer[i]),
                branch_frames: doc.frames.branches[i].iter().map(|r| to_rect(*r)).collect(),
                container: n.is_container(),
                hidden_states: n.hidden_states,
                errors,
                warnings,
                handle: !self.read_only && can_connect_from(doc, i),
                palette: pal,
                highlighted: false,
                status: None,
            };
            let loc = from_pos(doc.positions.0[i]);
            let selected = selection.iter().any(|s| s == &n.id);
            g.add_node_custom(data, |node| {
                node.set_location(loc);
                node.set_label(n.label.clone());
                node.set_selected(selected);
            });
        }
        for e in &doc.diagram.edges {
            let data = EdgeData { label: e.label.clone(), catch: e.is_catch(), palette: pal };
            g.add_edge_with_label(NodeIndex::new(e.from), NodeIndex::new(e.to), data, e.label.clone());
        }
        self.graph = g;
        self.built = Some(key);
    }

    /// Recomputes frames from where the graph's nodes are now (during drags).
    fn refresh_frames(&mut self, doc: &Document) {
        let pos = diagram::Positions(
            (0..doc.diagram.nodes.len()).map(|i| self.graph.node(NodeIndex::new(i)).map_or(doc.positions.0[i], |n| [n.location().x, n.location().y])).collect(),
        );
        let frames = diagram::Frames::compute(&doc.diagram, &pos);
        for i in 0..doc.diagram.nodes.len() {
            if let Some(n) = self.graph.node_mut(NodeIndex::new(i)) {
                let p = n.payload_mut();
                p.frame = to_rect(frames.outer[i]);
                p.branch_frames = frames.branches[i].iter().map(|r| to_rect(*r)).collect();
            }
        }
    }

    /// Where a canvas point is on the screen now (tests drag at positions computed from the
    /// model with this).
    pub fn screen_pos(&self, ctx: &egui::Context, canvas: [f32; 2]) -> Pos2 {
        let fresh = MetadataFrame::new(Some(self.id.into()));
        // egui_graphs stores it under `Id::new(get_id())`.
        let id = egui::Id::new(fresh.get_id());
        let meta = ctx.data_mut(|d| d.get_persisted::<MetadataFrame>(id)).unwrap_or(fresh);
        meta.canvas_to_screen_pos(from_pos(canvas)) + self.rect.min.to_vec2()
    }

    fn meta(&self, ui: &egui::Ui) -> MetadataFrame {
        MetadataFrame::new(Some(self.id.into())).load(ui)
    }

    /// Canvas position of a screen position, with last frame's pan and zoom.
    pub fn to_canvas(&self, ui: &egui::Ui, screen: Pos2) -> Pos2 {
        let meta = self.meta(ui);
        meta.screen_to_canvas_pos((screen - self.rect.min).to_pos2())
    }

    fn fit(&self, ui: &mut egui::Ui, doc: &Document) {
        let Some(bounds) = node_areas(doc).into_iter().reduce(|a, b| a.union(b)) else { return };
        let view = self.rect;
        if view.width() < 10.0 || view.height() < 10.0 {
            return;
        }
        let margin = 90.0;
        let zoom = ((view.width() - margin) / bounds.width()).min((view.height() - margin) / bounds.height()).clamp(0.05, 1.5);
        let mut meta = self.meta(ui);
        meta.zoom = zoom;
        // Screen (widget-relative) = canvas * zoom + pan; centre the bounds in the view.
        meta.pan = view.size() / 2.0 - bounds.center().to_vec2() * zoom;
        meta.save(ui);
    }

    fn center(&self, ui: &mut egui::Ui, at: Pos2) {
        let mut meta = self.meta(ui);
        meta.pan = self.rect.size() / 2.0 - at.to_vec2() * meta.zoom;
        meta.save(ui);
    }

    /// Draws the canvas and turns gestures into commands.
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: &Document, selection: &[String]) -> CanvasOutput {
        let mut out = CanvasOutput::default();
        let dark = ui.visuals().dark_mode;
        let pal = Palette::new(dark);
        self.sync(doc, selection, dark);
        let full = ui.available_rect_before_wrap();
        ui.painter().rect_filled(full, 0.0, pal.canvas);
        if self.fit_requested && full.width() > 10.0 {
            self.rect = full;
            self.fit(ui, doc);
            self.fit_requested = false;
        }
        if let Some(name) = self.center_on.take()
            && let Some(i) = doc.diagram.index_of(&name) {
                self.rect = full;
                self.center(ui, from_pos(doc.positions.0[i]));
            }

        // A press on a handle starts a wire; while wiring the view neither pans nor drags.
        let meta = self.meta(ui);
        let (pressed, press_pos, mods) = ui.input(|i| (i.pointer.primary_pressed(), i.pointer.press_origin(), i.modifiers));
        if pressed && self.wire.is_none() && !self.read_only
            && let Some(p) = press_pos.filter(|p| full.contains(*p)) {
                let at = meta.screen_to_canvas_pos((p - full.min).to_pos2());
                if let Some(from) = hit_handle(doc, at, meta.zoom) {
                    self.wire = Some(Wire { from });
                }
            }
        let wiring = self.wire.is_some();
        let interactions = SettingsInteraction::new()
            .with_dragging_enabled(!wiring && !self.read_only)
            .with_node_clicking_enabled(true)
            .with_edge_clicking_enabled(true)
            .with_hover_enabled(true);
        let navigation = SettingsNavigation::new().with_fit_to_screen_enabled(false).with_zoom_and_pan_enabled(!wiring);
        let resp = GraphView::<FixedState, FixedLayout>::new()
            .with_id(Some(self.id.into()))
            .with_interactions(&interactions)
            .with_navigations(&navigation)
            .show(ui, &mut self.graph);
        self.rect = resp.response.rect;
        let meta = self.meta(ui);
        let to_canvas = |p: Pos2| meta.screen_to_canvas_pos((p - resp.response.rect.min).to_pos2());
        let to_screen = |p: Pos2| meta.canvas_to_screen_pos(p) + resp.response.rect.min.to_vec2();

        let mut clicked_node = false;
        for change in &resp.changes {
            match change {
                GraphChange::NodeClicked { node } => {
                    clicked_node = true;
                    let id = doc.diagram.nodes.get(node.index()).map(|n| n.id.clone());
                    if let Some(id) = id.filter(|_| !doc.diagram.nodes[node.index()].is_marker()) {
                        let mut sel = selection.to_vec();
                        if mods.command || mods.shift {
                            if let Some(k) = sel.iter().position(|s| s == &id) {
                                sel.remove(k);
                            } else {
                                sel.push(id);
                            }
                        } else {
                            sel = vec![id];
                        }
                        out.select = Some(sel);
                    }
                }
                GraphChange::NodeDoubleClicked { node } if !self.read_only => {
                    if let Some(name) = doc.diagram.nodes.get(node.index()).and_then(|n| n.state_name()) {
                        self.start_rename(name);
                    }
                }
                GraphChange::NodeDragStarted { node } => self.dragging = Some(node.index()),
                GraphChange::NodeMoved { node, delta, .. } => {
                    // Containers carry their states; a selected node carries the selection.
                    let i = node.index();
                    let mut others: Vec<usize> = Vec::new();
                    if doc.diagram.nodes.get(i).is_some_and(|n| n.is_container()) {
                        others.extend(doc.diagram.descendants(i));
                    }
                    if selection.iter().any(|s| doc.diagram.nodes.get(i).is_some_and(|n| &n.id == s)) {
                        for s in selection {
                            if let Some(k) = doc.diagram.index_of(s).filter(|k| *k != i) {
                                others.push(k);
                                if doc.diagram.nodes[k].is_container() {
                                    others.extend(doc.diagram.descendants(k));
                                }
                            }
                        }
                    }
                    others.sort_unstable();
                    others.dedup();
                    for k in others {
                        if let Some(n) = self.graph.node_mut(NodeIndex::new(k)) {
                            let l = n.location();
                            n.set_location(l + *delta);
                        }
                    }
                    self.refresh_frames(doc);
                }
                GraphChange::NodeDragEnded { .. } => {
                    self.dragging = None;
                    let moves: Vec<(String, [f32; 2])> = doc
                        .diagram
                        .nodes
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| {
                            let l = self.graph.node(NodeIndex::new(i))?.location();
                            let old = doc.positions.0[i];
                            ((l.x - old[0]).abs() > 0.01 || (l.y - old[1]).abs() > 0.01).then(|| (n.id.clone(), [l.x, l.y]))
                        })
                        .collect();
                    if !moves.is_empty() {
                        out.commands.push(Command::MoveNodes(moves));
                    }
                }
                _ => {}
            }
        }
        if resp.response.clicked() && !clicked_node {
            let on_node = resp.response.interact_pointer_pos().map(to_canvas).and_then(|p| node_at(doc, p));
            if on_node.is_none() {
                out.select = Some(Vec::new());
            }
        }

        // The wire: a rubber band from the handle to the pointer, a connection on release.
        if let Some(w) = self.wire {
            let areas = node_areas(doc);
            let start = to_screen(handle_center(areas[w.from]));
            let pointer = ui.input(|i| i.pointer.latest_pos());
            if let Some(p) = pointer {
                ui.painter().line_segment([start, p], Stroke::new(2.0, pal.selection));
                ui.painter().circle_filled(p, 4.0, pal.selection);
            }
            if ui.input(|i| i.pointer.primary_released() || !i.pointer.primary_down()) {
                let target = pointer.map(to_canvas).and_then(|p| node_at(doc, p)).filter(|t| *t != w.from);
                let m = WireModifiers { catch: mods.shift, default: mods.alt };
                if target.is_some() || pointer.is_some_and(|p| (p - start).length() > 12.0) {
                    match connection(doc, w.from, target, m) {
                        Ok(c) => out.commands.push(c),
                        Err(reason) => out.refusal = Some(reason),
                    }
                }
                self.wire = None;
            }
        }

        // A palette item dropped on the canvas.
        if let Some(item) = resp.response.dnd_release_payload::<PaletteItem>().filter(|_| !self.read_only)
            && let Some(p) = ui.input(|i| i.pointer.latest_pos()) {
                let at = to_canvas(p);
                let (scope, on_edge) = drop_target(doc, at);
                out.commands.push(Command::AddState { item: *item, at: [at.x, at.y], scope, on_edge });
            }

        self.rename_ui(ui, doc, &to_screen, &mut out);
        self.minimap_ui(ui, doc, resp.response.rect, &pal);
        out
    }

    fn rename_ui(&mut self, ui: &mut egui::Ui, doc: &Document, to_screen: &dyn Fn(Pos2) -> Pos2, out: &mut CanvasOutput) {
        let Some(r) = self.renaming.as_mut() else { return };
        let Some(i) = doc.diagram.index_of(&r.state) else {
            self.renaming = None;
            return;
        };
        let at = to_screen(from_pos(doc.positions.0[i]));
        let mut done = None;
        egui::Area::new(egui::Id::new("stepwise-rename")).fixed_pos(at - vec2(90.0, 12.0)).order(egui::Order::Foreground).show(ui.ctx(), |ui| {
            let edit = egui::TextEdit::singleline(&mut r.text).desired_width(180.0);
            let resp = ui.add(edit.id(egui::Id::new("stepwise-rename-field")));
            if r.focus {
                resp.request_focus();
                r.focus = false;
            }
            if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                done = Some(false);
            } else if resp.lost_focus() {
                // Enter and a click elsewhere both keep the new name (as in a file manager).
                done = Some(true);
            }
        });
        if let Some(commit) = done {
            if commit && r.text != r.state {
                out.commands.push(Command::Rename { from: r.state.clone(), to: r.text.clone() });
            }
            self.renaming = None;
        }
    }

    fn minimap_ui(&mut self, ui: &mut egui::Ui, doc: &Document, view: Rect, pal: &Palette) {
        // Only worth its space when the machine does not fit the view.
        let areas = node_areas(doc);
        let Some(bounds) = areas.iter().copied().reduce(|a, b| a.union(b)) else { return };
        let meta = self.meta(ui);
        let visible = Rect::from_min_max(meta.screen_to_canvas_pos(Pos2::ZERO), meta.screen_to_canvas_pos(view.size().to_pos2()));
        if visible.contains_rect(bounds) {
            return;
        }
        let size = vec2(180.0, 140.0);
        let map = Rect::from_min_size(view.max - size - vec2(12.0, 12.0), size);
        let scale = (size.x / bounds.width()).min(size.y / bounds.height());
        let to_map = |p: Pos2| map.min + (p - bounds.min) * scale;
        let painter = ui.painter_at(view);
        painter.rect_filled(map.expand(4.0), 6.0, pal.node_fill.gamma_multiply(0.95));
        for (i, r) in areas.iter().enumerate() {
            if doc.diagram.nodes[i].is_container() {
                continue;
            }
            painter.rect_filled(Rect::from_min_max(to_map(r.min), to_map(r.max)), 0.0, pal.accent(doc.diagram.nodes[i].kind));
        }
        let vis = Rect::from_min_max(to_map(visible.min), to_map(visible.max)).intersect(map.expand(4.0));
        painter.rect_stroke(vis, 0.0, Stroke::new(1.5, pal.selection), StrokeKind::Inside);
        let resp = ui.interact(map, egui::Id::new("stepwise-minimap"), Sense::click_and_drag());
        if let Some(p) = resp.interact_pointer_pos().filter(|_| resp.clicked() || resp.dragged()) {
            let at = bounds.min + (p - map.min) / scale;
            self.center(ui, at);
        }
    }
}
