//! The AWS side of Stepwise: clients built from the user's standard AWS configuration, and
//! the operations the app and the command line need from real AWS (or an AWS-compatible
//! endpoint such as LocalStack).
pub mod s3_upload;
