//! `stepwise run`: one execution on the local engine, its result as one JSON object.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::asl::{Format, Severity};

use super::{data_dir, run_local};
use crate::engine::{Machine, MachineType};
use crate::runtime::mocks::MockConfig;
use crate::validate::{self, Options};

pub struct RunArgs {
    pub definition: PathBuf,
    pub input: Option<String>,
    pub machine_type: MachineType,
    pub name: Option<String>,
    pub context: Option<String>,
    pub mock_config: Option<PathBuf>,
    pub test_case: Option<String>,
    pub time_scale: f64,
    pub history: bool,
    pub data_dir: Option<PathBuf>,
    /// `RESOURCE=COMMAND`: local handlers for Task resources.
    pub handlers: Vec<String>,
}

pub(super) fn usage(msg: String) -> ExitCode {
    eprintln!("stepwise run: {msg}");
    ExitCode::from(2)
}

/// `JSON` or `@FILE`.
fn json_arg(what: &str, arg: &str) -> Result<Value, String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} file {path}: {e}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("the {what} is not valid JSON ({e}); pass JSON text or @FILE"))
}

pub fn machine_name(path: &Path) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("StateMachine");
    let stem = [".asl.json", ".asl.yaml", ".asl.yml", ".json", ".yaml", ".yml"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file);
    stem.to_owned()
}

pub fn run(args: RunArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.definition) {
        Ok(b) => b,
        Err(e) => return usage(format!("cannot read {}: {e}", args.definition.display())),
    };
    let format = Format::from_path(&args.definition);
    let kind = match args.machine_type {
        MachineType::Standard => validate::MachineType::Standard,
        MachineType::Express => validate::MachineType::Express,
    };
    let (doc, diagnostics) = validate::check_bytes(&bytes, format, &Options { kind });
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
    if !errors.is_empty() {
        let file = args.definition.display().to_string();
        for d in &errors {
            eprintln!("{}", super::text_line(&file, d));
        }
        return usage(format!("{file} is not a valid state machine; fix the problems above (stepwise validate {file})"));
    }
    let input = match &args.input {
        Some(i) => match json_arg("input", i) {
            Ok(v) => v,
            Err(e) => return usage(e),
        },
        None => json!({}),
    };
    let extra_context = match &args.context {
        Some(c) => match json_arg("context", c) {
            Ok(Value::Object(m)) if m.is_empty() => None,
            Ok(v @ Value::Object(_)) => Some(v),
            Ok(_) => return usage("the context must be a JSON object".into()),
            Err(e) => return usage(e),
        },
        None => None,
    };
    if !(args.time_scale >= 0.0 && args.time_scale.is_finite()) {
        return usage("--time-scale must be 0 (virtual time) or more (1 is real time)".into());
    }
    let mock_value = match &args.mock_config {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return usage(format!("cannot read the mock configuration {}: {e}", path.display())),
            };
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return usage(format!("the mock configuration {} is not valid JSON: {e}", path.display())),
            };
            let test_case = args.test_case.as_deref().unwrap_or("");
            if let Err(e) = MockConfig::from_value(&value, &machine_name(&args.definition), test_case) {
                return usage(format!("mock configuration {}: {e}", path.display()));
            }
            Some(value)
        }
        None => None,
    };
    let mut handlers = serde_json::Map::new();
    for h in &args.handlers {
        match h.split_once('=') {
            Some((resource, command)) if !resource.is_empty() && shlex::split(command).is_some_and(|a| !a.is_empty()) => {
                handlers.insert(resource.to_owned(), Value::String(command.to_owned()));
            }
            _ => return usage(format!("--handler takes RESOURCE=COMMAND (a Task's Resource ARN, then the command line to run for it), got '{h}'")),
        }
    }
    let machine = match Machine::compile(&doc.root) {
        Ok(m) => Arc::new(m),
        Err(e) => return usage(format!("{}: {e}", args.definition.display())),
    };
    let local = run_local::Local {
        machine,
        definition: serde_json::to_string(&doc.root).unwrap_or_default(),
        input,
        context: extra_context,
        name: args.name.clone(),
        machine_type: args.machine_type,
        machine_name: machine_name(&args.definition),
        task_config: task_config(mock_value, &args, handlers),
        history: args.history,
    };
    if args.time_scale == 0.0 {
        run_local::virtual_run(local, data_dir::explicit(args.data_dir))
    } else {
        match data_dir::resolve(args.data_dir) {
            Ok(dir) => run_local::service_run(local, args.time_scale, dir),
            Err(e) => usage(e),
        }
    }
}

/// What the task resolver gets with each task of this execution: the mocks and the handlers.
fn task_config(mocks: Option<Value>, args: &RunArgs, handlers: serde_json::Map<String, Value>) -> Option<Value> {
    if mocks.is_none() && handlers.is_empty() {
        return None;
    }
    let mut config = serde_json::Map::new();
    if let Some(m) = mocks {
        config.insert("mockConfig".into(), m);
        config.insert("machineName".into(), json!(machine_name(&args.definition)));
        config.insert("testCase".into(), json!(args.test_case.as_deref().unwrap_or("")));
    }
    if !handlers.is_empty() {
        config.insert("handlers".into(), Value::Object(handlers));
    }
    Some(Value::Object(config))
}
