//! Which fields each state type allows, in which query language, and of what type.
//!
//! One table serves the validator (unknown and misplaced fields, value types) and, later, the
//! designer's inspector (which inputs to show for a state).

use crate::asl::model::{QueryLanguage, StateType};

/// What a field's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Bool,
    /// An integer ≥ 0.
    NonNegInt,
    /// An integer ≥ 1.
    PosInt,
    Number,
    Object,
    Array,
    /// Any JSON value.
    Any,
    /// A JSONPath (`$.a[*]`), or null.
    PathOrNull,
    /// ResultPath: a Reference Path into the state's input (`$.a.b[0]`; no context or
    /// variable root), or null.
    ResultPath,
    /// A Reference Path.
    RefPath,
    /// A Reference Path or an intrinsic function call (Fail's ErrorPath/CausePath).
    RefPathOrIntrinsic,
    /// A payload template: an object whose `.$` keys hold paths or intrinsic functions.
    PayloadTemplate,
    /// JSONata mode: any JSON, with `{% %}` strings anywhere inside.
    JsonataValue,
}

/// Which query language a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Both,
    JsonPathOnly,
    JsonataOnly,
}

impl Lang {
    pub fn allows(self, ql: QueryLanguage) -> bool {
        match self {
            Lang::Both => true,
            Lang::JsonPathOnly => ql == QueryLanguage::JsonPath,
            Lang::JsonataOnly => ql == QueryLanguage::Jsonata,
        }
    }
}

pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub lang: Lang,
    /// The state types that have this field.
    pub states: &'static [StateType],
}

use FieldType as F;
use Lang as L;
use StateType::*;

const ALL: &[StateType] = &[Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map];
const FLOW: &[StateType] = &[Task, Pass, Wait, Parallel, Map];
const NOT_FAIL: &[StateType] = &[Task, Pass, Choice, Wait, Succeed, Parallel, Map];
const ASSIGNING: &[StateType] = &[Task, Pass, Choice, Wait, Parallel, Map];
const WORKERS: &[StateType] = &[Task, Parallel, Map];

pub const STATE_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "Type", ty: F::String, lang: L::Both, states: ALL },
    FieldSpec { name: "Comment", ty: F::String, lang: L::Both, states: ALL },
    FieldSpec { name: "QueryLanguage", ty: F::String, lang: L::Both, states: ALL },
    FieldSpec { name: "Next", ty: F::String, lang: L::Both, states: FLOW },
    FieldSpec { name: "End", ty: F::Bool, lang: L::Both, states: FLOW },
    FieldSpec { name: "InputPath", ty: F::PathOrNull, lang: L::JsonPathOnly, states: NOT_FAIL },
    FieldSpec { name: "OutputPath", ty: F::PathOrNull, lang: L::JsonPathOnly, states: NOT_FAIL },
    FieldSpec { name: "Parameters", ty: F::PayloadTemplate, lang: L::JsonPathOnly, states: &[Task, Pass, Parallel, Map] },
    FieldSpec { name: "ResultPath", ty: F::ResultPath, lang: L::JsonPathOnly, states: &[Task, Pass, Parallel, Map] },
    FieldSpec { name: "ResultSelector", ty: F::PayloadTemplate, lang: L::JsonPathOnly, states: WORKERS },
    FieldSpec { name: "Result", ty: F::Any, lang: L::JsonPathOnly, states: &[Pass] },
    FieldSpec { name: "Arguments", ty: F::JsonataValue, lang: L::JsonataOnly, states: &[Task, Parallel, Map] },
    FieldSpec { name: "Output", ty: F::JsonataValue, lang: L::JsonataOnly, states: NOT_FAIL },
    FieldSpec { name: "Assign", ty: F::Object, lang: L::Both, states: ASSIGNING },
    FieldSpec { name: "Retry", ty: F::Array, lang: L::Both, states: WORKERS },
    FieldSpec { name: "Catch", ty: F::Array, lang: L::Both, states: WORKERS },
    // Task
    // Checked in the Task rules (a string ARN, or a CloudFormation intrinsic to be resolved).
    FieldSpec { name: "Resource", ty: F::Any, lang: L::Both, states: &[Task] },
    FieldSpec { name: "TimeoutSeconds", ty: F::PosInt, lang: L::Both, states: &[Task] },
    FieldSpec { name: "TimeoutSecondsPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Task] },
    FieldSpec { name: "HeartbeatSeconds", ty: F::PosInt, lang: L::Both, states: &[Task] },
    FieldSpec { name: "HeartbeatSecondsPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Task] },
    FieldSpec { name: "Credentials", ty: F::Object, lang: L::Both, states: &[Task] },
    // Choice
    FieldSpec { name: "Choices", ty: F::Array, lang: L::Both, states: &[Choice] },
    FieldSpec { name: "Default", ty: F::String, lang: L::Both, states: &[Choice] },
    // Wait
    FieldSpec { name: "Seconds", ty: F::NonNegInt, lang: L::Both, states: &[Wait] },
    FieldSpec { name: "SecondsPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Wait] },
    FieldSpec { name: "Timestamp", ty: F::String, lang: L::Both, states: &[Wait] },
    FieldSpec { name: "TimestampPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Wait] },
    // Fail
    FieldSpec { name: "Error", ty: F::String, lang: L::Both, states: &[Fail] },
    FieldSpec { name: "ErrorPath", ty: F::RefPathOrIntrinsic, lang: L::JsonPathOnly, states: &[Fail] },
    FieldSpec { name: "Cause", ty: F::String, lang: L::Both, states: &[Fail] },
    FieldSpec { name: "CausePath", ty: F::RefPathOrIntrinsic, lang: L::JsonPathOnly, states: &[Fail] },
    // Parallel
    FieldSpec { name: "Branches", ty: F::Array, lang: L::Both, states: &[Parallel] },
    // Map
    FieldSpec { name: "ItemProcessor", ty: F::Object, lang: L::Both, states: &[Map] },
    FieldSpec { name: "Iterator", ty: F::Object, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ItemsPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Map] },
    FieldSpec { name: "Items", ty: F::JsonataValue, lang: L::JsonataOnly, states: &[Map] },
    FieldSpec { name: "ItemSelector", ty: F::PayloadTemplate, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ItemReader", ty: F::Object, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ItemBatcher", ty: F::Object, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ResultWriter", ty: F::Object, lang: L::Both, states: &[Map] },
    FieldSpec { name: "MaxConcurrency", ty: F::NonNegInt, lang: L::Both, states: &[Map] },
    FieldSpec { name: "MaxConcurrencyPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Map] },
    FieldSpec { name: "ToleratedFailureCount", ty: F::NonNegInt, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ToleratedFailureCountPath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Map] },
    FieldSpec { name: "ToleratedFailurePercentage", ty: F::Number, lang: L::Both, states: &[Map] },
    FieldSpec { name: "ToleratedFailurePercentagePath", ty: F::RefPath, lang: L::JsonPathOnly, states: &[Map] },
    FieldSpec { name: "Label", ty: F::String, lang: L::Both, states: &[Map] },
];

/// Looks a field up by name. Called for every field of every state, so it is a hash lookup,
/// not a scan of the table.
pub fn state_field(name: &str) -> Option<&'static FieldSpec> {
    static INDEX: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static FieldSpec>> =
        std::sync::LazyLock::new(|| STATE_FIELDS.iter().map(|f| (f.name, f)).collect());
    INDEX.get(name).copied()
}

/// The fields a state of this type may have in this query language, in table order.
pub fn fields_for(kind: StateType, ql: QueryLanguage) -> impl Iterator<Item = &'static FieldSpec> {
    STATE_FIELDS.iter().filter(move |f| f.states.contains(&kind) && f.lang.allows(ql))
}

/// Choice-rule comparison operators and the type of value each compares with.
pub const COMPARISONS: &[(&str, FieldType)] = &[
    ("StringEquals", F::String),
    ("StringEqualsPath", F::RefPath),
    ("StringLessThan", F::String),
    ("StringLessThanPath", F::RefPath),
    ("StringGreaterThan", F::String),
    ("StringGreaterThanPath", F::RefPath),
    ("StringLessThanEquals", F::String),
    ("StringLessThanEqualsPath", F::RefPath),
    ("StringGreaterThanEquals", F::String),
    ("StringGreaterThanEqualsPath", F::RefPath),
    ("StringMatches", F::String),
    ("NumericEquals", F::Number),
    ("NumericEqualsPath", F::RefPath),
    ("NumericLessThan", F::Number),
    ("NumericLessThanPath", F::RefPath),
    ("NumericGreaterThan", F::Number),
    ("NumericGreaterThanPath", F::RefPath),
    ("NumericLessThanEquals", F::Number),
    ("NumericLessThanEqualsPath", F::RefPath),
    ("NumericGreaterThanEquals", F::Number),
    ("NumericGreaterThanEqualsPath", F::RefPath),
    ("BooleanEquals", F::Bool),
    ("BooleanEqualsPath", F::RefPath),
    ("TimestampEquals", F::String),
    ("TimestampEqualsPath", F::RefPath),
    ("TimestampLessThan", F::String),
    ("TimestampLessThanPath", F::RefPath),
    ("TimestampGreaterThan", F::String),
    ("TimestampGreaterThanPath", F::RefPath),
    ("TimestampLessThanEquals", F::String),
    ("TimestampLessThanEqualsPath", F::RefPath),
    ("TimestampGreaterThanEquals", F::String),
    ("TimestampGreaterThanEqualsPath", F::RefPath),
    ("IsNull", F::Bool),
    ("IsPresent", F::Bool),
    ("IsNumeric", F::Bool),
    ("IsString", F::Bool),
    ("IsBoolean", F::Bool),
    ("IsTimestamp", F::Bool),
];

pub fn comparison(name: &str) -> Option<FieldType> {
    static INDEX: std::sync::LazyLock<std::collections::HashMap<&'static str, FieldType>> =
        std::sync::LazyLock::new(|| COMPARISONS.iter().copied().collect());
    INDEX.get(name).copied()
}
