//! Everything a person can do to the open workflow, as values. The panels build commands
//! during a frame; [`apply`] runs them at its end, records the undo point and refuses what the
//! model refuses, with the model's reason.

use serde_json::{Value, json};

use super::document::Document;
use crate::asl::edit::{self, Connect};
use crate::asl::model::{self, QueryLanguage, StateType, TransitionKind};
use crate::diagram::{EdgeKind, NodeKind};

/// Ready-made Task states offered in the palette beside the eight plain types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// A long-running step answered by a worker polling `GetActivityTask`.
    Activity,
    LambdaInvoke,
    S3CopyObject,
    /// A Lambda invoke that waits for `SendTaskSuccess` with its task token.
    WaitForCallback,
    SnsPublish,
}

impl Template {
    pub const ALL: [Template; 5] =
        [Template::Activity, Template::LambdaInvoke, Template::S3CopyObject, Template::WaitForCallback, Template::SnsPublish];

    pub fn label(self) -> &'static str {
        match self {
            Template::Activity => "Activity",
            Template::LambdaInvoke => "Lambda invoke",
            Template::S3CopyObject => "S3 copyObject",
            Template::WaitForCallback => "Wait for callback",
            Template::SnsPublish => "SNS publish",
        }
    }

    /// The name a new state of this template starts with.
    pub fn base_name(self) -> &'static str {
        match self {
            Template::Activity => "Review",
            Template::LambdaInvoke => "Invoke Lambda",
            Template::S3CopyObject => "Copy Object",
            Template::WaitForCallback => "Wait For Callback",
            Template::SnsPublish => "Notify",
        }
    }

    /// The state's fields besides `Next`/`End`.
    pub fn state(self, ql: QueryLanguage) -> Value {
        let jsonata = ql == QueryLanguage::Jsonata;
        match self {
            Template::Activity => json!({
                "Type": "Task",
                "Resource": "arn:aws:states:us-east-1:123456789012:activity:review",
                "TimeoutSeconds": 3600,
                "HeartbeatSeconds": 300
            }),
            Template::LambdaInvoke if jsonata => json!({
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "my-function", "Payload": "{% $states.input %}"}
            }),
            Template::LambdaInvoke => json!({
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "my-function", "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}]
            }),
            Template::S3CopyObject if jsonata => json!({
                "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
                "Arguments": {"Bucket": "approved-bucket", "CopySource": "{% 'raw-bucket/' & $states.input.key %}", "Key": "{% $states.input.key %}"}
            }),
            Template::S3CopyObject => json!({
                "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
                "Parameters": {"Bucket": "approved-bucket", "CopySource.$": "States.Format('raw-bucket/{}', $.key)", "Key.$": "$.key"}
            }),
            Template::WaitForCallback if jsonata => json!({
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Arguments": {"FunctionName": "my-function", "Payload": {"token": "{% $states.context.Task.Token %}"}},
                "HeartbeatSeconds": 600
            }),
            Template::WaitForCallback => json!({
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "my-function", "Payload": {"token.$": "$$.Task.Token", "input.$": "$"}},
                "HeartbeatSeconds": 600
            }),
            Template::SnsPublish if jsonata => json!({
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Arguments": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:my-topic", "Message": "{% $states.input %}"}
            }),
            Template::SnsPublish => json!({
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:my-topic", "Message.$": "$"}
            }),
        }
    }
}

/// What the palette offers: a plain state type or a Task template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaletteItem {
    Type(StateType),
    Template(Template),
}

/// An arrow of the diagram, named by the model (so it survives a rebuild).
#[derive(Clone, Debug, PartialEq)]
pub enum EdgeRef {
    /// The scope's `StartAt` (pointer of the scope).
    Start { scope: String },
    /// A state's `End: true`.
    End { from: String },
    Transition { from: String, kind: TransitionKind },
}

impl EdgeRef {
    /// The arrow at index `i` of the document's diagram.
    pub fn of(doc: &Document, i: usize) -> Option<EdgeRef> {
        let e = doc.diagram.edges.get(i)?;
        let from = &doc.diagram.nodes[e.from];
        Some(match &e.kind {
            EdgeKind::Start => EdgeRef::Start { scope: from.scope.clone() },
            EdgeKind::End => EdgeRef::End { from: from.id.clone() },
            EdgeKind::Transition(k) => EdgeRef::Transition { from: from.id.clone(), kind: k.clone() },
        })
    }
}

#[must_use]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Adds a state at a canvas position, in the scope (pointer) it was dropped into, or
    /// spliced into an arrow.
    AddState { item: PaletteItem, at: [f32; 2], scope: String, on_edge: Option<EdgeRef> },
    Connect { from: String, to: String, how: Connect },
    Delete(Vec<String>),
    Duplicate(Vec<String>),
    Rename { from: String, to: String },
    /// Sets (`Some`) or removes (`None`) a field of a state. `coalesce` groups keystrokes.
    SetField { state: String, field: String, value: Option<Value>, coalesce: bool },
    /// Sets or removes a top-level field (Comment, TimeoutSeconds, QueryLanguage, ...).
    SetTopField { field: String, value: Option<Value> },
    /// A drag ended: nodes (by id) now sit at these centres.
    MoveNodes(Vec<(String, [f32; 2])>),
    ToggleCollapse(String),
    /// The Definition tab's text changed.
    SetText(String),
    AutoLayout,
    Undo,
    Redo,
}

/// What happened, for the status line and the selection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// A state to select afterwards (the one added, renamed, duplicated).
    pub select: Option<String>,
    pub message: Option<String>,
}

/// Applies one command. An `Err` is the model's refusal, in words for the person; the
/// document is then unchanged.
pub fn apply(doc: &mut Document, cmd: Command) -> Result<Outcome, String> {
    let before = doc.snapshot();
    let result = apply_inner(doc, cmd);
    if result.is_err() {
        // Refused: put back anything half-done (undo history included).
        if doc.snapshot() != before {
            doc.root = before.root;
            doc.layout = before.layout;
            doc.collapsed = before.collapsed;
            doc.tree_changed();
        }
    }
    result
}

fn apply_inner(doc: &mut Document, cmd: Command) -> Result<Outcome, String> {
    match cmd {
        Command::Undo => {
            let done = doc.undo();
            Ok(Outcome { message: (!done).then(|| "Nothing to undo.".to_string()), ..Outcome::default() })
        }
        Command::Redo => {
            let done = doc.redo();
            Ok(Outcome { message: (!done).then(|| "Nothing to redo.".to_string()), ..Outcome::default() })
        }
        Command::SetText(text) => {
            doc.checkpoint(Some("text".into()));
            doc.set_text(text);
            Ok(Outcome::default())
        }
        Command::MoveNodes(moves) => {
            doc.checkpoint(None);
            doc.move_nodes(&moves);
            Ok(Outcome::default())
        }
        Command::AutoLayout => {
            doc.checkpoint(None);
            doc.auto_layout();
            doc.revision += 1;
            Ok(Outcome::default())
        }
        Command::ToggleCollapse(name) => {
            doc.checkpoint(None);
            if !doc.collapsed.remove(&name) {
                doc.collapsed.insert(name);
            }
            // Positions inside were kept; a re-opened container finds its states where they were.
            doc.revision += 1;
            doc.refresh();
            Ok(Outcome::default())
        }
        Command::AddState { item, at, scope, on_edge } => add_state(doc, item, at, &scope, on_edge),
        Command::Connect { from, to, how } => {
            doc.checkpoint(None);
            edit::connect(&mut doc.root, &from, &to, how).map_err(|e| e.to_string())?;
            doc.tree_changed();
            Ok(Outcome::default())
        }
        Command::Delete(names) => {
            if names.is_empty() {
                return Ok(Outcome::default());
            }
            doc.checkpoint(None);
            for n in &names {
                // A state already removed with its container is fine.
                if model::find_state(&doc.root, n).is_some() {
                    edit::delete_state(&mut doc.root, n).map_err(|e| e.to_string())?;
                }
                doc.layout.remove(n);
            }
            doc.tree_changed();
            let message = Some(if names.len() == 1 { format!("Deleted \"{}\".", names[0]) } else { format!("Deleted {} states.", names.len()) });
            Ok(Outcome { message, ..Outcome::default() })
        }
        Command::Duplicate(names) => {
            doc.checkpoint(None);
            let mut last = None;
            for n in &names {
                let (scope, _, state) = model::find_state(&doc.root, n).ok_or_else(|| format!("There is no state named \"{n}\"."))?;
                let scope = scope.pointer.clone();
                let mut copy = state.clone();
                // A copy of a container would repeat its inner state names, which must be
                // unique in the whole machine; copy the inner states under fresh names.
                rename_inner_copies(&doc.root, &mut copy);
                let name = unique_name(&doc.root, &format!("{n} copy"));
                edit::add_state(&mut doc.root, &scope, &name, copy).map_err(|e| e.to_string())?;
                if let Some(p) = doc.layout.get(n).copied() {
                    doc.layout.insert(name.clone(), [p[0] + 40.0, p[1] + 40.0]);
                }
                last = Some(name);
            }
            doc.tree_changed();
            Ok(Outcome { select: last, ..Outcome::default() })
        }
        Command::Rename { from, to } => {
            let to = to.trim().to_string();
            if from == to {
                return Ok(Outcome::default());
            }
            doc.checkpoint(None);
            edit::rename_state(&mut doc.root, &from, &to).map_err(|e| e.to_string())?;
            rename_layout_keys(doc, &from, &to);
            if doc.collapsed.remove(&from) {
                doc.collapsed.insert(to.clone());
            }
            doc.tree_changed();
            Ok(Outcome { select: Some(to), ..Outcome::default() })
        }
        Command::SetField { state, field, value, coalesce } => {
            if (field == "Next" || field == "Default")
                && let Some(Value::String(t)) = &value {
                    check_same_scope(doc, &state, t)?;
                }
            doc.checkpoint(coalesce.then(|| format!("{state}\u{1}{field}")));
            let (_, ptr, _) = model::find_state(&doc.root, &state).ok_or_else(|| format!("There is no state named \"{state}\"."))?;
            let obj = doc.root.pointer_mut(&ptr).and_then(Value::as_object_mut).ok_or_else(|| format!("\"{state}\" is not an object."))?;
            set_or_remove(obj, &field, value);
            // Next and End exclude each other: setting one clears the other.
            if field == "Next" && obj.contains_key("Next") {
                obj.shift_remove("End");
            } else if field == "End" && obj.get("End") == Some(&Value::Bool(true)) {
                obj.shift_remove("Next");
            }
            doc.tree_changed();
            Ok(Outcome::default())
        }
        Command::SetTopField { field, value } => {
            doc.checkpoint(Some(format!("\u{1}{field}")));
            let obj = doc.root.as_object_mut().ok_or("The definition is not an object.")?;
            set_or_remove(obj, &field, value);
            doc.tree_changed();
            Ok(Outcome::default())
        }
    }
}

fn set_or_remove(obj: &mut serde_json::Map<String, Value>, field: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            obj.insert(field.to_string(), v);
        }
        None => {
            obj.shift_remove(field);
        }
    }
}

fn check_same_scope(doc: &Document, from: &str, to: &str) -> Result<(), String> {
    let a = model::find_state(&doc.root, from).map(|(s, ..)| s.pointer);
    let b = model::find_state(&doc.root, to).map(|(s, ..)| s.pointer);
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(edit::EditError::CrossScope { from: from.into(), to: to.into() }.to_string()),
        _ => Ok(()),
    }
}

/// `base`, or `base 2`, `base 3`, ... whichever is free in the whole machine.
pub fn unique_name(root: &Value, base: &str) -> String {
    let taken: std::collections::HashSet<String> = model::all_state_names(root).into_iter().collect();
    if !taken.contains(base) {
        return base.to_string();
    }
    (2..).map(|i| format!("{base} {i}")).find(|n| !taken.contains(n)).unwrap_or_else(|| base.to_string())
}

fn rename_inner_copies(root: &Value, copy: &mut Value) {
    let mut taken: std::collections::HashSet<String> = model::all_state_names(root).into_iter().collect();
    let mut pointers: Vec<String> = Vec::new();
    for (ptr, _) in model::child_scopes(copy, "") {
        pointers.push(ptr);
    }
    while let Some(scope_ptr) = pointers.pop() {
        let names: Vec<String> =
            copy.pointer(&scope_ptr).and_then(|s| s.get("States")).and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for old in names {
            let mut new = format!("{old} copy");
            let mut i = 2;
            while taken.contains(&new) {
                new = format!("{old} copy {i}");
                i += 1;
            }
            taken.insert(new.clone());
            if let Some(scope) = copy.pointer_mut(&scope_ptr) {
                // Renaming inside the copy only: the copy is its own little machine here.
                let _ = edit::rename_state(scope, &old, &new);
            }
            let state_ptr = format!("{scope_ptr}/States/{}", escape(&new));
            if let Some(state) = copy.pointer(&state_ptr) {
                for (p, _) in model::child_scopes(state, &state_ptr) {
                    pointers.push(p);
                }
            }
        }
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Layout keys follow a rename: the state's own and the markers of scopes inside it.
fn rename_layout_keys(doc: &mut Document, from: &str, to: &str) {
    if let Some(p) = doc.layout.remove(from) {
        doc.layout.insert(to.to_string(), p);
    }
    let (old_seg, new_seg) = (format!("/States/{}", escape(from)), format!("/States/{}", escape(to)));
    let moved: Vec<(String, [f32; 2])> = doc
        .layout
        .iter()
        .filter(|(k, _)| k.contains('\u{1}') && (k.contains(&format!("{old_seg}/")) || k.ends_with(&old_seg)))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for (k, v) in moved {
        doc.layout.remove(&k);
        let nk = k.replacen(&old_seg, &new_seg, 1);
        doc.layout.insert(nk, v);
    }
}

fn add_state(doc: &mut Document, item: PaletteItem, at: [f32; 2], scope: &str, on_edge: Option<EdgeRef>) -> Result<Outcome, String> {
    let ql = model::scopes(&doc.root).into_iter().find(|s| s.pointer == scope).map(|s| s.query_language).unwrap_or_default();
    let (kind, mut state, base) = match item {
        PaletteItem::Type(t) => (t, edit::new_state(t, ql, None), t.name().to_string()),
        PaletteItem::Template(t) => (StateType::Task, t.state(ql), t.base_name().to_string()),
    };
    if let PaletteItem::Template(_) = item
        && let Some(o) = state.as_object_mut() {
            o.insert("End".into(), Value::Bool(true));
        }
    let name = unique_name(&doc.root, &base);
    doc.checkpoint(None);
    // A new Parallel/Map holds one Pass so the container is valid and visible at once.
    if matches!(kind, StateType::Parallel | StateType::Map) {
        let inner = unique_name(&doc.root, &format!("{name} step"));
        let inner_scope = if kind == StateType::Parallel { "/Branches/0" } else { "/ItemProcessor" };
        if let Some(s) = state.pointer_mut(inner_scope) {
            s["StartAt"] = json!(inner);
            s["States"] = json!({ inner.clone(): {"Type": "Pass", "End": true} });
        }
        doc.layout.insert(inner.clone(), [at[0], at[1] + 90.0]);
    }
    edit::add_state(&mut doc.root, scope, &name, state).map_err(|e| e.to_string())?;
    doc.layout.insert(name.clone(), at);
    if let Some(edge) = on_edge {
        splice(doc, &name, kind, edge)?;
    }
    doc.tree_changed();
    Ok(Outcome { select: Some(name), ..Outcome::default() })
}

/// Puts the new state `name` in the middle of an arrow: the arrow now ends at it, and it
/// leads where the arrow led.
fn splice(doc: &mut Document, name: &str, kind: StateType, edge: EdgeRef) -> Result<(), String> {
    if kind.is_terminal() && !matches!(edge, EdgeRef::End { .. }) {
        return Err(format!("A {} state ends its branch, so it cannot sit in the middle of an arrow; drop it on empty canvas and connect to it.", kind.name()));
    }
    let (_, new_ptr, _) = model::find_state(&doc.root, name).ok_or("the new state vanished")?;
    let lead_to = |doc: &mut Document, target: Option<&str>| -> Result<(), String> {
        let obj = doc.root.pointer_mut(&new_ptr).and_then(Value::as_object_mut).ok_or("the new state vanished")?;
        match (kind, target) {
            (StateType::Choice, Some(t)) => {
                obj.insert("Default".into(), json!(t));
            }
            (k, _) if k.is_terminal() => {}
            (_, Some(t)) => {
                obj.shift_remove("End");
                obj.insert("Next".into(), json!(t));
            }
            (_, None) => {
                obj.shift_remove("Next");
                obj.insert("End".into(), json!(true));
            }
        }
        Ok(())
    };
    match edge {
        EdgeRef::Start { scope } => {
            let old = doc.root.pointer(&scope).and_then(|s| s.get("StartAt")).and_then(Value::as_str).map(str::to_string);
            lead_to(doc, old.as_deref().filter(|o| *o != name))?;
            if let Some(s) = doc.root.pointer_mut(&scope).and_then(Value::as_object_mut) {
                s.insert("StartAt".into(), json!(name));
            }
        }
        EdgeRef::End { from } => {
            lead_to(doc, None)?;
            edit::connect(&mut doc.root, &from, name, Connect::Next).map_err(|e| e.to_string())?;
        }
        EdgeRef::Transition { from, kind: tk } => {
            let (_, from_ptr, from_state) = model::find_state(&doc.root, &from).ok_or_else(|| format!("There is no state named \"{from}\"."))?;
            let t = model::transitions(from_state).into_iter().find(|t| t.kind == tk).ok_or("That arrow no longer exists.")?;
            let target = t.target.to_string();
            let field = t.pointer(&from_ptr);
            lead_to(doc, Some(&target))?;
            if let Some(slot) = doc.root.pointer_mut(&field) {
                *slot = json!(name);
            }
        }
    }
    Ok(())
}

/// Whether a node can start a connection (markers and terminal states cannot).
pub fn can_connect_from(doc: &Document, node: usize) -> bool {
    doc.diagram.nodes.get(node).is_some_and(|n| match n.kind {
        NodeKind::State(t) => !t.is_terminal(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::Format;

    fn doc() -> Document {
        let text = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}}"#;
        Document::from_text(text, Format::Json, None, None)
    }

    #[test]
    fn a_state_dropped_on_an_arrow_is_spliced_into_it() {
        let mut d = doc();
        let edge = EdgeRef::Transition { from: "A".into(), kind: TransitionKind::Next };
        let out = apply(&mut d, Command::AddState { item: PaletteItem::Type(StateType::Wait), at: [0.0, 0.0], scope: String::new(), on_edge: Some(edge) }).unwrap();
        assert_eq!(out.select.as_deref(), Some("Wait"));
        assert_eq!(d.root["States"]["A"]["Next"], "Wait");
        assert_eq!(d.root["States"]["Wait"]["Next"], "B");
        assert_eq!(d.error_count(), 0, "{:?}", d.diagnostics);
        // On the Start arrow and on an End arrow too.
        apply(&mut d, Command::AddState { item: PaletteItem::Type(StateType::Pass), at: [0.0, 0.0], scope: String::new(), on_edge: Some(EdgeRef::Start { scope: String::new() }) }).unwrap();
        assert_eq!(d.root["StartAt"], "Pass");
        assert_eq!(d.root["States"]["Pass"]["Next"], "A");
        apply(&mut d, Command::AddState { item: PaletteItem::Type(StateType::Succeed), at: [0.0, 0.0], scope: String::new(), on_edge: Some(EdgeRef::End { from: "B".into() }) }).unwrap();
        assert_eq!(d.root["States"]["B"]["Next"], "Succeed");
        assert_eq!(d.error_count(), 0, "{:?}", d.diagnostics);
    }

    #[test]
    fn refused_connections_say_why_and_change_nothing() {
        let mut d = doc();
        apply(&mut d, Command::AddState { item: PaletteItem::Type(StateType::Succeed), at: [0.0, 0.0], scope: String::new(), on_edge: None }).unwrap();
        let before = d.root.clone();
        let err = apply(&mut d, Command::Connect { from: "Succeed".into(), to: "A".into(), how: Connect::Next }).unwrap_err();
        assert!(err.contains("Succeed"), "{err}");
        assert_eq!(d.root, before);
        let err = apply(&mut d, Command::Rename { from: "A".into(), to: "B".into() }).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(d.root, before);
    }

    #[test]
    fn duplicate_and_rename_keep_names_unique_and_references_right() {
        let text = r#"{"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}], "End": true}}}"#;
        let mut d = Document::from_text(text, Format::Json, None, None);
        let out = apply(&mut d, Command::Duplicate(vec!["P".into()])).unwrap();
        assert_eq!(out.select.as_deref(), Some("P copy"));
        assert_eq!(d.root["States"]["P copy"]["Branches"][0]["StartAt"], "X copy");
        apply(&mut d, Command::Rename { from: "P".into(), to: "Fan out".into() }).unwrap();
        assert_eq!(d.root["StartAt"], "Fan out");
        assert!(d.layout.keys().any(|k| k.contains("/States/Fan out/Branches/0")), "marker positions follow the rename");
        apply(&mut d, Command::Undo).unwrap();
        assert_eq!(d.root["StartAt"], "P");
    }
}
