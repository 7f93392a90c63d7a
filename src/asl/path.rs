//! TEMPORARY stand-in until the full JSONPath module lands.
use thiserror::Error;
#[derive(Debug, Error)]
#[error("{0}")]
pub struct PathError(String);
#[derive(Debug, PartialEq, Eq)]
pub enum Root { Input, Context, Variable(String) }
pub struct JsonPath { pub root: Root }
pub fn parse_path(s: &str) -> Result<JsonPath, PathError> {
    if s.starts_with("$$") { Ok(JsonPath{root: Root::Context}) } else if s.starts_with('$') { Ok(JsonPath{root: Root::Input}) } else { Err(PathError("must start with $".into())) }
}
pub fn parse_reference_path(s: &str) -> Result<JsonPath, PathError> { parse_path(s) }
