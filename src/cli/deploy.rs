//! `stepwise deploy`: create or update a state machine from a workflow file, on AWS (or an
//! AWS-compatible endpoint) or the local engine.
//!
//! Output: one JSON object, `{"stateMachineArn","created","activities","rewrites","diff",
//! "versionArn"?}` (see `backend::aws::DeployReport`). Problems found by either validation go
//! to stderr, one line each, as `stepwise validate` prints them.
//! Exit codes: 0 deployed; 1 refused (invalid definition, AWS said no, unreachable); 2 bad
//! usage or an unreadable file.

use std::path::PathBuf;
use std::process::ExitCode;

use super::connection::ConnectionArgs;
use crate::backend::aws::deploy::{self, DeployError, DeployReport, DeployRequest};
use crate::backend::aws::sfn::{Logging, StateMachineSettings};
use crate::backend::aws::{AwsError, AwsSfn, Connection};
use crate::runtime::service::{ServiceError, open_local_engine};

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The local engine's data directory (with --local).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The state machine's name.
    #[arg(long)]
    pub name: String,
    /// The IAM role executions run as (required by AWS to create a state machine).
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    #[arg(long = "type", value_enum, default_value = "STANDARD", ignore_case = true)]
    pub machine_type: super::TypeArg,
    /// Publish a version of the state machine with this deploy.
    #[arg(long)]
    pub publish: bool,
    /// The published version's description.
    #[arg(long, requires = "publish", value_name = "TEXT")]
    pub version_description: Option<String>,
    /// A tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "K=V")]
    pub tags: Vec<String>,
    /// Execution logging: OFF, ALL, ERROR or FATAL (needs --log-group-arn unless OFF).
    #[arg(long, value_name = "LEVEL")]
    pub logging_level: Option<String>,
    /// The CloudWatch Logs group for execution logs.
    #[arg(long, value_name = "ARN")]
    pub log_group_arn: Option<String>,
    /// Log the executions' input and output too.
    #[arg(long, requires = "logging_level")]
    pub include_execution_data: bool,
    /// Turn on X-Ray tracing.
    #[arg(long)]
    pub tracing: bool,
    /// The workflow file (JSON or YAML).
    pub file: PathBuf,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("stepwise deploy: {msg}");
    ExitCode::from(2)
}

/// `K=V` pairs.
fn tags(list: &[String]) -> Result<Vec<(String, String)>, String> {
    list.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("--tag {t}: give KEY=VALUE, such as --tag team=video")),
        })
        .collect()
}

fn logging(args: &DeployArgs) -> Result<Option<Logging>, String> {
    let Some(level) = &args.logging_level else {
        return match args.log_group_arn {
            Some(_) => Err("--log-group-arn needs --logging-level ALL, ERROR or FATAL".into()),
            None => Ok(None),
        };
    };
    let level = level.to_ascii_uppercase();
    if !["OFF", "ALL", "ERROR", "FATAL"].contains(&level.as_str()) {
        return Err(format!("--logging-level {level}: use OFF, ALL, ERROR or FATAL"));
    }
    if level != "OFF" && args.log_group_arn.is_none() {
        return Err(format!("--logging-level {level} needs --log-group-arn arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*"));
    }
    Ok(Some(Logging { level, log_group_arn: args.log_group_arn.clone(), include_execution_data: args.include_execution_data }))
}

pub fn run(args: DeployArgs) -> ExitCode {
    let definition = match std::fs::read(&args.file) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return usage(&format!("{} is not UTF-8 text", args.file.display())),
        },
        Err(e) => return usage(&format!("cannot read {}: {e}", args.file.display())),
    };
    if let Err(e) = crate::runtime::service::check_name(&args.name) {
        return usage(&format!("--name: {e}"));
    }
    let tags = match tags(&args.tags) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let logging = match logging(&args) {
        Ok(l) => l,
        Err(e) => return usage(&e),
    };
    let connection = args.connection.connection();
    if connection == Connection::Local && (args.publish || !tags.is_empty() || logging.is_some() || args.tracing) {
        return usage("--publish, --tag, --logging-level and --tracing apply to AWS only; add --region (or --profile, --endpoint-url) to deploy to AWS");
    }
    let settings = StateMachineSettings {
        name: args.name.clone(),
        machine_type: args.machine_type.engine(),
        role_arn: args.role_arn.clone(),
        logging,
        tracing: args.tracing,
        tags,
        publish: args.publish,
        version_description: args.version_description.clone(),
    };
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stepwise deploy: {e}");
            return ExitCode::from(1);
        }
    };
    let request = DeployRequest { settings, definition };
    let result = match connection {
        Connection::Aws(target) => rt.block_on(async {
            let sfn = AwsSfn::connect(&target).await?;
            deploy::deploy(&sfn, request).await
        }),
        Connection::Local => {
            let dir = match super::data_dir::resolve(args.data_dir.clone()) {
                Ok(d) => d,
                Err(e) => return usage(&e),
            };
            rt.block_on(deploy_local(dir, request))
        }
    };
    let file = args.file.display().to_string();
    match result {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("{}", super::text_line(&file, w));
            }
            println!("{}", serde_json::to_string(&report).unwrap_or_else(|_| "{}".into()));
            ExitCode::SUCCESS
        }
        Err(DeployError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{}", super::text_line(&file, d));
            }
            eprintln!("stepwise deploy: {file} has errors; nothing was deployed");
            ExitCode::from(1)
        }
        Err(DeployError::Aws(AwsError::NoRegion)) => usage(&AwsError::NoRegion.to_string()),
        Err(e) => {
            eprintln!("stepwise deploy: {e}");
            ExitCode::from(1)
        }
    }
}

/// The local engine opened for this one deploy; the steps are the window's
/// (`backend::deploy_ops::deploy_local`).
async fn deploy_local(dir: PathBuf, request: DeployRequest) -> Result<DeployReport, DeployError> {
    let (service, _buckets) = open_local_engine(&dir, 1.0).await.map_err(|e| match e {
        ServiceError::InvalidDefinition(d) => DeployError::Invalid(d),
        other => DeployError::Aws(AwsError::Other { action: "deploy on the local engine".into(), detail: other.to_string() }),
    })?;
    let outcome = crate::backend::deploy_ops::deploy_local(&service, request).await;
    let _ = service.shutdown().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_need_a_key_and_an_equals_sign() {
        assert_eq!(tags(&["team=video".into(), "empty=".into()]).unwrap(), [("team".into(), "video".into()), ("empty".into(), String::new())]);
        assert!(tags(&["novalue".into()]).is_err());
        assert!(tags(&["=x".into()]).is_err());
    }
}
