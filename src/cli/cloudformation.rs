//! `stepwise cloudformation`: a workflow as a CloudFormation template (state machine,
//! activities, buckets, execution role, and the rule that starts it on uploads to the raw
//! bucket), for people who deploy with CloudFormation rather than with Stepwise.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::asl::Format;
use crate::cloudformation::{ExportOptions, export};
use crate::validate::{self, Options};

pub struct CloudFormationArgs {
    pub file: PathBuf,
    pub name: Option<String>,
    pub machine_type: String,
    pub raw_bucket: Option<String>,
    pub yaml: bool,
    pub output: Option<PathBuf>,
}

fn fail(code: u8, msg: String) -> ExitCode {
    eprintln!("stepwise cloudformation: {msg}");
    ExitCode::from(code)
}

pub fn run(args: CloudFormationArgs) -> ExitCode {
    let file = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(2, format!("cannot read {file}: {e}")),
    };
    let (doc, diagnostics) = validate::check_bytes(&bytes, Format::from_path(&args.file), &Options::default());
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        // A template of a machine AWS would refuse only fails later, inside a stack update.
        for d in &errors {
            eprintln!("{}", super::text_line(&file, d));
        }
        return fail(1, format!("{file} was not exported: it has {} error(s); fix them first (`stepwise validate {file}`)", errors.len()));
    }
    let name = match args.name {
        Some(n) => n,
        None => super::run::machine_name(&args.file),
    };
    let template = export(&doc.root, &ExportOptions { name, machine_type: args.machine_type, raw_bucket: args.raw_bucket });
    for note in &template.notes {
        eprintln!("stepwise cloudformation: note: {note}");
    }
    let text = if args.yaml { template.to_yaml() } else { template.to_json() };
    match args.output {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(out) => match super::write_atomic(&out, text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(2, format!("cannot write {}: {e}", out.display())),
        },
    }
}
