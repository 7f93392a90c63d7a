//! Data-driven validator checks: one definition, the codes (and where) it must report.

use serde_json::{Value, json};
use stepwise::asl::{self, Format};
use stepwise::validate::{MachineType, Options, validate};

/// Errors as "CODE@pointer", sorted.
fn errors_of(def: &Value, kind: MachineType) -> Vec<String> {
    let text = serde_json::to_string_pretty(def).unwrap();
    let (doc, mut diags) = asl::parse(&text, Format::Json);
    diags.extend(validate(&doc, &Options { kind }));
    let mut out: Vec<String> = diags.iter().filter(|d| d.is_error()).map(|d| format!("{}@{}", d.code, d.location)).collect();
    out.sort();
    out
}

fn machine(states: Value) -> Value {
    let start = states.as_object().unwrap().keys().next().unwrap().clone();
    json!({"StartAt": start, "States": states})
}

#[track_caller]
fn check(def: Value, expected: &[&str]) {
    let got = errors_of(&def, MachineType::Standard);
    assert_eq!(got, expected, "for {def:#}");
}

#[test]
fn graph_rules() {
    check(machine(json!({"A": {"Type": "Pass", "End": true}})), &[]);
    check(machine(json!({"A": {"Type": "Pass", "Next": "Nope"}})), &["MISSING_END_STATE@/States", "MISSING_TRANSITION_TARGET@/States/A/Next"]);
    check(machine(json!({"A": {"Type": "Pass"}})), &["MISSING_END_STATE@/States", "MISSING_TRANSITION_TARGET@/States/A"]);
    check(
        machine(json!({"A": {"Type": "Pass", "End": true}, "B": {"Type": "Pass", "End": true}})),
        &["UNREACHABLE_STATE@/States/B"],
    );
    check(
        machine(json!({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}})),
        &["MISSING_END_STATE@/States"],
    );
    check(json!({"StartAt": "X", "States": {"A": {"Type": "Pass", "End": true}}}), &["MISSING_TRANSITION_TARGET@/StartAt"]);
    check(json!({"States": {"A": {"Type": "Succeed"}}}), &["SCHEMA_VALIDATION_FAILED@/"]);
    // A branch cannot jump out to its parent's states, and names are unique machine-wide.
    check(
        machine(json!({
            "P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "P"}}},
                {"StartAt": "P2", "States": {"P2": {"Type": "Succeed"}, "In": {"Type": "Succeed"}}}
            ]}
        })),
        &[
            "DUPLICATE_STATE_NAME@/States/P/Branches/1/States/In",
            "MISSING_END_STATE@/States/P/Branches/0/States",
            "MISSING_TRANSITION_TARGET@/States/P/Branches/0/States/In/Next",
            "UNREACHABLE_STATE@/States/P/Branches/1/States/In",
        ],
    );
    let long = "x".repeat(81);
    check(json!({"StartAt": long, "States": {long.clone(): {"Type": "Succeed"}}}), &[&format!("INVALID_STATE_NAME@/States/{long}")]);
}

#[test]
fn field_rules() {
    check(machine(json!({"A": {"Type": "Pass", "End": true, "Next": "A"}})), &["SCHEMA_VALIDATION_FAILED@/States/A"]);
    check(machine(json!({"A": {"Type": "Succeed", "ResultPath": "$.x"}})), &["SCHEMA_VALIDATION_FAILED@/States/A/ResultPath"]);
    check(machine(json!({"A": {"Type": "Pass", "End": true, "Bogus": 1}})), &["SCHEMA_VALIDATION_FAILED@/States/A/Bogus"]);
    check(machine(json!({"A": {"Type": "Nope"}})), &["MISSING_END_STATE@/States", "SCHEMA_VALIDATION_FAILED@/States/A/Type"]);
    check(machine(json!({"A": {"Type": "Wait", "End": true}})), &["SCHEMA_VALIDATION_FAILED@/States/A"]);
    check(machine(json!({"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}})), &["SCHEMA_VALIDATION_FAILED@/States/A"]);
    check(machine(json!({"A": {"Type": "Wait", "Timestamp": "2016-12-05 21:29:29Z", "End": true}})), &["SCHEMA_VALIDATION_FAILED@/States/A/Timestamp"]);
    check(machine(json!({"A": {"Type": "Wait", "Timestamp": "2016-03-05T21:29:29.243167252Z", "End": true}})), &[]);
    check(machine(json!({"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}})), &["SCHEMA_VALIDATION_FAILED@/States/A"]);
    check(
        machine(json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 10, "HeartbeatSeconds": 10, "End": true}})),
        &["SCHEMA_VALIDATION_FAILED@/States/A/HeartbeatSeconds"],
    );
    check(
        machine(json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Credentials": {}, "End": true}})),
        &["SCHEMA_VALIDATION_FAILED@/States/A/Credentials"],
    );
}

#[test]
fn retry_and_catch_rules() {
    let task = |retry: Value, catch: Value| {
        machine(json!({
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": retry, "Catch": catch, "End": true},
            "F": {"Type": "Fail"}
        }))
    };
    check(task(json!([{"ErrorEquals": ["States.ALL"], "BackoffRate": 2.0, "JitterStrategy": "FULL", "MaxDelaySeconds": 10}]), json!([{"ErrorEquals": ["States.ALL"], "Next": "F"}])), &[]);
    check(
        task(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]), json!([{"ErrorEquals": ["States.ALL", "X"], "Next": "F"}])),
        &["SCHEMA_VALIDATION_FAILED@/States/A/Catch/0/ErrorEquals", "SCHEMA_VALIDATION_FAILED@/States/A/Retry/0/ErrorEquals"],
    );
    check(
        task(json!([{"ErrorEquals": [], "BackoffRate": 0.5, "JitterStrategy": "PARTIAL", "MaxAttempts": -1}]), json!([{"ErrorEquals": ["X"]}])),
        &[
            "SCHEMA_VALIDATION_FAILED@/States/A/Catch/0",
            "SCHEMA_VALIDATION_FAILED@/States/A/Retry/0/BackoffRate",
            "SCHEMA_VALIDATION_FAILED@/States/A/Retry/0/ErrorEquals",
            "SCHEMA_VALIDATION_FAILED@/States/A/Retry/0/JitterStrategy",
            "SCHEMA_VALIDATION_FAILED@/States/A/Retry/0/MaxAttempts",
            "UNREACHABLE_STATE@/States/F",
        ],
    );
}

#[test]
fn choice_rules() {
    let choice = |rules: Value| machine(json!({"C": {"Type": "Choice", "Choices": rules, "Default": "D"}, "D": {"Type": "Succeed"}}));
    check(choice(json!([{"Variable": "$.n", "NumericGreaterThan": 2097152, "Next": "D"}])), &[]);
    check(choice(json!([{"Not": {"Variable": "$.s", "StringEquals": "x"}, "Next": "D"}])), &[]);
    check(choice(json!([{"Variable": "$.n", "NumericGreaterThan": "2", "Next": "D"}])), &["SCHEMA_VALIDATION_FAILED@/States/C/Choices/0/NumericGreaterThan"]);
    check(choice(json!([{"Variable": "$.n", "IsNull": true, "IsPresent": true, "Next": "D"}])), &["SCHEMA_VALIDATION_FAILED@/States/C/Choices/0"]);
    check(choice(json!([{"Variable": "$.n", "IsNull": true}])), &["SCHEMA_VALIDATION_FAILED@/States/C/Choices/0"]);
    check(
        choice(json!([{"And": [{"Variable": "$.a", "IsNull": true, "Next": "D"}], "Next": "D"}])),
        &["SCHEMA_VALIDATION_FAILED@/States/C/Choices/0/And/0/Next"],
    );
    check(choice(json!([{"Variable": "$.t", "TimestampEquals": "yesterday", "Next": "D"}])), &["SCHEMA_VALIDATION_FAILED@/States/C/Choices/0/TimestampEquals"]);
}

#[test]
fn map_rules() {
    let map = |extra: Value| {
        let mut m = json!({"Type": "Map", "End": true, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        machine(json!({"M": m}))
    };
    check(map(json!({"Label": "Videos_2026", "ToleratedFailurePercentage": 0.5})), &[]);
    check(map(json!({"Label": "has space"})), &["INVALID_LABEL_NAME@/States/M/Label"]);
    check(map(json!({"Label": ""})), &["INVALID_LABEL_NAME@/States/M/Label"]);
    check(map(json!({"Label": "x".repeat(41)})), &["INVALID_LABEL_NAME@/States/M/Label"]);
    check(map(json!({"ToleratedFailurePercentage": 105})), &["SCHEMA_VALIDATION_FAILED@/States/M/ToleratedFailurePercentage"]);
    check(map(json!({"Iterator": {"StartAt": "J", "States": {"J": {"Type": "Succeed"}}}})), &["SCHEMA_VALIDATION_FAILED@/States/M"]);
    check(map(json!({"ItemsPath": null})), &["SCHEMA_VALIDATION_FAILED@/States/M/ItemsPath"]);
}

#[test]
fn resource_rules() {
    let task = |r: &str| machine(json!({"T": {"Type": "Task", "Resource": r, "End": true}}));
    for ok in [
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::aws-sdk:s3:copyObject",
        "arn:aws:states:us-east-1:123456789012:activity:review",
        "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        "arn:${AWS::Partition}:states:::lambda:invoke",
        "${ProcessFunctionArn}",
    ] {
        check(task(ok), &[]);
    }
    check(task("arn:aws:states:::dynamodb:query"), &["INVALID_RESOURCE@/States/T/Resource"]);
    check(task("arn:aws:lambda:us-east-1:1:function:f:"), &["INVALID_RESOURCE@/States/T/Resource"]);
    check(task("${unclosed"), &["INVALID_RESOURCE@/States/T/Resource"]);
    for (r, ok) in [
        ("arn:aws:states:us-east-1:123456789012:activity:review", false),
        ("arn:aws:states:::states:startExecution.sync:2", false),
        ("arn:aws:states:::sqs:sendMessage.waitForTaskToken", false),
        ("arn:aws:states:::lambda:invoke", true),
    ] {
        assert_eq!(errors_of(&task(r), MachineType::Express).is_empty(), ok, "EXPRESS {r}");
    }
}

#[test]
fn paths_templates_and_intrinsics() {
    let pass = |extra: Value| {
        let mut p = json!({"Type": "Pass", "End": true});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        machine(json!({"P": p}))
    };
    check(pass(json!({"InputPath": "$.a[0].b", "ResultPath": null, "OutputPath": "$$.Execution.Input"})), &[]);
    check(pass(json!({"OutputPath": "$.Outputs[?(@.OutputKey == FooBar)].OutputValue"})), &[]);
    check(pass(json!({"Parameters": {"a.$": "$.x", "b.$": "States.Format('{} {}', $.f, $.g)", "c": "$.literal"}})), &[]);
    check(pass(json!({"Parameters": {"a.$": "x"}})), &["SCHEMA_VALIDATION_FAILED@/States/P/Parameters/a.$"]);
    check(pass(json!({"Parameters": {"a.$": 5}})), &["SCHEMA_VALIDATION_FAILED@/States/P/Parameters/a.$"]);
    check(pass(json!({"Parameters": {"a": 1, "a.$": "$.a"}})), &["SCHEMA_VALIDATION_FAILED@/States/P/Parameters/a.$"]);
    check(pass(json!({"Parameters": {"a.$": "States.Nope($.x)"}})), &["SCHEMA_VALIDATION_FAILED@/States/P/Parameters/a.$"]);
    check(pass(json!({"Parameters": {"a.$": " States.UUID()"}})), &["SCHEMA_VALIDATION_FAILED@/States/P/Parameters/a.$"]);
    check(pass(json!({"InputPath": "States.Format('{}', $.a)"})), &["NO_DOLLAR@/States/P/InputPath"]);
    check(pass(json!({"ResultPath": "$.a[*]"})), &["INVALID_JSON_PATH@/States/P/ResultPath"]);
    check(pass(json!({"ResultPath": "$var"})), &["INVALID_JSON_PATH@/States/P/ResultPath"]);
    // Result is static: never evaluated, only a warning.
    check(pass(json!({"Result": {"a.$": "not a path"}})), &[]);
}

#[test]
fn jsonata_rules() {
    let m = |state: Value| json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": state}});
    check(m(json!({"Type": "Pass", "Output": {"x": "{% $states.input.a + 1 %}", "lit": " {% not parsed %} "}, "End": true})), &[]);
    check(m(json!({"Type": "Pass", "Output": "{% $states.input.( %}", "End": true})), &["INVALID_JSONATA_EXPRESSION@/States/S/Output"]);
    check(m(json!({"Type": "Pass", "Parameters": {}, "End": true})), &["SCHEMA_VALIDATION_FAILED@/States/S/Parameters"]);
    check(m(json!({"Type": "Pass", "QueryLanguage": "JSONPath", "End": true})), &["SCHEMA_VALIDATION_FAILED@/States/S/QueryLanguage"]);
    check(
        m(json!({"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "S"}, {"Condition": true, "Next": "S"}], "Default": "S"})),
        &["MISSING_END_STATE@/States"],
    );
    check(m(json!({"Type": "Wait", "Seconds": "{% $states.input.wait %}", "End": true})), &[]);
    check(m(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {"Payload": "{% $states.input %}"}, "Credentials": {"RoleArn": "{% $states.input.role %}"}, "End": true})), &[]);
}
