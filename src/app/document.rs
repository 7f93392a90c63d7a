//! The open workflow: the ASL tree, the text shown in the Definition tab, the diagram and
//! where its boxes are, the problems, and the undo history. No drawing here: the designer's
//! panels read this, and only [`super::command`] changes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::asl::{self, Diagnostic, Format, Severity};
use crate::diagram::{Diagram, Frames, Positions, layout};
use crate::validate;

/// Undo steps kept; older ones are dropped.
const UNDO_LIMIT: usize = 500;

/// One undoable state of the document: the tree, the layout and what is collapsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub root: Value,
    pub layout: BTreeMap<String, [f32; 2]>,
    pub collapsed: BTreeSet<String>,
}

/// Text in the Definition tab that does not parse: the graph keeps the last good tree.
#[derive(Clone, Debug, PartialEq)]
pub struct TextError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

#[derive(Debug)]
pub struct Document {
    /// Where it is saved; `None` until the first Save As.
    pub path: Option<PathBuf>,
    pub format: Format,
    /// The last definition that parsed: what the graph, the inspector and a save show.
    pub root: Value,
    /// The Definition tab's text; equals `root`'s canonical text unless the person is typing.
    pub text: String,
    pub text_error: Option<TextError>,
    /// How many states `root` has, nested ones included (the status line shows it each frame).
    pub state_count: usize,
    /// Validation of `root`, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    pub diagram: Diagram,
    /// Centres by node index of `diagram`.
    pub positions: Positions,
    pub frames: Frames,
    /// Node id → centre: the source of `positions`, kept across rebuilds and saved beside the file.
    pub layout: BTreeMap<String, [f32; 2]>,
    pub collapsed: BTreeSet<String>,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    /// Bumped by every change; compared with `saved_revision` for the unsaved-changes mark.
    pub revision: u64,
    pub saved_revision: u64,
    /// Whether the last undo step may absorb the next change of the same kind (typing).
    coalesce_key: Option<String>,
    /// The title of a document without a file (a deployed definition opened from AWS).
    pub name: Option<String>,
}

impl Document {
    /// A document from text (a file's bytes, a recovery file). Never fails: text that does not
    /// parse opens with an empty graph and its error shown.
    pub fn from_text(text: &str, format: Format, path: Option<PathBuf>, saved_layout: Option<&crate::diagram::LayoutFile>) -> Document {
        let mut doc = Document {
            path,
            format,
            root: Value::Null,
            text: String::new(),
            text_error: None,
            state_count: 0,
            diagnostics: Vec::new(),
            diagram: Diagram::default(),
            positions: Positions::default(),
            frames: Frames::default(),
            layout: BTreeMap::new(),
            collapsed: BTreeSet::new(),
            undo: Vec::new(),
            redo: Vec::new(),
            revision: 0,
            saved_revision: 0,
            coalesce_key: None,
            name: None,
        };
        if let Some(l) = saved_layout {
            doc.layout = l.positions.clone();
            doc.collapsed = l.collapsed.clone();
        }
        doc.text = text.to_string();
        match parse_text(text, format) {
            Ok(root) => {
                doc.root = root;
                if saved_layout.is_none() {
                    doc.refresh();
                    doc.auto_layout();
                }
            }
            Err(e) => {
                doc.root = serde_json::json!({"StartAt": "", "States": {}});
                doc.text_error = Some(e);
            }
        }
        doc.refresh();
        doc
    }

    /// An empty machine, ready for the first state from the palette.
    pub fn new_untitled() -> Document {
        let text = asl::to_json(&serde_json::json!({
            "Comment": "A new state machine",
            "StartAt": "",
            "States": {}
        }));
        Document::from_text(&text, Format::Json, None, None)
    }

    pub fn is_dirty(&self) -> bool {
        self.revision != self.saved_revision
    }

    /// "video-ingest.asl.json" or "Untitled".
    pub fn title(&self) -> String {
        match (&self.path, &self.name) {
            (Some(p), _) => p.file_name().map_or_else(|| "Untitled".to_string(), |n| n.to_string_lossy().into_owned()),
            (None, Some(n)) => n.clone(),
            (None, None) => "Untitled".to_string(),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { root: self.root.clone(), layout: self.layout.clone(), collapsed: self.collapsed.clone() }
    }

    /// Records the current state as an undo point before a change. Changes with the same
    /// `coalesce` key in a row (typing in one field) make a single step.
    pub fn checkpoint(&mut self, coalesce: Option<String>) {
        if coalesce.is_some() && coalesce == self.coalesce_key {
            return;
        }
        self.undo.push(self.snapshot());
        if self.undo.len() > UNDO_LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
        self.coalesce_key = coalesce;
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self) -> bool {
        let Some(s) = self.undo.pop() else { return false };
        let now = self.snapshot();
        self.redo.push(now);
        self.restore(s);
        true
    }

    pub fn redo(&mut self) -> bool {
        let Some(s) = self.redo.pop() else { return false };
        let now = self.snapshot();
        self.undo.push(now);
        self.restore(s);
        true
    }

    fn restore(&mut self, s: Snapshot) {
        self.root = s.root;
        self.layout = s.layout;
        self.collapsed = s.collapsed;
        self.coalesce_key = None;
        self.text = self.canonical_text();
        self.text_error = None;
        self.changed();
    }

    pub fn canonical_text(&self) -> String {
        asl::to_text(&self.root, self.format)
    }

    /// After `root` changed through the model: new text, diagram, problems.
    pub fn tree_changed(&mut self) {
        self.text = self.canonical_text();
        self.text_error = None;
        self.changed();
    }

    fn changed(&mut self) {
        self.revision += 1;
        self.refresh();
    }

    /// Rebuilds what is derived from the tree and the layout.
    pub fn refresh(&mut self) {
        self.diagram = Diagram::build(&self.root, &self.collapsed);
        self.state_count = crate::asl::model::scopes(&self.root).iter().filter_map(|s| s.states()).map(|m| m.len()).sum();
        let missing = self.diagram.nodes.iter().any(|n| !self.layout.contains_key(&n.id));
        let auto = missing.then(|| layout::auto_layout(&self.diagram));
        let mut pos = Vec::with_capacity(self.diagram.nodes.len());
        for (i, n) in self.diagram.nodes.iter().enumerate() {
            let p = match self.layout.get(&n.id) {
                Some(p) => *p,
                None => {
                    let p = auto.as_ref().map_or([0.0, 0.0], |a| a.0[i]);
                    self.layout.insert(n.id.clone(), p);
                    p
                }
            };
            pos.push(p);
        }
        self.positions = Positions(pos);
        self.frames = Frames::compute(&self.diagram, &self.positions);
        let doc = asl::Document { root: self.root.clone(), format: self.format, ..asl::Document::default() };
        let mut diags = validate::validate(&doc, &validate::Options::default());
        diags.sort_by(|a, b| a.location.cmp(&b.location));
        self.diagnostics = diags;
    }

    /// Replaces every position with the automatic layout.
    pub fn auto_layout(&mut self) {
        let auto = layout::auto_layout(&self.diagram);
        self.layout = self.diagram.nodes.iter().zip(&auto.0).map(|(n, p)| (n.id.clone(), *p)).collect();
        self.positions = auto;
        self.frames = Frames::compute(&self.diagram, &self.positions);
    }

    /// Moves nodes (by id) to new centres; containers carry what they hold.
    pub fn move_nodes(&mut self, moves: &[(String, [f32; 2])]) {
        for (id, to) in moves {
            let Some(i) = self.diagram.index_of(id) else { continue };
            let from = self.positions.0[i];
            let delta = [to[0] - from[0], to[1] - from[1]];
            let mut moved = vec![i];
            if self.diagram.nodes[i].is_container() {
                moved.extend(self.diagram.descendants(i));
            }
            for k in moved {
                let p = &mut self.positions.0[k];
                p[0] += delta[0];
                p[1] += delta[1];
                self.layout.insert(self.diagram.nodes[k].id.clone(), *p);
            }
        }
        self.frames = Frames::compute(&self.diagram, &self.positions);
        self.revision += 1;
    }

    /// The Definition tab's text changed: apply it when it parses, else keep the last good
    /// tree and show where the text is wrong.
    pub fn set_text(&mut self, text: String) {
        self.text = text;
        match parse_text(&self.text, self.format) {
            Ok(root) => {
                self.text_error = None;
                if root != self.root {
                    self.root = root;
                    self.changed();
                } else {
                    self.revision += 1;
                }
            }
            Err(e) => {
                self.text_error = Some(e);
                self.revision += 1;
            }
        }
    }

    /// Diagnostics of severity error.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// The state a diagnostic is about: the innermost state whose pointer prefixes it.
    pub fn state_of_pointer(&self, pointer: &str) -> Option<String> {
        self.diagram
            .nodes
            .iter()
            .filter(|n| !n.is_marker())
            .filter(|n| pointer.strip_prefix(n.pointer.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
            .max_by_key(|n| n.pointer.len())
            .map(|n| n.id.clone())
    }

    /// Problems per state name, for the badges on the canvas.
    pub fn problems_by_state(&self) -> BTreeMap<String, (usize, usize)> {
        let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for d in &self.diagnostics {
            if let Some(s) = self.state_of_pointer(&d.location) {
                let e = out.entry(s).or_default();
                if d.severity == Severity::Error { e.0 += 1 } else { e.1 += 1 }
            }
        }
        out
    }

    /// The text to save, in the document's format (the canonical form of the tree; a text
    /// that does not parse is saved as the person wrote it, so nothing typed is lost).
    pub fn text_to_save(&self) -> String {
        if self.text_error.is_some() { self.text.clone() } else { self.canonical_text() }
    }

    pub fn layout_file(&self) -> crate::diagram::LayoutFile {
        self.positions.to_layout_file(&self.diagram, &self.collapsed)
    }
}

/// Parses the Definition tab's text; a definition is usable when it is an object.
fn parse_text(text: &str, format: Format) -> Result<Value, TextError> {
    let (doc, diags) = asl::parse(text, format);
    if let Some(d) = diags.iter().find(|d| d.severity == Severity::Error) {
        return Err(TextError { message: d.message.clone(), line: d.line, column: d.column });
    }
    if !doc.root.is_object() {
        return Err(TextError { message: "A state machine definition is a JSON object: { \"StartAt\": ..., \"States\": { ... } }.".into(), line: Some(1), column: Some(1) });
    }
    Ok(doc.root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}"#;

    #[test]
    fn broken_text_keeps_the_last_good_graph() {
        let mut d = Document::from_text(FLOW, Format::Json, None, None);
        assert_eq!(d.diagram.nodes.iter().filter(|n| !n.is_marker()).count(), 2);
        d.set_text(FLOW.replace("\"Succeed\"}", "\"Succeed\""));
        let err = d.text_error.clone().expect("an error");
        assert!(err.line.is_some(), "{err:?}");
        assert_eq!(d.diagram.nodes.iter().filter(|n| !n.is_marker()).count(), 2);
        assert!(d.text_to_save().ends_with("\"Succeed\"}}") || d.text_to_save().contains("\"Succeed\""));
        d.set_text(FLOW.replace("\"B\"}", "\"C\"}").replace("\"B\": {", "\"C\": {"));
        assert!(d.text_error.is_none());
        assert!(d.diagram.index_of("C").is_some());
    }

    #[test]
    fn undo_and_redo_restore_tree_and_layout() {
        let mut d = Document::from_text(FLOW, Format::Json, None, None);
        let before = d.snapshot();
        d.checkpoint(None);
        d.move_nodes(&[("A".into(), [500.0, 500.0])]);
        assert_eq!(d.layout["A"], [500.0, 500.0]);
        assert!(d.undo());
        assert_eq!(d.snapshot(), before);
        assert!(d.redo());
        assert_eq!(d.layout["A"], [500.0, 500.0]);
    }

    #[test]
    fn typing_in_one_field_is_one_undo_step() {
        let mut d = Document::from_text(FLOW, Format::Json, None, None);
        for c in ["x", "xy", "xyz"] {
            d.checkpoint(Some("A/Comment".into()));
            d.root["States"]["A"]["Comment"] = Value::String(c.into());
            d.tree_changed();
        }
        assert!(d.undo());
        assert!(d.root["States"]["A"].get("Comment").is_none());
        assert!(!d.can_undo());
    }
}
