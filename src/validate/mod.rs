//! The validator: does AWS Step Functions accept this state machine?
//!
//! `validate(&Document, &Options) -> Vec<Diagnostic>` never fails and never stops at the first
//! problem. It checks the shape of every field per state type and query language (the table in
//! [`fields`]), the graph of each scope (targets exist, reachability, an ending), paths,
//! intrinsic functions and JSONata syntax, and the limits AWS enforces. The bar is agreement
//! with AWS's own verdicts, measured against the recorded corpus (see `docs/conformance.md`).
//!
//! Boundary: reads the document model only; no IO.

pub mod fields;
mod rules;

use rustc_hash::FxHashMap;

use serde_json::Value;

use crate::asl::diagnostic::{Diagnostic, codes, pointer_push};
use crate::asl::model::{self, QueryLanguage};
use crate::asl::Document;

/// The two kinds of state machine; EXPRESS forbids some integrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

impl MachineType {
    pub fn from_name(s: &str) -> Option<MachineType> {
        match s.to_ascii_uppercase().as_str() {
            "STANDARD" => Some(MachineType::Standard),
            "EXPRESS" => Some(MachineType::Express),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub kind: MachineType,
}

/// AWS's limit on the size of a definition, in characters.
pub const MAX_DEFINITION_CHARS: usize = 1_048_576;

/// Validates a document. Diagnostics come sorted by position in the text, then pointer.
pub fn validate(doc: &Document, options: &Options) -> Vec<Diagnostic> {
    let mut v = Validator { doc, options: *options, out: Vec::new() };
    v.run();
    let mut out = v.out;
    for d in &mut out {
        if d.line.is_none()
            && let Some(p) = doc.position(&d.location) {
                d.line = Some(p.line);
                d.column = Some(p.column);
            }
    }
    out.sort_by(|a, b| (a.line, a.column, &a.location).cmp(&(b.line, b.column, &b.location)));
    out.dedup();
    out
}

/// Parses and validates bytes in one go, as the command line and the editor do: the
/// diagnostics of both, parse problems first. A document that could not be read at all is not
/// validated (every check would only repeat that it is missing).
pub fn check_bytes(bytes: &[u8], format: Option<crate::asl::Format>, options: &Options) -> (Document, Vec<Diagnostic>) {
    let (doc, mut diags) = crate::asl::parse_bytes(bytes, format);
    let unreadable = diags.iter().any(|d| {
        matches!(d.code, codes::INVALID_JSON | codes::INVALID_YAML | codes::INVALID_ENCODING | codes::EMPTY_DOCUMENT)
    });
    if !unreadable {
        diags.extend(validate(&doc, options));
    }
    (doc, diags)
}

pub(crate) struct Validator<'d> {
    pub doc: &'d Document,
    pub options: Options,
    pub out: Vec<Diagnostic>,
}

impl<'d> Validator<'d> {
    pub fn error(&mut self, code: &'static str, location: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::error(code, location, message));
    }

    pub fn warning(&mut self, code: &'static str, location: impl Into<String>, message: impl Into<String>) {
        self.out.push(Diagnostic::warning(code, location, message));
    }

    pub fn schema(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.error(codes::SCHEMA_VALIDATION_FAILED, location, message);
    }

    fn run(&mut self) {
        let root = &self.doc.root;
        let Some(obj) = root.as_object() else {
            self.schema("", "A state machine definition must be a JSON object with \"StartAt\" and \"States\".");
            return;
        };
        let size = if self.doc.source_chars > 0 { self.doc.source_chars } else { crate::asl::to_json(root).chars().count() };
        if size > MAX_DEFINITION_CHARS {
            self.error(
                codes::DEFINITION_TOO_LARGE,
                "",
                format!("The definition is {size} characters long; AWS accepts at most {MAX_DEFINITION_CHARS}. Split it into nested state machines."),
            );
        }
        for (k, v) in obj {
            let p = pointer_push("", k);
            match k.as_str() {
                "StartAt" | "States" => {}
                "Comment" | "Version" => self.expect_string(&p, k, v),
                "TimeoutSeconds" => self.expect_pos_int(&p, k, v),
                "QueryLanguage" => {
                    if v.as_str().and_then(QueryLanguage::from_name).is_none() {
                        self.schema(&p, "QueryLanguage must be \"JSONPath\" or \"JSONata\".");
                    }
                }
                _ => self.schema(&p, format!("The field '{k}' is not supported at the top level of a state machine.")),
            }
        }
        let scopes = model::scopes(root);
        // State names are unique across the whole machine, nested scopes included.
        let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, scope) in scopes.iter().enumerate() {
            if let Some(states) = scope.states() {
                for name in states.keys() {
                    if let Some(first) = seen.get(name.as_str()) {
                        let first = scopes[*first].state_pointer(name);
                        self.error(
                            codes::DUPLICATE_STATE_NAME,
                            scope.state_pointer(name),
                            format!("The state name \"{name}\" is already used at {first}; state names must be unique in the whole state machine, branches and processors included."),
                        );
                    } else {
                        seen.insert(name, i);
                    }
                }
            }
        }
        for scope in &scopes {
            self.scope(scope);
        }
    }

    pub fn top_query_language(&self) -> QueryLanguage {
        self.doc.root.get("QueryLanguage").and_then(Value::as_str).and_then(QueryLanguage::from_name).unwrap_or_default()
    }

    pub fn expect_string(&mut self, p: &str, name: &str, v: &Value) {
        if !v.is_string() {
            self.schema(p, format!("{name} must be a string."));
        }
    }

    pub fn expect_pos_int(&mut self, p: &str, name: &str, v: &Value) {
        if !is_int_at_least(v, 1) {
            self.schema(p, format!("{name} must be a positive whole number."));
        }
    }
}

/// Whether a JSON number is a whole number ≥ `min` (AWS takes `5.0`? no: it wants integers).
pub(crate) fn is_int_at_least(v: &Value, min: i64) -> bool {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i >= min
            } else if let Some(u) = n.as_u64() {
                u as i128 >= min as i128
            } else {
                false
            }
        }
        _ => false,
    }
}
