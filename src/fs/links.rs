//! What keeps the outside world out of the files: promote follows no symbolic link in `promote.yaml`, the template directories, an environment's
//! directory, its templates, manifests, metadata file and deploy.log, or the previews directory.
//! A link there is refused with its path and where it points: a template linked to
//! `/proc/self/environ` would otherwise carry the CI's secrets into a manifest, a diff or an error,
//! and an environment directory linked to another would make a change to one write the other.

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::ui::escape::escape;

/// The refusal for a symbolic link at `rel` (repository-relative), naming where it points.
pub fn link_error(root: &Path, rel: &str) -> anyhow::Error {
    let target = std::fs::read_link(root.join(rel))
        .map(|t| escape(&t.to_string_lossy()))
        .unwrap_or_else(|_| "?".into());
    Failure::SymbolicLink {
        path: escape(rel),
        target,
    }
    .into()
}

/// Refuses when `rel` or any directory on the way to it (from the repository root) is a symbolic
/// link. A path that does not exist (yet) is fine as far as it goes.
pub fn no_link(root: &Path, rel: &str) -> Result<()> {
    let mut path = root.to_path_buf();
    let mut sofar = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        path.push(part);
        if !sofar.is_empty() {
            sofar.push('/');
        }
        sofar.push_str(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(link_error(root, &sofar)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_on_the_way_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("environments/dev")).unwrap();
        std::os::unix::fs::symlink("dev", root.join("environments/staging")).unwrap();
        no_link(root, "environments/dev/manifests").unwrap();
        no_link(root, "missing/x").unwrap();
        let e = no_link(root, "environments/staging/metadata.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`environments/staging` is a symbolic link (to `dev`)"),
            "{e}"
        );
    }
}
