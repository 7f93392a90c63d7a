//! JSONata evaluation (placeholder until the full module lands).
use serde_json::Value;

use super::env::{Random, Vars};
use super::failure::Failure;

pub fn evaluate_field(field: &Value, _states: &Value, _vars: &Vars, _random: &Random) -> Result<Value, Failure> {
    match field {
        Value::String(s) if crate::asl::jsonata::template_body(s).is_some() => Err(Failure::query("JSONata is not available yet")),
        v => Ok(v.clone()),
    }
}

pub fn evaluate_condition(field: &Value, states: &Value, vars: &Vars, random: &Random) -> Result<bool, Failure> {
    evaluate_field(field, states, vars, random)?.as_bool().ok_or_else(|| Failure::query("not a boolean"))
}
