//! The runtime: what drives the sans-IO engine with time and task resources.
pub mod mocks_harness;
pub mod virtual_clock;
