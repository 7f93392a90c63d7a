//! `stepwise cloudformation`: the template a workflow exports is portable (no account, region
//! or bucket baked in), grants what its tasks call, and holds a definition that is still valid
//! once CloudFormation fills its placeholders.

use serde_json::{Value, json};
use stepwise::asl::{self, Format};
use stepwise::cloudformation::{ExportOptions, export};

use crate::cli::stepwise;

fn definition(name: &str) -> Value {
    let text = std::fs::read_to_string(crate::repo().join("workflows").join(name)).unwrap();
    asl::parse(&text, Format::Json).0.root
}

fn video_ingest_template() -> Value {
    let options = ExportOptions { name: "video-ingest".into(), machine_type: "STANDARD".into(), raw_bucket: Some("stepwise-raw".into()) };
    export(&definition("video-ingest.asl.json"), &options).value
}

/// The definition as CloudFormation deploys it: each `${Id}` replaced by what its
/// substitution resolves to (an activity's ARN, a bucket's name from its parameter default).
fn resolved_definition(template: &Value) -> Value {
    let machine = &template["Resources"]["StateMachine"]["Properties"];
    let mut text = serde_json::to_string(&machine["Definition"]).unwrap();
    for (id, value) in machine["DefinitionSubstitutions"].as_object().into_iter().flatten() {
        let target = value["Ref"].as_str().unwrap();
        let resource = &template["Resources"][target];
        let resolved = match resource["Type"].as_str().unwrap() {
            "AWS::StepFunctions::Activity" => {
                format!("arn:aws:states:eu-west-1:111122223333:activity:{}", resource["Properties"]["Name"].as_str().unwrap())
            }
            "AWS::S3::Bucket" => {
                let param = resource["Properties"]["BucketName"]["Ref"].as_str().unwrap();
                template["Parameters"][param]["Default"].as_str().unwrap().to_owned()
            }
            other => panic!("unexpected substitution target {other}"),
        };
        text = text.replace(&format!("${{{id}}}"), &resolved);
    }
    assert!(!text.contains("${"), "every placeholder has a substitution: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn video_ingest_exports_its_activity_buckets_role_and_rule() {
    let t = video_ingest_template();
    let types: Vec<(&str, &str)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, r)| (id.as_str(), r["Type"].as_str().unwrap()))
        .collect();
    for expected in [
        ("StepwiseRawBucket", "AWS::S3::Bucket"),
        ("StepwiseApprovedBucket", "AWS::S3::Bucket"),
        ("StepwiseVideoReviewActivity", "AWS::StepFunctions::Activity"),
        ("StateMachineRole", "AWS::IAM::Role"),
        ("StateMachine", "AWS::StepFunctions::StateMachine"),
        ("IngestRule", "AWS::Events::Rule"),
        ("IngestRuleRole", "AWS::IAM::Role"),
    ] {
        assert!(types.contains(&expected), "{expected:?} in {types:?}");
    }
    // Portable: the sample's account and the bucket names live only in parameter defaults.
    let text = serde_json::to_string(&t).unwrap();
    assert!(!text.contains("123456789012"), "no account baked in");
    assert_eq!(text.matches("\"stepwise-approved\"").count(), 1, "the approved bucket's name is a parameter default only");
    let machine = &t["Resources"]["StateMachine"]["Properties"];
    assert_eq!(machine["Definition"]["States"]["Review Video"]["Resource"], "${StepwiseVideoReviewActivity}");
    assert_eq!(machine["Definition"]["States"]["Copy To Approved Bucket"]["Parameters"]["Bucket"], "${StepwiseApprovedBucket}");
    assert_eq!(machine["RoleArn"], json!({"Fn::GetAtt": ["StateMachineRole", "Arn"]}));
    assert_eq!(t["Resources"]["StepwiseRawBucket"]["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"], true);
    assert_eq!(t["Resources"]["IngestRule"]["Properties"]["EventPattern"]["detail"]["bucket"]["name"], json!([{"Ref": "StepwiseRawBucket"}]));

    // The copy reads from the raw bucket (its source comes from the event) and writes to the
    // approved one; nothing else.
    let statements = t["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array().unwrap();
    let grant = |action: &str| statements.iter().find(|s| s["Action"] == action).map(|s| s["Resource"].clone());
    assert_eq!(grant("s3:PutObject"), Some(json!([{"Fn::Sub": "${StepwiseApprovedBucket.Arn}/*"}])));
    let get = grant("s3:GetObject").unwrap();
    assert!(get.as_array().unwrap().contains(&json!({"Fn::Sub": "${StepwiseRawBucket.Arn}/*"})), "{get}");
    assert_eq!(statements.len(), 2, "{statements:?}");
}

#[test]
fn every_sample_exports_a_definition_that_still_validates() {
    for path in crate::workflow_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let options = ExportOptions { name: "m".into(), machine_type: "STANDARD".into(), raw_bucket: None };
        let t = export(&definition(&name), &options).value;
        let resolved = resolved_definition(&t);
        let doc = asl::Document::from_value(resolved);
        let errors: Vec<_> = stepwise::validate::validate(&doc, &Default::default()).into_iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(t["Resources"]["StateMachine"]["Properties"]["StateMachineName"], "m");
    }
}

#[test]
fn the_command_writes_json_or_yaml_of_the_same_template() {
    let file = crate::repo().join("workflows/video-ingest.asl.json");
    let file = file.to_str().unwrap();
    let json_out = stepwise(&["cloudformation", file, "--raw-bucket", "stepwise-raw"]);
    assert!(json_out.status.success(), "{}", String::from_utf8_lossy(&json_out.stderr));
    let from_json: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(from_json, video_ingest_template(), "the name defaults to the file's stem");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stack.yaml");
    let yaml_out = stepwise(&["cloudformation", file, "--raw-bucket", "stepwise-raw", "--yaml", "-o", out.to_str().unwrap()]);
    assert!(yaml_out.status.success(), "{}", String::from_utf8_lossy(&yaml_out.stderr));
    let (doc, diagnostics) = asl::parse(&std::fs::read_to_string(&out).unwrap(), Format::Yaml);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(doc.root, from_json);
}

#[test]
fn a_definition_with_errors_is_not_exported() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.asl.json");
    std::fs::write(&bad, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#).unwrap();
    let out = stepwise(&["cloudformation", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not exported"), "{err}");
}

#[test]
fn computed_targets_get_broad_grants_with_a_note() {
    let def = json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {"Bucket.$": "$.bucket", "Key": "k", "Body": "b"}, "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                   "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"}, "End": true}
    }});
    let options = ExportOptions { name: "m".into(), machine_type: "STANDARD".into(), raw_bucket: None };
    let t = export(&def, &options);
    assert!(t.notes.iter().any(|n| n.contains("\"Put\" names its bucket at run time")), "{:?}", t.notes);
    assert!(t.notes.iter().any(|n| n.contains("sns:Publish")), "{:?}", t.notes);
    let statements = &t.value["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    assert!(statements.as_array().unwrap().iter().any(|s| s["Action"] == "sns:Publish" && s["Resource"] == "*"));
}
