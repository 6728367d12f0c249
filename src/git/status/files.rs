//! Reading the work tree: directory listings, `lstat` data as git compares it, paths as bytes.

use std::borrow::Cow;
use std::fs::{self, DirEntry, FileType, Metadata};
use std::path::Path;

use git2::{IndexEntry, Oid};

use super::*;

/// Does the file hold the index's blob, as libgit2 would hash it? `false` when unsure: libgit2
/// decides those.
pub(super) fn same_content(abs: &Path, s: &Suspect) -> bool {
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
pub(super) struct Item {
    pub(super) name: Vec<u8>,
    pub(super) kind: FileType,
    pub(super) meta: Option<Metadata>,
}

/// The entries of directory `abs` but `.git` (skipped in any case, as libgit2 does), none if it
/// cannot be read (gone, not a directory any more). With `stat`, the files' and symlinks'
/// `lstat` data too, on several threads for a big directory (what git's `core.preloadIndex` does):
/// a file that vanished meanwhile is left out.
pub(super) fn list(abs: &Path, stat: bool) -> Vec<Item> {
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
pub(super) fn is_file(kind: FileType) -> bool {
    kind.is_file() || kind.is_symlink()
}

/// A copy of an entry (`IndexEntry` is not `Clone`).
pub(super) fn dup(e: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: e.ctime,
        mtime: e.mtime,
        path: e.path.clone(),
        ..*e
    }
}

pub(super) fn stage(e: &IndexEntry) -> u16 {
    crate::git::mode::stage(e.flags)
}

/// Any index entry strictly under directory `dir`?
pub(super) fn has_under(entries: &Entries, dir: &[u8]) -> bool {
    let entries = entries.list;
    let key = [dir, b"/"].concat();
    let i = entries.partition_point(|e| e.path < key);
    entries.get(i).is_some_and(|e| e.path.starts_with(&key))
}

/// Is `path` a submodule (in the index or in HEAD)? libgit2 does not walk into those.
pub(super) fn is_gitlink(path: &[u8], entries: &Entries, head: &[HeadEntry]) -> bool {
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

pub(super) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

pub(super) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

pub(super) fn show(path: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// What git's stat data compares, from `lstat`.
pub(super) struct Stat {
    pub(super) mode: u32,
    pub(super) size: u64,
    pub(super) mtime: (i64, i64),
    pub(super) ctime: (i64, i64),
    pub(super) ino: u64,
}

#[cfg(unix)]
pub(super) fn stat_of(m: &Metadata) -> Stat {
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
pub(super) fn stat_of(m: &Metadata) -> Stat {
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
pub(super) fn os_path(path: &[u8]) -> Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(path)))
}

#[cfg(not(unix))]
pub(super) fn os_path(path: &[u8]) -> Cow<'_, Path> {
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
