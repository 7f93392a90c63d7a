//! The runtime: what drives the sans-IO engine with time and task resources.
pub mod buckets;
pub mod item_reader;
pub mod mocks;
pub mod s3_tasks;
pub mod virtual_clock;
