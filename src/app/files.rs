//! What the designer keeps on disk besides the workflow: settings (recent files, theme,
//! window size) under the platform's config directory, recovery copies of unsaved work, and
//! atomic saves. Never credentials: nothing here ever holds one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::asl::Format;

/// Recent files remembered.
const RECENT_LIMIT: usize = 10;

/// Where settings and recovery files live (`crate::paths::config_dir`).
pub fn config_dir() -> PathBuf {
    crate::paths::config_dir()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub theme: ThemeChoice,
    /// Last window size in logical pixels.
    pub window_size: Option<[f32; 2]>,
}

impl Settings {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// Reads the settings; missing or damaged settings give the defaults (settings are a
    /// convenience, never a reason not to start).
    pub fn load(dir: &Path) -> Settings {
        std::fs::read(Self::path(dir)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        atomic_write(&Self::path(dir), text.as_bytes())
    }

    pub fn remember(&mut self, path: &Path) {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT_LIMIT);
    }
}

/// [`crate::atomic_file::write_atomic`] (the old or the new content, never half; a replaced
/// file keeps its permissions), creating the folder first, with the error in words.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("Cannot create the folder {}: {e}", dir.display()))?;
    crate::atomic_file::write_atomic(path, bytes).map_err(|e| format!("Cannot save {}: {e}", path.display()))
}

/// A copy of unsaved work, written every few seconds while there are unsaved changes and
/// removed once they are saved or deliberately discarded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The file the work belongs to; `None` for a workflow never saved.
    pub path: Option<PathBuf>,
    pub json: bool,
    pub text: String,
    pub layout: crate::diagram::LayoutFile,
    /// Seconds since the Unix epoch when written.
    pub saved_at: u64,
}

impl Recovery {
    pub fn dir(config: &Path) -> PathBuf {
        config.join("recovery")
    }

    /// One recovery file per workflow path (by its hash), one for untitled work.
    pub fn file_for(config: &Path, path: Option<&Path>) -> PathBuf {
        use sha2::Digest;
        let name = match path {
            Some(p) => format!("{}.json", &hex::encode(sha2::Sha256::digest(p.to_string_lossy().as_bytes()))[..16]),
            None => "untitled.json".into(),
        };
        Self::dir(config).join(name)
    }

    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { Format::Yaml }
    }

    pub fn write(&self, config: &Path) -> Result<PathBuf, String> {
        let file = Self::file_for(config, self.path.as_deref());
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        atomic_write(&file, text.as_bytes())?;
        Ok(file)
    }

    /// Every recovery file left behind (by a crash or a kill), newest first.
    pub fn list(config: &Path) -> Vec<(PathBuf, Recovery)> {
        let mut out: Vec<(PathBuf, Recovery)> = std::fs::read_dir(Self::dir(config))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                let r: Recovery = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
                Some((p, r))
            })
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.1.saved_at));
        out
    }

    pub fn remove(config: &Path, path: Option<&Path>) {
        let _ = std::fs::remove_file(Self::file_for(config, path));
    }
}

/// What a file looked like when it was opened or saved, to notice changes made by others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub modified: Option<std::time::SystemTime>,
    pub len: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp { modified: m.modified().ok(), len: m.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_damaged_settings_give_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.remember(Path::new("/tmp/a.asl.json"));
        s.remember(Path::new("/tmp/b.asl.json"));
        s.remember(Path::new("/tmp/a.asl.json"));
        assert_eq!(s.recent.len(), 2);
        assert!(s.recent[0].ends_with("a.asl.json"));
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), s);
        std::fs::write(Settings::path(dir.path()), "{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
    }

    #[test]
    fn recovery_files_are_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recovery { path: Some("/w/x.asl.json".into()), json: true, text: "{}".into(), layout: Default::default(), saved_at: 5 };
        r.write(dir.path()).unwrap();
        let listed = Recovery::list(dir.path());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1, r);
        Recovery::remove(dir.path(), Some(Path::new("/w/x.asl.json")));
        assert!(Recovery::list(dir.path()).is_empty());
    }
}
