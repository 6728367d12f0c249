//! A reader for git's index file (`.git/index`, format versions 2, 3 and 4), for the dirty check.
//!
//! libgit2 reads the index by checking its SHA-1 trailer (with collision detection) and copying
//! and validating every entry's path: ~30 ms for a 24,000-entry index on the machines we measure,
//! most of a no-op promotion. git itself does not check the trailer when it reads the index
//! (only `git fsck` does), and the dirty check needs nothing but the entries. This reads them as
//! git does. Anything it does not know how to read exactly -- another version, a split index,
//! sparse directory entries, SHA-256 object ids, a malformed file -- is `None`: the caller then asks
//! libgit2, so the answer never depends on this reader guessing.
//!
//! The format: <https://git-scm.com/docs/index-format>.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::path::Path;

use git2::{IndexEntry, IndexTime, Oid};

use crate::git::mode::{stage, EXTENDED, NAME_MASK};

/// The entries of the index file at `path`, in the file's order (path, then stage), or `None` when
/// the caller should let libgit2 read it. A missing file is an empty index.
pub fn read(path: &Path) -> Option<Vec<IndexEntry>> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Vec::new()),
        Err(_) => None,
    }
}

const HEADER: usize = 12;
const HASH: usize = 20;
/// ctime, mtime (seconds and nanoseconds each), dev, ino, mode, uid, gid, size: ten 32-bit fields.
const STAT: usize = 40;
/// The fixed part of an entry: stat data, object id, flags.
const FIXED: usize = STAT + HASH + 2;

fn parse(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    parse_full(bytes).map(|parsed| parsed.entries)
}

/// An index file as `parse_full` reads it.
pub(crate) struct Parsed<'a> {
    /// The format version: 2, 3 or 4.
    pub version: u32,
    /// The entries, in the file's order.
    pub entries: Vec<IndexEntry>,
    /// Where each entry is in the file. (In version 4 an entry's bytes depend on the previous
    /// entry's path.)
    pub ranges: Vec<std::ops::Range<usize>>,
    /// The extensions, each a signature, a 32-bit size and its data, as they are in the file:
    /// only optional ones (their signatures start with A-Z). The trailer is not part of this.
    pub extensions: &'a [u8],
}

/// What `read` reads, with the version and the extensions' bytes (for `gitwrite`, which rewrites
/// the file).
pub(crate) fn parse_full(bytes: &[u8]) -> Option<Parsed<'_>> {
    if bytes.len() < HEADER + HASH || &bytes[..4] != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    // Entries and extensions; the trailer (the file's hash) is not part of either.
    let body = &bytes[..bytes.len() - HASH];
    // No entry is shorter than its fixed part: a count beyond that is a damaged file.
    if count > body.len() / FIXED {
        return None;
    }
    let mut entries = Vec::with_capacity(count);
    let mut ranges = Vec::with_capacity(count);
    let mut at = HEADER;
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let field = |i: usize| be32(body, start + 4 * i);
        let id = Oid::from_bytes(body.get(start + STAT..start + STAT + HASH)?).ok()?;
        let flags = be16(body, start + STAT + HASH)?;
        at = start + FIXED;
        let mut flags_extended = 0;
        if flags & EXTENDED != 0 {
            if version < 3 {
                return None;
            }
            flags_extended = be16(body, at)?;
            at += 2;
        }
        let path = if version == 4 {
            // The path is the previous one with `strip` bytes cut off its end, then a new suffix.
            let (strip, used) = varint(body.get(at..)?)?;
            at += used;
            let suffix = nul_terminated(body.get(at..)?)?;
            at += suffix.len() + 1;
            let keep = previous.len().checked_sub(usize::try_from(strip).ok()?)?;
            let mut path = previous[..keep].to_vec();
            path.extend_from_slice(suffix);
            path
        } else {
            let name = nul_terminated(body.get(at..)?)?;
            let len = usize::from(flags & NAME_MASK);
            if len < usize::from(NAME_MASK) && len != name.len() {
                return None;
            }
            // Padded with one to eight NULs to a multiple of eight bytes from the entry's start.
            at = start + ((at - start + name.len() + 8) & !7);
            if at > body.len() {
                return None;
            }
            name.to_vec()
        };
        if path.is_empty() || path <= previous && !(path == previous && stage(flags) > 0) {
            // Out of order (or a repeated path at stage 0): not an index git wrote.
            return None;
        }
        previous.clone_from(&path);
        let time = |s: usize, ns: usize| -> Option<IndexTime> {
            Some(IndexTime::new(field(s)?.cast_signed(), field(ns)?))
        };
        entries.push(IndexEntry {
            ctime: time(0, 1)?,
            mtime: time(2, 3)?,
            dev: field(4)?,
            ino: field(5)?,
            mode: field(6)?,
            uid: field(7)?,
            gid: field(8)?,
            file_size: field(9)?,
            id,
            flags,
            flags_extended,
            path,
        });
        ranges.push(start..at);
    }
    // Extensions: a four-byte signature and a 32-bit size each. Those starting with A-Z are
    // optional caches (the cache tree, the untracked cache, ...) and are skipped; any other one
    // changes what the entries mean (`link`: a split index, `sdir`: sparse directories).
    let extensions = at;
    while at < body.len() {
        let signature = body.get(at..at + 4)?;
        let size = be32(body, at + 4)? as usize;
        if !signature[0].is_ascii_uppercase() {
            return None;
        }
        at = at.checked_add(8 + size)?;
    }
    (at == body.len()).then(|| Parsed {
        version,
        entries,
        ranges,
        extensions: &body[extensions..],
    })
}

/// An index as read by `read_shared`.
pub struct Snapshot {
    pub entries: Vec<IndexEntry>,
    /// Its cache tree (`TREE`), if it has one.
    pub tree: Option<CacheTree>,
}

/// The index at `path` with its cache tree, parsed once per process while the file stays the
/// same: a change reads it in the dirty check and again to plan. The same file is the same
/// inode, size and time stamps (git replaces the index by renaming a new file over it, and any
/// write in place changes its ctime), taken from the descriptor the bytes are read from.
pub fn read_shared(path: &Path) -> Option<std::sync::Arc<Snapshot>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};
    type Key = (std::path::PathBuf, u64, u64, u64, (i64, i64), (i64, i64));
    static LAST: Mutex<Option<(Key, Arc<Snapshot>)>> = Mutex::new(None);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(Arc::new(Snapshot {
                entries: Vec::new(),
                tree: None,
            }))
        }
        Err(_) => return None,
    };
    let m = file.metadata().ok()?;
    let key: Key = (
        path.to_path_buf(),
        m.dev(),
        m.ino(),
        m.size(),
        (m.mtime(), m.mtime_nsec()),
        (m.ctime(), m.ctime_nsec()),
    );
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, snapshot)) = &*last {
        if *k == key {
            return Some(snapshot.clone());
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(m.size()).unwrap_or(0) + 1);
    file.read_to_end(&mut bytes).ok()?;
    let parsed = parse_full(&bytes)?;
    let tree = extension(parsed.extensions, b"TREE").map(|data| CacheTree(data.to_vec()));
    let snapshot = Arc::new(Snapshot {
        entries: parsed.entries,
        tree,
    });
    *last = Some((key, snapshot.clone()));
    Some(snapshot)
}

/// The data of extension `signature` in `extensions` (as `Parsed` holds them).
fn extension<'a>(extensions: &'a [u8], signature: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 0;
    while at + 8 <= extensions.len() {
        let size = be32(extensions, at + 4)? as usize;
        let data = extensions.get(at + 8..at.checked_add(8 + size)?)?;
        if &extensions[at..at + 4] == signature {
            return Some(data);
        }
        at += 8 + size;
    }
    None
}

/// git's cache tree: for directories whose index entries are unchanged since it was computed, the
/// id of the tree they make and how many entries it covers. git keeps it up to date as it changes
/// the index (invalidating every directory along a changed path), and uses it to skip comparing
/// unchanged directories with HEAD; so can promote.
pub struct CacheTree(Vec<u8>);

impl CacheTree {
    /// The tree id and entry count for directory `dir` (repository-relative, no trailing slash;
    /// empty for the root), when the cache holds a valid one.
    pub fn get(&self, dir: &[u8]) -> Option<(Oid, usize)> {
        let mut want: Vec<&[u8]> = if dir.is_empty() {
            Vec::new()
        } else {
            dir.split(|&b| b == b'/').collect()
        };
        want.reverse();
        // Nodes are written depth first: a name, the entry count (-1: invalid), the number of
        // subtrees, then (if valid) the id; its subtrees follow it.
        let data = &self.0;
        let mut at = 0;
        let (name, mut node) = cache_node(data, &mut at)?;
        if !name.is_empty() {
            return None;
        }
        while let Some(component) = want.pop() {
            let mut found = None;
            for _ in 0..node.1 {
                let (name, child) = cache_node(data, &mut at)?;
                if name == component {
                    found = Some(child);
                    break;
                }
                skip_subtrees(data, &mut at, child.1)?;
            }
            node = found?;
        }
        let (count, _, id) = node;
        Some((id?, usize::try_from(count).ok()?))
    }
}

/// One cache tree node at `at` (moved past it): its name and (entry count, subtrees, id).
type CacheNode = (i64, usize, Option<Oid>);

fn cache_node<'a>(data: &'a [u8], at: &mut usize) -> Option<(&'a [u8], CacheNode)> {
    let name = nul_terminated(data.get(*at..)?)?;
    *at += name.len() + 1;
    let line = data.get(*at..)?;
    let end = line.iter().position(|&b| b == b'\n')?;
    let (count, subtrees) = std::str::from_utf8(&line[..end]).ok()?.split_once(' ')?;
    *at += end + 1;
    let count: i64 = count.parse().ok()?;
    let subtrees: usize = subtrees.parse().ok()?;
    let id = if count >= 0 {
        let id = Oid::from_bytes(data.get(*at..*at + HASH)?).ok()?;
        *at += HASH;
        Some(id)
    } else {
        None
    };
    Some((name, (count, subtrees, id)))
}

fn skip_subtrees(data: &[u8], at: &mut usize, n: usize) -> Option<()> {
    for _ in 0..n {
        let (_, (_, subtrees, _)) = cache_node(data, at)?;
        skip_subtrees(data, at, subtrees)?;
    }
    Some(())
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn nul_terminated(b: &[u8]) -> Option<&[u8]> {
    let end = b.iter().position(|&c| c == 0)?;
    Some(&b[..end])
}

/// git's variable-length integer ("offset encoding"): seven bits a byte, most significant first,
/// each continuation adding one before the shift. The value and the bytes it took.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = u64::from(*b.first()? & 0x7f);
    let mut used = 1;
    while b[used - 1] & 0x80 != 0 {
        let next = *b.get(used)?;
        value = value.checked_add(1)?.checked_mul(128)? | u64::from(next & 0x7f);
        used += 1;
    }
    Some((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A repository with files whose names exercise the padding (every length mod 8), nested
    /// directories, an executable and a symlink.
    fn repo() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q"]);
        for len in 1..=17 {
            std::fs::write(d.join("f".repeat(len)), len.to_string()).unwrap();
        }
        std::fs::create_dir_all(d.join("a/b/c")).unwrap();
        std::fs::write(d.join("a/b/c/deep.yaml"), "x: 1\n").unwrap();
        std::fs::write(d.join("a/b.yaml"), "y: 2\n").unwrap();
        std::fs::write(d.join("run.sh"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join("run.sh"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            std::os::unix::fs::symlink("a/b.yaml", d.join("link")).unwrap();
        }
        git(d, &["add", "-A"]);
        t
    }

    /// `git commit` of what is staged, with an identity.
    const COMMIT: [&str; 7] = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "one",
    ];

    /// What libgit2 reads from the same file.
    fn libgit2(dir: &Path) -> Vec<IndexEntry> {
        let repo = git2::Repository::open(dir).unwrap();
        let index = repo.index().unwrap();
        index.iter().collect()
    }

    fn same(ours: &[IndexEntry], theirs: &[IndexEntry]) {
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(theirs) {
            let show = String::from_utf8_lossy(&a.path);
            assert_eq!(a.path, b.path);
            assert_eq!(a.id, b.id, "{show}");
            assert_eq!(a.mode, b.mode, "{show}");
            assert_eq!(a.file_size, b.file_size, "{show}");
            assert_eq!(a.ino, b.ino, "{show}");
            assert_eq!(a.dev, b.dev, "{show}");
            assert_eq!((a.uid, a.gid), (b.uid, b.gid), "{show}");
            assert_eq!(a.flags_extended, b.flags_extended, "{show}");
            assert_eq!(stage(a.flags), stage(b.flags), "{show}");
            assert_eq!(
                (a.mtime.seconds(), a.mtime.nanoseconds()),
                (b.mtime.seconds(), b.mtime.nanoseconds()),
                "{show}"
            );
            assert_eq!(
                (a.ctime.seconds(), a.ctime.nanoseconds()),
                (b.ctime.seconds(), b.ctime.nanoseconds()),
                "{show}"
            );
        }
    }

    #[test]
    fn reads_what_libgit2_reads_in_every_version() {
        let t = repo();
        let d = t.path();
        for version in ["2", "3", "4", "2"] {
            git(d, &["update-index", "--index-version", version]);
            let ours = read(&d.join(".git/index")).expect("a plain index is read");
            assert_eq!(ours.len(), 17 + 4, "version {version}");
            same(&ours, &libgit2(d));
        }
    }

    #[test]
    fn extended_flags_and_conflict_stages() {
        let t = repo();
        let d = t.path();
        // intent-to-add sets an extended flag (and makes the index version 3).
        std::fs::write(d.join("new.yaml"), "n: 1\n").unwrap();
        git(d, &["add", "-N", "new.yaml"]);
        // Three stages of one path.
        let blob = |s: &str| {
            git2::Repository::open(d)
                .unwrap()
                .blob(s.as_bytes())
                .unwrap()
                .to_string()
        };
        let (one, two, three) = (blob("1\n"), blob("2\n"), blob("3\n"));
        let mut child = Command::new("git")
            .args(["update-index", "--index-info"])
            .current_dir(d)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        write!(
            child.stdin.as_mut().unwrap(),
            "0 {z} 0\ta/b.yaml\n100644 {one} 1\ta/b.yaml\n100644 {two} 2\ta/b.yaml\n100644 {three} 3\ta/b.yaml\n",
            z = "0".repeat(40)
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        for version in ["3", "4"] {
            git(d, &["update-index", "--index-version", version]);
            let ours = read(&d.join(".git/index")).expect("read");
            let theirs = libgit2(d);
            same(&ours, &theirs);
            assert!(ours.iter().any(|e| e.flags_extended != 0));
            assert_eq!(ours.iter().filter(|e| e.path == b"a/b.yaml").count(), 3);
        }
    }

    #[test]
    fn a_split_index_or_damage_is_left_to_libgit2() {
        let t = repo();
        let d = t.path();
        let path = d.join(".git/index");
        let good = std::fs::read(&path).unwrap();
        assert!(parse(&good).is_some());
        // Cut anywhere before the trailer: never a panic, never a wrong list.
        for cut in (0..good.len() - HASH).step_by(7) {
            let mut bytes = good[..cut].to_vec();
            bytes.extend_from_slice(&[0; HASH]);
            assert!(parse(&bytes).is_none(), "cut at {cut}");
        }
        // A byte flipped in the entry count.
        let mut bytes = good.clone();
        bytes[11] ^= 0x40;
        assert!(parse(&bytes).is_none());
        // An unknown version.
        let mut bytes = good.clone();
        bytes[7] = 5;
        assert!(parse(&bytes).is_none());
        // A split index has a required `link` extension.
        git(d, &["update-index", "--split-index"]);
        assert!(read(&path).is_none());
        git(d, &["update-index", "--no-split-index"]);
        same(&read(&path).unwrap(), &libgit2(d));
    }

    #[test]
    fn optional_extensions_are_skipped() {
        let t = repo();
        let d = t.path();
        git(d, &["config", "core.untrackedCache", "true"]);
        git(d, &COMMIT);
        // The cache tree (TREE) after the commit, and the untracked cache (UNTR) after a status.
        git(d, &["status", "--porcelain"]);
        let bytes = std::fs::read(d.join(".git/index")).unwrap();
        assert!(bytes.windows(4).any(|w| w == b"TREE"));
        assert!(bytes.windows(4).any(|w| w == b"UNTR"));
        same(&read(&d.join(".git/index")).unwrap(), &libgit2(d));
    }

    #[test]
    fn the_cache_tree_holds_the_trees_git_committed_until_a_change_invalidates_them() {
        let t = repo();
        let d = t.path();
        git(d, &COMMIT);
        let rev = |spec: &str| {
            let out = Command::new("git")
                .args(["rev-parse", spec])
                .current_dir(d)
                .output()
                .unwrap();
            Oid::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
        };
        let tree = || {
            let s = read_shared(&d.join(".git/index")).unwrap();
            CacheTree(s.tree.as_ref().unwrap().0.clone())
        };
        let count = |prefix: &str| {
            read(&d.join(".git/index"))
                .unwrap()
                .iter()
                .filter(|e| e.path.starts_with(prefix.as_bytes()))
                .count()
        };
        let all = tree();
        assert_eq!(all.get(b""), Some((rev("HEAD^{tree}"), count(""))));
        assert_eq!(all.get(b"a"), Some((rev("HEAD:a"), count("a/"))));
        assert_eq!(all.get(b"a/b/c"), Some((rev("HEAD:a/b/c"), 1)));
        assert_eq!(all.get(b"a/b/x"), None);
        assert_eq!(all.get(b"fff"), None, "a file is no tree");
        // A change under a/b invalidates a/b, a and the root; a/b/c keeps its tree.
        std::fs::write(d.join("a/b/new"), "new\n").unwrap();
        git(d, &["add", "a/b/new"]);
        let changed = tree();
        assert_eq!(changed.get(b""), None);
        assert_eq!(changed.get(b"a"), None);
        assert_eq!(changed.get(b"a/b"), None);
        assert_eq!(changed.get(b"a/b/c"), Some((rev("HEAD:a/b/c"), 1)));
    }

    #[test]
    fn a_name_longer_than_its_length_field() {
        // Over the 12 bits of the name length (and over what file systems allow): only in the
        // index. libgit2 refuses to read such an index; git reads it, and so does this.
        let t = repo();
        let d = t.path();
        let blob = git2::Repository::open(d).unwrap().blob(b"long\n").unwrap();
        let long = format!("{}/file", vec!["l".repeat(200); 22].join("/"));
        assert!(long.len() > 0xfff);
        git(
            d,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{long}"),
            ],
        );
        for version in ["2", "4"] {
            git(d, &["update-index", "--index-version", version]);
            let ours = read(&d.join(".git/index")).expect("read");
            let e = ours
                .iter()
                .find(|e| e.path.len() > 0xfff)
                .expect("the long entry");
            assert_eq!((e.path.as_slice(), e.id), (long.as_bytes(), blob));
            assert_eq!(e.flags & NAME_MASK, NAME_MASK);
            assert_eq!(ours.len(), 17 + 4 + 1);
        }
    }

    #[test]
    fn no_index_is_an_empty_index() {
        let t = tempfile::tempdir().unwrap();
        git(t.path(), &["init", "-q"]);
        assert_eq!(read(&t.path().join(".git/index")).unwrap().len(), 0);
    }

    #[test]
    fn varints() {
        assert_eq!(varint(&[0]), Some((0, 1)));
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        // 128 is 0x80 0x00 in this encoding (not 0x81 0x00 as in LEB128).
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x80, 0x01]), Some((129, 2)));
        assert_eq!(varint(&[0x80]), None);
    }
}
