//! Generated state machines of any size, for benchmarks and scale tests (the designer's
//! 1,000-state canvas, the engine's long chains). Deterministic: the same size gives the same
//! text.

use serde_json::{Map, Value, json};

/// A valid machine of `n` states cycling through the common shapes: Pass with Parameters, Task
/// with Retry and Catch, Choice with two rules, Wait. Every state is reachable and the machine
/// ends in a Succeed.
pub fn large_definition(n: usize) -> String {
    let n = n.max(2);
    let name = |i: usize| format!("Step {i:05}");
    let mut states = Map::new();
    for i in 0..n - 1 {
        let next = name(i + 1);
        let state = match i % 4 {
            0 => json!({
                "Type": "Pass",
                "Parameters": {"order.$": "$.order", "total.$": "States.MathAdd($.order.total, 1)", "note": "static"},
                "ResultPath": "$.shaped",
                "Next": next
            }),
            1 => json!({
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "step", "Payload.$": "$"},
                "ResultPath": "$.result",
                "TimeoutSeconds": 30,
                "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 3}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": next}],
                "Next": next
            }),
            2 => json!({
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.order.total", "NumericGreaterThan": 100, "Next": next},
                    {"And": [{"Variable": "$.order.kind", "StringEquals": "gift"}, {"Variable": "$.order.wrap", "IsPresent": true}], "Next": next}
                ],
                "Default": next
            }),
            _ => json!({"Type": "Wait", "Seconds": 1, "Next": next}),
        };
        states.insert(name(i), state);
    }
    states.insert(name(n - 1), json!({"Type": "Succeed"}));
    let root = json!({"Comment": "Generated", "StartAt": name(0), "States": Value::Object(states)});
    // Compact, as definitions are usually sent to AWS: 5,000 states stay under the 1 MiB limit.
    serde_json::to_string(&root).unwrap_or_default()
}

/// A chain of `n` states alternating Pass and Choice (the engine's transition benchmark):
/// each Choice tests `$.n` and goes on; the last state succeeds.
pub fn pass_choice_chain(n: usize) -> Value {
    let n = n.max(2);
    let name = |i: usize| format!("S{i}");
    let mut states = Map::new();
    for i in 0..n - 1 {
        let next = name(i + 1);
        let state = if i % 2 == 0 {
            json!({"Type": "Pass", "Next": next})
        } else {
            json!({
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": next}],
                "Default": "Failed"
            })
        };
        states.insert(name(i), state);
    }
    states.insert(name(n - 1), json!({"Type": "Succeed"}));
    states.insert("Failed".into(), json!({"Type": "Fail", "Error": "Unexpected"}));
    json!({"StartAt": name(0), "States": states})
}
