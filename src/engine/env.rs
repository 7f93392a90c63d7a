//! What an expression can see while one state runs: its input, the context object, the
//! variables in scope, and a deterministic source of randomness.

use std::cell::Cell;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Variables set by `Assign`, innermost scope last.
///
/// A Parallel branch or Map iteration opens a scope: it reads the variables of the scopes
/// around it, and what it assigns stays inside it (AWS's rule). Frames are shared (`Arc`)
/// so that opening a thousand Map iterations does not copy the outer variables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    frames: Vec<Arc<Map<String, Value>>>,
}

impl Vars {
    /// No variables. Allocates nothing until the first `set`: most executions never
    /// assign, and thousands of them may be parked at once.
    pub fn new() -> Vars {
        Vars { frames: Vec::new() }
    }

    /// The value of `$name`, looking outwards from the innermost scope.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.frames.iter().rev().find_map(|f| f.get(name))
    }

    /// Sets `name` in the innermost scope.
    pub fn set(&mut self, name: String, value: Value) {
        if self.frames.is_empty() {
            self.frames.push(Arc::new(Map::new()));
        }
        if let Some(last) = self.frames.last_mut() {
            Arc::make_mut(last).insert(name, value);
        }
    }

    /// A new scope for a Parallel branch or Map iteration.
    pub fn child(&self) -> Vars {
        let mut frames = self.frames.clone();
        frames.push(Arc::new(Map::new()));
        Vars { frames }
    }

    /// Every visible variable, inner scopes hiding outer ones.
    pub fn visible(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for f in &self.frames {
            for (k, v) in f.iter() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

/// A small deterministic generator (SplitMix64). The interpreter is replayed after a
/// restart, so `States.UUID` and `States.MathRandom` must give the same values the second
/// time: the seed is part of the execution, not read from the OS.
#[derive(Debug, Clone)]
pub struct Random {
    state: Cell<u64>,
}

impl Random {
    pub fn new(seed: u64) -> Random {
        Random {
            state: Cell::new(seed),
        }
    }

    pub fn next_u64(&self) -> u64 {
        let s = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The generator's position, to store with the execution.
    pub fn state(&self) -> u64 {
        self.state.get()
    }
}

/// Everything an expression of one state may read.
pub struct Env<'a> {
    /// `$` in JSONPath mode: the state's input or effective input, depending on the step.
    pub input: &'a Value,
    /// `$$` (JSONPath) or `$states.context` (JSONata).
    pub context: &'a Value,
    pub vars: &'a Vars,
    pub random: &'a Random,
}
