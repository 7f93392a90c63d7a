//! Whether the recorded owner of a running execution still drives it.
//!
//! An owner is a process id plus a lease that its service refreshes every
//! [`LEASE_REFRESH`]. It is dead when its process is gone (or a zombie), or when its lease is
//! older than [`LEASE_EXPIRY_MS`] (a hung process, a reused pid, a platform where we cannot
//! ask). A process that takes an execution over fences the old owner: the old owner's next
//! step fails its ownership check and it stops driving.

use std::time::Duration;

use crate::store::{OwnerRecord, now_wall_ms};

/// How often a service says its executions' owner is alive.
pub const LEASE_REFRESH: Duration = Duration::from_secs(2);

/// How old a lease may be before its owner counts as dead even if its pid exists.
pub const LEASE_EXPIRY_MS: i64 = 15_000;

/// Whether `owner` is alive: its process runs and its lease is fresh.
pub fn owner_is_alive(owner: &OwnerRecord) -> bool {
    if now_wall_ms() - owner.lease_ms > LEASE_EXPIRY_MS {
        return false;
    }
    process_alive(owner.pid).unwrap_or(true)
}

/// `Some(false)` when the process is surely gone; `None` when this platform cannot tell.
pub fn process_alive(pid: u32) -> Option<bool> {
    if pid == std::process::id() {
        return Some(true);
    }
    #[cfg(target_os = "linux")]
    {
        // /proc/PID/stat: "PID (COMM) S …"; a zombie (Z) or dead (X) process drives nothing.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
                Some(!matches!(state, Some('Z' | 'X')))
            }
            Err(_) => Some(false),
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let raw = i32::try_from(pid).ok()?;
        let pid = rustix::process::Pid::from_raw(raw)?;
        match rustix::process::test_kill_process(pid) {
            Ok(()) => Some(true),
            Err(e) if e == rustix::io::Errno::SRCH => Some(false),
            Err(_) => Some(true),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}
