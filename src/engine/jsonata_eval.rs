//! JSONata-mode fields: evaluating `{% ... %}` templates the way Step Functions does.
//!
//! Evaluation is done by the `jsonata-rs` crate. What it lacks or does differently from the
//! JSONata 2.0.6 that AWS runs is filled here, each with the reason next to it:
//!
//! * AWS's own functions: `$partition`, `$range`, `$hash`, `$random([seed])`, `$uuid`, `$parse`.
//! * Randomness and time come from the execution (`Random`, `$states.context.State.EnteredTime`),
//!   never from the OS, so that a replay gives the same values.
//! * jsonata-rs keeps objects in hash maps (random iteration order). Key order is restored when
//!   results are converted back: objects that come from the input keep the input's order,
//!   objects built by the expression follow the order their keys are written in the expression.
//!   `$string`, `$keys`, `$each`, `$spread` and `$sift` use the same order.
//! * Numbers are IEEE doubles, as in JSONata; they are printed the way JavaScript prints them
//!   (`3`, not `3.0`; `1e+21`; `0.30000000000000004`).
//! * Missing standard functions: `$type`, `$average`, `$shuffle`, `$spread`, `$sift`,
//!   `$formatBase`, `$formatNumber` (common picture subset), `$formatInteger`, `$encodeUrl`,
//!   `$encodeUrlComponent`, `$decodeUrl`, `$decodeUrlComponent`.
//! * Wrong results replaced: `$number` (hex/octal/binary strings), `$match` (indexes), error
//!   texts (tokens quoted as JSONata does: `T0410: Argument 1 of function "length" ...`).
//!
//! Known differences left (measured against jsonata-js 2.0.6, see the scratch crate's tests):
//! wildcard `*`/`**` order over objects follows the crate's hash order; `&` writes numbers its
//! own way (`1/3` to 14 digits, `1e21`, `-0`); `$toMillis` with a picture; `$parseInteger`;
//! functions given their argument by path context (`s.$length()`); a lambda called where it is
//! defined (`(function($x){...})(1)`) panics in the crate's parser (contained, reported as an
//! error).
//! The engine is sans-IO: evaluation spawns nothing and reads no clock, except the crate's own
//! run-time guard (a time box), which only ever turns a runaway expression into an error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, Error as JError, FunctionContext, JsonAta, Value as JValue};
use serde_json::{Map, Value};

use crate::asl::jsonata::template_body;
use crate::engine::{Failure, Random, Vars};

/// Deepest nesting of evaluation the crate may reach. Each level is a few native stack frames;
/// this bound keeps a runaway recursion (`$f := function($n){ 1 + $f($n) }`) an error rather
/// than a stack overflow, on a thread with the usual 2 MiB stack.
const MAX_DEPTH: usize = 500;

/// Wall-clock budget for one expression, in milliseconds. JSONata optimises tail calls, so an
/// endless tail recursion never trips the depth bound; this does.
const TIME_LIMIT_MS: usize = 5_000;

/// Deepest bracket nesting accepted before parsing: the parser recurses once per level and has
/// no bound of its own.
const MAX_NESTING: usize = 100;

/// The JSON types a field can be required to evaluate to, named as AWS names them in causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Array,
    Object,
    String,
    Number,
    Boolean,
}

impl Expected {
    fn name(self) -> &'static str {
        match self {
            Expected::Array => "array",
            Expected::Object => "object",
            Expected::String => "string",
            Expected::Number => "number",
            Expected::Boolean => "boolean",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Expected::Array, Value::Array(_))
                | (Expected::Object, Value::Object(_))
                | (Expected::String, Value::String(_))
                | (Expected::Number, Value::Number(_))
                | (Expected::Boolean, Value::Bool(_))
        )
    }
}

/// A failed evaluation, before the interpreter names the state. AWS records `location` in the
/// `EvaluationFailed` event and prefixes the cause with the state (see [`QueryFailure::in_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFailure {
    /// The field, with the path to a nested template: `Output`, `Output/result`, `Items`.
    pub location: String,
    /// AWS's cause after the state prefix: "The JSONata expression '...' specified for the field
    /// '...' returned nothing (undefined)."
    pub message: String,
}

impl QueryFailure {
    /// `States.QueryEvaluationError` with AWS's cause: "An error occurred while executing the
    /// state 'X' (entered at the event id #N). <message>".
    pub fn in_state(&self, state_name: &str, entered_event_id: u64) -> Failure {
        Failure::query(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            state_name, entered_event_id, self.message
        ))
    }

    /// `States.QueryEvaluationError` with the message alone (no state to name).
    pub fn to_failure(&self) -> Failure {
        Failure::query(self.message.clone())
    }
}

/// Evaluates a JSONata-mode field.
///
/// `field_name` is the field as AWS names it in causes (`Output`, `Arguments`, `Assign`, `Items`,
/// `Condition`...); nested templates are reported as `Output/result`, `Output/list/0`. A string
/// that is wholly `{% expr %}` is evaluated; objects and arrays are walked (keys kept); anything
/// else is a literal. `$states` is `states`; every visible variable is `$name`.
///
/// A failure says where and why; the interpreter completes it with the state's name
/// ([`QueryFailure::in_state`]).
pub fn evaluate_field(field_name: &str, field: &Value, states: &Value, vars: &Vars, random: &Random) -> Result<Value, QueryFailure> {
    let mut scope = Scope::new(states, vars, random);
    let mut path = field_name.to_string();
    walk(field, &mut path, &mut scope)
}

/// Like [`evaluate_field`], and the value must be of the `expected` type (Map `Items` must be an
/// array). The check applies to a field that is wholly one template; a literal array or object
/// is its own type.
pub fn evaluate_field_as(
    field_name: &str,
    field: &Value,
    expected: Expected,
    states: &Value,
    vars: &Vars,
    random: &Random,
) -> Result<Value, QueryFailure> {
    let value = evaluate_field(field_name, field, states, vars, random)?;
    if let Value::String(s) = field
        && let Some(body) = template_body(s)
        && !expected.accepts(&value)
    {
        return Err(QueryFailure {
            location: field_name.to_string(),
            message: format!(
                "The JSONata expression '{}' specified for the field '{}' returned an unexpected result type. Expected '{}', but was '{}' for value: {}",
                body.trim(),
                field_name,
                expected.name(),
                json_type(&value),
                serde_json::to_string(&value).unwrap_or_default()
            ),
        });
    }
    Ok(value)
}

/// A Choice rule's `Condition`: `true`/`false` literal or a template that must give a boolean.
///
/// AWS's wording for a non-boolean result is not in the recorded corpus; this uses the wording
/// AWS gives for Map `Items` ("returned an unexpected result type. Expected 'boolean' ...").
pub fn evaluate_condition(field_name: &str, field: &Value, states: &Value, vars: &Vars, random: &Random) -> Result<bool, QueryFailure> {
    match evaluate_field_as(field_name, field, Expected::Boolean, states, vars, random)? {
        Value::Bool(b) => Ok(b),
        other => Err(QueryFailure {
            location: field_name.to_string(),
            message: format!(
                "The field '{}' must be a boolean or a JSONata expression that returns one, but was: {}",
                field_name,
                serde_json::to_string(&other).unwrap_or_default()
            ),
        }),
    }
}

/// Evaluates one JSONata expression (the text inside `{% %}`) to a JSON value, or `None` when
/// it gives no value. The error is the crate's `CODE: message`.
pub fn evaluate_expression(expr: &str, states: &Value, vars: &Vars, random: &Random) -> Result<Option<Value>, String> {
    let mut scope = Scope::new(states, vars, random);
    match eval_expr(expr, &mut scope) {
        Ok(Outcome::Value(v)) => Ok(Some(v)),
        Ok(Outcome::Undefined) => Ok(None),
        Ok(Outcome::Unsupported) => Err("the expression returned a function".into()),
        Err(e) => Err(e),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What one field evaluation sees.
struct Scope<'s> {
    states: &'s Value,
    vars: Map<String, Value>,
    random: &'s Random,
}

impl<'s> Scope<'s> {
    fn new(states: &'s Value, vars: &Vars, random: &'s Random) -> Scope<'s> {
        Scope {
            states,
            vars: vars.visible(),
            random,
        }
    }
}

fn walk(field: &Value, path: &mut String, scope: &mut Scope) -> Result<Value, QueryFailure> {
    match field {
        Value::String(s) => match template_body(s) {
            Some(body) => eval_template(body, path, scope),
            None => Ok(field.clone()),
        },
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let len = path.len();
                path.push('/');
                path.push_str(k);
                let r = walk(v, path, scope);
                path.truncate(len);
                out.insert(k.clone(), r?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                let r = walk(v, path, scope);
                path.truncate(len);
                out.push(r?);
            }
            Ok(Value::Array(out))
        }
        _ => Ok(field.clone()),
    }
}

fn eval_template(body: &str, path: &str, scope: &mut Scope) -> Result<Value, QueryFailure> {
    let expr = body.trim();
    let head = format!("The JSONata expression '{expr}' specified for the field '{path}'");
    let fail = |message: String| QueryFailure { location: path.to_string(), message };
    match eval_expr(body, scope) {
        Ok(Outcome::Value(v)) => Ok(v),
        Ok(Outcome::Undefined) => Err(fail(format!("{head} returned nothing (undefined)."))),
        Ok(Outcome::Unsupported) => Err(fail(format!("{head} returned an unsupported result type."))),
        Err(e) => Err(fail(format!("{head} threw an error during evaluation. {e}"))),
    }
}

enum Outcome {
    Value(Value),
    Undefined,
    /// A function, regex or transformer: nothing JSON can hold.
    Unsupported,
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// State the native functions need. They are plain `fn` pointers (the crate's interface), so
/// they reach it through a thread-local set for the duration of one evaluation.
struct Ctx {
    rng: Random,
    draws: u64,
    order: Rc<Order>,
    /// `$now()`/`$millis()`: the state's entered time, not the wall clock.
    now_millis: Option<i64>,
}

thread_local! {
    static CTX: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

/// Clears the thread-local context however evaluation ends.
struct CtxGuard;

impl Drop for CtxGuard {
    fn drop(&mut self) {
        CTX.with(|c| c.borrow_mut().take());
    }
}

fn eval_expr(body: &str, scope: &mut Scope) -> Result<Outcome, String> {
    if bracket_depth(body) > MAX_NESTING {
        return Err(format!("S0201: The expression nests brackets more than {MAX_NESTING} deep"));
    }
    let prepared = prepare(body, &scope.vars);
    let now_millis = now_from_context(scope.states);
    let start = scope.random.state();
    CTX.with(|c| {
        *c.borrow_mut() = Some(Ctx {
            rng: Random::new(start),
            draws: 0,
            order: Rc::new(Order::default()),
            now_millis,
        })
    });
    let _guard = CtxGuard;
    // Third-party code fed with user text: a panic in it must not take the app down.
    let result = catch_unwind(AssertUnwindSafe(|| run(&prepared, scope)));
    let draws = CTX.with(|c| c.borrow().as_ref().map_or(0, |x| x.draws));
    // The draws made on the copy are replayed on the execution's generator.
    for _ in 0..draws {
        scope.random.next_u64();
    }
    match result {
        Ok(r) => r,
        Err(_) => Err("U1001: The JSONata engine failed on this expression (internal error)".into()),
    }
}

fn run(prepared: &Prepared, scope: &Scope) -> Result<Outcome, String> {
    let arena = Bump::new();
    let jsonata = JsonAta::new(&prepared.text, &arena).map_err(|e| error_text(&e))?;
    register_functions(&jsonata);
    let mut order = Order::default();
    order.rank_literals(&prepared.literals);
    for (bound, original) in &prepared.bindings {
        let value = if original == "states" {
            Some(scope.states)
        } else {
            scope.vars.get(original.as_str())
        };
        if let Some(value) = value {
            let v = to_jvalue(&arena, value, &order);
            jsonata.assign_var(bound, v);
        }
    }
    let order = Rc::new(order);
    CTX.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.order = order.clone();
        }
    });
    let result = jsonata
        .evaluate_timeboxed(None, Some(MAX_DEPTH), Some(TIME_LIMIT_MS))
        .map_err(|e| error_text(&e))?;
    Ok(match to_json(result, &order) {
        Conv::Value(v) => Outcome::Value(v),
        Conv::Undefined => Outcome::Undefined,
        Conv::Function => Outcome::Unsupported,
    })
}

/// `CODE: message` as JSONata prints errors (the crate adds `@ position`; AWS's causes have
/// none). Names this module gave to functions and variables are put back.
fn error_text(e: &JError) -> String {
    if let JError::D3137Error(m) = e
        && let Some(rest) = m.strip_prefix(OWN_ERROR)
    {
        return rest.to_string();
    }
    let code = e.code().to_string();
    let full = e.to_string();
    let mut msg = full.strip_prefix(&format!("{code} @ ")).unwrap_or(&full).to_string();
    // Drop the "<position>: " the crate puts first.
    if let Some(colon) = msg.find(": ")
        && msg[..colon].chars().all(|c| c.is_ascii_digit())
    {
        msg = msg[colon + 2..].to_string();
    }
    if matches!(e, JError::T2006RightSideNotFunction(_)) {
        // The crate writes "<position> The right side..." without a colon.
        msg = msg.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ').to_string();
    }
    let mut msg = msg.replace(RENAMED_VAR, "").replace(RENAMED_FN, "");
    // JSONata quotes tokens as JSON strings ("+", "sum"); the crate uses backticks or nothing.
    msg = msg.replace('`', "\"");
    match e {
        JError::T0410ArgumentNotValid(_, i, name) => {
            msg = format!("Argument {i} of function \"{}\" does not match function signature", unrename(name));
        }
        JError::T0412ArgumentMustBeArrayOfType(_, i, name, ty) => {
            let ty = if ty.ends_with('s') { ty.clone() } else { format!("{ty}s") };
            msg = format!("Argument {i} of function \"{}\" must be an array of \"{ty}\"", unrename(name));
        }
        _ => {}
    }
    if msg.is_empty() { code } else { format!("{code}: {msg}") }
}

fn unrename(name: &str) -> &str {
    name.trim_start_matches(RENAMED_VAR).trim_start_matches(RENAMED_FN)
}

/// Marks an error raised by this module's functions: the text after it is the whole message.
const OWN_ERROR: &str = "\u{1}";

fn own_error(code: &str, msg: impl std::fmt::Display) -> JError {
    JError::D3137Error(format!("{OWN_ERROR}{code}: {msg}"))
}

fn now_from_context(states: &Value) -> Option<i64> {
    let t = states.get("context")?.get("State")?.get("EnteredTime")?.as_str()?;
    parse_iso_millis(t)
}

/// Milliseconds since the epoch of an ISO-8601 UTC timestamp as the context object writes them
/// (`2024-01-01T10:00:00.123Z`, offset optional).
fn parse_iso_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        let mut scale = 100;
        for c in frac.bytes().take(3) {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    let offset_min = match &s[i..] {
        "" | "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 60 + rest.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + se * 1000 + millis)
}

// ---------------------------------------------------------------------------------------------
// Preparing the expression text

/// Prefix of workflow variables that are bound under another name (see [`prepare`]).
const RENAMED_VAR: &str = "__sw_v_";
/// Prefix of this module's replacements for built-in functions.
const RENAMED_FN: &str = "__sw_";

/// Built-in functions this module replaces. `jsonata-rs` binds its built-ins after anything
/// registered, so a replacement must live under another name and references are renamed.
const REPLACED_BUILTINS: &[&str] = &["random", "uuid", "string", "keys", "each", "now", "millis", "number", "match"];

struct Prepared {
    text: String,
    /// (name bound in the crate, name of the workflow variable or `states`).
    bindings: Vec<(String, String)>,
    /// String literals and names, in order of appearance: the key order of built objects.
    literals: Vec<String>,
}

/// Scans the expression as the crate's tokenizer does (strings, backtick names, comments,
/// regexes) and renames variable references:
/// * a workflow variable is bound as `$__sw_v_name`, so that it hides a function of the same
///   name as it does in AWS (variables are bindings that shadow built-ins);
/// * `$random`, `$uuid`, `$string`, ... point at this module's replacements.
///
/// Renaming every occurrence of one identifier is a consistent renaming, so local bindings
/// (`$x := ...`, function parameters) keep their meaning.
fn prepare(body: &str, vars: &Map<String, Value>) -> Prepared {
    let mut text = String::with_capacity(body.len() + 16);
    let mut bindings: Vec<(String, String)> = Vec::new();
    let mut literals = Vec::new();
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let mut i = 0;
    // Whether a '/' here starts a regex (the crate's `can_precede_regex`).
    let mut regex_ok = true;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            '"' | '\'' => {
                i += 1;
                let mut lit = String::new();
                while i < chars.len() && chars[i].1 != c {
                    if chars[i].1 == '\\' && i + 1 < chars.len() {
                        i += 1;
                        lit.push(match chars[i].1 {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        lit.push(chars[i].1);
                    }
                    i += 1;
                }
                i = (i + 1).min(chars.len());
                text.push_str(&body[at..end_byte(&chars, i, body)]);
                literals.push(lit);
                regex_ok = false;
            }
            '`' => {
                i += 1;
                let s = i;
                while i < chars.len() && chars[i].1 != '`' {
                    i += 1;
                }
                literals.push(body[byte_at(&chars, s, body)..byte_at(&chars, i, body)].to_string());
                i = (i + 1).min(chars.len());
                text.push_str(&body[at..end_byte(&chars, i, body)]);
                regex_ok = false;
            }
            '/' if chars.get(i + 1).map(|x| x.1) == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i].1 == '*' && chars.get(i + 1).map(|x| x.1) == Some('/')) {
                    i += 1;
                }
                i = (i + 2).min(chars.len());
                text.push_str(&body[at..end_byte(&chars, i, body)]);
            }
            '/' if regex_ok => {
                i += 1;
                let mut escaped = false;
                while i < chars.len() {
                    let ch = chars[i].1;
                    i += 1;
                    if ch == '\\' {
                        escaped = true;
                        continue;
                    }
                    if ch == '/' && !escaped {
                        break;
                    }
                    escaped = false;
                }
                while i < chars.len() && chars[i].1.is_alphanumeric() {
                    i += 1;
                }
                text.push_str(&body[at..end_byte(&chars, i, body)]);
                regex_ok = false;
            }
            c if c == '$' || c.is_alphabetic() => {
                i += 1;
                while i < chars.len() && !(is_ws(chars[i].1) || is_operator(chars[i].1)) {
                    i += 1;
                }
                let word = &body[at..end_byte(&chars, i, body)];
                if let Some(name) = word.strip_prefix('$') {
                    if name == "states" {
                        if !bindings.iter().any(|(b, _)| b == "states") {
                            bindings.push(("states".into(), "states".into()));
                        }
                        text.push_str(word);
                    } else if vars.contains_key(name) {
                        let bound = format!("{RENAMED_VAR}{name}");
                        if !bindings.iter().any(|(b, _)| *b == bound) {
                            bindings.push((bound.clone(), name.to_string()));
                        }
                        text.push('$');
                        text.push_str(&bound);
                    } else if REPLACED_BUILTINS.contains(&name) {
                        text.push('$');
                        text.push_str(RENAMED_FN);
                        text.push_str(name);
                    } else {
                        text.push_str(word);
                    }
                    regex_ok = false;
                } else {
                    literals.push(word.to_string());
                    text.push_str(word);
                    regex_ok = matches!(word, "and" | "or");
                }
            }
            c if is_ws(c) => {
                i += 1;
                text.push(c);
            }
            _ => {
                // Operators and numbers.
                let next = chars.get(i + 1).map(|x| x.1);
                let two: Option<&str> = match (c, next) {
                    (':', Some('=')) => Some(":="),
                    ('~', Some('>')) => Some("~>"),
                    ('!', Some('=')) => Some("!="),
                    ('<', Some('=')) => Some("<="),
                    ('>', Some('=')) => Some(">="),
                    ('*', Some('*')) => Some("**"),
                    ('.', Some('.')) => Some(".."),
                    _ => None,
                };
                if let Some(op) = two {
                    i += 2;
                    text.push_str(op);
                    regex_ok = matches!(op, ":=" | "~>" | "!=" | "<=" | ">=");
                } else {
                    i += 1;
                    text.push(c);
                    regex_ok = matches!(c, '{' | '(' | '[' | ',' | '=' | '<' | '>');
                }
            }
        }
    }
    Prepared { text, bindings, literals }
}

fn byte_at(chars: &[(usize, char)], i: usize, body: &str) -> usize {
    chars.get(i).map_or(body.len(), |x| x.0)
}

fn end_byte(chars: &[(usize, char)], i: usize, body: &str) -> usize {
    byte_at(chars, i, body)
}

fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{000B}' | '\u{000C}' | '\r' | ' ')
}

fn is_operator(c: char) -> bool {
    matches!(
        c,
        '.' | '[' | ']' | '{' | '}' | '(' | ')' | ',' | '@' | '#' | ';' | ':' | '?' | '+' | '-' | '*' | '/' | '%' | '|' | '=' | '<' | '>' | '^' | '&' | '!' | '~'
    )
}

/// Deepest nesting of `(`, `[`, `{` outside strings.
fn bracket_depth(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

// ---------------------------------------------------------------------------------------------
// Values in and out

/// Key order of objects (jsonata-rs keeps them in hash maps).
#[derive(Default)]
struct Order {
    /// Objects whose order is known: made from JSON input, or built by this module's functions.
    by_addr: RefCell<HashMap<usize, Rc<[String]>>>,
    /// Keys by first appearance in the expression (string literals and names).
    literal: HashMap<String, usize>,
    /// Keys by first appearance in the input.
    input: RefCell<HashMap<String, usize>>,
}

impl Order {
    fn rank_literals(&mut self, literals: &[String]) {
        for l in literals {
            let n = self.literal.len();
            self.literal.entry(l.clone()).or_insert(n);
        }
    }

    fn remember(&self, obj: &JValue, keys: &[&str]) {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        self.by_addr.borrow_mut().insert(addr(obj), keys.into());
    }

    /// An object's keys in order. Known objects keep their order. Otherwise (objects the crate
    /// built): an object whose keys are all written in the expression is an object constructor
    /// and follows the expression; any other (a transformed or merged copy of input) follows the
    /// input, keys new to it after them in expression order; unknown keys last, sorted.
    fn keys<'a>(&self, v: &'a JValue<'a>) -> Vec<&'a str> {
        let JValue::Object(map) = v else { return Vec::new() };
        if let Some(keys) = self.by_addr.borrow().get(&addr(v))
            && keys.len() == map.len()
        {
            let out: Vec<&'a str> = keys.iter().filter_map(|k| map.get_key_value(k.as_str()).map(|(key, _)| key.as_str())).collect();
            if out.len() == map.len() {
                return out;
            }
        }
        let mut out: Vec<&'a str> = map.keys().map(|k| k.as_str()).collect();
        let all_literal = out.iter().all(|k| self.literal.contains_key(*k));
        let input = self.input.borrow();
        out.sort_by_cached_key(|k| {
            let lit = self.literal.get(*k).copied().unwrap_or(usize::MAX);
            if all_literal {
                (lit, 0, k.to_string())
            } else {
                (input.get(*k).copied().unwrap_or(usize::MAX), lit, k.to_string())
            }
        });
        out
    }

    fn entries<'a>(&self, v: &'a JValue<'a>) -> Vec<(&'a str, &'a JValue<'a>)> {
        self.keys(v).into_iter().map(|k| (k, v.get_entry(k))).collect()
    }
}

fn addr(v: &JValue) -> usize {
    v as *const JValue as usize
}

fn to_jvalue<'a>(arena: &'a Bump, v: &Value, order: &Order) -> &'a JValue<'a> {
    match v {
        Value::Null => JValue::null(arena),
        Value::Bool(b) => JValue::bool(*b),
        Value::Number(n) => JValue::number(arena, number_to_f64(n)),
        Value::String(s) => JValue::string(arena, s),
        Value::Array(items) => {
            let arr = JValue::array_with_capacity(arena, items.len(), ArrayFlags::empty());
            for item in items {
                arr.push(to_jvalue(arena, item, order));
            }
            arr
        }
        Value::Object(map) => {
            let obj = JValue::object_with_capacity(arena, map.len());
            let mut keys = Vec::with_capacity(map.len());
            for (k, item) in map {
                {
                    let mut input = order.input.borrow_mut();
                    let n = input.len();
                    input.entry(k.clone()).or_insert(n);
                }
                obj.insert(k, to_jvalue(arena, item, order));
                keys.push(k.clone());
            }
            order.by_addr.borrow_mut().insert(addr(obj), keys.into());
            obj
        }
    }
}

fn number_to_f64(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or_else(|| n.to_string().parse::<f64>().unwrap_or(f64::NAN))
}

enum Conv {
    Value(Value),
    Undefined,
    Function,
}

fn to_json<'a>(v: &'a JValue<'a>, order: &Order) -> Conv {
    match v {
        JValue::Undefined => Conv::Undefined,
        JValue::Null => Conv::Value(Value::Null),
        JValue::Bool(b) => Conv::Value(Value::Bool(*b)),
        JValue::Number(n) => Conv::Value(number_value(*n)),
        JValue::String(s) => Conv::Value(Value::String(s.to_string())),
        JValue::Array(..) | JValue::Range(..) => {
            let mut out = Vec::new();
            for m in v.members() {
                // As JSON.stringify: what JSON cannot hold becomes null inside an array.
                out.push(match to_json(m, order) {
                    Conv::Value(x) => x,
                    _ => Value::Null,
                });
            }
            Conv::Value(Value::Array(out))
        }
        JValue::Object(_) => {
            let mut out = Map::new();
            for (k, m) in order.entries(v) {
                // As JSON.stringify: entries JSON cannot hold are left out.
                if let Conv::Value(x) = to_json(m, order) {
                    out.insert(k.to_string(), x);
                }
            }
            Conv::Value(Value::Object(out))
        }
        JValue::Regex(_) | JValue::Lambda { .. } | JValue::NativeFn { .. } | JValue::Transformer { .. } => Conv::Function,
    }
}

/// A double as a JSON number, written as JavaScript writes it; NaN and infinities (which JSON
/// cannot hold) become null, as JSON.stringify makes them.
fn number_value(n: f64) -> Value {
    if !n.is_finite() {
        return Value::Null;
    }
    let text = js_number(n);
    serde_json::from_str::<serde_json::Number>(&text).map_or(Value::Null, Value::Number)
}

/// JavaScript's Number.prototype.toString (shortest round-trip digits; exponent form from 1e21
/// and below 1e-6).
pub fn js_number(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let e = format!("{:e}", n.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i32;
    let point = exp + 1;
    let mut s = String::new();
    if n < 0.0 {
        s.push('-');
    }
    if k <= point && point <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-point) as usize));
        s.push_str(&digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if point > 0 { '+' } else { '-' });
        s.push_str(&(point - 1).abs().to_string());
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Functions

fn register_functions(j: &JsonAta) {
    // AWS's additions.
    j.register_function("partition", 2, fn_partition);
    j.register_function("range", 3, fn_range);
    j.register_function("hash", 2, fn_hash);
    j.register_function("parse", 1, fn_parse);
    j.register_function("__sw_random", 1, fn_random);
    j.register_function("__sw_uuid", 0, fn_uuid);
    // Replacements: deterministic order, time and randomness.
    j.register_function("__sw_string", 2, fn_string);
    j.register_function("__sw_keys", 1, fn_keys);
    j.register_function("__sw_each", 2, fn_each);
    j.register_function("__sw_now", 2, fn_now);
    j.register_function("__sw_millis", 0, fn_millis);
    // Replacements for wrong results: `$number("0x10")` is 16 in JSONata; the crate's `$match`
    // reports wrong indexes.
    j.register_function("__sw_number", 1, fn_number);
    j.register_function("__sw_match", 3, fn_match);
    // JSONata 2.0 functions jsonata-rs 0.3 does not have.
    j.register_function("type", 1, fn_type);
    j.register_function("average", 1, fn_average);
    j.register_function("shuffle", 1, fn_shuffle);
    j.register_function("spread", 1, fn_spread);
    j.register_function("sift", 2, fn_sift);
    j.register_function("formatBase", 2, fn_format_base);
    j.register_function("formatNumber", 3, fn_format_number);
    j.register_function("formatInteger", 2, fn_format_integer);
    j.register_function("encodeUrlComponent", 1, fn_encode_url_component);
    j.register_function("encodeUrl", 1, fn_encode_url);
    j.register_function("decodeUrlComponent", 1, fn_decode_url);
    j.register_function("decodeUrl", 1, fn_decode_url);
}

type JResult<'a> = jsonata_rs::Result<&'a JValue<'a>>;

fn arg<'a>(args: &[&'a JValue<'a>], i: usize) -> &'a JValue<'a> {
    args.get(i).copied().unwrap_or_else(JValue::undefined)
}

/// T0410, as JSONata reports an argument that does not fit the signature.
fn bad_arg(ctx: &FunctionContext, index: usize) -> JError {
    JError::T0410ArgumentNotValid(ctx.char_index, index, ctx.name.trim_start_matches(RENAMED_FN).to_string())
}

fn next_u64() -> u64 {
    CTX.with(|c| match c.borrow_mut().as_mut() {
        Some(ctx) => {
            ctx.draws += 1;
            ctx.rng.next_u64()
        }
        None => 0,
    })
}

fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn current_order() -> Rc<Order> {
    CTX.with(|c| c.borrow().as_ref().map(|x| x.order.clone()).unwrap_or_default())
}

fn members_of<'a>(v: &'a JValue<'a>) -> Vec<&'a JValue<'a>> {
    match v {
        JValue::Undefined => Vec::new(),
        JValue::Array(..) | JValue::Range(..) => v.members().collect(),
        _ => vec![v],
    }
}

fn new_array<'a>(ctx: &FunctionContext<'a, '_>, items: Vec<&'a JValue<'a>>, flags: ArrayFlags) -> &'a JValue<'a> {
    let arr = JValue::array_with_capacity(ctx.arena, items.len(), flags);
    for it in items {
        arr.push(it);
    }
    arr
}

/// `$partition(array, size)`: the array cut into chunks of `size` (the last one shorter).
/// AWS: `$partition([0,1,2], 2)` = `[[0,1],[2]]`, `$partition([0], 5)` = `[[0]]`.
fn fn_partition<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (array, size) = (arg(args, 0), arg(args, 1));
    if array.is_undefined() {
        return Ok(JValue::undefined());
    }
    let items = members_of(array);
    let JValue::Number(size) = *size else { return Err(bad_arg(&ctx, 2)) };
    if size.fract() != 0.0 || size < 1.0 {
        return Err(own_error("D3137", format!("The chunk size of $partition must be a positive integer, got {}", js_number(size))));
    }
    let size = size as usize;
    let chunks: Vec<&'a JValue<'a>> = items.chunks(size).map(|c| new_array(&ctx, c.to_vec(), ArrayFlags::empty())).collect();
    Ok(new_array(&ctx, chunks, ArrayFlags::empty()))
}

/// `$range(start, end, step)`: start, start+step, ... up to end inclusive. The result is a
/// JSONata sequence, so a single value comes out unwrapped: AWS gives `$range(1, 9, 9)` = `1`.
fn fn_range<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let num = |i: usize| match *arg(args, i) {
        JValue::Number(n) => Ok(n),
        _ => Err(bad_arg(&ctx, i + 1)),
    };
    let (start, end, step) = (num(0)?, num(1)?, num(2)?);
    if step == 0.0 {
        return Err(own_error("D3137", "The step of $range must not be 0"));
    }
    let count = ((end - start) / step).floor();
    if count >= 1e7 {
        return Err(JError::D2014RangeOutOfBounds(ctx.char_index, count as isize));
    }
    let mut items = Vec::new();
    if count >= 0.0 {
        for i in 0..=(count as usize) {
            items.push(&*JValue::number(ctx.arena, start + step * i as f64));
        }
    }
    Ok(new_array(&ctx, items, ArrayFlags::SEQUENCE))
}

/// `$hash(data, algorithm)`: lowercase hex digest of the string's UTF-8 bytes; the algorithms
/// are those of States.Hash.
fn fn_hash<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    use md5::Digest as _;
    let data = arg(args, 0);
    if data.is_undefined() {
        return Ok(JValue::undefined());
    }
    let JValue::String(data) = data else { return Err(bad_arg(&ctx, 1)) };
    let JValue::String(algo) = arg(args, 1) else { return Err(bad_arg(&ctx, 2)) };
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match algo.as_str() {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(own_error(
                "D3137",
                format!("The hash algorithm '{other}' is not supported; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"),
            ));
        }
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(JValue::string(ctx.arena, &hex))
}

/// `$parse(json)`: the value a JSON text stands for (AWS's replacement for `$eval`).
fn fn_parse<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let s = arg(args, 0);
    if s.is_undefined() {
        return Ok(JValue::undefined());
    }
    let JValue::String(s) = s else { return Err(bad_arg(&ctx, 1)) };
    let v: Value = serde_json::from_str(s).map_err(|e| own_error("D3137", format!("Unable to parse the JSON string: {e}")))?;
    Ok(to_jvalue(ctx.arena, &v, &current_order()))
}

/// `$random([seed])`: a number in [0, 1). Unseeded draws come from the execution's generator;
/// a seed always gives the same number (AWS: "same seed, same number").
fn fn_random<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let x = match arg(args, 0) {
        JValue::Undefined => next_u64(),
        JValue::Number(seed) => Random::new(seed.to_bits()).next_u64(),
        _ => return Err(bad_arg(&ctx, 1)),
    };
    Ok(JValue::number(ctx.arena, unit_f64(x)))
}

/// `$uuid()`: a version 4 UUID from the execution's generator.
fn fn_uuid<'a>(ctx: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (a, b) = (next_u64(), next_u64());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let s = format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]);
    Ok(JValue::string(ctx.arena, &s))
}

/// `$string(value[, prettify])` as JSONata: numbers through toPrecision(15), functions as "",
/// objects in key order (the crate's own writes hash order).
fn fn_string<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = if args.is_empty() { context_item(&ctx) } else { arg(args, 0) };
    let pretty = match arg(args, 1) {
        JValue::Undefined => false,
        JValue::Bool(b) => *b,
        _ => return Err(bad_arg(&ctx, 2)),
    };
    match v {
        JValue::Undefined => Ok(JValue::undefined()),
        JValue::String(_) => Ok(v),
        JValue::Number(n) if !n.is_finite() => Err(JError::D3001StringNotFinite(ctx.char_index)),
        _ if v.is_function() => Ok(JValue::string(ctx.arena, "")),
        _ => {
            let order = current_order();
            let json = to_json_for_string(v, &order);
            let text = if pretty { serde_json::to_string_pretty(&json) } else { serde_json::to_string(&json) };
            Ok(JValue::string(ctx.arena, &text.unwrap_or_default()))
        }
    }
}

fn context_item<'a>(ctx: &FunctionContext<'a, '_>) -> &'a JValue<'a> {
    if ctx.input.is_array() && ctx.input.has_flags(ArrayFlags::WRAPPED) { ctx.input.get_member(0) } else { ctx.input }
}

/// JSON.stringify with JSONata's replacer: numbers to 15 significant digits, functions as "".
fn to_json_for_string<'a>(v: &'a JValue<'a>, order: &Order) -> Value {
    match v {
        JValue::Number(n) => {
            if n.is_finite() {
                let p: f64 = format!("{:.14e}", n).parse().unwrap_or(*n);
                number_value(p)
            } else {
                Value::Null
            }
        }
        JValue::Array(..) | JValue::Range(..) => Value::Array(
            v.members()
                .map(|m| if m.is_undefined() { Value::Null } else { to_json_for_string(m, order) })
                .collect(),
        ),
        JValue::Object(_) => {
            let mut out = Map::new();
            for (k, m) in order.entries(v) {
                if !m.is_undefined() {
                    out.insert(k.to_string(), to_json_for_string(m, order));
                }
            }
            Value::Object(out)
        }
        _ if v.is_function() => Value::String(String::new()),
        JValue::Regex(_) => Value::Object(Map::new()),
        _ => match to_json(v, order) {
            Conv::Value(x) => x,
            _ => Value::Null,
        },
    }
}

/// `$keys(object | array of objects)`: keys in order, each once.
fn fn_keys<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let order = current_order();
    let mut keys: Vec<&'a str> = Vec::new();
    let mut push = |o: &'a JValue<'a>| {
        for k in order.keys(o) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    };
    match v {
        JValue::Object(_) => push(v),
        JValue::Array(..) | JValue::Range(..) => {
            for m in v.members() {
                if m.is_object() {
                    push(m);
                }
            }
        }
        _ => return Ok(JValue::undefined()),
    }
    let items = keys.into_iter().map(|k| &*JValue::string(ctx.arena, k)).collect();
    Ok(new_array(&ctx, items, ArrayFlags::SEQUENCE))
}

/// The `(object, function)` arguments of `$each` and `$sift` (the object may come from the
/// context); `None` when the object is undefined.
#[allow(clippy::type_complexity)]
fn object_and_function<'a>(
    ctx: &FunctionContext<'a, '_>,
    args: &[&'a JValue<'a>],
) -> Result<Option<(&'a JValue<'a>, &'a JValue<'a>)>, JError> {
    let (obj, f) = if args.len() == 1 { (context_item(ctx), arg(args, 0)) } else { (arg(args, 0), arg(args, 1)) };
    if obj.is_undefined() {
        return Ok(None);
    }
    if !obj.is_object() {
        return Err(bad_arg(ctx, 1));
    }
    if !f.is_function() {
        return Err(bad_arg(ctx, 2));
    }
    Ok(Some((obj, f)))
}

/// `$each(object, function($v, $k, $o))`, in key order.
fn fn_each<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let Some((obj, f)) = object_and_function(&ctx, args)? else {
        return Ok(JValue::undefined());
    };
    let order = current_order();
    let mut out = Vec::new();
    for (k, v) in order.entries(obj) {
        let key = JValue::string(ctx.arena, k);
        let call_args: Vec<&'a JValue<'a>> = match f.arity() {
            1 => vec![v],
            2 => vec![v, key],
            _ => vec![v, key, obj],
        };
        let r = ctx.evaluate_function(f, &call_args)?;
        if !r.is_undefined() {
            out.push(r);
        }
    }
    Ok(new_array(&ctx, out, ArrayFlags::SEQUENCE))
}

fn current_now() -> Option<i64> {
    CTX.with(|c| c.borrow().as_ref().and_then(|x| x.now_millis))
}

/// `$now([picture[, timezone]])` at the state's entered time.
fn fn_now<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let Some(ms) = current_now() else {
        return Err(own_error("D3137", "$now() needs the context object's State.EnteredTime"));
    };
    let Some(from_millis) = ctx.frame.lookup("fromMillis") else {
        return Err(JError::T1006InvokedNonFunction(ctx.char_index));
    };
    let mut call_args: Vec<&'a JValue<'a>> = vec![JValue::number(ctx.arena, ms as f64)];
    call_args.extend_from_slice(args);
    ctx.evaluate_function(from_millis, &call_args)
}

/// `$millis()` at the state's entered time.
fn fn_millis<'a>(ctx: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    match current_now() {
        Some(ms) => Ok(JValue::number(ctx.arena, ms as f64)),
        None => Err(own_error("D3137", "$millis() needs the context object's State.EnteredTime")),
    }
}

/// `$type(value)`.
fn fn_type<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let t = match v {
        JValue::Undefined => return Ok(JValue::undefined()),
        JValue::Null => "null",
        JValue::Number(_) => "number",
        JValue::String(_) => "string",
        JValue::Bool(_) => "boolean",
        JValue::Array(..) | JValue::Range(..) => "array",
        JValue::Object(_) | JValue::Regex(_) => "object",
        _ => "function",
    };
    Ok(JValue::string(ctx.arena, t))
}

/// `$average(array of numbers)`.
fn fn_average<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    if v.is_undefined() {
        return Ok(JValue::undefined());
    }
    let items = members_of(v);
    if items.is_empty() {
        return Ok(JValue::undefined());
    }
    let mut sum = 0.0;
    for it in &items {
        match **it {
            JValue::Number(n) => sum += n,
            _ => return Err(JError::T0412ArgumentMustBeArrayOfType(ctx.char_index, 1, "average".into(), "numbers".into())),
        }
    }
    Ok(JValue::number(ctx.arena, sum / items.len() as f64))
}

/// `$shuffle(array)`, drawing from the execution's generator.
fn fn_shuffle<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    if v.is_undefined() {
        return Ok(JValue::undefined());
    }
    let mut items = members_of(v);
    // Fisher-Yates, as JSONata's implementation.
    for i in (1..items.len()).rev() {
        let j = (unit_f64(next_u64()) * (i + 1) as f64) as usize;
        items.swap(i, j.min(i));
    }
    Ok(new_array(&ctx, items, ArrayFlags::SEQUENCE))
}

/// `$spread(object)`: one single-key object per key.
fn fn_spread<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let order = current_order();
    let mut out = Vec::new();
    let spread_one = |o: &'a JValue<'a>, out: &mut Vec<&'a JValue<'a>>| {
        for (k, val) in order.entries(o) {
            let single = JValue::object(ctx.arena);
            single.insert(k, val);
            out.push(&*single);
        }
    };
    match v {
        JValue::Undefined => return Ok(JValue::undefined()),
        JValue::Object(_) => spread_one(v, &mut out),
        JValue::Array(..) | JValue::Range(..) => {
            for m in v.members() {
                if m.is_object() {
                    spread_one(m, &mut out);
                } else {
                    out.push(m);
                }
            }
        }
        _ => return Ok(v),
    }
    Ok(new_array(&ctx, out, ArrayFlags::SEQUENCE))
}

/// `$sift(object, function($v, $k, $o))`: the entries the function is truthy for.
fn fn_sift<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let Some((obj, f)) = object_and_function(&ctx, args)? else {
        return Ok(JValue::undefined());
    };
    let order = current_order();
    let out = JValue::object(ctx.arena);
    let mut kept = Vec::new();
    for (k, v) in order.entries(obj) {
        let key = JValue::string(ctx.arena, k);
        let call_args: Vec<&'a JValue<'a>> = match f.arity() {
            1 => vec![v],
            2 => vec![v, key],
            _ => vec![v, key, obj],
        };
        let r = ctx.evaluate_function(f, &call_args)?;
        if r.is_truthy() {
            out.insert(k, v);
            kept.push(k);
        }
    }
    if kept.is_empty() {
        return Ok(JValue::undefined());
    }
    order.remember(out, &kept);
    Ok(out)
}

/// `$formatBase(number[, radix])`.
fn fn_format_base<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let JValue::Number(n) = *v else {
        return if v.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(&ctx, 1)) };
    };
    let radix = match *arg(args, 1) {
        JValue::Undefined => 10.0,
        JValue::Number(r) => r,
        _ => return Err(bad_arg(&ctx, 2)),
    };
    if !(2.0..=36.0).contains(&radix) {
        return Err(own_error("D3100", format!("The radix of the formatBase function must be between 2 and 36.  It was given {}", js_number(radix))));
    }
    // JavaScript's Math.round: halves go up.
    let mut x = (n + 0.5).floor();
    let neg = x < 0.0;
    if neg {
        x = -x;
    }
    let radix = radix as u32;
    let mut digits = Vec::new();
    if x == 0.0 {
        digits.push('0');
    }
    while x >= 1.0 {
        let d = (x % radix as f64) as u32;
        digits.push(std::char::from_digit(d, radix).unwrap_or('0'));
        x = (x / radix as f64).floor();
    }
    if neg {
        digits.push('-');
    }
    let s: String = digits.into_iter().rev().collect();
    Ok(JValue::string(ctx.arena, &s))
}

fn percent_encode<'a>(ctx: &FunctionContext<'a, '_>, args: &[&'a JValue<'a>], keep: &str) -> JResult<'a> {
    let v = arg(args, 0);
    let JValue::String(s) = v else {
        return if v.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(ctx, 1)) };
    };
    let mut out = String::with_capacity(s.len());
    for b in s.as_bytes() {
        let c = *b as char;
        if c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) || keep.contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(JValue::string(ctx.arena, &out))
}

/// `$encodeUrlComponent(str)`: as encodeURIComponent.
fn fn_encode_url_component<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    percent_encode(&ctx, args, "")
}

/// `$encodeUrl(str)`: as encodeURI.
fn fn_encode_url<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    percent_encode(&ctx, args, ";,/?:@&=+$#")
}

/// `$decodeUrl(str)` / `$decodeUrlComponent(str)`: %XX sequences decoded as UTF-8.
fn fn_decode_url<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let JValue::String(s) = v else {
        return if v.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(&ctx, 1)) };
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(x) => {
                    out.push(x);
                    i += 3;
                    continue;
                }
                None => return Err(own_error("D3140", format!("Malformed URL passed to ${}(): \"{}\"", ctx.name, s))),
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => Ok(JValue::string(ctx.arena, &text)),
        Err(_) => Err(own_error("D3140", format!("Malformed URL passed to ${}(): \"{}\"", ctx.name, s))),
    }
}

/// `$number(value)` as JSONata 2.0: decimal JSON-number strings, `0x`/`0o`/`0b` integers,
/// booleans; anything else is D3030.
fn fn_number<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = if args.is_empty() { context_item(&ctx) } else { arg(args, 0) };
    let n = match v {
        JValue::Undefined => return Ok(JValue::undefined()),
        JValue::Number(n) => *n,
        JValue::Bool(b) => f64::from(u8::from(*b)),
        JValue::String(s) => match parse_jsonata_number(s) {
            Some(n) => n,
            None => return Err(JError::D3030NonNumericCast(ctx.char_index, format!("\"{s}\""))),
        },
        _ => return Err(JError::D3030NonNumericCast(ctx.char_index, String::new())),
    };
    Ok(JValue::number(ctx.arena, n))
}

fn parse_jsonata_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |r: &[u8]| !r.is_empty() && r.iter().all(u8::is_ascii_digit);
    // /^-?[0-9]+(\.[0-9]+)?([Ee][-+]?[0-9]+)?$/
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], Some(&mant[i + 1..])),
        None => (mant, None),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e).as_bytes()));
    if digits(int.as_bytes()) && frac.is_none_or(|f| digits(f.as_bytes())) && exp_ok {
        return s.parse::<f64>().ok().filter(|n| n.is_finite());
    }
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => return None,
        };
        return u64::from_str_radix(&s[2..], radix).ok().map(|n| n as f64);
    }
    None
}

/// `$match(str, regex[, limit])`: `{match, index, groups}` per match, index in UTF-16 units
/// as JavaScript counts.
fn fn_match<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let s = if args.len() < 2 { context_item(&ctx) } else { arg(args, 0) };
    let (re, limit) = if args.len() < 2 { (arg(args, 0), JValue::undefined()) } else { (arg(args, 1), arg(args, 2)) };
    let JValue::String(s) = s else {
        return if s.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(&ctx, 1)) };
    };
    let JValue::Regex(re) = re else { return Err(bad_arg(&ctx, 2)) };
    let limit = match *limit {
        JValue::Undefined => usize::MAX,
        JValue::Number(n) if n >= 0.0 => n as usize,
        JValue::Number(_) => return Err(own_error("D3040", "Third argument of match function must evaluate to a positive number")),
        _ => return Err(bad_arg(&ctx, 3)),
    };
    let order = current_order();
    let mut out = Vec::new();
    for m in re.get_regex().find_iter(s).take(limit) {
        let range = m.range();
        if range.is_empty() {
            return Err(JError::D1004ZeroLengthMatch(ctx.char_index));
        }
        let obj = JValue::object(ctx.arena);
        obj.insert("match", JValue::string(ctx.arena, &s[range.clone()]));
        obj.insert("index", JValue::number(ctx.arena, s[..range.start].encode_utf16().count() as f64));
        let groups = JValue::array(ctx.arena, ArrayFlags::empty());
        for g in m.groups().skip(1) {
            groups.push(match g {
                Some(r) => JValue::string(ctx.arena, &s[r]),
                None => JValue::string(ctx.arena, ""),
            });
        }
        obj.insert("groups", groups);
        order.remember(obj, &["match", "index", "groups"]);
        out.push(&*obj);
    }
    Ok(new_array(&ctx, out, ArrayFlags::SEQUENCE))
}

/// `$formatNumber(number, picture)`: the XPath picture subset in common use: grouping `,`,
/// mandatory `0` and optional `#` digits, decimal `.`, `%` and `‰`, a negative sub-picture after
/// `;`, literal prefix and suffix. (No exponent, no custom decimal-format options.)
fn fn_format_number<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let JValue::Number(n) = *v else {
        return if v.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(&ctx, 1)) };
    };
    let JValue::String(picture) = arg(args, 1) else { return Err(bad_arg(&ctx, 2)) };
    if !arg(args, 2).is_undefined() {
        return Err(own_error("D3137", "$formatNumber options are not supported"));
    }
    let mut parts = picture.splitn(2, ';');
    let positive = parts.next().unwrap_or("");
    let negative = parts.next();
    let (pic, prefix_neg) = match (n < 0.0, negative) {
        (true, Some(neg)) => (neg, ""),
        (true, None) => (positive, "-"),
        _ => (positive, ""),
    };
    let out = format_with_picture(n.abs(), pic).map_err(|m| own_error("D3080", m))?;
    Ok(JValue::string(ctx.arena, &format!("{prefix_neg}{out}")))
}

fn format_with_picture(mut n: f64, pic: &str) -> Result<String, String> {
    let active = |c: char| c.is_ascii_digit() || matches!(c, '#' | '.' | ',' | '%' | '‰');
    let chars: Vec<char> = pic.chars().collect();
    let first = chars.iter().position(|c| active(*c) && *c != '%' && *c != '‰').unwrap_or(chars.len());
    let last = chars.iter().rposition(|c| active(*c) && *c != '%' && *c != '‰').map_or(first, |i| i + 1);
    let prefix: String = chars[..first].iter().collect();
    let suffix: String = chars[last..].iter().collect();
    let mantissa: String = chars[first..last].iter().collect();
    if pic.contains('%') {
        n *= 100.0;
    } else if pic.contains('‰') {
        n *= 1000.0;
    }
    let (int_pic, frac_pic) = match mantissa.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (mantissa.clone(), String::new()),
    };
    let min_int = int_pic.chars().filter(char::is_ascii_digit).count();
    let min_frac = frac_pic.chars().filter(char::is_ascii_digit).count();
    let max_frac = frac_pic.chars().filter(|c| c.is_ascii_digit() || *c == '#').count();
    // Grouping: positions of ',' counted in digits from the right of the integer part.
    let mut groups = Vec::new();
    let mut digits_seen = 0;
    for c in int_pic.chars().rev() {
        if c == ',' {
            groups.push(digits_seen);
        } else if c.is_ascii_digit() || c == '#' {
            digits_seen += 1;
        }
    }
    let regular = groups.first().copied().filter(|&g| g > 0 && groups.iter().enumerate().all(|(i, &p)| p == g * (i + 1)));
    // Round half to even at max_frac digits, as JSONata's $round.
    let scaled = format!("{:.*}", max_frac, round_half_even(n, max_frac as i32));
    let (int_digits, frac_digits) = scaled.split_once('.').unwrap_or((scaled.as_str(), ""));
    let mut frac = frac_digits.to_string();
    while frac.len() > min_frac && frac.ends_with('0') {
        frac.pop();
    }
    let mut int = int_digits.trim_start_matches('0').to_string();
    while int.len() < min_int {
        int.insert(0, '0');
    }
    if int.is_empty() && frac.is_empty() {
        int.push('0');
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().rev().enumerate() {
        let at_group = match regular {
            Some(g) => i > 0 && i % g == 0,
            None => i > 0 && groups.contains(&i),
        };
        if at_group {
            grouped.insert(0, ',');
        }
        grouped.insert(0, c);
    }
    let mut out = prefix;
    out.push_str(&grouped);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(&suffix);
    Ok(out)
}

fn round_half_even(n: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    let x = n * factor;
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 { r - x.signum() } else { r };
    r / factor
}

/// `$formatInteger(number, picture)`: decimal pictures (`000`, `#,##0`), `I`/`i` (roman),
/// `A`/`a` (letters), `w`/`W`/`Ww` (English words, as JSONata writes them).
fn fn_format_integer<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let v = arg(args, 0);
    let JValue::Number(n) = *v else {
        return if v.is_undefined() { Ok(JValue::undefined()) } else { Err(bad_arg(&ctx, 1)) };
    };
    let JValue::String(picture) = arg(args, 1) else { return Err(bad_arg(&ctx, 2)) };
    let n = n.trunc();
    let neg = n < 0.0;
    let a = n.abs() as u64;
    let body = match picture.as_str() {
        "I" => roman(a),
        "i" => roman(a).to_lowercase(),
        "A" => letters(a),
        "a" => letters(a).to_lowercase(),
        "w" => words(a),
        "W" => words(a).to_uppercase(),
        "Ww" => words(a).split(' ').map(title_case).collect::<Vec<_>>().join(" "),
        p if p.chars().all(|c| c.is_ascii_digit() || c == '#' || c == ',') && p.chars().any(|c| c.is_ascii_digit()) => {
            format_with_picture(a as f64, p).map_err(|m| own_error("D3130", m))?
        }
        other => return Err(own_error("D3130", format!("Formatting or parsing an integer as a sequence starting with \"{other}\" is not supported by this implementation"))),
    };
    Ok(JValue::string(ctx.arena, &if neg { format!("-{body}") } else { body }))
}

fn title_case(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) if w != "and" => f.to_uppercase().chain(c).collect(),
        _ => w.to_string(),
    }
}

fn roman(mut n: u64) -> String {
    let table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")];
    let mut s = String::new();
    for (v, r) in table {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

fn letters(mut n: u64) -> String {
    let mut s = Vec::new();
    while n > 0 {
        n -= 1;
        s.push((b'A' + (n % 26) as u8) as char);
        n /= 26;
    }
    s.iter().rev().collect()
}

/// English words as JSONata's `$formatInteger(n, 'w')` writes them.
fn words(n: u64) -> String {
    const SMALL: [&str; 20] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    ];
    const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    const SCALES: [(u64, &str); 4] = [(1_000_000_000_000, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand")];
    fn rec(n: u64, prev: bool) -> String {
        if n < 20 {
            let w = SMALL[n as usize].to_string();
            return if prev && n > 0 { format!("and {w}") } else { w };
        }
        if n < 100 {
            let t = TENS[(n / 10) as usize];
            let w = if n.is_multiple_of(10) { t.to_string() } else { format!("{t}-{}", SMALL[(n % 10) as usize]) };
            return if prev { format!("and {w}") } else { w };
        }
        if n < 1000 {
            let h = format!("{} hundred", SMALL[(n / 100) as usize]);
            return if n.is_multiple_of(100) { h } else { format!("{h} {}", rec(n % 100, true)) };
        }
        for (v, name) in SCALES {
            if n >= v {
                let head = format!("{} {name}", rec(n / v, false));
                let rest = n % v;
                return if rest == 0 {
                    head
                } else if rest < 100 {
                    format!("{head} {}", rec(rest, true))
                } else {
                    format!("{head}, {}", rec(rest, false))
                };
            }
        }
        String::new()
    }
    rec(n, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, input: Value) -> Result<Value, Failure> {
        let states = json!({ "input": input });
        evaluate_field("Output", &Value::String(format!("{{% {expr} %}}")), &states, &Vars::new(), &Random::new(1)).map_err(|e| e.to_failure())
    }

    #[test]
    fn numbers_print_as_javascript() {
        assert_eq!(js_number(3.0), "3");
        assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(1.5e-7), "1.5e-7");
        assert_eq!(js_number(36028797018963968.0), "36028797018963970");
        assert_eq!(js_number(-0.000001), "-0.000001");
        assert_eq!(eval("1 + 2", json!(null)).unwrap().to_string(), "3");
    }

    #[test]
    fn undefined_is_an_error() {
        let e = eval("$nothing", json!({})).unwrap_err();
        assert_eq!(e.error, "States.QueryEvaluationError");
        assert_eq!(e.cause, "The JSONata expression '$nothing' specified for the field 'Output' returned nothing (undefined).");
    }

    #[test]
    fn key_order_kept() {
        let v = eval("$states.input", json!({"z": 1, "a": 2, "m": 3})).unwrap();
        assert_eq!(v.to_string(), r#"{"z":1,"a":2,"m":3}"#);
        let v = eval("{'z': 1, 'a': 2, 'm': {'y': 1, 'b': 2}}", json!(null)).unwrap();
        assert_eq!(v.to_string(), r#"{"z":1,"a":2,"m":{"y":1,"b":2}}"#);
        let v = eval("$string($states.input)", json!({"z": 1, "a": [1.5, 2]})).unwrap();
        assert_eq!(v, json!(r#"{"z":1,"a":[1.5,2]}"#));
        let v = eval("$keys($states.input)", json!({"z": 1, "a": 2})).unwrap();
        assert_eq!(v, json!(["z", "a"]));
    }

    #[test]
    fn deterministic_randomness() {
        let states = json!({"input": {}});
        let f = json!("{% [$random(), $uuid()] %}");
        let r1 = Random::new(7);
        let a = evaluate_field("Output", &f, &states, &Vars::new(), &r1).unwrap();
        let r2 = Random::new(7);
        let b = evaluate_field("Output", &f, &states, &Vars::new(), &r2).unwrap();
        assert_eq!(a, b);
        assert_eq!(r1.state(), r2.state());
        assert_ne!(r1.state(), Random::new(7).state());
        let c = evaluate_field("Output", &f, &states, &Vars::new(), &r1).unwrap();
        assert_ne!(a, c);
        assert_eq!(eval("$random(42)", json!(null)).unwrap(), eval("$random(42)", json!(null)).unwrap());
    }

    #[test]
    fn aws_functions() {
        assert_eq!(eval("$partition([0,1,2], 2)", json!(null)).unwrap(), json!([[0, 1], [2]]));
        assert_eq!(eval("$range(0, 10, 3)", json!(null)).unwrap(), json!([0, 3, 6, 9]));
        assert_eq!(eval("$range(1, 9, 9)", json!(null)).unwrap(), json!(1));
        assert_eq!(eval("$parse('{\"a\": [1, -0]}')", json!(null)).unwrap(), json!({"a": [1, 0]}));
        assert_eq!(eval("$hash('input data', 'SHA-1')", json!(null)).unwrap(), json!("aaff4a450a104cd177d28d18d74485e8cae074b7"));
    }

    #[test]
    fn variables_shadow_functions() {
        let mut vars = Vars::new();
        vars.set("sum".into(), json!(5));
        vars.set("x".into(), json!([1, 2]));
        let states = json!({"input": {}});
        let v = evaluate_field("Output", &json!("{% [$sum, $x] %}"), &states, &vars, &Random::new(1)).unwrap();
        assert_eq!(v, json!([5, 1, 2]));
    }

    #[test]
    fn errors_and_limits() {
        let e = eval("$randomSeeded(1)", json!(null)).unwrap_err();
        assert!(e.cause.ends_with("threw an error during evaluation. T1006: Attempted to invoke a non-function"), "{}", e.cause);
        let e = eval("($f := function($n){ 1 + $f($n) }; $f(1))", json!(null)).unwrap_err();
        assert!(e.cause.contains("U1001"), "{}", e.cause);
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(eval(&deep, json!(null)).is_err());
        let e = eval("$fn := function($x){$x}", json!(null)).unwrap_err();
        assert!(e.cause.ends_with("returned an unsupported result type."), "{}", e.cause);
    }

    #[test]
    fn items_type() {
        let states = json!({"input": {}});
        let e = evaluate_field_as("Items", &json!("{% {'foo': 'bar'} %}"), Expected::Array, &states, &Vars::new(), &Random::new(1)).unwrap_err();
        assert_eq!(e.location, "Items");
        assert_eq!(
            e.message,
            "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
        );
    }

    #[test]
    fn walks_structures() {
        let states = json!({"input": {"a": 1}});
        let f = json!({"k": "{% $states.input.a + 1 %}", "l": [" {% x %} ", "{% 'y' %}"], "n": 1.0});
        let v = evaluate_field("Output", &f, &states, &Vars::new(), &Random::new(1)).unwrap();
        assert_eq!(v.to_string(), r#"{"k":2,"l":[" {% x %} ","y"],"n":1.0}"#);
        let f = json!({"k": {"deep": "{% $nope %}"}});
        let e = evaluate_field("Arguments", &f, &states, &Vars::new(), &Random::new(1)).unwrap_err();
        assert_eq!(e.location, "Arguments/k/deep");
        assert!(e.message.contains("for the field 'Arguments/k/deep'"));
        let e = e.in_state("S", 2);
        assert!(e.cause.starts_with("An error occurred while executing the state 'S' (entered at the event id #2). The JSONata"));
    }

    #[test]
    fn filled_functions() {
        assert_eq!(eval("$number('0x10') + $number('-1.5e2')", json!(null)).unwrap(), json!(-134));
        assert_eq!(
            eval("$match('ababbabbcc', /a(b+)/)", json!(null)).unwrap().to_string(),
            r#"[{"match":"ab","index":0,"groups":["b"]},{"match":"abb","index":2,"groups":["bb"]},{"match":"abb","index":5,"groups":["bb"]}]"#
        );
        assert_eq!(eval("$formatNumber(12345.6789, '#,##0.00')", json!(null)).unwrap(), json!("12,345.68"));
        assert_eq!(eval("$formatNumber(0.1234, '0.00%')", json!(null)).unwrap(), json!("12.34%"));
        assert_eq!(eval("$formatInteger(123, 'w')", json!(null)).unwrap(), json!("one hundred and twenty-three"));
        assert_eq!(eval("$formatInteger(1999, 'I')", json!(null)).unwrap(), json!("MCMXCIX"));
        assert_eq!(eval("$type($states.input)", json!({})).unwrap(), json!("object"));
        assert_eq!(eval("$average([1, 2])", json!(null)).unwrap(), json!(1.5));
        let e = eval("$sum(['a'])", json!(null)).unwrap_err();
        assert!(e.cause.ends_with(r#"T0412: Argument 1 of function "sum" must be an array of "numbers""#), "{}", e.cause);
    }

    #[test]
    fn now_is_entered_time() {
        let states = json!({"input": {}, "context": {"State": {"EnteredTime": "2024-03-01T10:20:30.456Z"}}});
        let v = evaluate_field("Output", &json!("{% [$now(), $millis()] %}"), &states, &Vars::new(), &Random::new(1)).unwrap();
        assert_eq!(v, json!(["2024-03-01T10:20:30.456Z", 1709288430456u64]));
    }
}
