//! Tidy checks over the sources: the layers only depend downwards, and library code does not
//! `unwrap`.

use std::path::Path;

/// Each layer and the layers it must never name. Lower layers never depend on higher ones.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("asl", &["crate::validate", "crate::cli", "crate::serve", "crate::engine", "crate::monitor", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui"]),
    ("validate", &["crate::cli", "crate::serve", "crate::engine", "crate::monitor", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui"]),
    // The engine is sans-IO: no async runtime, no database, no clock, no files.
    (
        "engine",
        &["crate::cli", "crate::serve", "crate::runtime", "crate::store", "crate::monitor", "crate::backend", "crate::app", "crate::ui", "tokio", "rusqlite", "SystemTime", "std::fs"],
    ),
    // The store writes what the runtime decides; it drives nothing.
    ("store", &["crate::cli", "crate::serve", "crate::runtime", "crate::monitor", "crate::backend", "crate::app", "crate::ui", "tokio"]),
    ("runtime", &["crate::cli", "crate::serve", "crate::monitor", "crate::backend", "crate::app", "crate::ui", "rusqlite"]),
    // The views talk to the backend, never the other way round.
    ("backend", &["crate::cli", "crate::serve", "crate::app", "crate::ui"]),
    // The picture of a machine is shared by the window and `stepwise render`: no GUI crate.
    ("diagram", &["crate::cli", "crate::serve", "crate::engine", "crate::runtime", "crate::store", "crate::monitor", "crate::backend", "crate::app", "egui", "eframe"]),
    // A template is written from the definition alone: no engine, no AWS call.
    ("cloudformation", &["crate::cli", "crate::serve", "crate::engine", "crate::runtime", "crate::store", "crate::monitor", "crate::backend", "crate::app", "aws_sdk_", "egui"]),
    // The model of a watched execution comes from history events alone, so it works the same
    // for local and AWS executions; the window draws it.
    (
        "monitor",
        &["crate::cli", "crate::serve", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui", "egui", "eframe", "tokio", "rusqlite", "aws_sdk_"],
    ),
    // The endpoint serves the local engine beside the AWS backend, never through it: it names
    // no AWS SDK crate and no window, and the commands start it, not the other way round.
    ("serve", &["crate::cli", "crate::backend", "crate::app", "crate::ui", "egui", "eframe", "aws_sdk_", "aws_config", "rusqlite"]),
];

/// The engine is sans-IO: it reads no clock, touches no file or process and spawns nothing,
/// so the same inputs replay to the same history.
#[test]
fn the_engine_does_no_io() {
    let mut files = Vec::new();
    rust_files(&crate::repo().join("src").join("engine"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for bad in ["std::fs", "std::process", "std::net", "SystemTime", "Instant::now", "thread::spawn", "tokio", "rusqlite"] {
            assert!(!text.contains(bad), "{} (engine) uses {bad}", f.display());
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn lower_layers_never_name_higher_ones() {
    for (layer, forbidden) in FORBIDDEN {
        let mut files = Vec::new();
        rust_files(&crate::repo().join("src").join(layer), &mut files);
        assert!(!files.is_empty(), "layer {layer} exists");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for bad in *forbidden {
                assert!(!text.contains(bad), "{} (layer {layer}) names {bad}", f.display());
            }
        }
    }
}

/// Asserts that no source file outside `src/<owner>/` names any of `names`.
fn only_module_names(owner: &str, names: &[&str]) {
    let mut files = Vec::new();
    rust_files(&crate::repo().join("src"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == owner) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for name in names {
            assert!(!text.contains(name), "{} names {name}; only src/{owner} may", f.display());
        }
    }
}

/// Only the designer draws: no other module names the GUI crates.
#[test]
fn only_the_app_names_the_gui_crates() {
    only_module_names("app", &["egui", "eframe", "rfd::"]);
}

/// Only the backend talks to AWS: the SDK's crates, its configuration loader and its runtime
/// types stay behind it, so every other layer runs and is tested without AWS.
#[test]
fn only_the_backend_names_the_aws_sdk() {
    only_module_names("backend", &["aws_sdk_", "aws_config", "aws_smithy_", "aws_types", "aws_credential_types"]);
}

#[test]
fn library_code_does_not_unwrap() {
    let mut files = Vec::new();
    rust_files(&crate::repo().join("src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests live at the end of a file, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in code.lines().enumerate() {
            assert!(!line.contains(".unwrap()") && !line.contains(".expect("), "{}:{}: {line}", f.display(), i + 1);
        }
    }
}
