//! `stepwise ingest`: upload files to the raw bucket and start an execution for each, with
//! the S3 object-created event as its input (what the app's file drop does).
//!
//! `--state-machine` is a name, an ARN, or a workflow file; a file is created (or updated)
//! on the local engine under its stem first, and the buckets its S3 tasks name are created
//! with the raw bucket. With `--wait`, this process runs the executions to their end,
//! together with the user's local workers (Settings → Workers; the built-in video check for
//! the video-ingest sample's review activity by default).
//!
//! On AWS (`--profile`, `--region`, `--endpoint-url`), each file goes to the S3 bucket with a
//! multipart upload and the execution starts on Step Functions with the same event input
//! (its account and region those of the connection). A workflow file as `--state-machine` is
//! deployed first (`--role-arn` needed to create it); `--wait` polls the execution with a
//! growing pause, and workers are whatever answers the activity on AWS (`stepwise worker
//! --region …` for one).
//!
//! Output: one JSON line per file, in the order given: `{"file","bucket","key",
//! "executionArn"}` (with `--wait` also `"status","output","error","cause"`), or
//! `{"file","error"}` for a file that could not be ingested.
//! Exit codes: 0 every file ingested; 1 a file could not be ingested (or the local engine is
//! owned by another process); 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::backend::aws::deploy::{DeployError, DeployRequest};
use crate::backend::aws::{AwsError, AwsSfn, AwsTarget, Connection, StateMachineSettings};
use crate::engine::MachineType;
use crate::runtime::buckets::LocalBuckets;
use crate::runtime::ingest::{self, IngestError, IngestOptions, UploadProgress};
use crate::runtime::service::{self, LocalService, Progress, ServiceError, open_local_engine};
use crate::runtime::workers::{self, WorkerSettings};

/// Uploads at once: enough to overlap hashing and disk writes, few enough not to thrash.
const CONCURRENT_UPLOADS: usize = 3;

pub struct IngestArgs {
    pub connection: super::connection::ConnectionArgs,
    pub data_dir: Option<PathBuf>,
    pub role_arn: Option<String>,
    pub bucket: String,
    pub state_machine: String,
    pub wait: bool,
    pub time_scale: f64,
    pub files: Vec<PathBuf>,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("stepwise ingest: {msg}");
    ExitCode::from(2)
}

enum Failure {
    Usage(String),
    Other(String),
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Failure::Other(e.to_string())
    }
}

pub fn run(args: IngestArgs) -> ExitCode {
    if let Err(e) = crate::runtime::buckets::validate_bucket_name(&args.bucket) {
        return usage(&format!("--bucket: {e}"));
    }
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return usage("--time-scale must be more than 0");
    }
    let config = crate::paths::config_dir();
    let options = match IngestOptions::load(&config) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stepwise ingest: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = match args.connection.connection() {
        Connection::Aws(target) => rt.block_on(ingest_aws(&args, &options, &target)),
        Connection::Local => {
            let dir = match super::data_dir::resolve(args.data_dir.clone()) {
                Ok(d) => d,
                Err(e) => return usage(&e),
            };
            rt.block_on(ingest_all(&args, &options, &config, dir))
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(m)) => usage(&m),
        Err(Failure::Other(m)) => {
            eprintln!("stepwise ingest: {m}");
            ExitCode::from(1)
        }
    }
}

/// The state machine to start, created from a file when a file is named.
async fn state_machine(service: &LocalService, buckets: &LocalBuckets, arg: &str, bucket: &str) -> Result<String, Failure> {
    let path = Path::new(arg);
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes).map_err(|_| Failure::Usage(format!("{} is not UTF-8 text", path.display())))?;
        let name = super::run_local::service_name(&crate::cli::run::machine_name(path));
        let arn = match service.deploy_state_machine(&name, &text, MachineType::Standard).await {
            Ok(arn) => arn,
            Err(e @ ServiceError::InvalidDefinition(_)) => return Err(Failure::Usage(format!("{}: {e}", path.display()))),
            Err(e) => return Err(e.into()),
        };
        let definition = service.describe_state_machine(&arn).await?.definition;
        let root: Value = serde_json::from_str(&definition).unwrap_or(Value::Null);
        ingest::ensure_buckets(buckets, &root, &[bucket]).map_err(|e| Failure::Other(e.to_string()))?;
        return Ok(arn);
    }
    let arn = if arg.starts_with("arn:") { arg.to_owned() } else { service::state_machine_arn(arg) };
    match service.describe_state_machine(&arn).await {
        Ok(_) => {
            buckets.create_bucket(bucket).map_err(|e| Failure::Other(e.to_string()))?;
            Ok(arn)
        }
        Err(ServiceError::StateMachineDoesNotExist(_)) => Err(Failure::Usage(format!(
            "no state machine '{arg}' on the local engine (and no such file); pass the workflow file instead, e.g. --state-machine workflows/video-ingest.asl.json"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn ingest_all(args: &IngestArgs, options: &IngestOptions, config: &Path, dir: PathBuf) -> Result<bool, Failure> {
    let (service, buckets) = open_local_engine(&dir, args.time_scale).await?;
    let outcome = ingest_with(&service, &buckets, args, options, config).await;
    service.shutdown().await?;
    outcome
}

async fn ingest_with(service: &LocalService, buckets: &LocalBuckets, args: &IngestArgs, options: &IngestOptions, config: &Path) -> Result<bool, Failure> {
    let machine_arn = state_machine(service, buckets, &args.state_machine, &args.bucket).await?;
    // Executions an earlier ingest left running go on here too.
    service.resume_executions().await?;
    let _workers = if args.wait {
        let settings = WorkerSettings::load(config).map_err(Failure::Usage)?;
        Some(workers::spawn_for_command(service.clone(), buckets.clone(), &settings.workers, "ingest"))
    } else {
        None
    };

    // Uploads run a few at a time; lines come out in the order the files were given.
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS));
    let mut jobs = Vec::new();
    for path in &args.files {
        let (service, buckets, limit) = (service.clone(), buckets.clone(), Arc::clone(&limit));
        let (path, bucket, arn, options) = (path.clone(), args.bucket.clone(), machine_arn.clone(), options.clone());
        jobs.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let checked = ingest::check_file(&path, &options)?;
            let progress = UploadProgress::new(checked.size);
            ingest::ingest_local(&service, &buckets, &bucket, &arn, checked, progress).await
        }));
    }
    let mut all_ok = true;
    let mut warned = false;
    for (path, job) in args.files.iter().zip(jobs) {
        let result: Result<ingest::Ingested, IngestError> = job.await.unwrap_or_else(|e| Err(IngestError::Upload(e.to_string())));
        let finished = match &result {
            Ok(done) if args.wait => Some(wait_for(service, &done.execution_arn, &mut warned).await?),
            _ => None,
        };
        all_ok &= result.is_ok();
        println!("{}", result_line(path, result, finished));
    }
    Ok(all_ok)
}

/// The JSON line printed for one file: where it went and its execution (with its end when
/// waited for), or why it was not ingested.
fn result_line(path: &Path, result: Result<ingest::Ingested, IngestError>, finished: Option<service::ExecutionDescription>) -> Value {
    let mut line = Map::new();
    line.insert("file".into(), json!(path.display().to_string()));
    match result {
        Ok(done) => {
            line.insert("bucket".into(), json!(done.bucket));
            line.insert("key".into(), json!(done.key));
            line.insert("executionArn".into(), json!(done.execution_arn));
            if let Some(d) = finished {
                line.insert("status".into(), json!(d.status));
                line.insert("output".into(), d.output.unwrap_or(Value::Null));
                line.insert("error".into(), json!(d.error));
                line.insert("cause".into(), json!(d.cause));
            }
        }
        Err(e) => {
            line.insert("error".into(), json!(e.to_string()));
        }
    }
    Value::Object(line)
}

/// Waits for an execution to end; says once on stderr when it waits for a worker that no
/// local profile provides.
async fn wait_for(service: &LocalService, arn: &str, warned: &mut bool) -> Result<service::ExecutionDescription, Failure> {
    loop {
        let d = service.wait_for_execution(arn, true).await?;
        if d.status != "RUNNING" {
            return Ok(d);
        }
        if let Progress::WaitingOnWorkers(states) = service.progress(arn).await?
            && !*warned {
                *warned = true;
                for (state, resource) in states {
                    eprintln!(
                        "stepwise ingest: state '{state}' waits for a worker on {resource}; give its activity a worker profile (the app's Settings → Workers) so that local runs answer it"
                    );
                }
            }
        // Until the next event: a worker may be answering.
        let mut events = service.subscribe();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), events.recv()).await;
        let d = service.describe_execution(arn).await?;
        if d.status != "RUNNING" {
            return Ok(d);
        }
    }
}

impl From<AwsError> for Failure {
    fn from(e: AwsError) -> Self {
        Failure::Other(e.to_string())
    }
}

/// The state machine to start on AWS: a workflow file is deployed first (under its stem),
/// a name is looked up, an ARN taken as given.
async fn aws_state_machine(sfn: &AwsSfn, arg: &str, role_arn: Option<&str>) -> Result<String, Failure> {
    let path = Path::new(arg);
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes).map_err(|_| Failure::Usage(format!("{} is not UTF-8 text", path.display())))?;
        let name = super::run_local::service_name(&crate::cli::run::machine_name(path));
        let settings = StateMachineSettings { name, role_arn: role_arn.map(str::to_owned), ..StateMachineSettings::default() };
        return match crate::backend::aws::deploy(sfn, DeployRequest { settings, definition: text }).await {
            Ok(report) => {
                for r in &report.rewrites {
                    eprintln!("stepwise ingest: {} now names {} (was {})", r.location, r.to, r.from);
                }
                Ok(report.state_machine_arn)
            }
            Err(DeployError::Invalid(diagnostics)) => {
                let file = path.display().to_string();
                let lines: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(|d| super::text_line(&file, d)).collect();
                Err(Failure::Usage(format!("{file} was not deployed:\n{}", lines.join("\n"))))
            }
            Err(DeployError::MissingRole) => Err(Failure::Usage(format!(
                "deploying {} to AWS needs --role-arn arn:aws:iam::ACCOUNT:role/NAME (the role executions run as), or name a deployed state machine",
                path.display()
            ))),
            Err(DeployError::Aws(e)) => Err(e.into()),
        };
    }
    if arg.starts_with("arn:") {
        return Ok(arg.to_owned());
    }
    match sfn.find_state_machine(arg).await? {
        Some(m) => Ok(m.state_machine_arn),
        None => Err(Failure::Usage(format!(
            "no state machine '{arg}' in {} (and no such file); pass the workflow file with --role-arn to deploy it, or the state machine's ARN",
            sfn.clients.place()
        ))),
    }
}

async fn ingest_aws(args: &IngestArgs, options: &IngestOptions, target: &AwsTarget) -> Result<bool, Failure> {
    let sfn = AwsSfn::connect(target).await.map_err(|e| Failure::Usage(e.to_string()))?;
    let machine_arn = aws_state_machine(&sfn, &args.state_machine, args.role_arn.as_deref()).await?;
    let account = sfn.clients.identity().await.map(|i| i.account);
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS));
    let mut jobs = Vec::new();
    for path in &args.files {
        let (sfn, limit, account) = (sfn.clone(), Arc::clone(&limit), account.clone());
        let (path, bucket, arn, options) = (path.clone(), args.bucket.clone(), machine_arn.clone(), options.clone());
        jobs.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let checked = ingest::check_file(&path, &options)?;
            {
                let progress = UploadProgress::new(checked.size);
                crate::backend::aws::ingest::ingest_file(&sfn, account.as_deref(), &bucket, &arn, checked, progress).await
            }
        }));
    }
    let mut all_ok = true;
    for (path, job) in args.files.iter().zip(jobs) {
        let result: Result<ingest::Ingested, IngestError> = job.await.unwrap_or_else(|e| Err(IngestError::Upload(e.to_string())));
        let finished = match &result {
            Ok(done) if args.wait => Some(sfn.wait_for_execution(&done.execution_arn).await?),
            _ => None,
        };
        all_ok &= result.is_ok();
        println!("{}", result_line(path, result, finished));
    }
    Ok(all_ok)
}
