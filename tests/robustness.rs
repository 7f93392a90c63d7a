//! Bad input never panics: arbitrary bytes, arbitrary JSON shapes and damaged workflows all
//! come back as diagnostics.

use proptest::prelude::*;
use serde_json::{Value, json};
use stepwise::asl::{self, Format};
use stepwise::validate::{MachineType, Options, validate};

fn check_all(bytes: &[u8]) {
    for format in [Some(Format::Json), Some(Format::Yaml), None] {
        let (doc, mut diags) = asl::parse_bytes(bytes, format);
        diags.extend(validate(&doc, &Options { kind: MachineType::Express }));
        for d in &diags {
            assert!(!d.message.is_empty());
            if let (Some(l), Some(c)) = (d.line, d.column) {
                assert!(l >= 1 && c >= 1, "positions are 1-based: {d:?}");
            }
        }
    }
}

/// JSON shaped like ASL, with the field names the validator looks at, but any values.
fn asl_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "$", "$.a", "$$.Execution.Id", "$x", "States.Format('{}', $.a)", "States.Array(", "{% $states.input %}", "{% 1 + %}",
            "A", "B", "Pass", "Task", "Choice", "Map", "Parallel", "Wait", "Fail", "Succeed", "States.ALL", "2026-01-01T00:00:00Z",
            "arn:aws:states:::lambda:invoke", "arn:aws:states:us-east-1:1:activity:x", "", "JSONata", "JSONPath",
        ])
        .prop_map(|s| json!(s)),
    ];
    let keys = prop::sample::select(vec![
        "StartAt", "States", "Type", "Next", "End", "Choices", "Default", "Variable", "StringEquals", "And", "Not", "Branches",
        "ItemProcessor", "Iterator", "Parameters", "a.$", "ResultPath", "InputPath", "Retry", "Catch", "ErrorEquals", "Seconds",
        "Timestamp", "Resource", "QueryLanguage", "Output", "Arguments", "Assign", "Condition", "Label", "Credentials", "A", "B",
    ]);
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_all(&bytes);
    }

    #[test]
    fn arbitrary_asl_shapes_never_panic(v in asl_like()) {
        let text = serde_json::to_string(&v).unwrap();
        check_all(text.as_bytes());
        check_all(asl::yaml_out::to_yaml(&v).as_bytes());
    }

    #[test]
    fn damaged_workflows_never_panic(which in 0usize..6, at in 0usize..4000, len in 0usize..40, junk in "[{}\\[\\]\",:$%a-z ]{0,4}") {
        let files = crate::workflow_files();
        let text = std::fs::read_to_string(&files[which % files.len()]).unwrap();
        let at = at.min(text.len());
        let end = (at + len).min(text.len());
        if text.is_char_boundary(at) && text.is_char_boundary(end) {
            let damaged = format!("{}{}{}", &text[..at], junk, &text[end..]);
            check_all(damaged.as_bytes());
        }
    }
}
