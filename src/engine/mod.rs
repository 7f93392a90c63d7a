//! The engine: a sans-IO interpreter of ASL.
//!
//! It reads no clock, does no IO and spawns nothing: time and task results come in, history
//! events and commands (run this task, wake me at that time) come out. The runtime layer
//! drives it with real time and real resources; tests drive it with a virtual clock.
pub mod choice;
pub mod env;
pub mod exec;
pub mod failure;
pub mod history;
pub mod intrinsics;
pub mod io_jsonpath;
pub mod jsonata_eval;
pub mod machine;

pub use env::{Env, Random, Vars};
pub use exec::{Command, Execution, ExecutionInfo, Input, MachineType, Outcome, Status, TaskId, TaskKind, TaskRequest, TimerId};
pub use failure::{Failure, names};
pub use history::{Event, Millis};
pub use machine::Machine;
