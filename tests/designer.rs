//! The designer driven as a person would, through egui_kittest: AccessKit queries for the
//! panels and pointer drags at positions computed from the model for the canvas.

use eframe::egui::{self, Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use stepwise::app::canvas::{self, WireModifiers};
use stepwise::app::{Command, DesignerApp, StartOptions, Tab};

struct Fixture {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    config: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("video-ingest.asl.json");
    std::fs::copy(crate::repo().join("workflows/video-ingest.asl.json"), &file).unwrap();
    let config = dir.path().join("config");
    Fixture { _dir: dir, file, config }
}

fn harness(app: DesignerApp) -> Harness<'static, DesignerApp> {
    let mut h = Harness::builder().with_size(egui::vec2(1400.0, 900.0)).build_ui_state(|ui, app: &mut DesignerApp| app.ui(ui), app);
    // The canvas asks for a repaint every frame, so step a fixed number of frames.
    h.run_steps(4);
    h
}

fn open(f: &Fixture) -> Harness<'static, DesignerApp> {
    harness(DesignerApp::new(StartOptions { open: Some(f.file.clone()), config_dir: f.config.clone(), data_dir: None }))
}

fn states(app: &DesignerApp) -> Vec<String> {
    stepwise::asl::model::all_state_names(&app.doc.root)
}

#[test]
fn opens_a_workflow_with_its_states_and_no_problems() {
    let f = fixture();
    let h = open(&f);
    let app = h.state();
    assert_eq!(app.doc.path.as_deref(), Some(f.file.as_path()));
    assert!(states(app).contains(&"Review Video".to_string()));
    assert_eq!(app.doc.diagnostics.len(), 0, "{:?}", app.doc.diagnostics);
    h.get_by_label("No problems: the definition is valid.");
    h.get_by_label("State machine");
}

#[test]
fn with_no_file_it_opens_a_copy_of_the_sample() {
    let f = fixture();
    let h = harness(DesignerApp::new(StartOptions { open: None, config_dir: f.config.clone(), data_dir: None }));
    assert!(h.state().doc.path.is_none(), "the shipped file is never the one edited");
    assert!(states(h.state()).contains(&"Review Video".to_string()));
}

#[test]
fn palette_adds_after_the_selection_and_undo_takes_it_back() {
    let f = fixture();
    let mut h = open(&f);
    h.state_mut().selection = vec!["Extract Video Details".into()];
    h.run_steps(2);
    h.get_by_label("Wait").click();
    h.run_steps(3);
    let root = h.state().doc.root.clone();
    assert_eq!(root["States"]["Extract Video Details"]["Next"], "Wait", "spliced into the Next arrow");
    assert_eq!(root["States"]["Wait"]["Next"], "Review Video");
    assert_eq!(h.state().selection, vec!["Wait".to_string()]);
    assert_eq!(h.state().doc.error_count(), 0);
    // Undo from the keyboard (nothing focused) removes it again.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert!(!states(h.state()).contains(&"Wait".to_string()));
    assert_eq!(h.state().doc.root["States"]["Extract Video Details"]["Next"], "Review Video");
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert!(states(h.state()).contains(&"Wait".to_string()));
}

#[test]
fn dragging_a_wire_between_nodes_connects_them() {
    let f = fixture();
    let mut h = open(&f);
    // A fresh Pass at the end, then a wire from its handle to "Copy To Approved".
    h.state_mut().apply(Command::AddState {
        item: stepwise::app::PaletteItem::Type(stepwise::asl::model::StateType::Pass),
        at: [900.0, 100.0],
        scope: String::new(),
        on_edge: None,
    });
    h.state_mut().canvas.fit_requested = true;
    h.run_steps(3);
    let (from, to) = {
        let app = h.state();
        let areas = canvas::node_areas(&app.doc);
        let p = app.doc.diagram.index_of("Pass").unwrap();
        let target = app.doc.diagram.index_of("Approved").or_else(|| app.doc.diagram.index_of("Review Video")).unwrap();
        let handle = canvas::handle_center(areas[p]);
        let c = areas[target].center();
        (app.canvas.screen_pos(&h.ctx, [handle.x, handle.y]), app.canvas.screen_pos(&h.ctx, [c.x, c.y]))
    };
    let target_name = if states(h.state()).contains(&"Approved".to_string()) { "Approved" } else { "Review Video" };
    h.drag_at(from);
    h.run_steps(2);
    h.hover_at(to);
    h.run_steps(2);
    h.drop_at(to);
    h.run_steps(3);
    assert_eq!(h.state().doc.root["States"]["Pass"]["Next"], target_name, "status: {:?}", h.state().status);
}

#[test]
fn wire_gestures_map_to_commands_and_refusals() {
    let f = fixture();
    let h = open(&f);
    let doc = &h.state().doc;
    let review = doc.diagram.index_of("Review Video").unwrap();
    let verdict = doc.diagram.index_of("Check Verdict").unwrap();
    let m = |catch, default| WireModifiers { catch, default };
    assert_eq!(
        canvas::connection(doc, review, Some(verdict), m(true, false)).unwrap(),
        Command::Connect { from: "Review Video".into(), to: "Check Verdict".into(), how: stepwise::asl::edit::Connect::Catch(vec![]) }
    );
    let start = doc.diagram.nodes.iter().position(|n| n.kind == stepwise::diagram::NodeKind::Start).unwrap();
    assert!(canvas::connection(doc, review, Some(start), m(false, false)).unwrap_err().contains("Start"));
    assert!(canvas::connection(doc, review, None, m(false, false)).is_err());
    // A drop on an arrow splices; a drop on empty canvas lands at the top level.
    let areas = canvas::node_areas(doc);
    let edge = doc.diagram.edges.iter().find(|e| e.from == review && e.to == verdict).unwrap();
    let (a, b) = canvas::arrow_points(areas[edge.from], areas[edge.to]);
    let mid = a + (b - a) * 0.5;
    let (scope, on_edge) = canvas::drop_target(doc, mid);
    assert_eq!(scope, "");
    assert!(on_edge.is_some());
    let (_, none) = canvas::drop_target(doc, egui::pos2(-5000.0, -5000.0));
    assert!(none.is_none());
    // The handle of a state is found; the Succeed/Fail states have none.
    let hc = canvas::handle_center(areas[review]);
    assert_eq!(canvas::hit_handle(doc, hc, 1.0), Some(review));
}

#[test]
fn inspector_edits_reach_the_definition_text() {
    let f = fixture();
    let mut h = open(&f);
    h.state_mut().selection = vec!["Review Video".into()];
    h.run_steps(3);
    let comment = h.get_by_label("Comment");
    comment.focus();
    comment.type_text(" Edited.");
    h.run_steps(3);
    let doc = &h.state().doc;
    assert!(doc.root["States"]["Review Video"]["Comment"].as_str().unwrap().ends_with(" Edited."));
    assert!(doc.text.contains("reports a verdict. Edited."), "the Definition text follows at once");
    assert!(doc.is_dirty());
}

#[test]
fn renaming_in_the_inspector_follows_every_reference() {
    let f = fixture();
    let mut h = open(&f);
    h.state_mut().selection = vec!["Check Verdict".into()];
    h.run_steps(3);
    let name = h.get_by_label("Name");
    name.focus();
    name.type_text(" Now");
    h.run_steps(2);
    h.key_press(Key::Enter);
    h.run_steps(3);
    let root = &h.state().doc.root;
    assert!(root["States"].get("Check Verdict Now").is_some(), "{:?}", h.state().status);
    assert_eq!(root["States"]["Review Video"]["Next"], "Check Verdict Now");
    assert_eq!(h.state().selection, vec!["Check Verdict Now".to_string()]);
}

#[test]
fn broken_text_keeps_the_graph_and_shows_the_error_line() {
    let f = fixture();
    let mut h = open(&f);
    h.get_by_label("Definition").click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Definition);
    let before = h.state().doc.diagram.nodes.len();
    let broken = h.state().doc.text.replacen("\"Type\": \"Pass\",", "\"Type\": \"Pass\"", 1);
    h.state_mut().apply(Command::SetText(broken));
    h.run_steps(3);
    let doc = &h.state().doc;
    let err = doc.text_error.clone().expect("the text does not parse");
    assert!(err.line.is_some_and(|l| l > 1), "{err:?}");
    assert_eq!(doc.diagram.nodes.len(), before, "the graph keeps the last good state");
    h.get_by_label_contains("the text does not parse");
    // Fixing the text applies it again.
    let fixed = h.state().doc.text.replacen("\"Type\": \"Pass\"", "\"Type\": \"Pass\",", 1);
    h.state_mut().apply(Command::SetText(fixed));
    h.run_steps(2);
    assert!(h.state().doc.text_error.is_none());
}

#[test]
fn saves_atomically_with_the_layout_beside_and_recovers_unsaved_work() {
    let f = fixture();
    let mut h = open(&f);
    h.state_mut().apply(Command::MoveNodes(vec![("Review Video".into(), [4321.5, 567.0])]));
    h.state_mut().apply(Command::SetField { state: "Review Video".into(), field: "TimeoutSeconds".into(), value: Some(serde_json::json!(99)), coalesce: false });
    // Unsaved work is copied to the recovery folder.
    h.state_mut().autosave(1000.0);
    let recovered = stepwise::app::files::Recovery::list(&f.config);
    assert_eq!(recovered.len(), 1);
    assert!(recovered[0].1.text.contains("\"TimeoutSeconds\": 99"));
    // A new window (after a crash) offers it and restores it.
    let mut again = DesignerApp::new(StartOptions { open: Some(f.file.clone()), config_dir: f.config.clone(), data_dir: None });
    assert_eq!(again.recoveries.len(), 1);
    again.restore(0);
    assert_eq!(again.doc.root["States"]["Review Video"]["TimeoutSeconds"], 99);
    assert!(again.doc.is_dirty());
    // Saving writes the file and NAME.layout.json, never positions inside the ASL.
    assert!(h.state_mut().save_to(&f.file));
    let saved = std::fs::read_to_string(&f.file).unwrap();
    assert!(saved.contains("\"TimeoutSeconds\": 99"));
    assert!(!saved.contains("4321"));
    let layout = stepwise::diagram::LayoutFile::load_beside(&f.file).unwrap().unwrap();
    assert_eq!(layout.positions["Review Video"], [4321.5, 567.0]);
    assert!(stepwise::app::files::Recovery::list(&f.config).is_empty(), "saving removes the recovery copy");
    // Reopening keeps the manual layout.
    let reopened = DesignerApp::new(StartOptions { open: Some(f.file.clone()), config_dir: f.config.clone(), data_dir: None });
    let i = reopened.doc.diagram.index_of("Review Video").unwrap();
    assert_eq!(reopened.doc.positions.0[i], [4321.5, 567.0]);
}

#[test]
fn an_external_change_is_noticed_and_offered_for_reload() {
    let f = fixture();
    let mut h = open(&f);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let text = std::fs::read_to_string(&f.file).unwrap().replace("Review Video", "Review Clip");
    std::fs::write(&f.file, format!("{text}\n")).unwrap();
    // The file is checked once a second of app time (kittest steps 1/60 s per frame).
    h.run_steps(150);
    assert!(h.state().external_change);
    h.get_by_label("Reload from disk").click();
    h.run_steps(3);
    assert!(states(h.state()).contains(&"Review Clip".to_string()));
    assert!(!h.state().external_change);
}

#[test]
fn bad_files_open_with_a_message_not_a_crash() {
    let f = fixture();
    std::fs::write(&f.file, [0xff, 0xfe, 0x00]).unwrap();
    let h = open(&f);
    let (msg, err) = h.state().status.clone().unwrap();
    assert!(err && msg.contains("UTF-8"), "{msg}");
    let missing = DesignerApp::new(StartOptions { open: Some(f.file.with_extension("nope")), config_dir: f.config.clone(), data_dir: None });
    assert!(missing.status.unwrap().0.contains("Cannot open"));
}
