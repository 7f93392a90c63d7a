//! Where Stepwise keeps things on disk: the config directory (settings, worker profiles,
//! recovery copies) and the local engine's data directory (store and buckets). Both the app
//! and the command line read them from here, so `stepwise ingest` and the window agree.

use std::path::PathBuf;

/// The environment variable that names the data directory.
pub const DATA_DIR_ENV: &str = "STEPWISE_DATA_DIR";
/// The environment variable that names the config directory.
pub const CONFIG_DIR_ENV: &str = "STEPWISE_CONFIG_DIR";

/// Where settings live: `STEPWISE_CONFIG_DIR` when set (tests, portable installs), else the
/// platform's config directory (`~/.config/stepwise` on Linux).
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CONFIG_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("", "", "stepwise")
        .map(|p| p.config_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("stepwise-config"))
}

/// The data directory the user named (flag or environment), if any.
pub fn explicit_data_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// The local engine's data directory: `--data-dir`, else `STEPWISE_DATA_DIR`, else the
/// platform's data directory for Stepwise (`~/.local/share/stepwise` on Linux).
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit_data_dir(flag) {
        return Ok(dir);
    }
    directories::ProjectDirs::from("dev", "stepwise", "Stepwise")
        .map(|p| p.data_dir().to_owned())
        .ok_or_else(|| format!("no home directory to keep the local store in; pass --data-dir or set {DATA_DIR_ENV}"))
}
