//! The runtime: what drives the sans-IO engine with time, task resources and the store.
//!
//! - `driver`: one execution bound to the store (each step written in one transaction;
//!   resume by replaying the journal). Synchronous; `stepwise run --time-scale 0` uses it
//!   directly through `virtual_store`.
//! - `service`: `LocalService`, the Step Functions API over tokio; `engine_loop` is its
//!   engine thread, the one writer of the executions this process drives.
//! - `tasks`: the worker's side of task tokens (take, answer, heartbeat; the Pending tasks list).
//! - `resolver`: the `TaskResolver` seam for request tasks (mocks now, handlers later).
//! - `liveness`: whether the recorded owner of an execution is alive.
//! - `owner_lock`: one process owns a data directory at a time.
//! - `buckets`, `s3_tasks`, `item_reader`: local S3 buckets and the S3 task integrations.
//! - `ingest`: a file becomes an object in the raw bucket and an execution started with the
//!   S3 object-created event.
//! - `workers`: worker profiles (a command, or the built-in `video_check`) answering activity
//!   tasks inside the process that runs the engine.
//! - `mocks`: mock configurations and local handlers.
//! - `virtual_clock`: the store-less synchronous driver (tests, benchmarks).
//! - `video_check`: the built-in video review worker (container facts judged by rules).
pub mod buckets;
pub mod driver;
pub mod engine_loop;
pub mod ingest;
pub mod item_reader;
pub mod liveness;
pub mod mocks;
pub mod owner_lock;
pub mod resolver;
pub mod s3_tasks;
pub mod service;
pub mod tasks;
pub mod video_check;
pub mod workers;
pub mod virtual_clock;
pub mod virtual_store;
