//! Source text → JSON tree, with the position of every key and value.
//!
//! Owns reading JSON and YAML text into a `serde_json::Value` (key order kept, numbers kept as
//! written) plus a [`SourceMap`] from JSON pointer to line and column. Never fails: bad text
//! gives `None` and diagnostics that say where and what to do.
//!
//! JSON goes through `jsonc-parser` in strict mode because it reports byte ranges for every
//! node, keeps duplicate keys visible and hands numbers over as written; `serde_json` alone
//! gives none of those. YAML goes through `saphyr-parser`'s event stream for the same reasons
//! (its tree types drop duplicate keys and number spelling).

use std::collections::HashMap;

use jsonc_parser::ast;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use super::diagnostic::{Diagnostic, codes, pointer_push};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spot {
    /// Where the key naming this value starts (absent for array items and the root).
    pub key: Option<Position>,
    pub value: Position,
}

/// JSON pointer → where that key and value are written.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    spots: rustc_hash::FxHashMap<String, Spot>,
}

impl SourceMap {
    pub fn get(&self, pointer: &str) -> Option<Spot> {
        self.spots.get(pointer).copied()
    }

    /// The best position for a diagnostic about `pointer`: the key if there is one (an editor
    /// underlines `"Seconds": -1` from the key), else the value; walks up to the nearest
    /// ancestor that has a position when the pointer names something absent.
    pub fn position(&self, pointer: &str) -> Option<Position> {
        let mut p = pointer;
        loop {
            if let Some(s) = self.spots.get(p) {
                return Some(s.key.unwrap_or(s.value));
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.spots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spots.is_empty()
    }
}

/// What reading text gives: a value when the text was well-formed, its source map, diagnostics.
pub struct Parsed {
    pub value: Option<Value>,
    pub map: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

/// Turns increasing byte offsets into positions in one pass, so a 1 MiB single-line document
/// costs linear time, not quadratic.
struct Cursor<'t> {
    text: &'t str,
    offset: usize,
    pos: Position,
}

impl<'t> Cursor<'t> {
    fn new(text: &'t str) -> Self {
        Self { text, offset: 0, pos: Position { line: 1, column: 1 } }
    }

    fn at(&mut self, offset: usize) -> Position {
        if offset < self.offset {
            // Offsets arrive in document order; restart in the rare case they don't.
            self.offset = 0;
            self.pos = Position { line: 1, column: 1 };
        }
        let end = offset.min(self.text.len());
        if let Some(slice) = self.text.get(self.offset..end) {
            for c in slice.chars() {
                if c == '\n' {
                    self.pos.line += 1;
                    self.pos.column = 1;
                } else {
                    self.pos.column += 1;
                }
            }
        }
        self.offset = end;
        self.pos
    }
}

fn duplicate_key(pointer: &str, key: &str, pos: Position) -> Diagnostic {
    let in_states = pointer.ends_with("/States");
    let (code, what) = if in_states {
        (codes::DUPLICATE_STATE_NAME, "State")
    } else {
        (codes::DUPLICATE_KEY, "Key")
    };
    Diagnostic::error(
        code,
        pointer_push(pointer, key),
        format!(
            "{what} \"{key}\" is defined more than once in this object; only the last one would be kept. Rename or remove the duplicate."
        ),
    )
    .at(Some(pos))
}

// ---------------------------------------------------------------------------------------------
// JSON

pub fn parse_json(text: &str) -> Parsed {
    let strict = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let mut out = Parsed { value: None, map: SourceMap::default(), diagnostics: Vec::new() };
    match jsonc_parser::parse_to_ast(text, &Default::default(), &strict) {
        Ok(result) => match result.value {
            Some(root) => {
                let mut b = JsonBuilder { cursor: Cursor::new(text), out: &mut out };
                let v = b.value(&root, String::new(), None);
                out.value = Some(v);
            }
            None => out.diagnostics.push(
                Diagnostic::error(
                    codes::EMPTY_DOCUMENT,
                    "",
                    "The document is empty. A state machine is a JSON object with \"StartAt\" and \"States\".",
                )
                .at(Some(Position { line: 1, column: 1 })),
            ),
        },
        Err(e) => {
            let pos = Position { line: e.line_display() as u32, column: e.column_display() as u32 };
            out.diagnostics.push(
                Diagnostic::error(
                    codes::INVALID_JSON,
                    "",
                    format!("This is not valid JSON: {}. Fix the text at line {}, column {}.", e.kind(), pos.line, pos.column),
                )
                .at(Some(pos)),
            );
        }
    }
    out
}

struct JsonBuilder<'t, 'o> {
    cursor: Cursor<'t>,
    out: &'o mut Parsed,
}

impl JsonBuilder<'_, '_> {
    fn value(&mut self, node: &ast::Value<'_>, pointer: String, key: Option<Position>) -> Value {
        let start = match node {
            ast::Value::StringLit(s) => s.range.start,
            ast::Value::NumberLit(n) => n.range.start,
            ast::Value::BooleanLit(b) => b.range.start,
            ast::Value::Object(o) => o.range.start,
            ast::Value::Array(a) => a.range.start,
            ast::Value::NullKeyword(n) => n.range.start,
        };
        let value_pos = self.cursor.at(start);
        let v = match node {
            ast::Value::StringLit(s) => Value::String(s.value.to_string()),
            ast::Value::NumberLit(n) => number_from_text(n.value)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(n.value.to_string())),
            ast::Value::BooleanLit(b) => Value::Bool(b.value),
            ast::Value::NullKeyword(_) => Value::Null,
            ast::Value::Array(a) => {
                self.out.map.spots.insert(pointer.clone(), Spot { key, value: value_pos });
                let mut items = Vec::with_capacity(a.elements.len());
                for (i, el) in a.elements.iter().enumerate() {
                    items.push(self.value(el, pointer_push(&pointer, &i.to_string()), None));
                }
                return Value::Array(items);
            }
            ast::Value::Object(o) => {
                self.out.map.spots.insert(pointer.clone(), Spot { key, value: value_pos });
                let mut map = Map::with_capacity(o.properties.len());
                for prop in &o.properties {
                    let (name, range) = match &prop.name {
                        ast::ObjectPropName::String(s) => (s.value.to_string(), s.range),
                        ast::ObjectPropName::Word(w) => (w.value.to_string(), w.range),
                    };
                    let key_pos = self.cursor.at(range.start);
                    let child = pointer_push(&pointer, &name);
                    let v = self.value(&prop.value, child, Some(key_pos));
                    if map.insert(name.clone(), v).is_some() {
                        self.out.diagnostics.push(duplicate_key(&pointer, &name, key_pos));
                    }
                }
                return Value::Object(map);
            }
        };
        self.out.map.spots.insert(pointer, Spot { key, value: value_pos });
        v
    }
}

/// A JSON number kept exactly as written (`serde_json`'s `arbitrary_precision`).
///
/// `Number::from_str` re-spells exponents (`1e5` becomes `1e+5`), which would change the
/// user's file on save; so the text is checked against JSON's number grammar by that parse
/// and then kept verbatim.
pub fn number_from_text(text: &str) -> Option<Number> {
    text.parse::<Number>().ok()?;
    Some(Number::from_string_unchecked(text.to_string()))
}

// ---------------------------------------------------------------------------------------------
// YAML

/// More nodes than this (after alias expansion) is refused, so a "billion laughs" document
/// cannot exhaust memory.
const YAML_NODE_LIMIT: usize = 2_000_000;
const YAML_DEPTH_LIMIT: usize = 512;

pub fn parse_yaml(text: &str) -> Parsed {
    let mut out = Parsed { value: None, map: SourceMap::default(), diagnostics: Vec::new() };
    let mut b = YamlBuilder { stack: Vec::new(), anchors: HashMap::new(), nodes: 0, root: None, documents: 0 };
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => {
                let pos = Position { line: span.start.line() as u32, column: span.start.col() as u32 + 1 };
                if let Err(msg) = b.event(event, pos, &mut out) {
                    out.diagnostics.push(Diagnostic::error(codes::INVALID_YAML, "", msg).at(Some(pos)));
                    return out;
                }
            }
            Err(e) => {
                let m = e.marker();
                let pos = Position { line: m.line() as u32, column: m.col() as u32 + 1 };
                out.diagnostics.push(
                    Diagnostic::error(
                        codes::INVALID_YAML,
                        "",
                        format!("This is not valid YAML: {}. Fix the text at line {}, column {}.", e.info(), pos.line, pos.column),
                    )
                    .at(Some(pos)),
                );
                return out;
            }
        }
    }
    match b.root {
        Some(v) => out.value = Some(v),
        None => out.diagnostics.push(
            Diagnostic::error(
                codes::EMPTY_DOCUMENT,
                "",
                "The document is empty. A state machine is a mapping with \"StartAt\" and \"States\".",
            )
            .at(Some(Position { line: 1, column: 1 })),
        ),
    }
    out
}

enum Frame {
    Seq { items: Vec<Value>, pointer: String, anchor: usize },
    Map { map: Map<String, Value>, pointer: String, anchor: usize, key: Option<(String, Position)> },
}

struct YamlBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    root: Option<Value>,
    documents: usize,
}

impl YamlBuilder {
    /// Pointer and key position for the node that starts now.
    fn child_pointer(&self) -> (String, Option<Position>) {
        match self.stack.last() {
            None => (String::new(), None),
            Some(Frame::Seq { items, pointer, .. }) => (pointer_push(pointer, &items.len().to_string()), None),
            Some(Frame::Map { pointer, key: Some((k, kp)), .. }) => (pointer_push(pointer, k), Some(*kp)),
            Some(Frame::Map { pointer, key: None, .. }) => (pointer.clone(), None),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn event(&mut self, event: Event<'_>, pos: Position, out: &mut Parsed) -> Result<(), String> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err("The file holds more than one YAML document (`---`); a state machine file holds exactly one.".into());
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some((text.to_string(), pos));
                    }
                    return Ok(());
                }
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let v = if style == ScalarStyle::Plain && !forced_string { resolve_plain(&text) } else { Value::String(text.to_string()) };
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                let (ptr, key) = self.child_pointer();
                out.map.spots.insert(ptr, Spot { key, value: pos });
                self.push_value(v, out)?;
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    return Err("An alias (`*name`) cannot be used as a mapping key here.".into());
                }
                let v = self.anchors.get(&id).cloned().ok_or("An alias refers to an anchor that is not defined before it.")?;
                self.nodes += count_nodes(&v);
                if self.nodes > YAML_NODE_LIMIT {
                    return Err("Aliases expand to too many nodes; the document would not fit the 1 MiB definition limit.".into());
                }
                let (ptr, key) = self.child_pointer();
                out.map.spots.insert(ptr, Spot { key, value: pos });
                self.push_value(v, out)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.expecting_key() {
                    return Err("A mapping or sequence cannot be used as a key; keys are plain names.".into());
                }
                if self.stack.len() >= YAML_DEPTH_LIMIT {
                    return Err(format!("The document is nested more than {YAML_DEPTH_LIMIT} levels deep."));
                }
                let (pointer, key) = self.child_pointer();
                out.map.spots.insert(pointer.clone(), Spot { key, value: pos });
                self.stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq { items: Vec::new(), pointer, anchor }
                } else {
                    Frame::Map { map: Map::new(), pointer, anchor, key: None }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (v, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Err("Unbalanced YAML structure.".into()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                self.push_value(v, out)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn push_value(&mut self, v: Value, out: &mut Parsed) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > YAML_NODE_LIMIT {
            return Err("The document has too many nodes.".into());
        }
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq { items, .. }) => items.push(v),
            Some(Frame::Map { map, key, pointer, .. }) => {
                let (k, kp) = key.take().ok_or("A mapping value has no key.")?;
                if map.insert(k.clone(), v).is_some() {
                    out.diagnostics.push(duplicate_key(pointer, &k, kp));
                }
            }
        }
        Ok(())
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Resolves a plain (unquoted) scalar with the YAML 1.2 core schema. Numbers keep their written
/// form when it is already valid JSON; other spellings (`0x1F`, `+1`, `.5`) become the JSON number.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = number_from_text(s) {
        return Value::Number(n);
    }
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    if let Some(hex) = unsigned.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    if let Some(oct) = unsigned.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Number(i.into());
        }
    let looks_numeric = !unsigned.is_empty()
        && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && unsigned.chars().any(|c| c.is_ascii_digit());
    if looks_numeric
        && let Ok(f) = s.parse::<f64>()
            && let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_positions_and_numbers() {
        let p = parse_json("{\n  \"a\": 1.0,\n  \"b\": [true, {\"c\": 1e5}]\n}");
        let v = p.value.unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":1.0,"b":[true,{"c":1e5}]}"#);
        assert_eq!(p.map.get("/a").unwrap().key, Some(Position { line: 2, column: 3 }));
        assert_eq!(p.map.get("/b/1/c").unwrap().value, Position { line: 3, column: 21 });
    }

    #[test]
    fn json_duplicate_key_is_reported() {
        let p = parse_json(r#"{"States": {"A": {}, "A": {}}, "x": 1, "x": 2}"#);
        let codes: Vec<_> = p.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![codes::DUPLICATE_STATE_NAME, codes::DUPLICATE_KEY]);
    }

    #[test]
    fn json_errors_have_positions() {
        let p = parse_json("{\n  \"a\": ,\n}");
        assert!(p.value.is_none());
        assert_eq!(p.diagnostics[0].line, Some(2));
    }

    #[test]
    fn yaml_resolves_like_json() {
        let p = parse_yaml("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {n: 1.50, t: true, z: ~, s: '1'}\n    End: true\n");
        let v = p.value.unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"n":1.50,"t":true,"z":null,"s":"1"},"End":true}}}"#
        );
        assert_eq!(p.map.get("/States/A/Type").unwrap().key, Some(Position { line: 4, column: 5 }));
    }

    #[test]
    fn yaml_duplicates_and_errors() {
        let p = parse_yaml("a: 1\na: 2\n");
        assert_eq!(p.diagnostics[0].code, codes::DUPLICATE_KEY);
        let p = parse_yaml("a: [1, 2\n");
        assert!(p.value.is_none());
        assert_eq!(p.diagnostics[0].code, codes::INVALID_YAML);
    }

    #[test]
    fn yaml_alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let p = parse_yaml(&s);
        assert!(p.value.is_none());
    }
}
