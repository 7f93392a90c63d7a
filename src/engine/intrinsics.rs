//! Running the 18 `States.*` intrinsic functions of JSONPath-mode state machines.
//!
//! [`crate::asl::intrinsic`] parses a call; this module evaluates it against what a state
//! can see ([`Env`]): path arguments read `$` (the input the field is evaluated against), `$$`
//! (the context object) and `$name` (variables), and nested calls run first, left to right.
//!
//! # How AWS behaves, and so how this module behaves
//!
//! AWS's interpreter is written in Java. Path values reach the functions as plain Java
//! objects (a `LinkedHashMap` for an object, an `ArrayList` for an array, `Integer` / `Long` /
//! `BigInteger` for integers, `Double` for other numbers), and several functions show it:
//!
//! * `States.Format` prints each argument with Java's `toString`: text as is, an object as
//!   `{a=1, b=[x, y]}`, `null` as `null` (recorded: `fst={Arg1=1, Arg2=[]}`). A value made by
//!   `States.StringToJson` is a Jackson node instead, and prints as compact JSON.
//! * `States.ArrayContains` compares those `toString` texts: `true` is found in `["true"]`,
//!   `9007199254740991` in `["9007199254740991"]`, but `{"a":1,"b":2}` is not found in
//!   `[{"b":2,"a":1}]` (key order differs in the text).
//! * `States.ArrayUnique` goes through a `java.util.HashSet`: duplicates are Java-`equals`
//!   (key order does not matter), and the result comes out in hash-bucket order, not first-seen
//!   order (`[true, false, true]` gives `[false, true]`). [`JavaObject`] reproduces Java's
//!   `hashCode` and `HashMap` bucket layout for that.
//! * `States.MathAdd` rounds each operand half up (`Math.round`: -2.5 gives -2) and works in
//!   32-bit integers; `ArrayRange`, `ArrayPartition`, `ArrayGetItem` and `MathRandom` truncate
//!   fractions instead (`intValue`). `States.MathRandom` with a seed is `java.util.Random`:
//!   `start + new Random(seed).nextInt(end - start)` (AWS gives -5 for `(-5, 5, 42)`, as this
//!   does); without a seed the number comes from [`Env::random`], so that a replay repeats it.
//! * `States.StringSplit` is a `java.util.StringTokenizer`: every character of the second
//!   argument is a delimiter and empty pieces are dropped.
//! * `States.Base64Decode` is lenient like Apache Commons Codec: characters outside the
//!   alphabet are skipped, padding is optional and ends the data.
//! * `States.StringToJson` of an empty or blank text is `null`.
//!
//! A function refusing its arguments fails the state with `States.Runtime` and the cause
//! `Invalid arguments in States.Name`: that is what AWS reports (observed for MathAdd,
//! StringToJson, ArrayRange, ArrayPartition, MathRandom, ...), not `States.IntrinsicFailure`
//! as the ASL specification suggests. AWS's causes go on after that prefix with details we
//! have no record of, so ours add none. A path argument that finds nothing fails with
//! `States.Runtime` and AWS's text `The JSONPath '$.x' specified for the field 'f.$' could not
//! be found in the input '{...}'`. The interpreter prefixes every cause with
//! `An error occurred while executing the state 'S' (entered at the event id #N). `.

use std::cmp::Ordering;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::asl::intrinsic::{self, Arg, Call, Function};
use crate::asl::path::{JsonPath, PathError};
use crate::engine::{Env, Failure, names};

/// The error AWS raises when an intrinsic function refuses its arguments.
const ARGUMENT_ERROR: &str = names::RUNTIME;

/// The longest text `States.Base64Encode`, `States.Base64Decode` and `States.Hash` accept,
/// in UTF-16 units as Java counts (AWS: 10,000 accepted, 10,001 refused).
const MAX_TEXT: usize = 10_000;

/// The most items `States.ArrayRange` may produce.
const MAX_RANGE_ITEMS: u64 = 1000;

/// Evaluates a parsed intrinsic function call.
///
/// Failure causes that name a field say `the field ''`; use [`evaluate_for_field`] where the
/// call is the value of a known field.
pub fn evaluate(call: &Call, env: &Env) -> Result<Value, Failure> {
    evaluate_for_field(call, env, "")
}

/// Evaluates a call that is the value of the field `field` (such as `greeting.$` in
/// `Parameters`), which AWS names when a path argument finds nothing.
pub fn evaluate_for_field(call: &Call, env: &Env, field: &str) -> Result<Value, Failure> {
    let ctx = Ctx { env, field };
    ctx.call(call).map(|v| v.value)
}

/// Parses and evaluates the text of a `.$` field that holds a call.
pub fn evaluate_text(text: &str, env: &Env, field: &str) -> Result<Value, Failure> {
    let call = intrinsic::parse_intrinsic(text).map_err(|e| {
        Failure::runtime(format!(
            "The value '{text}' of the field '{field}' is not a valid intrinsic function: {e}"
        ))
    })?;
    evaluate_for_field(&call, env, field)
}

/// An evaluated argument: its JSON value and whether Java holds it as a Jackson node (made by
/// `States.StringToJson`) rather than a plain Java object, which changes how
/// `States.Format` prints it.
struct Evaluated {
    value: Value,
    json_node: bool,
}

impl Evaluated {
    fn plain(value: Value) -> Evaluated {
        Evaluated {
            value,
            json_node: false,
        }
    }
}

struct Ctx<'e, 'a> {
    env: &'e Env<'a>,
    field: &'e str,
}

fn invalid(function: Function) -> Failure {
    Failure::new(
        ARGUMENT_ERROR,
        format!("Invalid arguments in {}", function.name()),
    )
}

impl Ctx<'_, '_> {
    fn call(&self, call: &Call) -> Result<Evaluated, Failure> {
        let f = call.function;
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            args.push(self.arg(arg)?);
        }
        let arg = |i: usize| args.get(i).map(|a| &a.value).ok_or_else(|| invalid(f));
        let value = match f {
            Function::Format => return format(f, call, &args).map(Evaluated::plain),
            Function::StringToJson => {
                return string_to_json(f, arg(0)?).map(|value| Evaluated {
                    value,
                    json_node: true,
                });
            }
            Function::JsonToString => Value::String(compact_json(arg(0)?)),
            Function::Array => Value::Array(args.iter().map(|a| a.value.clone()).collect()),
            Function::ArrayPartition => array_partition(f, arg(0)?, arg(1)?)?,
            Function::ArrayContains => array_contains(f, arg(0)?, arg(1)?)?,
            Function::ArrayRange => array_range(f, arg(0)?, arg(1)?, arg(2)?)?,
            Function::ArrayGetItem => array_get_item(f, arg(0)?, arg(1)?)?,
            Function::ArrayLength => match arg(0)? {
                Value::Array(items) => Value::from(items.len()),
                _ => return Err(invalid(f)),
            },
            Function::ArrayUnique => array_unique(f, arg(0)?)?,
            Function::Base64Encode => {
                let text = limited_text(f, arg(0)?)?;
                Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
            }
            Function::Base64Decode => {
                let text = limited_text(f, arg(0)?)?;
                let bytes = lenient_base64_decode(text);
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }
            Function::Hash => hash(f, arg(0)?, arg(1)?)?,
            Function::JsonMerge => json_merge(f, arg(0)?, arg(1)?, arg(2)?)?,
            Function::MathRandom => {
                let seed = args.get(2).map(|a| &a.value);
                math_random(f, arg(0)?, arg(1)?, seed, self.env)?
            }
            Function::MathAdd => math_add(f, arg(0)?, arg(1)?)?,
            Function::StringSplit => string_split(f, arg(0)?, arg(1)?)?,
            Function::Uuid => Value::String(uuid_v4(self.env)),
        };
        Ok(Evaluated::plain(value))
    }

    fn arg(&self, arg: &Arg) -> Result<Evaluated, Failure> {
        Ok(match arg {
            Arg::String(raw) => Evaluated::plain(Value::String(intrinsic::unescape(raw))),
            Arg::Number(n) => Evaluated::plain(Value::Number(n.clone())),
            Arg::Bool(b) => Evaluated::plain(Value::Bool(*b)),
            Arg::Null => Evaluated::plain(Value::Null),
            Arg::Path(path) => Evaluated::plain(self.path(path)?),
            Arg::Call(call) => self.call(call)?,
        })
    }

    fn path(&self, path: &JsonPath) -> Result<Value, Failure> {
        let env = self.env;
        match path.select(env.input, env.context, &|name| env.vars.get(name)) {
            Ok(selection) => Ok(selection.into_value()),
            // As in payload templates: an indefinite path that finds nothing is `[]`.
            Err(PathError::NotFound { .. }) if !path.is_definite() => Ok(Value::Array(Vec::new())),
            Err(e) => Err(path_failure(&path.to_string(), self.field, env.input, &e)),
        }
    }
}

/// AWS's failure for a path of a payload template or intrinsic argument that cannot be read.
pub(crate) fn path_failure(path: &str, field: &str, input: &Value, error: &PathError) -> Failure {
    match error {
        PathError::NotFound { .. } | PathError::UnknownVariable { .. } => {
            Failure::runtime(format!(
                "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                compact_json(input)
            ))
        }
        other => Failure::runtime(format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be evaluated: {other}"
        )),
    }
}

/// JSON text without spaces, as AWS prints values in causes and `States.JsonToString`.
pub fn compact_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The functions
// ---------------------------------------------------------------------------------------

fn format(f: Function, call: &Call, args: &[Evaluated]) -> Result<Value, Failure> {
    // A literal template keeps its escapes until here: `\{` is not a placeholder.
    let pieces = match (call.args.first(), args.first()) {
        (Some(Arg::String(raw)), _) => intrinsic::split_format_template(raw),
        (
            _,
            Some(Evaluated {
                value: Value::String(text),
                ..
            }),
        ) => text.split("{}").map(str::to_string).collect(),
        _ => return Err(invalid(f)),
    };
    let values = &args[1..];
    if pieces.len() != values.len() + 1 {
        return Err(invalid(f));
    }
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(arg) = values.get(i) {
            match &arg.value {
                Value::String(s) if !arg.json_node => out.push_str(s),
                v if arg.json_node => out.push_str(&compact_json(v)),
                v => out.push_str(&JavaObject::from_json(v).to_java_string()),
            }
        }
    }
    Ok(Value::String(out))
}

fn string_to_json(f: Function, arg: &Value) -> Result<Value, Failure> {
    let Value::String(text) = arg else {
        return Err(invalid(f));
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let parsed: Value = serde_json::from_str(text).map_err(|_| invalid(f))?;
    Ok(jackson_numbers(parsed))
}

/// Numbers as Jackson reads them into a tree: integers in canonical form (`-0` is `0`),
/// others as a Java `double` prints (`1.10` is `1.1`, `1e2` is `100.0`).
fn jackson_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(jackson_number(&n)),
        Value::Array(items) => Value::Array(items.into_iter().map(jackson_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, jackson_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

fn jackson_number(n: &Number) -> Number {
    let text = n.to_string();
    let canonical = match JavaNumber::parse(&text) {
        JavaNumber::Integer(big) => big.to_decimal(),
        JavaNumber::Double(d) => java_double_to_string(d),
    };
    canonical.parse().unwrap_or_else(|_| n.clone())
}

fn array_partition(f: Function, array: &Value, size: &Value) -> Result<Value, Failure> {
    let (Value::Array(items), Some(size)) = (array, truncated_int(size)) else {
        return Err(invalid(f));
    };
    if size <= 0 {
        return Err(invalid(f));
    }
    let size = usize::try_from(size).map_err(|_| invalid(f))?;
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

fn array_contains(f: Function, array: &Value, target: &Value) -> Result<Value, Failure> {
    let Value::Array(items) = array else {
        return Err(invalid(f));
    };
    let wanted = JavaObject::from_json(target).to_java_string();
    Ok(Value::Bool(items.iter().any(|item| {
        JavaObject::from_json(item).to_java_string() == wanted
    })))
}

fn array_range(f: Function, start: &Value, end: &Value, step: &Value) -> Result<Value, Failure> {
    let (Some(start), Some(end), Some(step)) = (
        truncated_int(start),
        truncated_int(end),
        truncated_int(step),
    ) else {
        return Err(invalid(f));
    };
    if step == 0 {
        return Err(invalid(f));
    }
    let count = match start.cmp(&end) {
        Ordering::Equal => 1,
        Ordering::Less if step > 0 => (end - start) / step + 1,
        Ordering::Greater if step < 0 => (start - end) / (-step) + 1,
        _ => 0,
    };
    if u64::try_from(count).map_or(true, |c| c > MAX_RANGE_ITEMS) {
        return Err(invalid(f));
    }
    Ok(Value::Array(
        (0..count).map(|i| Value::from(start + i * step)).collect(),
    ))
}

fn array_get_item(f: Function, array: &Value, index: &Value) -> Result<Value, Failure> {
    let (Value::Array(items), Some(index)) = (array, truncated_int(index)) else {
        return Err(invalid(f));
    };
    if index < 0 {
        return Err(invalid(f));
    }
    // Recorded: AWS answers `null` for any index into an empty array, and refuses an index
    // past the end of a non-empty one.
    if items.is_empty() {
        return Ok(Value::Null);
    }
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| invalid(f))
}

fn array_unique(f: Function, array: &Value) -> Result<Value, Failure> {
    let Value::Array(items) = array else {
        return Err(invalid(f));
    };
    let objects: Vec<JavaObject> = items.iter().map(JavaObject::from_json).collect();
    let order = java_hash_set_order(&objects);
    Ok(Value::Array(
        order
            .into_iter()
            .filter_map(|i| items.get(i).cloned())
            .collect(),
    ))
}

fn limited_text(f: Function, arg: &Value) -> Result<&str, Failure> {
    match arg {
        Value::String(s) if s.encode_utf16().count() <= MAX_TEXT => Ok(s),
        _ => Err(invalid(f)),
    }
}

/// Base64 decoding as Apache Commons Codec does it: characters outside the alphabet (both the
/// standard and the URL-safe one) are skipped, `=` ends the data, and bits that do not make a
/// whole byte are dropped.
fn lenient_base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    out
}

fn hash(f: Function, data: &Value, algorithm: &Value) -> Result<Value, Failure> {
    use md5::Digest as _;
    // AWS hashes a number or an object too, as the text Java prints for it.
    let text = match data {
        Value::String(s) => s.clone(),
        other => JavaObject::from_json(other).to_java_string(),
    };
    if text.encode_utf16().count() > MAX_TEXT {
        return Err(invalid(f));
    }
    let bytes = text.as_bytes();
    let digest: Vec<u8> = match algorithm.as_str() {
        Some("MD5") => md5::Md5::digest(bytes).to_vec(),
        Some("SHA-1") => sha1::Sha1::digest(bytes).to_vec(),
        Some("SHA-256") => sha2::Sha256::digest(bytes).to_vec(),
        Some("SHA-384") => sha2::Sha384::digest(bytes).to_vec(),
        Some("SHA-512") => sha2::Sha512::digest(bytes).to_vec(),
        _ => return Err(invalid(f)),
    };
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

fn json_merge(f: Function, left: &Value, right: &Value, deep: &Value) -> Result<Value, Failure> {
    // Only a shallow merge exists; AWS treats a third argument that is not `true` (even the
    // text "false") as shallow.
    if deep == &Value::Bool(true) {
        return Err(invalid(f));
    }
    let (Value::Object(left), Value::Object(right)) = (left, right) else {
        return Err(invalid(f));
    };
    let mut merged: Map<String, Value> = left.clone();
    for (k, v) in right {
        merged.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(merged))
}

fn math_random(
    f: Function,
    start: &Value,
    end: &Value,
    seed: Option<&Value>,
    env: &Env,
) -> Result<Value, Failure> {
    let (Some(start), Some(end)) = (truncated_int(start), truncated_int(end)) else {
        return Err(invalid(f));
    };
    let int = |v: i64| i32::try_from(v).map_err(|_| invalid(f));
    let (start, end) = (int(start)?, int(end)?);
    let bound = i64::from(end) - i64::from(start);
    let bound = i32::try_from(bound).map_err(|_| invalid(f))?;
    if bound <= 0 {
        return Err(invalid(f));
    }
    let offset = match seed {
        Some(seed) => {
            let seed = truncated_int(seed).ok_or_else(|| invalid(f))?;
            JavaRandom::new(seed).next_int(bound)
        }
        None => {
            // Uniform in [0, bound) from 64 random bits.
            let r = u128::from(env.random.next_u64());
            ((r * bound as u128) >> 64) as i32
        }
    };
    Ok(Value::from(i64::from(start) + i64::from(offset)))
}

fn math_add(f: Function, a: &Value, b: &Value) -> Result<Value, Failure> {
    let operand = |v: &Value| {
        let x = match v {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
        .filter(|x| x.is_finite())
        .ok_or_else(|| invalid(f))?;
        // Math.round: half up.
        let rounded = (x + 0.5).floor();
        if rounded < f64::from(i32::MIN) || rounded > f64::from(i32::MAX) {
            return Err(invalid(f));
        }
        Ok(rounded as i64)
    };
    let sum = operand(a)? + operand(b)?;
    if i32::try_from(sum).is_err() {
        return Err(invalid(f));
    }
    Ok(Value::from(sum))
}

fn string_split(f: Function, text: &Value, delimiters: &Value) -> Result<Value, Failure> {
    let (Value::String(text), Value::String(delimiters)) = (text, delimiters) else {
        return Err(invalid(f));
    };
    Ok(Value::Array(
        text.split(|c: char| delimiters.contains(c))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Value::String(piece.to_string()))
            .collect(),
    ))
}

/// A version 4 UUID from the execution's random source.
fn uuid_v4(env: &Env) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&env.random.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&env.random.next_u64().to_be_bytes());
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A number argument as Java's `intValue()` of a `double` sees it: the fraction dropped,
/// out-of-range values saturated. Not a number: `None`.
fn truncated_int(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let x = n.as_f64()?;
    if x.is_nan() {
        return None;
    }
    Some(x.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
}

// ---------------------------------------------------------------------------------------
// java.util.Random
// ---------------------------------------------------------------------------------------

/// `java.util.Random`, the generator behind a seeded `States.MathRandom`.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i64 as i32
    }

    /// `nextInt(bound)` for `bound > 0`.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON values as the Java objects AWS's interpreter holds
// ---------------------------------------------------------------------------------------

/// A JSON value as Jackson maps it to Java objects, with Java's `equals`, `hashCode` and
/// `toString`.
#[derive(Debug, Clone)]
pub(crate) enum JavaObject {
    Null,
    Boolean(bool),
    /// `Integer`, `Long` or `BigInteger`, by magnitude.
    Integer(BigInt),
    Double(f64),
    String(String),
    List(Vec<JavaObject>),
    /// A `LinkedHashMap`.
    Map(Vec<(String, JavaObject)>),
}

enum JavaNumber {
    Integer(BigInt),
    Double(f64),
}

impl JavaNumber {
    fn parse(text: &str) -> JavaNumber {
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && let Some(big) = BigInt::parse(text)
        {
            return JavaNumber::Integer(big);
        }
        JavaNumber::Double(text.parse().unwrap_or(f64::NAN))
    }
}

impl JavaObject {
    pub(crate) fn from_json(value: &Value) -> JavaObject {
        match value {
            Value::Null => JavaObject::Null,
            Value::Bool(b) => JavaObject::Boolean(*b),
            Value::Number(n) => match JavaNumber::parse(&n.to_string()) {
                JavaNumber::Integer(i) => JavaObject::Integer(i),
                JavaNumber::Double(d) => JavaObject::Double(d),
            },
            Value::String(s) => JavaObject::String(s.clone()),
            Value::Array(items) => JavaObject::List(items.iter().map(Self::from_json).collect()),
            Value::Object(map) => JavaObject::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// `String.valueOf(object)`.
    pub(crate) fn to_java_string(&self) -> String {
        let mut out = String::new();
        self.write_java_string(&mut out);
        out
    }

    fn write_java_string(&self, out: &mut String) {
        match self {
            JavaObject::Null => out.push_str("null"),
            JavaObject::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            JavaObject::Integer(i) => out.push_str(&i.to_decimal()),
            JavaObject::Double(d) => out.push_str(&java_double_to_string(*d)),
            JavaObject::String(s) => out.push_str(s),
            JavaObject::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_java_string(out);
                }
                out.push(']');
            }
            JavaObject::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write_java_string(out);
                }
                out.push('}');
            }
        }
    }

    /// `Object.equals`: maps regardless of key order, numbers only within the same class.
    fn java_equals(&self, other: &JavaObject) -> bool {
        match (self, other) {
            (JavaObject::Null, JavaObject::Null) => true,
            (JavaObject::Boolean(a), JavaObject::Boolean(b)) => a == b,
            (JavaObject::Integer(a), JavaObject::Integer(b)) => a == b,
            (JavaObject::Double(a), JavaObject::Double(b)) => {
                java_double_bits(*a) == java_double_bits(*b)
            }
            (JavaObject::String(a), JavaObject::String(b)) => a == b,
            (JavaObject::List(a), JavaObject::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.java_equals(y))
            }
            (JavaObject::Map(a), JavaObject::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v.java_equals(v2)))
            }
            _ => false,
        }
    }

    /// `Object.hashCode`.
    fn java_hash(&self) -> i32 {
        match self {
            JavaObject::Null => 0,
            JavaObject::Boolean(b) => {
                if *b {
                    1231
                } else {
                    1237
                }
            }
            JavaObject::Integer(i) => i.java_hash(),
            JavaObject::Double(d) => {
                let bits = java_double_bits(*d);
                (bits ^ (bits >> 32)) as i32
            }
            JavaObject::String(s) => java_string_hash(s),
            JavaObject::List(items) => items
                .iter()
                .fold(1i32, |h, e| h.wrapping_mul(31).wrapping_add(e.java_hash())),
            JavaObject::Map(entries) => entries.iter().fold(0i32, |h, (k, v)| {
                h.wrapping_add(java_string_hash(k) ^ v.java_hash())
            }),
        }
    }
}

fn java_double_bits(d: f64) -> u64 {
    if d.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        d.to_bits()
    }
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The order in which `new ArrayList<>(new HashSet<>(list))` returns the distinct items of
/// `list`, as indexes of their first occurrence. The set starts with room for the whole list
/// (`HashSet(Collection)`: `max(n / .75f + 1, 16)` buckets, rounded up to a power of two) and
/// doubles whenever it is more than three quarters full; iteration goes bucket by bucket, and
/// within a bucket in insertion order (a resize keeps that order).
fn java_hash_set_order(objects: &[JavaObject]) -> Vec<usize> {
    let mut distinct: Vec<usize> = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if !distinct.iter().any(|&j| objects[j].java_equals(o)) {
            distinct.push(i);
        }
    }
    let wanted = ((objects.len() as f32 / 0.75f32) as usize + 1).max(16);
    let mut capacity = wanted.next_power_of_two().min(1 << 30);
    while distinct.len() as f64 > capacity as f64 * 0.75 && capacity < (1 << 30) {
        capacity *= 2;
    }
    let bucket = |i: usize| {
        let h = objects[i].java_hash() as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    // A stable sort keeps insertion order within a bucket.
    distinct.sort_by_key(|&i| bucket(i));
    distinct
}

/// Java's `Double.toString`: plain decimals between 10^-3 and 10^7, otherwise computerized
/// scientific notation (`1.0E7`), always with a fraction digit.
pub(crate) fn java_double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Shortest digits that read back as `d`, and the decimal exponent of the first one.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exponent + 1; // digits before the decimal point
        let (int_part, frac_part) = if point <= 0 {
            (
                "0".to_string(),
                format!("{}{}", "0".repeat((-point) as usize), digits),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{}{}", digits, "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac = if frac_part.is_empty() {
            "0".to_string()
        } else {
            frac_part
        };
        format!("{sign}{int_part}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

// ---------------------------------------------------------------------------------------
// Integers of any size (Java's Integer, Long and BigInteger)
// ---------------------------------------------------------------------------------------

/// An integer of any size: sign and magnitude in base 2^32, most significant word first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BigInt {
    negative: bool,
    magnitude: Vec<u32>,
}

impl BigInt {
    fn parse(text: &str) -> Option<BigInt> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Little-endian while building.
        let mut words: Vec<u32> = Vec::new();
        for b in digits.bytes() {
            let mut carry = u64::from(b - b'0');
            for w in words.iter_mut() {
                let v = u64::from(*w) * 10 + carry;
                *w = v as u32;
                carry = v >> 32;
            }
            if carry > 0 {
                words.push(carry as u32);
            }
        }
        while words.last() == Some(&0) {
            words.pop();
        }
        words.reverse();
        Some(BigInt {
            negative: negative && !words.is_empty(),
            magnitude: words,
        })
    }

    fn as_i64(&self) -> Option<i64> {
        if self.magnitude.len() > 2 {
            return None;
        }
        let m = self
            .magnitude
            .iter()
            .fold(0u64, |acc, w| (acc << 32) | u64::from(*w));
        if self.negative {
            if m <= 1 << 63 {
                Some((m as i64).wrapping_neg())
            } else {
                None
            }
        } else {
            i64::try_from(m).ok()
        }
    }

    fn to_decimal(&self) -> String {
        if let Some(i) = self.as_i64() {
            return i.to_string();
        }
        let mut words = self.magnitude.clone();
        let mut digits = Vec::new();
        while !words.is_empty() {
            let mut rem: u64 = 0;
            for w in words.iter_mut() {
                let v = (rem << 32) | u64::from(*w);
                *w = (v / 10) as u32;
                rem = v % 10;
            }
            digits.push(b'0' + rem as u8);
            while words.first() == Some(&0) {
                words.remove(0);
            }
        }
        if digits.is_empty() {
            digits.push(b'0');
        }
        if self.negative {
            digits.push(b'-');
        }
        digits.reverse();
        String::from_utf8(digits).unwrap_or_default()
    }

    /// `Integer.hashCode`, `Long.hashCode` or `BigInteger.hashCode`, by which class Jackson
    /// would have chosen for this value.
    fn java_hash(&self) -> i32 {
        match self.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => i as i32,
            Some(i) => (i ^ ((i as u64) >> 32) as i64) as i32,
            None => {
                let h = self
                    .magnitude
                    .iter()
                    .fold(0i32, |h, w| h.wrapping_mul(31).wrapping_add(*w as i32));
                if self.negative { h.wrapping_neg() } else { h }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::asl::intrinsic::parse_intrinsic;
    use crate::engine::{Random, Vars};

    fn run(text: &str, input: Value) -> Result<Value, Failure> {
        let context = json!({"Execution": {"Name": "exec"}});
        let vars = Vars::new();
        let random = Random::new(7);
        let env = Env {
            input: &input,
            context: &context,
            vars: &vars,
            random: &random,
        };
        evaluate_for_field(&parse_intrinsic(text).unwrap(), &env, "value.$")
    }

    fn ok(text: &str, input: Value) -> String {
        run(text, input).unwrap().to_string()
    }

    fn err(text: &str, input: Value) -> Failure {
        run(text, input).unwrap_err()
    }

    #[test]
    fn java_random_matches_the_jdk() {
        // new Random(42).nextInt(10) == 0 and new Random(0).nextInt(100) == 60 in the JDK.
        assert_eq!(JavaRandom::new(42).next_int(10), 0);
        assert_eq!(JavaRandom::new(0).next_int(100), 60);
        assert_eq!(ok("States.MathRandom(-5, 5, 42)", json!({})), "-5");
        assert_eq!(
            ok("States.MathRandom(1, 100, 42)", json!({})),
            ok("States.MathRandom(1, 100, 42)", json!({}))
        );
    }

    #[test]
    fn math_random_range_and_truncation() {
        for _ in 0..20 {
            let v = run("States.MathRandom(1.6, 5.4)", json!({})).unwrap();
            let v = v.as_i64().unwrap();
            assert!((1..5).contains(&v), "{v}");
        }
        assert_eq!(
            err("States.MathRandom(1.4, 1.6)", json!({})).error,
            "States.Runtime"
        );
        assert_eq!(
            err("States.MathRandom(10, 5)", json!({})).cause,
            "Invalid arguments in States.MathRandom"
        );
        assert!(run("States.MathRandom($.a, 10)", json!({"a": null})).is_err());
        assert!(run("States.MathRandom(1, 10, $.s)", json!({"s": null})).is_err());
    }

    #[test]
    fn math_add_rounds_half_up_in_int32() {
        assert_eq!(ok("States.MathAdd(-2.5, 0)", json!({})), "-2");
        assert_eq!(ok("States.MathAdd(1.5, 1.51)", json!({})), "4");
        assert_eq!(ok("States.MathAdd(2147483646, 1)", json!({})), "2147483647");
        assert!(run("States.MathAdd(2147483647, 1)", json!({})).is_err());
        assert!(run("States.MathAdd($.a, 1)", json!({"a": 3000000000u64})).is_err());
        assert!(run("States.MathAdd($.a, 1)", json!({"a": "1"})).is_err());
        assert_eq!(ok("States.MathAdd($.a, 1)", json!({"a": 1.0})), "2");
    }

    #[test]
    fn format_prints_java_objects() {
        assert_eq!(
            ok(
                "States.Format('{} {} {} {}', $.o, $.n, $.d, $.l)",
                json!({"o": {"a": 1, "b": []}, "n": null, "d": 1e7, "l": [true, "x"]})
            ),
            "\"{a=1, b=[]} null 1.0E7 [true, x]\""
        );
        assert_eq!(
            ok(
                "States.Format('{}', States.StringToJson($.s))",
                json!({"s": "\"x\""})
            ),
            "\"\\\"x\\\"\""
        );
        assert_eq!(ok("States.Format('\\{{}\\}', 'a')", json!({})), "\"{a}\"");
        assert!(run("States.Format('{} {}', 'a')", json!({})).is_err());
        assert_eq!(
            ok("States.Format($.t, 'Ada')", json!({"t": "Hello {}"})),
            "\"Hello Ada\""
        );
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [true, false, true, false]})
            ),
            "[false,true]"
        );
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [[1, 2], [1, 2], [2, 1]]})
            ),
            "[[2,1],[1,2]]"
        );
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [null, null, 1, null]})
            ),
            "[null,1]"
        );
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]})
            ),
            "[{\"a\":1,\"b\":2}]"
        );
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": ["a", "b", "a", "c", "b"]})
            ),
            "[\"a\",\"b\",\"c\"]"
        );
        assert_eq!(
            ok("States.ArrayContains($.a, true)", json!({"a": ["true"]})),
            "true"
        );
        assert_eq!(
            ok(
                "States.ArrayContains($.a, $.t)",
                json!({"a": [{"a": 1, "b": 2}], "t": {"b": 2, "a": 1}})
            ),
            "false"
        );
        assert_eq!(
            ok("States.ArrayContains($.a, false)", json!({"a": [0, 1]})),
            "false"
        );
        assert_eq!(ok("States.ArrayRange(1.6, 1.4, 1)", json!({})), "[1]");
        assert_eq!(
            ok("States.ArrayRange(5.4, -0.6, -2.4)", json!({})),
            "[5,3,1]"
        );
        assert_eq!(ok("States.ArrayRange(3, 3, -1)", json!({})), "[3]");
        assert_eq!(ok("States.ArrayRange(1, 5, -1)", json!({})), "[]");
        assert!(run("States.ArrayRange(1, 1001, 1)", json!({})).is_err());
        assert!(run("States.ArrayRange(1, 10, 0.49)", json!({})).is_err());
        assert_eq!(
            ok(
                "States.ArrayPartition($.a, 2.6)",
                json!({"a": [1, 2, 3, 4, 5]})
            ),
            "[[1,2],[3,4],[5]]"
        );
        assert!(run("States.ArrayPartition($.a, 0.6)", json!({"a": [1]})).is_err());
        assert_eq!(
            ok("States.ArrayGetItem($.a, 1.2)", json!({"a": [10, 20, 30]})),
            "20"
        );
        assert_eq!(
            ok("States.ArrayGetItem($.a, 999)", json!({"a": []})),
            "null"
        );
        assert!(run("States.ArrayGetItem($.a, 3)", json!({"a": [1, 2, 3]})).is_err());
        assert!(run("States.ArrayGetItem($.a, -1)", json!({"a": [1, 2, 3]})).is_err());
    }

    #[test]
    fn text_functions() {
        assert_eq!(
            ok(
                "States.StringSplit($.s, $.d)",
                json!({"s": "1a2b3ab4", "d": "ab"})
            ),
            "[\"1\",\"2\",\"3\",\"4\"]"
        );
        assert_eq!(ok("States.StringSplit($.s, ',')", json!({"s": ""})), "[]");
        assert_eq!(
            ok("States.StringSplit($.s, '')", json!({"s": "abc"})),
            "[\"abc\"]"
        );
        assert_eq!(ok("States.Base64Decode('ab==cd')", json!({})), "\"i\"");
        assert_eq!(
            ok("States.Base64Decode(' YWJjZA== ')", json!({})),
            "\"abcd\""
        );
        assert_eq!(ok("States.Base64Encode('🚀')", json!({})), "\"8J+agA==\"");
        assert!(run("States.Base64Encode($.s)", json!({"s": "a".repeat(10_001)})).is_err());
        assert_eq!(
            ok("States.Hash('hello', 'SHA-1')", json!({})),
            "\"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d\""
        );
        assert!(run("States.Hash('data', 'sha-256')", json!({})).is_err());
        assert_eq!(ok("States.StringToJson($.s)", json!({"s": " "})), "null");
        assert_eq!(
            ok(
                "States.StringToJson($.s)",
                json!({"s": "[-0, 1.10, 1e2, 12345678901234567890]"})
            ),
            "[0,1.1,100.0,12345678901234567890]"
        );
        assert!(run("States.StringToJson($.s)", json!({"s": "{bad"})).is_err());
        assert_eq!(
            ok("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})),
            "\"{\\\"a\\\":[1,\\\"x\\\"]}\""
        );
        assert_eq!(
            ok(
                "States.JsonMerge($.a, $.b, $.d)",
                json!({"a": {"x": 1, "y": 2}, "b": {"y": 3}, "d": "false"})
            ),
            "{\"x\":1,\"y\":3}"
        );
        assert!(
            run(
                "States.JsonMerge($.a, $.b, $.d)",
                json!({"a": {}, "b": {}, "d": true})
            )
            .is_err()
        );
    }

    #[test]
    fn uuid_is_v4_and_reproducible() {
        let a = ok("States.UUID()", json!({}));
        let b = ok("States.UUID()", json!({}));
        assert_eq!(a, b, "same seed, same UUID");
        let u = a.trim_matches('"');
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn missing_paths_name_field_and_input() {
        let f = err("States.Base64Encode($.missing)", json!({}));
        assert_eq!(f.error, "States.Runtime");
        assert_eq!(
            f.cause,
            "The JSONPath '$.missing' specified for the field 'value.$' could not be found in the input '{}'"
        );
    }

    #[test]
    fn java_double_strings() {
        for (d, s) in [
            (1.1, "1.1"),
            (100.0, "100.0"),
            (1e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
            (0.001, "0.001"),
            (-0.5, "-0.5"),
            (123456.789, "123456.789"),
            (1.2345e300, "1.2345E300"),
        ] {
            assert_eq!(java_double_to_string(d), s);
        }
    }
}
