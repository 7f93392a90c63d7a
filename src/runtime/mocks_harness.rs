//! Per-state task results in invocation order (placeholder until the mock module lands).
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::engine::Failure;

#[derive(Debug, Clone, PartialEq)]
pub enum MockResponse {
    Return(Value),
    Throw(Failure),
    Timeout { error: String },
}

#[derive(Debug, Default)]
pub struct MockConfig {
    responses: FxHashMap<String, Vec<MockResponse>>,
    used: FxHashMap<String, usize>,
}

impl MockConfig {
    pub fn from_value(v: &Value) -> Result<MockConfig, String> {
        let mut responses = FxHashMap::default();
        let obj = v.as_object().ok_or("the mock file must hold a JSON object")?;
        for (state, list) in obj {
            let list = list.as_array().ok_or_else(|| format!("mocks for '{state}' must be a list"))?;
            let mut out = Vec::new();
            for r in list {
                if let Some(ret) = r.get("Return") {
                    out.push(MockResponse::Return(ret.clone()));
                } else if let Some(t) = r.get("Throw") {
                    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    out.push(MockResponse::Throw(Failure::new(s("Error"), s("Cause"))));
                } else if r.get("Timeout").is_some() {
                    let error = r.get("Error").and_then(Value::as_str).unwrap_or("States.Timeout").to_owned();
                    out.push(MockResponse::Timeout { error });
                } else {
                    return Err(format!("a mock for '{state}' has neither Return, Throw nor Timeout"));
                }
            }
            responses.insert(state.clone(), out);
        }
        Ok(MockConfig { responses, used: FxHashMap::default() })
    }

    pub fn next_response(&mut self, state: &str) -> Option<MockResponse> {
        let list = self.responses.get(state)?;
        let n = self.used.entry(state.to_owned()).or_insert(0);
        let r = list.get(*n).or_else(|| list.last()).cloned();
        *n += 1;
        r
    }
}
