//! The input and output processing of a JSONPath-mode state:
//! `InputPath` → `Parameters` → (the task) → `ResultSelector` → `ResultPath` → `OutputPath`,
//! payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, Map `Parameters` and
//! JSONPath-mode `Assign`), and the single paths other fields hold (`ItemsPath`,
//! `SecondsPath`, `ErrorPath`, ...).
//!
//! # What `$` means where
//!
//! [`Env::input`] is `$`; the caller sets it to the right value for each step:
//!
//! | step | `$` is |
//! |---|---|
//! | `InputPath` | the state's raw input |
//! | `Parameters`, `ItemSelector` | the input after `InputPath` |
//! | `ResultSelector` | the raw result (task result, Parallel/Map output array) |
//! | `ResultPath` | merges the result into the raw input (no `$` to read) |
//! | `OutputPath` | the value after `ResultPath` |
//!
//! JSONPath-mode `Assign` (recorded in the `assign__*` AWS cases, and as LocalStack, which is
//! validated against AWS, evaluates it): `$` is the value the state was working on when its
//! result was ready, before `ResultPath`:
//!
//! * `Pass`: its result — `Result` if present, else the input after `InputPath` and
//!   `Parameters` (`"Parameters": {"input": "PENDING"}, "Assign": {"r.$": "$.input"}` assigns
//!   `"PENDING"`; `"Result": {"answer": 42}, "Assign": {"a.$": "$.answer"}` assigns 42).
//! * `Task`, `Parallel`, `Map`: the result after `ResultSelector` (a Lambda task's
//!   `"Assign": {"result.$": "$.Payload"}` reads the invoke result).
//! * `Choice` (top-level `Assign` and a rule's `Assign`) and `Wait`: the input after
//!   `InputPath` (`"guess.$": "$.input_value"` reads the state input).
//! * A `Catch`er's `Assign`: the error output `{"Error": ..., "Cause": ...}`.
//!
//! Every path in `Assign` reads variables as they were when the state started: a state that
//! assigns `answer` and has `"OutputPath": "$answer"` outputs the old value (recorded), so the
//! interpreter evaluates `Assign` and applies the new variables after `OutputPath`.
//!
//! # Errors, as AWS reports them
//!
//! All are `States.Runtime` except `ResultPath`'s (below). The interpreter prefixes each cause
//! with `An error occurred while executing the state 'S' (entered at the event id #N). `.
//!
//! * `InputPath`/`OutputPath` (and `TimeoutSecondsPath`, `HeartbeatSecondsPath`) that find
//!   nothing: `Invalid path '$.x' : ` and Jayway's message, `No results for path: $['x']` when
//!   the last step is missing, `Missing property in path $['a']` when an earlier one is.
//! * A `.$` template field (and `ErrorPath`, `CausePath`): `The JSONPath '$.x' specified for
//!   the field 'x.$' could not be found in the input '{"a":1}'` (recorded; the input is `$`
//!   as compact JSON, even when the path reads `$$`).
//! * `ResultPath` into something that is not an object: error `States.ReferencePathConflict`,
//!   cause `Unable to apply ReferencePath $.x to input "text"` (observed on AWS; not the
//!   `States.ResultPathMatchFailure` of the ASL specification).

use serde_json::{Map, Value};

use crate::asl::intrinsic::looks_like_intrinsic;
use crate::asl::path::{JsonPath, PathError, Root, Segment, parse_path, parse_reference_path};
use crate::engine::{Env, Failure};

use super::intrinsics::{self, JavaObject, compact_json, path_failure};

/// The error AWS raises when `ResultPath` cannot be applied to the state input.
pub const REFERENCE_PATH_CONFLICT: &str = "States.ReferencePathConflict";

/// The class names Jayway prints for a value that is not what a path step expects; AWS's
/// Jayway holds Jackson-made Java objects.
const JSON_PROVIDER: &str = "com.jayway.jsonpath.spi.json.JacksonJsonProvider";

/// `InputPath`: absent keeps the input, `null` gives `{}`, a path selects from `input`.
pub fn apply_input_path(input: &Value, field: Option<&Value>, env: &Env) -> Result<Value, Failure> {
    match field {
        None => Ok(input.clone()),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(path)) => select_from(input, path, env),
        Some(other) => Err(not_a_path("InputPath", other)),
    }
}

/// `OutputPath`: absent keeps the value, `null` gives `{}`, a path selects from `value`.
pub fn apply_output_path(value: Value, field: Option<&Value>, env: &Env) -> Result<Value, Failure> {
    match field {
        None => Ok(value),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(path)) => select_from(&value, path, env),
        Some(other) => Err(not_a_path("OutputPath", other)),
    }
}

/// A payload template: `Parameters`, `ResultSelector`, `ItemSelector`, Map `Parameters`, or a
/// JSONPath-mode `Assign`. A key ending in `.$` takes the value of a path (`$`, `$$`, `$var`)
/// or an intrinsic function, under the key without `.$`; objects and arrays are processed
/// all the way down; everything else is copied as it is (a string like `"$.x"` under a key
/// without `.$` stays that string).
pub fn apply_template(template: &Value, env: &Env) -> Result<Value, Failure> {
    match template {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let Value::String(expression) = value else {
                            return Err(Failure::runtime(format!(
                                "The value for the field '{key}' must be a STRING that contains a JSONPath but was {}",
                                json_type_name(value)
                            )));
                        };
                        out.insert(name.to_string(), expression_value(expression, key, env)?);
                    }
                    None => {
                        out.insert(key.clone(), apply_template(value, env)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| apply_template(item, env))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The value of a `.$` field: a path or an intrinsic function call.
fn expression_value(expression: &str, field: &str, env: &Env) -> Result<Value, Failure> {
    if looks_like_intrinsic(expression) {
        return intrinsics::evaluate_text(expression, env, field);
    }
    let path = parse_path(expression).map_err(|e| {
        Failure::runtime(format!(
            "The value '{expression}' of the field '{field}' is not a valid JSONPath: {e}"
        ))
    })?;
    read(&path, env.input, env).map_err(|e| path_failure(expression, field, env.input, &e))
}

/// Evaluates `path` with `$` at `root`. An indefinite path (wildcard, slice, filter, ...)
/// that finds nothing is `[]`, even where Jayway stops at a missing field before its first
/// indefinite step: recorded, `"item.$": "$.item.items[1:]"` on `{}` gives `{"item": []}`.
fn read(path: &JsonPath, root: &Value, env: &Env) -> Result<Value, PathError> {
    match path.select(root, env.context, &|name| env.vars.get(name)) {
        Ok(selection) => Ok(selection.into_value()),
        Err(PathError::NotFound { .. }) if !path.is_definite() => Ok(Value::Array(Vec::new())),
        Err(e) => Err(e),
    }
}

/// `ResultPath`: absent (or `$`) makes the result the output, `null` keeps the state input,
/// a reference path puts the result there inside a copy of the input, creating missing
/// objects on the way and replacing what is there.
pub fn apply_result_path(
    state_input: &Value,
    result: Value,
    field: Option<&Value>,
) -> Result<Value, Failure> {
    let text = match field {
        None => return Ok(result),
        Some(Value::Null) => return Ok(state_input.clone()),
        Some(Value::String(text)) => text,
        Some(other) => return Err(not_a_path("ResultPath", other)),
    };
    let path = parse_reference_path(text).map_err(|e| {
        Failure::runtime(format!(
            "The ResultPath '{text}' is not a valid reference path: {e}"
        ))
    })?;
    if path.root != Root::Input {
        return Err(Failure::runtime(format!(
            "The ResultPath '{text}' must start with '$': it writes into the state input"
        )));
    }
    let conflict = || {
        Failure::new(
            REFERENCE_PATH_CONFLICT,
            format!(
                "Unable to apply ReferencePath {text} to input {}",
                compact_json(state_input)
            ),
        )
    };
    let mut output = state_input.clone();
    let mut slot = &mut output;
    for segment in &path.segments {
        slot = match (segment, slot) {
            (Segment::Child(name), Value::Object(map)) => map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            (Segment::Index(i), Value::Array(items)) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                usize::try_from(at)
                    .ok()
                    .and_then(|at| items.get_mut(at))
                    .ok_or_else(conflict)?
            }
            _ => return Err(conflict()),
        };
    }
    *slot = result;
    Ok(output)
}

/// A path field other than the I/O ones (`ItemsPath`, `TimeoutSecondsPath`, ...), read from
/// `$` (`env.input`). Failures read `Invalid path '...' : ...` as AWS's do for
/// `TimeoutSecondsPath` and `HeartbeatSecondsPath`; see [`select_in_field`] for fields whose
/// message differs.
pub fn select(path: &str, env: &Env) -> Result<Value, Failure> {
    select_from(env.input, path, env)
}

/// [`select`] for a named field, with the cause AWS gives for that field when the path finds
/// nothing. `ErrorPath` and `CausePath` may also hold an intrinsic function.
pub fn select_in_field(path: &str, field: &str, env: &Env) -> Result<Value, Failure> {
    match field {
        "ErrorPath" | "CausePath" => {
            if looks_like_intrinsic(path) {
                intrinsics::evaluate_text(path, env, field)
            } else {
                expression_value(path, field, env)
            }
        }
        "SecondsPath" | "TimestampPath" => {
            let parsed = parse(path)?;
            read(&parsed, env.input, env).map_err(|_| {
                Failure::runtime(format!(
                    "The {field} parameter does not reference an input value: {path}"
                ))
            })
        }
        _ => select(path, env),
    }
}

/// `ItemsPath`: the array a Map state iterates over. Anything else fails as AWS's does:
/// `Reference path "$.x" must point to array.`, where a context path (`$$.x`) is shown with
/// one `$` (`$.x`), as it is evaluated against the context object.
pub fn select_items_path(path: &str, env: &Env) -> Result<Vec<Value>, Failure> {
    match select(path, env)? {
        Value::Array(items) => Ok(items),
        _ => {
            let shown = path
                .strip_prefix('$')
                .filter(|rest| rest.starts_with('$'))
                .unwrap_or(path);
            Err(Failure::runtime(format!(
                "Reference path \"{shown}\" must point to array."
            )))
        }
    }
}

fn parse(text: &str) -> Result<JsonPath, Failure> {
    parse_path(text).map_err(|e| Failure::runtime(format!("Invalid path '{text}' : {e}")))
}

/// Selects `path` from `root` (`$`), with `$$` and variables from `env`.
fn select_from(root: &Value, text: &str, env: &Env) -> Result<Value, Failure> {
    let path = parse(text)?;
    read(&path, root, env).map_err(|e| {
        let reason = match &e {
            PathError::NotFound { .. } => {
                let start = match &path.root {
                    Root::Context => Some(env.context),
                    Root::Variable(name) => env.vars.get(name),
                    Root::Input | Root::Current => Some(root),
                };
                match start {
                    Some(start) => jayway_not_found(&path, start),
                    None => format!("No results for path: {}", jayway_path(&path.segments)),
                }
            }
            PathError::UnknownVariable { .. } => {
                format!("No results for path: {}", jayway_path(&path.segments))
            }
            other => other.to_string(),
        };
        Failure::runtime(format!("Invalid path '{text}' : {reason}"))
    })
}

/// Jayway's message for a definite path that finds nothing, walking it as Jayway does.
fn jayway_not_found(path: &JsonPath, start: &Value) -> String {
    let whole = jayway_path(&path.segments);
    let mut current = start;
    let mut walked = String::from("$");
    let last = path.segments.len().saturating_sub(1);
    for (i, segment) in path.segments.iter().enumerate() {
        match segment {
            Segment::Child(name) => {
                let fragment = format!("['{name}']");
                let Value::Object(map) = current else {
                    return format!(
                        "Expected to find an object with property {fragment} in path {walked} but found '{}'. This is not a json object according to the JsonProvider: '{JSON_PROVIDER}'.",
                        java_class_name(current)
                    );
                };
                match map.get(name) {
                    Some(next) => current = next,
                    None if i == last => return format!("No results for path: {whole}"),
                    None => return format!("Missing property in path {walked}{fragment}"),
                }
                walked.push_str(&fragment);
            }
            Segment::Index(index) => {
                match current {
                    Value::Array(items) => {
                        let len = items.len() as i64;
                        let at = if *index < 0 { len + index } else { *index };
                        match usize::try_from(at).ok().and_then(|at| items.get(at)) {
                            Some(next) => current = next,
                            None => return format!("No results for path: {whole}"),
                        }
                    }
                    Value::Null => return format!("The path {walked} is null"),
                    other => {
                        return format!(
                            "Filter: {} can only be applied to arrays. Current context is: {}",
                            jayway_path(&path.segments[i..]).trim_start_matches('$'),
                            JavaObject::from_json(other).to_java_string()
                        );
                    }
                }
                walked.push_str(&format!("[{index}]"));
            }
            _ => return format!("No results for path: {whole}"),
        }
    }
    format!("No results for path: {whole}")
}

/// A path as Jayway prints it: `$['a']['b'][0]`.
fn jayway_path(segments: &[Segment]) -> String {
    let mut out = String::from("$");
    for segment in segments {
        match segment {
            Segment::Child(name) => out.push_str(&format!("['{name}']")),
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

/// The Java class Jackson uses for a value.
fn java_class_name(value: &Value) -> &'static str {
    match JavaObject::from_json(value) {
        JavaObject::Null => "null",
        JavaObject::Boolean(_) => "java.lang.Boolean",
        JavaObject::Integer(_) => match value.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => "java.lang.Integer",
            Some(_) => "java.lang.Long",
            None => "java.math.BigInteger",
        },
        JavaObject::Double(_) => "java.lang.Double",
        JavaObject::String(_) => "java.lang.String",
        JavaObject::List(_) => "java.util.ArrayList",
        JavaObject::Map(_) => "java.util.LinkedHashMap",
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Bool(_) => "BOOLEAN",
        Value::Number(_) => "NUMBER",
        Value::String(_) => "STRING",
        Value::Array(_) => "an ARRAY",
        Value::Object(_) => "an OBJECT",
    }
}

fn not_a_path(field: &str, value: &Value) -> Failure {
    Failure::runtime(format!(
        "The value of {field} must be a path or null, not {}",
        compact_json(value)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::engine::{Random, Vars};

    fn with_env<T>(input: &Value, f: impl FnOnce(&Env) -> T) -> T {
        let context = json!({"Execution": {"Input": {"x": 1}}});
        let mut vars = Vars::new();
        vars.set("answer".into(), json!(42));
        let random = Random::new(1);
        let env = Env {
            input,
            context: &context,
            vars: &vars,
            random: &random,
        };
        f(&env)
    }

    #[test]
    fn input_and_output_paths() {
        let input = json!({"a": {"b": [1, 2]}});
        with_env(&input, |env| {
            assert_eq!(apply_input_path(&input, None, env).unwrap(), input);
            assert_eq!(
                apply_input_path(&input, Some(&Value::Null), env).unwrap(),
                json!({})
            );
            assert_eq!(
                apply_input_path(&input, Some(&json!("$.a.b[1]")), env).unwrap(),
                json!(2)
            );
            assert_eq!(
                apply_input_path(&input, Some(&json!("$answer")), env).unwrap(),
                json!(42)
            );
            assert_eq!(
                apply_output_path(json!({"k": 1}), Some(&json!("$.k")), env).unwrap(),
                json!(1)
            );
            let f = apply_input_path(&input, Some(&json!("$.NoSuch")), env).unwrap_err();
            assert_eq!(f.error, "States.Runtime");
            assert_eq!(
                f.cause,
                "Invalid path '$.NoSuch' : No results for path: $['NoSuch']"
            );
            let f = apply_output_path(json!({}), Some(&json!("$.no.such.result.path")), env)
                .unwrap_err();
            assert_eq!(
                f.cause,
                "Invalid path '$.no.such.result.path' : Missing property in path $['no']"
            );
            let f = apply_input_path(&input, Some(&json!("$.a.b[5]")), env).unwrap_err();
            assert_eq!(
                f.cause,
                "Invalid path '$.a.b[5]' : No results for path: $['a']['b'][5]"
            );
        });
    }

    #[test]
    fn templates() {
        let input = json!({"name": "Ada", "list": [1, 2, 3]});
        with_env(&input, |env| {
            let t = json!({
                "static": "$.name",
                "name.$": "$.name",
                "ctx.$": "$$.Execution.Input.x",
                "var.$": "$answer",
                "nested": {"first.$": "$.list[0]", "arr": [{"n.$": "$.name"}, "$.x"]},
                "fmt.$": "States.Format('Hi {}', $.name)",
                "many.$": "$.list[1:]"
            });
            assert_eq!(
                apply_template(&t, env).unwrap(),
                json!({
                    "static": "$.name", "name": "Ada", "ctx": 1, "var": 42,
                    "nested": {"first": 1, "arr": [{"n": "Ada"}, "$.x"]},
                    "fmt": "Hi Ada", "many": [2, 3]
                })
            );
            let f = apply_template(&json!({"value.$": "$.no_such_jsonpath"}), env).unwrap_err();
            assert_eq!(f.error, "States.Runtime");
            assert_eq!(
                f.cause,
                "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"name\":\"Ada\",\"list\":[1,2,3]}'"
            );
        });
    }

    #[test]
    fn result_paths() {
        let input = json!({"a": {"b": 1}, "s": "text"});
        assert_eq!(apply_result_path(&input, json!(5), None).unwrap(), json!(5));
        assert_eq!(
            apply_result_path(&input, json!(5), Some(&Value::Null)).unwrap(),
            input
        );
        assert_eq!(
            apply_result_path(&input, json!(5), Some(&json!("$"))).unwrap(),
            json!(5)
        );
        assert_eq!(
            apply_result_path(&input, json!(5), Some(&json!("$.a.c.d"))).unwrap(),
            json!({"a": {"b": 1, "c": {"d": 5}}, "s": "text"})
        );
        assert_eq!(
            apply_result_path(&input, json!(5), Some(&json!("$.a.b"))).unwrap(),
            json!({"a": {"b": 5}, "s": "text"})
        );
        let f = apply_result_path(&json!("input1"), json!(5), Some(&json!("$.someTaskResult")))
            .unwrap_err();
        assert_eq!(f.error, "States.ReferencePathConflict");
        assert_eq!(
            f.cause,
            "Unable to apply ReferencePath $.someTaskResult to input \"input1\""
        );
        assert!(apply_result_path(&input, json!(5), Some(&json!("$.s.x"))).is_err());
    }

    #[test]
    fn field_paths() {
        let input = json!({"input": {"waitSeconds": 1}, "Error": "E"});
        with_env(&input, |env| {
            assert_eq!(select("$.input.waitSeconds", env).unwrap(), json!(1));
            let f = select_in_field("$.ErrorX", "ErrorPath", env).unwrap_err();
            assert!(f.cause.starts_with("The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{"));
            let f = select_in_field("$.input.nope", "SecondsPath", env).unwrap_err();
            assert_eq!(
                f.cause,
                "The SecondsPath parameter does not reference an input value: $.input.nope"
            );
            assert_eq!(
                select_in_field("States.Format('x{}', $.Error)", "CausePath", env).unwrap(),
                json!("xE")
            );
            let f = select_items_path("$$.Execution.Input", env).unwrap_err();
            assert_eq!(
                f.cause,
                "Reference path \"$.Execution.Input\" must point to array."
            );
        });
    }
}
