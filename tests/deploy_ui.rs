//! The Deploy dialog, the Deployed window and the CloudFormation export, driven through
//! egui_kittest against a real local engine (the backend runs on its own thread, so each step
//! waits for what it expects, with a time limit).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use stepwise::app::{Command, DesignerApp, StartOptions};
use stepwise::asl::{Diagnostic, Format};
use stepwise::backend::deploy_ops::DeploymentUpdate;
use stepwise::backend::{VideoRules, WorkerKind, WorkerProfile, WorkerSettings};

struct Fixture {
    dir: tempfile::TempDir,
}

fn fixture() -> (Fixture, Harness<'static, DesignerApp>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(crate::repo().join("workflows/video-ingest.asl.json"), &file).unwrap();
    let (config, data): (PathBuf, PathBuf) = (dir.path().join("config"), dir.path().join("data"));
    // A fresh install's built-in worker would create the review activity at start; the tests
    // see the deploy create it.
    let off = WorkerProfile { activity: "stepwise-video-review".into(), enabled: false, kind: WorkerKind::VideoCheck { rules: VideoRules::default() } };
    WorkerSettings { workers: vec![off] }.save(&config).unwrap();
    let app = DesignerApp::new(StartOptions { open: Some(file), config_dir: config, data_dir: Some(data) });
    let h = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    let mut f = (Fixture { dir }, h);
    step_until(&mut f.1, "the local engine to start", |a| a.run.is_connected());
    f
}

fn step_until(h: &mut Harness<'static, DesignerApp>, what: &str, done: impl Fn(&DesignerApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.run_steps(2);
        if done(h.state()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; status: {:?}, failure: {:?}", h.state().status, h.state().deploy.failure);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn button_enabled(h: &Harness<'static, DesignerApp>, label: &str) -> bool {
    !h.get_by_role_and_label(Role::Button, label).accesskit_node().is_disabled()
}

fn check(h: &mut Harness<'static, DesignerApp>) {
    h.get_by_role_and_label(Role::Button, "Check").click();
    h.run_steps(2);
    step_until(h, "the check", |a| a.deploy.busy.is_none() && (a.deploy.checked.is_some() || a.deploy.failure.is_some()));
}

fn deploy(h: &mut Harness<'static, DesignerApp>) {
    assert!(button_enabled(h, "Deploy"), "Deploy is disabled after a clean check");
    h.get_by_role_and_label(Role::Button, "Deploy").click();
    h.run_steps(2);
    step_until(h, "the deploy", |a| a.deploy.report.is_some() || a.deploy.failure.is_some());
    assert!(h.state().deploy.failure.is_none(), "{:?}", h.state().deploy.failure);
}

#[test]
fn check_shows_a_new_machine_deploy_creates_it_and_a_second_check_shows_the_edit() {
    let (_f, mut h) = fixture();
    h.get_by_label("🚀 Deploy…").click();
    h.run_steps(2);
    assert_eq!(h.state().deploy.name, "video-ingest");
    h.get_by_label_contains("Deploys to: Local engine");
    assert!(!button_enabled(&h, "Deploy"), "Deploy before any check");

    check(&mut h);
    let c = h.state().deploy.checked.clone().expect("a check");
    assert_eq!(c.errors(), 0, "{:?}", c.diagnostics);
    assert_eq!(c.diff, None);
    assert!(!c.exists);
    assert_eq!(c.activities_to_create, ["stepwise-video-review"]);
    h.get_by_label_contains("New state machine");
    h.get_by_label("Activities it will create: stepwise-video-review");

    deploy(&mut h);
    let report = h.state().deploy.report.clone().unwrap();
    assert!(report.created);
    assert!(report.state_machine_arn.ends_with(":stateMachine:video-ingest"), "{}", report.state_machine_arn);
    assert!(report.activities.iter().any(|a| a.name == "stepwise-video-review" && a.created));
    h.get_by_label("✔ Created the state machine.");
    // What was checked is deployed: the next deploy needs a new check.
    assert!(!button_enabled(&h, "Deploy"));

    // Unchanged: nothing to deploy.
    check(&mut h);
    assert_eq!(h.state().deploy.checked.as_ref().unwrap().diff.as_deref(), Some(""));
    h.get_by_label_contains("No changes");

    let text = h.state().doc.text.replace("\"TimeoutSeconds\": 1800", "\"TimeoutSeconds\": 900");
    assert_ne!(text, h.state().doc.text, "the sample has the timeout the test edits");
    h.state_mut().apply(Command::SetText(text));
    h.run_steps(2);
    assert!(!button_enabled(&h, "Deploy"), "an edit after the check needs a new check");
    check(&mut h);
    let c = h.state().deploy.checked.clone().unwrap();
    assert!(c.exists && c.activities_to_create.is_empty());
    let diff = c.diff.expect("a diff against the deployed machine");
    assert!(diff.contains("-      \"TimeoutSeconds\": 1800") && diff.contains("+      \"TimeoutSeconds\": 900"), "{diff}");
    h.get_by_label("Changes to the deployed video-ingest:");
    h.get_by_label("+      \"TimeoutSeconds\": 900,");

    deploy(&mut h);
    assert!(!h.state().deploy.report.as_ref().unwrap().created);
    h.get_by_label("✔ Updated the state machine.");
}

#[test]
fn errors_disable_deploy_and_show_in_problems() {
    let (_f, mut h) = fixture();
    let text = h.state().doc.text.replace("\"StartAt\": \"Extract Video Details\"", "\"StartAt\": \"Nowhere\"");
    h.state_mut().apply(Command::SetText(text));
    h.run_steps(2);
    assert!(h.state().doc.error_count() > 0);
    h.get_by_label("🚀 Deploy…").click();
    h.run_steps(2);
    check(&mut h);
    let c = h.state().deploy.checked.clone().unwrap();
    assert!(c.errors() > 0, "the check finds the local error too");
    assert!(!button_enabled(&h, "Deploy"));
    h.get_by_label_contains("errors (listed in Problems");
    h.get_by_label_contains("Nowhere");

    // An AWS diagnostic (pointer only) lands in Problems with its line, and selects its state.
    h.state_mut().apply(Command::SetText(stepwise::asl::to_text(&serde_json::from_str(&std::fs::read_to_string(crate::repo().join("workflows/video-ingest.asl.json")).unwrap()).unwrap(), Format::Json)));
    h.run_steps(2);
    assert_eq!(h.state().doc.error_count(), 0);
    let aws = Diagnostic::error("SCHEMA_VALIDATION_FAILED", "/States/Review Video/TimeoutSeconds", "Value is not allowed here (AWS)");
    let doc_rev = h.state().doc.revision;
    let update = DeploymentUpdate::Preview {
        name: "video-ingest".into(),
        diagnostics: vec![aws],
        diff: None,
        activities_to_create: Vec::new(),
        rewrites: Vec::new(),
        exists: false,
    };
    {
        let app = h.state_mut();
        let doc = std::mem::replace(&mut app.doc, stepwise::app::Document::new_untitled());
        app.deploy.apply(update, &doc);
        app.doc = doc;
    }
    assert_eq!(h.state().doc.revision, doc_rev);
    let placed = h.state().deploy.remote_problems(&h.state().doc);
    assert_eq!(placed.len(), 1);
    let line = placed[0].line.expect("a line from the source map");
    let expected = h.state().doc.text.lines().position(|l| l.contains("\"TimeoutSeconds\"")).unwrap() as u32 + 1;
    assert_eq!(line, expected);
    assert!(!button_enabled(&h, "Deploy"), "AWS's error blocks the deploy");
    h.run_steps(2);
    h.get_by_label("✖ Review Video: Value is not allowed here (AWS)").click();
    h.run_steps(2);
    assert_eq!(h.state().selection, ["Review Video"]);
}

#[test]
fn the_deployed_window_lists_the_machine_and_open_loads_it_as_a_document() {
    let (_f, mut h) = fixture();
    h.get_by_label("🚀 Deploy…").click();
    h.run_steps(2);
    check(&mut h);
    deploy(&mut h);
    h.state_mut().deploy.open = false;
    h.get_by_label("☰ Deployed").click();
    h.run_steps(2);
    step_until(&mut h, "the list", |a| a.deployed.loaded);
    assert!(h.state().deployed.error.is_none(), "{:?}", h.state().deployed.error);
    assert_eq!(h.state().deployed.machines.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["video-ingest"]);
    assert_eq!(h.state().deployed.machines[0].machine_type, "STANDARD");
    h.get_by_label("stepwise-video-review");
    let states = h.state().doc.state_count;
    h.get_by_role_and_label(Role::Button, "Open").click();
    h.run_steps(2);
    step_until(&mut h, "the deployed definition to open", |a| a.doc.path.is_none() && a.doc.title() == "video-ingest");
    assert!(!h.state().deploy.open && h.state().deploy.report.is_none(), "the dialog forgets the document it deployed");
    let doc = &h.state().doc;
    assert!(doc.is_dirty(), "a deployed definition opens unsaved");
    assert_eq!(doc.state_count, states);
    assert_eq!(doc.error_count(), 0, "{:?}", doc.diagnostics);
    assert!(!doc.can_undo());
    // Edits of the opened document are undoable like any other.
    let text = doc.text.replace("\"TimeoutSeconds\": 1800", "\"TimeoutSeconds\": 60");
    h.state_mut().apply(Command::SetText(text));
    assert!(h.state().doc.can_undo());
    h.state_mut().apply(Command::Undo);
    assert!(h.state().doc.text.contains("\"TimeoutSeconds\": 1800"));
}

#[test]
fn export_cloudformation_writes_a_template_with_the_state_machine() {
    let (f, mut h) = fixture();
    let stem = h.state().run.machine_name();
    let doc = std::mem::replace(&mut h.state_mut().doc, stepwise::app::Document::new_untitled());
    let mut cfn = stepwise::app::deploy::CfnExport::default();
    cfn.show(&stem, &doc);
    assert_eq!(cfn.raw_bucket, "stepwise-raw", "video-ingest starts from an S3 event");
    for file in ["video-ingest.cfn.yaml", "video-ingest.cfn.json"] {
        let path = f.dir.path().join(file);
        let notes = stepwise::app::deploy::export_cloudformation(&doc, &path, &cfn.options()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let format = if file.ends_with(".json") { Format::Json } else { Format::Yaml };
        if format == Format::Json {
            assert!(text.trim_start().starts_with('{'));
        }
        let (parsed, problems) = stepwise::asl::parse(&text, format);
        assert!(problems.iter().all(|d| !d.is_error()), "{problems:?}");
        let resources = parsed.root["Resources"].as_object().expect("Resources");
        let machine = resources.values().find(|r| r["Type"] == "AWS::StepFunctions::StateMachine").expect("a state machine resource");
        assert_eq!(machine["Properties"]["StateMachineName"], "video-ingest");
        assert!(text.contains("stepwise-raw"), "the raw bucket is in the template");
        let _ = notes;
    }
    // A workflow that does not start from an S3 event gets no raw bucket by default.
    let plain = stepwise::app::Document::from_text(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#, Format::Json, None, None);
    cfn.show("plain", &plain);
    assert_eq!(cfn.options().raw_bucket, None);
    // A definition that does not parse is refused in words, and nothing is written.
    let broken = stepwise::app::Document::from_text("{\"StartAt\":", Format::Json, None, None);
    let path = f.dir.path().join("broken.cfn.yaml");
    let e = stepwise::app::deploy::export_cloudformation(&broken, &path, &cfn.options()).unwrap_err();
    assert!(e.contains("does not parse"), "{e}");
    assert!(!path.exists());
}

#[test]
fn aws_settings_are_read_from_the_form_and_bad_ones_say_what_to_type() {
    use stepwise::app::deploy::{DeployDialog, parse_tags};
    let mut d = DeployDialog::default();
    d.show("video-ingest", Some("arn:aws:iam::000000000000:role/remembered"));
    assert_eq!(d.role_arn, "arn:aws:iam::000000000000:role/remembered", "the connection's last role fills the field");
    d.tags = "team=video\n\n owner = me \n".into();
    d.tracing = true;
    d.publish = true;
    d.version_description = "first".into();
    let s = d.settings(false).unwrap();
    assert_eq!(s.name, "video-ingest");
    assert_eq!(s.role_arn.as_deref(), Some("arn:aws:iam::000000000000:role/remembered"));
    assert_eq!(s.tags, [("team".to_owned(), "video".to_owned()), ("owner".to_owned(), "me".to_owned())]);
    assert!(s.tracing && s.publish && s.logging.is_none());
    assert_eq!(s.version_description.as_deref(), Some("first"));
    // The local engine takes none of AWS's settings.
    let local = d.settings(true).unwrap();
    assert!(local.role_arn.is_none() && local.tags.is_empty() && !local.publish && !local.tracing);

    d.log_level = "ERROR".into();
    assert!(d.settings(false).unwrap_err().contains("log group ARN"));
    d.log_group_arn = "arn:aws:logs:us-east-1:000000000000:log-group:sfn:*".into();
    assert_eq!(d.settings(false).unwrap().logging.unwrap().level, "ERROR");
    assert!(parse_tags("novalue").unwrap_err().contains("KEY=VALUE"));
    d.name = "has space".into();
    assert!(d.settings(false).unwrap_err().starts_with("The name"));
}
