//! Object ids and git's index as the rest of promote sees them: no libgit2 type leaves `git/`.
//!
//! [`ObjectId`] and [`Index`] are the in-process path's (SHA-1, the index file our reader
//! understands; used only where `fast` allows that path). Ids the `git` binary reports, in any
//! object format, are strings (see [`super::Repo::head_entries`] and the other readers of `paths`).

use std::path::Path;
use std::sync::Arc;

use sha1::{Digest, Sha1};

/// A SHA-1 object id, as the in-process path computes and reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(git2::Oid);

impl ObjectId {
    /// A 40-digit hexadecimal id (lowercase, as promote writes them), without a call into libgit2
    /// for each of the tens of thousands a render state holds.
    pub fn from_hex(s: &str) -> Option<ObjectId> {
        let hex = s.as_bytes();
        if hex.len() != 40 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut raw = [0u8; 20];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            raw[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        git2::Oid::from_bytes(&raw).ok().map(ObjectId)
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The SHA-1 blob id of `content` as it is (no conversion): what git stores for it where no
/// attribute or `core.autocrlf` converts it.
pub fn blob_id(content: &[u8]) -> ObjectId {
    ObjectId(super::write::blob_id(content))
}

/// The object formats git supports (`extensions.objectFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    Sha1,
    Sha256,
}

impl ObjectFormat {
    /// As `git rev-parse --show-object-format` names it.
    pub fn parse(name: &str) -> Option<ObjectFormat> {
        match name.trim() {
            "sha1" | "" => Some(ObjectFormat::Sha1),
            "sha256" => Some(ObjectFormat::Sha256),
            _ => None,
        }
    }

    /// The blob id of `content` as it is (no conversion), in hexadecimal.
    pub fn blob_id(self, content: &[u8]) -> String {
        let header = format!("blob {}\0", content.len());
        let hex = |bytes: &[u8]| {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            let mut out = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                out.push(DIGITS[usize::from(b >> 4)] as char);
                out.push(DIGITS[usize::from(b & 15)] as char);
            }
            out
        };
        match self {
            ObjectFormat::Sha1 => {
                let mut h = Sha1::new();
                h.update(header.as_bytes());
                h.update(content);
                hex(&h.finalize())
            }
            ObjectFormat::Sha256 => {
                let mut h = sha2::Sha256::new();
                h.update(header.as_bytes());
                h.update(content);
                hex(&h.finalize())
            }
        }
    }
}

/// A stage-0 index entry's id and the stat data git compares to decide a file is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStat {
    pub id: ObjectId,
    /// The file's size, truncated to 32 bits as the index keeps it.
    pub size: u32,
    /// Seconds (32 bits, as the index keeps them) and nanoseconds.
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// The inode, truncated to 32 bits.
    pub ino: u32,
    pub mode: u32,
}

/// The index file as the in-process reader parsed it, sorted by path as git keeps it. Only where
/// the in-process readers are proven to read the index git uses ([`super::index_readable`]).
#[derive(Clone)]
pub struct Index(Entries);

#[derive(Clone)]
enum Entries {
    Own(Arc<Vec<git2::IndexEntry>>),
    Shared(Arc<super::index::Snapshot>),
}

impl Index {
    /// The index of `git_dir`, read now; `None` when the in-process path is not allowed for it, or
    /// the reader does not handle it.
    pub fn read(git_dir: &Path) -> Option<Index> {
        if !super::index_readable(git_dir) {
            return None;
        }
        let entries = super::index::read(&git_dir.join("index"))?;
        Some(Index(Entries::Own(Arc::new(entries))))
    }

    /// The index of `git_dir`, parsed once per process while the file stays the same (see
    /// `index::read_shared`); `None` where the reader does not handle it.
    pub fn shared(git_dir: &Path) -> Option<Index> {
        super::index::read_shared(&git_dir.join("index")).map(|s| Index(Entries::Shared(s)))
    }

    fn entries(&self) -> &[git2::IndexEntry] {
        match &self.0 {
            Entries::Own(v) => v,
            Entries::Shared(s) => &s.entries,
        }
    }

    fn stage0(&self, path: &str) -> Option<&git2::IndexEntry> {
        let entries = self.entries();
        let i = entries.partition_point(|e| e.path.as_slice() < path.as_bytes());
        entries
            .get(i)
            .filter(|e| e.path == path.as_bytes() && crate::git::mode::stage(e.flags) == 0)
    }

    /// The blob id the index holds for `path` (stage 0: not a conflict).
    pub fn blob(&self, path: &str) -> Option<ObjectId> {
        self.stage0(path).map(|e| ObjectId(e.id))
    }

    /// The index's id and stat data for `path` (stage 0).
    pub fn stat(&self, path: &str) -> Option<IndexStat> {
        let e = self.stage0(path)?;
        let secs = |t: git2::IndexTime| (i64::from(t.seconds() as u32), i64::from(t.nanoseconds()));
        Some(IndexStat {
            id: ObjectId(e.id),
            size: e.file_size,
            mtime: secs(e.mtime),
            ctime: secs(e.ctime),
            ino: e.ino,
            mode: e.mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_in_both_formats_are_gits() {
        // `printf 'hello\n' | git hash-object --stdin` (and with `--object-format=sha256`).
        assert_eq!(
            ObjectFormat::Sha1.blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            ObjectFormat::Sha256.blob_id(b"hello\n"),
            "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
        );
        assert_eq!(
            blob_id(b"hello\n").to_string(),
            ObjectFormat::Sha1.blob_id(b"hello\n")
        );
    }

    #[test]
    fn hex_ids_are_read_back() {
        let id = blob_id(b"x");
        assert_eq!(ObjectId::from_hex(&id.to_string()), Some(id));
        assert_eq!(ObjectId::from_hex("abc"), None);
        assert_eq!(ObjectId::from_hex(&"G".repeat(40)), None);
    }
}
