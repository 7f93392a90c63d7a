//! The engine: a sans-IO interpreter of ASL.
//!
//! It reads no clock, does no IO and spawns nothing: time and task results come in, history
//! events and commands (run this task, wake me at that time) come out. The runtime layer
//! drives it with real time and real resources; tests drive it with a virtual clock.
pub mod env;
pub mod failure;

pub use env::{Env, Random, Vars};
pub use failure::{Failure, names};
