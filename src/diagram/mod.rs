//! The picture of a state machine, without any GUI library: which boxes and arrows there
//! are ([`Diagram::build`]), where they go ([`layout`]), how that is saved beside the file
//! ([`LayoutFile`]), and the colours and exported pictures ([`render`]). The designer's canvas
//! and `stepwise render` both draw from this, so the window and the exported SVG/PNG always
//! agree.
//!
//! Boundary: reads the ASL tree, never changes it, and names no GUI crate (a test checks it).
//! Coordinates are canvas units (logical pixels at zoom 1), y pointing down; a node's position
//! is its centre.

pub mod layout;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::asl::model::{self, StateType, TransitionKind};

/// Size of a state's box.
pub const NODE_W: f32 = 180.0;
pub const NODE_H: f32 = 44.0;
/// Size of a Start or End marker.
pub const MARKER_W: f32 = 72.0;
pub const MARKER_H: f32 = 26.0;
/// Space between a container's frame and what it holds.
pub const CONTAINER_PAD: f32 = 18.0;

/// What a box stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    State(StateType),
    /// Where a scope starts (an arrow leads from it to `StartAt`).
    Start,
    /// Where a scope ends (arrows from states with `End: true`).
    End,
    /// A state whose `Type` is missing or unknown: drawn, so it can be selected and fixed.
    Unknown,
}

/// The colour that tells a node's type, as RGBA; the canvas and the exported pictures both
/// use it, so a Task is the same blue everywhere.
pub fn accent(kind: NodeKind) -> [u8; 4] {
    match kind {
        NodeKind::State(StateType::Task) => [0x3b, 0x82, 0xf6, 255],
        NodeKind::State(StateType::Pass) => [0x94, 0xa3, 0xb8, 255],
        NodeKind::State(StateType::Choice) => [0xf5, 0x9e, 0x0b, 255],
        NodeKind::State(StateType::Wait) => [0x14, 0xb8, 0xa6, 255],
        NodeKind::State(StateType::Succeed) => [0x22, 0xc5, 0x5e, 255],
        NodeKind::State(StateType::Fail) => [0xef, 0x44, 0x44, 255],
        NodeKind::State(StateType::Parallel) => [0xa8, 0x55, 0xf7, 255],
        NodeKind::State(StateType::Map) => [0xd9, 0x46, 0xef, 255],
        NodeKind::Start | NodeKind::End => [0x64, 0x74, 0x8b, 255],
        NodeKind::Unknown => [0xef, 0x44, 0x44, 255],
    }
}

/// One box.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Unique in the diagram and stable across edits that do not touch it: the state name for
    /// states; `Start <scope pointer>` / `End <scope pointer>` for markers (state names cannot
    /// hold a control character, so they never collide).
    pub id: String,
    pub kind: NodeKind,
    /// What the box says: the state name, or "Start"/"End".
    pub label: String,
    /// Pointer of the `{StartAt, States}` object the node lives in ("" at the top level).
    pub scope: String,
    /// The Parallel/Map state (node index) and branch whose frame holds this node.
    pub parent: Option<(usize, usize)>,
    /// For a Parallel or Map: how many branch/processor scopes it holds.
    pub branches: usize,
    /// For a collapsed Parallel or Map: how many states are hidden inside.
    pub hidden_states: usize,
    /// For states: the JSON pointer of the state object.
    pub pointer: String,
}

impl Node {
    pub fn is_marker(&self) -> bool {
        matches!(self.kind, NodeKind::Start | NodeKind::End)
    }

    /// The state name, for nodes that are states.
    pub fn state_name(&self) -> Option<&str> {
        (!self.is_marker()).then_some(self.id.as_str())
    }

    /// A Parallel or Map drawn open, as a frame around its states.
    pub fn is_container(&self) -> bool {
        self.branches > 0 && self.hidden_states == 0
    }

    /// Width and height of the node's own box (for a container: its header).
    pub fn size(&self) -> [f32; 2] {
        if self.is_marker() { [MARKER_W, MARKER_H] } else { [NODE_W, NODE_H] }
    }
}

/// What an arrow stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// From a Start marker to `StartAt`.
    Start,
    /// From a state with `End: true` to its scope's End marker.
    End,
    Transition(TransitionKind),
}

/// One arrow.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// The rule's condition, the caught errors, "Default"; empty for plain arrows.
    pub label: String,
}

impl Edge {
    /// Catch arrows are dashed.
    pub fn is_catch(&self) -> bool {
        matches!(self.kind, EdgeKind::Transition(TransitionKind::Catch(_)))
    }
}

/// The boxes and arrows of a machine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagram {
    /// Children come before the Parallel/Map that holds them, so hit-testing in this order
    /// finds the innermost box first.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Diagram {
    /// The diagram of `root`. States named in `collapsed` are drawn closed, hiding their
    /// branches. Never fails: whatever the tree holds that looks like a state is drawn;
    /// transitions to names that do not exist are left out (the problems panel names them).
    pub fn build(root: &Value, collapsed: &std::collections::BTreeSet<String>) -> Diagram {
        let mut d = Diagram::default();
        d.add_scope(root, "", None, collapsed);
        d
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Indices of every node inside the container at `owner`, at any depth.
    pub fn descendants(&self, owner: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let mut p = n.parent;
            while let Some((o, _)) = p {
                if o == owner {
                    out.push(i);
                    break;
                }
                p = self.nodes[o].parent;
            }
        }
        out
    }

    fn add_scope(
        &mut self,
        scope: &Value,
        pointer: &str,
        parent: Option<(usize, usize)>,
        collapsed: &std::collections::BTreeSet<String>,
    ) -> Vec<usize> {
        let Some(states) = scope.get("States").and_then(Value::as_object) else { return Vec::new() };
        let states_ptr = crate::asl::diagnostic::pointer_push(pointer, "States");
        let mut members = Vec::new();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        // Placeholder owner index for nested scopes: the container node is pushed after its
        // children, so children are re-parented once its index is known.
        for (name, state) in states {
            let sp = crate::asl::diagnostic::pointer_push(&states_ptr, name);
            let kind = model::state_type(state).map_or(NodeKind::Unknown, NodeKind::State);
            let children = model::child_scopes(state, &sp);
            let is_collapsed = collapsed.contains(name.as_str());
            let mut child_nodes: Vec<(usize, Vec<usize>)> = Vec::new();
            let mut hidden = 0;
            if is_collapsed {
                hidden = count_states(state);
            } else {
                for (b, (cptr, cval)) in children.iter().enumerate() {
                    child_nodes.push((b, self.add_scope(cval, cptr, None, collapsed)));
                }
            }
            let idx = self.nodes.len();
            for (b, nodes) in &child_nodes {
                for &c in nodes {
                    self.nodes[c].parent = Some((idx, *b));
                }
            }
            self.nodes.push(Node {
                id: name.clone(),
                kind,
                label: name.clone(),
                scope: pointer.to_string(),
                parent,
                branches: children.len(),
                hidden_states: if children.is_empty() { 0 } else { hidden.max(usize::from(is_collapsed)) },
                pointer: sp,
            });
            members.push(idx);
            by_name.insert(name.as_str(), idx);
        }
        let start = self.push_marker(NodeKind::Start, pointer, parent);
        members.push(start);
        if let Some(to) = scope.get("StartAt").and_then(Value::as_str).and_then(|s| by_name.get(s)) {
            self.edges.push(Edge { from: start, to: *to, kind: EdgeKind::Start, label: String::new() });
        }
        let mut end = None;
        for (name, state) in states {
            let from = by_name[name.as_str()];
            for t in model::transitions(state) {
                let Some(&to) = by_name.get(t.target) else { continue };
                let label = transition_label(state, &t.kind);
                self.edges.push(Edge { from, to, kind: EdgeKind::Transition(t.kind), label });
            }
            if state.get("End").and_then(Value::as_bool) == Some(true) {
                let e = *end.get_or_insert_with(|| self.push_marker(NodeKind::End, pointer, parent));
                self.edges.push(Edge { from, to: e, kind: EdgeKind::End, label: String::new() });
            }
        }
        members.extend(end);
        members
    }

    fn push_marker(&mut self, kind: NodeKind, scope: &str, parent: Option<(usize, usize)>) -> usize {
        let label = if kind == NodeKind::Start { "Start" } else { "End" };
        self.nodes.push(Node {
            id: format!("{label}\u{1}{scope}"),
            kind,
            label: label.into(),
            scope: scope.into(),
            parent,
            branches: 0,
            hidden_states: 0,
            pointer: scope.into(),
        });
        self.nodes.len() - 1
    }
}

fn count_states(state: &Value) -> usize {
    let mut n = 0;
    for (_, scope) in model::child_scopes(state, "") {
        if let Some(states) = scope.get("States").and_then(Value::as_object) {
            n += states.len();
            n += states.values().map(count_states).sum::<usize>();
        }
    }
    n
}

/// Longest label drawn on an arrow; longer conditions are cut with an ellipsis.
const MAX_LABEL_CHARS: usize = 40;

/// The words on an arrow: a Choice rule's condition, a catcher's errors, "Default".
pub fn transition_label(state: &Value, kind: &TransitionKind) -> String {
    let text = match kind {
        TransitionKind::Next => return String::new(),
        TransitionKind::Default => "Default".to_string(),
        TransitionKind::ChoiceRule(i) => state.pointer(&format!("/Choices/{i}")).map(rule_text).unwrap_or_default(),
        TransitionKind::Catch(i) => match state.pointer(&format!("/Catch/{i}/ErrorEquals")).and_then(Value::as_array) {
            Some(errors) => errors.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            None => String::new(),
        },
    };
    shorten(&text, MAX_LABEL_CHARS)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// A Choice rule as a person would read it: `$.size > 1000`, `not ($.x is present)`,
/// `a and b`, or a JSONata condition without its `{% %}`.
pub fn rule_text(rule: &Value) -> String {
    let Some(obj) = rule.as_object() else { return String::new() };
    if let Some(c) = obj.get("Condition") {
        return match c.as_str() {
            Some(s) => s.trim().trim_start_matches("{%").trim_end_matches("%}").trim().to_string(),
            None => c.to_string(),
        };
    }
    for (key, joiner) in [("And", " and "), ("Or", " or ")] {
        if let Some(list) = obj.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list.iter().map(|r| format!("({})", rule_text(r))).collect();
            return parts.join(joiner);
        }
    }
    if let Some(inner) = obj.get("Not") {
        return format!("not ({})", rule_text(inner));
    }
    let var = obj.get("Variable").and_then(Value::as_str).unwrap_or("?");
    for (key, value) in obj {
        if matches!(key.as_str(), "Variable" | "Next" | "Comment" | "Assign" | "Output") {
            continue;
        }
        let (op, path) = match key.strip_suffix("Path") {
            Some(base) if base != "Is" => (base, true),
            _ => (key.as_str(), false),
        };
        let shown = match value {
            Value::String(s) if !path => format!("\"{s}\""),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let symbol = match op.trim_start_matches("String").trim_start_matches("Numeric").trim_start_matches("Boolean").trim_start_matches("Timestamp") {
            "Equals" => "==",
            "LessThan" => "<",
            "GreaterThan" => ">",
            "LessThanEquals" => "<=",
            "GreaterThanEquals" => ">=",
            "Matches" => "matches",
            "IsPresent" => return if value == &Value::Bool(true) { format!("{var} is present") } else { format!("{var} is absent") },
            "IsNull" | "IsString" | "IsNumeric" | "IsBoolean" | "IsTimestamp" => {
                let what = op.trim_start_matches("Is").to_lowercase();
                return if value == &Value::Bool(true) { format!("{var} is {what}") } else { format!("{var} is not {what}") };
            }
            _ => op,
        };
        return format!("{var} {symbol} {shown}");
    }
    var.to_string()
}

/// Node positions (centres) by node id, as saved in `NAME.layout.json` beside the workflow
/// file, never inside the ASL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayoutFile {
    /// Format version; 1.
    pub version: u32,
    pub positions: BTreeMap<String, [f32; 2]>,
    /// Parallel and Map states drawn closed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub collapsed: std::collections::BTreeSet<String>,
}

impl LayoutFile {
    pub const VERSION: u32 = 1;

    /// `video.asl.json` → `video.layout.json`; `flow.yaml` → `flow.layout.json`.
    pub fn path_for(workflow: &Path) -> PathBuf {
        let name = workflow.file_name().and_then(|n| n.to_str()).unwrap_or("workflow");
        let stem = [".asl.json", ".asl.yaml", ".asl.yml", ".json", ".yaml", ".yml"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
            .unwrap_or(name);
        workflow.with_file_name(format!("{stem}.layout.json"))
    }

    /// Reads the layout saved beside `workflow`. A missing file is `Ok(None)`; a damaged one is
    /// an error message (the caller lays the diagram out afresh and says so).
    pub fn load_beside(workflow: &Path) -> Result<Option<LayoutFile>, String> {
        let path = Self::path_for(workflow);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("The saved layout {} could not be read ({e}); the diagram was laid out afresh.", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("The saved layout {} could not be read ({e}); the diagram was laid out afresh.", path.display())),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Where each node of a diagram is: centres, by node index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Positions(pub Vec<[f32; 2]>);

impl Positions {
    /// Positions from a saved layout, laying out afresh any node the layout does not name.
    pub fn from_saved(d: &Diagram, saved: &LayoutFile) -> Positions {
        let auto = layout::auto_layout(d);
        Positions(d.nodes.iter().enumerate().map(|(i, n)| saved.positions.get(&n.id).copied().unwrap_or(auto.0[i])).collect())
    }

    pub fn to_layout_file(&self, d: &Diagram, collapsed: &std::collections::BTreeSet<String>) -> LayoutFile {
        LayoutFile {
            version: LayoutFile::VERSION,
            positions: d.nodes.iter().zip(&self.0).map(|(n, p)| (n.id.clone(), *p)).collect(),
            collapsed: collapsed.clone(),
        }
    }
}

/// An axis-aligned rectangle in canvas units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub min: [f32; 2],
    pub max: [f32; 2],
}

impl Rect {
    pub fn around(center: [f32; 2], size: [f32; 2]) -> Rect {
        Rect { min: [center[0] - size[0] / 2.0, center[1] - size[1] / 2.0], max: [center[0] + size[0] / 2.0, center[1] + size[1] / 2.0] }
    }

    pub fn union(self, o: Rect) -> Rect {
        Rect { min: [self.min[0].min(o.min[0]), self.min[1].min(o.min[1])], max: [self.max[0].max(o.max[0]), self.max[1].max(o.max[1])] }
    }

    pub fn expand(self, by: f32) -> Rect {
        Rect { min: [self.min[0] - by, self.min[1] - by], max: [self.max[0] + by, self.max[1] + by] }
    }

    pub fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.min[0] && p[0] <= self.max[0] && p[1] >= self.min[1] && p[1] <= self.max[1]
    }

    pub fn center(&self) -> [f32; 2] {
        [(self.min[0] + self.max[0]) / 2.0, (self.min[1] + self.max[1]) / 2.0]
    }

    pub fn width(&self) -> f32 {
        self.max[0] - self.min[0]
    }

    pub fn height(&self) -> f32 {
        self.max[1] - self.min[1]
    }
}

/// The frames drawn for open Parallel/Map states, given where the nodes are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frames {
    /// Per node index: for an open container, the frame around its header and everything in
    /// it; for other nodes, their own box.
    pub outer: Vec<Rect>,
    /// Per container node index: one frame per branch (empty for other nodes).
    pub branches: Vec<Vec<Rect>>,
}

impl Frames {
    /// Computes every frame from the positions: a branch frame encloses its nodes, a
    /// container's frame its header and its branch frames. Children precede their containers,
    /// so one pass in node order sees every inner frame before the outer one.
    pub fn compute(d: &Diagram, pos: &Positions) -> Frames {
        let n = d.nodes.len();
        let mut outer: Vec<Rect> = d.nodes.iter().enumerate().map(|(i, node)| Rect::around(pos.0[i], node.size())).collect();
        let mut branches: Vec<Vec<Option<Rect>>> = d.nodes.iter().map(|node| vec![None; if node.is_container() { node.branches } else { 0 }]).collect();
        for i in 0..n {
            if d.nodes[i].is_container() {
                let mut r = outer[i];
                for b in branches[i].iter().flatten() {
                    r = r.union(*b);
                }
                outer[i] = r.expand(CONTAINER_PAD / 2.0);
            }
            if let Some((owner, b)) = d.nodes[i].parent
                && let Some(slot) = branches[owner].get_mut(b) {
                    let r = outer[i].expand(CONTAINER_PAD / 2.0);
                    *slot = Some(slot.map_or(r, |s| s.union(r)));
                }
        }
        let branches = branches
            .into_iter()
            .enumerate()
            .map(|(i, bs)| {
                // An empty branch still gets a frame below the header, so it can be seen.
                let header = Rect::around(pos.0[i], d.nodes[i].size());
                bs.into_iter()
                    .enumerate()
                    .map(|(k, b)| {
                        b.unwrap_or_else(|| {
                            let x = header.min[0] + k as f32 * (NODE_W / 2.0 + CONTAINER_PAD);
                            Rect { min: [x, header.max[1] + CONTAINER_PAD], max: [x + NODE_W / 2.0, header.max[1] + CONTAINER_PAD + NODE_H] }
                        })
                    })
                    .collect()
            })
            .collect();
        Frames { outer, branches }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_read_like_conditions() {
        assert_eq!(rule_text(&json!({"Variable": "$.size", "NumericGreaterThan": 1000, "Next": "Big"})), "$.size > 1000");
        assert_eq!(rule_text(&json!({"Variable": "$.kind", "StringEquals": "gift", "Next": "x"})), "$.kind == \"gift\"");
        assert_eq!(rule_text(&json!({"Variable": "$.a", "NumericLessThanPath": "$.b", "Next": "x"})), "$.a < $.b");
        assert_eq!(rule_text(&json!({"Variable": "$.a", "IsPresent": false, "Next": "x"})), "$.a is absent");
        assert_eq!(
            rule_text(&json!({"Not": {"Or": [{"Variable": "$.a", "IsNull": true}, {"Variable": "$.b", "BooleanEquals": true}]}})),
            "not (($.a is null) or ($.b == true))"
        );
        assert_eq!(rule_text(&json!({"Condition": "{% $states.input.size > 5 %}", "Next": "x"})), "$states.input.size > 5");
    }

    #[test]
    fn children_precede_their_container_and_markers_are_per_scope() {
        let root = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}
            ], "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }});
        let d = Diagram::build(&root, &Default::default());
        let p = d.index_of("P").unwrap();
        let a = d.index_of("A").unwrap();
        assert!(a < p);
        assert_eq!(d.nodes[a].parent, Some((p, 0)));
        assert_eq!(d.nodes[d.index_of("B").unwrap()].parent, Some((p, 1)));
        assert_eq!(d.descendants(p).len(), 6, "A, B and a Start and End marker per branch");
        assert_eq!(d.nodes.iter().filter(|n| n.kind == NodeKind::Start).count(), 3);
        // Succeed has no End arrow; the top level has no End marker then.
        assert_eq!(d.nodes.iter().filter(|n| n.kind == NodeKind::End).count(), 2);
        let collapsed = [String::from("P")].into_iter().collect();
        let c = Diagram::build(&root, &collapsed);
        assert!(c.index_of("A").is_none());
        assert_eq!(c.nodes[c.index_of("P").unwrap()].hidden_states, 2);
    }

    #[test]
    fn layout_files_sit_beside_the_workflow() {
        assert_eq!(LayoutFile::path_for(Path::new("/w/video.asl.json")), Path::new("/w/video.layout.json"));
        assert_eq!(LayoutFile::path_for(Path::new("flow.yaml")), Path::new("flow.layout.json"));
        assert_eq!(LayoutFile::path_for(Path::new("odd")), Path::new("odd.layout.json"));
    }
}
