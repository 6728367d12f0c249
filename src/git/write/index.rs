//! The index: `<gitdir>/index.lock` written with the changed paths' entries replaced.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{IndexEntry, IndexTime, Oid, Repository};
use sha1::{Digest, Sha1};

use super::{blob_id, check_path, require_sha1, unsupported, Unsupported};
use crate::git::index as reader;
use crate::git::mode::{
    stage, EXECUTABLE, EXTENDED, GITLINK, NAME_MASK, REGULAR, SYMLINK, TYPE_MASK,
};
/// `<gitdir>/index.lock`, holding the new index until `commit` renames it over `index`. Dropping
/// it (or `rollback`) removes it, leaving the index as it was.
#[derive(Debug)]
pub struct IndexLock {
    lock: PathBuf,
    index: PathBuf,
    done: bool,
}

impl IndexLock {
    /// Makes the new index the index.
    pub fn commit(mut self) -> Result<()> {
        fs::rename(&self.lock, &self.index).with_context(|| {
            format!(
                "cannot rename `{}` to `{}`",
                self.lock.display(),
                self.index.display()
            )
        })?;
        self.done = true;
        Ok(())
    }

    /// Leaves the index as it was.
    pub fn rollback(self) {}

    /// The lock file (the new index until `commit`).
    pub fn path(&self) -> &Path {
        &self.lock
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

/// Writes the index with `changes` applied to `<gitdir>/index.lock` and returns the lock.
///
/// Each change is a repository-relative path and its new blob id and mode, or `None` for a
/// deletion. A changed path's stage-0 entry is replaced (or inserted) with the stat data of the
/// file now at `workdir/path`, which must be the content of that blob; a deleted path's entries
/// are removed. Every other entry is kept as it was, so is the format version (2, 3 or 4), the
/// cache tree (`TREE`) is invalidated along the changed paths, the resolve-undo data (`REUC`) is
/// kept, and the other optional extensions -- caches and offset tables the rewrite makes stale,
/// such as `UNTR`, `FSMN`, `EOIE`, `IEOT` -- are dropped, for git to rebuild.
///
/// Waits while `index.lock` exists (another git process is running), up to `PROMOTE_LOCK_WAIT`
/// seconds, then fails saying which process holds it. `Unsupported` errors say the
/// index is one git should write: split, sparse, with a required extension, with a conflict on a
/// changed path, SHA-256, or unreadable here.
pub fn update_index(repo: &Repository, workdir: &Path, changes: &[Change]) -> Result<IndexLock> {
    update_index_within(repo, workdir, changes, crate::git::lock_wait())
}

/// [`update_index`], waiting up to `wait` for another process's `index.lock` to go away (git
/// holds it for the few milliseconds of a `git add`), then failing with who holds it.
pub fn update_index_within(
    repo: &Repository,
    workdir: &Path,
    changes: &[Change],
    wait: std::time::Duration,
) -> Result<IndexLock> {
    require_sha1(repo)?;
    let git_dir = repo.path();
    let index_path = git_dir.join("index");
    let lock_path = git_dir.join("index.lock");
    // Lock first, then read: nobody changes the index between the two.
    let start = std::time::Instant::now();
    let mut file = loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_path)
        {
            Ok(f) => break f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && start.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(crate::git::index_locked(&lock_path, start.elapsed()).into())
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create `{}`", lock_path.display()))
            }
        }
    };
    let lock = IndexLock {
        lock: lock_path,
        index: index_path,
        done: false,
    };
    let bytes = write_index(&lock.index, workdir, changes)?;
    file.write_all(&bytes)
        .with_context(|| format!("cannot write `{}`", lock.lock.display()))?;
    drop(file);
    crate::ui::trace("gitwrite: index written");
    Ok(lock)
}

/// A change as `update_index` takes it: a path and its new blob id and mode, or `None` for a
/// deletion.
type Change = (String, Option<(Oid, u32)>);

/// A stat time as the index keeps it: seconds and nanoseconds, 32 bits each.
type Time = (u32, u32);

// Hand-written, not git2's `Index`: that took 3x as long (101 ms against 32 ms median for 1,000
// changed entries of 24,000; bench/results.md, #15), within the targets, but it reads the index
// without holding `index.lock` and renames its own lock at once: it could lose another process's
// concurrent `git add`, and could not keep the lock until the branch has moved. Checked against
// `git ls-files -s --debug`, `git write-tree` and `git status` by `differential.rs`.
/// The new index file's bytes.
fn write_index(index: &Path, workdir: &Path, changes: &[Change]) -> Result<Vec<u8>> {
    let (bytes, timestamp) = read_index_file(index)?;
    let sorted = sorted_changes(changes)?;
    let (parsed, fresh) = parse_and_stat(index, bytes.as_deref(), workdir, &sorted)?;

    // The racily clean entries among those kept (see `racy`), against the index as read.
    let changed: HashSet<&[u8]> = sorted.iter().map(|(p, _)| p.as_bytes()).collect();
    let mut old = parsed.entries;
    let mut smudged = vec![false; old.len()];
    if let Some(timestamp) = timestamp {
        for (i, e) in old.iter_mut().enumerate() {
            if racy(e, timestamp) && !changed.contains(e.path.as_slice()) {
                smudged[i] = smudge_if_modified(workdir, e, timestamp);
            }
        }
    }
    let merged = Merged::new(old, fresh, &sorted)?;
    merged.check_file_and_directory(&sorted)?;
    crate::ui::trace("gitwrite: index entries updated");

    let raw = bytes.as_deref().unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + fresh_len(changes));
    merged.put_entries(&mut out, parsed.version, raw, &parsed.ranges, &smudged)?;
    put_extensions(&mut out, parsed.extensions, &changed)?;
    let trailer: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&trailer);
    Ok(out)
}

/// The index file's bytes (`None`: there is none) and its mtime, against which entries are
/// "racily clean" (see `racy`).
fn read_index_file(index: &Path) -> Result<(Option<Vec<u8>>, Option<Time>)> {
    match File::open(index) {
        Ok(mut f) => {
            let timestamp = f.metadata().ok().as_ref().map(stat_times).map(|t| t.mtime);
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .with_context(|| format!("cannot read `{}`", index.display()))?;
            Ok((Some(bytes), timestamp))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok((None, None)),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", index.display())),
    }
}

/// `changes` in the index's order (by path, bytewise), each path checked and given once.
fn sorted_changes(changes: &[Change]) -> Result<Vec<&Change>> {
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("`{}` is updated twice", w[0].0);
    }
    for (path, _) in &sorted {
        check_path(path)?;
    }
    Ok(sorted)
}

/// The index as read, and the fresh entries of the changed paths (in `sorted`'s order), their
/// stat data taken from the work tree while the index is parsed.
fn parse_and_stat<'b>(
    index: &Path,
    bytes: Option<&'b [u8]>,
    workdir: &Path,
    sorted: &[&Change],
) -> Result<(reader::Parsed<'b>, Vec<IndexEntry>)> {
    let stat = || -> Result<Vec<IndexEntry>> {
        sorted
            .iter()
            .filter_map(|(path, change)| change.map(|(id, mode)| (path, id, mode)))
            .map(|(path, id, mode)| fresh_entry(workdir, path, id, mode))
            .collect()
    };
    let parse = || match bytes {
        Some(bytes) => reader::parse_full(bytes).ok_or_else(|| {
            Unsupported(format!(
                "`{}` is an index this writer does not handle (split, sparse, with a required \
                 extension, or damaged)",
                index.display()
            ))
        }),
        None => Ok(reader::Parsed {
            version: 2,
            entries: Vec::new(),
            ranges: Vec::new(),
            extensions: &[],
        }),
    };
    let (parsed, fresh) = if sorted.len() >= 64 {
        std::thread::scope(|s| {
            let fresh = s.spawn(stat);
            let parsed = parse();
            (parsed, fresh.join().expect("the stat thread panicked"))
        })
    } else {
        (parse(), stat())
    };
    Ok((parsed?, fresh?))
}

/// The entries of the new index: the old ones kept and the fresh ones, in order.
struct Merged {
    old: Vec<IndexEntry>,
    fresh: Vec<IndexEntry>,
    items: Vec<Item>,
}

impl Merged {
    /// Merges the two sorted lists: the old entries kept (by position) and the fresh ones.
    fn new(old: Vec<IndexEntry>, fresh: Vec<IndexEntry>, sorted: &[&Change]) -> Result<Merged> {
        let mut items = Vec::with_capacity(old.len() + fresh.len());
        let mut i = 0;
        let mut next_fresh = 0;
        for (path, _) in sorted {
            let path = path.as_bytes();
            while i < old.len() && old[i].path.as_slice() < path {
                items.push(Item::Old(i));
                i += 1;
            }
            while i < old.len() && old[i].path == path {
                if stage(old[i].flags) != 0 {
                    return unsupported(format!(
                        "`{}` has a merge conflict in the index",
                        String::from_utf8_lossy(path)
                    ));
                }
                i += 1;
            }
            if fresh.get(next_fresh).is_some_and(|e| e.path == path) {
                items.push(Item::New(next_fresh));
                next_fresh += 1;
            }
        }
        items.extend((i..old.len()).map(Item::Old));
        Ok(Merged { old, fresh, items })
    }

    fn entry(&self, item: &Item) -> &IndexEntry {
        match *item {
            Item::Old(i) => &self.old[i],
            Item::New(i) => &self.fresh[i],
        }
    }

    fn path_at(&self, k: usize) -> &[u8] {
        self.entry(&self.items[k]).path.as_slice()
    }

    /// Refuses a file where a directory is, or the reverse (git's "D/F conflict").
    fn check_file_and_directory(&self, sorted: &[&Change]) -> Result<()> {
        let len = self.items.len();
        for (path, change) in sorted {
            if change.is_none() {
                continue;
            }
            let path = path.as_bytes();
            let under = [path, b"/"].concat();
            let k = partition_point(len, |k| self.path_at(k) < under.as_slice());
            let below = k < len && self.path_at(k).starts_with(&under);
            let above = path
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c == b'/')
                .any(|(n, _)| {
                    let k = partition_point(len, |k| self.path_at(k) < &path[..n]);
                    k < len && self.path_at(k) == &path[..n]
                });
            if below || above {
                return unsupported(format!(
                    "`{}` and another path in the index are a file and a directory",
                    String::from_utf8_lossy(path)
                ));
            }
        }
        Ok(())
    }

    /// Appends the header and the entries, in the format `version` (of the index read) leads to.
    /// `raw` is the index read, `ranges` where its entries are in it; `smudged` the old entries
    /// whose size must be written as 0 (see `racy`).
    fn put_entries(
        &self,
        out: &mut Vec<u8>,
        version: u32,
        raw: &[u8],
        ranges: &[std::ops::Range<usize>],
        smudged: &[bool],
    ) -> Result<()> {
        // Versions 2 and 3 differ only in extended flags: git writes 3 exactly when an entry has
        // them.
        let extended = self.items.iter().any(|item| {
            let e = self.entry(item);
            e.flags_extended != 0 || e.flags & EXTENDED != 0
        });
        let version: u32 = match version {
            4 => 4,
            _ if extended => 3,
            _ => 2,
        };
        out.extend_from_slice(b"DIRC");
        out.extend_from_slice(&version.to_be_bytes());
        let count = u32::try_from(self.items.len())
            .context("too many index entries (the format's limit is 2^32)")?;
        out.extend_from_slice(&count.to_be_bytes());
        let mut previous: &[u8] = &[];
        // Old entries are copied as they are, a run of them at a time; except in version 4 right
        // after a change, where an entry's bytes depend on the previous entry's path.
        let mut run = 0..0;
        let mut copyable = Some(0);
        for item in &self.items {
            let e = self.entry(item);
            match *item {
                Item::Old(i) if version != 4 || copyable == Some(i) => {
                    let range = &ranges[i];
                    if run.end != range.start {
                        out.extend_from_slice(&raw[run]);
                        run = range.start..range.start;
                    }
                    run.end = range.end;
                    if smudged[i] {
                        out.extend_from_slice(&raw[run]);
                        run = range.end..range.end;
                        // The size, the tenth 32-bit field.
                        let start = out.len() - range.len();
                        out[start + 36..start + 40].copy_from_slice(&0u32.to_be_bytes());
                    }
                }
                _ => {
                    out.extend_from_slice(&raw[run]);
                    run = 0..0;
                    put_entry(out, e, version, previous);
                }
            }
            copyable = match *item {
                Item::Old(i) => Some(i + 1),
                Item::New(_) => None,
            };
            previous = &e.path;
        }
        out.extend_from_slice(&raw[run]);
        Ok(())
    }
}

/// Appends the extensions kept: the cache tree (`TREE`) invalidated along the `changed` paths,
/// and the resolve-undo data (`REUC`); the others are dropped.
fn put_extensions(out: &mut Vec<u8>, ext: &[u8], changed: &HashSet<&[u8]>) -> Result<()> {
    // The directories holding a changed path, up to the root.
    let mut dirs: HashSet<&[u8]> = HashSet::new();
    if !changed.is_empty() {
        dirs.insert(b"");
    }
    for path in changed {
        for (n, &c) in path.iter().enumerate() {
            if c == b'/' {
                dirs.insert(&path[..n]);
            }
        }
    }
    let mut at = 0;
    while at + 8 <= ext.len() {
        let signature = &ext[at..at + 4];
        let size = reader::be32(ext, at + 4).expect("in bounds") as usize;
        let data = &ext[at + 8..at + 8 + size];
        at += 8 + size;
        match signature {
            b"TREE" => {
                let mut tree = Vec::with_capacity(data.len());
                // A cache tree we cannot read is dropped: git rebuilds it.
                if invalidate_tree(data, &dirs, &mut tree).is_some() {
                    let size = u32::try_from(tree.len()).context("a cache tree over 4 GiB")?;
                    out.extend_from_slice(b"TREE");
                    out.extend_from_slice(&size.to_be_bytes());
                    out.extend_from_slice(&tree);
                }
            }
            b"REUC" => out.extend_from_slice(&ext[at - 8 - size..at]),
            _ => {}
        }
    }
    Ok(())
}

/// An entry of the new index: an old one or a fresh one, by position.
enum Item {
    Old(usize),
    New(usize),
}

/// The first of `0..len` for which `before` is false (`before` holds for a prefix of them).
fn partition_point(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Appends `e` as index format `version` writes it, after an entry for `previous`.
fn put_entry(out: &mut Vec<u8>, e: &IndexEntry, version: u32, previous: &[u8]) {
    let start = out.len();
    for v in [
        e.ctime.seconds().cast_unsigned(),
        e.ctime.nanoseconds(),
        e.mtime.seconds().cast_unsigned(),
        e.mtime.nanoseconds(),
        e.dev,
        e.ino,
        e.mode,
        e.uid,
        e.gid,
        e.file_size,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(e.id.as_bytes());
    let mut flags = e.flags & !EXTENDED;
    if e.flags_extended != 0 {
        flags |= EXTENDED;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    if e.flags_extended != 0 {
        out.extend_from_slice(&e.flags_extended.to_be_bytes());
    }
    if version == 4 {
        // The previous path's bytes to drop, then what follows the common prefix.
        let common = previous
            .iter()
            .zip(&e.path)
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(out, (previous.len() - common) as u64);
        out.extend_from_slice(&e.path[common..]);
        out.push(0);
    } else {
        out.extend_from_slice(&e.path);
        // One to eight NULs, to a multiple of eight bytes from the entry's start.
        let len = out.len() - start;
        out.resize(start + ((len + 8) & !7), 0);
    }
}

fn fresh_len(changes: &[Change]) -> usize {
    changes.iter().map(|(p, _)| 72 + p.len()).sum()
}

/// git's variable-length integer (see `index::varint`).
pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    let mut buf = [0u8; 10];
    let mut at = buf.len() - 1;
    buf[at] = (value & 0x7f) as u8;
    value >>= 7;
    while value != 0 {
        value -= 1;
        at -= 1;
        buf[at] = 0x80 | (value & 0x7f) as u8;
        value >>= 7;
    }
    out.extend_from_slice(&buf[at..]);
}

/// Copies a cache tree (`TREE` data: for each directory, depth first, its name, entry count or
/// -1, subtree count and, if valid, tree id), marking invalid the nodes of `dirs` (paths without
/// a trailing slash; the root is ""). `None` if it cannot be read.
fn invalidate_tree(data: &[u8], dirs: &HashSet<&[u8]>, out: &mut Vec<u8>) -> Option<()> {
    fn node(
        data: &[u8],
        at: &mut usize,
        path: Vec<u8>,
        dirs: &HashSet<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let rest = data.get(*at..)?;
        let space = rest.iter().position(|&c| c == b' ')?;
        let newline = rest.iter().position(|&c| c == b'\n')?;
        if newline < space {
            return None;
        }
        let count: i64 = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let subtrees: usize = std::str::from_utf8(&rest[space + 1..newline])
            .ok()?
            .parse()
            .ok()?;
        *at += newline + 1;
        let id = if count >= 0 {
            let id = data.get(*at..*at + 20)?;
            *at += 20;
            Some(id)
        } else {
            None
        };
        match id {
            Some(id) if !dirs.contains(path.as_slice()) => {
                out.extend_from_slice(format!("{count} {subtrees}\n").as_bytes());
                out.extend_from_slice(id);
            }
            _ => out.extend_from_slice(format!("-1 {subtrees}\n").as_bytes()),
        }
        for _ in 0..subtrees {
            let name = data.get(*at..)?;
            let name = &name[..name.iter().position(|&c| c == 0)?];
            *at += name.len() + 1;
            out.extend_from_slice(name);
            out.push(0);
            let child = if path.is_empty() {
                name.to_vec()
            } else {
                [path.as_slice(), b"/", name].concat()
            };
            node(data, at, child, dirs, out)?;
        }
        Some(())
    }
    // The root's name is empty.
    if data.first() != Some(&0) {
        return None;
    }
    out.push(0);
    let mut at = 1;
    node(data, &mut at, Vec::new(), dirs, out)?;
    (at == data.len()).then_some(())
}

/// The low 32 bits of a stat field, as git's index keeps them: its stat fields are 32 bits
/// wide, and git truncates times, device and inode numbers and sizes on the way in
/// (`fill_stat_data`), so a truncated value is the one git compares with.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "git's index keeps the low 32 bits of each stat field"
)]
fn low32<T: Into<i128>>(value: T) -> u32 {
    value.into() as u32
}

/// Stat times as `(seconds, nanoseconds)`, truncated as the index keeps them.
struct Times {
    mtime: Time,
    ctime: Time,
}

#[cfg(unix)]
fn stat_times(m: &fs::Metadata) -> Times {
    use std::os::unix::fs::MetadataExt;
    Times {
        mtime: (low32(m.mtime()), low32(m.mtime_nsec())),
        ctime: (low32(m.ctime()), low32(m.ctime_nsec())),
    }
}

#[cfg(not(unix))]
fn stat_times(_: &fs::Metadata) -> Times {
    Times {
        mtime: (u32::MAX, 0),
        ctime: (u32::MAX, 0),
    }
}

/// A stage-0 entry for `path` with the stat data of the file in the work tree, as git records it.
#[cfg(unix)]
pub(super) fn fresh_entry(workdir: &Path, path: &str, id: Oid, mode: u32) -> Result<IndexEntry> {
    use std::os::unix::fs::MetadataExt;
    if ![REGULAR, EXECUTABLE, SYMLINK].contains(&mode) {
        bail!("`{path}`: unsupported mode {mode:o}");
    }
    let full = workdir.join(path);
    let m =
        fs::symlink_metadata(&full).with_context(|| format!("cannot stat `{}`", full.display()))?;
    let link = m.file_type().is_symlink();
    if (mode == SYMLINK) != link || !(link || m.is_file()) {
        bail!(
            "`{}` is not a {} in the work tree",
            full.display(),
            if mode == SYMLINK { "symlink" } else { "file" }
        );
    }
    let t = stat_times(&m);
    let len = u16::try_from(path.len()).map_or(NAME_MASK, |n| n.min(NAME_MASK));
    Ok(IndexEntry {
        ctime: IndexTime::new(t.ctime.0.cast_signed(), t.ctime.1),
        mtime: IndexTime::new(t.mtime.0.cast_signed(), t.mtime.1),
        dev: low32(m.dev()),
        ino: low32(m.ino()),
        mode,
        uid: m.uid(),
        gid: m.gid(),
        file_size: low32(m.size()),
        id,
        flags: len,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    })
}

#[cfg(not(unix))]
fn fresh_entry(_: &Path, _: &str, _: Oid, _: u32) -> Result<IndexEntry> {
    unsupported("writing the index needs unix stat data")
}

// Racy git (<https://git-scm.com/docs/racy-git>). An entry whose file's mtime is not older than
// the index file (git compares whole seconds) is "racily clean": the file may have changed in
// the same second after its stat data was taken, so git checks such an entry's content rather
// than trusting its stat data. Writing a newer index would end that protection; so when git writes
// the index (`ce_smudge_racily_clean_entry`), every entry racy against the index it read, and that
// it did not just verify, has its content compared, and if the content differs while the stat data
// still matches, its recorded size is set to 0 ("smudged"): a size git and `status` never trust.
//
// Here: the entries of the changed paths are fresh, and their files hold exactly their blobs (the
// caller wrote them), so -- like the entries git has just added -- they need no smudging. They
// may well be racy against the new index (written in the same second); then readers check their
// content, which matches: git's `status` does so (and rewrites the index), and so does
// `status::dirty`, which compares nanoseconds. Every other entry is treated as git treats it.

/// Is `e` racily clean against an index written at `timestamp`? Gitlinks never are.
fn racy(e: &IndexEntry, timestamp: Time) -> bool {
    stage(e.flags) == 0
        && e.mode & TYPE_MASK != GITLINK
        && e.mtime.seconds().cast_unsigned() >= timestamp.0
}

/// Smudges a racily clean entry whose file's content is not its blob while its stat data would
/// still tell git "unchanged"; whether it did.
fn smudge_if_modified(workdir: &Path, e: &mut IndexEntry, timestamp: Time) -> bool {
    let Ok(path) = std::str::from_utf8(&e.path) else {
        e.file_size = 0;
        return true;
    };
    let full = workdir.join(path);
    let Ok(m) = fs::symlink_metadata(&full) else {
        return false; // Deleted: git sees it.
    };
    let t = stat_times(&m);
    let recorded = (e.mtime.seconds().cast_unsigned(), e.mtime.nanoseconds());
    if low32(m.len()) != e.file_size || t.mtime.0 != recorded.0 {
        return false; // git sees the change in the stat data.
    }
    // Unchanged since the old index was written, to the nanosecond: a later write would have
    // given the file a later mtime (or ctime).
    let ctime = (e.ctime.seconds().cast_unsigned(), e.ctime.nanoseconds());
    if t.mtime == recorded && t.ctime == ctime && recorded < timestamp {
        return false;
    }
    let content = if m.file_type().is_symlink() {
        link_target(&full)
    } else {
        fs::read(&full).ok()
    };
    let modified = content.is_none_or(|c| blob_id(&c) != e.id);
    if modified {
        e.file_size = 0;
    }
    modified
}

#[cfg(unix)]
fn link_target(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Some(fs::read_link(path).ok()?.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn link_target(_: &Path) -> Option<Vec<u8>> {
    None
}
