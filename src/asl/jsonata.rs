//! JSONata expressions inside `{% ... %}` strings.
//!
//! Syntax is checked with the `jsonata-rs` parser; the engine (a later layer) evaluates with
//! the same crate.

/// The expression inside `{% ... %}`, or `None` when the string is not a JSONata template.
pub fn template_body(s: &str) -> Option<&str> {
    let t = s.strip_prefix("{%")?.strip_suffix("%}")?;
    Some(t)
}

/// Checks the syntax of a JSONata expression. The message says what the parser found wrong.
pub fn check_syntax(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    if let Some(at) = number_with_trailing_dot(expr) {
        return Err(format!("the number at offset {at} ends with '.'; add the decimals or remove the dot"));
    }
    // The parser is third-party code fed with user text: a panic inside it must not take the
    // app down, so it is contained and reported like any syntax error.
    let result = std::panic::catch_unwind(|| {
        let arena = bumpalo::Bump::new();
        jsonata_rs::JsonAta::new(expr, &arena).map(|_| ()).map_err(|e| e.to_string())
    });
    match result {
        Ok(r) => r,
        Err(_) => Err("the expression could not be parsed".into()),
    }
}

/// JSONata's number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([Ee][-+]?[0-9]+)?`) wants digits
/// after a decimal point; `jsonata-rs` takes `420.` anyway, so this fills that gap. Strings,
/// regexes and backtick names are skipped; `..` (the range operator) is not a decimal point.
fn number_with_trailing_dot(expr: &str) -> Option<usize> {
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // A regex literal (`/.../`) starts where an operand is expected; a '/' after an
            // operand is division.
            b'/' if b[..i].iter().rev().find(|c| !c.is_ascii_whitespace()).is_none_or(|p| b"(,=:[{!&|<>+-*%?;".contains(p)) => {
                i += 1;
                while i < b.len() && b[i] != b'/' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            c if c.is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'$' | b'.'))) => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && b[i] == b'.' && b.get(i + 1).is_none_or(|n| !n.is_ascii_digit() && *n != b'.') {
                    return Some(start);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(check_syntax("$states.input.a + 1").is_ok());
        assert!(check_syntax("$sum([1,2])").is_ok());
        assert!(check_syntax("$states.input.(").is_err());
        assert!(check_syntax("420.").is_err());
        assert!(check_syntax("[1..5]").is_ok());
        assert!(check_syntax("$a.b1.c + 1.5").is_ok());
        assert!(check_syntax("'420.'").is_ok());
        assert!(check_syntax("$match($x, /^[a-z0-9.-]+\\.[a-z]{2,}$/)").is_ok());
        assert!(check_syntax("$x / 2.").is_err());
        assert_eq!(template_body("{% 1 %}"), Some(" 1 "));
        assert_eq!(template_body("{% 1"), None);
    }
}
