//! `stepwise run`: one execution on the local engine, its result as one JSON object.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::asl::{Format, Severity};

use crate::engine::{Execution, ExecutionInfo, Machine, MachineType, TaskRequest};
use crate::runtime::buckets::LocalBuckets;
use crate::runtime::mocks::{MockConfig, MockResponse};
use crate::runtime::s3_tasks;
use crate::runtime::virtual_clock::{self, Stuck, TaskAnswer};
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
}

/// Where the local engine keeps its data: `--data-dir`, else `STEPWISE_DATA_DIR`, else the
/// platform's data directory for Stepwise.
pub fn data_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(d) = arg {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os("STEPWISE_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("dev", "stepwise", "Stepwise")
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".stepwise"))
}

fn usage(msg: String) -> ExitCode {
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

/// A name unique enough for a local execution, from the OS's hash seed and the clock.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
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
    let mut mocks = match &args.mock_config {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return usage(format!("cannot read the mock configuration {}: {e}", path.display())),
            };
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return usage(format!("the mock configuration {} is not valid JSON: {e}", path.display())),
            };
            let sm = machine_name(&args.definition);
            match MockConfig::from_value(&value, &sm, args.test_case.as_deref().unwrap_or("")) {
                Ok(m) => Some(m),
                Err(e) => return usage(format!("mock configuration {}: {e}", path.display())),
            }
        }
        None => None,
    };
    let machine = match Machine::compile(&doc.root) {
        Ok(m) => Arc::new(m),
        Err(e) => return usage(format!("{}: {e}", args.definition.display())),
    };
    let seed = fresh_seed();
    let sm_name = machine_name(&args.definition);
    let name = args.name.clone().unwrap_or_else(|| format!("{:016x}", seed));
    let sm_arn = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{sm_name}");
    let start_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let info = ExecutionInfo {
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:{sm_name}:{name}"),
        name,
        state_machine_arn: sm_arn,
        state_machine_name: sm_name,
        role_arn: "arn:aws:iam::123456789012:role/stepwise-local".into(),
        start_time,
        machine_type: args.machine_type,
        seed,
        extra_context,
    };
    let mut exec = Execution::new(machine, info);
    let mut events = Vec::new();
    exec.start(input);
    let buckets = LocalBuckets::new(data_dir(args.data_dir.as_deref()).join("buckets"));
    let mut resolve = |req: &TaskRequest| -> TaskAnswer {
        if let Some(m) = mocks.as_mut() {
            if let Some(r) = m.next_response(&req.state_name) {
                return match r {
                    MockResponse::Return(v) => TaskAnswer::Succeeded(v),
                    MockResponse::Throw(f) => TaskAnswer::Failed(f),
                    MockResponse::Timeout { error } => TaskAnswer::TimedOut(crate::engine::Failure::new(error, "")),
                };
            }
        }
        if req.kind == crate::engine::TaskKind::ItemReader {
            return match crate::runtime::item_reader::read_items(&buckets, &req.resource, &req.payload) {
                Ok(v) => TaskAnswer::Succeeded(v),
                Err(f) => TaskAnswer::Failed(f),
            };
        }
        if let Some(action) = req.resource.strip_prefix("arn:aws:states:::aws-sdk:s3:") {
            if s3_tasks::supports(action) {
                return match s3_tasks::run_s3_task(&buckets, action, &req.payload) {
                    Ok(v) => TaskAnswer::Succeeded(v),
                    Err(f) => TaskAnswer::Failed(f),
                };
            }
        }
        TaskAnswer::Failed(crate::engine::Failure::new(
            "States.TaskFailed",
            format!(
                "Stepwise has no local implementation, mock or handler for the resource '{}' of state '{}'; give one with --mock-config",
                req.resource, req.state_name
            ),
        ))
    };
    let _ = args.time_scale;
    let stuck = virtual_clock::run_to_end(&mut exec, &mut resolve);
    if args.history {
        events.extend(exec.take_events());
    }
    let mut out = Map::new();
    match (exec.outcome(), stuck) {
        (Some(o), _) => {
            out.insert("status".into(), json!(o.status.name()));
            out.insert("output".into(), o.output.clone().unwrap_or(Value::Null));
            out.insert("error".into(), o.error.clone().map_or(Value::Null, Value::String));
            out.insert("cause".into(), o.cause.clone().map_or(Value::Null, Value::String));
        }
        (None, Err(Stuck::UnansweredTasks(states))) => {
            out.insert("status".into(), json!("RUNNING"));
            out.insert("output".into(), Value::Null);
            out.insert("error".into(), Value::Null);
            out.insert("cause".into(), json!(format!("no worker answered the tasks of: {}", states.join(", "))));
        }
        (None, Ok(())) => {
            out.insert("status".into(), json!("RUNNING"));
        }
    }
    if args.history {
        out.insert("events".into(), Value::Array(events.iter().map(|e| e.to_aws_json()).collect()));
    }
    println!("{}", Value::Object(out));
    ExitCode::SUCCESS
}
