//! Applying a set of file changes to the working tree: only files whose bytes change, each through a
//! temporary file in the same directory and a rename, all-or-nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What should be at a path after the change.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Write(Vec<u8>),
    /// Append these bytes to the file as it is (deploy.log): never rewrites what is there.
    Append(Vec<u8>),
    Delete,
}

/// One file's change, with the bytes before (None: absent) and after (None: deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

/// Computes what would change: reads every target's current bytes and drops those already as wanted.
pub fn plan(root: &Path, targets: BTreeMap<String, Target>) -> Result<Vec<Change>> {
    let paths: Vec<&String> = targets.keys().collect();
    let current = read_current(root, &paths)?;
    Ok(plan_against(&current, targets))
}

/// The current bytes of each path (None: absent), read in parallel.
pub fn read_current<S: AsRef<str> + Sync>(
    root: &Path,
    paths: &[S],
) -> Result<BTreeMap<String, Option<Vec<u8>>>> {
    let chunks = crate::render::par_chunks(paths, |chunk| -> Result<Vec<_>> {
        chunk
            .iter()
            .map(|p| {
                let p = p.as_ref();
                let bytes =
                    read_opt(&root.join(p)).with_context(|| format!("cannot read `{p}`"))?;
                Ok((p.to_string(), bytes))
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    for c in chunks {
        out.extend(c?);
    }
    Ok(out)
}

/// What would change, given the current bytes of every target (from [`read_current`]; a path
/// missing there is taken as absent).
pub fn plan_against(
    current: &BTreeMap<String, Option<Vec<u8>>>,
    targets: BTreeMap<String, Target>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (path, target) in targets {
        let before = current.get(&path).and_then(|b| b.as_deref());
        let after = match target {
            Target::Write(b) => Some(b),
            Target::Delete => None,
            Target::Append(b) => {
                let mut all = before.unwrap_or_default().to_vec();
                if !all.is_empty() && !all.ends_with(b"\n") && !b.is_empty() {
                    // An earlier hand-written line without a final newline: keep it, start a new line.
                    all.push(b'\n');
                }
                all.extend_from_slice(&b);
                Some(all)
            }
        };
        if before != after.as_deref() {
            out.push(Change {
                path,
                before: before.map(<[u8]>::to_vec),
                after,
            });
        }
    }
    out
}

fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Writes every change. First every new file is written to a temporary file beside its target (the
/// step that fails on a full disk or a read-only directory); only then are they renamed into place.
/// If anything fails, what was already renamed is put back, so the tree ends as it began.
pub fn apply(root: &Path, changes: &[Change]) -> Result<()> {
    let mut staged: Vec<(PathBuf, Option<PathBuf>, &Change)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, Option<PathBuf>, &Change)]| {
        for (_, tmp, _) in staged {
            if let Some(t) = tmp {
                let _ = std::fs::remove_file(t);
            }
        }
    };
    let mut made_dirs: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for change in changes {
        let target = root.join(&change.path);
        let tmp = match &change.after {
            None => None,
            Some(bytes) => match stage(&target, bytes, change.before.is_some(), &mut made_dirs) {
                Ok(t) => Some(t),
                Err(e) => {
                    cleanup(&staged);
                    return Err(e.context(format!(
                        "cannot write `{}`; nothing was changed",
                        change.path
                    )));
                }
            },
        };
        staged.push((target, tmp, change));
    }
    crate::ui::trace("write: staged");
    for i in 0..staged.len() {
        let (target, tmp, change) = &staged[i];
        let result = match tmp {
            Some(t) => std::fs::rename(t, target),
            None => std::fs::remove_file(target).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        };
        if let Err(e) = result {
            rollback(&staged[..i]);
            cleanup(&staged[i..]);
            return Err(anyhow::Error::new(e).context(format!(
                "cannot write `{}`; the files written before it were put back",
                change.path
            )));
        }
        if tmp.is_none() {
            remove_empty_parents(root, target);
        }
    }
    Ok(())
}

/// The changes that undo `changes`.
pub fn inverse(changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .map(|c| Change {
            path: c.path.clone(),
            before: c.after.clone(),
            after: c.before.clone(),
        })
        .collect()
}

/// Writes `bytes` to a new temporary file beside `target`, to be renamed over it. Not flushed to
/// disk (no fsync), as git does not flush the files it checks out: the rename makes the change
/// all-or-nothing for every reader and against every error (a full disk fails here, before any
/// file changes); durability across a power cut is the file system's (ext4 flushes a file renamed
/// over another before the rename).
fn stage(
    target: &Path,
    bytes: &[u8],
    replaces: bool,
    made_dirs: &mut std::collections::HashSet<PathBuf>,
) -> Result<PathBuf> {
    let dir = target.parent().context("a target has no directory")?;
    if !made_dirs.contains(dir) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        made_dirs.insert(dir.to_path_buf());
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    for attempt in 0..100 {
        let tmp = dir.join(format!(
            ".{name}.promote-{}-{attempt}.tmp",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        };
        let written = file.write_all(bytes);
        if replaces {
            if let Ok(meta) = std::fs::metadata(target) {
                // Keep the mode of the file we replace (an executable stays executable).
                let _ = file.set_permissions(meta.permissions());
            }
        }
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        return Ok(tmp);
    }
    anyhow::bail!("cannot create a temporary file in `{}`", dir.display())
}

fn rollback(done: &[(PathBuf, Option<PathBuf>, &Change)]) {
    for (target, _, change) in done.iter().rev() {
        let _ = match &change.before {
            Some(b) => std::fs::write(target, b),
            None => std::fs::remove_file(target),
        };
    }
}

fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_files_are_planned_and_appends_keep_old_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("same.yaml"), "a\n").unwrap();
        std::fs::write(dir.path().join("log"), "old line").unwrap();
        let mut t = BTreeMap::new();
        t.insert("same.yaml".to_string(), Target::Write(b"a\n".to_vec()));
        t.insert("new/x.yaml".to_string(), Target::Write(b"x\n".to_vec()));
        t.insert("log".to_string(), Target::Append(b"{}\n".to_vec()));
        let changes = plan(dir.path(), t).unwrap();
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["log", "new/x.yaml"]);
        apply(dir.path(), &changes).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log")).unwrap(),
            "old line\n{}\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/x.yaml")).unwrap(),
            "x\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("new")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files remain");
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "old\n").unwrap();
        // `blocker` is a file, so `blocker/b.yaml` cannot be created.
        std::fs::write(dir.path().join("blocker"), "").unwrap();
        let mut t = BTreeMap::new();
        t.insert("a.yaml".to_string(), Target::Write(b"new\n".to_vec()));
        t.insert("blocker/b.yaml".to_string(), Target::Write(b"b\n".to_vec()));
        let changes = plan(dir.path(), t).unwrap();
        assert!(apply(dir.path(), &changes).is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(),
            "old\n"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
