//! How `stepwise run` drives its execution once the arguments are read.
//!
//! - `--time-scale 0`: synchronously, on a virtual clock (`runtime::virtual_store`), every
//!   step written to an in-memory store — or to the data directory when one is named
//!   (`--data-dir` or `STEPWISE_DATA_DIR`). No threads, no async runtime: it is the path the
//!   conformance runs take a thousand times.
//! - `--time-scale` > 0: through a `LocalService` on the data directory, in (scaled) real
//!   time. This process owns the data directory and the execution; the user's local worker
//!   profiles answer its activities here; if it is killed, `stepwise resume` (or the next
//!   process that opens the directory) finishes it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::engine::{ExecutionInfo, Failure, Machine, MachineType, TaskKind};
use crate::runtime::driver::Driver;
use crate::runtime::resolver::{MockResolver, TaskAnswer, TaskCall, TaskResolver};
use crate::runtime::service::{self, Progress, ServiceError, StartExecution};
use crate::runtime::virtual_clock::Stuck;
use crate::runtime::virtual_store;
use crate::store::{Owner, StateMachineRow, Store, now_wall_ms};

/// One execution to run, its arguments already checked.
pub struct Local {
    pub machine: Arc<Machine>,
    /// The definition as JSON text.
    pub definition: String,
    pub input: Value,
    pub context: Option<Value>,
    pub name: Option<String>,
    pub machine_type: MachineType,
    pub machine_name: String,
    pub task_config: Option<Value>,
    pub history: bool,
}

fn result_object(status: &str, output: Option<Value>, error: Option<String>, cause: Option<String>, events: Option<Vec<Value>>) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(status));
    out.insert("output".into(), output.unwrap_or(Value::Null));
    out.insert("error".into(), error.map_or(Value::Null, Value::String));
    out.insert("cause".into(), cause.map_or(Value::Null, Value::String));
    if let Some(events) = events {
        out.insert("events".into(), Value::Array(events));
    }
    Value::Object(out)
}

fn type_name(t: MachineType) -> &'static str {
    match t {
        MachineType::Standard => "STANDARD",
        MachineType::Express => "EXPRESS",
    }
}

fn failed(msg: String) -> ExitCode {
    eprintln!("stepwise run: {msg}");
    ExitCode::from(1)
}

/// `--time-scale 0`.
pub fn virtual_run(local: Local, data_dir: Option<PathBuf>) -> ExitCode {
    let data_dir_for_buckets = data_dir.clone();
    // A named data directory is this process's while the run lasts.
    let _lock = match data_dir.as_deref().map(crate::runtime::owner_lock::acquire).transpose() {
        Ok(lock) => lock,
        Err(e) => return failed(e),
    };
    let opened = match &data_dir {
        Some(dir) => Store::open(dir),
        None => Store::open_in_memory(),
    };
    let mut store = match opened {
        Ok(s) => s,
        Err(e) => return super::run::usage(e.to_string()),
    };
    let seed = service::fresh_seed();
    let name = local.name.clone().unwrap_or_else(|| format!("{seed:016x}"));
    let sm_arn = service::state_machine_arn(&local.machine_name);
    let start_time = now_wall_ms();
    let info = ExecutionInfo {
        execution_arn: format!("arn:aws:states:{}:{}:execution:{}:{name}", service::REGION, service::ACCOUNT, local.machine_name),
        name,
        state_machine_arn: sm_arn.clone(),
        state_machine_name: local.machine_name.clone(),
        role_arn: service::ROLE_ARN.into(),
        start_time,
        machine_type: local.machine_type,
        seed,
        extra_context: local.context.clone(),
    };
    if data_dir.is_some() {
        let row = StateMachineRow {
            arn: sm_arn,
            name: local.machine_name.clone(),
            definition: local.definition.clone(),
            machine_type: type_name(local.machine_type).into(),
            role_arn: service::ROLE_ARN.into(),
            created_ms: start_time,
            updated_ms: None,
        };
        if let Err(e) = store.upsert_state_machine(&row) {
            return failed(e.to_string());
        }
    }
    let owner = Owner::this_process();
    let (mut driver, first) =
        match Driver::start(&mut store, &owner, local.machine, info, &local.definition, local.input, local.task_config) {
            Ok(x) => x,
            Err(e) => return failed(e.to_string()),
        };
    // Mocks first; otherwise every task fails, whatever its kind: no worker can reach an
    // in-memory run.
    // S3 tasks use the user's local buckets even when the store is in memory.
    let mocks = match super::data_dir::resolve(data_dir_for_buckets) {
        Ok(dir) => MockResolver::new().with_buckets(crate::runtime::buckets::LocalBuckets::new(dir.join("buckets"))),
        Err(_) => MockResolver::new(),
    };
    let mut resolve = |call: &TaskCall<'_>| -> TaskAnswer {
        match mocks.resolve(call) {
            TaskAnswer::Unanswered if call.request.kind != TaskKind::Request => TaskAnswer::Failed(Failure::new(
                "States.TaskFailed",
                format!(
                    "Stepwise has no local implementation, mock or handler for the resource '{}' of state '{}'; give one with --mock-config",
                    call.request.resource, call.request.state_name
                ),
            )),
            answer => answer,
        }
    };
    let mut events = Vec::new();
    let history = local.history;
    let mut keep = |batch: Vec<crate::engine::Event>| {
        if history {
            events.extend(batch.iter().map(|e| e.to_aws_json()));
        }
    };
    let ran = virtual_store::run_to_end(&mut store, &owner, &mut driver, first, &mut resolve, &mut keep);
    let events = history.then_some(events);
    let out = match (ran, driver.outcome()) {
        (Err(e), _) => return failed(e.to_string()),
        (Ok(_), Some(o)) => result_object(o.status.name(), o.output.clone(), o.error.clone(), o.cause.clone(), events),
        (Ok(Err(Stuck::UnansweredTasks(states))), None) => {
            result_object("RUNNING", None, None, Some(format!("no worker answered the tasks of: {}", states.join(", "))), events)
        }
        (Ok(Ok(())), None) => result_object("RUNNING", None, None, None, events),
    };
    if let (Some(_), None) = (&data_dir, driver.outcome())
        && let Err(e) = store.release_execution(driver.arn(), &owner) {
            eprintln!("stepwise run: {e}");
        }
    println!("{out}");
    ExitCode::SUCCESS
}

/// A state machine name AWS accepts, from a file name.
pub(crate) fn service_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c) { '-' } else { c })
        .take(80)
        .collect();
    if cleaned.is_empty() { "StateMachine".into() } else { cleaned }
}

/// `--time-scale` > 0.
pub fn service_run(local: Local, time_scale: f64, data_dir: PathBuf) -> ExitCode {
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => return failed(e),
    };
    match rt.block_on(drive(local, time_scale, data_dir)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e @ (ServiceError::InvalidName(_) | ServiceError::ExecutionAlreadyExists(_))) => super::run::usage(e.to_string()),
        Err(e) => failed(e.to_string()),
    }
}

async fn drive(local: Local, time_scale: f64, data_dir: PathBuf) -> Result<Value, ServiceError> {
    let (service, buckets) = crate::runtime::service::open_local_engine(&data_dir, time_scale).await?;
    // The user's local workers answer activities in this process (the data directory is
    // this process's while it runs, so no other process could).
    let profiles = crate::runtime::workers::WorkerSettings::load(&crate::paths::config_dir()).map_err(ServiceError::InvalidName)?;
    let _workers = crate::runtime::workers::spawn_for_command(service.clone(), buckets, &profiles.workers, "run");
    let name = service_name(&local.machine_name);
    let sm_arn = service.deploy_state_machine(&name, &local.definition, local.machine_type).await?;
    let started = service
        .start_execution(StartExecution {
            state_machine_arn: sm_arn,
            name: local.name,
            input: local.input,
            context: local.context,
            task_config: local.task_config,
        })
        .await?;
    let arn = started.execution_arn;
    let mut d = service.wait_for_execution(&arn, true).await?;
    if d.status == "RUNNING" {
        // It waited on workers a moment ago; a worker may already have moved it on, so say
        // who is awaited if that is still so, and wait for the end either way.
        if let Progress::WaitingOnWorkers(states) = service.progress(&arn).await? {
            for (state, resource) in states {
                eprintln!(
                    "stepwise run: state '{state}' waits for a worker or callback on {resource}: give its activity a worker profile (Settings → Workers), or stop this run and answer it with `stepwise worker --activity …`"
                );
            }
        }
        d = service.wait_for_execution(&arn, false).await?;
    }
    let events = if local.history { Some(service.full_history(&arn).await?) } else { None };
    service.shutdown().await?;
    Ok(result_object(&d.status, d.output, d.error, d.cause, events))
}
