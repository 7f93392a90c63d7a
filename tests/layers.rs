//! Tidy checks over the sources: the layers only depend downwards, and library code does not
//! `unwrap`.

use std::path::Path;

/// Each layer and the layers it must never name. Lower layers never depend on higher ones.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("asl", &["crate::validate", "crate::cli", "crate::engine", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui"]),
    ("validate", &["crate::cli", "crate::engine", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui"]),
    // The engine is sans-IO: no async runtime, no database, no clock, no files.
    (
        "engine",
        &["crate::cli", "crate::runtime", "crate::store", "crate::backend", "crate::app", "crate::ui", "tokio", "rusqlite", "SystemTime", "std::fs"],
    ),
    // The store writes what the runtime decides; it drives nothing.
    ("store", &["crate::cli", "crate::runtime", "crate::backend", "crate::app", "crate::ui", "tokio"]),
    ("runtime", &["crate::cli", "crate::backend", "crate::app", "crate::ui", "rusqlite"]),
    // The picture of a machine is shared by the window and `stepwise render`: no GUI crate.
    ("diagram", &["crate::cli", "crate::engine", "crate::runtime", "crate::store", "crate::backend", "crate::app", "egui", "eframe"]),
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

/// Only the designer draws: no other module names the GUI crates.
#[test]
fn only_the_app_names_the_gui_crates() {
    let mut files = Vec::new();
    rust_files(&crate::repo().join("src"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "app") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for gui in ["egui", "eframe", "rfd::"] {
            assert!(!text.contains(gui), "{} names {gui}; drawing belongs in src/app", f.display());
        }
    }
}

#[test]
fn only_the_backend_names_the_aws_sdk() {
    let mut files = Vec::new();
    rust_files(&crate::repo().join("src"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "backend") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("aws_sdk_"), "{} names aws_sdk_*", f.display());
    }
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
