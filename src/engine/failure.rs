//! ASL runtime errors as values.
//!
//! A state that fails produces a [`Failure`]: the error name a `Retry` or `Catch` matches on
//! and the cause a user reads. They are data, not Rust errors: the interpreter routes them
//! through Retry/Catch and, when nothing catches them, into `ExecutionFailed`.

use serde::{Deserialize, Serialize};

/// The error names Step Functions itself raises (`States.*`).
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const REFERENCE_PATH_CONFLICT: &str = "States.ReferencePathConflict";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
}

/// A failed state: the error name and the cause, as AWS reports them in history events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// `States.Runtime`: a definition that cannot be applied to this data.
    pub fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new(names::RUNTIME, cause)
    }

    /// `States.IntrinsicFailure`: an intrinsic function refused its arguments.
    pub fn intrinsic(cause: impl Into<String>) -> Failure {
        Failure::new(names::INTRINSIC_FAILURE, cause)
    }

    /// `States.QueryEvaluationError`: a JSONata expression failed.
    pub fn query(cause: impl Into<String>) -> Failure {
        Failure::new(names::QUERY_EVALUATION_ERROR, cause)
    }
}
