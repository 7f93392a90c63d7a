//! Stepwise: design, validate, run and watch AWS Step Functions state machines.
pub mod asl;
pub mod atomic_file;
pub mod paths;
pub mod validate;
pub mod diagram;
pub mod cloudformation;
pub mod monitor;
pub mod engine;
pub mod runtime;
pub mod store;
pub mod backend;
pub mod serve;
pub mod cli;
pub mod app;
