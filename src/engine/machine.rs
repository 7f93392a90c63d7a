//! A definition compiled for running: states in arrays, transitions resolved to indexes.
//!
//! The interpreter runs millions of transitions a second, so nothing on its hot path looks a
//! state up by name or re-reads which fields a state has. Fields that hold data (Parameters,
//! Output, Assign…) stay as JSON values and are evaluated when the state runs.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::asl::model::{QueryLanguage, StateType};

pub type ScopeId = usize;
pub type StateId = usize;

/// One `{StartAt, States}` object: the top level, a Parallel branch or a Map processor.
#[derive(Debug)]
pub struct ScopeDef {
    pub start: StateId,
    pub states: Vec<StateDef>,
}

#[derive(Debug)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: StateId,
    /// The whole catcher, for ResultPath / Output / Assign.
    pub fields: Map<String, Value>,
}

#[derive(Debug)]
pub struct ChoiceRule {
    pub rule: Value,
    pub next: StateId,
}

#[derive(Debug)]
pub struct StateDef {
    pub name: Arc<str>,
    pub kind: StateType,
    pub query_language: QueryLanguage,
    /// The state's object as written.
    pub fields: Map<String, Value>,
    pub next: Option<StateId>,
    /// Branches (Parallel) or the processor (Map).
    pub children: Vec<ScopeId>,
    pub choices: Vec<ChoiceRule>,
    pub default: Option<StateId>,
    pub retriers: Vec<Retrier>,
    pub catchers: Vec<Catcher>,
    /// A Task's `Resource`, shared by every task the state schedules.
    pub resource: Option<Arc<str>>,
    /// True when some field may read the context object, so the interpreter builds it.
    pub reads_context: bool,
    /// True when the state only passes its input on (a Pass with no fields that change data).
    pub plain_pass: bool,
}

impl StateDef {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    pub fn is_jsonata(&self) -> bool {
        self.query_language == QueryLanguage::Jsonata
    }
}

#[derive(Debug)]
pub struct Machine {
    pub scopes: Vec<ScopeDef>,
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
}

pub const ROOT_SCOPE: ScopeId = 0;

impl Machine {
    /// Compiles a definition. It should have passed the validator; what cannot be run is
    /// refused with a message naming the state.
    pub fn compile(definition: &Value) -> Result<Machine, String> {
        let top_ql = definition
            .get("QueryLanguage")
            .and_then(Value::as_str)
            .and_then(QueryLanguage::from_name)
            .unwrap_or_default();
        let mut machine = Machine {
            scopes: Vec::new(),
            timeout_seconds: definition.get("TimeoutSeconds").and_then(Value::as_u64),
            query_language: top_ql,
        };
        machine.compile_scope(definition, top_ql)?;
        Ok(machine)
    }

    pub fn state(&self, scope: ScopeId, state: StateId) -> &StateDef {
        &self.scopes[scope].states[state]
    }

    fn compile_scope(&mut self, scope: &Value, ql: QueryLanguage) -> Result<ScopeId, String> {
        let id = self.scopes.len();
        self.scopes.push(ScopeDef {
            start: 0,
            states: Vec::new(),
        });
        let states = scope
            .get("States")
            .and_then(Value::as_object)
            .ok_or("a scope has no States object")?;
        let index: FxHashMap<&str, StateId> =
            states.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        let find = |name: &Value, what: &str, state: &str| -> Result<StateId, String> {
            name.as_str()
                .and_then(|n| index.get(n).copied())
                .ok_or_else(|| format!("state '{state}': {what} names a state that does not exist: {name}"))
        };
        let start = scope
            .get("StartAt")
            .ok_or("a scope has no StartAt")
            .and_then(|s| find(s, "StartAt", "(scope)").map_err(|_| "StartAt names a state that does not exist"))?;
        let mut compiled = Vec::with_capacity(states.len());
        for (name, state) in states {
            let fields = state
                .as_object()
                .ok_or_else(|| format!("state '{name}' is not an object"))?
                .clone();
            let kind = fields
                .get("Type")
                .and_then(Value::as_str)
                .and_then(StateType::from_name)
                .ok_or_else(|| format!("state '{name}' has no valid Type"))?;
            let state_ql = QueryLanguage::of(state, ql);
            let next = match fields.get("Next") {
                Some(n) => Some(find(n, "Next", name)?),
                None => None,
            };
            let mut children = Vec::new();
            match kind {
                StateType::Parallel => {
                    for branch in fields.get("Branches").and_then(Value::as_array).into_iter().flatten() {
                        children.push(self.compile_scope(branch, state_ql)?);
                    }
                }
                StateType::Map => {
                    let processor = fields
                        .get("ItemProcessor")
                        .or_else(|| fields.get("Iterator"))
                        .ok_or_else(|| format!("Map state '{name}' has no ItemProcessor"))?;
                    children.push(self.compile_scope(processor, state_ql)?);
                }
                _ => {}
            }
            let mut choices = Vec::new();
            for rule in fields.get("Choices").and_then(Value::as_array).into_iter().flatten() {
                let next = find(rule.get("Next").unwrap_or(&Value::Null), "a Choice rule's Next", name)?;
                choices.push(ChoiceRule {
                    rule: rule.clone(),
                    next,
                });
            }
            let default = match fields.get("Default") {
                Some(d) => Some(find(d, "Default", name)?),
                None => None,
            };
            let mut retriers = Vec::new();
            for r in fields.get("Retry").and_then(Value::as_array).into_iter().flatten() {
                retriers.push(Retrier {
                    errors: error_list(r),
                    interval_seconds: r.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0),
                    max_attempts: r.get("MaxAttempts").and_then(Value::as_u64).map_or(3, |n| n.min(u32::MAX as u64) as u32),
                    backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
                    max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
                    full_jitter: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
                });
            }
            let mut catchers = Vec::new();
            for c in fields.get("Catch").and_then(Value::as_array).into_iter().flatten() {
                let next = find(c.get("Next").unwrap_or(&Value::Null), "a Catch's Next", name)?;
                catchers.push(Catcher {
                    errors: error_list(c),
                    next,
                    fields: c.as_object().cloned().unwrap_or_default(),
                });
            }
            let reads_context = mentions_context(state);
            let plain_pass = kind == StateType::Pass
                && !["InputPath", "Parameters", "Result", "ResultPath", "OutputPath", "Output", "Assign"]
                    .iter()
                    .any(|f| fields.contains_key(*f));
            let resource = fields.get("Resource").and_then(Value::as_str).map(Arc::from);
            compiled.push(StateDef {
                resource,
                name: Arc::from(name.as_str()),
                kind,
                query_language: state_ql,
                fields,
                next,
                children,
                choices,
                default,
                retriers,
                catchers,
                reads_context,
                plain_pass,
            });
        }
        self.scopes[id] = ScopeDef {
            start,
            states: compiled,
        };
        Ok(id)
    }
}

fn error_list(v: &Value) -> Vec<String> {
    v.get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether any string in the state (outside its child scopes) could read the context object.
/// JSONata states read it through `$states.context`; JSONPath ones through `$$`.
fn mentions_context(state: &Value) -> bool {
    fn walk(v: &Value, top: bool) -> bool {
        match v {
            Value::String(s) => s.contains("$$") || s.contains("$states"),
            Value::Array(a) => a.iter().any(|x| walk(x, false)),
            Value::Object(m) => m.iter().any(|(k, x)| {
                if top && matches!(k.as_str(), "Branches" | "ItemProcessor" | "Iterator") {
                    return false;
                }
                k.contains("$$") || walk(x, false)
            }),
            _ => false,
        }
    }
    walk(state, true)
}
