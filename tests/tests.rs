//! One integration-test binary (it links once, which matters on two cores).
mod aws_e2e;
mod aws_sfn;
mod aws_ui;
mod cli;
mod cloudformation;
mod deploy_ui;
mod designer;
mod edits;
mod fault_proxy;
mod engine;
mod ingest;
mod layers;
mod monitor_ui;
mod monitor;
mod render;
mod robustness;
mod roundtrip;
mod runtime;
mod s3_upload;
mod serve;
mod validator;
mod video_check;
mod workflow_runs;
mod workflows;

use std::path::{Path, PathBuf};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("workflows"))
        .expect("workflows/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .collect();
    files.sort();
    files
}
