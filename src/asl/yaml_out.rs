//! Writing a JSON tree as block-style YAML.
//!
//! Hand-written because the YAML crates' emitters re-spell numbers (`1.0` becomes `1`) and
//! re-order nothing we can control; ours keeps numbers as written and quotes every string that a
//! YAML reader could take for something else, so reading the output back gives the same tree.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => block(value, 0, &mut out),
        Value::Array(a) if !a.is_empty() => block(value, 0, &mut out),
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push_str("  ");
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn block(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                indent(level, out);
                out.push_str(&string(k));
                out.push(':');
                child(v, level, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                indent(level, out);
                out.push('-');
                child(v, level, out);
            }
        }
        _ => {}
    }
}

fn child(v: &Value, level: usize, out: &mut String) {
    if is_block(v) {
        out.push('\n');
        block(v, level + 1, out);
    } else {
        out.push(' ');
        out.push_str(&scalar(v));
        out.push('\n');
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A plain scalar when it cannot be misread, else a double-quoted one (JSON string syntax is
/// valid YAML double-quoted syntax).
fn string(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' ' | '(' | ')'))
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
        );
    if plain_safe { s.to_string() } else { serde_json::to_string(s).unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trips() {
        let text = r#"{"StartAt":"A b","Comment":"it's: tricky #1","States":{"A b":{"Type":"Pass","Result":{"n":1.0,"e":[],"o":{},"s":"true","x":"$.a[0]"},"End":true}},"L":[1,[2,{"a":null}]]}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let y = to_yaml(&v);
        let back = crate::asl::source::parse_yaml(&y).value.unwrap();
        assert_eq!(back, v, "{y}");
    }
}
