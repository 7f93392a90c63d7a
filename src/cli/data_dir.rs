//! Where the local store lives (see `crate::paths`), and the async runtime of a command.

use std::path::PathBuf;

/// The data directory the user named (flag or environment), if any.
pub fn explicit(flag: Option<PathBuf>) -> Option<PathBuf> {
    crate::paths::explicit_data_dir(flag)
}

/// The data directory to use.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    crate::paths::data_dir(flag)
}

/// A tokio runtime for a command (two workers: the machine has two cores, and the engine
/// thread is a thread of its own).
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
