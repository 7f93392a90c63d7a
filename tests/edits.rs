//! Editing operations keep a valid document valid, on the real example workflows.

use proptest::prelude::*;
use serde_json::Value;
use stepwise::asl::edit::{self, Connect};
use stepwise::asl::model::{self, QueryLanguage, StateType};
use stepwise::validate::{Options, validate};

fn errors(root: &Value) -> Vec<String> {
    validate(&stepwise::asl::Document::from_value(root.clone()), &Options::default())
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {} {}", d.code, d.location, d.message))
        .collect()
}

fn workflows() -> Vec<Value> {
    crate::workflow_files().iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
}

#[test]
fn rename_every_state_keeps_each_workflow_valid() {
    for mut root in workflows() {
        for name in model::all_state_names(&root) {
            let new = format!("{name} (renamed)");
            edit::rename_state(&mut root, &name, &new).unwrap();
            assert!(errors(&root).is_empty(), "after renaming {name}: {:#?}", errors(&root));
            assert!(!model::all_state_names(&root).contains(&name));
            for scope in model::scopes(&root) {
                assert_ne!(scope.start_at(), Some(name.as_str()));
                for (n, s) in scope.states().unwrap() {
                    assert!(model::transitions(s).iter().all(|t| t.target != name), "{n} still points at {name}");
                }
            }
        }
    }
}

#[test]
fn deleting_a_pass_or_task_keeps_each_workflow_valid() {
    for root in workflows() {
        for name in model::all_state_names(&root) {
            let (_, _, state) = model::find_state(&root, &name).unwrap();
            let kind = model::state_type(state).unwrap();
            // A state that is alone in its scope cannot go without emptying the scope; the
            // others must leave a valid machine behind when they had a plain successor.
            if !matches!(kind, StateType::Pass | StateType::Task | StateType::Wait) || model::transitions(state).len() != 1 || state.get("Next").is_none() {
                continue;
            }
            let mut copy = root.clone();
            edit::delete_state(&mut copy, &name).unwrap();
            assert!(errors(&copy).is_empty(), "after deleting {name}: {:#?}", errors(&copy));
        }
    }
}

#[test]
fn adding_and_connecting_states_keeps_validity() {
    for mut root in workflows() {
        let start = root["StartAt"].as_str().unwrap().to_string();
        let state = edit::new_state(StateType::Pass, QueryLanguage::JsonPath, Some(&start));
        edit::add_state(&mut root, "", "Prepare", state).unwrap();
        root["StartAt"] = "Prepare".into();
        assert!(errors(&root).is_empty(), "{:#?}", errors(&root));
        assert!(edit::add_state(&mut root, "", "Prepare", Value::Null).is_err(), "names stay unique");
        let fail = edit::new_state(StateType::Fail, QueryLanguage::JsonPath, None);
        edit::add_state(&mut root, "", "Give up", fail).unwrap();
        // A new catch-all on the first Task that has none yet routes to the new Fail.
        let task = model::scopes(&root)[0]
            .states()
            .unwrap()
            .iter()
            .find(|(_, s)| s["Type"] == "Task" && s.get("Catch").is_none())
            .map(|(n, _)| n.clone());
        if let Some(task) = task {
            edit::connect(&mut root, &task, "Give up", Connect::Catch(vec![])).unwrap();
            assert!(errors(&root).is_empty(), "{:#?}", errors(&root));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Any sequence of renames, deletes of chained states and Next re-connections leaves a
    /// valid workflow valid.
    #[test]
    fn random_edit_sequences_keep_validity(seq in prop::collection::vec((0u8..3, 0usize..64, 0usize..64), 1..12), which in 0usize..6) {
        let mut root = workflows().swap_remove(which % 6);
        for (op, a, b) in seq {
            let names = model::all_state_names(&root);
            if names.is_empty() { break; }
            let from = names[a % names.len()].clone();
            match op {
                0 => { edit::rename_state(&mut root, &from, &format!("{from}'")).unwrap(); }
                1 => {
                    let (_, _, s) = model::find_state(&root, &from).unwrap();
                    if s.get("Next").is_some() && model::transitions(s).len() == 1 {
                        edit::delete_state(&mut root, &from).unwrap();
                    }
                }
                _ => {
                    // Insert a new Pass on the Next edge leaving `from`, as a drop on an edge does.
                    let (scope, _, s) = model::find_state(&root, &from).unwrap();
                    if let (Some(next), false) = (s.get("Next").and_then(Value::as_str), s["Type"] == "Choice") {
                        let next = next.to_string();
                        let scope = scope.pointer.clone();
                        let new = format!("Step {b}-{}", names.len());
                        if model::find_state(&root, &new).is_none() {
                            edit::add_state(&mut root, &scope, &new, edit::new_state(StateType::Pass, QueryLanguage::JsonPath, Some(&next))).unwrap();
                            edit::connect(&mut root, &from, &new, Connect::Next).unwrap();
                        }
                    }
                }
            }
            let errs = errors(&root);
            prop_assert!(errs.is_empty(), "{:#?}", errs);
        }
    }
}
