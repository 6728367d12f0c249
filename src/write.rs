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
                let bytes = match read_opt(&root.join(p)) {
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        return Err(crate::trust::link_error(root, p))
                    }
                    r => r.with_context(|| format!("cannot read `{p}`"))?,
                };
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

/// The bytes of a file, None when absent. A symbolic link is not followed (ELOOP): see `crate::trust`.
fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| {
            let mut b = Vec::new();
            f.read_to_end(&mut b).map(|_| b)
        });
    match opened {
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
    stage_all(root, changes)?.swap()
}

/// Changes written beside their targets, not yet in place (see [`apply`]).
pub struct Staged<'a> {
    root: &'a Path,
    /// Each change's target, the file staged for it (none for a deletion), and the change.
    files: Vec<(PathBuf, Option<PathBuf>, &'a Change)>,
    /// Whether each staged file is executable (none for a deletion), as it will be in place.
    executable: Vec<Option<bool>>,
    spares: Option<Spares>,
}

/// The first half of [`apply`]: every new file written (nothing in place yet). On an error,
/// nothing was changed.
pub fn stage_all<'a>(root: &'a Path, changes: &'a [Change]) -> Result<Staged<'a>> {
    let mut staged: Vec<(PathBuf, Option<PathBuf>, &Change)> = Vec::new();
    let mut executable = Vec::with_capacity(changes.len());
    let mut spares = Spares::open(root);
    // Spares for the files replaced by new bytes, filled on every core (each is its own file).
    let mut filled: Vec<Option<(PathBuf, bool)>> = vec![None; changes.len()];
    if let Some(spares) = spares.as_mut() {
        let jobs: Vec<(usize, PathBuf)> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.after.is_some() && c.before.is_some())
            .map_while(|(i, _)| spares.pop().map(|spare| (i, spare)))
            .collect();
        let done = crate::render::par_chunks(&jobs, |chunk| {
            chunk
                .iter()
                .filter_map(|(i, spare)| {
                    let c = &changes[*i];
                    let bytes = c.after.as_deref().unwrap_or_default();
                    Spares::fill(spare, &root.join(&c.path), bytes)
                        .map(|exec| (*i, spare.clone(), exec))
                })
                .collect::<Vec<_>>()
        });
        for (i, spare, exec) in done.into_iter().flatten() {
            filled[i] = Some((spare, exec));
        }
    }
    let mut made_dirs: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for (change, spare) in changes.iter().zip(filled) {
        let target = root.join(&change.path);
        let (tmp, exec) = match (&change.after, spare) {
            (None, _) => (None, None),
            (Some(_), Some((spare, exec))) => (Some(spare), Some(exec)),
            (Some(bytes), None) => {
                match stage(&target, bytes, change.before.is_some(), &mut made_dirs) {
                    Ok((t, exec)) => (Some(t), Some(exec)),
                    Err(e) => {
                        cleanup(root, &staged);
                        return Err(e.context(format!(
                            "cannot write `{}`; nothing was changed",
                            change.path
                        )));
                    }
                }
            }
        };
        staged.push((target, tmp, change));
        executable.push(exec);
    }
    crate::ui::trace("write: staged");
    Ok(Staged {
        root,
        files: staged,
        executable,
        spares,
    })
}

/// Removes staged files (a spare that was written to stays a spare).
fn cleanup(root: &Path, staged: &[(PathBuf, Option<PathBuf>, &Change)]) {
    for (_, tmp, _) in staged {
        if let Some(t) = tmp.as_ref().filter(|t| !Spares::holds(root, t)) {
            let _ = std::fs::remove_file(t);
        }
    }
}

impl Staged<'_> {
    /// Whether each change's file will be executable in place (none for a deletion), in the order
    /// of the changes.
    pub fn executable(&self) -> &[Option<bool>] {
        &self.executable
    }

    /// The second half of [`apply`]: every staged file renamed into place, every deletion done. If
    /// one fails, what was already done is put back.
    pub fn swap(self) -> Result<()> {
        let Staged {
            root,
            files: staged,
            mut spares,
            ..
        } = self;
        let mut dirs = Dirs::new();
        for i in 0..staged.len() {
            let (target, tmp, change) = &staged[i];
            // A spare trades places with the file it replaces, which becomes a spare in the same
            // step: one system call, nothing linked or freed.
            if tmp
                .as_ref()
                .is_some_and(|t| Spares::holds(root, t) && exchange(&mut dirs, t, target))
            {
                continue;
            }
            if let (Some(spares), Some(_)) = (spares.as_mut(), &change.before) {
                spares.keep(target);
            }
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
                cleanup(root, &staged[i..]);
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
}

/// Replaced files, kept to be the next run's temporary files.
///
/// Replacing a file by renaming a new one over it is what keeps every write all-or-nothing, but
/// each replacement allocates an inode and frees one, with its data blocks. On some file systems
/// that is most of a promotion's cost: ext4 without a journal skips inodes freed in the last minute
/// when it allocates (a scan that grows with every file replaced recently), and with `discard` it
/// trims every freed block at once. So the inode a rename replaces is hard-linked into
/// `.git/promote/spare/` first, and the next write takes a spare, overwrites it in place (the same
/// blocks, nothing allocated or freed) and trades places with its target in one atomic rename
/// (`RENAME_EXCHANGE`; where that is missing, the target is linked into the pool and the spare
/// renamed over it): still a whole file or nothing for every reader, with no inode allocated or
/// freed.
///
/// A spare is only used while nothing else links to it (a link count of 1): a manifest the user
/// hard-linked elsewhere is never kept, and never overwritten. The pool is capped, lives where git
/// keeps its own state (never committed), and may be deleted at any time: without it, writes
/// create new files as before. A process that still holds a replaced manifest open may see it
/// overwritten by a later run.
struct Spares {
    dir: PathBuf,
    free: Vec<PathBuf>,
    kept: usize,
    /// Names of new spares: this run's start time (unique enough) and a counter.
    run: u128,
    seq: u64,
}

/// At most this many spares (4 KiB each for a typical manifest).
const MAX_SPARES: usize = 4096;

impl Spares {
    /// The pool of the repository at `root`, if it has a plain `.git` directory on the same file
    /// system as the work tree (a rename cannot cross file systems).
    fn open(root: &Path) -> Option<Spares> {
        let git = root.join(".git");
        if !std::fs::symlink_metadata(&git).ok()?.is_dir() {
            return None;
        }
        let dir = Self::dir(root);
        std::fs::create_dir_all(&dir).ok()?;
        if !same_device(&dir, root) {
            return None;
        }
        let mut free = Vec::new();
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                free.push(entry.path());
            }
        }
        Some(Spares {
            dir,
            kept: free.len(),
            free,
            run: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            seq: 0,
        })
    }

    fn dir(root: &Path) -> PathBuf {
        root.join(".git").join("promote").join("spare")
    }

    fn holds(root: &Path, path: &Path) -> bool {
        path.starts_with(Self::dir(root))
    }

    /// A spare to fill (it leaves the pool: one that cannot be used is listed again next run).
    fn pop(&mut self) -> Option<PathBuf> {
        let spare = self.free.pop()?;
        self.kept -= 1;
        Some(spare)
    }

    /// Makes `spare` hold exactly `bytes`, with the permissions of `target`, ready to be renamed
    /// over it: whether it is executable, or `None` when it cannot be used (the caller then writes
    /// a new file).
    fn fill(spare: &Path, target: &Path, bytes: &[u8]) -> Option<bool> {
        let perms = std::fs::metadata(target).ok()?.permissions();
        let mut file = std::fs::OpenOptions::new().write(true).open(spare).ok()?;
        // Linked from anywhere else (or not a plain file): not ours to overwrite.
        let meta = file.metadata().ok()?;
        if !meta.is_file() || links(&meta) != 1 {
            return None;
        }
        let same_mode = meta.permissions() == perms;
        let exec = executable(&perms);
        // Cut only what is left past the new end: a truncation of a file to its own size
        // still costs the file system a truncation.
        let longer = meta.len() > bytes.len() as u64;
        let ok = file.write_all(bytes).is_ok()
            && (!longer || file.set_len(bytes.len() as u64).is_ok())
            && (same_mode || file.set_permissions(perms).is_ok());
        ok.then_some(exec)
    }

    /// Keeps the file at `target`, about to be replaced, as a spare.
    fn keep(&mut self, target: &Path) {
        if self.kept >= MAX_SPARES
            || !std::fs::symlink_metadata(target).is_ok_and(|m| m.is_file() && links(&m) == 1)
        {
            return;
        }
        for _ in 0..3 {
            self.seq += 1;
            let name = format!("{:x}-{}-{}", self.run, std::process::id(), self.seq);
            match std::fs::hard_link(target, self.dir.join(name)) {
                Ok(()) => {
                    self.kept += 1;
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => return,
            }
        }
    }
}

/// Open directories by path, for system calls that name files relative to them (`crate::fsat`).
type Dirs = std::collections::HashMap<PathBuf, Option<crate::fsat::Dir>>;

/// Swaps the files at `a` and `b`, atomically (`renameat2(RENAME_EXCHANGE)`); `false` where the
/// system or file system cannot, and nothing was changed.
#[cfg(target_os = "linux")]
fn exchange(dirs: &mut Dirs, a: &Path, b: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    // Each file relative to its open directory (or, where that fails, by its whole path).
    let mut at = |p: &Path| -> Option<(libc::c_int, std::ffi::CString)> {
        let fd = match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => dirs
                .entry(parent.to_path_buf())
                .or_insert_with(|| crate::fsat::Dir::open(parent).ok())
                .as_ref()
                .map(|d| (d.raw(), name)),
            _ => None,
        };
        Some(match fd {
            Some((fd, name)) => (fd, std::ffi::CString::new(name.as_bytes()).ok()?),
            None => (
                libc::AT_FDCWD,
                std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?,
            ),
        })
    };
    let (Some((da, a)), Some((db, b))) = (at(a), at(b)) else {
        return false;
    };
    // SAFETY: two NUL-terminated names that live across the call, each relative to an open
    // directory (or the working directory); no memory is shared.
    let r = unsafe { libc::renameat2(da, a.as_ptr(), db, b.as_ptr(), libc::RENAME_EXCHANGE) };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &mut Dirs, _: &Path, _: &Path) -> bool {
    false
}

#[cfg(unix)]
fn executable(perms: &std::fs::Permissions) -> bool {
    use std::os::unix::fs::PermissionsExt;
    perms.mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Permissions) -> bool {
    false
}

#[cfg(unix)]
fn links(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(m)
}

#[cfg(not(unix))]
fn links(_: &std::fs::Metadata) -> u64 {
    u64::MAX // unknown: never reuse
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(_: &Path, _: &Path) -> bool {
    false
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
) -> Result<(PathBuf, bool)> {
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
        let meta = written.and_then(|()| file.metadata());
        match meta {
            Ok(meta) => return Ok((tmp, executable(&meta.permissions()))),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
        }
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

    #[cfg(unix)]
    fn ino(p: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
    }

    /// Rewrites `name` in `root` to `content` through `apply`.
    fn rewrite(root: &Path, name: &str, content: &str) {
        let mut t = BTreeMap::new();
        t.insert(name.to_string(), Target::Write(content.as_bytes().to_vec()));
        apply(root, &plan(root, t).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(root.join(name)).unwrap(), content);
    }

    #[cfg(unix)]
    #[test]
    fn replaced_files_are_recycled_as_the_next_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join("a.yaml"), "a1\n").unwrap();
        std::fs::write(root.join("b.yaml"), "b1\n").unwrap();
        let a1 = ino(&root.join("a.yaml"));
        rewrite(root, "a.yaml", "a2 is longer than before\n");
        // The replaced inode is kept; the new content is in another one.
        let spares: Vec<_> = std::fs::read_dir(Spares::dir(root)).unwrap().collect();
        assert_eq!(spares.len(), 1);
        assert_ne!(ino(&root.join("a.yaml")), a1);
        // The next replacement (of another file) is written into that inode, shorter than what
        // it held, and the inode it replaces becomes the spare.
        let b1 = ino(&root.join("b.yaml"));
        rewrite(root, "b.yaml", "b2\n");
        assert_eq!(ino(&root.join("b.yaml")), a1);
        let spares: Vec<_> = std::fs::read_dir(Spares::dir(root))
            .unwrap()
            .map(|e| ino(&e.unwrap().path()))
            .collect();
        assert_eq!(spares, vec![b1]);
        // Modes follow the target, not the spare.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("a.yaml"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        rewrite(root, "a.yaml", "a3\n");
        let mode = std::fs::metadata(root.join("a.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(ino(&root.join("a.yaml")), b1);
        // No temporary file is left beside the targets.
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".git", "a.yaml", "b.yaml"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_linked_elsewhere_is_never_recycled() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        // A manifest the user hard-linked to a backup: replacing it must not keep it as a spare
        // (the backup would be overwritten later).
        std::fs::write(root.join("a.yaml"), "a1\n").unwrap();
        std::fs::hard_link(root.join("a.yaml"), root.join("backup")).unwrap();
        rewrite(root, "a.yaml", "a2\n");
        assert_eq!(std::fs::read_dir(Spares::dir(root)).unwrap().count(), 0);
        // A spare that something else links to is skipped, and left as it is.
        std::fs::write(root.join("other"), "keep me\n").unwrap();
        std::fs::hard_link(root.join("other"), Spares::dir(root).join("x")).unwrap();
        rewrite(root, "a.yaml", "a3\n");
        rewrite(root, "a.yaml", "a4\n");
        assert_eq!(
            std::fs::read_to_string(root.join("other")).unwrap(),
            "keep me\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("backup")).unwrap(),
            "a1\n"
        );
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
