//! backend: the only place that names aws_sdk_* (and aws_config); the layers below stay
//! testable without AWS, and `tests/layers.rs` checks that nothing else names the SDK.
pub mod aws;
