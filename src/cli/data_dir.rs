//! Where the local store lives: `--data-dir`, else `STEPWISE_DATA_DIR`, else the platform's
//! data directory for Stepwise (`~/.local/share/stepwise` on Linux).

use std::path::PathBuf;

/// The environment variable that names the data directory.
pub const ENV: &str = "STEPWISE_DATA_DIR";

/// The data directory the user named (flag or environment), if any.
pub fn explicit(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os(ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// The data directory to use.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit(flag) {
        return Ok(dir);
    }
    directories::ProjectDirs::from("dev", "stepwise", "Stepwise")
        .map(|p| p.data_dir().to_owned())
        .ok_or_else(|| format!("no home directory to keep the local store in; pass --data-dir or set {ENV}"))
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
