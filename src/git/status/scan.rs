//! The scan of one dirty check: the index entries and HEAD's tree under each prefix, compared.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::{ErrorCode, IndexEntry, Oid, Repository, Tree};

use super::*;

/// A file in HEAD's tree: path, blob (or commit) id, mode.
pub(super) type HeadEntry = (Vec<u8>, Oid, u32);

pub(super) struct Scan<'r> {
    pub(super) repo: &'r Repository,
    pub(super) workdir: PathBuf,
    pub(super) index: Index,
    /// The index file's mtime: an entry whose file is as new is "racily clean" (the file may have
    /// changed in the same tick, after git recorded its stat data), so its content is checked.
    pub(super) index_mtime: Option<(i64, i64)>,
    head: Option<Tree<'r>>,
    /// HEAD's trees by directory, `None` where HEAD has no such directory.
    trees: HashMap<Vec<u8>, Option<Tree<'r>>>,
    /// Directories and whether the work tree shows what is under them (see `dir_visible`).
    pub(super) dirs: HashMap<Vec<u8>, bool>,
    /// Directories listed ahead of the walk.
    pub(super) listings: HashMap<Vec<u8>, Vec<Item>>,
    pub(super) filemode: bool,
    pub(super) trustctime: bool,
    pub(super) symlinks: bool,
    pub(super) dirty: BTreeSet<Vec<u8>>,
    /// Files whose stat data does not vouch for them: their content decides.
    pub(super) hash: Vec<Suspect>,
    /// Paths for libgit2 to decide.
    pub(super) confirm: Vec<Vec<u8>>,
}

/// The index entries under one prefix, in index order, and where each path's first one is.
pub(super) struct Entries<'a> {
    pub(super) list: &'a [IndexEntry],
    pub(super) at: HashMap<&'a [u8], usize>,
}

/// The index, as read by `gitindex` or, where that declines, by libgit2.
pub(super) enum Index {
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
    pub(super) fn find_prefix(&self, prefix: &[u8]) -> Option<usize> {
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
    pub(super) fn get_path(&self, path: &[u8]) -> Option<IndexEntry> {
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
pub(super) struct Suspect {
    pub(super) path: Vec<u8>,
    pub(super) id: Oid,
    pub(super) link: bool,
}

impl<'r> Scan<'r> {
    pub(super) fn new(repo: &'r Repository) -> Result<Scan<'r>> {
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
    pub(super) fn prefix(&mut self, prefix: &[u8]) -> Result<()> {
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
    pub(super) fn head_tree(&mut self, dir: &[u8]) -> Result<Option<Tree<'r>>> {
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
}
