//! Typed reading of the ASL tree: state types, query languages, scopes and transitions.
//!
//! The tree itself stays a `serde_json::Value` so nothing is ever lost; this module gives it
//! names. A *scope* is one `{StartAt, States}` object: the top level, each Parallel branch and
//! each Map processor. Transitions never cross scopes.

use serde_json::{Map, Value};

use super::diagnostic::pointer_push;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateType {
    Task,
    Pass,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

impl StateType {
    pub const ALL: [StateType; 8] = [
        StateType::Task,
        StateType::Pass,
        StateType::Choice,
        StateType::Wait,
        StateType::Succeed,
        StateType::Fail,
        StateType::Parallel,
        StateType::Map,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StateType::Task => "Task",
            StateType::Pass => "Pass",
            StateType::Choice => "Choice",
            StateType::Wait => "Wait",
            StateType::Succeed => "Succeed",
            StateType::Fail => "Fail",
            StateType::Parallel => "Parallel",
            StateType::Map => "Map",
        }
    }

    pub fn from_name(s: &str) -> Option<StateType> {
        StateType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Succeed and Fail end their scope; Choice chooses; the rest need `Next` or `End`.
    pub fn is_terminal(self) -> bool {
        matches!(self, StateType::Succeed | StateType::Fail)
    }

    pub fn needs_next_or_end(self) -> bool {
        !matches!(self, StateType::Succeed | StateType::Fail | StateType::Choice)
    }

    pub fn has_retry_catch(self) -> bool {
        matches!(self, StateType::Task | StateType::Parallel | StateType::Map)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    Jsonata,
}

impl QueryLanguage {
    pub fn from_name(s: &str) -> Option<QueryLanguage> {
        match s {
            "JSONPath" => Some(QueryLanguage::JsonPath),
            "JSONata" => Some(QueryLanguage::Jsonata),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QueryLanguage::JsonPath => "JSONPath",
            QueryLanguage::Jsonata => "JSONata",
        }
    }

    /// A state's own `QueryLanguage` overrides the one it inherits.
    pub fn of(state: &Value, inherited: QueryLanguage) -> QueryLanguage {
        state.get("QueryLanguage").and_then(Value::as_str).and_then(QueryLanguage::from_name).unwrap_or(inherited)
    }
}

/// What kind of arrow leaves a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    Next,
    /// A Choice's `Default`.
    Default,
    /// The n-th rule of a Choice.
    ChoiceRule(usize),
    /// The n-th catcher of a Task, Parallel or Map.
    Catch(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition<'a> {
    pub kind: TransitionKind,
    pub target: &'a str,
}

impl Transition<'_> {
    /// Pointer of the field holding the target name, given the state's own pointer.
    pub fn pointer(&self, state_pointer: &str) -> String {
        match self.kind {
            TransitionKind::Next => pointer_push(state_pointer, "Next"),
            TransitionKind::Default => pointer_push(state_pointer, "Default"),
            TransitionKind::ChoiceRule(i) => format!("{state_pointer}/Choices/{i}/Next"),
            TransitionKind::Catch(i) => format!("{state_pointer}/Catch/{i}/Next"),
        }
    }
}

/// Every transition that leaves `state`, in document order. Targets that are not strings are
/// skipped (the validator reports them).
pub fn transitions(state: &Value) -> Vec<Transition<'_>> {
    let mut out = Vec::new();
    let Some(obj) = state.as_object() else { return out };
    // Only the fields the state's type can have are looked up: this runs for every state on
    // every validation, and each lookup hashes a key.
    let kind = obj.get("Type").and_then(Value::as_str).and_then(StateType::from_name);
    if kind == Some(StateType::Choice) {
        return choice_transitions(obj);
    }
    if let Some(t) = obj.get("Next").and_then(Value::as_str) {
        out.push(Transition { kind: TransitionKind::Next, target: t });
    }
    if kind.is_some_and(|k| !k.has_retry_catch()) {
        return out;
    }
    if let Some(catchers) = obj.get("Catch").and_then(Value::as_array) {
        for (i, c) in catchers.iter().enumerate() {
            if let Some(t) = c.get("Next").and_then(Value::as_str) {
                out.push(Transition { kind: TransitionKind::Catch(i), target: t });
            }
        }
    }
    out
}

fn choice_transitions(obj: &Map<String, Value>) -> Vec<Transition<'_>> {
    let mut out = Vec::new();
    if let Some(rules) = obj.get("Choices").and_then(Value::as_array) {
        for (i, r) in rules.iter().enumerate() {
            if let Some(t) = r.get("Next").and_then(Value::as_str) {
                out.push(Transition { kind: TransitionKind::ChoiceRule(i), target: t });
            }
        }
    }
    if let Some(t) = obj.get("Default").and_then(Value::as_str) {
        out.push(Transition { kind: TransitionKind::Default, target: t });
    }
    out
}

/// One `{StartAt, States}` object.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// Pointer of the object holding `StartAt` and `States` (`""` for the top level).
    pub pointer: String,
    pub value: &'a Value,
    /// Nesting depth: 0 at the top level, 1 inside a top-level Parallel or Map, ...
    pub depth: usize,
    pub query_language: QueryLanguage,
}

impl<'a> Scope<'a> {
    pub fn start_at(&self) -> Option<&'a str> {
        self.value.get("StartAt").and_then(Value::as_str)
    }

    pub fn states(&self) -> Option<&'a Map<String, Value>> {
        self.value.get("States").and_then(Value::as_object)
    }

    pub fn state_pointer(&self, name: &str) -> String {
        pointer_push(&pointer_push(&self.pointer, "States"), name)
    }
}

/// The scopes nested directly in a state: a Parallel's branches, a Map's processor.
pub fn child_scopes<'a>(state: &'a Value, state_pointer: &str) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    match state.get("Type").and_then(Value::as_str).and_then(StateType::from_name) {
        Some(StateType::Parallel) => {
            if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
                for (i, b) in branches.iter().enumerate() {
                    out.push((format!("{state_pointer}/Branches/{i}"), b));
                }
            }
        }
        Some(StateType::Map) => {
            for key in ["ItemProcessor", "Iterator"] {
                if let Some(p) = state.get(key) {
                    out.push((pointer_push(state_pointer, key), p));
                }
            }
        }
        _ => {}
    }
    out
}

/// All scopes of a machine, outermost first, each with the query language its states inherit.
pub fn scopes(root: &Value) -> Vec<Scope<'_>> {
    let top_ql = root.get("QueryLanguage").and_then(Value::as_str).and_then(QueryLanguage::from_name).unwrap_or_default();
    let mut out = vec![Scope { pointer: String::new(), value: root, depth: 0, query_language: top_ql }];
    let mut i = 0;
    while i < out.len() {
        let scope = out[i].clone();
        if let Some(states) = scope.states() {
            for (name, state) in states {
                // Only Parallel and Map states hold scopes; skip the pointer work for the rest.
                if !matches!(state_type(state), Some(StateType::Parallel | StateType::Map)) {
                    continue;
                }
                let sp = scope.state_pointer(name);
                let ql = QueryLanguage::of(state, scope.query_language);
                for (ptr, v) in child_scopes(state, &sp) {
                    if v.is_object() {
                        out.push(Scope { pointer: ptr, value: v, depth: scope.depth + 1, query_language: ql });
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// Where a named state lives: its scope pointer and its own pointer.
pub fn find_state<'a>(root: &'a Value, name: &str) -> Option<(Scope<'a>, String, &'a Value)> {
    scopes(root).into_iter().find_map(|s| {
        let v = s.states()?.get(name)?;
        let p = s.state_pointer(name);
        Some((s, p, v))
    })
}

/// The names of every state in the machine, in document order, including nested ones.
pub fn all_state_names(root: &Value) -> Vec<String> {
    scopes(root).iter().filter_map(|s| s.states()).flat_map(|m| m.keys().cloned()).collect()
}

pub fn state_type(state: &Value) -> Option<StateType> {
    state.get("Type").and_then(Value::as_str).and_then(StateType::from_name)
}
