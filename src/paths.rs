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

/// Reads a settings file of the config directory: the defaults when there is none yet. A
/// damaged file is an error, not silently replaced: it may hold the only copy of someone's
/// settings.
pub fn load_settings<T: serde::de::DeserializeOwned + Default>(path: &std::path::Path, what: &str) -> Result<T, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a valid {what} file ({e}); fix or delete it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes a settings file atomically (pretty JSON), creating the config directory if needed.
pub fn save_settings<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::atomic_file::write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
