//! JSONPath as AWS Step Functions accepts it (the Jayway dialect).
//!
//! This module owns everything about the JSONPath expressions of a JSONPath-mode state
//! machine: `InputPath`, `OutputPath`, `ResultPath`, `ItemsPath`, the `.$` fields of
//! `Parameters` / `ResultSelector`, Choice `Variable`s and the path arguments of intrinsic
//! functions. It parses a path into a [`JsonPath`], tells whether it is a *Reference Path*
//! (one that names a single node, which `ResultPath` requires), prints a normalized form,
//! and evaluates a path against a state's input, the context object (`$$`) and the
//! variables set by `Assign` (`$name`).
//!
//! # Why a hand-written parser
//!
//! AWS evaluates paths with Jayway JsonPath, the Java library, so Jayway's dialect is what
//! users write and what AWS accepts. No Rust crate implements that dialect: the Rust
//! crates (`serde_json_path` and others) follow RFC 9535, which differs where it matters.
//! RFC 9535 writes filters `[?@.x < 1]`, Jayway needs `[?(@.x < 1)]`; Jayway has
//! `=~ /regex/`, `in`, `nin`, `subsetof`, `anyof`, `noneof`, `size`, `empty` and
//! trailing functions such as `.length()`; it also evaluates differently (below).
//!
//! # Jayway behaviour reproduced here
//!
//! * A *definite* path (only names and single indexes) yields one value, and a missing
//!   field is an error ([`PathError::NotFound`]). Any wildcard, deep scan, union of
//!   indexes, slice or filter makes the path *indefinite*: it yields a list, and anything
//!   missing along the way is skipped.
//! * `['a','b']` as the last segment is definite: it yields one object holding the fields
//!   that exist. Elsewhere it iterates over the fields.
//! * A filter applied to an array tests each element; applied to an object it tests the
//!   object itself.
//! * `==` between a number and a string compares numerically when the string is a number
//!   (`1 == '1'` is true); `<`-style comparisons between a number and a string compare the
//!   number's text with the string. Other mixed types are never equal and never ordered.
//!   Numbers compare exactly, as decimals, whatever their size.
//! * `=~` must match the whole text, as Java's `Matcher.matches()` does.
//! * A slice's step (`[0:10:2]`) is accepted but ignored, as Jayway ignores it. We keep it
//!   in the syntax tree so that a validator can warn about it.
//! * A function at the end applies to the value before it; after an indefinite path it
//!   applies to each value, except after a leading deep scan (`$..price.sum()`), where it
//!   applies to all the values found together.
//!
//! Known differences: regular expressions use the `regex` crate's syntax (close to Java's
//! for what filters use; back-references and look-around are refused with a message);
//! `!(...)` negates its group (Jayway silently ignores a `!` before a parenthesis); `&&`
//! binds tighter than `||` (Jayway has no precedence).
//!
//! Offsets in errors count characters (not bytes) from 0; the messages show them from 1,
//! as "character 5".

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Deepest nesting of parentheses, brackets and literals the parser accepts. A limit keeps
/// a hostile or broken definition from exhausting the stack of the desktop app.
const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    pub root: Root,
    pub segments: Vec<Segment>,
}

/// What a path starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's input (or effective input).
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a variable set by `Assign` (JSONPath mode).
    Variable(String),
    /// `@`: the item being tested, only inside a filter or a function argument.
    Current,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name`, `['name']` or `["name"]`.
    Child(String),
    /// `[0]`, `[-1]` (negative counts from the end).
    Index(i64),
    /// `[(@.length-1)]`: the Goessner script index, counted from the end of the array.
    /// Only the `@.length - N` form is accepted, which is what definitions use it for.
    FromEnd(u64),
    /// `.*` or `[*]`.
    Wildcard,
    /// `..name`, `..*`, `..[0]`, `..[?(...)]`: the inner segment applied at every depth.
    Descendant(Box<Segment>),
    /// `['a','b']` or `[0,1]`: never mixes names and indexes, as Jayway refuses that.
    Union(Vec<UnionItem>),
    /// `[1:3]`, `[:2]`, `[-2:]`, `[0:10:2]`. At least one of start and end is present.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
    },
    /// `[?(...)]`.
    Filter(FilterExpr),
    /// `.length()` and the other Jayway functions; always the last segment.
    Function(FunctionCall),
}

/// One member of a [`Segment::Union`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnionItem {
    Name(String),
    Index(i64),
}

/// A Jayway function call at the end of a path, such as `.length()` or `.concat('x')`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall {
    pub function: PathFunction,
    pub args: Vec<Operand>,
}

/// The functions Jayway offers at the end of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathFunction {
    Min,
    Max,
    Avg,
    Stddev,
    Sum,
    Length,
    Size,
    Keys,
    First,
    Last,
    Index,
    Distinct,
    Concat,
    Append,
}

impl PathFunction {
    pub const ALL: [PathFunction; 14] = [
        PathFunction::Min,
        PathFunction::Max,
        PathFunction::Avg,
        PathFunction::Stddev,
        PathFunction::Sum,
        PathFunction::Length,
        PathFunction::Size,
        PathFunction::Keys,
        PathFunction::First,
        PathFunction::Last,
        PathFunction::Index,
        PathFunction::Distinct,
        PathFunction::Concat,
        PathFunction::Append,
    ];

    /// The name as written before the parentheses.
    pub fn name(self) -> &'static str {
        match self {
            PathFunction::Min => "min",
            PathFunction::Max => "max",
            PathFunction::Avg => "avg",
            PathFunction::Stddev => "stddev",
            PathFunction::Sum => "sum",
            PathFunction::Length => "length",
            PathFunction::Size => "size",
            PathFunction::Keys => "keys",
            PathFunction::First => "first",
            PathFunction::Last => "last",
            PathFunction::Index => "index",
            PathFunction::Distinct => "distinct",
            PathFunction::Concat => "concat",
            PathFunction::Append => "append",
        }
    }

    pub fn from_name(name: &str) -> Option<PathFunction> {
        PathFunction::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How many arguments the function takes: (minimum, maximum or `None` for no limit).
    /// The aggregations take extra numbers, as in Jayway.
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            PathFunction::Min
            | PathFunction::Max
            | PathFunction::Avg
            | PathFunction::Stddev
            | PathFunction::Sum
            | PathFunction::Concat
            | PathFunction::Append => (0, None),
            PathFunction::Length
            | PathFunction::Size
            | PathFunction::Keys
            | PathFunction::First
            | PathFunction::Last
            | PathFunction::Distinct => (0, Some(0)),
            PathFunction::Index => (1, Some(1)),
        }
    }
}

/// The condition inside `[?(...)]`.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    Or(Box<FilterExpr>, Box<FilterExpr>),
    And(Box<FilterExpr>, Box<FilterExpr>),
    /// `!(...)`, or `!@.x` written as `Not(Exists(@.x))`.
    Not(Box<FilterExpr>),
    /// A path on its own, `[?(@.isbn)]`: true when the path exists (even if its value is
    /// `false` or `null`).
    Exists(JsonPath),
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
}

/// A value in a filter comparison or a function argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@.x`, `$.x`, `$$.x` or `$var.x`.
    Path(JsonPath),
    /// `'text'`, `"text"`, `42`, `-1.5`, `true`, `false`, `null`, `[1, 'a']`, `{"a": 1}`.
    Literal(Value),
    /// `/pattern/flags`.
    Regex(RegexLiteral),
}

/// The comparison operators of Jayway filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    /// `===`: equal and of the same JSON type.
    StrictEq,
    /// `!==`.
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`.
    Regex,
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    Contains,
    All,
    Size,
    Empty,
    Exists,
}

impl CompareOp {
    const ALL: [CompareOp; 19] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::StrictEq,
        CompareOp::StrictNe,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Regex,
        CompareOp::In,
        CompareOp::Nin,
        CompareOp::SubsetOf,
        CompareOp::AnyOf,
        CompareOp::NoneOf,
        CompareOp::Contains,
        CompareOp::All,
        CompareOp::Size,
        CompareOp::Empty,
        CompareOp::Exists,
    ];

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::StrictEq => "===",
            CompareOp::StrictNe => "!==",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Regex => "=~",
            CompareOp::In => "in",
            CompareOp::Nin => "nin",
            CompareOp::SubsetOf => "subsetof",
            CompareOp::AnyOf => "anyof",
            CompareOp::NoneOf => "noneof",
            CompareOp::Contains => "contains",
            CompareOp::All => "all",
            CompareOp::Size => "size",
            CompareOp::Empty => "empty",
            CompareOp::Exists => "exists",
        }
    }

    fn from_symbol(s: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// Jayway matches word operators without regard to case.
    fn from_word(s: &str) -> Option<CompareOp> {
        let lower = s.to_ascii_lowercase();
        CompareOp::ALL.into_iter().find(|op| {
            op.as_str().starts_with(|c: char| c.is_ascii_alphabetic()) && op.as_str() == lower
        })
    }
}

/// A regular expression literal, `/pattern/flags`, compiled once when parsed.
#[derive(Debug, Clone)]
pub struct RegexLiteral {
    pattern: String,
    flags: String,
    compiled: regex::Regex,
}

impl RegexLiteral {
    /// Compiles `pattern`, in Java's syntax, with Java's flags: `i`, `m`, `s`, `x`, `d`,
    /// `u` and `U`. The error says, in words, why the pattern cannot be used.
    ///
    /// Compiled with the `regex` crate, whose syntax covers what filters use in practice
    /// (classes, groups, alternation, repetition, anchors) and whose matching time is linear,
    /// so no pattern can hang the app. Java-only constructs (back-references, look-around,
    /// possessive quantifiers) are refused with the crate's explanation.
    pub fn new(pattern: &str, flags: &str) -> Result<RegexLiteral, String> {
        let mut builder = regex::RegexBuilder::new(&format!(r"\A(?:{pattern})\z"));
        for f in flags.chars() {
            match f {
                'i' => builder.case_insensitive(true),
                'm' => builder.multi_line(true),
                's' => builder.dot_matches_new_line(true),
                'x' => builder.ignore_whitespace(true),
                'u' | 'U' | 'd' => &mut builder,
                other => return Err(format!("'{other}' is not a regular expression flag (use i, m, s or x)")),
            };
        }
        let compiled = builder
            .size_limit(1 << 20)
            .build()
            .map_err(|cause| format!("the regular expression /{pattern}/ cannot be used: {cause}"))?;
        Ok(RegexLiteral { pattern: pattern.to_string(), flags: flags.to_string(), compiled })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn flags(&self) -> &str {
        &self.flags
    }

    /// Whole-text match, like Java's `Matcher.matches()`, which Jayway uses.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }
}

impl PartialEq for RegexLiteral {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.flags == other.flags
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Why a path could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text is not a valid path. `offset` is a character index from 0.
    #[error("{reason} (at character {pos})", pos = .offset + 1)]
    Syntax { offset: usize, reason: String },

    /// The path is valid but uses something a Reference Path does not allow.
    #[error(
        "{feature} is not allowed here: this field needs a reference path, which points to exactly one value using only names and indexes, like $.a.b[0] (at character {pos})",
        pos = .offset + 1
    )]
    NotReferencePath {
        offset: usize,
        feature: &'static str,
    },

    /// A definite path found nothing. AWS reports this as `States.Runtime` with the text
    /// "The JSONPath '...' could not be found in the input '...'"; the caller knows the
    /// input and completes the message.
    #[error("The JSONPath '{path}' could not be found")]
    NotFound { path: String },

    /// The path uses a variable that has no value.
    #[error("the variable '${name}' is not defined")]
    UnknownVariable { name: String },

    /// Evaluation failed for another reason, such as `.avg()` of an empty array.
    #[error("cannot evaluate '{path}': {reason}")]
    Evaluation { path: String, reason: String },
}

impl PathError {
    /// Where in the text the problem is, for errors found while parsing.
    pub fn offset(&self) -> Option<usize> {
        match self {
            PathError::Syntax { offset, .. } | PathError::NotReferencePath { offset, .. } => {
                Some(*offset)
            }
            _ => None,
        }
    }
}

fn syntax<T>(offset: usize, reason: impl Into<String>) -> Result<T, PathError> {
    Err(PathError::Syntax {
        offset,
        reason: reason.into(),
    })
}

// ---------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------

/// Parses a "Path": any JSONPath AWS accepts, with wildcards, filters, functions and so on.
/// Trailing whitespace is ignored and leading whitespace is an error, as in AWS (Jayway
/// alone would trim both; AWS checks the start of the text first).
pub fn parse_path(s: &str) -> Result<JsonPath, PathError> {
    parse_with_offsets(s).map(|(path, _)| path)
}

/// Parses a "Reference Path": a path that can only name a single node, made of names and
/// indexes. `ResultPath` also requires [`Root::Input`]; the caller checks the root, since
/// other fields accept `$$` and variables.
pub fn parse_reference_path(s: &str) -> Result<JsonPath, PathError> {
    let (path, offsets) = parse_with_offsets(s)?;
    for (segment, offset) in path.segments.iter().zip(offsets) {
        if let Some(feature) = non_reference_feature(segment) {
            return Err(PathError::NotReferencePath { offset, feature });
        }
    }
    Ok(path)
}

/// Parses a path that starts at `chars[start]` (a `$`) inside a larger text, such as an
/// intrinsic function call, and returns it with the index just past it. Offsets in errors
/// are indexes into `chars`. The caller checks what follows.
pub(crate) fn parse_path_at(chars: &[char], start: usize) -> Result<(JsonPath, usize), PathError> {
    let mut parser = Parser {
        chars,
        pos: start,
        depth: 0,
        last_dot_name: None,
    };
    let (path, _) = parser.path(false)?;
    Ok((path, parser.pos))
}

fn parse_with_offsets(s: &str) -> Result<(JsonPath, Vec<usize>), PathError> {
    let chars: Vec<char> = s.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        pos: 0,
        depth: 0,
        last_dot_name: None,
    };
    parser.skip_ws();
    if parser.peek().is_none() {
        return syntax(0, "the path is empty; a path starts with '$', like $.name");
    }
    if parser.pos > 0 {
        return syntax(0, "a path must start with '$', without spaces before it");
    }
    let (path, offsets) = parser.path(false)?;
    let end = parser.pos;
    parser.skip_ws();
    let Some(c) = parser.peek() else {
        return Ok((path, offsets));
    };
    // A space after a dot-notation name almost always means a name with a space in it.
    if parser.pos > end
        && let Some(name_start) = parser.last_dot_name
    {
        let name: String = chars[name_start..]
            .iter()
            .take_while(|&&c| c != '.' && c != '[')
            .collect();
        let name = name.trim_end();
        return syntax(
            end,
            format!(
                "a name after '.' cannot contain spaces; write it in brackets instead, like ['{}']",
                escape_quoted(name)
            ),
        );
    }
    syntax(
        parser.pos,
        format!(
            "unexpected {} after the end of the path; a path continues only with '.' or '['",
            describe(c)
        ),
    )
}

fn non_reference_feature(segment: &Segment) -> Option<&'static str> {
    match segment {
        Segment::Child(_) | Segment::Index(_) => None,
        Segment::Wildcard => Some("the wildcard '*'"),
        Segment::Descendant(_) => Some("the deep scan '..'"),
        Segment::Union(_) => Some("a list of several names or indexes, like [0,1]"),
        Segment::Slice { .. } => Some("an array slice, like [1:3]"),
        Segment::FromEnd(_) => Some("a script index, like [(@.length-1)]"),
        Segment::Filter(_) => Some("a filter, like [?(@.price < 10)]"),
        Segment::Function(_) => Some("a function call, like .length()"),
    }
}

impl JsonPath {
    /// True when the path is an ASL Reference Path: only names and single indexes, so it
    /// names exactly one node.
    pub fn is_reference_path(&self) -> bool {
        self.segments
            .iter()
            .all(|s| non_reference_feature(s).is_none())
    }

    /// True when evaluation yields a single value rather than a list (Jayway's notion).
    pub fn is_definite(&self) -> bool {
        let (body, function) = split_function(&self.segments);
        if function.is_some() && matches!(body.first(), Some(Segment::Descendant(_))) {
            return true;
        }
        body.iter().enumerate().all(|(i, segment)| match segment {
            Segment::Child(_) | Segment::Index(_) => true,
            Segment::Union(items) => {
                i + 1 == body.len()
                    && function.is_none()
                    && items.iter().all(|it| matches!(it, UnionItem::Name(_)))
            }
            _ => false,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

struct Parser<'c> {
    chars: &'c [char],
    pos: usize,
    depth: usize,
    /// Where the last dot-notation name began, if the last segment was one; used to
    /// explain `$.first name`.
    last_dot_name: Option<usize>,
}

/// Characters that end a dot-notation name. Jayway itself stops only at `.`, `[`, `(` and
/// spaces, but the others are JSONPath punctuation (or filter operators), so a name
/// containing them is almost surely a typo; bracket notation still allows them.
fn is_name_char(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(
            c,
            '.' | '['
                | ']'
                | '('
                | ')'
                | '\''
                | '"'
                | ','
                | '*'
                | '?'
                | '='
                | '<'
                | '>'
                | '!'
                | '~'
                | '&'
                | '|'
        )
}

fn is_variable_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_variable_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\n' | '\r' => "a line break".to_string(),
        c => format!("'{c}'"),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> Result<(), PathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return syntax(
                self.pos,
                format!("the path is nested too deeply (more than {MAX_DEPTH} levels)"),
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A whole path: root then segments. `in_filter` allows `@`.
    fn path(&mut self, in_filter: bool) -> Result<(JsonPath, Vec<usize>), PathError> {
        let root = self.root(in_filter)?;
        let (segments, offsets) = self.segments()?;
        Ok((JsonPath { root, segments }, offsets))
    }

    fn root(&mut self, in_filter: bool) -> Result<Root, PathError> {
        let start = self.pos;
        match self.peek() {
            Some('$') => {
                self.pos += 1;
                match self.peek() {
                    Some('$') => {
                        self.pos += 1;
                        if self.peek() == Some('$') {
                            return syntax(
                                start,
                                "'$$$' is not a path root; use '$' for the input or '$$' for the context object",
                            );
                        }
                        Ok(Root::Context)
                    }
                    Some(c) if is_variable_start(c) => {
                        let name_start = self.pos;
                        while self.peek().is_some_and(is_variable_char) {
                            self.pos += 1;
                        }
                        Ok(Root::Variable(
                            self.chars[name_start..self.pos].iter().collect(),
                        ))
                    }
                    Some(c) if !matches!(c, '.' | '[') && is_name_char(c) => syntax(
                        self.pos,
                        format!(
                            "unexpected {} after '$': use $.name for a field, or $name for a variable (a variable name starts with a letter or '_')",
                            describe(c)
                        ),
                    ),
                    _ => Ok(Root::Input),
                }
            }
            Some('@') if in_filter => {
                self.pos += 1;
                Ok(Root::Current)
            }
            Some('@') => syntax(
                start,
                "'@' means the item being tested and can only be used inside a filter, like [?(@.price < 10)]; a path starts with '$'",
            ),
            Some(c) => syntax(
                start,
                format!(
                    "a path must start with '$', but this one starts with {}",
                    describe(c)
                ),
            ),
            None => syntax(start, "expected a path starting with '$'"),
        }
    }

    fn segments(&mut self) -> Result<(Vec<Segment>, Vec<usize>), PathError> {
        let mut segments = Vec::new();
        let mut offsets = Vec::new();
        loop {
            let start = self.pos;
            if !matches!(self.peek(), Some('.' | '[')) {
                break;
            }
            self.last_dot_name = None;
            let segment = match (self.peek(), self.peek_at(1)) {
                (Some('.'), Some('.')) => {
                    self.pos += 2;
                    self.descendant(start)?
                }
                (Some('.'), _) => {
                    self.pos += 1;
                    self.dot_segment(start)?
                }
                (Some('['), _) => self.bracket()?,
                _ => break,
            };
            if matches!(segments.last(), Some(Segment::Function(_))) {
                return syntax(
                    start,
                    "a function call like .length() must be the last part of a path",
                );
            }
            segments.push(segment);
            offsets.push(start);
        }
        Ok((segments, offsets))
    }

    /// After a single `.`.
    fn dot_segment(&mut self, dot: usize) -> Result<Segment, PathError> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                Ok(Segment::Wildcard)
            }
            // Jayway accepts `$.[0]` and `$.['a']` as if the dot were absent.
            Some('[') => self.bracket(),
            Some(c) if is_name_char(c) => {
                let name_start = self.pos;
                let name = self.name();
                if self.peek() == Some('(') {
                    return self.function_call(name, name_start);
                }
                self.last_dot_name = Some(name_start);
                Ok(Segment::Child(name))
            }
            // `)`, `,` and `]` end an embedded path (in a filter or a function call).
            None | Some(')' | ',' | ']') => syntax(
                dot,
                "a path cannot end with '.'; put a name after it, like $.name",
            ),
            Some(c) if c.is_whitespace() => {
                syntax(self.pos, "a name must follow '.' directly, without spaces")
            }
            Some(c) => syntax(
                self.pos,
                format!(
                    "a name cannot start with {}; write unusual names in brackets, like ['{c}name']",
                    describe(c)
                ),
            ),
        }
    }

    /// After `..`.
    fn descendant(&mut self, dots: usize) -> Result<Segment, PathError> {
        let inner = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('[') => self.bracket()?,
            Some('.') => {
                return syntax(
                    dots,
                    "'...' is not valid; use '..' to search at every depth, like $..name",
                );
            }
            Some(c) if is_name_char(c) => {
                let name = self.name();
                if self.peek() == Some('(') {
                    return syntax(
                        dots,
                        "a function cannot follow '..' directly; write it after a name, like $..price.sum()",
                    );
                }
                Segment::Child(name)
            }
            None | Some(')' | ',' | ']') => {
                return syntax(
                    dots,
                    "a path cannot end with '..'; put a name after it, like $..name",
                );
            }
            Some(c) => {
                return syntax(
                    self.pos,
                    format!(
                        "expected a name, '*' or '[' after '..', but found {}",
                        describe(c)
                    ),
                );
            }
        };
        Ok(Segment::Descendant(Box::new(inner)))
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn function_call(&mut self, name: String, name_start: usize) -> Result<Segment, PathError> {
        let Some(function) = PathFunction::from_name(&name) else {
            let known: Vec<String> = PathFunction::ALL
                .iter()
                .map(|f| format!("{}()", f.name()))
                .collect();
            return syntax(
                name_start,
                format!(
                    "'{name}()' is not a JSONPath function; the functions are {}",
                    known.join(", ")
                ),
            );
        };
        let open = self.pos;
        self.pos += 1;
        self.enter()?;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek().is_none() {
                    return syntax(
                        open,
                        format!("the '(' of {name}() is never closed with ')'"),
                    );
                }
                args.push(self.operand()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    None => {
                        return syntax(
                            open,
                            format!("the '(' of {name}() is never closed with ')'"),
                        );
                    }
                    Some(c) => {
                        return syntax(
                            self.pos,
                            format!(
                                "expected ',' or ')' in the arguments of {name}(), but found {}",
                                describe(c)
                            ),
                        );
                    }
                }
            }
        }
        self.leave();
        let (min, max) = function.arity();
        let got = args.len();
        if got < min || max.is_some_and(|max| got > max) {
            let wanted = match (min, max) {
                (0, Some(0)) => "no arguments".to_string(),
                (1, Some(1)) => "1 argument".to_string(),
                (min, Some(max)) if min == max => format!("{min} arguments"),
                (min, _) => format!("at least {min} arguments"),
            };
            return syntax(name_start, format!("{name}() takes {wanted} but got {got}"));
        }
        Ok(Segment::Function(FunctionCall { function, args }))
    }

    /// A `[...]` segment; `self.pos` is at the `[`.
    fn bracket(&mut self) -> Result<Segment, PathError> {
        let open = self.pos;
        self.pos += 1;
        self.enter()?;
        self.skip_ws();
        let segment = match self.peek() {
            None => return unclosed(open),
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('?') => self.filter()?,
            Some('(') => self.script_index()?,
            Some('\'' | '"') => self.bracket_names()?,
            Some(c) if c == '-' || c == ':' || c.is_ascii_digit() => self.bracket_numbers(open)?,
            Some(']') => {
                return syntax(
                    open,
                    "empty brackets '[]'; put a quoted name, an index, '*' or a filter inside",
                );
            }
            Some(c) => {
                return syntax(
                    self.pos,
                    format!(
                        "unexpected {} after '[': expected a quoted name like ['name'], an index like [0], '*' or a filter like [?(@.x == 1)]",
                        describe(c)
                    ),
                );
            }
        };
        self.skip_ws();
        match self.peek() {
            Some(']') => {
                self.pos += 1;
                self.leave();
                Ok(segment)
            }
            None => unclosed(open),
            Some(c) => syntax(
                self.pos,
                format!(
                    "expected ']' to close the '[' at character {}, but found {}",
                    open + 1,
                    describe(c)
                ),
            ),
        }
    }

    /// `(@.length-N)` inside brackets; `self.pos` is at the `(`.
    fn script_index(&mut self) -> Result<Segment, PathError> {
        const EXPECTED: &str = "a script index has the form [(@.length-1)]";
        let open = self.pos;
        self.pos += 1;
        self.skip_ws();
        for expected in "@.length".chars() {
            if self.peek() != Some(expected) {
                return syntax(self.pos, EXPECTED);
            }
            self.pos += 1;
        }
        self.skip_ws();
        let mut back = 0;
        if self.peek() == Some('-') {
            self.pos += 1;
            self.skip_ws();
            let at = self.pos;
            match self.integer()? {
                Some(n) if n >= 0 => back = n.unsigned_abs(),
                _ => return syntax(at, EXPECTED),
            }
            self.skip_ws();
        }
        if self.peek() != Some(')') {
            return syntax(self.pos, format!("{EXPECTED}; the '(' at character {} is not closed", open + 1));
        }
        self.pos += 1;
        Ok(Segment::FromEnd(back))
    }

    fn bracket_names(&mut self) -> Result<Segment, PathError> {
        let mut names = vec![self.quoted()?];
        loop {
            self.skip_ws();
            if self.peek() != Some(',') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
            match self.peek() {
                Some('\'' | '"') => names.push(self.quoted()?),
                Some(c) if c == '-' || c.is_ascii_digit() => {
                    return syntax(self.pos, "one bracket cannot mix names and indexes");
                }
                _ => return syntax(self.pos, "expected a quoted name after ','"),
            }
        }
        if names.len() == 1 {
            Ok(Segment::Child(names.remove(0)))
        } else {
            Ok(Segment::Union(
                names.into_iter().map(UnionItem::Name).collect(),
            ))
        }
    }

    fn bracket_numbers(&mut self, open: usize) -> Result<Segment, PathError> {
        let first = self.integer()?;
        self.skip_ws();
        match self.peek() {
            Some(':') => {
                self.pos += 1;
                self.skip_ws();
                let end = self.integer()?;
                self.skip_ws();
                let mut step = None;
                if self.peek() == Some(':') {
                    self.pos += 1;
                    self.skip_ws();
                    let step_at = self.pos;
                    step = self.integer()?;
                    if step == Some(0) {
                        return syntax(step_at, "a slice step cannot be 0");
                    }
                }
                if first.is_none() && end.is_none() {
                    return syntax(
                        open,
                        "a slice needs a start or an end, like [1:] or [:2]; use [*] for every item",
                    );
                }
                Ok(Segment::Slice {
                    start: first,
                    end,
                    step,
                })
            }
            Some(',') => {
                let Some(first) = first else {
                    return syntax(self.pos, "expected an index before ','");
                };
                let mut items = vec![UnionItem::Index(first)];
                while self.peek() == Some(',') {
                    self.pos += 1;
                    self.skip_ws();
                    if matches!(self.peek(), Some('\'' | '"')) {
                        return syntax(self.pos, "one bracket cannot mix indexes and names");
                    }
                    let at = self.pos;
                    let Some(index) = self.integer()? else {
                        return syntax(at, "expected an index after ','");
                    };
                    items.push(UnionItem::Index(index));
                    self.skip_ws();
                }
                if self.peek() == Some(':') {
                    return syntax(self.pos, "a list of indexes cannot contain a slice");
                }
                Ok(Segment::Union(items))
            }
            _ => match first {
                Some(index) => Ok(Segment::Index(index)),
                None => syntax(self.pos, "expected an index"),
            },
        }
    }

    /// An optional integer: `None` when no digit and no sign is here.
    fn integer(&mut self) -> Result<Option<i64>, PathError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            if self.pos > start {
                return syntax(start, "expected digits after '-'");
            }
            return Ok(None);
        }
        if self.peek() == Some('.') {
            return syntax(start, "array indexes must be whole numbers");
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<i64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => syntax(start, format!("the index {text} is too large")),
        }
    }

    /// A quoted string with backslash escapes; `self.pos` is at the opening quote.
    fn quoted(&mut self) -> Result<String, PathError> {
        let open = self.pos;
        let Some(quote) = self.peek() else {
            return syntax(open, "expected a quoted string");
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return syntax(open, format!("this quote {quote} is never closed"));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escape_at = self.pos - 1;
            let Some(e) = self.peek() else {
                return syntax(open, format!("this quote {quote} is never closed"));
            };
            self.pos += 1;
            match e {
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => out.push(self.unicode_escape(escape_at)?),
                // An escaped quote of the other kind keeps its backslash: AWS reads
                // `$['a\"b']` as the key `a\"b` (recorded).
                '"' | '\'' if e != quote => {
                    out.push('\\');
                    out.push(e);
                }
                // Jayway keeps the character after any other backslash.
                other => out.push(other),
            }
        }
    }

    /// The `XXXX` of `\uXXXX` (and a second `\uXXXX` for a surrogate pair).
    fn unicode_escape(&mut self, escape_at: usize) -> Result<char, PathError> {
        let first = self.hex4(escape_at)?;
        if (0xD800..0xDC00).contains(&first)
            && self.peek() == Some('\\')
            && self.peek_at(1) == Some('u')
        {
            self.pos += 2;
            let second = self.hex4(escape_at)?;
            let combined =
                0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF);
            if (0xDC00..0xE000).contains(&second)
                && let Some(c) = char::from_u32(combined)
            {
                return Ok(c);
            }
        }
        char::from_u32(first).map_or_else(
            || syntax(escape_at, "this \\u escape is not a valid character"),
            Ok,
        )
    }

    fn hex4(&mut self, escape_at: usize) -> Result<u32, PathError> {
        let mut value = 0;
        for _ in 0..4 {
            let Some(digit) = self.peek().and_then(|c| c.to_digit(16)) else {
                return syntax(
                    escape_at,
                    "a \\u escape needs four hexadecimal digits, like \\u00e9",
                );
            };
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }

    // ----- filters -----

    /// `?(...)`; `self.pos` is at the `?`.
    fn filter(&mut self) -> Result<Segment, PathError> {
        let question = self.pos;
        self.pos += 1;
        self.skip_ws();
        if self.peek() != Some('(') {
            return syntax(
                question,
                "a filter must be written with parentheses, like [?(@.price < 10)]",
            );
        }
        let open = self.pos;
        self.pos += 1;
        let expr = self.filter_or()?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                Ok(Segment::Filter(expr))
            }
            None => syntax(open, "the '(' of this filter is never closed with ')'"),
            Some(c) => syntax(
                self.pos,
                format!(
                    "expected '&&', '||' or ')' in the filter, but found {}",
                    describe(c)
                ),
            ),
        }
    }

    fn filter_or(&mut self) -> Result<FilterExpr, PathError> {
        self.enter()?;
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            match (self.peek(), self.peek_at(1)) {
                (Some('|'), Some('|')) => {
                    self.pos += 2;
                    let right = self.filter_and()?;
                    left = FilterExpr::Or(Box::new(left), Box::new(right));
                }
                (Some('|'), _) => return syntax(self.pos, "use '||' for 'or', not '|'"),
                _ => break,
            }
        }
        self.leave();
        Ok(left)
    }

    fn filter_and(&mut self) -> Result<FilterExpr, PathError> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            match (self.peek(), self.peek_at(1)) {
                (Some('&'), Some('&')) => {
                    self.pos += 2;
                    let right = self.filter_unary()?;
                    left = FilterExpr::And(Box::new(left), Box::new(right));
                }
                (Some('&'), _) => return syntax(self.pos, "use '&&' for 'and', not '&'"),
                _ => break,
            }
        }
        Ok(left)
    }

    fn filter_unary(&mut self) -> Result<FilterExpr, PathError> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            let bang = self.pos;
            self.pos += 1;
            self.skip_ws();
            return match self.peek() {
                Some('(') => Ok(FilterExpr::Not(Box::new(self.filter_primary()?))),
                Some('@' | '$') => {
                    let (path, _) = self.path(true)?;
                    Ok(FilterExpr::Not(Box::new(FilterExpr::Exists(path))))
                }
                _ => syntax(
                    bang,
                    "'!' must be followed by a path, like !@.isbn, or by a condition in parentheses, like !(@.price < 10)",
                ),
            };
        }
        self.filter_primary()
    }

    fn filter_primary(&mut self) -> Result<FilterExpr, PathError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                let expr = self.filter_or()?;
                self.skip_ws();
                match self.peek() {
                    Some(')') => {
                        self.pos += 1;
                        Ok(expr)
                    }
                    None => syntax(open, "this '(' is never closed with ')'"),
                    Some(c) => syntax(
                        self.pos,
                        format!("expected '&&', '||' or ')' but found {}", describe(c)),
                    ),
                }
            }
            None => syntax(
                self.pos,
                "the filter ends too early: expected a condition, like @.price < 10",
            ),
            Some(')') => syntax(
                self.pos,
                "expected a condition, like @.price < 10, before ')'",
            ),
            Some(_) => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<FilterExpr, PathError> {
        let left_at = self.pos;
        let left = self.operand()?;
        self.skip_ws();
        if matches!(self.peek(), None | Some(')' | '&' | '|')) {
            return match left {
                Operand::Path(path) => Ok(FilterExpr::Exists(path)),
                _ => syntax(
                    left_at,
                    "a value on its own is not a condition; compare it, like @.price < 10",
                ),
            };
        }
        let op_at = self.pos;
        let op = self.operator()?;
        self.skip_ws();
        if matches!(self.peek(), None | Some(')' | '&' | '|' | ']')) {
            return syntax(op_at, format!("expected a value after '{}'", op.as_str()));
        }
        let right = self.operand()?;
        Ok(FilterExpr::Compare { left, op, right })
    }

    fn operator(&mut self) -> Result<CompareOp, PathError> {
        let start = self.pos;
        let is_symbol = |c: char| matches!(c, '<' | '>' | '=' | '!' | '~');
        match self.peek() {
            Some(c) if is_symbol(c) => {
                while self.peek().is_some_and(is_symbol) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                if text == "=" {
                    return syntax(
                        start,
                        "use '==' to compare; a single '=' is not an operator",
                    );
                }
                CompareOp::from_symbol(&text)
                    .map_or_else(|| syntax(start, unknown_operator(&text)), Ok)
            }
            Some(c) if c.is_alphabetic() => {
                while self.peek().is_some_and(char::is_alphabetic) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                CompareOp::from_word(&text)
                    .map_or_else(|| syntax(start, unknown_operator(&text)), Ok)
            }
            Some(c) => syntax(
                start,
                format!(
                    "expected a comparison operator like == or <, but found {}",
                    describe(c)
                ),
            ),
            None => syntax(start, "expected a comparison operator like == or <"),
        }
    }

    fn operand(&mut self) -> Result<Operand, PathError> {
        let start = self.pos;
        match self.peek() {
            Some('@' | '$') => Ok(Operand::Path(self.path(true)?.0)),
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                Ok(Operand::Literal(Value::Number(self.number()?)))
            }
            Some('[' | '{') => Ok(Operand::Literal(self.json_literal()?)),
            Some('/') => Ok(Operand::Regex(self.regex()?)),
            Some(c) if c.is_alphabetic() => {
                while self.peek().is_some_and(char::is_alphanumeric) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    // Deployed definitions compare with unquoted words
                    // (`[?(@.OutputKey == FooBar)]`); they are taken as the text they spell.
                    _ => Ok(Operand::Literal(Value::String(word))),
                }
            }
            Some(c) => syntax(
                start,
                format!(
                    "expected a value such as @.name, 'text', 42, true, null, [1, 2] or /regex/, but found {}",
                    describe(c)
                ),
            ),
            None => syntax(
                start,
                "expected a value such as @.name, 'text', 42, true or null",
            ),
        }
    }

    /// A JSON number (as serde_json reads it, so the text is kept exactly).
    fn number(&mut self) -> Result<Number, PathError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<Number>(&text).map_or_else(
            |_| syntax(start, format!("'{text}' is not a valid number")),
            Ok,
        )
    }

    /// `/pattern/flags`; `self.pos` is at the first `/`. A `\/` inside stands for `/`.
    fn regex(&mut self) -> Result<RegexLiteral, PathError> {
        let open = self.pos;
        self.pos += 1;
        let mut pattern = String::new();
        loop {
            match self.peek() {
                None => return syntax(open, "this regular expression is never closed with '/'"),
                Some('/') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('/') => pattern.push('/'),
                        Some(c) => {
                            pattern.push('\\');
                            pattern.push(c);
                        }
                        None => {
                            return syntax(
                                open,
                                "this regular expression is never closed with '/'",
                            );
                        }
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    pattern.push(c);
                    self.pos += 1;
                }
            }
        }
        let flags_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let flags: String = self.chars[flags_start..self.pos].iter().collect();
        RegexLiteral::new(&pattern, &flags).map_or_else(|reason| syntax(open, reason), Ok)
    }

    /// A JSON array or object, leniently: strings may use single quotes, as Jayway's
    /// permissive JSON reader allows (`@.size in ['S', 'M']`).
    fn json_literal(&mut self) -> Result<Value, PathError> {
        self.enter()?;
        let open = self.pos;
        let close = if self.peek() == Some('[') { ']' } else { '}' };
        self.pos += 1;
        let mut items = Vec::new();
        let mut object = Map::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if close == '}' {
                    if !matches!(self.peek(), Some('\'' | '"')) {
                        return syntax(self.pos, "expected a quoted key in this object");
                    }
                    let key = self.quoted()?;
                    self.skip_ws();
                    if self.peek() != Some(':') {
                        return syntax(self.pos, "expected ':' after the key");
                    }
                    self.pos += 1;
                    self.skip_ws();
                    object.insert(key, self.json_value()?);
                } else {
                    items.push(self.json_value()?);
                }
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    None => {
                        return syntax(
                            open,
                            format!("this '{}' is never closed with '{close}'", self.chars[open]),
                        );
                    }
                    Some(c) => {
                        return syntax(
                            self.pos,
                            format!("expected ',' or '{close}' but found {}", describe(c)),
                        );
                    }
                }
            }
        }
        self.leave();
        Ok(if close == ']' {
            Value::Array(items)
        } else {
            Value::Object(object)
        })
    }

    fn json_value(&mut self) -> Result<Value, PathError> {
        match self.operand()? {
            Operand::Literal(value) => Ok(value),
            Operand::Path(_) | Operand::Regex(_) => syntax(
                self.pos,
                "a list or object in a filter can only hold plain values, not paths or regular expressions",
            ),
        }
    }
}

fn unclosed<T>(open: usize) -> Result<T, PathError> {
    syntax(open, "this '[' is never closed with ']'")
}

fn unknown_operator(text: &str) -> String {
    let all: Vec<&str> = CompareOp::ALL.iter().map(|op| op.as_str()).collect();
    format!(
        "'{text}' is not a comparison operator; use one of {}",
        all.join(", ")
    )
}

// ---------------------------------------------------------------------------------------
// Display: a normalized form that parses back to the same tree
// ---------------------------------------------------------------------------------------

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

fn escape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.root {
            Root::Input => f.write_str("$")?,
            Root::Context => f.write_str("$$")?,
            Root::Variable(name) => write!(f, "${name}")?,
            Root::Current => f.write_str("@")?,
        }
        for segment in &self.segments {
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Child(name) if is_plain_name(name) => write!(f, ".{name}"),
            Segment::Child(name) => write!(f, "['{}']", escape_quoted(name)),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::FromEnd(n) => write!(f, "[(@.length-{n})]"),
            Segment::Wildcard => f.write_str("[*]"),
            Segment::Descendant(inner) => match inner.as_ref() {
                Segment::Child(name) if is_plain_name(name) => write!(f, "..{name}"),
                Segment::Wildcard => f.write_str("..*"),
                other => write!(f, "..{other}"),
            },
            Segment::Union(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match item {
                        UnionItem::Name(name) => write!(f, "'{}'", escape_quoted(name))?,
                        UnionItem::Index(index) => write!(f, "{index}")?,
                    }
                }
                f.write_str("]")
            }
            Segment::Slice { start, end, step } => {
                f.write_str("[")?;
                if let Some(start) = start {
                    write!(f, "{start}")?;
                }
                f.write_str(":")?;
                if let Some(end) = end {
                    write!(f, "{end}")?;
                }
                if let Some(step) = step {
                    write!(f, ":{step}")?;
                }
                f.write_str("]")
            }
            Segment::Filter(expr) => write!(f, "[?({expr})]"),
            Segment::Function(call) => {
                write!(f, ".{}(", call.function.name())?;
                for (i, arg) in call.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterExpr::Or(a, b) => write!(f, "{a} || {b}"),
            FilterExpr::And(a, b) => {
                // Parentheses keep an `||` inside an `&&` from changing meaning.
                let side = |f: &mut fmt::Formatter<'_>, e: &FilterExpr| match e {
                    FilterExpr::Or(..) => write!(f, "({e})"),
                    _ => write!(f, "{e}"),
                };
                side(f, a)?;
                f.write_str(" && ")?;
                side(f, b)
            }
            FilterExpr::Not(inner) => match inner.as_ref() {
                FilterExpr::Exists(path) => write!(f, "!{path}"),
                other => write!(f, "!({other})"),
            },
            FilterExpr::Exists(path) => write!(f, "{path}"),
            FilterExpr::Compare { left, op, right } => write!(f, "{left} {} {right}", op.as_str()),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(path) => write!(f, "{path}"),
            Operand::Literal(Value::String(s)) => write!(f, "'{}'", escape_quoted(s)),
            Operand::Literal(value) => write!(f, "{value}"),
            Operand::Regex(re) => write!(f, "/{}/{}", re.pattern.replace('/', "\\/"), re.flags),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// What a path selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// A definite path's value. Owned when computed (a function result, a merged object).
    One(Cow<'a, Value>),
    /// An indefinite path's values, in document order; possibly empty.
    Many(Vec<Cow<'a, Value>>),
}

impl Selection<'_> {
    /// The selection as one JSON value: a list becomes an array, as AWS passes it on.
    pub fn into_value(self) -> Value {
        match self {
            Selection::One(value) => value.into_owned(),
            Selection::Many(values) => {
                Value::Array(values.into_iter().map(Cow::into_owned).collect())
            }
        }
    }
}

/// Where the roots of a path point during one evaluation.
struct Env<'a, 'f> {
    input: &'a Value,
    context: &'a Value,
    vars: &'f dyn Fn(&str) -> Option<&'a Value>,
}

fn split_function(segments: &[Segment]) -> (&[Segment], Option<&FunctionCall>) {
    match segments.split_last() {
        Some((Segment::Function(call), body)) => (body, Some(call)),
        _ => (segments, None),
    }
}

impl JsonPath {
    /// Evaluates the path. `$` is `input`, `$$` is `context`, `$name` asks `vars`.
    ///
    /// A definite path yields [`Selection::One`] or fails with [`PathError::NotFound`];
    /// an indefinite path yields [`Selection::Many`], possibly empty.
    pub fn select<'a>(
        &self,
        input: &'a Value,
        context: &'a Value,
        vars: &dyn Fn(&str) -> Option<&'a Value>,
    ) -> Result<Selection<'a>, PathError> {
        let env = Env {
            input,
            context,
            vars,
        };
        let root = match &self.root {
            // Outside a filter there is no current item; the input is the closest meaning.
            Root::Input | Root::Current => input,
            Root::Context => context,
            Root::Variable(name) => {
                vars(name).ok_or_else(|| PathError::UnknownVariable { name: name.clone() })?
            }
        };
        self.select_from(root, &env)
    }

    fn not_found(&self) -> PathError {
        PathError::NotFound {
            path: self.to_string(),
        }
    }

    fn evaluation_error(&self, reason: impl Into<String>) -> PathError {
        PathError::Evaluation {
            path: self.to_string(),
            reason: reason.into(),
        }
    }

    fn select_from<'a>(
        &self,
        root: &'a Value,
        env: &Env<'a, '_>,
    ) -> Result<Selection<'a>, PathError> {
        let (mut body, function) = split_function(&self.segments);
        // Jayway merges `['a','b']` at the very end into one object.
        let mut merge: Option<Vec<&str>> = None;
        if function.is_none()
            && let Some((Segment::Union(items), rest)) = body.split_last()
        {
            let names: Option<Vec<&str>> = items
                .iter()
                .map(|item| match item {
                    UnionItem::Name(name) => Some(name.as_str()),
                    UnionItem::Index(_) => None,
                })
                .collect();
            if names.is_some() {
                merge = names;
                body = rest;
            }
        }

        let mut nodes = vec![root];
        let mut definite = true;
        for segment in body {
            nodes = self.step(segment, nodes, definite, env)?;
            definite = definite && matches!(segment, Segment::Child(_) | Segment::Index(_));
        }

        if let Some(names) = merge {
            let mut merged = Vec::new();
            for node in nodes {
                match node {
                    Value::Object(map) => {
                        let object: Map<String, Value> = names
                            .iter()
                            .filter_map(|&name| {
                                map.get(name).map(|v| (name.to_string(), v.clone()))
                            })
                            .collect();
                        merged.push(Cow::Owned(Value::Object(object)));
                    }
                    _ if definite => return Err(self.not_found()),
                    _ => {}
                }
            }
            if !definite {
                return Ok(Selection::Many(merged));
            }
            return merged
                .pop()
                .map(Selection::One)
                .ok_or_else(|| self.not_found());
        }

        if let Some(call) = function {
            if matches!(body.first(), Some(Segment::Descendant(_))) {
                // `$..price.sum()`: Jayway applies the function to everything found.
                let value = self.apply_to_scan(call, &nodes, root, env)?;
                return Ok(Selection::One(Cow::Owned(value)));
            }
            if definite {
                let Some(node) = nodes.first() else {
                    return Err(self.not_found());
                };
                return Ok(Selection::One(Cow::Owned(
                    self.apply_function(call, node, env)?,
                )));
            }
            let mut out = Vec::with_capacity(nodes.len());
            for node in nodes {
                out.push(Cow::Owned(self.apply_function(call, node, env)?));
            }
            return Ok(Selection::Many(out));
        }

        if definite {
            nodes
                .first()
                .map(|v| Selection::One(Cow::Borrowed(*v)))
                .ok_or_else(|| self.not_found())
        } else {
            Ok(Selection::Many(
                nodes.into_iter().map(Cow::Borrowed).collect(),
            ))
        }
    }

    /// Applies one segment to every node. With `strict` (a definite path so far), a
    /// missing field or index is an error instead of being skipped.
    fn step<'a>(
        &self,
        segment: &Segment,
        nodes: Vec<&'a Value>,
        strict: bool,
        env: &Env<'a, '_>,
    ) -> Result<Vec<&'a Value>, PathError> {
        let mut out = Vec::new();
        for node in nodes {
            match segment {
                Segment::Child(name) => match node.as_object().and_then(|m| m.get(name)) {
                    Some(value) => out.push(value),
                    None if strict => return Err(self.not_found()),
                    None => {}
                },
                Segment::Index(index) => match node.as_array().and_then(|a| array_index(a, *index))
                {
                    Some(value) => out.push(value),
                    None if strict => return Err(self.not_found()),
                    None => {}
                },
                Segment::FromEnd(back) => {
                    let found = node.as_array().and_then(|a| {
                        let back = usize::try_from(*back).ok()?;
                        a.len().checked_sub(back).and_then(|i| a.get(i))
                    });
                    out.extend(found);
                }
                Segment::Wildcard => push_children(node, &mut out),
                Segment::Union(items) => {
                    for item in items {
                        let found = match item {
                            UnionItem::Name(name) => node.as_object().and_then(|m| m.get(name)),
                            UnionItem::Index(index) => {
                                node.as_array().and_then(|a| array_index(a, *index))
                            }
                        };
                        out.extend(found);
                    }
                }
                Segment::Slice {
                    start,
                    end,
                    step: _,
                } => {
                    if let Some(array) = node.as_array() {
                        let (from, to) = slice_bounds(*start, *end, array.len());
                        out.extend(array.iter().take(to).skip(from));
                    }
                }
                Segment::Filter(expr) => match node {
                    Value::Array(items) => {
                        for item in items {
                            if self.accept(expr, item, env)? {
                                out.push(item);
                            }
                        }
                    }
                    // Not a guard: an object the filter rejects is skipped, not an error below.
                    #[allow(clippy::collapsible_match)]
                    Value::Object(_) => {
                        if self.accept(expr, node, env)? {
                            out.push(node);
                        }
                    }
                    _ if strict => {
                        return Err(self.evaluation_error(format!(
                            "the filter [?({expr})] was applied to {}, but a filter only works on an array or an object",
                            type_name(node)
                        )));
                    }
                    _ => {}
                },
                Segment::Descendant(inner) => {
                    for container in containers_preorder(node) {
                        if let Segment::Filter(expr) = inner.as_ref() {
                            // Jayway's scan tests each container itself against the filter.
                            if self.accept(expr, container, env)? {
                                out.push(container);
                            }
                        } else {
                            out.extend(self.step(inner, vec![container], false, env)?);
                        }
                    }
                }
                Segment::Function(_) => {
                    return Err(
                        self.evaluation_error("a function call must be the last part of a path")
                    );
                }
            }
        }
        Ok(out)
    }

    // ----- filters -----

    fn accept<'a>(
        &self,
        expr: &FilterExpr,
        current: &'a Value,
        env: &Env<'a, '_>,
    ) -> Result<bool, PathError> {
        Ok(match expr {
            FilterExpr::Or(a, b) => {
                self.accept(a, current, env)? || self.accept(b, current, env)?
            }
            FilterExpr::And(a, b) => {
                self.accept(a, current, env)? && self.accept(b, current, env)?
            }
            FilterExpr::Not(inner) => !self.accept(inner, current, env)?,
            FilterExpr::Exists(path) => resolve_path(path, current, env)?.is_some(),
            FilterExpr::Compare { left, op, right } => {
                let left = operand_value(left, current, env)?;
                let right = operand_value(right, current, env)?;
                compare(*op, &left, &right)
            }
        })
    }

    // ----- functions -----

    fn function_args<'a>(
        &self,
        call: &FunctionCall,
        current: &'a Value,
        env: &Env<'a, '_>,
    ) -> Result<Vec<Value>, PathError> {
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            args.push(match arg {
                Operand::Literal(value) => value.clone(),
                Operand::Path(path) => {
                    // Jayway reads argument paths strictly: a missing one is an error.
                    let root = root_value(path, current, env).ok_or_else(|| path.not_found())?;
                    path.select_from(root, env)?.into_value()
                }
                Operand::Regex(_) => {
                    return Err(self.evaluation_error(format!(
                        "{}() cannot take a regular expression",
                        call.function.name()
                    )));
                }
            });
        }
        Ok(args)
    }

    /// `$..x.length()` and friends: the function sees every value the scan found.
    fn apply_to_scan<'a>(
        &self,
        call: &FunctionCall,
        found: &[&'a Value],
        root: &'a Value,
        env: &Env<'a, '_>,
    ) -> Result<Value, PathError> {
        match call.function {
            // Jayway counts the children of everything found.
            PathFunction::Length | PathFunction::Size => {
                let count: usize = found
                    .iter()
                    .map(|v| match v {
                        Value::Array(a) => a.len(),
                        Value::Object(m) => m.len(),
                        _ => 0,
                    })
                    .sum();
                Ok(Value::from(count))
            }
            _ => {
                let all = Value::Array(found.iter().map(|v| (*v).clone()).collect());
                let args = self.function_args(call, root, env)?;
                self.run_function(call.function, &all, args)
            }
        }
    }

    fn apply_function<'a>(
        &self,
        call: &FunctionCall,
        value: &'a Value,
        env: &Env<'a, '_>,
    ) -> Result<Value, PathError> {
        let args = self.function_args(call, value, env)?;
        self.run_function(call.function, value, args)
    }

    fn run_function(
        &self,
        function: PathFunction,
        value: &Value,
        args: Vec<Value>,
    ) -> Result<Value, PathError> {
        let name = function.name();
        match function {
            PathFunction::Min
            | PathFunction::Max
            | PathFunction::Avg
            | PathFunction::Stddev
            | PathFunction::Sum => {
                let mut numbers = Vec::new();
                if let Value::Array(items) = value {
                    numbers.extend(items.iter().filter_map(Value::as_f64));
                }
                for arg in &args {
                    match arg {
                        Value::Array(items) => {
                            numbers.extend(items.iter().filter_map(Value::as_f64))
                        }
                        other => numbers.extend(other.as_f64()),
                    }
                }
                if numbers.is_empty() {
                    return Err(self.evaluation_error(format!(
                        "{name}() needs at least one number, but found none"
                    )));
                }
                let count = numbers.len() as f64;
                let sum: f64 = numbers.iter().sum();
                let result = match function {
                    PathFunction::Min => numbers.iter().copied().fold(f64::INFINITY, f64::min),
                    PathFunction::Max => numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    PathFunction::Avg => sum / count,
                    PathFunction::Sum => sum,
                    _ => {
                        let mean = sum / count;
                        let squares: f64 = numbers.iter().map(|n| n * n).sum();
                        (squares / count - mean * mean).max(0.0).sqrt()
                    }
                };
                // Jayway answers with a Java double, so 3 comes out as 3.0.
                Number::from_f64(result).map(Value::Number).ok_or_else(|| {
                    self.evaluation_error(format!(
                        "{name}() gives a result that is not a finite number"
                    ))
                })
            }
            // Jayway answers null for anything that is neither an array nor an object.
            PathFunction::Length | PathFunction::Size => Ok(match value {
                Value::Array(items) => Value::from(items.len()),
                Value::Object(map) => Value::from(map.len()),
                _ => Value::Null,
            }),
            PathFunction::Keys => Ok(match value {
                Value::Object(map) => {
                    Value::Array(map.keys().map(|k| Value::String(k.clone())).collect())
                }
                _ => Value::Null,
            }),
            PathFunction::First | PathFunction::Last | PathFunction::Index => {
                let Value::Array(items) = value else {
                    return Err(self.evaluation_error(format!(
                        "{name}() needs an array, but found {}",
                        type_name(value)
                    )));
                };
                let index = match function {
                    PathFunction::First => Some(0),
                    PathFunction::Last => Some(-1),
                    _ => args.first().and_then(Value::as_i64),
                };
                let Some(index) = index else {
                    return Err(
                        self.evaluation_error("index() needs a whole number as its argument")
                    );
                };
                array_index(items, index).cloned().ok_or_else(|| {
                    self.evaluation_error(format!(
                        "{name}() found no item at that position in an array of {}",
                        items.len()
                    ))
                })
            }
            PathFunction::Distinct => {
                let Value::Array(items) = value else {
                    return Err(self.evaluation_error(format!(
                        "distinct() needs an array, but found {}",
                        type_name(value)
                    )));
                };
                let mut unique: Vec<Value> = Vec::new();
                for item in items {
                    if !unique.iter().any(|u| json_eq(u, item)) {
                        unique.push(item.clone());
                    }
                }
                Ok(Value::Array(unique))
            }
            PathFunction::Concat => {
                // Jayway joins the strings of an array, then the arguments; other values
                // inside arrays are written as text, other lone values are skipped.
                let mut text = String::new();
                if let Value::Array(items) = value {
                    text.extend(items.iter().filter_map(Value::as_str));
                }
                for arg in &args {
                    match arg {
                        Value::Array(items) => {
                            for item in items {
                                match item {
                                    Value::String(s) => text.push_str(s),
                                    Value::Null => {}
                                    other => text.push_str(&other.to_string()),
                                }
                            }
                        }
                        Value::String(s) => text.push_str(s),
                        _ => {}
                    }
                }
                Ok(Value::String(text))
            }
            PathFunction::Append => Ok(match value {
                Value::Array(items) => {
                    let mut items = items.clone();
                    items.extend(args);
                    Value::Array(items)
                }
                other => other.clone(),
            }),
        }
    }
}

/// A JSON value's kind as messages name it: "null", "a boolean", "a number", "a string",
/// "an array", "an object".
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn array_index(items: &[Value], index: i64) -> Option<&Value> {
    let len = i64::try_from(items.len()).ok()?;
    let position = if index < 0 {
        len.checked_add(index)?
    } else {
        index
    };
    usize::try_from(position).ok().and_then(|p| items.get(p))
}

/// Jayway's slice bounds: negatives count from the end, everything is clamped.
fn slice_bounds(start: Option<i64>, end: Option<i64>, len: usize) -> (usize, usize) {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let clamp = |n: i64| -> usize {
        let n = if n < 0 {
            len_i.saturating_add(n).max(0)
        } else {
            n.min(len_i)
        };
        usize::try_from(n).unwrap_or(0)
    };
    let from = start.map_or(0, clamp);
    let to = end.map_or(len, clamp);
    (from, to.max(from))
}

fn push_children<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    match node {
        Value::Array(items) => out.extend(items.iter()),
        Value::Object(map) => out.extend(map.values()),
        _ => {}
    }
}

/// `node` and every array or object below it, parents before children, in document
/// order. Iterative, so deep documents cannot exhaust the stack.
fn containers_preorder(node: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(current) = stack.pop() {
        if !(current.is_array() || current.is_object()) {
            continue;
        }
        out.push(current);
        let mut children = Vec::new();
        push_children(current, &mut children);
        stack.extend(children.into_iter().rev());
    }
    out
}

fn root_value<'a>(path: &JsonPath, current: &'a Value, env: &Env<'a, '_>) -> Option<&'a Value> {
    match &path.root {
        Root::Current => Some(current),
        Root::Input => Some(env.input),
        Root::Context => Some(env.context),
        Root::Variable(name) => (env.vars)(name),
    }
}

/// A path inside a filter: its value, or `None` when it finds nothing (Jayway's
/// "undefined"). An indefinite path gives the array of what it found.
fn resolve_path<'a>(
    path: &JsonPath,
    current: &'a Value,
    env: &Env<'a, '_>,
) -> Result<Option<Cow<'a, Value>>, PathError> {
    let Some(root) = root_value(path, current, env) else {
        return Ok(None);
    };
    match path.select_from(root, env) {
        Ok(Selection::One(value)) => Ok(Some(value)),
        Ok(many) => Ok(Some(Cow::Owned(many.into_value()))),
        Err(PathError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// A filter operand once evaluated.
enum Opv<'x> {
    Undefined,
    Value(Cow<'x, Value>),
    Regex(&'x RegexLiteral),
}

fn operand_value<'a: 'x, 'x>(
    operand: &'x Operand,
    current: &'a Value,
    env: &Env<'a, '_>,
) -> Result<Opv<'x>, PathError> {
    Ok(match operand {
        Operand::Literal(value) => Opv::Value(Cow::Borrowed(value)),
        Operand::Regex(re) => Opv::Regex(re),
        Operand::Path(path) => match resolve_path(path, current, env)? {
            Some(value) => Opv::Value(value),
            None => Opv::Undefined,
        },
    })
}

fn compare(op: CompareOp, left: &Opv<'_>, right: &Opv<'_>) -> bool {
    if op == CompareOp::Regex {
        return match (left, right) {
            (Opv::Regex(re), Opv::Value(v)) | (Opv::Value(v), Opv::Regex(re)) => {
                regex_matches(re, v)
            }
            (Opv::Regex(re), Opv::Undefined) | (Opv::Undefined, Opv::Regex(re)) => re.is_match(""),
            _ => false,
        };
    }
    if op == CompareOp::Exists {
        let exists = !matches!(left, Opv::Undefined);
        return matches!(right, Opv::Value(v) if v.as_bool() == Some(exists));
    }
    // The negations are true even when a side is missing, as in Jayway.
    match op {
        CompareOp::Ne => return !compare(CompareOp::Eq, left, right),
        CompareOp::StrictNe => return !compare(CompareOp::StrictEq, left, right),
        CompareOp::Nin => return !compare(CompareOp::In, left, right),
        _ => {}
    }
    let (Opv::Value(l), Opv::Value(r)) = (left, right) else {
        return false;
    };
    let (l, r) = (l.as_ref(), r.as_ref());
    match op {
        CompareOp::Eq => loose_eq(l, r),
        CompareOp::StrictEq => same_type(l, r) && json_eq(l, r),
        CompareOp::Lt => order(l, r) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(l, r), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => order(l, r) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(order(l, r), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::In => r
            .as_array()
            .is_some_and(|items| items.iter().any(|i| loose_eq(l, i))),
        CompareOp::SubsetOf => match (l.as_array(), r.as_array()) {
            (Some(ls), Some(rs)) => ls.iter().all(|x| rs.iter().any(|y| loose_eq(x, y))),
            _ => false,
        },
        CompareOp::AnyOf => match (l.as_array(), r.as_array()) {
            (Some(ls), Some(rs)) => ls.iter().any(|x| rs.iter().any(|y| loose_eq(x, y))),
            _ => false,
        },
        CompareOp::NoneOf => match (l.as_array(), r.as_array()) {
            (Some(ls), Some(rs)) => !ls.iter().any(|x| rs.iter().any(|y| loose_eq(x, y))),
            _ => false,
        },
        CompareOp::Contains => match (l, r) {
            (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
            (Value::Array(items), _) => items.iter().any(|i| loose_eq(i, r)),
            _ => false,
        },
        CompareOp::All => match (l.as_array(), r.as_array()) {
            (Some(ls), Some(rs)) => rs.iter().all(|y| ls.iter().any(|x| loose_eq(x, y))),
            _ => false,
        },
        CompareOp::Size => {
            let size = match l {
                Value::String(s) => s.chars().count(),
                Value::Array(items) => items.len(),
                _ => return false,
            };
            r.as_u64()
                .is_some_and(|n| usize::try_from(n).is_ok_and(|n| n == size))
        }
        CompareOp::Empty => {
            let empty = match l {
                Value::String(s) => s.is_empty(),
                Value::Array(items) => items.is_empty(),
                Value::Object(map) => map.is_empty(),
                _ => return false,
            };
            r.as_bool() == Some(empty)
        }
        // Handled above.
        CompareOp::Ne
        | CompareOp::StrictNe
        | CompareOp::Nin
        | CompareOp::Regex
        | CompareOp::Exists => false,
    }
}

fn regex_matches(re: &RegexLiteral, value: &Value) -> bool {
    match value {
        // Jayway matches an array when any of its items matches.
        Value::Array(items) => items.iter().any(|item| re.is_match(&regex_input(item))),
        other => re.is_match(&regex_input(other)),
    }
}

/// The text Jayway matches: strings and numbers as written, booleans as words, anything
/// else as the empty string.
fn regex_input(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Jayway's `==`: like [`json_eq`], except that a number equals a string holding the same
/// number.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            match (Decimal::parse(&n.to_string()), Decimal::parse(s.trim())) {
                (Some(x), Some(y)) => x.cmp(&y) == Ordering::Equal,
                _ => false,
            }
        }
        _ => json_eq(a, b),
    }
}

/// Structural equality where numbers are equal by value (`1`, `1.0` and `1e0` are equal).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Jayway's ordering for `<`, `<=`, `>`, `>=`.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        // Jayway compares the number's text with the string.
        (Value::Number(x), Value::String(y)) => Some(x.to_string().as_str().cmp(y.as_str())),
        (Value::String(x), Value::Number(y)) => Some(x.as_str().cmp(y.to_string().as_str())),
        _ => None,
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    // With arbitrary_precision the text is the number as written, so compare it exactly.
    match (
        Decimal::parse(&a.to_string()),
        Decimal::parse(&b.to_string()),
    ) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// An exact decimal, enough to compare numbers of any size the way Java's
/// `BigDecimal.compareTo` does: value = 0.d1d2d3... × 10^point.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Significant digits, without leading or trailing zeros; empty means zero.
    digits: Vec<u8>,
    point: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut point = i64::try_from(int_part.len()).ok()?.checked_add(exponent)?;
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        point = point.checked_sub(i64::try_from(leading).ok()?)?;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                point: 0,
            });
        }
        Some(Decimal {
            negative,
            digits,
            point,
        })
    }

    fn sign(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.sign().cmp(&other.sign());
        if by_sign != Ordering::Equal || self.sign() == 0 {
            return by_sign;
        }
        let magnitude = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn child(name: &str) -> Segment {
        Segment::Child(name.to_string())
    }

    fn input(segments: Vec<Segment>) -> JsonPath {
        JsonPath {
            root: Root::Input,
            segments,
        }
    }

    /// Paths AWS accepts, each with the normalized form it prints as.
    const ACCEPTED: &[(&str, &str)] = &[
        ("$", "$"),
        ("$$", "$$"),
        ("$.a", "$.a"),
        ("$.Payload", "$.Payload"),
        ("$.detail.object.key", "$.detail.object.key"),
        ("$.a-b", "$.a-b"),
        ("$.a_b", "$.a_b"),
        ("$.a:b", "$.a:b"),
        ("$.@type", "$.@type"),
        ("$.a$b", "$.a$b"),
        ("$.café", "$.café"),
        ("$.名前", "$.名前"),
        ("$.0", "$.0"),
        ("$['my key']", "$['my key']"),
        ("$[\"my key\"]", "$['my key']"),
        ("$['a']", "$.a"),
        ("$['it\\'s']", "$['it\\'s']"),
        ("$['a.b']", "$['a.b']"),
        ("$['']", "$['']"),
        ("$.items[0].name", "$.items[0].name"),
        ("$.items[-1]", "$.items[-1]"),
        ("$[0]", "$[0]"),
        ("$.a[ 2 ]", "$.a[2]"),
        ("$.*", "$[*]"),
        ("$[*]", "$[*]"),
        ("$.a.*.b", "$.a[*].b"),
        ("$.a[*].b", "$.a[*].b"),
        ("$..book", "$..book"),
        ("$..book[0]", "$..book[0]"),
        ("$..*", "$..*"),
        ("$..[0]", "$..[0]"),
        ("$..['a b']", "$..['a b']"),
        ("$.a[0,1]", "$.a[0,1]"),
        ("$.a[0, -1]", "$.a[0,-1]"),
        ("$['a','b']", "$['a','b']"),
        ("$[ 'a' , \"b\" ]", "$['a','b']"),
        ("$.a[1:3]", "$.a[1:3]"),
        ("$.a[:2]", "$.a[:2]"),
        ("$.a[-2:]", "$.a[-2:]"),
        ("$.a[1:]", "$.a[1:]"),
        ("$.a[0:10:2]", "$.a[0:10:2]"),
        ("$.a[?(@.x == 1)]", "$.a[?(@.x == 1)]"),
        ("$.a[?(@.price < 10)]", "$.a[?(@.price < 10)]"),
        ("$.a[?(@.price<10)]", "$.a[?(@.price < 10)]"),
        ("$.a[?(@.isbn)]", "$.a[?(@.isbn)]"),
        ("$.a[?(!@.isbn)]", "$.a[?(!@.isbn)]"),
        (
            "$.a[?(@.a == 'x' && @.b > 2)]",
            "$.a[?(@.a == 'x' && @.b > 2)]",
        ),
        (
            "$.a[?(@.a == \"x\" || @.b >= -2.5)]",
            "$.a[?(@.a == 'x' || @.b >= -2.5)]",
        ),
        ("$.a[?((@.a || @.b) && @.c)]", "$.a[?((@.a || @.b) && @.c)]"),
        ("$.a[?(!(@.x == 1))]", "$.a[?(!(@.x == 1))]"),
        ("$.a[?(@.name =~ /^J.*/i)]", "$.a[?(@.name =~ /^J.*/i)]"),
        ("$.a[?(@.path =~ /a\\/b/)]", "$.a[?(@.path =~ /a\\/b/)]"),
        (
            "$.a[?(@.size in ['S', 'M'])]",
            "$.a[?(@.size in [\"S\",\"M\"])]",
        ),
        ("$.a[?(@.size nin [1, 2])]", "$.a[?(@.size nin [1,2])]"),
        (
            "$.a[?(@.tags subsetof ['x'])]",
            "$.a[?(@.tags subsetof [\"x\"])]",
        ),
        ("$.a[?(@.tags anyOf ['x'])]", "$.a[?(@.tags anyof [\"x\"])]"),
        ("$.a[?(@.tags size 2)]", "$.a[?(@.tags size 2)]"),
        ("$.a[?(@.tags empty false)]", "$.a[?(@.tags empty false)]"),
        ("$.a[?(@.x != null)]", "$.a[?(@.x != null)]"),
        ("$.a[?(@.x === true)]", "$.a[?(@.x === true)]"),
        ("$.a[?(@.x == $.limit)]", "$.a[?(@.x == $.limit)]"),
        ("$.a[?(@.x == $max)]", "$.a[?(@.x == $max)]"),
        (
            "$.a[?(@.items.length() > 2)]",
            "$.a[?(@.items.length() > 2)]",
        ),
        ("$.a[?(@['my key'] == 1)]", "$.a[?(@['my key'] == 1)]"),
        ("$.a[?(@ > 3)]", "$.a[?(@ > 3)]"),
        ("$.a[ ?( @.x ) ]", "$.a[?(@.x)]"),
        ("$.a.length()", "$.a.length()"),
        ("$..price.sum()", "$..price.sum()"),
        ("$.a.concat('x', $.b)", "$.a.concat('x', $.b)"),
        ("$.a.index(-1)", "$.a.index(-1)"),
        ("$$.Execution.Id", "$$.Execution.Id"),
        ("$$.Map.Item.Value", "$$.Map.Item.Value"),
        ("$myVar", "$myVar"),
        ("$myVar.field[0]", "$myVar.field[0]"),
        ("$_x", "$_x"),
        ("$.[0]", "$[0]"),
        ("$.a  ", "$.a"),
    ];

    /// Paths AWS rejects, each with a fragment of our message and the offset reported.
    const REJECTED: &[(&str, &str, usize)] = &[
        ("", "empty", 0),
        ("   ", "empty", 0),
        ("  $.a", "without spaces before it", 0),
        ("a.b", "must start with '$'", 0),
        ("@.a", "inside a filter", 0),
        ("$.", "cannot end with '.'", 1),
        ("$..", "cannot end with '..'", 1),
        ("$.a.", "cannot end with '.'", 3),
        ("$...a", "'...'", 1),
        ("$[", "never closed", 1),
        ("$.a[", "never closed", 3),
        ("$.a[0", "never closed", 3),
        ("$.a[0}", "expected ']'", 5),
        ("$.a b", "cannot contain spaces", 3),
        ("$.first name.x", "['first name']", 7),
        ("$a b", "after the end of the path", 3),
        ("$.a]", "after the end of the path", 3),
        ("$$$", "'$$$'", 0),
        ("$1", "after '$'", 1),
        ("$['abc", "never closed", 2),
        ("$['a'", "never closed", 1),
        ("$[]", "empty brackets", 1),
        ("$[abc]", "after '['", 2),
        ("$.a[1:2:0]", "step cannot be 0", 8),
        ("$.a[:]", "needs a start or an end", 3),
        ("$.a[1.5]", "whole numbers", 4),
        ("$.a[0,'b']", "mix", 6),
        ("$.a[-]", "digits after '-'", 4),
        ("$.a[99999999999999999999]", "too large", 4),
        ("$.a[?(@.x ==)]", "expected a value after '=='", 10),
        ("$.a[?(@.x = 1)]", "'=='", 10),
        ("$.a[?(@.x <> 1)]", "not a comparison operator", 10),
        ("$.a[?(@.x like 1)]", "not a comparison operator", 10),
        ("$.a[?@.x == 1]", "with parentheses", 4),
        ("$.a[?]", "with parentheses", 4),
        ("$.a[?(@.x == 1]", "expected '&&', '||' or ')'", 14),
        ("$.a[?(@.x == 1 & @.y)]", "'&&'", 15),
        ("$.a[?(@.x == 'abc)]", "never closed", 13),
        ("$.a[?(@.x =~ /abc)]", "never closed", 13),
        ("$.a[?(@.x =~ /(/)]", "cannot be used", 13),
        ("$.a[?(@.x =~ /a/q)]", "not a regular expression flag", 13),
        ("$.a[?(1)]", "not a condition", 6),
        ("$.a[?()]", "expected a condition", 6),
        ("$.a.size2()", "not a JSONPath function", 4),
        ("$.a.length(1)", "takes no arguments", 4),
        ("$.a.index()", "takes 1 argument", 4),
        ("$.a.length().b", "must be the last", 12),
        ("$..length()", "cannot follow '..'", 1),
        ("$.length(", "never closed", 8),
        ("$.a(", "not a JSONPath function", 2),
    ];

    #[test]
    fn accepted_paths_parse_and_print_normalized() {
        for (text, normalized) in ACCEPTED {
            let path = parse_path(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
            assert_eq!(&path.to_string(), normalized, "display of {text:?}");
            let again = parse_path(normalized)
                .unwrap_or_else(|e| panic!("{normalized:?} should reparse: {e}"));
            assert_eq!(again, path, "round trip of {text:?}");
        }
    }

    #[test]
    fn rejected_paths_say_what_and_where() {
        for (text, fragment, offset) in REJECTED {
            let err = parse_path(text).expect_err(&format!("{text:?} should be rejected"));
            let message = err.to_string();
            assert!(
                message.contains(fragment),
                "{text:?}: {message:?} should mention {fragment:?}"
            );
            assert_eq!(err.offset(), Some(*offset), "{text:?}: {message}");
            assert!(
                message.contains(&format!("character {}", offset + 1)),
                "{text:?}: {message}"
            );
        }
    }

    #[test]
    fn parses_into_the_expected_tree() {
        assert_eq!(
            parse_path("$.items[0]['my key']").unwrap(),
            input(vec![child("items"), Segment::Index(0), child("my key")])
        );
        assert_eq!(
            parse_path("$$.Execution.Id").unwrap(),
            JsonPath {
                root: Root::Context,
                segments: vec![child("Execution"), child("Id")]
            }
        );
        assert_eq!(
            parse_path("$myVar.field").unwrap(),
            JsonPath {
                root: Root::Variable("myVar".into()),
                segments: vec![child("field")]
            }
        );
        assert_eq!(
            parse_path("$..book[0]").unwrap(),
            input(vec![
                Segment::Descendant(Box::new(child("book"))),
                Segment::Index(0)
            ])
        );
        assert_eq!(
            parse_path("$.a[-2:]").unwrap(),
            input(vec![
                child("a"),
                Segment::Slice {
                    start: Some(-2),
                    end: None,
                    step: None
                }
            ])
        );
        assert_eq!(
            parse_path("$['a','b']").unwrap(),
            input(vec![Segment::Union(vec![
                UnionItem::Name("a".into()),
                UnionItem::Name("b".into())
            ])])
        );
        let filter = parse_path("$.a[?(@.a == 'x' && @.b > 2 || !@.c)]").unwrap();
        let Segment::Filter(FilterExpr::Or(and, not)) = &filter.segments[1] else {
            panic!("expected || at the top: {filter:?}");
        };
        assert!(matches!(and.as_ref(), FilterExpr::And(..)));
        assert!(
            matches!(not.as_ref(), FilterExpr::Not(inner) if matches!(inner.as_ref(), FilterExpr::Exists(_)))
        );
        assert_eq!(
            parse_path("$['\\u00e9\\n']").unwrap(),
            input(vec![child("é\n")])
        );
        assert_eq!(
            parse_path("$['\\ud83d\\ude00']").unwrap(),
            input(vec![child("😀")])
        );
    }

    #[test]
    fn reference_paths() {
        for ok in [
            "$",
            "$.a",
            "$.a.b[0]",
            "$['my key'][-1]",
            "$$.Execution.Id",
            "$var.x",
        ] {
            let path = parse_reference_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(path.is_reference_path(), "{ok}");
        }
        let rejected = [
            ("$.a[*]", "wildcard", 3),
            ("$.*", "wildcard", 1),
            ("$..a", "deep scan", 1),
            ("$.a[0,1]", "several names or indexes", 3),
            ("$['a','b']", "several names or indexes", 1),
            ("$.a[1:2]", "slice", 3),
            ("$.a[?(@.x)]", "filter", 3),
            ("$.a.length()", "function", 3),
        ];
        for (text, fragment, offset) in rejected {
            let err = parse_reference_path(text).expect_err(text);
            assert!(err.to_string().contains(fragment), "{text}: {err}");
            assert!(err.to_string().contains("reference path"), "{text}: {err}");
            assert_eq!(err.offset(), Some(offset), "{text}: {err}");
            assert!(!parse_path(text).unwrap().is_reference_path(), "{text}");
        }
        // Syntax errors come through unchanged.
        assert!(matches!(
            parse_reference_path("$.a b"),
            Err(PathError::Syntax { .. })
        ));
    }

    #[test]
    fn definiteness() {
        for (text, definite) in [
            ("$.a.b[0]", true),
            ("$['a','b']", true),
            ("$['a','b'].c", false),
            ("$.a[*]", false),
            ("$.a.length()", true),
            ("$..a.length()", true),
            ("$.a[*].length()", false),
            ("$.a[0,1]", false),
        ] {
            assert_eq!(parse_path(text).unwrap().is_definite(), definite, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("$.a[?({}@.x{})]", "(".repeat(500), ")".repeat(500));
        let err = parse_path(&deep).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }

    // ----- evaluation -----

    fn store() -> Value {
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 19.95}
            },
            "expensive": 10,
            "my key": "spaced",
            "nothing": null
        })
    }

    fn eval(path: &str, doc: &Value) -> Result<Value, PathError> {
        let context = json!({"Execution": {"Id": "arn:exec"}});
        let limit = json!(9);
        let vars = |name: &str| if name == "limit" { Some(&limit) } else { None };
        parse_path(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .select(doc, &context, &vars)
            .map(Selection::into_value)
    }

    #[test]
    fn evaluates_like_jayway() {
        let doc = store();
        let cases: Vec<(&str, Value)> = vec![
            ("$.expensive", json!(10)),
            ("$['my key']", json!("spaced")),
            ("$.nothing", json!(null)),
            ("$.store.book[0].author", json!("Nigel Rees")),
            ("$.store.book[-1].title", json!("The Lord of the Rings")),
            (
                "$.store.book[*].author",
                json!([
                    "Nigel Rees",
                    "Evelyn Waugh",
                    "Herman Melville",
                    "J. R. R. Tolkien"
                ]),
            ),
            (
                "$..author",
                json!([
                    "Nigel Rees",
                    "Evelyn Waugh",
                    "Herman Melville",
                    "J. R. R. Tolkien"
                ]),
            ),
            (
                "$.store.*",
                json!([doc["store"]["book"], doc["store"]["bicycle"]]),
            ),
            ("$.store..price", json!([8.95, 12.99, 8.99, 22.99, 19.95])),
            ("$..book[2].title", json!(["Moby Dick"])),
            ("$..book[-1:].title", json!(["The Lord of the Rings"])),
            (
                "$..book[0,1].title",
                json!(["Sayings of the Century", "Sword of Honour"]),
            ),
            (
                "$..book[:2].title",
                json!(["Sayings of the Century", "Sword of Honour"]),
            ),
            (
                "$.store.book[1:3].title",
                json!(["Sword of Honour", "Moby Dick"]),
            ),
            (
                "$.store.book[0:4:2].title",
                json!([
                    "Sayings of the Century",
                    "Sword of Honour",
                    "Moby Dick",
                    "The Lord of the Rings"
                ]),
            ),
            (
                "$.store.book[-10:1].title",
                json!(["Sayings of the Century"]),
            ),
            (
                "$..book[?(@.isbn)].title",
                json!(["Moby Dick", "The Lord of the Rings"]),
            ),
            (
                "$..book[?(!@.isbn)].title",
                json!(["Sayings of the Century", "Sword of Honour"]),
            ),
            (
                "$.store.book[?(@.price < 10)].title",
                json!(["Sayings of the Century", "Moby Dick"]),
            ),
            (
                "$.store.book[?(@.price < $.expensive)].title",
                json!(["Sayings of the Century", "Moby Dick"]),
            ),
            (
                "$.store.book[?(@.price < $limit)].title",
                json!(["Sayings of the Century", "Moby Dick"]),
            ),
            (
                "$.store.book[?(@.category == 'fiction' && @.price > 10)].title",
                json!(["Sword of Honour", "The Lord of the Rings"]),
            ),
            (
                "$.store.book[?(@.price > 20 || @.price < 9)].price",
                json!([8.95, 8.99, 22.99]),
            ),
            (
                "$.store.book[?(!(@.category == 'fiction'))].title",
                json!(["Sayings of the Century"]),
            ),
            (
                "$.store.book[?(@.author =~ /.*REES/i)].title",
                json!(["Sayings of the Century"]),
            ),
            ("$.store.book[?(@.author =~ /REES/i)].title", json!([])),
            (
                "$.store.book[?(@.category in ['reference', 'poetry'])].title",
                json!(["Sayings of the Century"]),
            ),
            (
                "$.store.book[?(@.category nin ['fiction'])].title",
                json!(["Sayings of the Century"]),
            ),
            (
                "$.store.book[?(@.missing != 1)].price",
                json!([8.95, 12.99, 8.99, 22.99]),
            ),
            ("$.store.book[?(@.missing == 1)]", json!([])),
            ("$.store.bicycle[?(@.color == 'red')].price", json!([19.95])),
            ("$.store.bicycle[?(@.color == 'blue')]", json!([])),
            ("$..[?(@.color)].price", json!([19.95])),
            (
                "$['expensive','my key','absent']",
                json!({"expensive": 10, "my key": "spaced"}),
            ),
            ("$.store.book.length()", json!(4)),
            ("$.store.bicycle.length()", json!(2)),
            ("$.expensive.length()", json!(null)),
            ("$..book.length()", json!(4)),
            ("$..price.sum()", json!(73.87)),
            ("$..price.min()", json!(8.95)),
            ("$..price.max()", json!(22.99)),
            (
                "$.store.book[*].title.length()",
                json!([null, null, null, null]),
            ),
            ("$.store.bicycle.keys()", json!(["color", "price"])),
            ("$.store.book.first()", doc["store"]["book"][0].clone()),
        ];
        for (path, expected) in cases {
            assert_eq!(
                eval(path, &doc).unwrap_or_else(|e| panic!("{path}: {e}")),
                expected,
                "{path}"
            );
        }
    }

    #[test]
    fn functions() {
        let doc = json!({"n": [1, 2, 3, 4], "s": ["a", "b"], "e": [], "o": {"x": 1}, "dup": [1, 1.0, "1", 2]});
        let cases = [
            ("$.n.sum()", json!(10.0)),
            ("$.n.avg()", json!(2.5)),
            ("$.n.min()", json!(1.0)),
            ("$.n.max()", json!(4.0)),
            ("$.n.sum(10)", json!(20.0)),
            ("$.n.stddev()", json!(1.118033988749895)),
            ("$.n.length()", json!(4)),
            ("$.n.size()", json!(4)),
            ("$.n.first()", json!(1)),
            ("$.n.last()", json!(4)),
            ("$.n.index(1)", json!(2)),
            ("$.n.index(-2)", json!(3)),
            ("$.s.concat('c', 'd')", json!("abcd")),
            ("$.s.append('c')", json!(["a", "b", "c"])),
            ("$.dup.distinct()", json!([1, "1", 2])),
            ("$.o.keys()", json!(["x"])),
            ("$.n.sum($.n)", json!(20.0)),
        ];
        for (path, expected) in cases {
            assert_eq!(
                eval(path, &doc).unwrap_or_else(|e| panic!("{path}: {e}")),
                expected,
                "{path}"
            );
        }
        // A double prints like one, as AWS's output would.
        assert_eq!(eval("$.n.sum()", &doc).unwrap().to_string(), "10.0");
        for (path, fragment) in [
            ("$.e.avg()", "at least one number"),
            ("$.e.first()", "no item"),
            ("$.o.first()", "needs an array"),
        ] {
            let err = eval(path, &doc).unwrap_err();
            assert!(
                matches!(err, PathError::Evaluation { .. }),
                "{path}: {err:?}"
            );
            assert!(err.to_string().contains(fragment), "{path}: {err}");
        }
    }

    #[test]
    fn missing_things_on_definite_paths_are_not_found() {
        let doc = store();
        for path in [
            "$.x",
            "$.store.book[10]",
            "$.store.book[-10]",
            "$.store.book.author",
            "$.expensive.x",
            "$.nothing.x",
            "$.store[0]",
        ] {
            assert_eq!(
                eval(path, &doc),
                Err(PathError::NotFound {
                    path: parse_path(path).unwrap().to_string()
                }),
                "{path}"
            );
        }
        let err = eval("$.x", &doc).unwrap_err();
        assert_eq!(err.to_string(), "The JSONPath '$.x' could not be found");
        // Indefinite paths skip what is missing instead.
        assert_eq!(
            eval("$.store.book[*].isbn", &doc).unwrap(),
            json!(["0-553-21311-3", "0-395-19395-8"])
        );
        assert_eq!(
            eval("$.x[*]", &doc),
            Err(PathError::NotFound {
                path: "$.x[*]".into()
            })
        );
        assert_eq!(eval("$.expensive[*]", &doc).unwrap(), json!([]));
        // A filter on a plain value is an error on a definite path.
        assert!(matches!(
            eval("$.expensive[?(@ > 1)]", &doc),
            Err(PathError::Evaluation { .. })
        ));
    }

    #[test]
    fn roots_and_variables() {
        let doc = store();
        assert_eq!(eval("$$.Execution.Id", &doc).unwrap(), json!("arn:exec"));
        assert_eq!(eval("$limit", &doc).unwrap(), json!(9));
        assert_eq!(
            eval("$other", &doc),
            Err(PathError::UnknownVariable {
                name: "other".into()
            })
        );
        assert_eq!(eval("$", &doc).unwrap(), doc);
        let selection = parse_path("$.store.bicycle")
            .unwrap()
            .select(&doc, &Value::Null, &|_| None)
            .unwrap();
        assert!(
            matches!(selection, Selection::One(Cow::Borrowed(_))),
            "definite paths borrow"
        );
    }

    #[test]
    fn filter_comparisons() {
        let doc = json!({"items": [
            {"v": 1}, {"v": 1.0}, {"v": "1"}, {"v": "1.0"}, {"v": 2}, {"v": "b"}, {"v": true},
            {"v": null}, {"v": [1, 2]}, {"v": {"k": 1}}, {"v": 100000000000000000000001_u128}, {}
        ]});
        let count = |filter: &str| -> usize {
            let path = format!("$.items[?({filter})]");
            match eval(&path, &doc).unwrap_or_else(|e| panic!("{path}: {e}")) {
                Value::Array(items) => items.len(),
                other => panic!("{path}: {other}"),
            }
        };
        assert_eq!(count("@.v == 1"), 4, "1, 1.0 and the strings '1' and '1.0'");
        assert_eq!(count("@.v === 1"), 2, "only the numbers");
        assert_eq!(count("@.v == '1'"), 3, "'1', and the numbers 1 and 1.0");
        assert_eq!(count("@.v != 1"), 8, "includes the item without v");
        assert_eq!(
            count("@.v > 1"),
            4,
            "2, the big number, and as text '1.0' and 'b'"
        );
        assert_eq!(count("@.v >= 1"), 7);
        assert_eq!(
            count("@.v > 100000000000000000000000"),
            2,
            "the big number exactly, and 'b' as text"
        );
        assert_eq!(count("@.v == null"), 1);
        assert_eq!(count("@.v == true"), 1);
        assert_eq!(count("@.v == [1, 2.0]"), 1);
        assert_eq!(count("@.v == {'k': 1}"), 1);
        assert_eq!(count("@.v"), 11, "existence, even for null");
        assert_eq!(count("@.v size 2"), 1);
        assert_eq!(count("@.v contains 2"), 1);
        assert_eq!(count("@.v subsetof [1, 2, 3]"), 1);
        assert_eq!(count("@.v anyof [2, 5]"), 1);
        assert_eq!(count("@.v noneof [5]"), 1);
        assert_eq!(count("@.v all [2]"), 1);
        assert_eq!(
            count("@.v empty false"),
            5,
            "'1', '1.0', 'b', [1, 2] and {{k: 1}}"
        );
    }

    #[test]
    fn regex_matches_whole_text() {
        let doc = json!({"a": [{"n": "abc"}, {"n": "xabcx"}, {"n": 123}, {"n": ["zz", "abc"]}]});
        assert_eq!(
            eval("$.a[?(@.n =~ /abc/)]", &doc)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(
            eval("$.a[?(@.n =~ /.*abc.*/)]", &doc)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert_eq!(
            eval("$.a[?(@.n =~ /\\d+/)]", &doc)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            eval("$.a[?(@.n =~ /ABC/i)]", &doc)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn filter_regular_expressions() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("a.c", "", "abc", true),
            ("a.c", "", "abcd", false),
            ("[0-9]+", "", "2024", true),
            ("ab|cd", "", "cd", true),
            ("ABC", "i", "abc", true),
            ("(?:x)*?y", "", "xxy", true),
            ("\\d{4}-\\d\\d", "", "2024-05", true),
            ("\\p{Lu}\\p{Ll}+", "", "Ölaf", true),
            (".*", "", "", true),
        ];
        for (pattern, flags, text, expected) in cases {
            let re = RegexLiteral::new(pattern, flags).unwrap_or_else(|e| panic!("/{pattern}/{flags}: {e}"));
            assert_eq!(re.is_match(text), *expected, "/{pattern}/{flags} on {text:?}");
        }
        for bad in ["(", "[a", "\\1", "(?<=a)b", "a{1000000000}"] {
            assert!(RegexLiteral::new(bad, "").is_err(), "/{bad}/ is refused");
        }
        assert!(RegexLiteral::new("a", "q").is_err(), "unknown flag");
    }

    #[test]
    fn pathological_regex_stays_fast() {
        // Exponential for a backtracking engine; linear in the text for this one.
        let re = RegexLiteral::new("(a*)*b", "").unwrap();
        let text = format!("{}c", "a".repeat(20_000));
        let started = std::time::Instant::now();
        assert!(!re.is_match(&text));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn decimals_compare_exactly() {
        let cmp = |a: &str, b: &str| Decimal::parse(a).unwrap().cmp(&Decimal::parse(b).unwrap());
        assert_eq!(cmp("1", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1e2", "100"), Ordering::Equal);
        assert_eq!(cmp("0.00", "-0"), Ordering::Equal);
        assert_eq!(cmp("-1", "0"), Ordering::Less);
        assert_eq!(cmp("-2", "-1.5"), Ordering::Less);
        assert_eq!(cmp("0.1", "0.09"), Ordering::Greater);
        assert_eq!(
            cmp("12345678901234567890123", "12345678901234567890124"),
            Ordering::Less
        );
        assert_eq!(cmp("1E-3", "0.001"), Ordering::Equal);
        assert!(Decimal::parse("abc").is_none());
        assert!(Decimal::parse(".").is_none());
    }

    #[test]
    fn script_index_counts_from_the_end() {
        let doc = json!({"a": [1, 2, 3]});
        assert_eq!(eval("$.a[(@.length-1)]", &doc).unwrap(), json!([3]));
        assert_eq!(eval("$.a[( @.length - 3 )]", &doc).unwrap(), json!([1]));
        assert_eq!(eval("$.a[(@.length-4)]", &doc).unwrap(), json!([]));
        assert_eq!(parse_path("$.a[(@.length-2)]").unwrap().to_string(), "$.a[(@.length-2)]");
        assert!(!parse_path("$.a[(@.length-1)]").unwrap().is_reference_path());
        assert!(parse_path("$.a[(@.size-1)]").is_err());
        assert!(parse_path("$.a[(@.length-1]").is_err());
    }
}
