//! Applying a set of file changes to the working tree: only files whose bytes change, each through a
//! temporary file in the same directory and a rename, all-or-nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use crate::model::change::{Change, Target};

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
    let chunks = crate::par::chunks(paths, |chunk| -> Result<Vec<_>> {
        chunk
            .iter()
            .map(|p| {
                let p = p.as_ref();
                let bytes = match read_opt(&root.join(p)) {
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        return Err(crate::fs::links::link_error(root, p))
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

/// The bytes of a file, None when absent. A symbolic link is not followed (ELOOP): see `crate::fs::links`.
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
    stage_all(root, changes)?.swap()?.finish();
    Ok(())
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
        let done = crate::par::chunks(&jobs, |chunk| {
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
    /// one fails, what was already done is put back. The replaced and deleted files are kept (see
    /// [`Swapped`]) until [`Swapped::finish`], so the change can be undone with renames alone.
    pub fn swap(self) -> Result<Swapped> {
        let Staged {
            root,
            files: staged,
            mut spares,
            ..
        } = self;
        let mut dirs = Dirs::new();
        let mut done = Swapped {
            root: root.to_path_buf(),
            done: Vec::with_capacity(staged.len()),
        };
        let half = staged.len() / 2;
        for i in 0..staged.len() {
            if i == half {
                // A test-only fault between two renames: half the files are in place.
                if let Err(e) = crate::failpoint::check("swap-half") {
                    let _ = done.undo();
                    cleanup(root, &staged[i..]);
                    return Err(e);
                }
            }
            let (target, tmp, change) = &staged[i];
            let result = match (tmp, &change.before) {
                (Some(t), Some(_)) => replace(root, &mut dirs, spares.as_mut(), t, target),
                (Some(t), None) => std::fs::rename(t, target).map(|()| {
                    Some(Done::Created {
                        target: target.clone(),
                    })
                }),
                (None, _) => delete(spares.as_mut(), target),
            };
            match result {
                Ok(Some(d)) => done.done.push(d),
                Ok(None) => {}
                Err(e) => {
                    let not_undone = done.undo();
                    cleanup(root, &staged[i..]);
                    let mut e = anyhow::Error::new(e).context(format!(
                        "cannot write `{}`; the files written before it were put back",
                        change.path
                    ));
                    if !not_undone.is_empty() {
                        e = e.context(format!(
                            "cannot write `{}`, and could not put back: {}",
                            change.path,
                            not_undone.join(", ")
                        ));
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }
}

/// One file put in place by [`Staged::swap`].
#[derive(Debug)]
enum Done {
    /// `target` holds the new bytes; `old` (a spare, or a temporary name beside the target) the
    /// file it replaced.
    Replaced {
        target: PathBuf,
        old: PathBuf,
        pooled: bool,
    },
    /// `target` is new: nothing was there.
    Created { target: PathBuf },
    /// `target` was deleted: renamed to `old`.
    Deleted {
        target: PathBuf,
        old: PathBuf,
        pooled: bool,
    },
}

/// The files a swap put in place, with every file they replaced still on disk: until
/// [`Swapped::finish`], [`Swapped::undo`] puts the tree back with renames and unlinks alone, so
/// undoing needs no new disk space (a full disk cannot stop it).
#[derive(Debug)]
#[must_use = "finish() or undo() it"]
pub struct Swapped {
    root: PathBuf,
    done: Vec<Done>,
}

impl Swapped {
    /// The change stays: the replaced files that are not spares are freed, and directories a
    /// deletion emptied are removed.
    pub fn finish(self) {
        for d in self.done {
            match d {
                Done::Replaced {
                    old, pooled: false, ..
                } => {
                    let _ = std::fs::remove_file(old);
                }
                Done::Deleted {
                    target,
                    old,
                    pooled,
                } => {
                    if !pooled {
                        let _ = std::fs::remove_file(old);
                    }
                    remove_empty_parents(&self.root, &target);
                }
                _ => {}
            }
        }
    }

    /// Puts every file back as it was, last first, by renames (and unlinks of created files).
    /// Returns the paths that could not be put back (empty when all were).
    pub fn undo(self) -> Vec<String> {
        let mut failed = Vec::new();
        for d in self.done.into_iter().rev() {
            let (target, result) = match d {
                Done::Replaced { target, old, .. } | Done::Deleted { target, old, .. } => {
                    let r = std::fs::rename(&old, &target);
                    (target, r)
                }
                Done::Created { target } => {
                    let r = std::fs::remove_file(&target);
                    remove_empty_parents(&self.root, &target);
                    (target, r)
                }
            };
            if let Err(e) = result {
                failed.push(format!("`{}` ({e})", target.display()));
            }
        }
        failed
    }
}

/// Puts `tmp` (the new bytes) at `target`, keeping the file it replaces: one atomic exchange
/// (`RENAME_EXCHANGE`) leaves the old file at `tmp`, which, unless it is already a spare, moves
/// into the spare pool (or stays beside the target, to be freed when the change is committed).
/// Where the exchange is not available, the old file is hard-linked aside first.
fn replace(
    root: &Path,
    dirs: &mut Dirs,
    spares: Option<&mut Spares>,
    tmp: &Path,
    target: &Path,
) -> std::io::Result<Option<Done>> {
    let in_pool = Spares::holds(root, tmp);
    if exchange(dirs, tmp, target) {
        if in_pool {
            return Ok(Some(Done::Replaced {
                target: target.to_path_buf(),
                old: tmp.to_path_buf(),
                pooled: true,
            }));
        }
        let (old, pooled) = match spares.and_then(|s| s.adopt(tmp)) {
            Some(p) => (p, true),
            None => (tmp.to_path_buf(), false),
        };
        return Ok(Some(Done::Replaced {
            target: target.to_path_buf(),
            old,
            pooled,
        }));
    }
    if std::fs::symlink_metadata(target).is_err() {
        // Gone since it was read: nothing to keep.
        std::fs::rename(tmp, target)?;
        return Ok(Some(Done::Created {
            target: target.to_path_buf(),
        }));
    }
    let (old, pooled) = aside(spares, target)?;
    if let Err(e) = std::fs::rename(tmp, target) {
        let _ = std::fs::remove_file(&old);
        if !in_pool {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    Ok(Some(Done::Replaced {
        target: target.to_path_buf(),
        old,
        pooled,
    }))
}

/// Deletes `target` by renaming it aside (into the spare pool when there is room), so the deletion
/// can be undone by a rename. `None` when there was nothing to delete.
fn delete(spares: Option<&mut Spares>, target: &Path) -> std::io::Result<Option<Done>> {
    if std::fs::symlink_metadata(target).is_err() {
        return Ok(None);
    }
    let (old, pooled) = match spares.and_then(|s| s.adopt(target)) {
        Some(p) => (p, true),
        None => {
            let old = aside_name(target, "del");
            std::fs::rename(target, &old)?;
            (old, false)
        }
    };
    Ok(Some(Done::Deleted {
        target: target.to_path_buf(),
        old,
        pooled,
    }))
}

/// A hard link to `target` where it can be found again: in the spare pool when there is room,
/// else beside it.
fn aside(spares: Option<&mut Spares>, target: &Path) -> std::io::Result<(PathBuf, bool)> {
    if let Some(p) = spares.and_then(|s| s.link(target)) {
        return Ok((p, true));
    }
    let old = aside_name(target, "old");
    std::fs::hard_link(target, &old)?;
    Ok((old, false))
}

/// The temporary name beside `target` that holds its old file until the change is committed:
/// `.<name>.promote-<pid>-<what>.tmp` (the pattern recovery cleans up).
fn aside_name(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.promote-{}-{what}.tmp", std::process::id()))
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

    /// A new name in the pool, or `None` when it is full.
    fn name(&mut self) -> Option<PathBuf> {
        if self.kept >= MAX_SPARES {
            return None;
        }
        self.seq += 1;
        Some(self.dir.join(format!(
            "{:x}-{}-{}",
            self.run,
            std::process::id(),
            self.seq
        )))
    }

    /// Moves the file at `path` (linked from nowhere else) into the pool; where it is now.
    fn adopt(&mut self, path: &Path) -> Option<PathBuf> {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && links(&m) == 1) {
            return None;
        }
        let name = self.name()?;
        std::fs::rename(path, &name).ok()?;
        self.kept += 1;
        Some(name)
    }

    /// Hard-links the file at `target` (linked from nowhere else) into the pool; the new name.
    fn link(&mut self, target: &Path) -> Option<PathBuf> {
        if !std::fs::symlink_metadata(target).is_ok_and(|m| m.is_file() && links(&m) == 1) {
            return None;
        }
        for _ in 0..3 {
            let name = self.name()?;
            match std::fs::hard_link(target, &name) {
                Ok(()) => {
                    self.kept += 1;
                    return Some(name);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => return None,
            }
        }
        None
    }
}

/// Open directories by path, for system calls that name files relative to them (`crate::fs::at`).
type Dirs = std::collections::HashMap<PathBuf, Option<crate::fs::at::Dir>>;

/// Swaps the files at `a` and `b`, atomically (`renameat2(RENAME_EXCHANGE)`); `false` where the
/// system or file system cannot, and nothing was changed.
#[cfg(target_os = "linux")]
fn exchange(dirs: &mut Dirs, a: &Path, b: &Path) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use std::os::fd::{AsFd, BorrowedFd};
    // Each file relative to its open directory (or, where that fails, by its whole path).
    for p in [a, b] {
        if let Some(parent) = p.parent() {
            dirs.entry(parent.to_path_buf())
                .or_insert_with(|| crate::fs::at::Dir::open(parent).ok());
        }
    }
    fn at<'a>(dirs: &'a Dirs, p: &'a Path) -> (BorrowedFd<'a>, &'a Path) {
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => match dirs.get(parent) {
                Some(Some(dir)) => (dir.as_fd(), Path::new(name)),
                _ => (CWD, p),
            },
            _ => (CWD, p),
        }
    }
    let ((da, a), (db, b)) = (at(dirs, a), at(dirs, b));
    renameat_with(da, a, db, b, RenameFlags::EXCHANGE).is_ok()
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

/// Removes the directories a deleted file leaves empty, up to (not including) `root`.
pub(super) fn remove_empty_parents(root: &Path, path: &Path) {
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

    #[cfg(target_os = "linux")]
    #[test]
    fn exchange_swaps_two_files_or_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("sub/b"));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(&a, "A").unwrap();
        std::fs::write(&b, "B").unwrap();
        let mut dirs = Dirs::new();
        assert!(exchange(&mut dirs, &a, &b));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "B");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "A");
        // By whole path too (a relative name with no directory to open, a missing directory).
        let missing = dir.path().join("gone/c");
        assert!(!exchange(&mut dirs, &a, &missing));
        assert!(!exchange(&mut dirs, &a, Path::new("no-such-file-here")));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "B");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "A");
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

    /// Until `finish`, a swap can be undone by renames alone: the very files (inodes) that were
    /// replaced or deleted come back, and nothing new is written.
    #[cfg(unix)]
    #[test]
    fn a_swap_is_undone_by_renames_to_the_very_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join("a.yaml"), "a1\n").unwrap();
        std::fs::write(root.join("gone.yaml"), "g\n").unwrap();
        let (a, gone) = (ino(&root.join("a.yaml")), ino(&root.join("gone.yaml")));
        let mut t = BTreeMap::new();
        t.insert("a.yaml".to_string(), Target::Write(b"a2\n".to_vec()));
        t.insert("gone.yaml".to_string(), Target::Delete);
        t.insert("new/n.yaml".to_string(), Target::Write(b"n\n".to_vec()));
        let changes = plan(root, t).unwrap();
        let swapped = stage_all(root, &changes).unwrap().swap().unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("a.yaml")).unwrap(),
            "a2\n"
        );
        assert!(!root.join("gone.yaml").exists());
        assert!(swapped.undo().is_empty());
        assert_eq!(ino(&root.join("a.yaml")), a);
        assert_eq!(ino(&root.join("gone.yaml")), gone);
        assert_eq!(
            std::fs::read_to_string(root.join("a.yaml")).unwrap(),
            "a1\n"
        );
        assert!(
            !root.join("new").exists(),
            "a directory made for a new file goes too"
        );
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".git", "a.yaml", "gone.yaml"]);
        // Finished instead: the replaced files are spares, nothing is left beside the targets.
        let swapped = stage_all(root, &changes).unwrap().swap().unwrap();
        swapped.finish();
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".git", "a.yaml", "new"]);
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
