//! Editing operations on the ASL tree, as the designer needs them.
//!
//! Each operation either applies completely or refuses with an [`EditError`] that says why, and
//! each keeps a valid document valid: transitions into a deleted state are re-pointed to its
//! successor or cleared, renames follow every reference in the scope, and connections are only
//! made inside one scope. The model decides what is legal; the UI only asks.

use serde_json::{Map, Value, json};
use thiserror::Error;

use super::model::{self, QueryLanguage, StateType, TransitionKind};

/// AWS limits state names to 80 characters.
pub const MAX_STATE_NAME_CHARS: usize = 80;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EditError {
    #[error("There is no state named \"{0}\".")]
    NoSuchState(String),
    #[error("A state named \"{0}\" already exists; state names must be unique in the whole state machine.")]
    NameTaken(String),
    #[error("\"{0}\" is not a usable state name: names are 1 to 80 characters.")]
    BadName(String),
    #[error("There is no Parallel branch or Map processor at {0}.")]
    NoSuchScope(String),
    #[error("\"{from}\" and \"{to}\" are in different scopes; a transition cannot leave its Parallel branch or Map processor.")]
    CrossScope { from: String, to: String },
    #[error("A {0} state ends its branch; it cannot have a transition.")]
    TerminalState(&'static str),
    #[error("{0}")]
    Refused(String),
}

/// What a new connection should be.
#[derive(Clone, Debug, PartialEq)]
pub enum Connect {
    /// `Next` for most states; a new rule for a Choice (a placeholder condition to be edited).
    Next,
    /// A Choice's `Default`.
    Default,
    /// A catcher for these errors (`["States.ALL"]` when empty).
    Catch(Vec<String>),
}

fn states_mut<'a>(root: &'a mut Value, scope_pointer: &str) -> Result<&'a mut Map<String, Value>, EditError> {
    root.pointer_mut(scope_pointer)
        .and_then(|s| s.get_mut("States"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| EditError::NoSuchScope(display_pointer(scope_pointer)))
}

fn display_pointer(p: &str) -> String {
    if p.is_empty() { "the top level".into() } else { p.into() }
}

fn locate(root: &Value, name: &str) -> Result<(String, String), EditError> {
    model::find_state(root, name)
        .map(|(scope, ptr, _)| (scope.pointer, ptr))
        .ok_or_else(|| EditError::NoSuchState(name.into()))
}

fn check_new_name(root: &Value, name: &str) -> Result<(), EditError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_STATE_NAME_CHARS {
        return Err(EditError::BadName(name.into()));
    }
    if model::find_state(root, name).is_some() {
        return Err(EditError::NameTaken(name.into()));
    }
    Ok(())
}

/// A fresh state of the given type that is valid on its own once connected (`End: true` where
/// the type needs an ending, a placeholder rule for a Choice).
pub fn new_state(kind: StateType, query_language: QueryLanguage, end_target: Option<&str>) -> Value {
    let ending = |v: &mut Value| {
        if let Some(obj) = v.as_object_mut() {
            match end_target {
                Some(t) => obj.insert("Next".into(), json!(t)),
                None => obj.insert("End".into(), json!(true)),
            };
        }
    };
    let mut v = match kind {
        StateType::Pass => json!({"Type": "Pass"}),
        StateType::Task => json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}),
        StateType::Wait => json!({"Type": "Wait", "Seconds": 5}),
        StateType::Succeed => return json!({"Type": "Succeed"}),
        StateType::Fail => return json!({"Type": "Fail", "Error": "Failed", "Cause": "Describe why"}),
        StateType::Choice => {
            let target = end_target.unwrap_or("");
            let mut c = json!({"Type": "Choice", "Choices": [placeholder_rule(query_language, target)]});
            if end_target.is_none() {
                // A Choice with nowhere to go cannot be valid; callers connect it next.
                c["Choices"] = json!([]);
            }
            return c;
        }
        StateType::Parallel => json!({"Type": "Parallel", "Branches": [
            {"StartAt": "", "States": {}}
        ]}),
        StateType::Map => json!({"Type": "Map", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "", "States": {}
        }}),
    };
    ending(&mut v);
    v
}

fn placeholder_rule(ql: QueryLanguage, target: &str) -> Value {
    match ql {
        QueryLanguage::JsonPath => json!({"Variable": "$", "IsPresent": true, "Next": target}),
        QueryLanguage::Jsonata => json!({"Condition": "{% true %}", "Next": target}),
    }
}

/// Adds `state` under `name` to the scope at `scope_pointer`; it becomes `StartAt` when the
/// scope was empty.
pub fn add_state(root: &mut Value, scope_pointer: &str, name: &str, state: Value) -> Result<(), EditError> {
    check_new_name(root, name)?;
    let states = states_mut(root, scope_pointer)?;
    let was_empty = states.is_empty();
    states.insert(name.into(), state);
    if was_empty
        && let Some(scope) = root.pointer_mut(scope_pointer).and_then(Value::as_object_mut) {
            scope.insert("StartAt".into(), json!(name));
        }
    Ok(())
}

/// The single successor of a state, when it has exactly one plain `Next`.
fn successor(state: &Value) -> Option<String> {
    match model::state_type(state)? {
        StateType::Choice | StateType::Succeed | StateType::Fail => None,
        _ => state.get("Next").and_then(Value::as_str).map(str::to_string),
    }
}

/// Re-points (or, with `None`, clears) every transition in the scope that targets `name`.
fn retarget_in_scope(root: &mut Value, scope_pointer: &str, name: &str, to: Option<&str>) {
    let Ok(states) = states_mut(root, scope_pointer) else { return };
    for state in states.values_mut() {
        let Some(obj) = state.as_object_mut() else { continue };
        if obj.get("Next").and_then(Value::as_str) == Some(name) {
            match to {
                Some(t) => {
                    obj.insert("Next".into(), json!(t));
                }
                None => {
                    obj.shift_remove("Next");
                    obj.insert("End".into(), json!(true));
                }
            }
        }
        if obj.get("Default").and_then(Value::as_str) == Some(name) {
            match to {
                Some(t) => {
                    obj.insert("Default".into(), json!(t));
                }
                None => {
                    obj.shift_remove("Default");
                }
            }
        }
        for list in ["Choices", "Catch"] {
            if let Some(items) = obj.get_mut(list).and_then(Value::as_array_mut) {
                match to {
                    Some(t) => {
                        for it in items.iter_mut() {
                            if it.get("Next").and_then(Value::as_str) == Some(name) {
                                it["Next"] = json!(t);
                            }
                        }
                    }
                    None => items.retain(|it| it.get("Next").and_then(Value::as_str) != Some(name)),
                }
                if list == "Catch" && items.is_empty() {
                    obj.shift_remove("Catch");
                }
            }
        }
    }
    if let Some(scope) = root.pointer_mut(scope_pointer).and_then(Value::as_object_mut)
        && scope.get("StartAt").and_then(Value::as_str) == Some(name) {
            let first = scope.get("States").and_then(Value::as_object).and_then(|s| s.keys().find(|k| *k != name).cloned());
            let new_start = to.map(str::to_string).or(first).unwrap_or_default();
            scope.insert("StartAt".into(), json!(new_start));
        }
}

/// Removes a state (and whatever it contains). Transitions into it go to its successor when it
/// had a single `Next`; otherwise a `Next` becomes `End`, and Choice rules, `Default`s and
/// catchers aimed at it are removed. States that were reached only through the deleted
/// state's own Choice rules or catchers are left in place (the validator reports them as
/// unreachable, so the person decides whether they go too).
pub fn delete_state(root: &mut Value, name: &str) -> Result<Value, EditError> {
    let (scope_pointer, _) = locate(root, name)?;
    let removed = states_mut(root, &scope_pointer)?.shift_remove(name).ok_or_else(|| EditError::NoSuchState(name.into()))?;
    let succ = successor(&removed);
    retarget_in_scope(root, &scope_pointer, name, succ.as_deref());
    Ok(removed)
}

/// Renames a state, keeping its place in `States` and updating every reference to it.
pub fn rename_state(root: &mut Value, old: &str, new: &str) -> Result<(), EditError> {
    if old == new {
        return Ok(());
    }
    let (scope_pointer, _) = locate(root, old)?;
    check_new_name(root, new)?;
    let states = states_mut(root, &scope_pointer)?;
    let renamed: Map<String, Value> =
        std::mem::take(states).into_iter().map(|(k, v)| if k == old { (new.to_string(), v) } else { (k, v) }).collect();
    *states = renamed;
    retarget_in_scope(root, &scope_pointer, old, Some(new));
    Ok(())
}

/// Adds a transition from `from` to `to`. Refused across scopes and from Succeed/Fail.
pub fn connect(root: &mut Value, from: &str, to: &str, how: Connect) -> Result<(), EditError> {
    let (from_scope, from_ptr) = locate(root, from)?;
    let (to_scope, _) = locate(root, to)?;
    if from_scope != to_scope {
        return Err(EditError::CrossScope { from: from.into(), to: to.into() });
    }
    let ql = model::scopes(root).into_iter().find(|s| s.pointer == from_scope).map(|s| s.query_language).unwrap_or_default();
    let state = root.pointer_mut(&from_ptr).ok_or_else(|| EditError::NoSuchState(from.into()))?;
    let kind = model::state_type(state).ok_or_else(|| EditError::Refused(format!("\"{from}\" has no valid Type yet; set its Type first.")))?;
    if kind.is_terminal() {
        return Err(EditError::TerminalState(kind.name()));
    }
    let ql = QueryLanguage::of(state, ql);
    let Some(obj) = state.as_object_mut() else { return Err(EditError::NoSuchState(from.into())) };
    match how {
        Connect::Next if kind == StateType::Choice => {
            let rules = obj.entry("Choices").or_insert_with(|| json!([]));
            match rules.as_array_mut() {
                Some(r) => r.push(placeholder_rule(ql, to)),
                None => *rules = json!([placeholder_rule(ql, to)]),
            }
        }
        Connect::Next => {
            obj.shift_remove("End");
            obj.insert("Next".into(), json!(to));
        }
        Connect::Default => {
            if kind != StateType::Choice {
                return Err(EditError::Refused("Only a Choice state has a Default transition.".into()));
            }
            obj.insert("Default".into(), json!(to));
        }
        Connect::Catch(errors) => {
            if !kind.has_retry_catch() {
                return Err(EditError::Refused(format!("A {} state cannot catch errors; only Task, Parallel and Map can.", kind.name())));
            }
            let errors = if errors.is_empty() { vec!["States.ALL".to_string()] } else { errors };
            let catchers = obj.entry("Catch").or_insert_with(|| json!([]));
            let Some(list) = catchers.as_array_mut() else {
                return Err(EditError::Refused("This state's Catch field is not a list; fix it in the text first.".into()));
            };
            let catches_all = |c: &Value| c.get("ErrorEquals").and_then(Value::as_array).is_some_and(|e| e.iter().any(|x| x == "States.ALL"));
            let has_all = list.iter().any(catches_all);
            if has_all && errors.iter().any(|e| e == "States.ALL") {
                return Err(EditError::Refused("This state already catches States.ALL; edit that catcher instead.".into()));
            }
            let catcher = json!({"ErrorEquals": errors, "Next": to});
            // States.ALL must stay last.
            match list.iter().position(catches_all) {
                Some(i) => list.insert(i, catcher),
                None => list.push(catcher),
            }
        }
    }
    Ok(())
}

/// Removes one transition. A removed `Next` becomes `End: true`, so the state stays valid.
pub fn disconnect(root: &mut Value, from: &str, kind: &TransitionKind) -> Result<(), EditError> {
    let (_, from_ptr) = locate(root, from)?;
    let obj = root.pointer_mut(&from_ptr).and_then(Value::as_object_mut).ok_or_else(|| EditError::NoSuchState(from.into()))?;
    let missing = || EditError::Refused(format!("\"{from}\" has no such transition."));
    match kind {
        TransitionKind::Next => {
            obj.shift_remove("Next").ok_or_else(missing)?;
            obj.insert("End".into(), json!(true));
        }
        TransitionKind::Default => {
            obj.shift_remove("Default").ok_or_else(missing)?;
        }
        TransitionKind::ChoiceRule(i) | TransitionKind::Catch(i) => {
            let field = if matches!(kind, TransitionKind::ChoiceRule(_)) { "Choices" } else { "Catch" };
            let list = obj.get_mut(field).and_then(Value::as_array_mut).ok_or_else(missing)?;
            if *i >= list.len() {
                return Err(missing());
            }
            list.remove(*i);
            if field == "Catch" && list.is_empty() {
                obj.shift_remove("Catch");
            }
        }
    }
    Ok(())
}

/// Moves a state into another scope (into or out of a Parallel branch or Map processor). Its
/// old scope is mended as after a delete; the state's own transitions, which cannot follow it,
/// are cleared (`Next` becomes `End`; Choice rules, `Default` and catchers are dropped).
pub fn move_state(root: &mut Value, name: &str, to_scope_pointer: &str) -> Result<(), EditError> {
    let (from_scope, _) = locate(root, name)?;
    if from_scope == to_scope_pointer {
        return Ok(());
    }
    if to_scope_pointer.starts_with(&model::find_state(root, name).map(|(_, p, _)| p).unwrap_or_default()) {
        return Err(EditError::Refused(format!("\"{name}\" cannot be moved inside itself.")));
    }
    states_mut(root, to_scope_pointer)?;
    let mut state = delete_state(root, name)?;
    if let Some(obj) = state.as_object_mut() {
        if obj.shift_remove("Next").is_some() {
            obj.insert("End".into(), json!(true));
        }
        obj.shift_remove("Default");
        obj.shift_remove("Catch");
        if let Some(rules) = obj.get_mut("Choices").and_then(Value::as_array_mut) {
            rules.clear();
        }
    }
    add_state(root, to_scope_pointer, name, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Value {
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "C"}], "Default": "D"},
            "C": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "D"}], "Next": "D"},
            "D": {"Type": "Parallel", "Branches": [{"StartAt": "E", "States": {"E": {"Type": "Pass", "End": true}}}], "End": true}
        }})
    }

    #[test]
    fn rename_follows_references_and_keeps_order() {
        let mut m = machine();
        rename_state(&mut m, "D", "Done").unwrap();
        assert_eq!(m["States"]["B"]["Default"], "Done");
        assert_eq!(m["States"]["C"]["Catch"][0]["Next"], "Done");
        assert_eq!(m["States"]["C"]["Next"], "Done");
        let keys: Vec<_> = m["States"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["A", "B", "C", "Done"]);
        assert_eq!(rename_state(&mut m, "A", "E"), Err(EditError::NameTaken("E".into())));
    }

    #[test]
    fn delete_repoints_to_successor_or_clears() {
        let mut m = machine();
        delete_state(&mut m, "A").unwrap();
        assert_eq!(m["StartAt"], "B");
        delete_state(&mut m, "D").unwrap();
        assert_eq!(m["States"]["C"]["End"], true);
        assert!(m["States"]["C"].get("Catch").is_none());
        assert!(m["States"]["B"].get("Default").is_none());
    }

    #[test]
    fn connect_refuses_cross_scope_and_terminal() {
        let mut m = machine();
        assert!(matches!(connect(&mut m, "A", "E", Connect::Next), Err(EditError::CrossScope { .. })));
        connect(&mut m, "B", "A", Connect::Next).unwrap();
        assert_eq!(m["States"]["B"]["Choices"][1]["Next"], "A");
        connect(&mut m, "C", "A", Connect::Catch(vec!["Custom".into()])).unwrap();
        assert_eq!(m["States"]["C"]["Catch"][0]["Next"], "A", "inserted before States.ALL");
    }

    #[test]
    fn move_into_branch_and_out() {
        let mut m = machine();
        move_state(&mut m, "C", "/States/D/Branches/0").unwrap();
        assert!(m["States"]["D"]["Branches"][0]["States"]["C"].is_object());
        assert_eq!(m["States"]["B"]["Choices"][0]["Next"], "D", "the rule into C now goes to C's successor");
        assert_eq!(m["States"]["D"]["Branches"][0]["States"]["C"]["End"], true, "C's own transitions are cleared");
        move_state(&mut m, "E", "").unwrap();
        assert_eq!(m["States"]["D"]["Branches"][0]["StartAt"], "C");
        assert!(move_state(&mut m, "D", "/States/D/Branches/0").is_err());
    }
}
