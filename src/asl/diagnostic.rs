//! Diagnostics: what parsing and validation say about a document.
//!
//! Parsing and validation never fail; they return a value plus a list of these. A diagnostic
//! points at a JSON pointer (`/States/Wait/Seconds`) and, where the source text is known, at a
//! 1-based line and column.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

/// Diagnostic codes. Where AWS's `ValidateStateMachineDefinition` has a code for a problem we
/// use the same one, so a message seen in Stepwise can be looked up in AWS's documentation.
pub mod codes {
    // AWS's codes.
    pub const SCHEMA_VALIDATION_FAILED: &str = "SCHEMA_VALIDATION_FAILED";
    pub const MISSING_TRANSITION_TARGET: &str = "MISSING_TRANSITION_TARGET";
    pub const MISSING_END_STATE: &str = "MISSING_END_STATE";
    pub const DUPLICATE_STATE_NAME: &str = "DUPLICATE_STATE_NAME";
    pub const INVALID_STATE_NAME: &str = "INVALID_STATE_NAME";
    pub const INVALID_RESOURCE: &str = "INVALID_RESOURCE";
    pub const TOO_DEEPLY_NESTED: &str = "TOO_DEEPLY_NESTED";
    pub const NO_DOLLAR: &str = "NO_DOLLAR";
    pub const NO_PATH: &str = "NO_PATH";
    pub const PASS_RESULT_IS_STATIC: &str = "PASS_RESULT_IS_STATIC";
    pub const INVALID_LABEL_NAME: &str = "INVALID_LABEL_NAME";
    pub const INVALID_JSONATA_EXPRESSION: &str = "INVALID_JSONATA_EXPRESSION";
    pub const INVALID_JSON_PATH: &str = "INVALID_JSON_PATH";
    pub const INVALID_INTRINSIC_FUNCTION: &str = "INVALID_INTRINSIC_FUNCTION";
    pub const UNREACHABLE_STATE: &str = "UNREACHABLE_STATE";
    pub const DEFINITION_TOO_LARGE: &str = "DEFINITION_TOO_LARGE";
    // Stepwise's own, for problems AWS reports only as a parse failure.
    pub const INVALID_JSON: &str = "INVALID_JSON";
    pub const INVALID_YAML: &str = "INVALID_YAML";
    pub const INVALID_ENCODING: &str = "INVALID_ENCODING";
    pub const DUPLICATE_KEY: &str = "DUPLICATE_KEY";
    pub const EMPTY_DOCUMENT: &str = "EMPTY_DOCUMENT";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// JSON pointer (RFC 6901) of the value the diagnostic is about; `""` is the whole document.
    pub location: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl Diagnostic {
    pub fn error(code: &'static str, location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: location.into(),
            line: None,
            column: None,
        }
    }

    pub fn warning(code: &'static str, location: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, location, message) }
    }

    pub fn at(mut self, pos: Option<super::source::Position>) -> Self {
        if let Some(p) = pos {
            self.line = Some(p.line);
            self.column = Some(p.column);
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Builds a JSON pointer from segments, escaping `~` and `/` as RFC 6901 requires.
pub fn pointer_push(base: &str, segment: &str) -> String {
    let mut out = String::with_capacity(base.len() + segment.len() + 1);
    out.push_str(base);
    out.push('/');
    if !segment.contains(['~', '/']) {
        out.push_str(segment);
        return out;
    }
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Splits a JSON pointer into unescaped segments.
pub fn pointer_segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~"))
}
