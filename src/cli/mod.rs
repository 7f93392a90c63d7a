//! The command line: `stepwise validate`, `fmt`, `run`, `deploy`, `ingest`, `worker`, `resume`, `render`, and
//! (later) the GUI when no command is given. This is the contract other tools and scripts rely
//! on: flags, output formats and exit codes are kept stable.
//!
//! Exit codes: 0 success, 1 a file has an ERROR (or is not canonical, for `fmt --check`),
//! 2 bad usage or a file that cannot be read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

mod cloudformation;
mod connection;
mod data_dir;
mod deploy;
mod ingest;
mod render;
mod resume;
mod run;
mod run_local;
mod serve;
mod worker;

pub use connection::ConnectionArgs;
pub use crate::atomic_file::write_atomic;
use crate::asl::{self, Diagnostic, Format};
use crate::validate::{self, MachineType, Options};

#[derive(Parser, Debug)]
#[command(
    name = "stepwise",
    version,
    about = "Design, validate, run and watch AWS Step Functions state machines.",
    long_about = "Design, validate, run and watch AWS Step Functions state machines.\n\nWith no command, opens the designer window: `stepwise` shows a copy of the video-ingest sample, `stepwise FILE` opens FILE.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A workflow file (JSON or YAML) to open in the designer.
    pub file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check state machine definitions (JSON or YAML) the way AWS does.
    Validate {
        /// The kind of state machine; EXPRESS forbids activities, .sync and .waitForTaskToken.
        #[arg(long = "type", value_enum, default_value = "STANDARD", ignore_case = true)]
        machine_type: TypeArg,
        /// Output: one line per problem (text) or a JSON array (json).
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print definitions in canonical form (2-space JSON or block YAML, key order kept).
    Fmt {
        /// Exit 1 when a file is not in canonical form; print nothing else.
        #[arg(long, conflicts_with = "write")]
        check: bool,
        /// Rewrite the files in place (atomically).
        #[arg(long)]
        write: bool,
        /// Write JSON whatever the input format.
        #[arg(long, conflicts_with = "yaml")]
        json: bool,
        /// Write YAML whatever the input format.
        #[arg(long)]
        yaml: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run one execution on the local engine and print {"status","output","error","cause"}.
    Run {
        /// The state machine definition (JSON or YAML).
        definition: PathBuf,
        /// The execution input: JSON text, or @FILE.
        #[arg(long)]
        input: Option<String>,
        #[arg(long = "type", value_enum, default_value = "STANDARD", ignore_case = true)]
        machine_type: TypeArg,
        /// The execution's name (default: a fresh one).
        #[arg(long)]
        name: Option<String>,
        /// A JSON object (or @FILE) merged into the context object.
        #[arg(long)]
        context: Option<String>,
        /// Task results to use instead of calling resources.
        #[arg(long)]
        mock_config: Option<PathBuf>,
        /// The test case of a Step Functions Local mock configuration.
        #[arg(long)]
        test_case: Option<String>,
        /// 0 makes waits, retries and timeouts pass at once; 1 is real time.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Add the execution's history events ("events").
        #[arg(long)]
        history: bool,
        /// Where the local store lives (default: $STEPWISE_DATA_DIR, else the user's data
        /// directory). With --time-scale 0 the store is in memory unless this is given.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A local handler for a Task resource: RESOURCE=COMMAND (repeatable). The command gets
        /// the task's input on stdin and prints its result on stdout; a non-zero exit fails the
        /// task.
        #[arg(long = "handler", value_name = "RESOURCE=COMMAND")]
        handlers: Vec<String>,
    },
    /// Answer the tasks of an activity with a command (task input on its stdin, output from
    /// its stdout) or the built-in video check. On the local engine, this process runs the
    /// engine while it works.
    Worker {
        /// The activity's name or ARN.
        #[arg(long)]
        activity: String,
        /// The command line to run for each task (split like a shell would; no shell runs).
        #[arg(long, conflicts_with = "builtin", required_unless_present = "builtin")]
        command: Option<String>,
        /// A worker built into Stepwise instead of a command.
        #[arg(long, value_enum)]
        builtin: Option<worker::Builtin>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Stop after one task.
        #[arg(long)]
        once: bool,
        /// The worker name recorded in ActivityStarted events.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        connection: ConnectionArgs,
    },
    /// Create or update a state machine from a workflow file (validated here and by AWS
    /// first; the activities it names are created); prints one JSON report.
    Deploy(deploy::DeployArgs),
    /// Upload files to the raw bucket and start an execution for each, with the S3
    /// object-created event as input; one JSON line per file.
    Ingest {
        #[command(flatten)]
        connection: ConnectionArgs,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// On AWS, when --state-machine is a file: the IAM role of the state machine it creates.
        #[arg(long, value_name = "ARN")]
        role_arn: Option<String>,
        /// The raw bucket (created on the local engine when missing).
        #[arg(long)]
        bucket: String,
        /// The state machine's name or ARN, or a workflow file (created or updated under its
        /// stem first).
        #[arg(long, value_name = "NAME|ARN|FILE")]
        state_machine: String,
        /// Run the executions to their end here, with the local workers, and print their
        /// status, output, error and cause.
        #[arg(long)]
        wait: bool,
        /// With --wait: 1 is real time; 10 runs waits and timeouts ten times as fast.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Draw a definition's diagram to an SVG or PNG file (the saved layout beside FILE when
    /// there is one, else the automatic layout).
    Render {
        /// The definition (JSON or YAML).
        file: PathBuf,
        /// The picture to write; its extension (.svg or .png) picks the format.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        #[arg(long, value_enum, default_value = "light")]
        theme: ThemeArg,
        /// PNG pixels per diagram unit (SVG is drawn at 1 and scales freely).
        #[arg(long, default_value_t = 2.0, value_name = "N")]
        scale: f32,
    },
    /// Write a CloudFormation template for a workflow: the state machine, its activities, the
    /// buckets its S3 tasks name, an execution role with the policy its tasks need, and (with
    /// --raw-bucket) the EventBridge rule that starts it for every upload. JSON unless --yaml.
    Cloudformation {
        /// The definition (JSON or YAML).
        file: PathBuf,
        /// The state machine's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "type", value_enum, default_value = "STANDARD", ignore_case = true)]
        machine_type: TypeArg,
        /// The bucket whose uploads start an execution (as video-ingest's raw bucket).
        #[arg(long, value_name = "BUCKET")]
        raw_bucket: Option<String>,
        /// Write YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
        /// Write the template to this file (atomically) instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Serve the local engine over the Step Functions API and the local buckets over the S3
    /// API on 127.0.0.1, for the AWS CLI, the SDKs and activity workers. Runs no workers of
    /// its own unless --workers is given, so external workers get the activity tasks.
    Serve {
        /// The port (0 picks a free one; the line printed on start names it).
        #[arg(long, default_value_t = 8083)]
        port: u16,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// 1 is real time; 10 runs waits and timeouts ten times as fast.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Also run the configured local worker profiles in this process.
        #[arg(long)]
        workers: bool,
    },
    /// Finish the running executions whose process is gone; one JSON line per execution.
    Resume {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// 0 makes waits pass at once; 1 is real time.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TypeArg {
    #[value(name = "STANDARD")]
    Standard,
    #[value(name = "EXPRESS")]
    Express,
}

impl TypeArg {
    pub fn engine(self) -> crate::engine::MachineType {
        match self {
            TypeArg::Standard => crate::engine::MachineType::Standard,
            TypeArg::Express => crate::engine::MachineType::Express,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TypeArg::Standard => "STANDARD",
            TypeArg::Express => "EXPRESS",
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ThemeArg {
    Light,
    Dark,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Runs the command line. `main` only calls this.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        None => crate::app::run(cli.file),
        Some(Command::Validate { machine_type, format, files }) => {
            let kind = match machine_type {
                TypeArg::Standard => MachineType::Standard,
                TypeArg::Express => MachineType::Express,
            };
            validate_files(&files, Options { kind }, format)
        }
        Some(Command::Worker { activity, command, builtin, data_dir, once, name, connection }) => {
            worker::run(worker::WorkerArgs { activity, command, builtin, data_dir, once, name, connection })
        }
        Some(Command::Ingest { connection, data_dir, role_arn, bucket, state_machine, wait, time_scale, files }) => {
            ingest::run(ingest::IngestArgs { connection, data_dir, role_arn, bucket, state_machine, wait, time_scale, files })
        }
        Some(Command::Deploy(args)) => deploy::run(args),
        Some(Command::Render { file, output, theme, scale }) => render::run(render::RenderArgs {
            file,
            output,
            theme: match theme {
                ThemeArg::Light => crate::diagram::render::Theme::light(),
                ThemeArg::Dark => crate::diagram::render::Theme::dark(),
            },
            scale,
        }),
        Some(Command::Cloudformation { file, name, machine_type, raw_bucket, yaml, output }) => {
            cloudformation::run(cloudformation::CloudFormationArgs {
                file,
                name,
                machine_type: machine_type.name().into(),
                raw_bucket,
                yaml,
                output,
            })
        }
        Some(Command::Serve { port, data_dir, time_scale, workers }) => serve::run(serve::ServeArgs { port, data_dir, time_scale, workers }),
        Some(Command::Resume { data_dir, time_scale }) => resume::run(resume::ResumeArgs { data_dir, time_scale }),
        Some(Command::Run { definition, input, machine_type, name, context, mock_config, test_case, time_scale, history, data_dir, handlers }) => {
            run::run(run::RunArgs {
                definition,
                input,
                machine_type: machine_type.engine(),
                name,
                context,
                mock_config,
                test_case,
                time_scale,
                history,
                data_dir,
                handlers,
            })
        }
        Some(Command::Fmt { check, write, json, yaml, files }) => {
            let target = if json {
                Some(Format::Json)
            } else if yaml {
                Some(Format::Yaml)
            } else {
                None
            };
            fmt_files(&files, check, write, target)
        }
    }
}

/// Reads a file, or says why not (the caller exits 2).
fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("stepwise: cannot read {}: {e}", path.display()))
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    diagnostics: &'a [Diagnostic],
}

fn validate_files(files: &[PathBuf], options: Options, format: OutputFormat) -> ExitCode {
    let mut worst = 0u8;
    let mut reports: Vec<(String, Vec<Diagnostic>)> = Vec::new();
    for path in files {
        let bytes = match read(path) {
            Ok(b) => b,
            Err(msg) => {
                eprintln!("{msg}");
                worst = 2;
                continue;
            }
        };
        let (_, diags) = validate::check_bytes(&bytes, Format::from_path(path), &options);
        if diags.iter().any(Diagnostic::is_error) {
            worst = worst.max(1);
        }
        reports.push((path.display().to_string(), diags));
    }
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Text => {
            for (file, diags) in &reports {
                for d in diags {
                    let _ = writeln!(out, "{}", text_line(file, d));
                }
            }
        }
        OutputFormat::Json => {
            let list: Vec<FileReport> = reports.iter().map(|(f, d)| FileReport { file: f.clone(), diagnostics: d }).collect();
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into()));
        }
    }
    ExitCode::from(worst)
}

/// `file:line:column: SEVERITY CODE: message [at /pointer]`
pub fn text_line(file: &str, d: &Diagnostic) -> String {
    let at = match (d.line, d.column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        _ => file.to_string(),
    };
    let loc = if d.location.is_empty() { String::new() } else { format!(" [at {}]", d.location) };
    format!("{at}: {} {}: {}{loc}", d.severity.as_str(), d.code, d.message)
}

fn fmt_files(files: &[PathBuf], check: bool, write: bool, target: Option<Format>) -> ExitCode {
    let mut worst = 0u8;
    for path in files {
        let bytes = match read(path) {
            Ok(b) => b,
            Err(msg) => {
                eprintln!("{msg}");
                worst = 2;
                continue;
            }
        };
        let (mut doc, diags) = asl::parse_bytes(&bytes, Format::from_path(path));
        let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
        if !errors.is_empty() {
            // Formatting a file the reader could not take whole (a duplicate key, say) would
            // drop part of it: refuse, and say what to fix.
            for d in errors {
                eprintln!("{}", text_line(&path.display().to_string(), d));
            }
            eprintln!("stepwise: {} was not formatted; fix the problems above first.", path.display());
            worst = worst.max(1);
            continue;
        }
        if let Some(t) = target {
            doc.format = t;
        }
        let canonical = doc.to_text();
        if check {
            if canonical.as_bytes() != bytes.as_slice() {
                println!("{} is not in canonical form", path.display());
                worst = worst.max(1);
            }
        } else if write {
            if canonical.as_bytes() != bytes.as_slice()
                && let Err(e) = write_atomic(path, canonical.as_bytes()) {
                    eprintln!("stepwise: cannot write {}: {e}", path.display());
                    worst = 2;
                }
        } else {
            print!("{canonical}");
        }
    }
    ExitCode::from(worst)
}

