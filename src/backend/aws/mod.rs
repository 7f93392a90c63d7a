//! The AWS side of Stepwise: clients built from the user's standard AWS configuration, and
//! the operations the app and the command line need from real AWS (or an AWS-compatible
//! endpoint such as LocalStack or `stepwise serve`).
//!
//! - [`connection`]: `Connection` (local or AWS), `AwsTarget` (profile, region, endpoint; no
//!   credentials), `AwsClients` (the one place SDK clients are built).
//! - [`backend`]: `AwsBackend`, the Run views' backend on AWS (the same commands and updates
//!   as the local engine's).
//! - [`sfn`]: `AwsSfn`, Step Functions in Stepwise's types; `HistoryCursor`.
//! - [`history`]: SDK history events back into `GetExecutionHistory`'s JSON.
//! - [`deploy`]: validate, create activities, create or update, diff.
//! - [`worker`]: answering activity tasks from AWS with the local worker kinds.
//! - [`roles`]: the IAM roles Step Functions may assume, for the deploy dialog.
//! - [`error`]: `AwsError`, every failure sorted by what to do about it.
//! - [`s3_upload`]: fast multipart uploads; [`ingest`]: a file to the raw bucket, then its execution.
pub mod backend;
pub mod connection;
pub mod deploy;
pub mod error;
pub mod history;
pub mod ingest;
pub mod roles;
pub mod s3_upload;
pub mod sfn;
pub mod worker;

pub use backend::AwsBackend;
pub use connection::{AwsClients, AwsTarget, Connection, ConnectionSettings, Identity};
pub use deploy::{DeployError, DeployReport, DeployRequest, deploy};
pub use error::AwsError;
pub use sfn::{AwsActivityTask, AwsSfn, HistoryCursor, StateMachineSettings};
