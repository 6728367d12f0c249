//! `git status` restricted to a few paths, at the cost of those paths only.
//!
//! libgit2's `statuses()` with pathspecs still walks (and `lstat`s) the whole work tree and matches
//! every path against every pathspec: ~175 ms on a 24,000-file repository even to ask about one
//! file, seconds for thousands of paths. This does what git does: find the index entries under each
//! path by binary search, compare them with HEAD's subtree for that path, and walk only that part of
//! the work tree, trusting the stat data the index keeps for each file (and hashing the file when it
//! cannot). Like git's `core.preloadIndex`, the `lstat`s and the hashing of a big directory are
//! spread over a few threads, and the first `lstat`s overlap libgit2's reading of the index. What it
//! cannot decide on its own -- a file whose bytes differ from the index (a filter such as
//! `core.autocrlf` may explain it), a submodule -- is handed to libgit2 for exactly those paths, in
//! one call, so the verdicts stay libgit2's.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, DirEntry, FileType, Metadata};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ErrorCode, IndexEntry, IndexEntryExtendedFlag, IndexEntryFlag, Oid, Repository, Tree};

use crate::git::mode::{FILE_TYPE, GITLINK, SYMLINK, TYPE_MASK};
const PERMS: u32 = 0o777;

/// Paths under any of `paths` (repository-relative files or directories, `/`-separated; `.` is the
/// whole repository) that differ between HEAD and the index (staged), between the index and the work
/// tree (modified, deleted, mode changed), are conflicted, or are untracked and not ignored (files
/// in untracked directories are listed one by one). Sorted, without duplicates.
pub fn dirty(repo: &Repository, paths: &[String]) -> Result<Vec<String>> {
    dirty_listing(repo, paths).map(|(dirty, _)| dirty)
}

/// The regular files found directly in the directories a dirty check listed, by directory
/// (repository-relative): what a check that found nothing dirty vouched for.
#[derive(Debug, Default)]
pub struct Listing(HashMap<String, Vec<String>>);

impl Listing {
    /// The names of the regular files directly in `dir`, if the check listed it.
    pub fn files(&self, dir: &str) -> Option<&[String]> {
        self.0.get(dir).map(Vec::as_slice)
    }
}

/// [`dirty`], and what it listed.
pub fn dirty_listing(repo: &Repository, paths: &[String]) -> Result<(Vec<String>, Listing)> {
    let mut listing = Listing::default();
    let mut prefixes = Vec::new();
    let mut patterns = Vec::new();
    for p in paths {
        match prefix_of(p) {
            Some(prefix) => prefixes.push(prefix),
            None => patterns.push(p.as_bytes()),
        }
    }
    let mut out = BTreeSet::new();
    if !patterns.is_empty() {
        // Not a plain path: keep libgit2's reading of it (a pattern), and its cost.
        out.extend(libgit2_dirty(repo, patterns, false)?);
    }
    if !prefixes.is_empty() {
        let prefixes = outermost(prefixes);
        let workdir = repo
            .workdir()
            .context("the repository is bare; promote needs a checkout")?;
        let found = std::thread::scope(|s| {
            // The `lstat`s of the files directly in each directory asked about, while libgit2
            // reads the index on this thread: they are most of the cost, and need no index.
            let prefetch = s.spawn(|| {
                let mut listings = HashMap::new();
                for p in &prefixes {
                    let abs = workdir.join(os_path(p));
                    if fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir()) {
                        listings.insert(p.clone(), list(&abs, true));
                    }
                }
                crate::ui::trace("dirty check: listing done");
                listings
            });
            let mut scan = Scan::new(repo)?;
            crate::ui::trace("dirty check: index and HEAD read");
            scan.listings = prefetch
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            crate::ui::trace("dirty check: directories listed");
            for (dir, items) in &scan.listings {
                let files = items
                    .iter()
                    .filter(|i| i.kind.is_file())
                    .map(|i| String::from_utf8_lossy(&i.name).into_owned())
                    .collect();
                listing
                    .0
                    .insert(String::from_utf8_lossy(dir).into_owned(), files);
            }
            for prefix in &prefixes {
                scan.prefix(prefix)?;
            }
            crate::ui::trace("dirty check: compared");
            scan.finish()
        })?;
        out.extend(found);
    }
    let dirty = out
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok((dirty, listing))
}

/// The plain repository-relative path `p` names (empty for the whole repository), or `None` when
/// libgit2 would read it as something else: a pattern (`*`, `?`, `[`, `\`, a leading `!` or `#`), or
/// a path not in normal form (`./a`, `a/`, `a//b`).
fn prefix_of(p: &str) -> Option<Vec<u8>> {
    if p.is_empty() || p == "." {
        return Some(Vec::new());
    }
    let special = |c: char| {
        matches!(c, '*' | '?' | '[' | '\\') || c.is_control() || (c.is_whitespace() && c != ' ')
    };
    if p.starts_with(['!', '#'])
        || p.contains(special)
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    Some(p.as_bytes().to_vec())
}

/// The prefixes with those inside another one dropped (and duplicates), so each index entry and
/// each file belongs to one prefix at most.
fn outermost(mut prefixes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    prefixes.sort();
    prefixes.dedup();
    let all: HashSet<&[u8]> = prefixes.iter().map(Vec::as_slice).collect();
    if all.contains(&b""[..]) {
        return vec![Vec::new()];
    }
    let covered = |p: &[u8]| {
        p.iter()
            .enumerate()
            .any(|(i, &c)| c == b'/' && all.contains(&p[..i]))
    };
    prefixes.iter().filter(|p| !covered(p)).cloned().collect()
}

/// libgit2's answer for `specs`: patterns, or exact paths (and everything under them) if `exact`.
fn libgit2_dirty<'a>(
    repo: &Repository,
    specs: impl IntoIterator<Item = &'a [u8]>,
    exact: bool,
) -> Result<Vec<Vec<u8>>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .disable_pathspec_match(exact);
    for s in specs {
        opts.pathspec(s);
    }
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read `git status`")?;
    Ok(statuses
        .iter()
        .filter(|s| {
            s.status() != git2::Status::CURRENT && !s.status().contains(git2::Status::IGNORED)
        })
        .map(|s| s.path_bytes().to_vec())
        .collect())
}

/// A file in HEAD's tree: path, blob (or commit) id, mode.
type HeadEntry = (Vec<u8>, Oid, u32);

struct Scan<'r> {
    repo: &'r Repository,
    workdir: PathBuf,
    index: Index,
    /// The index file's mtime: an entry whose file is as new is "racily clean" (the file may have
    /// changed in the same tick, after git recorded its stat data), so its content is checked.
    index_mtime: Option<(i64, i64)>,
    head: Option<Tree<'r>>,
    /// HEAD's trees by directory, `None` where HEAD has no such directory.
    trees: HashMap<Vec<u8>, Option<Tree<'r>>>,
    /// Directories and whether the work tree shows what is under them (see `dir_visible`).
    dirs: HashMap<Vec<u8>, bool>,
    /// Directories listed ahead of the walk.
    listings: HashMap<Vec<u8>, Vec<Item>>,
    filemode: bool,
    trustctime: bool,
    symlinks: bool,
    dirty: BTreeSet<Vec<u8>>,
    /// Files whose stat data does not vouch for them: their content decides.
    hash: Vec<Suspect>,
    /// Paths for libgit2 to decide.
    confirm: Vec<Vec<u8>>,
}

/// The index entries under one prefix, in index order, and where each path's first one is.
struct Entries<'a> {
    list: &'a [IndexEntry],
    at: HashMap<&'a [u8], usize>,
}

/// The index, as read by `gitindex` or, where that declines, by libgit2.
enum Index {
    Own(std::sync::Arc<crate::git::index::Snapshot>),
    Libgit2(git2::Index),
}

impl Index {
    fn len(&self) -> usize {
        match self {
            Index::Own(index) => index.entries.len(),
            Index::Libgit2(index) => index.len(),
        }
    }

    fn get(&self, i: usize) -> Option<IndexEntry> {
        match self {
            Index::Own(index) => index.entries.get(i).map(dup),
            Index::Libgit2(index) => index.get(i),
        }
    }

    /// The position of the first entry whose path starts with `prefix`, if any.
    fn find_prefix(&self, prefix: &[u8]) -> Option<usize> {
        match self {
            Index::Own(index) => {
                let entries = &index.entries;
                let i = entries.partition_point(|e| e.path.as_slice() < prefix);
                entries
                    .get(i)
                    .is_some_and(|e| e.path.starts_with(prefix))
                    .then_some(i)
            }
            Index::Libgit2(index) => index.find_prefix(prefix).ok(),
        }
    }

    /// The stage-0 entry for `path`.
    fn get_path(&self, path: &[u8]) -> Option<IndexEntry> {
        match self {
            Index::Own(index) => {
                let entries = &index.entries;
                let i = entries.partition_point(|e| e.path.as_slice() < path);
                entries
                    .get(i)
                    .filter(|e| e.path == path && stage(e) == 0)
                    .map(dup)
            }
            Index::Libgit2(index) => index.get_path(&os_path(path), 0),
        }
    }
}

/// A tracked file to hash: its path, the index's blob id, and whether it is a symlink.
struct Suspect {
    path: Vec<u8>,
    id: Oid,
    link: bool,
}

impl<'r> Scan<'r> {
    fn new(repo: &'r Repository) -> Result<Scan<'r>> {
        let workdir = repo
            .workdir()
            .context("the repository is bare; promote needs a checkout")?
            .to_path_buf();
        // libgit2's defaults on unix when a key is unset.
        let config = repo.config().ok();
        let flag = |key: &str, unset: bool| {
            config
                .as_ref()
                .and_then(|c| c.get_bool(key).ok())
                .unwrap_or(unset)
        };
        let path = repo.path().join("index");
        let index_mtime = fs::metadata(&path).ok().map(|m| stat_of(&m).mtime);
        // Our own reader where the index is plain (see `gitindex`): a case-insensitive index is
        // ordered differently, and SHA-256 ids are longer.
        let sha1 = config
            .as_ref()
            .and_then(|c| c.get_string("extensions.objectformat").ok())
            .is_none_or(|f| f.eq_ignore_ascii_case("sha1"));
        let own = (sha1 && !flag("core.ignorecase", false))
            .then(|| crate::git::index::read_shared(&path))
            .flatten();
        crate::ui::trace("dirty check: index parsed");
        let index = match own {
            Some(index) => Index::Own(index),
            None => {
                let mut index = repo.index().context("cannot read the git index")?;
                index.read(false).context("cannot read the git index")?;
                Index::Libgit2(index)
            }
        };
        let head = match repo.head() {
            Ok(r) => Some(r.peel_to_tree().context("cannot read HEAD's tree")?),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
            Err(e) => return Err(e).context("cannot read HEAD"),
        };
        Ok(Scan {
            repo,
            workdir,
            index,
            index_mtime,
            head,
            trees: HashMap::new(),
            dirs: HashMap::new(),
            listings: HashMap::new(),
            filemode: flag("core.filemode", true),
            trustctime: flag("core.trustctime", true),
            symlinks: flag("core.symlinks", true),
            dirty: BTreeSet::new(),
            hash: Vec::new(),
            confirm: Vec::new(),
        })
    }

    /// Everything dirty under `prefix` (a path or, if empty, the whole repository).
    fn prefix(&mut self, prefix: &[u8]) -> Result<()> {
        let entries = self.entries_under(prefix);
        // Index vs HEAD: nothing to compare where git's cache tree says the index holds HEAD's
        // tree for the directory.
        let head = if self.index_is_head(prefix, &entries)? {
            Vec::new()
        } else {
            let head = self.head_under(prefix)?;
            self.staged(&entries, &head);
            head
        };
        let mut seen = vec![false; entries.len()];
        let mut at = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            at.entry(e.path.as_slice()).or_insert(i);
        }
        let tracked = Entries { list: &entries, at };
        self.worktree(prefix, &tracked, &head, &mut seen)?;
        for (e, seen) in entries.iter().zip(seen) {
            if e.mode == GITLINK {
                self.confirm.push(e.path.clone());
            } else if !seen {
                // Not in the work tree (or not where the work tree shows it): deleted.
                self.dirty.insert(e.path.clone());
            }
        }
        Ok(())
    }

    /// The index entries at `prefix` and under `prefix/`, in index order (path, then stage).
    fn entries_under(&self, prefix: &[u8]) -> Vec<IndexEntry> {
        let index = &self.index;
        let range = |start: Option<usize>, keep: &dyn Fn(&[u8]) -> bool| {
            let mut out = Vec::new();
            if let Some(start) = start {
                for i in start..index.len() {
                    match index.get(i) {
                        Some(e) if keep(&e.path) => out.push(e),
                        _ => break,
                    }
                }
            }
            out
        };
        if prefix.is_empty() {
            return range(Some(0), &|_| true);
        }
        let mut out = range(index.find_prefix(prefix), &|p| p == prefix);
        let dir = [prefix, b"/"].concat();
        out.extend(range(index.find_prefix(&dir[..]), &|p| p.starts_with(&dir)));
        out
    }

    /// HEAD's files at `prefix` and under `prefix/`, sorted by path.
    fn head_under(&mut self, prefix: &[u8]) -> Result<Vec<HeadEntry>> {
        let mut out = Vec::new();
        if prefix.is_empty() {
            if let Some(root) = self.head.clone() {
                self.walk_tree(&root, b"", &mut out)?;
            }
        } else {
            let (dir, name) = split(prefix);
            if let Some(tree) = self.head_tree(dir)? {
                if let Some(entry) = tree.get_name_bytes(name) {
                    if entry.kind() == Some(git2::ObjectType::Tree) {
                        let sub = self.repo.find_tree(entry.id())?;
                        self.walk_tree(&sub, &[prefix, b"/"].concat(), &mut out)?;
                    } else {
                        out.push((prefix.to_vec(), entry.id(), entry.filemode_raw() as u32));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn walk_tree(&self, tree: &Tree, base: &[u8], out: &mut Vec<HeadEntry>) -> Result<()> {
        for entry in tree.iter() {
            let path = [base, entry.name_bytes()].concat();
            if entry.kind() == Some(git2::ObjectType::Tree) {
                let sub = self
                    .repo
                    .find_tree(entry.id())
                    .context("cannot read HEAD's tree")?;
                self.walk_tree(&sub, &[&path[..], b"/"].concat(), out)?;
            } else {
                out.push((path, entry.id(), entry.filemode_raw() as u32));
            }
        }
        Ok(())
    }

    /// Whether the index entries under directory `prefix` (`entries`) are exactly HEAD's: git's
    /// cache tree holds, for the directory, HEAD's tree id and as many entries.
    fn index_is_head(&mut self, prefix: &[u8], entries: &[IndexEntry]) -> Result<bool> {
        let Index::Own(index) = &self.index else {
            return Ok(false);
        };
        let Some((id, count)) = index.tree.as_ref().and_then(|t| t.get(prefix)) else {
            return Ok(false);
        };
        if count != entries.len() || entries.iter().any(|e| stage(e) != 0) {
            return Ok(false);
        }
        let head = if prefix.is_empty() {
            self.head.as_ref().map(|t| t.id())
        } else {
            let (dir, name) = split(prefix);
            self.head_tree(dir)?.and_then(|tree| {
                tree.get_name_bytes(name)
                    .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                    .map(|e| e.id())
            })
        };
        Ok(head == Some(id))
    }

    /// HEAD's tree for directory `dir` (empty: the root), if HEAD has one.
    fn head_tree(&mut self, dir: &[u8]) -> Result<Option<Tree<'r>>> {
        if dir.is_empty() {
            return Ok(self.head.clone());
        }
        if let Some(t) = self.trees.get(dir) {
            return Ok(t.clone());
        }
        let (parent, name) = split(dir);
        let tree = match self.head_tree(parent)? {
            Some(parent) => match parent.get_name_bytes(name) {
                Some(e) if e.kind() == Some(git2::ObjectType::Tree) => Some(
                    self.repo
                        .find_tree(e.id())
                        .context("cannot read HEAD's tree")?,
                ),
                _ => None,
            },
            None => None,
        };
        self.trees.insert(dir.to_vec(), tree.clone());
        Ok(tree)
    }

    /// Index vs HEAD: added, deleted, changed (id or mode) and conflicted entries.
    fn staged(&mut self, entries: &[IndexEntry], head: &[HeadEntry]) {
        let mut h = head.iter().peekable();
        for e in entries {
            if stage(e) != 0 {
                self.dirty.insert(e.path.clone());
                continue;
            }
            while let Some((path, _, _)) = h.next_if(|(path, _, _)| *path < e.path) {
                self.dirty.insert(path.clone());
            }
            match h.next_if(|(path, _, _)| *path == e.path) {
                Some((_, id, mode)) if *id == e.id && *mode == e.mode => {}
                _ => {
                    self.dirty.insert(e.path.clone());
                }
            }
        }
        for (path, _, _) in h {
            self.dirty.insert(path.clone());
        }
    }

    /// Work tree vs index under `prefix`, and untracked files there. Marks the entries found.
    fn worktree(
        &mut self,
        prefix: &[u8],
        entries: &Entries,
        head: &[HeadEntry],
        seen: &mut [bool],
    ) -> Result<()> {
        if prefix.is_empty() {
            return self.walk(b"", entries, head, seen);
        }
        if !self.dir_visible(split(prefix).0)? {
            return Ok(());
        }
        let Ok(meta) = fs::symlink_metadata(self.abs(prefix)) else {
            return Ok(());
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            if is_gitlink(prefix, entries, head) {
                // A submodule: libgit2 looks at it (see `prefix`).
            } else if has_under(entries, prefix) {
                self.walk(prefix, entries, head, seen)?;
            } else {
                self.untracked_dir(prefix)?;
            }
        } else if kind.is_file() || kind.is_symlink() {
            self.file(prefix, &meta, entries, seen)?;
        }
        Ok(())
    }

    /// Is what lies under directory `dir` part of the work tree as libgit2 walks it? Not if `dir`
    /// (or a parent) is missing, not a directory (a symlink is not followed), a submodule, or a
    /// nested repository nothing is tracked in.
    fn dir_visible(&mut self, dir: &[u8]) -> Result<bool> {
        if dir.is_empty() {
            return Ok(true);
        }
        if let Some(&v) = self.dirs.get(dir) {
            return Ok(v);
        }
        let (parent, name) = split(dir);
        let mut visible = self.dir_visible(parent)?;
        if visible {
            let abs = self.abs(dir);
            visible = fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir());
            if visible {
                let in_index = self.index.get_path(dir);
                let in_head = self
                    .head_tree(parent)?
                    .and_then(|t| t.get_name_bytes(name).map(|e| e.filemode_raw() as u32));
                let gitlink =
                    in_index.is_some_and(|e| e.mode == GITLINK) || in_head == Some(GITLINK);
                let tracked = self.index.find_prefix(&[dir, b"/"].concat()[..]).is_some();
                visible = !gitlink && (tracked || !abs.join(".git").exists());
            }
        }
        self.dirs.insert(dir.to_vec(), visible);
        Ok(visible)
    }

    /// Walks directory `dir`, which has index entries under it.
    fn walk(
        &mut self,
        dir: &[u8],
        entries: &Entries,
        head: &[HeadEntry],
        seen: &mut [bool],
    ) -> Result<()> {
        for item in self.listing(dir, true) {
            let path = join(dir, &item.name);
            if item.kind.is_dir() {
                if is_gitlink(&path, entries, head) {
                    continue;
                }
                if has_under(entries, &path) {
                    self.walk(&path, entries, head, seen)?;
                } else {
                    self.untracked_dir(&path)?;
                }
            } else if let Some(meta) = &item.meta {
                self.file(&path, meta, entries, seen)?;
            }
            // (A file gone since it was listed stays unseen: deleted.)
        }
        Ok(())
    }

    /// A file (or symlink) in the work tree: tracked and compared, or untracked.
    fn file(
        &mut self,
        path: &[u8],
        meta: &Metadata,
        entries: &Entries,
        seen: &mut [bool],
    ) -> Result<()> {
        let Some(&first) = entries.at.get(path) else {
            return self.untracked_file(path);
        };
        let list = entries.list;
        let last = first + list[first..].partition_point(|e| e.path.as_slice() == path);
        seen[first..last].fill(true);
        self.compare(&list[first], meta, path)
    }

    /// Index entry `e` vs its file, as libgit2 decides it (`maybe_modified` in diff_generate.c):
    /// stat data first, then the content if the stat data cannot tell.
    fn compare(&mut self, e: &IndexEntry, meta: &Metadata, path: &[u8]) -> Result<()> {
        if stage(e) != 0 {
            self.dirty.insert(path.to_vec());
            return Ok(());
        }
        // Submodules are libgit2's (see `prefix`); "assume unchanged" and "skip worktree" mean clean.
        if e.mode == GITLINK
            || IndexEntryFlag::from_bits_truncate(e.flags).is_valid()
            || IndexEntryExtendedFlag::from_bits_truncate(e.flags_extended).is_skip_worktree()
        {
            return Ok(());
        }
        let st = stat_of(meta);
        let mut mode = if meta.file_type().is_symlink() {
            SYMLINK
        } else if st.mode & 0o100 != 0 {
            FILE_TYPE | 0o755
        } else {
            FILE_TYPE | 0o644
        };
        if !self.symlinks && e.mode & TYPE_MASK == SYMLINK && mode & TYPE_MASK == FILE_TYPE {
            mode = e.mode;
        }
        if !self.filemode && mode & PERMS != e.mode & PERMS {
            mode = (mode & !PERMS) | (e.mode & PERMS);
        }
        if mode != e.mode {
            self.dirty.insert(path.to_vec());
            return Ok(());
        }
        // The index keeps the size truncated to 32 bits. Another size is a change without reading
        // the file, for libgit2 as for git (even if a filter would turn the bytes into the blob's),
        // except from a size of 0 in the index, which may be git "smudging" a racily clean entry:
        // then the content decides.
        let size = st.size as u32;
        if size != e.file_size && !(e.file_size == 0 && size > 0) {
            self.dirty.insert(path.to_vec());
            return Ok(());
        }
        let same_stat = size == e.file_size
            && st.mtime == (e.mtime.seconds() as i64, e.mtime.nanoseconds() as i64)
            && (!self.trustctime
                || st.ctime == (e.ctime.seconds() as i64, e.ctime.nanoseconds() as i64))
            && st.ino as u32 == e.ino;
        if same_stat && !self.racy(st.mtime) {
            return Ok(());
        }
        self.hash.push(Suspect {
            path: path.to_vec(),
            id: e.id,
            link: meta.file_type().is_symlink(),
        });
        Ok(())
    }

    /// Is a file with this mtime as new as the index file (so it may have changed after git recorded
    /// its stat data, in the same tick)?
    fn racy(&self, mtime: (i64, i64)) -> bool {
        match self.index_mtime {
            Some(index) => index <= mtime,
            None => false,
        }
    }

    fn untracked_file(&mut self, path: &[u8]) -> Result<()> {
        if !self.ignored(path)? {
            self.dirty.insert(path.to_vec());
        }
        Ok(())
    }

    /// A directory with nothing tracked in it: its files one by one, as libgit2 lists them with
    /// `recurse_untracked_dirs`; a nested repository as `dir/`, if anything in it is not ignored.
    fn untracked_dir(&mut self, dir: &[u8]) -> Result<()> {
        if self.ignored(dir)? {
            return Ok(());
        }
        if self.abs(dir).join(".git").exists() {
            if self.anything_unignored(dir)? {
                self.dirty.insert([dir, b"/"].concat());
            }
            return Ok(());
        }
        for item in self.listing(dir, false) {
            let path = join(dir, &item.name);
            if item.kind.is_dir() {
                self.untracked_dir(&path)?;
            } else if is_file(item.kind) {
                self.untracked_file(&path)?;
            }
        }
        Ok(())
    }

    fn anything_unignored(&mut self, dir: &[u8]) -> Result<bool> {
        for item in self.listing(dir, false) {
            let path = join(dir, &item.name);
            if is_file(item.kind) && !self.ignored(&path)?
                || item.kind.is_dir() && !self.ignored(&path)? && self.anything_unignored(&path)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn ignored(&self, path: &[u8]) -> Result<bool> {
        self.repo
            .is_path_ignored(os_path(path))
            .with_context(|| format!("cannot read the ignore rules for `{}`", show(path)))
    }

    /// Directory `dir`'s entries (see `list`).
    fn listing(&mut self, dir: &[u8], stat: bool) -> Vec<Item> {
        match self.listings.remove(dir) {
            Some(items) => items,
            None => list(&self.abs(dir), stat),
        }
    }

    fn abs(&self, path: &[u8]) -> PathBuf {
        if path.is_empty() {
            self.workdir.clone()
        } else {
            self.workdir.join(os_path(path))
        }
    }

    /// The dirty paths, once the suspects are hashed and libgit2 has decided on what is left.
    fn finish(mut self) -> Result<BTreeSet<Vec<u8>>> {
        let workdir = &self.workdir;
        let clean = crate::par::map(&self.hash, 64, |s| {
            same_content(&workdir.join(os_path(&s.path)), s)
        });
        for (s, clean) in self.hash.iter().zip(clean) {
            if !clean {
                self.confirm.push(s.path.clone());
            }
        }
        if !self.confirm.is_empty() {
            self.confirm.sort();
            self.confirm.dedup();
            let confirmed = libgit2_dirty(self.repo, self.confirm.iter().map(Vec::as_slice), true)?;
            self.dirty.extend(confirmed);
        }
        Ok(self.dirty)
    }
}

/// Does the file hold the index's blob, as libgit2 would hash it? `false` when unsure: libgit2
/// decides those.
fn same_content(abs: &Path, s: &Suspect) -> bool {
    let content = if s.link {
        fs::read_link(abs).map(|t| path_bytes(&t).into_owned())
    } else {
        fs::read(abs)
    };
    let Ok(bytes) = content else { return false };
    // The same bytes as the blob: clean, unless a filter libgit2 applies when it hashes the file
    // could change them (CRLF -> LF, `$Id: ...$` -> `$Id$`).
    (s.link || !may_be_filtered(&bytes))
        && Oid::hash_object(git2::ObjectType::Blob, &bytes).is_ok_and(|id| id == s.id)
}

/// An entry of a work-tree directory; `meta` is its `lstat` data if it is a file or symlink and
/// was asked for.
struct Item {
    name: Vec<u8>,
    kind: FileType,
    meta: Option<Metadata>,
}

/// The entries of directory `abs` but `.git` (skipped in any case, as libgit2 does), none if it
/// cannot be read (gone, not a directory any more). With `stat`, the files' and symlinks'
/// `lstat` data too, on several threads for a big directory (what git's `core.preloadIndex` does):
/// a file that vanished meanwhile is left out.
fn list(abs: &Path, stat: bool) -> Vec<Item> {
    let Ok(items) = fs::read_dir(abs) else {
        return Vec::new();
    };
    let items: Vec<(DirEntry, FileType)> = items
        .filter_map(|i| i.ok())
        .filter(|i| !name_of(i).eq_ignore_ascii_case(b".git"))
        .filter_map(|i| i.file_type().ok().map(|t| (i, t)))
        .filter(|(_, t)| t.is_dir() || is_file(*t))
        .collect();
    let metas = crate::par::map(&items, 256, |(item, kind)| {
        if stat && is_file(*kind) {
            item.metadata().ok()
        } else {
            None
        }
    });
    items
        .into_iter()
        .zip(metas)
        .filter(|((_, kind), meta)| kind.is_dir() || !stat || meta.is_some())
        .map(|((item, kind), meta)| Item {
            name: name_of(&item),
            kind,
            meta,
        })
        .collect()
}

/// What libgit2 lists as a file: a regular file or a symlink (not a fifo, socket or device).
fn is_file(kind: FileType) -> bool {
    kind.is_file() || kind.is_symlink()
}

/// A copy of an entry (`IndexEntry` is not `Clone`).
fn dup(e: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: e.ctime,
        mtime: e.mtime,
        path: e.path.clone(),
        ..*e
    }
}

fn stage(e: &IndexEntry) -> u16 {
    crate::git::mode::stage(e.flags)
}

/// Any index entry strictly under directory `dir`?
fn has_under(entries: &Entries, dir: &[u8]) -> bool {
    let entries = entries.list;
    let key = [dir, b"/"].concat();
    let i = entries.partition_point(|e| e.path < key);
    entries.get(i).is_some_and(|e| e.path.starts_with(&key))
}

/// Is `path` a submodule (in the index or in HEAD)? libgit2 does not walk into those.
fn is_gitlink(path: &[u8], entries: &Entries, head: &[HeadEntry]) -> bool {
    let entries = entries.list;
    let i = entries.partition_point(|e| e.path.as_slice() < path);
    let j = head.partition_point(|h| h.0.as_slice() < path);
    entries
        .get(i)
        .is_some_and(|e| e.path == path && e.mode == GITLINK)
        || head.get(j).is_some_and(|h| h.0 == path && h.2 == GITLINK)
}

/// Could libgit2's filters (`crlf`, `ident`) turn these bytes into different ones?
fn may_be_filtered(bytes: &[u8]) -> bool {
    bytes.contains(&b'\r') || bytes.windows(3).any(|w| w == b"$Id")
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

fn show(path: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// What git's stat data compares, from `lstat`.
struct Stat {
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

#[cfg(unix)]
fn stat_of(m: &Metadata) -> Stat {
    use std::os::unix::fs::MetadataExt;
    // libgit2 keeps the seconds as 32 bits.
    Stat {
        mode: m.mode(),
        size: m.size(),
        mtime: (m.mtime() as i32 as i64, m.mtime_nsec()),
        ctime: (m.ctime() as i32 as i64, m.ctime_nsec()),
        ino: m.ino(),
    }
}

#[cfg(not(unix))]
fn stat_of(m: &Metadata) -> Stat {
    // No inode or ctime here: never equal to the index's, so the content decides.
    Stat {
        mode: 0o644,
        size: m.len(),
        mtime: (-1, -1),
        ctime: (-1, -1),
        ino: 0,
    }
}

#[cfg(unix)]
fn os_path(path: &[u8]) -> Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(path)))
}

#[cfg(not(unix))]
fn os_path(path: &[u8]) -> Cow<'_, Path> {
    Cow::Owned(PathBuf::from(String::from_utf8_lossy(path).into_owned()))
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    Cow::Borrowed(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    Cow::Owned(path.to_string_lossy().replace('\\', "/").into_bytes())
}

fn name_of(item: &DirEntry) -> Vec<u8> {
    path_bytes(Path::new(&item.file_name())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, SystemTime};

    /// The implementation this module replaces: libgit2's `statuses()` with pathspecs.
    fn slow_dirty(repo: &Repository, paths: &[String]) -> Result<Vec<String>> {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        for p in paths {
            opts.pathspec(p);
        }
        let statuses = repo
            .statuses(Some(&mut opts))
            .context("cannot read `git status`")?;
        let mut out: Vec<String> = statuses
            .iter()
            .filter(|s| {
                s.status() != git2::Status::CURRENT && !s.status().contains(git2::Status::IGNORED)
            })
            .filter_map(|s| s.path().map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A work tree in a temp dir, driven with the `git` binary (no user or system config).
    struct T {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
    }

    impl T {
        /// A repository with one commit: `d/a`, `d/b`, `d/sub/c`, `dx/f`, `top`.
        fn new() -> T {
            let t = T::unborn();
            t.write("d/a", "alpha\n");
            t.write("d/b", "bravo\n");
            t.write("d/sub/c", "charlie\n");
            t.write("dx/f", "foxtrot\n");
            t.write("top", "top\n");
            t.git(&["add", "-A"]);
            t.git(&["commit", "-q", "-m", "init"]);
            t
        }

        fn unborn() -> T {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().canonicalize().unwrap();
            let t = T { _tmp: tmp, dir };
            t.git(&["init", "-q", "-b", "main"]);
            t
        }

        fn git(&self, args: &[&str]) -> String {
            let out = Command::new("git")
                .current_dir(&self.dir)
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_AUTHOR_NAME", "T")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "T")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.join(rel)
        }

        fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
            let p = self.path(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }

        fn set_mtime(&self, rel: &str, t: SystemTime) {
            let f = fs::File::options()
                .write(true)
                .open(self.path(rel))
                .unwrap();
            f.set_modified(t).unwrap();
        }

        fn mtime(&self, rel: &str) -> SystemTime {
            fs::metadata(self.path(rel)).unwrap().modified().unwrap()
        }

        /// Asserts that both implementations answer `expected` for `paths`.
        #[track_caller]
        fn check(&self, paths: &[&str], expected: &[&str]) {
            let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
            // A fresh handle each time: libgit2 caches the index.
            let repo = Repository::open(&self.dir).unwrap();
            let fast = dirty(&repo, &paths).unwrap();
            let repo = Repository::open(&self.dir).unwrap();
            let slow = slow_dirty(&repo, &paths).unwrap();
            assert_eq!(fast, slow, "fast vs libgit2 for {paths:?}");
            assert_eq!(fast, expected, "for {paths:?}");
        }
    }

    #[test]
    fn every_index_format_and_the_libgit2_fallback() {
        // Versions 2-4 are read by `gitindex`, the index of a case-insensitive repository by
        // libgit2. The answers are the same. (libgit2 cannot read a split index at all.)
        let t = T::new();
        t.write("d/a", "changed\n");
        t.write("d/sub/new", "new\n");
        t.git(&["add", "d/sub/new"]);
        t.write("dx/untracked", "u\n");
        let expected = ["d/a", "d/sub/new", "dx/untracked"];
        for version in ["2", "3", "4"] {
            t.git(&["update-index", "--index-version", version]);
            t.check(&["d", "dx", "top"], &expected);
        }
        t.git(&["config", "core.ignorecase", "true"]);
        t.check(&["d", "dx", "top"], &expected);
    }

    #[test]
    fn clean_tree() {
        let t = T::new();
        t.check(&["d"], &[]);
        t.check(&["d", "dx", "top"], &[]);
        t.check(&["d/sub/c"], &[]);
        // Clean after git has refreshed the index too.
        t.git(&["status", "--porcelain"]);
        t.check(&["d", "top"], &[]);
    }

    #[test]
    fn modified_same_size_right_after_the_index_was_written() {
        let t = T::new();
        t.write("d/a", "ALPHA\n");
        t.check(&["d"], &["d/a"]);
        t.check(&["dx", "top"], &[]);
    }

    #[test]
    fn racily_clean_entries_are_hashed() {
        // The file's mtime is newer than the index, and the stat data (ctime aside) still matches
        // after a same-size rewrite: only the racy check catches it.
        let t = T::new();
        t.git(&["config", "core.trustctime", "false"]);
        let future = SystemTime::now() + Duration::from_secs(3600);
        t.set_mtime("d/a", future);
        t.set_mtime("d/b", future);
        // libgit2 writes the index without smudging racily clean entries.
        let repo = Repository::open(&t.dir).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("d/a")).unwrap();
        index.add_path(Path::new("d/b")).unwrap();
        index.write().unwrap();
        t.write("d/a", "ALPHA\n");
        t.set_mtime("d/a", future);
        let e = index.get_path(Path::new("d/a"), 0).unwrap();
        assert_eq!(e.file_size, 6, "the entry is not smudged");
        t.check(&["d"], &["d/a"]);
        t.check(&["d/b"], &[]);
    }

    #[test]
    fn a_big_directory_on_several_threads() {
        // Enough files for the `lstat`s and the hashing to be spread over threads.
        let t = T::new();
        for i in 0..600 {
            t.write(&format!("big/f{i:03}"), format!("file {i}\n"));
        }
        t.git(&["add", "-A"]);
        t.git(&["commit", "-q", "-m", "big"]);
        t.git(&["status", "--porcelain"]);
        t.check(&["big"], &[]);
        let later = t.mtime("big/f000") + Duration::from_secs(5);
        for i in 0..600 {
            t.set_mtime(&format!("big/f{i:03}"), later);
        }
        t.write("big/f007", "FILE 7\n");
        t.write("big/f500", "changed size\n");
        fs::remove_file(t.path("big/f123")).unwrap();
        t.write("big/new", "new\n");
        t.check(&["big"], &["big/f007", "big/f123", "big/f500", "big/new"]);
        t.check(&["big/f007", "big/f008"], &["big/f007"]);
    }

    #[test]
    fn modified_different_size() {
        let t = T::new();
        t.write("d/sub/c", "charlie and more\n");
        t.check(&["d"], &["d/sub/c"]);
        t.check(&["d/sub"], &["d/sub/c"]);
        t.check(&["d/a"], &[]);
    }

    #[test]
    fn touched_with_the_same_content_is_clean() {
        let t = T::new();
        let later = t.mtime("d/a") + Duration::from_secs(5);
        t.set_mtime("d/a", later);
        t.set_mtime("top", later);
        t.check(&["d", "top"], &[]);
        // And a rewrite with the same bytes (new ctime and mtime).
        t.write("d/b", "bravo\n");
        t.check(&["d", "top"], &[]);
    }

    #[test]
    fn deleted_file() {
        let t = T::new();
        fs::remove_file(t.path("d/b")).unwrap();
        t.check(&["d"], &["d/b"]);
        t.check(&["d/b"], &["d/b"]);
        fs::remove_dir_all(t.path("d/sub")).unwrap();
        t.check(&["d"], &["d/b", "d/sub/c"]);
        t.check(&["d/sub"], &["d/sub/c"]);
    }

    #[test]
    fn staged_new_file() {
        let t = T::new();
        t.write("d/new", "new\n");
        t.git(&["add", "d/new"]);
        t.check(&["d"], &["d/new"]);
        t.check(&["d/new"], &["d/new"]);
        t.check(&["dx"], &[]);
    }

    #[test]
    fn staged_modification_reverted_in_the_work_tree() {
        let t = T::new();
        t.write("d/a", "staged\n");
        t.git(&["add", "d/a"]);
        t.write("d/a", "alpha\n");
        t.check(&["d"], &["d/a"]);
    }

    #[test]
    fn staged_deletion() {
        let t = T::new();
        t.git(&["rm", "-q", "--cached", "d/b"]);
        // Deleted from the index, and untracked in the work tree.
        t.check(&["d"], &["d/b"]);
        t.git(&["rm", "-q", "d/a"]);
        t.check(&["d"], &["d/a", "d/b"]);
        t.check(&["d/a"], &["d/a"]);
    }

    #[test]
    fn untracked_files() {
        let t = T::new();
        t.write("d/u", "u\n");
        t.write("d/new/deeper/x", "x\n");
        t.write("d/new/y", "y\n");
        fs::create_dir_all(t.path("d/empty/dir")).unwrap();
        t.check(&["d"], &["d/new/deeper/x", "d/new/y", "d/u"]);
        t.check(&["d/new"], &["d/new/deeper/x", "d/new/y"]);
        t.check(&["d/u"], &["d/u"]);
        t.check(&["d/empty"], &[]);
        t.check(&["dx"], &[]);
    }

    #[test]
    fn ignored_files_are_not_dirty() {
        let t = T::new();
        t.write(".gitignore", "*.log\nbuild/\n!keep.log\n");
        t.git(&["add", ".gitignore"]);
        t.git(&["commit", "-q", "-m", "ignore"]);
        t.write("d/x.log", "log\n");
        t.write("d/keep.log", "keep\n");
        t.write("d/build/out", "out\n");
        t.write("d/new/x.log", "log\n");
        t.write("d/new/build/y", "y\n");
        t.write("d/new/z", "z\n");
        t.check(&["d"], &["d/keep.log", "d/new/z"]);
        t.check(&["d/x.log", "d/build", "d/build/out"], &[]);
        // A tracked file in an ignored directory is still tracked.
        t.write("d/build/tracked", "t\n");
        t.git(&["add", "-f", "d/build/tracked"]);
        t.check(&["d/build"], &["d/build/tracked"]);
        t.git(&["commit", "-q", "-m", "tracked"]);
        t.write("d/build/tracked", "changed\n");
        t.check(&["d/build"], &["d/build/tracked"]);
    }

    #[test]
    fn executable_bit() {
        use std::os::unix::fs::PermissionsExt;
        let t = T::new();
        fs::set_permissions(t.path("d/a"), fs::Permissions::from_mode(0o755)).unwrap();
        t.check(&["d"], &["d/a"]);
        t.git(&["config", "core.filemode", "false"]);
        t.check(&["d"], &[]);
    }

    #[test]
    fn a_prefix_matches_itself_and_what_is_under_it_only() {
        let t = T::new();
        t.write("dx/f", "changed\n");
        t.write("d.txt", "untracked\n");
        t.write("d-x/u", "untracked\n");
        t.check(&["d"], &[]);
        t.check(&["dx"], &["dx/f"]);
        t.check(&["d", "dx/f"], &["dx/f"]);
        t.check(&["d.txt"], &["d.txt"]);
        t.check(&["d/a", "d/b"], &[]);
        t.write("d/a", "changed a\n");
        t.check(&["d/a", "d/b"], &["d/a"]);
        t.check(&["d/b"], &[]);
        // Overlapping prefixes.
        t.check(&["d", "d/a", "d/sub", "d"], &["d/a"]);
    }

    #[test]
    fn prefixes_that_do_not_exist() {
        let t = T::new();
        t.write("d/a", "changed a\n");
        t.check(&["nope"], &[]);
        t.check(
            &[
                "nope/deeper",
                "d/nope",
                "top/under-a-file",
                "d/a/under-a-file",
            ],
            &[],
        );
        t.check(&["nope", "d"], &["d/a"]);
    }

    #[test]
    fn unborn_repository() {
        let t = T::unborn();
        t.write("d/a", "a\n");
        t.write("d/b", "b\n");
        t.write("e/c", "c\n");
        t.check(&["d"], &["d/a", "d/b"]);
        t.git(&["add", "d/a"]);
        t.check(&["d"], &["d/a", "d/b"]);
        t.check(&["d/a", "e"], &["d/a", "e/c"]);
    }

    #[test]
    fn conflicts_are_dirty() {
        let t = T::new();
        t.git(&["checkout", "-q", "-b", "other"]);
        t.write("d/a", "other\n");
        t.git(&["commit", "-q", "-am", "other"]);
        t.git(&["checkout", "-q", "main"]);
        t.write("d/a", "main\n");
        t.git(&["commit", "-q", "-am", "main"]);
        let out = Command::new("git")
            .current_dir(&t.dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(["merge", "-q", "other"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the merge conflicts");
        t.check(&["d"], &["d/a"]);
        t.check(&["d/a"], &["d/a"]);
        t.check(&["dx"], &[]);
    }

    #[test]
    fn symlinks() {
        let t = T::new();
        std::os::unix::fs::symlink("a", t.path("d/link")).unwrap();
        t.check(&["d"], &["d/link"]);
        t.git(&["add", "d/link"]);
        t.git(&["commit", "-q", "-m", "link"]);
        t.check(&["d"], &[]);
        // Same length target, different target.
        fs::remove_file(t.path("d/link")).unwrap();
        std::os::unix::fs::symlink("b", t.path("d/link")).unwrap();
        t.check(&["d"], &["d/link"]);
        // A symlink where a file was.
        fs::remove_file(t.path("d/link")).unwrap();
        std::os::unix::fs::symlink("a", t.path("d/link")).unwrap();
        fs::remove_file(t.path("top")).unwrap();
        std::os::unix::fs::symlink("d/a", t.path("top")).unwrap();
        t.check(&["d", "top"], &["top"]);
    }

    #[test]
    fn a_directory_replaced_by_a_symlink_is_not_followed() {
        let t = T::new();
        fs::rename(t.path("d/sub"), t.path("elsewhere")).unwrap();
        std::os::unix::fs::symlink("../elsewhere", t.path("d/sub")).unwrap();
        t.check(&["d/sub"], &["d/sub", "d/sub/c"]);
        t.check(&["d/sub/c"], &["d/sub/c"]);
        t.check(&["d"], &["d/sub", "d/sub/c"]);
    }

    #[test]
    fn a_file_replaced_by_a_directory_and_back() {
        let t = T::new();
        fs::remove_file(t.path("d/a")).unwrap();
        t.write("d/a/inside", "x\n");
        t.check(&["d"], &["d/a", "d/a/inside"]);
        t.check(&["d/a"], &["d/a", "d/a/inside"]);
        fs::remove_dir_all(t.path("d/sub")).unwrap();
        t.write("d/sub", "now a file\n");
        t.check(&["d/sub"], &["d/sub", "d/sub/c"]);
        t.check(&["d/sub/c"], &["d/sub/c"]);
    }

    #[test]
    fn nested_repositories() {
        let t = T::new();
        // Untracked, with a file in it: libgit2 lists the directory, `d/nested/`.
        t.write("d/nested/f", "f\n");
        t.git(&["-C", "d/nested", "init", "-q"]);
        t.check(&["d"], &["d/nested/"]);
        t.check(&["d/nested"], &["d/nested/"]);
        t.check(&["d/nested/f"], &[]);
        // A submodule (a gitlink in the index).
        let sub = T::new();
        t.git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.dir.to_str().unwrap(),
            "e/sub",
        ]);
        t.git(&["commit", "-q", "-m", "submodule"]);
        t.check(&["e"], &[]);
        t.check(&["e/sub"], &[]);
        // Its checkout moves to another commit.
        t.write("e/sub/top", "moved\n");
        t.git(&["-C", "e/sub", "commit", "-q", "-am", "moved"]);
        t.check(&["e"], &["e/sub"]);
    }

    #[test]
    fn autocrlf() {
        let t = T::new();
        t.git(&["config", "core.autocrlf", "true"]);
        t.write("d/crlf", "one\r\ntwo\r\n");
        t.git(&["add", "d/crlf"]);
        t.git(&["commit", "-q", "-m", "crlf"]);
        t.check(&["d"], &[]);
        // Touched: the bytes differ from the blob (LF), but not once converted.
        let later = t.mtime("d/crlf") + Duration::from_secs(5);
        t.set_mtime("d/crlf", later);
        t.check(&["d"], &[]);
        // The blob's own bytes (LF) in the work tree: another size than the index records, and
        // that is a change for libgit2 (and git).
        t.write("d/crlf", "one\ntwo\n");
        t.check(&["d"], &["d/crlf"]);
        t.write("d/crlf", "one\r\nTWO\r\n");
        t.check(&["d"], &["d/crlf"]);
    }

    #[test]
    fn text_auto_with_crlf_both_ways() {
        let t = T::new();
        // Committed with CRLF before `.gitattributes` said `text=auto`: the blob keeps the CRs.
        t.write("d/before", "one\r\ntwo\r\n");
        t.git(&["add", "d/before"]);
        t.git(&["commit", "-q", "-m", "before"]);
        t.write(".gitattributes", "* text=auto\n");
        // Committed with CRLF after: the blob has LF.
        t.write("d/after", "three\r\nfour\r\n");
        t.git(&["add", ".gitattributes", "d/after"]);
        t.git(&["commit", "-q", "-m", "after"]);
        let blob = t.git(&["cat-file", "-p", "HEAD:d/after"]);
        assert_eq!(blob, "three\nfour\n");
        t.check(&["d"], &[]);
        for f in ["d/before", "d/after"] {
            let later = t.mtime(f) + Duration::from_secs(5);
            t.set_mtime(f, later);
        }
        t.check(&["d"], &[]);
        t.write("d/after", "three\r\nFOUR\r\n");
        t.check(&["d"], &["d/after"]);
        t.write("d/before", "one\r\nTWO\r\n");
        t.check(&["d"], &["d/after", "d/before"]);
    }

    #[test]
    fn forced_text_over_a_crlf_blob_is_libgit2s_call() {
        // A blob with CRLF under `text`: git would store LF now, so libgit2 calls the file modified
        // once its stat data no longer vouches for it, although its bytes are the blob's.
        let t = T::new();
        t.write("d/crlf", "one\r\ntwo\r\n");
        // Older than the index, so git does not find it racily clean and smudge its entry.
        let earlier = t.mtime("d/crlf") - Duration::from_secs(5);
        t.set_mtime("d/crlf", earlier);
        t.git(&["add", "d/crlf"]);
        t.git(&["commit", "-q", "-m", "crlf"]);
        t.write(".gitattributes", "* text\n");
        t.git(&["add", ".gitattributes"]);
        t.git(&["commit", "-q", "-m", "text"]);
        t.check(&["d"], &[]);
        let later = t.mtime("d/crlf") + Duration::from_secs(5);
        t.set_mtime("d/crlf", later);
        t.check(&["d"], &["d/crlf"]);
    }

    #[test]
    fn the_whole_repository() {
        let t = T::new();
        t.write("d/a", "changed\n");
        t.write("new", "new\n");
        let repo = Repository::open(&t.dir).unwrap();
        let all = slow_dirty(&repo, &[]).unwrap();
        assert_eq!(all, ["d/a", "new"]);
        // libgit2 reads `.` as a pattern matching nothing; it is the whole repository here.
        t.check(&[""], &["d/a", "new"]);
        let fast = dirty(&repo, &[".".to_string()]).unwrap();
        assert_eq!(fast, all);
        // No paths: nothing (libgit2 would answer for the whole repository).
        assert_eq!(dirty(&repo, &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn patterns_and_odd_paths_keep_libgit2s_reading() {
        let t = T::new();
        t.write("d/a", "changed\n");
        t.write("dx/f", "changed\n");
        t.check(&["d*"], &["d/a", "dx/f"]);
        t.check(&["d/?"], &["d/a"]);
        t.check(&["d/", "top"], &["d/a"]);
        t.check(&["./d"], &[]);
    }

    #[test]
    fn prefix_of_reads_plain_paths_only() {
        assert_eq!(prefix_of("."), Some(vec![]));
        assert_eq!(prefix_of("a/b c"), Some(b"a/b c".to_vec()));
        for p in [
            "a*", "a/?", "[a]", "a\\b", "!a", "#a", "a/", "/a", "a//b", "./a", "a/../b", "a\tb",
        ] {
            assert_eq!(prefix_of(p), None, "{p}");
        }
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            outermost(v(&["d/a", "d", "dx/f", "d-x", "d/a", "d/sub/c"])),
            v(&["d", "d-x", "dx/f"])
        );
        assert_eq!(outermost(v(&["d", ""])), v(&[""]));
    }
}
