//! Choice rules in JSONPath mode: the comparison operators, `And` / `Or` / `Not`.
//!
//! AWS's rules, reproduced here: a comparison between values of the wrong type is false,
//! not an error; a `Variable` (or a `*Path` operand) that finds nothing is a `States.Runtime`
//! error, except under `IsPresent`; numbers compare by value; timestamps compare as instants.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::env::Env;
use super::failure::Failure;
use super::io_jsonpath;

/// Whether `rule` matches. Errors are ASL runtime errors.
pub fn matches(rule: &Value, env: &Env) -> Result<bool, Failure> {
    let Some(obj) = rule.as_object() else {
        return Err(Failure::runtime("a Choice rule is not an object"));
    };
    if let Some(all) = obj.get("And").and_then(Value::as_array) {
        for r in all {
            if !matches(r, env)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = obj.get("Or").and_then(Value::as_array) {
        for r in any {
            if matches(r, env)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = obj.get("Not") {
        return Ok(!matches(inner, env)?);
    }
    let variable = obj.get("Variable").and_then(Value::as_str).unwrap_or("$");
    for (op, operand) in obj {
        if matches!(op.as_str(), "Variable" | "Next" | "Comment" | "Assign" | "Output") {
            continue;
        }
        if op == "IsPresent" {
            let present = io_jsonpath::select(variable, env).is_ok();
            return Ok(operand.as_bool() == Some(present));
        }
        let value = io_jsonpath::select(variable, env).map_err(|_| invalid_path(variable))?;
        let (base, is_path) = match op.strip_suffix("Path") {
            Some(b) => (b, true),
            None => (op.as_str(), false),
        };
        let operand = if is_path {
            let path = operand.as_str().unwrap_or("$");
            io_jsonpath::select(path, env).map_err(|_| invalid_path(path))?
        } else {
            operand.clone()
        };
        return Ok(compare(base, &value, &operand));
    }
    Err(Failure::runtime("a Choice rule has no comparison operator"))
}

fn invalid_path(path: &str) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value."
    ))
}

fn compare(op: &str, value: &Value, operand: &Value) -> bool {
    match op {
        "IsNull" => operand.as_bool() == Some(value.is_null()),
        "IsBoolean" => operand.as_bool() == Some(value.is_boolean()),
        "IsNumeric" => operand.as_bool() == Some(value.is_number()),
        "IsString" => operand.as_bool() == Some(value.is_string()),
        "IsTimestamp" => operand.as_bool() == Some(value.as_str().and_then(timestamp).is_some()),
        "BooleanEquals" => value.is_boolean() && value.as_bool() == operand.as_bool(),
        "StringMatches" => match (value.as_str(), operand.as_str()) {
            (Some(v), Some(p)) => wildcard_match(p, v),
            _ => false,
        },
        _ => {
            let ordering = if let Some(kind) = op.strip_prefix("String") {
                match (value.as_str(), operand.as_str()) {
                    (Some(a), Some(b)) => Some((kind, a.cmp(b))),
                    _ => None,
                }
            } else if let Some(kind) = op.strip_prefix("Numeric") {
                match (value.as_f64(), operand.as_f64()) {
                    (Some(a), Some(b)) if value.is_number() && operand.is_number() => {
                        a.partial_cmp(&b).map(|o| (kind, o))
                    }
                    _ => None,
                }
            } else if let Some(kind) = op.strip_prefix("Timestamp") {
                match (value.as_str().and_then(timestamp), operand.as_str().and_then(timestamp)) {
                    (Some(a), Some(b)) => Some((kind, a.cmp(&b))),
                    _ => None,
                }
            } else {
                None
            };
            match ordering {
                Some(("Equals", o)) => o == Ordering::Equal,
                Some(("LessThan", o)) => o == Ordering::Less,
                Some(("GreaterThan", o)) => o == Ordering::Greater,
                Some(("LessThanEquals", o)) => o != Ordering::Greater,
                Some(("GreaterThanEquals", o)) => o != Ordering::Less,
                _ => false,
            }
        }
    }
}

/// An RFC 3339 timestamp as AWS reads them (`T` and an offset or `Z` are required).
pub fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if !s.contains('T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => toks.push(Tok::Char(n)),
                None => toks.push(Tok::Char('\\')),
            },
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic linear-space wildcard matching with one backtrack point.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < toks.len() && toks[p] == Tok::Char(text[t]) {
            t += 1;
            p += 1;
        } else if p < toks.len() && toks[p] == Tok::Star {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < toks.len() && toks[p] == Tok::Star {
        p += 1;
    }
    p == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.log", "a.log"));
        assert!(wildcard_match("log-*-x", "log-1-2-x"));
        assert!(!wildcard_match("*.log", "a.txt"));
        assert!(wildcard_match(r"a\*b", "a*b"));
        assert!(!wildcard_match(r"a\*b", "axb"));
        assert!(wildcard_match("*", ""));
    }
}
