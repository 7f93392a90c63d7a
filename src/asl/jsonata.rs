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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(check_syntax("$states.input.a + 1").is_ok());
        assert!(check_syntax("$sum([1,2])").is_ok());
        assert!(check_syntax("$states.input.(").is_err());
        assert_eq!(template_body("{% 1 %}"), Some(" 1 "));
        assert_eq!(template_body("{% 1"), None);
    }
}
