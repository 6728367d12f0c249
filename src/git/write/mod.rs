//! Commits in-process: objects, one pack, the index -- without running `git`.
//!
//! `git update-index` + `git commit` of 1,000 files costs two processes, 1,000 loose objects (a
//! new file each) and SHA-1 with collision detection. This writes the same commit -- the same
//! ids -- in a fraction of that:
//!
//! - `write_commit` hashes the blobs, rewrites the trees on the paths of the changed files
//!   (serialized and hashed here, in git's canonical format; every other tree keeps its id),
//!   builds the commit object and writes every object the repository does not have yet as ONE
//!   undeltified pack with its version-2 `.idx`, compressed on two threads at zlib's fastest
//!   level. It touches neither refs nor the index.
//! - `update_index` writes `<gitdir>/index.lock`: the current index with the changed paths'
//!   entries replaced (fresh stat data from the work tree, as git records it), deleted paths
//!   removed, the cache tree (`TREE`) invalidated along the changed paths. The returned
//!   `IndexLock` is committed (renamed over `index`) after the caller moved the branch -- git's own
//!   order -- or rolled back.
//!
//! A sketch of the caller:
//!
//! ```ignore
//! let commit = crate::git::write::write_commit(&repo, head, &updates, &author, &committer, &message)?;
//! let lock = crate::git::write::update_index(&repo, workdir, &crate::git::write::index_changes(&updates))?;
//! // Move the branch (compare-and-swap from `head`; a failure drops `lock`, leaving the index
//! // as it was), then:
//! lock.commit()?;
//! ```
//!
//! The fast path is for plain repositories; the caller runs `git` otherwise. What this does not
//! handle is refused with an `Unsupported` error (SHA-256 repositories, split or sparse indexes,
//! a required index extension, a conflicted path, a path that is a file in the index and a
//! directory in the change, ...), never guessed. Things it deliberately leaves to git:
//!
//! - Permissions: pack files are created read-only (0444), the index with 0666 less the umask,
//!   as git does without `core.sharedRepository`; a shared repository's group bits are not set.
//! - Durability: nothing is fsynced, as `git commit` does not fsync loose objects (nor the index)
//!   by default.
//! - Housekeeping: every commit adds one small pack. git's `gc --auto` (run by `git fetch`,
//!   `git commit`, ...) repacks when there are more than `gc.autoPackLimit` (50) of them.
//! - Hooks, signing, `GIT_INDEX_FILE`, `GIT_OBJECT_DIRECTORY`: not looked at.
//!
//! The pieces: [`objects`] (hashing, the commit, compressing), [`tree`] (rewriting the trees on
//! the changed paths), [`pack`] (the pack and its `.idx`), [`index`] (the new index file). Each
//! is a hand-written git format, kept where the figures need it (see bench/results.md, "#15:
//! git2's primitives against the hand-written writer", and the comment above each), and checked
//! against the `git` binary by the differential tests in `differential.rs` and `tests.rs`.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::borrow::Cow;
use std::collections::HashSet;

use anyhow::{bail, Result};
use git2::{Odb, OdbLookupFlags, Oid, Repository};
use sha1::{Digest, Sha1};

pub use crate::git::mode::{EXECUTABLE, REGULAR, SYMLINK};

#[cfg(all(test, unix))]
mod differential;
mod index;
mod objects;
mod pack;
#[cfg(all(test, unix))]
mod tests;
mod tree;

pub use index::{update_index, update_index_within, IndexLock};
pub use objects::write_commit;

/// One file of the commit.
#[derive(Debug, Clone)]
pub struct Update {
    /// Repository-relative, `/`-separated (`dev/app.yaml`).
    pub path: String,
    /// The new content, or `None` to delete the file.
    pub content: Option<Vec<u8>>,
    /// `REGULAR`, `EXECUTABLE` or `SYMLINK`; ignored for a deletion.
    pub mode: u32,
}

/// Something this writer does not handle (rather than a failure): the caller should let `git` do
/// the work instead.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(Unsupported(what.into()).into())
}

/// The id git gives a blob with this content.
pub fn blob_id(content: &[u8]) -> Oid {
    object_id(Kind::Blob, content)
}

/// `updates` as `update_index` takes them: each path with its blob id and mode, or `None` for a
/// deletion. (This hashes the contents again: ~1 ms a megabyte.)
pub fn index_changes(updates: &[Update]) -> Vec<(String, Option<(Oid, u32)>)> {
    updates
        .iter()
        .map(|u| {
            let change = u.content.as_ref().map(|c| (blob_id(c), u.mode));
            (u.path.clone(), change)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Objects, shared by `objects` (which makes them), `tree` and `pack`.

/// Object types, numbered as in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
        }
    }
}

pub(super) fn object_id(kind: Kind, data: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    Oid::from_bytes(&h.finalize()).expect("20 bytes")
}

pub(super) struct Object<'a> {
    pub(super) id: Oid,
    pub(super) kind: Kind,
    pub(super) data: Cow<'a, [u8]>,
    /// For a blob, which of the contents `Deflater` compresses it is.
    slot: Option<usize>,
    /// The zlib stream of `data`, once compressed.
    pub(super) zlib: Vec<u8>,
}

/// The objects to write: each new one once, none the repository already has.
pub(super) struct NewObjects<'o, 'a> {
    odb: &'o Odb<'o>,
    seen: HashSet<Oid>,
    list: Vec<Object<'a>>,
}

impl<'a> NewObjects<'_, 'a> {
    pub(super) fn add(&mut self, kind: Kind, data: Cow<'a, [u8]>, slot: Option<usize>) -> Oid {
        let id = object_id(kind, &data);
        // Blobs and trees are not looked up in the repository: they are on the changed paths, so
        // almost always new, and every miss probes every pack (each commit adds one until
        // `gc --auto`): at 50 packs that was 20 ms for 1,000 files. One that exists after all
        // (a file set back to an earlier content) is written again, which git allows; `gc` keeps
        // one copy. Only the commit is looked up: when it exists, nothing is written.
        let exists = kind == Kind::Commit && self.odb.exists_ext(id, OdbLookupFlags::NO_REFRESH);
        if self.seen.insert(id) && !exists {
            self.list.push(Object {
                id,
                kind,
                data,
                slot,
                zlib: Vec::new(),
            });
        }
        id
    }
}

/// A repository-relative path git would accept in a tree.
pub(crate) fn check_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.eq_ignore_ascii_case(".git"));
    if bad {
        bail!("`{path}` is not a path git can store");
    }
    Ok(())
}

/// `Name <email> 1700000000 +0100`, as `git fsck` checks it.
fn check_ident(what: &str, ident: &str) -> Result<()> {
    let ok = (|| {
        if ident.contains(['\n', '\0']) || ident.starts_with('<') {
            return None;
        }
        let (name, rest) = ident.split_once('<')?;
        let (email, rest) = rest.split_once('>')?;
        if name.contains('>') || !name.ends_with(' ') || email.contains('<') {
            return None;
        }
        let (time, zone) = rest.strip_prefix(' ')?.split_once(' ')?;
        let zone = zone.as_bytes();
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        (digits(time.as_bytes())
            && zone.len() == 5
            && matches!(zone[0], b'+' | b'-')
            && digits(&zone[1..]))
        .then_some(())
    })();
    match ok {
        Some(()) => Ok(()),
        None => bail!("`{ident}` is not a git {what} ident (`Name <email> 1700000000 +0100`)"),
    }
}

fn require_sha1(repo: &Repository) -> Result<()> {
    let format = repo
        .config()
        .ok()
        .and_then(|c| c.get_string("extensions.objectformat").ok());
    match format {
        Some(f) if !f.eq_ignore_ascii_case("sha1") => {
            unsupported(format!("the repository uses {f} object ids"))
        }
        _ => Ok(()),
    }
}
