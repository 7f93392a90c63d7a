//! A state's data through its processing steps, rebuilt from what the history recorded (the
//! state's input, the task's result, the exit output) with the engine's own JSONPath steps,
//! so what the monitor shows is what the interpreter computes.
//!
//! The history does not hold everything a step may read: variables, the random values of
//! `States.UUID`, the task token and most of the context object are missing. A step that
//! needs them gives an error or a different value; the recorded output then stands and a note
//! says why. Nothing here fails: every gap is a value or a note.

use serde_json::{Value, json};

use super::{Entry, ExecutionModel, StateStatus, details_of, json_text_value};
use crate::asl::model::{self, QueryLanguage, StateType};
use crate::engine::history::iso_time;
use crate::engine::io_jsonpath as jp;
use crate::engine::{Env, Failure, Random, Vars};

/// One step's value.
#[derive(Debug, Clone, PartialEq)]
pub enum IoStage {
    Value(Value),
    /// The state type has no such step (a Choice has no ResultPath).
    NotApplicable,
    /// The state has not got that far yet.
    NotYet,
    /// The step failed, or cannot be rebuilt from the history; the text says which.
    Error(String),
}

impl IoStage {
    pub fn value(&self) -> Option<&Value> {
        match self {
            IoStage::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// The steps of a JSONPath state: InputPath → Parameters → (task) → ResultSelector →
/// ResultPath → OutputPath. For a state that exited through a Catch, `result` is the error
/// output and `after_result_path` the catcher's ResultPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPathSteps {
    pub entry: usize,
    pub input: IoStage,
    pub after_input_path: IoStage,
    pub after_parameters: IoStage,
    /// The task's result, a Pass's `Result`, or a Map's or Parallel's array of results.
    pub result: IoStage,
    pub after_result_selector: IoStage,
    pub after_result_path: IoStage,
    /// What the state passed on: the recorded output once it exited.
    pub after_output_path: IoStage,
    pub notes: Vec<String>,
}

/// The steps of a JSONata state. Expressions are not evaluated again: the arguments are the
/// ones recorded when the task was scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonataSteps {
    pub entry: usize,
    pub input: IoStage,
    pub after_arguments: IoStage,
    pub result: IoStage,
    pub output: IoStage,
    pub notes: Vec<String>,
}

/// Built once when a state is selected, never held in bulk: the size difference between the
/// variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IoSteps {
    JsonPath(JsonPathSteps),
    Jsonata(JsonataSteps),
}

impl IoSteps {
    pub fn notes(&self) -> &[String] {
        match self {
            IoSteps::JsonPath(s) => &s.notes,
            IoSteps::Jsonata(s) => &s.notes,
        }
    }

    /// The value the state passed on (or would pass on).
    pub fn output(&self) -> &IoStage {
        match self {
            IoSteps::JsonPath(s) => &s.after_output_path,
            IoSteps::Jsonata(s) => &s.output,
        }
    }
}

/// What the history recorded for one entry.
struct Recorded {
    input: Option<Value>,
    output: Option<Value>,
    task_result: Option<Value>,
    task_payload: Option<Value>,
}

fn recorded(model: &ExecutionModel, e: &Entry) -> Recorded {
    let detail = |index: u32, key: &str| -> Option<Value> {
        let event = model.event(index)?;
        let obj = event.as_object()?;
        let event_type = obj.get("type").and_then(Value::as_str).unwrap_or("");
        details_of(obj, event_type)?.get(key).map(json_text_value)
    };
    Recorded {
        input: detail(e.entered_event, "input"),
        output: detail(e.exit_event, "output"),
        task_result: detail(e.result_event, "output"),
        task_payload: detail(e.scheduled_event, "parameters").or_else(|| detail(e.scheduled_event, "input")),
    }
}

fn failure_text(f: &Failure) -> String {
    if f.cause.is_empty() { f.error.clone() } else { format!("{}: {}", f.error, f.cause) }
}

fn stage(r: Result<Value, Failure>) -> IoStage {
    match r {
        Ok(v) => IoStage::Value(v),
        Err(f) => IoStage::Error(failure_text(&f)),
    }
}

/// A step that needs a value the entry never produced.
fn missing(e: &Entry) -> IoStage {
    if e.view.status.is_active() {
        return IoStage::NotYet;
    }
    match &e.view.last_error {
        Some((error, cause)) => IoStage::Error(failure_text(&Failure::new(error.clone(), cause.clone()))),
        None => IoStage::Error("the state ended before this step".into()),
    }
}

/// Applies `f` to the previous step's value; a previous gap carries over.
fn then(previous: &IoStage, f: impl FnOnce(&Value) -> IoStage) -> IoStage {
    match previous {
        IoStage::Value(v) => f(v),
        IoStage::NotApplicable => IoStage::NotApplicable,
        other => other.clone(),
    }
}

pub(super) fn steps(model: &ExecutionModel, definition: &Value, entry: usize) -> Option<IoSteps> {
    let e = model.entries.get(entry)?;
    let name = &*model.states.get(e.state as usize)?.name;
    let rec = recorded(model, e);
    let Some((scope, _, state)) = model::find_state(definition, name) else {
        return Some(IoSteps::JsonPath(JsonPathSteps {
            entry,
            input: rec.input.map_or(IoStage::NotYet, IoStage::Value),
            after_input_path: IoStage::NotApplicable,
            after_parameters: IoStage::NotApplicable,
            result: IoStage::NotApplicable,
            after_result_selector: IoStage::NotApplicable,
            after_result_path: IoStage::NotApplicable,
            after_output_path: rec.output.map_or_else(|| missing(e), IoStage::Value),
            notes: vec![format!("The definition has no state '{name}': only the recorded input and output are shown.")],
        }));
    };
    let kind = model::state_type(state);
    if QueryLanguage::of(state, scope.query_language) == QueryLanguage::Jsonata {
        return Some(IoSteps::Jsonata(jsonata_steps(model, e, entry, kind, rec)));
    }
    Some(IoSteps::JsonPath(jsonpath_steps(model, e, entry, name, state, kind, rec)))
}

fn jsonata_steps(model: &ExecutionModel, e: &Entry, entry: usize, kind: Option<StateType>, rec: Recorded) -> JsonataSteps {
    let mut notes = Vec::new();
    let input = rec.input.map_or_else(|| IoStage::Error("the state's input is not in the history".into()), IoStage::Value);
    let (after_arguments, result) = match kind {
        Some(StateType::Task) => (
            rec.task_payload.map_or_else(|| missing(e), IoStage::Value),
            rec.task_result.map_or_else(|| missing(e), IoStage::Value),
        ),
        Some(StateType::Map | StateType::Parallel) => {
            notes.push("The arguments of a Map or Parallel are not in the history.".into());
            (IoStage::NotApplicable, children_result(model, e, &mut notes))
        }
        _ => (IoStage::NotApplicable, IoStage::NotApplicable),
    };
    let output = match kind {
        Some(StateType::Fail) => IoStage::NotApplicable,
        _ => rec.output.map_or_else(|| missing(e), IoStage::Value),
    };
    JsonataSteps { entry, input, after_arguments, result, output, notes }
}

#[allow(clippy::too_many_arguments)]
fn jsonpath_steps(
    model: &ExecutionModel,
    e: &Entry,
    entry: usize,
    name: &str,
    state: &Value,
    kind: Option<StateType>,
    rec: Recorded,
) -> JsonPathSteps {
    let mut notes = Vec::new();
    let field = |k: &str| state.get(k);
    let context = json!({
        "Execution": {
            "Input": model.input.clone().unwrap_or(Value::Null),
            "StartTime": iso_time(model.started_at.unwrap_or(0)),
        },
        "State": {
            "Name": name,
            "EnteredTime": iso_time(e.view.entered_at.unwrap_or(0)),
            "RetryCount": e.view.attempts.saturating_sub(1),
        },
    });
    let vars = Vars::new();
    let random = Random::new(0);

    let input = match &rec.input {
        Some(v) => IoStage::Value(v.clone()),
        None => IoStage::Error("the state's input is not in the history".into()),
    };
    let raw_input = rec.input.clone().unwrap_or(Value::Null);
    let after_input_path = match kind {
        Some(StateType::Fail) | None => IoStage::NotApplicable,
        Some(_) => then(&input, |i| stage(jp::apply_input_path(i, field("InputPath"), &env_of(i, &context, &vars, &random)))),
    };
    let after_parameters = match kind {
        Some(StateType::Pass | StateType::Parallel) => then(&after_input_path, |v| match field("Parameters") {
            Some(p) => stage(jp::apply_template(p, &env_of(v, &context, &vars, &random))),
            None => IoStage::Value(v.clone()),
        }),
        Some(StateType::Task) => {
            let computed = then(&after_input_path, |v| match field("Parameters") {
                Some(p) => stage(jp::apply_template(p, &env_of(v, &context, &vars, &random))),
                None => IoStage::Value(v.clone()),
            });
            match (&computed, rec.task_payload) {
                (IoStage::Value(c), Some(r)) if *c != r => {
                    notes.push("The parameters computed again differ from the ones the task was sent; the recorded ones are shown.".into());
                    IoStage::Value(r)
                }
                (IoStage::Error(text), Some(r)) => {
                    notes.push(format!("The parameters cannot be computed again ({text}); the recorded ones are shown."));
                    IoStage::Value(r)
                }
                _ => computed,
            }
        }
        _ => IoStage::NotApplicable,
    };

    let caught = e.view.status == StateStatus::Caught;
    let catcher = if caught { matching_catcher(state, e) } else { None };
    let (result, after_result_selector, after_result_path) = if caught {
        let error_output = e.view.last_error.as_ref().map(|(error, cause)| json!({"Error": error, "Cause": cause}));
        match (error_output, catcher) {
            (Some(error_output), Some(c)) => {
                let path = stage(jp::apply_result_path(&raw_input, error_output.clone(), c.get("ResultPath")));
                (IoStage::Value(error_output), IoStage::NotApplicable, path)
            }
            _ => {
                notes.push("The state exited through a Catch, but the error it caught is not in the history.".into());
                (IoStage::Error("not in the history".into()), IoStage::NotApplicable, IoStage::NotApplicable)
            }
        }
    } else {
        let result = match kind {
            Some(StateType::Pass) => match field("Result") {
                Some(r) => IoStage::Value(r.clone()),
                None => after_parameters.clone(),
            },
            Some(StateType::Task) => rec.task_result.clone().map_or_else(|| missing(e), IoStage::Value),
            Some(StateType::Map | StateType::Parallel) => children_result(model, e, &mut notes),
            _ => IoStage::NotApplicable,
        };
        let selected = match kind {
            Some(StateType::Task | StateType::Map | StateType::Parallel) => then(&result, |r| match field("ResultSelector") {
                Some(s) => stage(jp::apply_template(s, &env_of(r, &context, &vars, &random))),
                None => IoStage::Value(r.clone()),
            }),
            _ => IoStage::NotApplicable,
        };
        // A Pass has no ResultSelector: its ResultPath takes the result itself.
        let to_place = if kind == Some(StateType::Pass) { &result } else { &selected };
        let placed = then(to_place, |v| stage(jp::apply_result_path(&raw_input, v.clone(), field("ResultPath"))));
        (result, selected, placed)
    };

    let after_output_path = if caught {
        after_result_path.clone()
    } else {
        match kind {
            Some(StateType::Pass | StateType::Task | StateType::Map | StateType::Parallel) => {
                then(&after_result_path, |v| stage(jp::apply_output_path(v.clone(), field("OutputPath"), &env_of(v, &context, &vars, &random))))
            }
            Some(StateType::Choice | StateType::Wait | StateType::Succeed) => {
                then(&after_input_path, |v| stage(jp::apply_output_path(v.clone(), field("OutputPath"), &env_of(v, &context, &vars, &random))))
            }
            _ => IoStage::NotApplicable,
        }
    };
    let after_output_path = match (after_output_path, rec.output) {
        (IoStage::Value(c), Some(r)) if c != r => {
            notes.push(
                "The output computed again differs from the recorded one (the history holds no variables, random values or full context object); the recorded output is shown."
                    .into(),
            );
            IoStage::Value(r)
        }
        (IoStage::Value(c), _) => IoStage::Value(c),
        (other, Some(r)) => {
            if let IoStage::Error(text) = &other {
                notes.push(format!("The output cannot be computed again ({text}); the recorded output is shown."));
            }
            IoStage::Value(r)
        }
        (other, None) => match (&other, e.view.status.is_active()) {
            // Computed ahead of the state's exit (a task whose result is being processed).
            (IoStage::Value(_), _) | (_, true) => other,
            _ if kind == Some(StateType::Fail) => IoStage::NotApplicable,
            _ => missing(e),
        },
    };
    JsonPathSteps { entry, input, after_input_path, after_parameters, result, after_result_selector, after_result_path, after_output_path, notes }
}

fn env_of<'a>(input: &'a Value, context: &'a Value, vars: &'a Vars, random: &'a Random) -> Env<'a> {
    Env { input, context, vars, random }
}

/// The first Catch whose `ErrorEquals` covers the caught error (AWS's matching: `States.ALL`
/// covers everything, `States.TaskFailed` everything but timeouts).
fn matching_catcher<'a>(state: &'a Value, e: &Entry) -> Option<&'a Value> {
    let (error, _) = e.view.last_error.as_ref()?;
    state.get("Catch")?.as_array()?.iter().find(|c| {
        c.get("ErrorEquals").and_then(Value::as_array).is_some_and(|list| {
            list.iter().filter_map(Value::as_str).any(|x| {
                x == error || x == "States.ALL" || (x == "States.TaskFailed" && error != "States.Timeout" && error != "States.HeartbeatTimeout")
            })
        })
    })
}

/// A Map's or Parallel's result: each child thread's last output, in item or branch order,
/// from the entry's last attempt.
fn children_result(model: &ExecutionModel, e: &Entry, notes: &mut Vec<String>) -> IoStage {
    let attempt = e.attempts.len() as u32;
    let mut outputs: Vec<(u64, Option<Value>)> = Vec::new();
    for &t in &e.children {
        let Some(thread) = model.threads.get(t as usize) else { continue };
        if thread.parent_attempt != attempt {
            continue;
        }
        let output = model
            .child_succeeded(t)
            .then(|| model.entries.get(thread.current as usize))
            .flatten()
            .and_then(|c| recorded(model, c).output);
        outputs.push((thread.index, output));
    }
    // A redriven Parallel or Map: the children kept from the run it redrives count too.
    for &t in &e.kept_children {
        let Some(thread) = model.threads.get(t as usize) else { continue };
        let output = model.entries.get(thread.current as usize).and_then(|c| recorded(model, c).output);
        outputs.push((thread.index, output));
    }
    outputs.sort_by_key(|(i, _)| *i);
    let expected = e.view.children.and_then(|p| p.total);
    let complete = outputs.iter().enumerate().all(|(n, (i, o))| *i == n as u64 && o.is_some())
        && expected.is_none_or(|t| t == outputs.len() as u64);
    if e.view.status.is_active() && !complete {
        return IoStage::NotYet;
    }
    if !complete {
        notes.push("Some iterations or branches did not succeed; their results are not in the history.".into());
        return missing(e);
    }
    IoStage::Value(Value::Array(outputs.into_iter().filter_map(|(_, o)| o).collect()))
}
