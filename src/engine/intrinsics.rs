//! Intrinsic functions (placeholder until the full module lands).
use serde_json::Value;

use super::env::Env;
use super::failure::Failure;
use crate::asl::intrinsic::Call;

pub fn evaluate(call: &Call, _env: &Env) -> Result<Value, Failure> {
    Err(Failure::intrinsic(format!("{} is not available yet", call.function.name())))
}
