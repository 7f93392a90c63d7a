//! The Amazon States Language document model.
//!
//! A [`Document`] is the lossless JSON tree of a state machine (key order and the written form
//! of numbers kept, unknown fields kept) plus where each part was written. Everything above
//! this layer (validator, engine, designer) reads the tree through the typed helpers in
//! [`model`] and changes it only through the operations in [`edit`], which keep a valid
//! document valid.
//!
//! Boundary: this module does no IO besides what its callers hand it as text or bytes, and it
//! never fails: [`parse`] always returns a document, with diagnostics for what was wrong.

pub mod diagnostic;
pub mod edit;
pub mod generate;
pub mod intrinsic;
pub mod jsonata;
pub mod model;
pub mod path;
pub mod source;
pub mod yaml_out;

use std::path::Path;

use serde_json::Value;

pub use diagnostic::{Diagnostic, Severity};
pub use source::{Position, SourceMap};

/// The text format a document is read from and written back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Yaml,
}

impl Format {
    /// By file extension: `.asl.json`/`.json` are JSON; `.asl.yaml`, `.asl.yml`, `.yaml`, `.yml`
    /// are YAML; anything else is decided by looking at the text.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// JSON when the first non-blank character opens a JSON object or array, else YAML.
    pub fn sniff(text: &str) -> Format {
        match text.trim_start().chars().next() {
            Some('{') | Some('[') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A state machine definition as written.
#[derive(Clone, Debug, Default)]
pub struct Document {
    /// The definition; `Value::Null` when the text could not be read at all.
    pub root: Value,
    pub format: Format,
    pub source: SourceMap,
    /// Length of the text in characters, for the definition-size limit.
    pub source_chars: usize,
}

impl Document {
    pub fn from_value(root: Value) -> Self {
        Self { root, ..Self::default() }
    }

    /// Line and column of the value at `pointer` (or its nearest ancestor), when read from text.
    pub fn position(&self, pointer: &str) -> Option<Position> {
        self.source.position(pointer)
    }

    /// The canonical text in the document's own format.
    pub fn to_text(&self) -> String {
        to_text(&self.root, self.format)
    }
}

/// Reads a definition from text. Never fails: the diagnostics say what was wrong.
pub fn parse(text: &str, format: Format) -> (Document, Vec<Diagnostic>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed = match format {
        Format::Json => source::parse_json(text),
        Format::Yaml => source::parse_yaml(text),
    };
    let doc = Document {
        root: parsed.value.unwrap_or(Value::Null),
        format,
        source: parsed.map,
        source_chars: text.chars().count(),
    };
    (doc, parsed.diagnostics)
}

/// Reads a definition from bytes, reporting text that is not UTF-8 instead of failing.
pub fn parse_bytes(bytes: &[u8], format: Option<Format>) -> (Document, Vec<Diagnostic>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, format.unwrap_or_else(|| Format::sniff(text))),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            let column = String::from_utf8_lossy(&before[before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)..])
                .chars()
                .count() as u32
                + 1;
            let diag = Diagnostic::error(
                diagnostic::codes::INVALID_ENCODING,
                "",
                format!(
                    "The file is not UTF-8 text (invalid byte at offset {}). Save it as UTF-8; a state machine definition is JSON or YAML text.",
                    e.valid_up_to()
                ),
            )
            .at(Some(Position { line, column }));
            (Document { format: format.unwrap_or_default(), ..Document::default() }, vec![diag])
        }
    }
}

/// The canonical text of a definition in `format`.
pub fn to_text(value: &Value, format: Format) -> String {
    match format {
        Format::Json => to_json(value),
        Format::Yaml => yaml_out::to_yaml(value),
    }
}

/// Canonical JSON: two-space indentation, key order and numbers as written, final newline.
pub fn to_json(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}
