//! TEMPORARY stand-in until the full intrinsic-function module lands.
use thiserror::Error;
#[derive(Debug, Error)]
#[error("{0}")]
pub struct IntrinsicError(String);
pub struct Function(String);
impl Function { pub fn name(&self) -> &str { &self.0 } }
pub struct Call { pub function: Function }
pub fn looks_like_intrinsic(s: &str) -> bool { s.starts_with("States.") }
pub fn parse_intrinsic(s: &str) -> Result<Call, IntrinsicError> { if s.ends_with(')') { Ok(Call{function: Function(s.split('(').next().unwrap_or("").to_string())}) } else { Err(IntrinsicError("bad".into())) } }
