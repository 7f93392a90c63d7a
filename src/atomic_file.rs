//! Writing a whole file atomically, for everything that saves a person's work (`fmt --write`,
//! `render`, the designer's saves, settings and recovery copies).

use std::io::Write;
use std::path::Path;

/// Writes a file so that a crash leaves either the old or the new content, never a mix: the
/// bytes go to a temporary file in the same directory, are synced, and then renamed over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let existing = std::fs::metadata(path).ok();
    let mut builder = tempfile::Builder::new();
    // A temporary file is private (0600). A new file (an exported picture, say) should get the
    // permissions any new file of the user's gets, so ask for 0666 and let the umask narrow
    // it; a file being replaced keeps its own, copied below, and its temporary stays private.
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Some(meta) = existing {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
