//! JSONPath-mode data flow (placeholder until the full module lands).
use serde_json::{Map, Value};

use super::env::Env;
use super::failure::Failure;
use crate::asl::path::{Selection, parse_path};

pub fn select(path: &str, env: &Env) -> Result<Value, Failure> {
    let p = parse_path(path).map_err(|e| Failure::runtime(e.to_string()))?;
    let vars = |n: &str| env.vars.get(n);
    p.select(env.input, env.context, &vars)
        .map(Selection::into_value)
        .map_err(|e| Failure::runtime(e.to_string()))
}

pub fn apply_input_path(input: &Value, field: Option<&Value>, env: &Env) -> Result<Value, Failure> {
    match field {
        None => Ok(input.clone()),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(p)) => select(p, &Env { input, ..*env }),
        Some(_) => Err(Failure::runtime("InputPath is not a string")),
    }
}

pub fn apply_template(template: &Value, env: &Env) -> Result<Value, Failure> {
    match template {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(key) = k.strip_suffix(".$") {
                    let s = v.as_str().unwrap_or("");
                    let value = if crate::asl::intrinsic::looks_like_intrinsic(s) {
                        let call = crate::asl::intrinsic::parse_intrinsic(s).map_err(|e| Failure::intrinsic(e.to_string()))?;
                        super::intrinsics::evaluate(&call, env)?
                    } else {
                        select(s, env)?
                    };
                    out.insert(key.to_owned(), value);
                } else {
                    out.insert(k.clone(), apply_template(v, env)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a.iter().map(|v| apply_template(v, env)).collect::<Result<_, _>>().map(Value::Array),
        v => Ok(v.clone()),
    }
}

pub fn apply_result_path(state_input: &Value, result: Value, field: Option<&Value>) -> Result<Value, Failure> {
    match field {
        None => Ok(result),
        Some(Value::Null) => Ok(state_input.clone()),
        Some(Value::String(p)) if p == "$" => Ok(result),
        Some(Value::String(p)) => {
            let path = crate::asl::path::parse_reference_path(p).map_err(|e| Failure::runtime(e.to_string()))?;
            let mut out = state_input.clone();
            let mut node = &mut out;
            for seg in &path.segments {
                match seg {
                    crate::asl::path::Segment::Child(name) => {
                        if !node.is_object() {
                            *node = Value::Object(Map::new());
                        }
                        let Value::Object(m) = node else { unreachable_failure()? };
                        node = m.entry(name.clone()).or_insert(Value::Null);
                    }
                    _ => return Err(Failure::new(super::failure::names::RESULT_PATH_MATCH_FAILURE, p.clone())),
                }
            }
            *node = result;
            Ok(out)
        }
        Some(_) => Err(Failure::runtime("ResultPath is not a string")),
    }
}

fn unreachable_failure<T>() -> Result<T, Failure> {
    Err(Failure::runtime("internal: expected an object"))
}

pub fn apply_output_path(value: Value, field: Option<&Value>, env: &Env) -> Result<Value, Failure> {
    match field {
        None => Ok(value),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(p)) => select(p, &Env { input: &value, ..*env }),
        Some(_) => Err(Failure::runtime("OutputPath is not a string")),
    }
}
