//! What promote remembers between runs so that it need not read or render everything again.

pub mod memo;
pub mod state;

use std::path::Path;

/// Writes a cache file: a temporary file beside it (named after it and this process, so two
/// caches saved at once never share one), then a rename, so a reader sees the old file or the new
/// one. A cache that cannot be written is only a lost shortcut: errors are ignored.
fn save(path: &Path, contents: String) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let ok = std::fs::create_dir_all(dir).is_ok()
        && std::fs::write(&tmp, contents).is_ok()
        && std::fs::rename(&tmp, path).is_ok();
    if !ok {
        let _ = std::fs::remove_file(&tmp);
    }
}
