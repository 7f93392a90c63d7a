//! Parse → serialize → parse gives the same document, in JSON and in YAML.

use std::path::{Path, PathBuf};

use stepwise::asl::{self, Format};

fn round_trips(text: &str, format: Format) -> Result<(), String> {
    let (doc, diags) = asl::parse(text, format);
    if diags.iter().any(|d| d.is_error()) {
        return Err(format!("does not parse: {diags:?}"));
    }
    for out in [Format::Json, Format::Yaml] {
        let mut d = doc.clone();
        d.format = out;
        let written = d.to_text();
        let (again, diags) = asl::parse(&written, out);
        if !diags.is_empty() {
            return Err(format!("{out:?} output does not parse back: {diags:?}\n{written}"));
        }
        if again.root != doc.root {
            return Err(format!("{out:?} output differs after a round trip:\n{written}"));
        }
        if again.to_text() != written {
            return Err(format!("{out:?} output is not stable"));
        }
    }
    Ok(())
}

#[test]
fn workflows_round_trip() {
    for f in crate::workflow_files() {
        round_trips(&std::fs::read_to_string(&f).unwrap(), Format::Json).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

#[test]
fn numbers_keep_their_written_form() {
    let text = r#"{"a": 1.0, "b": 1e5, "c": -0, "d": 12345678901234567890123, "e": 0.1000}"#;
    let (doc, _) = asl::parse(text, Format::Json);
    assert_eq!(serde_json::to_string(&doc.root).unwrap(), text.replace(' ', ""));
    round_trips(text, Format::Json).unwrap();
}

fn files_under(dir: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, suffixes, out);
        } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
            out.push(p);
        }
    }
}

/// Every definition in the shared conformance corpus. Run by `scripts/conformance.sh` (it
/// needs `../shared`, which a plain clone does not have).
#[test]
#[ignore = "needs ../shared/conformance; run scripts/conformance.sh"]
fn shared_corpus_round_trips() {
    let shared = crate::repo().join("../shared/conformance");
    let mut files = Vec::new();
    files_under(&shared.join("localstack/templates_json"), &[".json"], &mut files);
    files_under(&shared.join("realworld"), &[".asl.json", ".asl.yaml", ".asl.yml"], &mut files);
    assert!(files.len() > 500, "corpus found: {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let format = Format::from_path(f).unwrap_or(Format::Json);
        if let Err(e) = round_trips(&text, format) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    println!("round trip: {}/{} definitions", files.len() - failures.len(), files.len());
    assert!(failures.is_empty(), "{failures:#?}");
}
