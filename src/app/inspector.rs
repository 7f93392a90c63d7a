//! The form for the selected state (or the machine itself when nothing is selected): every
//! field its type and query language allow, with builders for Resource, Choice rules, Retry
//! and Catch, and JSON editors that check syntax before anything reaches the document.

use std::collections::HashMap;

use eframe::egui::{self, RichText};
use serde_json::{Map, Value, json};

use super::command::{Command, Template};
use super::document::Document;
use super::theme::Palette;
use crate::asl::model::{self, QueryLanguage, StateType};
use crate::validate::fields::{self, FieldType};

/// Text being typed into fields that only reach the document once they parse (JSON, numbers).
#[derive(Default)]
pub struct Inspector {
    buffers: HashMap<String, Buffer>,
}

struct Buffer {
    text: String,
    /// The document value the text was made from; a different value (undo, a text edit)
    /// replaces the text.
    from: String,
    error: Option<String>,
}

impl Buffer {
    /// The edit buffer of a field, made anew when the document's value changed under it.
    fn synced<'a>(buffers: &'a mut HashMap<String, Buffer>, key: &str, from: &str) -> &'a mut Buffer {
        let fresh = || Buffer { text: from.to_owned(), from: from.to_owned(), error: None };
        let buf = buffers.entry(key.to_owned()).or_insert_with(fresh);
        if buf.from != from {
            *buf = fresh();
        }
        buf
    }

    /// The edited text as a field value: `Some(None)` clears the field, `Some(Some(v))` sets
    /// it; `None` while the text does not parse (the error is kept to show).
    fn parsed(&mut self, parse: impl Fn(&str) -> Result<Value, String>, shown: impl Fn(&Value) -> String) -> Option<Option<Value>> {
        let t = self.text.trim();
        if t.is_empty() {
            self.error = None;
            return Some(None);
        }
        match parse(t) {
            Ok(v) => {
                self.error = None;
                self.from = shown(&v);
                Some(Some(v))
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Fields with their own widgets, not the generic ones.
const SPECIAL: &[&str] = &["Type", "Comment", "QueryLanguage", "Next", "End", "Resource", "Choices", "Default", "Retry", "Catch", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"];

impl Inspector {
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: &Document, selection: &[String], cmds: &mut Vec<Command>) {
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| match selection {
            [] => self.machine_ui(ui, doc, cmds),
            [one] => match model::find_state(&doc.root, one) {
                Some((scope, _, state)) => {
                    let ql = QueryLanguage::of(state, scope.query_language);
                    let siblings: Vec<String> = scope.states().map(|m| m.keys().filter(|k| *k != one).cloned().collect()).unwrap_or_default();
                    self.state_ui(ui, one, state, ql, &siblings, cmds);
                }
                None => {
                    ui.label("The selected state no longer exists.");
                }
            },
            many => {
                ui.heading(format!("{} states selected", many.len()));
                ui.label("Delete (Del) or Duplicate (Ctrl+D) acts on all of them; drag one to move them together.");
            }
        });
    }

    fn machine_ui(&mut self, ui: &mut egui::Ui, doc: &Document, cmds: &mut Vec<Command>) {
        ui.heading("State machine");
        ui.label(RichText::new("Select a state to edit it; these fields belong to the whole machine.").weak());
        ui.separator();
        let root = doc.root.as_object();
        let get = |k: &str| root.and_then(|r| r.get(k));
        let _ = field_label(ui, "Comment");
        let mut comment = get("Comment").and_then(Value::as_str).unwrap_or_default().to_string();
        if ui.add(egui::TextEdit::multiline(&mut comment).desired_rows(2).desired_width(f32::INFINITY)).changed() {
            cmds.push(Command::SetTopField { field: "Comment".into(), value: (!comment.is_empty()).then(|| json!(comment)) });
        }
        let _ = field_label(ui, "StartAt");
        let names: Vec<String> = doc.root.get("States").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let current = get("StartAt").and_then(Value::as_str).unwrap_or_default().to_string();
        egui::ComboBox::from_id_salt("machine-startat").selected_text(&current).show_ui(ui, |ui| {
            for n in &names {
                if ui.selectable_label(*n == current, n).clicked() {
                    cmds.push(Command::SetTopField { field: "StartAt".into(), value: Some(json!(n)) });
                }
            }
        });
        let _ = field_label(ui, "QueryLanguage");
        let ql = get("QueryLanguage").and_then(Value::as_str).unwrap_or("JSONPath").to_string();
        ui.horizontal(|ui| {
            for opt in ["JSONPath", "JSONata"] {
                if ui.selectable_label(ql == opt, opt).clicked() && ql != opt {
                    cmds.push(Command::SetTopField { field: "QueryLanguage".into(), value: (opt == "JSONata").then(|| json!(opt)) });
                }
            }
        });
        if let Some(v) = self.number_ui(ui, "machine/TimeoutSeconds", "TimeoutSeconds", get("TimeoutSeconds")) {
            cmds.push(Command::SetTopField { field: "TimeoutSeconds".into(), value: v });
        }
        ui.separator();
        ui.label(format!("{} states, {} problems", doc.state_count, doc.diagnostics.len()));
    }

    #[allow(clippy::too_many_arguments)]
    fn state_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, ql: QueryLanguage, siblings: &[String], cmds: &mut Vec<Command>) {
        let pal = Palette::of(ui.ctx());
        let kind = model::state_type(state);
        let set = |field: &str, value: Option<Value>, coalesce: bool| Command::SetField { state: name.into(), field: field.into(), value, coalesce };
        ui.horizontal(|ui| {
            let k = kind.map_or(crate::diagram::NodeKind::Unknown, crate::diagram::NodeKind::State);
            ui.label(RichText::new(super::theme::icon(k)).color(pal.accent(k)).size(18.0));
            ui.heading(kind.map_or("Unknown type", StateType::name));
            ui.label(RichText::new(ql.name()).weak());
        });
        let label = field_label(ui, "Name");
        let buf = Buffer::synced(&mut self.buffers, &format!("{name}\u{1}name"), name);
        let resp = ui.add(egui::TextEdit::singleline(&mut buf.text).desired_width(f32::INFINITY).id_salt("inspector-name")).labelled_by(label);
        if resp.lost_focus() && buf.text != name {
            cmds.push(Command::Rename { from: name.into(), to: buf.text.clone() });
        }
        let label = field_label(ui, "Comment");
        let mut comment = state.get("Comment").and_then(Value::as_str).unwrap_or_default().to_string();
        if ui.add(egui::TextEdit::singleline(&mut comment).desired_width(f32::INFINITY).id_salt("inspector-comment")).labelled_by(label).changed() {
            cmds.push(set("Comment", (!comment.is_empty()).then(|| json!(comment)), true));
        }
        let Some(kind) = kind else {
            ui.colored_label(pal.error, "This state has no valid Type; fix it in the Definition tab.");
            return;
        };
        let _ = field_label(ui, "QueryLanguage");
        let own = state.get("QueryLanguage").and_then(Value::as_str).map(str::to_string);
        ui.horizontal(|ui| {
            for (label, v) in [("Inherit", None), ("JSONPath", Some("JSONPath")), ("JSONata", Some("JSONata"))] {
                if ui.selectable_label(own.as_deref() == v, label).clicked() && own.as_deref() != v {
                    cmds.push(set("QueryLanguage", v.map(|s| json!(s)), false));
                }
            }
        });
        if kind == StateType::Task {
            self.resource_ui(ui, name, state, ql, cmds);
        }
        if kind.needs_next_or_end() {
            next_ui(ui, "Next", state, siblings, true, |v| cmds.push(match v {
                Some(t) => set("Next", Some(json!(t)), false),
                None => set("End", Some(json!(true)), false),
            }));
        }
        match kind {
            StateType::Choice => self.choice_ui(ui, name, state, ql, siblings, cmds),
            StateType::Wait => self.wait_ui(ui, name, state, ql, cmds),
            _ => {}
        }
        // Every other field the type and query language allow, by its kind of value.
        egui::CollapsingHeader::new("Input, output and settings").id_salt("inspector-fields").default_open(true).show(ui, |ui| {
            for spec in fields::fields_for(kind, ql) {
                if SPECIAL.contains(&spec.name) || matches!(spec.name, "Branches" | "ItemProcessor" | "Iterator") {
                    continue;
                }
                let key = format!("{name}\u{1}{}", spec.name);
                let current = state.get(spec.name);
                let change = match spec.ty {
                    FieldType::Bool => {
                        let mut b = current.and_then(Value::as_bool).unwrap_or(false);
                        ui.checkbox(&mut b, spec.name).changed().then(|| b.then(|| json!(true)))
                    }
                    FieldType::NonNegInt | FieldType::PosInt | FieldType::Number => self.number_ui(ui, &key, spec.name, current),
                    FieldType::String | FieldType::PathOrNull | FieldType::ResultPath | FieldType::RefPath | FieldType::RefPathOrIntrinsic => {
                        let label = field_label(ui, spec.name);
                        let mut s = match current {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Null) => "null".into(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        let r = ui.add(egui::TextEdit::singleline(&mut s).desired_width(f32::INFINITY).hint_text(hint(spec.ty)).id_salt(&key)).labelled_by(label);
                        r.changed().then(|| match s.as_str() {
                            "" => None,
                            // A null path discards (InputPath/OutputPath) or drops (ResultPath) the value.
                            "null" if spec.ty != FieldType::String => Some(Value::Null),
                            _ => Some(json!(s)),
                        })
                    }
                    _ => self.json_ui(ui, &key, spec.name, current),
                };
                if let Some(v) = change {
                    cmds.push(set(spec.name, v, true));
                }
            }
        });
        if kind.has_retry_catch() {
            self.retry_ui(ui, name, state, cmds);
            self.catch_ui(ui, name, state, siblings, cmds);
        }
    }

    fn resource_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, ql: QueryLanguage, cmds: &mut Vec<Command>) {
        let label = field_label(ui, "Resource");
        let current = state.get("Resource").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut s = current.clone();
        if ui.add(egui::TextEdit::singleline(&mut s).desired_width(f32::INFINITY).id_salt("inspector-resource")).labelled_by(label).changed() {
            cmds.push(Command::SetField { state: name.into(), field: "Resource".into(), value: Some(json!(s)), coalesce: true });
        }
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Helpers:").weak());
            for t in Template::ALL {
                if ui.small_button(t.label()).on_hover_text("Replace the resource and its parameters with this integration's").clicked() {
                    let fresh = t.state(ql);
                    if let Some(obj) = fresh.as_object() {
                        for (k, v) in obj {
                            if k != "Type" {
                                cmds.push(Command::SetField { state: name.into(), field: k.clone(), value: Some(v.clone()), coalesce: false });
                            }
                        }
                    }
                }
            }
        });
        // An activity's name is the last part of its ARN; edit just that.
        if let Some((prefix, activity)) = current.rsplit_once(":activity:") {
            ui.horizontal(|ui| {
                ui.label("Activity name");
                let mut a = activity.to_string();
                if ui.add(egui::TextEdit::singleline(&mut a).id_salt("inspector-activity")).changed() {
                    cmds.push(Command::SetField { state: name.into(), field: "Resource".into(), value: Some(json!(format!("{prefix}:activity:{a}"))), coalesce: true });
                }
            });
        }
    }

    fn choice_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, ql: QueryLanguage, siblings: &[String], cmds: &mut Vec<Command>) {
        ui.separator();
        ui.strong("Rules");
        let rules: Vec<Value> = state.get("Choices").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut new_rules = rules.clone();
        let mut changed = false;
        let mut remove = None;
        for (i, rule) in rules.iter().enumerate() {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(format!("Rule {}", i + 1));
                    if ui.small_button("Remove").clicked() {
                        remove = Some(i);
                    }
                });
                let obj = rule.as_object().cloned().unwrap_or_default();
                let simple = simple_comparison(&obj);
                if ql == QueryLanguage::Jsonata || obj.contains_key("Condition") {
                    ui.label("Condition");
                    let mut c = obj.get("Condition").and_then(Value::as_str).unwrap_or("{% true %}").to_string();
                    if ui.add(egui::TextEdit::singleline(&mut c).desired_width(f32::INFINITY).id_salt(format!("rule-cond-{i}"))).changed() {
                        new_rules[i]["Condition"] = json!(c);
                        changed = true;
                    }
                } else if let Some((op, value)) = simple {
                    let mut var = obj.get("Variable").and_then(Value::as_str).unwrap_or("$").to_string();
                    ui.horizontal(|ui| {
                        if ui.add(egui::TextEdit::singleline(&mut var).desired_width(110.0).id_salt(format!("rule-var-{i}"))).changed() {
                            new_rules[i]["Variable"] = json!(var);
                            changed = true;
                        }
                        let mut chosen = op.clone();
                        egui::ComboBox::from_id_salt(format!("rule-op-{i}")).selected_text(&chosen).width(150.0).show_ui(ui, |ui| {
                            for (c, _) in fields::COMPARISONS {
                                ui.selectable_value(&mut chosen, c.to_string(), *c);
                            }
                        });
                        if chosen != op {
                            if let Some(o) = new_rules[i].as_object_mut() {
                                let v = o.shift_remove(&op).unwrap_or(Value::Null);
                                o.insert(chosen.clone(), default_operand(&chosen, v));
                            }
                            changed = true;
                        }
                    });
                    let key = format!("{name}\u{1}rule{i}");
                    if let Some(Some(v)) = self.json_ui(ui, &key, "Value", Some(&value)) {
                        new_rules[i][&op] = v;
                        changed = true;
                    }
                } else {
                    let key = format!("{name}\u{1}rulejson{i}");
                    let mut without_next = obj.clone();
                    without_next.shift_remove("Next");
                    if let Some(Some(v)) = self.json_ui(ui, &key, "Condition (And / Or / Not)", Some(&Value::Object(without_next)))
                        && let Value::Object(mut m) = v {
                            if let Some(n) = obj.get("Next") {
                                m.insert("Next".into(), n.clone());
                            }
                            new_rules[i] = Value::Object(m);
                            changed = true;
                        }
                }
                next_ui(ui, &format!("Next##{i}"), rule, siblings, false, |t| {
                    if let Some(t) = t {
                        new_rules[i]["Next"] = json!(t);
                        changed = true;
                    }
                });
            });
        }
        if let Some(i) = remove {
            new_rules.remove(i);
            changed = true;
        }
        if ui.button("Add rule").clicked() {
            let target = siblings.first().cloned().unwrap_or_default();
            new_rules.push(match ql {
                QueryLanguage::Jsonata => json!({"Condition": "{% true %}", "Next": target}),
                QueryLanguage::JsonPath => json!({"Variable": "$.value", "NumericGreaterThan": 0, "Next": target}),
            });
            changed = true;
        }
        if changed {
            cmds.push(Command::SetField { state: name.into(), field: "Choices".into(), value: Some(Value::Array(new_rules)), coalesce: true });
        }
        next_ui(ui, "Default", &json!({"Next": state.get("Default")}), siblings, false, |t| {
            if let Some(t) = t {
                cmds.push(Command::SetField { state: name.into(), field: "Default".into(), value: Some(json!(t)), coalesce: false });
            }
        });
        if state.get("Default").is_some() && ui.small_button("Remove Default").clicked() {
            cmds.push(Command::SetField { state: name.into(), field: "Default".into(), value: None, coalesce: false });
        }
    }

    fn wait_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, ql: QueryLanguage, cmds: &mut Vec<Command>) {
        ui.separator();
        ui.strong("Wait for");
        let options: &[&str] = if ql == QueryLanguage::Jsonata { &["Seconds", "Timestamp"] } else { &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"] };
        let current = options.iter().find(|o| state.get(**o).is_some()).copied().unwrap_or("Seconds");
        ui.horizontal_wrapped(|ui| {
            for o in options {
                if ui.selectable_label(*o == current, *o).clicked() && *o != current {
                    cmds.push(Command::SetField { state: name.into(), field: current.into(), value: None, coalesce: false });
                    let v = match *o {
                        "Seconds" => json!(10),
                        "Timestamp" => json!("2030-01-01T00:00:00Z"),
                        _ => json!("$.wait"),
                    };
                    cmds.push(Command::SetField { state: name.into(), field: (*o).into(), value: Some(v), coalesce: false });
                }
            }
        });
        let key = format!("{name}\u{1}{current}");
        let v = state.get(current);
        let change = if current == "Seconds" && v.is_none_or(Value::is_number) { self.number_ui(ui, &key, current, v) } else { self.json_ui(ui, &key, current, v) };
        if let Some(v) = change {
            cmds.push(Command::SetField { state: name.into(), field: current.into(), value: v, coalesce: true });
        }
    }

    fn retry_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, cmds: &mut Vec<Command>) {
        let fresh = json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2});
        self.list_ui(ui, name, state, "Retry", "retrier", fresh, cmds, |this, ui, i, r, new| {
            let mut changed = errors_ui(ui, &format!("retry-err-{i}"), r, new);
            for f in ["IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds"] {
                let key = format!("{name}\u{1}retry{i}{f}");
                if let Some(v) = this.number_ui(ui, &key, f, r.get(f)) {
                    set_in(new, f, v);
                    changed = true;
                }
            }
            let mut full = r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL");
            if ui.checkbox(&mut full, "Full jitter").changed() {
                set_in(new, "JitterStrategy", full.then(|| json!("FULL")));
                changed = true;
            }
            changed
        });
    }

    fn catch_ui(&mut self, ui: &mut egui::Ui, name: &str, state: &Value, siblings: &[String], cmds: &mut Vec<Command>) {
        let fresh = json!({"ErrorEquals": ["States.ALL"], "Next": siblings.first().cloned().unwrap_or_default()});
        self.list_ui(ui, name, state, "Catch", "catcher", fresh, cmds, |_, ui, i, c, new| {
            let mut changed = errors_ui(ui, &format!("catch-err-{i}"), c, new);
            ui.label("ResultPath");
            let mut rp = c.get("ResultPath").and_then(Value::as_str).unwrap_or_default().to_string();
            if ui.add(egui::TextEdit::singleline(&mut rp).hint_text("$.error").id_salt(format!("catch-rp-{i}"))).changed() {
                set_in(new, "ResultPath", (!rp.is_empty()).then(|| json!(rp)));
                changed = true;
            }
            next_ui(ui, &format!("Next##catch{i}"), c, siblings, false, |t| {
                if let Some(t) = t {
                    new["Next"] = json!(t);
                    changed = true;
                }
            });
            changed
        });
    }

    /// An editable list field (Retry, Catch): each entry in a group with a Remove button, an
    /// Add button with `fresh` as the new entry, and one SetField when anything changed (an
    /// emptied list removes the field). `entry_ui` edits one entry and says whether it did.
    #[allow(clippy::too_many_arguments)]
    fn list_ui(
        &mut self,
        ui: &mut egui::Ui,
        name: &str,
        state: &Value,
        field: &str,
        noun: &str,
        fresh: Value,
        cmds: &mut Vec<Command>,
        mut entry_ui: impl FnMut(&mut Self, &mut egui::Ui, usize, &Value, &mut Value) -> bool,
    ) {
        egui::CollapsingHeader::new(field).id_salt(format!("inspector-{field}")).default_open(true).show(ui, |ui| {
            let list: Vec<Value> = state.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
            let mut new = list.clone();
            let mut changed = false;
            for (i, entry) in list.iter().enumerate() {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    changed |= entry_ui(self, ui, i, entry, &mut new[i]);
                    if ui.small_button(format!("Remove {noun}")).clicked() {
                        new.remove(i);
                        changed = true;
                    }
                });
                // Indexes into `new` are stale once an entry is removed.
                if changed {
                    break;
                }
            }
            if ui.button(format!("Add {noun}")).clicked() {
                new.push(fresh);
                changed = true;
            }
            if changed {
                cmds.push(Command::SetField { state: name.into(), field: field.into(), value: (!new.is_empty()).then_some(Value::Array(new)), coalesce: true });
            }
        });
    }

    /// A number field; `Some(None)` clears it, `Some(Some(n))` sets it.
    fn number_ui(&mut self, ui: &mut egui::Ui, key: &str, label: &str, current: Option<&Value>) -> Option<Option<Value>> {
        let from = current.map(Value::to_string).unwrap_or_default();
        let buf = Buffer::synced(&mut self.buffers, key, &from);
        let mut out = None;
        ui.horizontal(|ui| {
            ui.label(label);
            if ui.add(egui::TextEdit::singleline(&mut buf.text).desired_width(80.0).id_salt(key)).changed() {
                let number = |t: &str| match serde_json::from_str::<Value>(t) {
                    Ok(v @ Value::Number(_)) => Ok(v),
                    _ => Err("not a number".to_owned()),
                };
                out = buf.parsed(number, Value::to_string);
            }
            if let Some(e) = &buf.error {
                ui.colored_label(Palette::of(ui.ctx()).error, e);
            }
        });
        out
    }

    /// A JSON editor; its value reaches the document only when it parses.
    fn json_ui(&mut self, ui: &mut egui::Ui, key: &str, label: &str, current: Option<&Value>) -> Option<Option<Value>> {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        let from = current.map(pretty).unwrap_or_default();
        let buf = Buffer::synced(&mut self.buffers, key, &from);
        let label_id = field_label(ui, label);
        let rows = buf.text.lines().count().clamp(1, 12);
        let resp = ui.add(egui::TextEdit::multiline(&mut buf.text).code_editor().desired_rows(rows).desired_width(f32::INFINITY).id_salt(key)).labelled_by(label_id);
        let mut out = None;
        if resp.changed() {
            out = buf.parsed(|t| serde_json::from_str::<Value>(t).map_err(|e| format!("JSON: {e}")), pretty);
        }
        if let Some(e) = &buf.error {
            ui.colored_label(Palette::of(ui.ctx()).error, e);
        }
        out
    }
}

/// A field's caption; its id labels the field's widget, so screen readers (and UI tests) find
/// the field by its name.
fn field_label(ui: &mut egui::Ui, name: &str) -> egui::Id {
    ui.add_space(4.0);
    ui.label(RichText::new(name).small().strong()).id
}

fn hint(ty: FieldType) -> &'static str {
    match ty {
        FieldType::PathOrNull | FieldType::RefPath | FieldType::ResultPath | FieldType::RefPathOrIntrinsic => "$.path",
        _ => "",
    }
}

fn set_in(v: &mut Value, field: &str, value: Option<Value>) {
    if let Some(o) = v.as_object_mut() {
        match value {
            Some(x) => {
                o.insert(field.into(), x);
            }
            None => {
                o.shift_remove(field);
            }
        }
    }
}

/// The ErrorEquals of a retrier or catcher as comma-separated names.
fn errors_ui(ui: &mut egui::Ui, id: &str, current: &Value, new: &mut Value) -> bool {
    ui.label("Errors");
    let list: Vec<&str> = current.get("ErrorEquals").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut s = list.join(", ");
    if ui.add(egui::TextEdit::singleline(&mut s).desired_width(f32::INFINITY).hint_text("States.ALL").id_salt(id)).changed() {
        let errors: Vec<Value> = s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(|x| json!(x)).collect();
        new["ErrorEquals"] = Value::Array(errors);
        return true;
    }
    false
}

/// A rule with one comparison on a Variable: its operator and operand.
fn simple_comparison(rule: &Map<String, Value>) -> Option<(String, Value)> {
    if rule.contains_key("And") || rule.contains_key("Or") || rule.contains_key("Not") {
        return None;
    }
    rule.iter().find(|(k, _)| fields::comparison(k).is_some()).map(|(k, v)| (k.clone(), v.clone()))
}

/// A sensible operand when the operator changes: keep the old one when its kind still fits.
fn default_operand(op: &str, old: Value) -> Value {
    match fields::comparison(op) {
        Some(FieldType::Number) if old.is_number() => old,
        Some(FieldType::Number) => json!(0),
        Some(FieldType::Bool) if old.is_boolean() => old,
        Some(FieldType::Bool) => json!(true),
        Some(FieldType::RefPath) => json!("$.other"),
        _ if old.is_string() => old,
        _ => json!(""),
    }
}

/// A combo of the states a transition may lead to (same scope); with `allow_end`, "End" too.
fn next_ui(ui: &mut egui::Ui, label: &str, holder: &Value, siblings: &[String], allow_end: bool, mut on_change: impl FnMut(Option<String>)) {
    let current = holder.get("Next").and_then(Value::as_str).map(str::to_string);
    let ends = holder.get("End").and_then(Value::as_bool) == Some(true);
    let shown = match (&current, ends) {
        (Some(n), _) => n.clone(),
        (None, true) => "End".into(),
        _ => "(none)".into(),
    };
    let (text, salt) = label.split_once("##").map_or((label, label), |(t, s)| (t, s));
    ui.horizontal(|ui| {
        ui.label(text);
        egui::ComboBox::from_id_salt(format!("next-{salt}")).selected_text(shown).width(170.0).show_ui(ui, |ui| {
            if allow_end && ui.selectable_label(ends, "End").clicked() && !ends {
                on_change(None);
            }
            for s in siblings {
                if ui.selectable_label(current.as_deref() == Some(s), s).clicked() && current.as_deref() != Some(s) {
                    on_change(Some(s.clone()));
                }
            }
        });
    });
}
