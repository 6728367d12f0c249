//! The work tree against the index under a prefix: stat data first, hashing where it cannot
//! decide, untracked files.

use std::collections::BTreeSet;
use std::fs::{self, Metadata};
use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::{IndexEntry, IndexEntryExtendedFlag, IndexEntryFlag};

use super::*;

impl<'r> Scan<'r> {
    /// Work tree vs index under `prefix`, and untracked files there. Marks the entries found.
    pub(super) fn worktree(
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
    pub(super) fn finish(mut self) -> Result<BTreeSet<Vec<u8>>> {
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
