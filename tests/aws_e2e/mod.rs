//! Tests against an AWS-compatible endpoint (`STEPWISE_TEST_AWS_ENDPOINT`, LocalStack); each
//! says "skipped" and passes without one. `cargo test --test tests aws_e2e::` runs them all.
mod deploy;
