//! One process owns a data directory at a time.
//!
//! The local engine is embedded in whichever process uses it (the app, `stepwise ingest`,
//! `stepwise worker`…). Two engines over one store would race for the same executions and
//! hand each other's tasks to workers nobody sees, so the first process takes an exclusive
//! lock on `owner.lock` and writes who it is into it; a second process is refused with a
//! message that names the owner. The lock is the operating system's (`flock` on Unix,
//! `LockFileEx` on Windows, through `std::fs::File::try_lock`), so a crashed owner releases
//! it at once: nothing stale is left to clean up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The lock file's name inside a data directory.
pub const LOCK_FILE: &str = "owner.lock";

/// Who owns a data directory, as its lock file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerInfo {
    pub pid: u32,
    /// What the process is, in words ("the Stepwise app", "stepwise ingest").
    pub program: String,
    pub since_ms: i64,
}

/// Held while this process owns the directory; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What this process is, for the lock file: the subcommand when there is one.
fn this_program() -> String {
    let args: Vec<String> = std::env::args().skip(1).take(1).collect();
    match args.first().map(String::as_str) {
        Some(cmd) if !cmd.starts_with('-') && !cmd.contains('.') && !cmd.contains('/') => format!("stepwise {cmd}"),
        _ => {
            let exe = std::env::current_exe().ok();
            let name = exe.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
            match name.as_deref() {
                Some("stepwise") | None => "the Stepwise app".to_owned(),
                // A test binary or another program embedding the library.
                Some(other) => format!("the program '{other}'"),
            }
        }
    }
}

/// Takes the data directory for this process, or says who has it.
pub fn acquire(data_dir: &Path) -> Result<DataDirLock, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create the data directory {}: {e}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(in_use_message(data_dir, serde_json::from_str::<OwnerInfo>(text.trim()).ok()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", path.display())),
    }
    let info = OwnerInfo { pid: std::process::id(), program: this_program(), since_ms: crate::store::now_wall_ms() };
    let text = serde_json::to_string(&info).unwrap_or_default();
    // Only the owner writes the file, and only while holding the lock.
    let written = file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(text.as_bytes()));
    if let Err(e) = written.and_then(|()| file.flush()) {
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(DataDirLock { _file: file, path })
}

fn in_use_message(data_dir: &Path, owner: Option<OwnerInfo>) -> String {
    let who = match owner {
        Some(o) => format!(
            "{} (process {}, since {})",
            o.program,
            o.pid,
            crate::runtime::buckets::format_time(chrono::DateTime::from_timestamp_millis(o.since_ms).unwrap_or_default())
        ),
        None => "another Stepwise process".to_owned(),
    };
    format!(
        "the local engine's data directory {} is in use by {who}. One process runs the local engine \
         at a time: close that one, or give this command another --data-dir (or STEPWISE_DATA_DIR). \
         To share one engine between several programs, run `stepwise serve` and connect to it.",
        data_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_owner_named_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let refused = acquire(dir.path()).unwrap_err();
        assert!(refused.contains(&format!("process {}", std::process::id())), "{refused}");
        assert!(refused.contains("stepwise serve"), "{refused}");
        drop(first);
        acquire(dir.path()).unwrap();
    }
}
