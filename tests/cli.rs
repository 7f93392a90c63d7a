//! The command-line contract: flags, output shapes and exit codes.

use std::path::Path;
use std::process::{Command, Output};

pub fn stepwise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepwise")).args(args).output().expect("the binary runs")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

const VALID: &str = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#;

#[test]
fn help_lists_every_subcommand() {
    let out = stepwise(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["validate", "fmt", "run", "deploy", "ingest", "worker", "resume", "render", "cloudformation"] {
        assert!(text.contains(cmd), "--help lists {cmd}: {text}");
    }
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.asl.json", VALID.as_bytes());
    let bad = write(dir.path(), "bad.asl.json", br#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#);
    assert_eq!(stepwise(&["validate", &ok]).status.code(), Some(0));
    let out = stepwise(&["validate", &ok, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{bad}:1:")), "names file:line:column: {text}");
    assert!(text.contains("MISSING_TRANSITION_TARGET"), "{text}");
    let missing = dir.path().join("nope.json");
    assert_eq!(stepwise(&["validate", missing.to_str().unwrap()]).status.code(), Some(2));
    assert_eq!(stepwise(&["validate", "--type", "BOGUS", &ok]).status.code(), Some(2));
    assert_eq!(stepwise(&["validate"]).status.code(), Some(2));
}

#[test]
fn validate_express_restrictions() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "act.asl.json",
        br#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review", "End": true}}}"#,
    );
    assert_eq!(stepwise(&["validate", "--type", "STANDARD", &f]).status.code(), Some(0));
    assert_eq!(stepwise(&["validate", "--type", "EXPRESS", &f]).status.code(), Some(1));
}

#[test]
fn validate_json_output_shape() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "w.asl.json", b"{\n  \"StartAt\": \"A\",\n  \"States\": {\"A\": {\"Type\": \"Wait\", \"Seconds\": -1, \"End\": true}}\n}");
    let out = stepwise(&["validate", "--format", "json", &f]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let d = &v[0]["diagnostics"][0];
    assert_eq!(v[0]["file"], f.as_str());
    assert_eq!(d["severity"], "ERROR");
    assert_eq!(d["code"], "SCHEMA_VALIDATION_FAILED");
    assert_eq!(d["location"], "/States/A/Seconds");
    assert_eq!(d["line"], 3);
    assert!(d["column"].as_u64().unwrap() > 1);
    assert!(d["message"].as_str().unwrap().contains("Seconds"));
}

#[test]
fn yaml_is_validated_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "m.asl.yaml", b"StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: Missing\n");
    let out = stepwise(&["validate", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{f}:5:")));
}

#[test]
fn bad_input_is_a_diagnostic_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = "[".repeat(100_000);
    deep.push_str(&"]".repeat(100_000));
    let mut big = String::from(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Result": ""#);
    big.push_str(&"x".repeat(10 * 1024 * 1024));
    big.push_str(r#""}}}"#);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.json", vec![], "EMPTY_DOCUMENT"),
        ("binary.json", (0u8..=255).cycle().take(4096).collect(), "INVALID_ENCODING"),
        ("deep.json", deep.into_bytes(), "INVALID_JSON"),
        ("dup.json", br#"{"StartAt": "A", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#.to_vec(), "DUPLICATE_KEY"),
        ("dupstate.json", br#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "A": {"Type": "Succeed"}}}"#.to_vec(), "DUPLICATE_STATE_NAME"),
        ("latin1.json", b"{\"StartAt\": \"\xe9\"}".to_vec(), "INVALID_ENCODING"),
        ("big.json", big.into_bytes(), "DEFINITION_TOO_LARGE"),
        ("text.json", b"not a definition".to_vec(), "INVALID_JSON"),
        ("array.json", b"[1, 2]".to_vec(), "SCHEMA_VALIDATION_FAILED"),
        ("bad.yaml", b"a: [1, 2\n".to_vec(), "INVALID_YAML"),
    ];
    for (name, bytes, code) in cases {
        let f = write(dir.path(), name, &bytes);
        let out = stepwise(&["validate", "--format", "json", &f]);
        assert_eq!(out.status.code(), Some(1), "{name}: exit 1, not a crash; stderr: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: JSON output: {e}"));
        let codes: Vec<&str> = v[0]["diagnostics"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
        assert!(codes.contains(&code), "{name}: expected {code}, got {codes:?}");
    }
}

#[test]
fn fmt_prints_checks_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Result\":{\"n\":1.0,\"z\":1e5},\"End\":true}}}";
    let f = write(dir.path(), "m.asl.json", messy.as_bytes());
    let out = stepwise(&["fmt", &f]);
    assert_eq!(out.status.code(), Some(0));
    let canonical = String::from_utf8(out.stdout).unwrap();
    assert!(canonical.starts_with("{\n  \"StartAt\": \"A\",\n  \"States\": {"), "{canonical}");
    assert!(canonical.contains("\"n\": 1.0") && canonical.contains("\"z\": 1e5"), "numbers as written: {canonical}");
    assert_eq!(stepwise(&["fmt", "--check", &f]).status.code(), Some(1));
    assert_eq!(stepwise(&["fmt", "--write", &f]).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), canonical);
    assert_eq!(stepwise(&["fmt", "--check", &f]).status.code(), Some(0));
    // YAML out and back.
    let y = stepwise(&["fmt", "--yaml", &f]);
    let yf = write(dir.path(), "m.asl.yaml", &y.stdout);
    let back = stepwise(&["fmt", "--json", &yf]);
    assert_eq!(String::from_utf8(back.stdout).unwrap(), canonical);
}

#[test]
fn fmt_refuses_to_drop_duplicate_keys() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"StartAt": "A", "Comment": "one", "Comment": "two", "States": {"A": {"Type": "Pass", "End": true}}}"#;
    let f = write(dir.path(), "d.asl.json", text.as_bytes());
    assert_eq!(stepwise(&["fmt", "--write", &f]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text, "the file is untouched");
}

#[test]
fn deploy_to_the_local_engine_reports_creates_updates_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let with_activity = r#"{"StartAt": "Review", "States": {
        "Review": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:000000000000:activity:review", "End": true}}}"#;
    let file = write(dir.path(), "m.asl.json", with_activity.as_bytes());
    let out = stepwise(&["deploy", "--local", "--data-dir", data, "--name", "m", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], true);
    assert_eq!(report["activities"][0]["name"], "review");
    assert_eq!(report["activities"][0]["created"], true);
    // The file names another account: the Task is pointed at the local engine's activity.
    assert_eq!(report["rewrites"][0]["location"], "/States/Review/Resource");
    assert_eq!(report["rewrites"][0]["to"], report["activities"][0]["arn"]);
    assert_eq!(report["diff"], "");

    let changed = write(dir.path(), "m2.asl.json", with_activity.replace("\"End\": true", "\"End\": true, \"Comment\": \"two\"").as_bytes());
    let out = stepwise(&["deploy", "--data-dir", data, "--name", "m", &changed]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], false);
    assert_eq!(report["activities"][0]["created"], false);
    assert!(report["diff"].as_str().unwrap().contains("+      \"Comment\": \"two\""), "{}", report["diff"]);

    let bad = write(dir.path(), "bad.asl.json", br#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nope"}}}"#);
    let out = stepwise(&["deploy", "--data-dir", data, "--name", "bad", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MISSING_TRANSITION_TARGET"));
}

#[test]
fn connection_flags_that_contradict_each_other_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "m.asl.json", VALID.as_bytes());
    for args in [
        vec!["deploy", "--local", "--profile", "dev", "--name", "m", file.as_str()],
        vec!["deploy", "--local", "--endpoint-url", "http://127.0.0.1:1", "--name", "m", file.as_str()],
        vec!["ingest", "--local", "--region", "eu-west-1", "--bucket", "raw", "--state-machine", "m", file.as_str()],
        vec!["worker", "--local", "--region", "eu-west-1", "--activity", "a", "--command", "cat"],
        // AWS-only settings on the local engine.
        vec!["deploy", "--publish", "--name", "m", file.as_str()],
        vec!["deploy", "--tag", "novalue", "--region", "eu-west-1", "--name", "m", file.as_str()],
        vec!["deploy", "--logging-level", "ALL", "--region", "eu-west-1", "--name", "m", file.as_str()],
    ] {
        let out = stepwise(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty());
    }
}
