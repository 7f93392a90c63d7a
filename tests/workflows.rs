//! The shipped example workflows validate clean and their sample inputs are JSON objects.

use stepwise::validate::{MachineType, Options};

#[test]
fn every_workflow_validates_clean() {
    let files = crate::workflow_files();
    assert!(files.len() >= 6, "six example workflows ship: {files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let (_, diags) = stepwise::validate::check_bytes(&bytes, None, &Options { kind: MachineType::Standard });
        assert!(diags.is_empty(), "{}: {diags:#?}", f.display());
        let input = f.to_string_lossy().replace(".asl.json", ".input.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        assert!(v.is_object(), "{input} is a JSON object");
    }
}

#[test]
fn video_ingest_has_a_long_running_activity() {
    let text = std::fs::read_to_string(crate::repo().join("workflows/video-ingest.asl.json")).unwrap();
    let (doc, _) = stepwise::asl::parse(&text, stepwise::asl::Format::Json);
    let activity = stepwise::asl::model::scopes(&doc.root)
        .iter()
        .filter_map(|s| s.states())
        .flat_map(|m| m.values())
        .find(|s| s["Resource"].as_str().is_some_and(|r| r.contains(":activity:")))
        .cloned()
        .expect("an activity task");
    assert!(activity["TimeoutSeconds"].as_u64().is_some_and(|t| t >= 1800));
    assert!(activity["HeartbeatSeconds"].is_u64());
    assert!(text.contains("arn:aws:states:::aws-sdk:s3:copyObject"));
}

#[test]
fn workflows_are_in_canonical_form() {
    for f in crate::workflow_files() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise")).args(["fmt", "--check"]).arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{} is canonical (run stepwise fmt --write)", f.display());
    }
}
