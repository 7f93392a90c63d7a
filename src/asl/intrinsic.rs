//! The syntax of the 18 `States.*` intrinsic functions of JSONPath-mode state machines.
//!
//! This module owns reading a call such as `States.Format('Hello {}', $.name)` into a
//! [`Call`], checking what can be checked without running it (the function exists, the
//! number of arguments, the `States.Format` template is a string literal, the
//! `States.JsonMerge` flag is `false`), printing it back, and the string-literal helpers
//! the engine needs (escapes, `{}` placeholders). Running the functions is the engine's
//! business; path arguments are parsed by [`super::path`].
//!
//! The grammar, as the ASL specification and AWS's documentation give it: a call is
//! `States.Name(arg, arg, ...)`; an argument is a string in single quotes, a number,
//! `true`, `false`, `null`, a path starting with `$` (`$.x`, `$$.Execution.Id`, `$var`)
//! or another call. Inside a string, `'`, `{`, `}` and `\` are written with a backslash
//! before them; any other backslash is an error. Whitespace may surround arguments and
//! follow the call, but not precede it: AWS ignores trailing blanks, not leading ones.
//!
//! Why a hand-written parser: the arguments embed JSONPath, which AWS evaluates with
//! Jayway JsonPath; no Rust crate implements that dialect (`serde_json_path` follows
//! RFC 9535, whose filter syntax and more differ), so [`super::path`] parses it by hand
//! and this parser hands it each `$` argument.
//!
//! Offsets in errors count characters (not bytes) from 0; the messages show them from 1.

use std::fmt;

use serde_json::Number;

use super::path::{self, JsonPath, PathError};

/// How deeply calls may nest, so that a broken definition cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub function: Function,
    pub args: Vec<Arg>,
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A single-quoted string, holding the text between the quotes exactly as written,
    /// escapes included: `States.Format` must tell an escaped `\{` from a `{}`
    /// placeholder. Use [`unescape`] for the string's value.
    String(String),
    /// A number, kept as written.
    Number(Number),
    Bool(bool),
    Null,
    Path(JsonPath),
    Call(Box<Call>),
}

/// The intrinsic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    pub const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    /// The full name, such as `States.Format`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    /// Looks up a full name such as `States.Format`; names are case-sensitive, as in AWS.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The number of arguments: (minimum, maximum or `None` for no limit).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            // The seed is optional.
            Function::MathRandom => (2, Some(3)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
        }
    }

    /// A case-insensitive match, for "did you mean" hints: `states.format`, `Format`.
    fn suggest(name: &str) -> Option<Function> {
        let short = name.rsplit('.').next().unwrap_or(name);
        Function::ALL.into_iter().find(|f| {
            f.name().eq_ignore_ascii_case(name)
                || f.name()
                    .trim_start_matches("States.")
                    .eq_ignore_ascii_case(short)
        })
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an intrinsic function call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrinsicError {
    /// The text is malformed. `offset` is a character index from 0.
    #[error("{reason} (at character {pos})", pos = .offset + 1)]
    Syntax { offset: usize, reason: String },

    /// The name is not one of the 18 functions.
    #[error(
        "'{name}' is not an intrinsic function{hint}; it must be one of {all} (at character {pos})",
        hint = did_you_mean(*.suggestion),
        all = all_names(),
        pos = .offset + 1
    )]
    UnknownFunction {
        offset: usize,
        name: String,
        suggestion: Option<Function>,
    },

    /// The call has too few or too many arguments; `offset` is where the name starts.
    #[error("{function} takes {wanted} but got {got} (at character {pos})", wanted = wanted_args(*.function), pos = .offset + 1)]
    Arity {
        offset: usize,
        function: Function,
        got: usize,
    },

    /// An argument that can never be right, such as a `States.Format` template that is
    /// not a string literal.
    #[error("{reason} (at character {pos})", pos = .offset + 1)]
    Argument { offset: usize, reason: String },

    /// A path argument is malformed; its offset counts from the start of the whole call.
    #[error(transparent)]
    Path(#[from] PathError),
}

impl IntrinsicError {
    /// Where in the text the problem is.
    pub fn offset(&self) -> Option<usize> {
        match self {
            IntrinsicError::Syntax { offset, .. }
            | IntrinsicError::UnknownFunction { offset, .. }
            | IntrinsicError::Arity { offset, .. }
            | IntrinsicError::Argument { offset, .. } => Some(*offset),
            IntrinsicError::Path(e) => e.offset(),
        }
    }
}

fn did_you_mean(suggestion: Option<Function>) -> String {
    suggestion
        .map(|f| format!(" (did you mean {f}?)"))
        .unwrap_or_default()
}

fn all_names() -> String {
    Function::ALL.map(Function::name).join(", ")
}

fn wanted_args(function: Function) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    match function.arity() {
        (0, Some(0)) => "no arguments".to_string(),
        (min, Some(max)) if min == max => format!("{min} {}", plural(min)),
        (min, Some(max)) if max == min + 1 => format!("{min} or {max} arguments"),
        (min, Some(max)) => format!("{min} to {max} arguments"),
        (min, None) => format!("at least {min} {}", plural(min)),
    }
}

fn syntax<T>(offset: usize, reason: impl Into<String>) -> Result<T, IntrinsicError> {
    Err(IntrinsicError::Syntax {
        offset,
        reason: reason.into(),
    })
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\n' | '\r' => "a line break".to_string(),
        c => format!("'{c}'"),
    }
}

// ---------------------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------------------

/// Parses an intrinsic function call, such as the value of a `.$` field.
pub fn parse_intrinsic(s: &str) -> Result<Call, IntrinsicError> {
    let chars: Vec<char> = s.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    if parser.peek().is_none() {
        return syntax(
            0,
            "the text is empty; an intrinsic function looks like States.Format('Hello {}', $.name)",
        );
    }
    if parser.pos > 0 {
        return syntax(
            0,
            "an intrinsic function call must start with 'States.', without spaces before it",
        );
    }
    let call = parser.call()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(call),
        Some(')') => syntax(parser.pos, "there is one ')' too many"),
        Some(c) => syntax(
            parser.pos,
            format!(
                "unexpected {} after the closing ')' of {}; nothing may follow the call",
                describe(c),
                call.function
            ),
        ),
    }
}

/// Whether a `.$` value is meant as a function call rather than a path: `States.`, a
/// name, then `(`. Only the shape is checked, so that a misspelt call still reaches
/// [`parse_intrinsic`] and gets a precise error instead of a confusing path error.
pub fn looks_like_intrinsic(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("States.") else {
        return false;
    };
    let name_len = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .count();
    name_len > 0 && rest[name_len..].trim_start().starts_with('(')
}

/// The number of `{}` placeholders in a `States.Format` template, written as between the
/// quotes (see [`Arg::String`]). Escaped braces (`\{`, `\}`) are not placeholders.
pub fn format_placeholder_count(template: &str) -> usize {
    split_format_template(template).len() - 1
}

/// The literal pieces of a `States.Format` template around its `{}` placeholders, with
/// escapes resolved: `'a {} b \{c\}'` gives `["a ", " b {c}"]`. There is always one more
/// piece than there are placeholders, so the engine interleaves pieces and values.
pub fn split_format_template(template: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    push_last(&mut pieces, escaped);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.push(String::new());
            }
            c => push_last(&mut pieces, c),
        }
    }
    pieces
}

fn push_last(pieces: &mut [String], c: char) {
    if let Some(last) = pieces.last_mut() {
        last.push(c);
    }
}

/// The value of a string literal written as between the quotes: each `\x` becomes `x`.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

struct Parser<'c> {
    chars: &'c [char],
    pos: usize,
    depth: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// `States.Name(args)`; `self.pos` is at the name.
    fn call(&mut self) -> Result<Call, IntrinsicError> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        let name = self.text(start, self.pos);
        if name.is_empty() {
            if self.peek() == Some('$') {
                return syntax(
                    start,
                    "this is a path, not an intrinsic function call like States.Format('Hello {}', $.name)",
                );
            }
            return syntax(
                start,
                "expected an intrinsic function, like States.Format('Hello {}', $.name)",
            );
        }
        let Some(function) = Function::from_name(&name) else {
            return Err(IntrinsicError::UnknownFunction {
                offset: start,
                suggestion: Function::suggest(&name),
                name,
            });
        };
        self.skip_ws();
        match self.peek() {
            Some('(') => {}
            Some(c) => {
                return syntax(
                    self.pos,
                    format!("expected '(' after {function}, but found {}", describe(c)),
                );
            }
            None => return syntax(self.pos, format!("expected '(' after {function}")),
        }
        let open = self.pos;
        self.pos += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return syntax(
                start,
                format!("the calls are nested too deeply (more than {MAX_DEPTH} levels)"),
            );
        }

        let mut args = Vec::new();
        let mut offsets = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                match self.peek() {
                    None => {
                        return syntax(
                            open,
                            format!("the '(' of {function} is never closed with ')'"),
                        );
                    }
                    Some(')') => return syntax(self.pos, "expected an argument after ','"),
                    Some(',') => return syntax(self.pos, "expected an argument before ','"),
                    Some(_) => {}
                }
                offsets.push(self.pos);
                args.push(self.arg()?);
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
                            format!("the '(' of {function} is never closed with ')'"),
                        );
                    }
                    Some(c) => {
                        return syntax(
                            self.pos,
                            format!(
                                "expected ',' or ')' after argument {} of {function}, but found {}",
                                args.len(),
                                describe(c)
                            ),
                        );
                    }
                }
            }
        }
        self.depth -= 1;

        let (min, max) = function.arity();
        if args.len() < min || max.is_some_and(|max| args.len() > max) {
            return Err(IntrinsicError::Arity {
                offset: start,
                function,
                got: args.len(),
            });
        }
        check_arguments(function, &args, &offsets)?;
        Ok(Call { function, args })
    }

    fn arg(&mut self) -> Result<Arg, IntrinsicError> {
        let start = self.pos;
        match self.peek() {
            Some('\'') => self.string().map(Arg::String),
            Some('"') => syntax(
                start,
                "strings in intrinsic functions use single quotes, like 'text'",
            ),
            Some('$') => {
                let (path, end) = path::parse_path_at(self.chars, start)?;
                self.pos = end;
                Ok(Arg::Path(path))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number().map(Arg::Number),
            Some(c) if c.is_ascii_alphabetic() => {
                while self.peek().is_some_and(is_name_char) {
                    self.pos += 1;
                }
                let word = self.text(start, self.pos);
                let after_word = self.pos;
                self.skip_ws();
                let is_call = self.peek() == Some('(') || word.contains('.');
                self.pos = after_word;
                match word.as_str() {
                    "true" => Ok(Arg::Bool(true)),
                    "false" => Ok(Arg::Bool(false)),
                    "null" => Ok(Arg::Null),
                    _ if is_call => {
                        self.pos = start;
                        Ok(Arg::Call(Box::new(self.call()?)))
                    }
                    _ => syntax(
                        start,
                        format!(
                            "'{word}' is not a value; quote text like '{word}', or start a path with $"
                        ),
                    ),
                }
            }
            Some(c) => syntax(
                start,
                format!(
                    "expected an argument: a 'string', a number, true, false, null, a path starting with $ or a States function, but found {}",
                    describe(c)
                ),
            ),
            None => syntax(start, "expected an argument"),
        }
    }

    /// A single-quoted string; returns the text between the quotes as written.
    fn string(&mut self) -> Result<String, IntrinsicError> {
        let open = self.pos;
        self.pos += 1;
        let content = self.pos;
        loop {
            match self.peek() {
                None => return syntax(open, "this string is never closed with a quote '"),
                Some('\'') => {
                    let raw = self.text(content, self.pos);
                    self.pos += 1;
                    return Ok(raw);
                }
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some('\'' | '{' | '}' | '\\') => self.pos += 2,
                    None => return syntax(open, "this string is never closed with a quote '"),
                    Some(c) => {
                        return syntax(
                            self.pos,
                            format!(
                                "'\\{c}' is not an escape: in a string only \\' \\{{ \\}} and \\\\ are escapes (write a backslash as \\\\)"
                            ),
                        );
                    }
                },
                Some(_) => self.pos += 1,
            }
        }
    }

    /// A JSON number, kept as written.
    fn number(&mut self) -> Result<Number, IntrinsicError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text = self.text(start, self.pos);
        serde_json::from_str::<Number>(&text).map_or_else(
            |_| syntax(start, format!("'{text}' is not a valid number")),
            Ok,
        )
    }
}

/// Checks that hold whatever the input: the rest depends on values known only at run time.
fn check_arguments(
    function: Function,
    args: &[Arg],
    offsets: &[usize],
) -> Result<(), IntrinsicError> {
    match function {
        // AWS accepts the template from a path too (recorded: `States.Format($.template, ...)`),
        // so only literals of the wrong kind are refused here.
        Function::Format => match args.first() {
            Some(Arg::Number(_) | Arg::Bool(_) | Arg::Null) => Err(IntrinsicError::Argument {
                offset: offsets.first().copied().unwrap_or_default(),
                reason: "the first argument of States.Format is the template: a string in single quotes, like 'Hello {}', or a path to one".to_string(),
            }),
            _ => Ok(()),
        },
        Function::MathAdd | Function::MathRandom | Function::ArrayRange => literal_kinds(function, args, offsets, "a number", |a| matches!(a, Arg::Number(_))),
        Function::Base64Encode | Function::Base64Decode | Function::StringToJson | Function::StringSplit | Function::Hash => {
            literal_kinds(function, args, offsets, "a string", |a| matches!(a, Arg::String(_)))
        }
        Function::JsonMerge => match args.get(2) {
            // A path or a call is only known at run time.
            Some(Arg::Bool(false) | Arg::Path(_) | Arg::Call(_)) | None => Ok(()),
            Some(_) => Err(IntrinsicError::Argument {
                offset: offsets.get(2).copied().unwrap_or_default(),
                reason: "States.JsonMerge only supports a shallow merge, so its third argument must be false".to_string(),
            }),
        },
        _ => Ok(()),
    }
}

/// Literal arguments must be of the kind the function computes with; paths and nested calls
/// are only known at run time.
fn literal_kinds(
    function: Function,
    args: &[Arg],
    offsets: &[usize],
    kind: &str,
    ok: impl Fn(&Arg) -> bool,
) -> Result<(), IntrinsicError> {
    for (i, arg) in args.iter().enumerate() {
        if !matches!(arg, Arg::Path(_) | Arg::Call(_)) && !ok(arg) {
            return Err(IntrinsicError::Argument {
                offset: offsets.get(i).copied().unwrap_or_default(),
                reason: format!("argument {} of {} must be {kind} (or a path to one), not {arg}", i + 1, function.name()),
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.function)?;
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{arg}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::String(raw) => write!(f, "'{raw}'"),
            Arg::Number(n) => write!(f, "{n}"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Null => f.write_str("null"),
            Arg::Path(p) => write!(f, "{p}"),
            Arg::Call(c) => write!(f, "{c}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::path::{Root, Segment, parse_path};
    use super::*;

    fn string(raw: &str) -> Arg {
        Arg::String(raw.to_string())
    }

    fn num(text: &str) -> Arg {
        Arg::Number(text.parse().unwrap())
    }

    fn path(text: &str) -> Arg {
        Arg::Path(parse_path(text).unwrap())
    }

    /// Valid calls, with the normalized form each prints as.
    const VALID: &[(&str, &str)] = &[
        (
            "States.Format('Hello {}', $.name)",
            "States.Format('Hello {}', $.name)",
        ),
        (
            "States.Format('{}', States.ArrayLength($.a))",
            "States.Format('{}', States.ArrayLength($.a))",
        ),
        (
            "States.Format('it\\'s {}', $.x)",
            "States.Format('it\\'s {}', $.x)",
        ),
        (
            "States.Format('\\{literal\\} {}', $$.Execution.Id)",
            "States.Format('\\{literal\\} {}', $$.Execution.Id)",
        ),
        (
            "States.Format('no placeholders')",
            "States.Format('no placeholders')",
        ),
        (
            "States.Format('{} {}', $myVar, $myVar.field[0])",
            "States.Format('{} {}', $myVar, $myVar.field[0])",
        ),
        ("States.StringToJson($.s)", "States.StringToJson($.s)"),
        ("States.JsonToString($)", "States.JsonToString($)"),
        ("States.Array()", "States.Array()"),
        ("States.Array( )", "States.Array()"),
        (
            "States.Array(1, 'two', true, false, null, $.x)",
            "States.Array(1, 'two', true, false, null, $.x)",
        ),
        (
            "States.ArrayPartition($.list, 4)",
            "States.ArrayPartition($.list, 4)",
        ),
        (
            "States.ArrayContains($.list, $.item)",
            "States.ArrayContains($.list, $.item)",
        ),
        ("States.ArrayRange(1, 9, 2)", "States.ArrayRange(1, 9, 2)"),
        (
            "States.ArrayRange(-10, 10.5, 1e1)",
            "States.ArrayRange(-10, 10.5, 1e+1)",
        ),
        (
            "States.ArrayGetItem($.list, $.index)",
            "States.ArrayGetItem($.list, $.index)",
        ),
        ("States.ArrayLength($.list)", "States.ArrayLength($.list)"),
        ("States.ArrayUnique($.list)", "States.ArrayUnique($.list)"),
        (
            "States.Base64Encode($.input)",
            "States.Base64Encode($.input)",
        ),
        (
            "States.Base64Decode('RGF0YQ==')",
            "States.Base64Decode('RGF0YQ==')",
        ),
        (
            "States.Hash($.Data, 'SHA-1')",
            "States.Hash($.Data, 'SHA-1')",
        ),
        (
            "States.JsonMerge($.a, $.b, false)",
            "States.JsonMerge($.a, $.b, false)",
        ),
        (
            "States.JsonMerge($.a, $.b, $.deep)",
            "States.JsonMerge($.a, $.b, $.deep)",
        ),
        (
            "States.MathRandom($.start, $.end)",
            "States.MathRandom($.start, $.end)",
        ),
        (
            "States.MathRandom(1, 999, 7)",
            "States.MathRandom(1, 999, 7)",
        ),
        (
            "States.MathAdd($.value1, -1)",
            "States.MathAdd($.value1, -1)",
        ),
        ("States.MathAdd(-0.5, 0)", "States.MathAdd(-0.5, 0)"),
        (
            "States.StringSplit($.inputString, ',')",
            "States.StringSplit($.inputString, ',')",
        ),
        (
            "States.StringSplit('a\\\\b', '\\\\')",
            "States.StringSplit('a\\\\b', '\\\\')",
        ),
        ("States.UUID()", "States.UUID()"),
        ("States.UUID ( )  ", "States.UUID()"),
        ("States.Format( '{}' ,\n\t$.a )", "States.Format('{}', $.a)"),
        (
            "States.Array($['a,b'], $.list[?(@.x == 1)], $.a[0,1])",
            "States.Array($['a,b'], $.list[?(@.x == 1)], $.a[0,1])",
        ),
        ("States.Array($.a.length())", "States.Array($.a.length())"),
        (
            "States.Format('{}', States.Format('{}', States.Array(States.UUID())))",
            "States.Format('{}', States.Format('{}', States.Array(States.UUID())))",
        ),
        ("States.Format('')", "States.Format('')"),
    ];

    /// Invalid calls, with a fragment of the message and the offset it reports.
    const INVALID: &[(&str, &str, usize)] = &[
        ("", "empty", 0),
        (" States.UUID()", "without spaces before it", 0),
        (
            "States.Foo($.a)",
            "'States.Foo' is not an intrinsic function; it must be one of States.Format,",
            0,
        ),
        ("States.format('x')", "did you mean States.Format?", 0),
        ("Format('x')", "did you mean States.Format?", 0),
        ("States.Uuid()", "did you mean States.UUID?", 0),
        (
            "States.ArrayRange(1, 2)",
            "States.ArrayRange takes 3 arguments but got 2",
            0,
        ),
        (
            "States.UUID(1)",
            "States.UUID takes no arguments but got 1",
            0,
        ),
        (
            "States.ArrayLength()",
            "States.ArrayLength takes 1 argument but got 0",
            0,
        ),
        (
            "States.MathRandom(1)",
            "States.MathRandom takes 2 or 3 arguments but got 1",
            0,
        ),
        (
            "States.MathRandom(1, 2, 3, 4)",
            "takes 2 or 3 arguments but got 4",
            0,
        ),
        (
            "States.Format()",
            "States.Format takes at least 1 argument but got 0",
            0,
        ),
        (
            "States.Array(States.MathAdd(1))",
            "States.MathAdd takes 2 arguments but got 1",
            13,
        ),
        ("States.Format(1)", "is the template", 14),
        ("States.MathAdd(1, '-1')", "argument 2 of States.MathAdd must be a number", 18),
        ("States.Base64Encode(5)", "must be a string", 20),
        ("States.JsonMerge($.a, $.b, true)", "must be false", 27),
        ("States.JsonMerge($.a, $.b, 'false')", "must be false", 27),
        ("States.Format('x'", "never closed", 13),
        ("States.Format('x', $.a", "never closed", 13),
        ("States.Format('x))", "never closed", 14),
        ("States.Format('x'))", "one ')' too many", 18),
        ("States.Format('x') garbage", "nothing may follow", 19),
        ("States.Format('x') States.UUID()", "nothing may follow", 19),
        ("States.Format", "expected '(' after States.Format", 13),
        (
            "States.Format x",
            "expected '(' after States.Format, but found 'x'",
            14,
        ),
        ("States.Array(1,)", "expected an argument after ','", 15),
        ("States.Array(,1)", "expected an argument before ','", 13),
        (
            "States.Array(1 2)",
            "expected ',' or ')' after argument 1 of States.Array, but found '2'",
            15,
        ),
        ("States.Array(\"x\")", "single quotes", 13),
        ("States.Array(abc)", "'abc' is not a value", 13),
        ("States.Array('a\\nb')", "'\\n' is not an escape", 15),
        ("States.Array('abc\\')", "never closed", 13),
        ("States.Array(01)", "'01' is not a valid number", 13),
        ("States.Array(1.)", "'1.' is not a valid number", 13),
        ("States.Array(-)", "'-' is not a valid number", 13),
        ("States.Array(@)", "expected an argument", 13),
        ("States.Array($.)", "cannot end with '.'", 14),
        ("States.Array($.a b)", "found 'b'", 17),
        ("States.Array($.a[)", "after '['", 17),
        ("States.Array($.a[0)", "expected ']'", 18),
        ("States.Array($$$)", "'$$$'", 13),
        ("$.a", "not an intrinsic function call", 0),
    ];

    #[test]
    fn valid_calls_parse_and_print_normalized() {
        for (text, normalized) in VALID {
            let call =
                parse_intrinsic(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
            assert_eq!(&call.to_string(), normalized, "display of {text:?}");
            assert_eq!(
                parse_intrinsic(normalized).unwrap(),
                call,
                "round trip of {text:?}"
            );
            assert!(looks_like_intrinsic(text), "{text:?} looks like a call");
        }
    }

    #[test]
    fn invalid_calls_say_what_and_where() {
        for (text, fragment, offset) in INVALID {
            let err = parse_intrinsic(text).expect_err(&format!("{text:?} should be rejected"));
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
            parse_intrinsic("States.Format('it\\'s {}', States.ArrayLength($.a))").unwrap(),
            Call {
                function: Function::Format,
                args: vec![
                    string("it\\'s {}"),
                    Arg::Call(Box::new(Call {
                        function: Function::ArrayLength,
                        args: vec![path("$.a")]
                    })),
                ],
            }
        );
        assert_eq!(
            parse_intrinsic("States.Array(-1.50, 2e3, true, null, $$.Execution.Id, $v)")
                .unwrap()
                .args,
            vec![
                num("-1.50"),
                num("2e3"),
                Arg::Bool(true),
                Arg::Null,
                path("$$.Execution.Id"),
                Arg::Path(JsonPath {
                    root: Root::Variable("v".into()),
                    segments: vec![]
                }),
            ]
        );
        // Numbers keep their text.
        let Arg::Number(n) = &parse_intrinsic("States.MathAdd(1.0, 2)").unwrap().args[0] else {
            panic!("expected a number");
        };
        assert_eq!(n.to_string(), "1.0");
        let Arg::Path(p) = &parse_intrinsic("States.Array($['a,b'])").unwrap().args[0] else {
            panic!("expected a path");
        };
        assert_eq!(p.segments, vec![Segment::Child("a,b".into())]);
    }

    #[test]
    fn arities_and_names() {
        assert_eq!(Function::ALL.len(), 18);
        for f in Function::ALL {
            assert_eq!(Function::from_name(f.name()), Some(f));
            assert!(f.name().starts_with("States."));
        }
        assert_eq!(Function::ArrayRange.arity(), (3, Some(3)));
        assert_eq!(Function::MathRandom.arity(), (2, Some(3)));
        assert_eq!(Function::Format.arity(), (1, None));
        assert_eq!(Function::Array.arity(), (0, None));
        assert_eq!(Function::Uuid.arity(), (0, Some(0)));
        assert_eq!(Function::from_name("States.Uuid"), None);
    }

    #[test]
    fn recognises_calls_by_shape() {
        for yes in [
            "States.Format('x')",
            "States.Foo()",
            "States.UUID ()",
            "States.Array(",
            "States.ArrayLength($.a)",
        ] {
            assert!(looks_like_intrinsic(yes), "{yes:?}");
        }
        for no in [
            " States.UUID()",
            "$.States.Format('x')",
            "States.",
            "States.Format",
            "States.('x')",
            "Format('x')",
            "$",
            "states.format('x')",
            "States.Format x(",
        ] {
            assert!(!looks_like_intrinsic(no), "{no:?}");
        }
    }

    #[test]
    fn format_templates() {
        assert_eq!(format_placeholder_count(""), 0);
        assert_eq!(format_placeholder_count("Hello {}"), 1);
        assert_eq!(format_placeholder_count("{}{} and {}"), 3);
        assert_eq!(format_placeholder_count("\\{\\} is not one"), 0);
        assert_eq!(format_placeholder_count("\\{} is not one either"), 0);
        assert_eq!(format_placeholder_count("{\\} nor this"), 0);
        assert_eq!(
            format_placeholder_count("\\\\{} is one after an escaped backslash"),
            1
        );
        assert_eq!(format_placeholder_count("{ } and {x} are text"), 0);
        assert_eq!(
            split_format_template("a {} b \\{c\\} {}"),
            vec!["a ", " b {c} ", ""]
        );
        assert_eq!(split_format_template("it\\'s"), vec!["it's"]);
        // The parser hands the template over still escaped, as these helpers expect.
        let call = parse_intrinsic("States.Format('\\{{}\\} {}', $.a, $.b)").unwrap();
        let Arg::String(template) = &call.args[0] else {
            panic!("expected a string");
        };
        assert_eq!(format_placeholder_count(template), call.args.len() - 1);
        assert_eq!(split_format_template(template), vec!["{", "} ", ""]);
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("it\\'s \\{x\\} \\\\ done"), "it's {x} \\ done");
        assert_eq!(unescape("plain"), "plain");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "States.Array(".repeat(200), ")".repeat(200));
        let err = parse_intrinsic(&deep).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }
}
