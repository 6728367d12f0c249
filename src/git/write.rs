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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use flate2::{Compress, Compression, FlushCompress, Status};
use git2::{IndexEntry, IndexTime, ObjectType, Odb, OdbLookupFlags, Oid, Repository};
use sha1::{Digest, Sha1};

use crate::git::index;

/// A regular file's mode.
pub const REGULAR: u32 = 0o100644;
/// An executable file's mode.
pub const EXECUTABLE: u32 = 0o100755;
/// A symbolic link's mode (its content is the link's target).
pub const SYMLINK: u32 = 0o120000;
const TREE: u32 = 0o040000;
const GITLINK: u32 = 0o160000;
const TYPE_MASK: u32 = 0o170000;

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
// Objects and the commit.

/// Object types, numbered as in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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

fn object_id(kind: Kind, data: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    Oid::from_bytes(&h.finalize()).expect("20 bytes")
}

struct Object<'a> {
    id: Oid,
    kind: Kind,
    data: Cow<'a, [u8]>,
    /// For a blob, which of the contents `Deflater` compresses it is.
    slot: Option<usize>,
    /// The zlib stream of `data`, once compressed.
    zlib: Vec<u8>,
}

/// The objects to write: each new one once, none the repository already has.
struct NewObjects<'o, 'a> {
    odb: &'o Odb<'o>,
    seen: HashSet<Oid>,
    list: Vec<Object<'a>>,
}

impl<'a> NewObjects<'_, 'a> {
    fn add(&mut self, kind: Kind, data: Cow<'a, [u8]>, slot: Option<usize>) -> Oid {
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

/// Writes a commit with `parent`'s tree changed by `updates`, and returns its id.
///
/// `author` and `committer` are raw idents (`Name <email> 1700000000 +0100`, as `git var
/// GIT_AUTHOR_IDENT` prints them); `message` is used as given, except that it is made to end with
/// exactly one newline. Every object the repository does not have yet (blobs, the trees on the
/// changed paths, the commit) is written as one pack in `objects/pack`; libgit2 reads them through
/// `repo` as soon as this returns. Refs and the index are not touched.
///
/// A directory left empty by deletions disappears; deleting a path that does not exist is a
/// no-op. A file replacing a directory (or the reverse) must come with the deletions that make
/// room for it, else the paths conflict and this fails.
pub fn write_commit(
    repo: &Repository,
    parent: Oid,
    updates: &[Update],
    author: &str,
    committer: &str,
    message: &str,
) -> Result<Oid> {
    require_sha1(repo)?;
    check_ident("author", author)?;
    check_ident("committer", committer)?;
    if message.contains('\0') {
        bail!("a commit message cannot contain NUL bytes");
    }
    let body = message.trim_end_matches('\n');
    if body.trim().is_empty() {
        bail!("the commit message is empty");
    }
    let base = repo
        .find_commit(parent)
        .with_context(|| format!("cannot read the parent commit {parent}"))?
        .tree_id();

    let odb = repo.odb().context("cannot open the object database")?;
    // See packs written since `repo` was opened (a fetch, a gc) before asking what exists.
    odb.refresh().context("cannot read the object database")?;

    // Compressing is most of the work: a second thread starts on the blobs at once, while this
    // one hashes them, asks which exist and builds the trees, then joins in.
    let contents: Vec<&[u8]> = updates
        .iter()
        .filter_map(|u| u.content.as_deref())
        .collect();
    let total: usize = contents.iter().map(|c| c.len()).sum();
    let deflater = Deflater {
        inputs: &contents,
        next: AtomicUsize::new(0),
    };
    let (id, mut list) = std::thread::scope(|s| -> Result<_> {
        let helper = (total >= PARALLEL_BYTES).then(|| s.spawn(|| deflater.run(None)));
        let (id, mut list) = new_objects(&odb, base, parent, updates, author, committer, body)
            .inspect_err(|_| deflater.stop())?;
        crate::ui::trace("gitwrite: trees built");
        let mut z = Compress::new(Compression::fast(), true);
        for o in list.iter_mut().filter(|o| o.slot.is_none()) {
            o.zlib = compress(&mut z, &o.data)?;
        }
        let mut needed = vec![false; contents.len()];
        for i in list.iter().filter_map(|o| o.slot) {
            needed[i] = true;
        }
        let mut done = deflater.run(Some(&needed))?;
        if let Some(helper) = helper {
            done.extend(helper.join().expect("the compressing thread panicked")?);
        }
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; contents.len()];
        for (i, zlib) in done {
            slots[i] = Some(zlib);
        }
        for o in list.iter_mut() {
            if let Some(i) = o.slot {
                o.zlib = slots[i].take().expect("every needed blob is compressed");
            }
        }
        Ok((id, list))
    })?;
    crate::ui::trace("gitwrite: objects compressed");

    // The commit exists already (the same change, at the same second, again): so does everything
    // it reaches.
    if !list.iter().any(|o| o.kind == Kind::Commit) {
        list.clear();
    }
    if !list.is_empty() {
        // Commit, trees, then blobs, as git orders a pack (what is read first comes first).
        list.sort_by_key(|o| o.kind as u8);
        let dir = repo.commondir().join("objects").join("pack");
        write_pack(&dir, &list)?;
        // libgit2 keeps a list of packs; it would rescan the directory at the first miss anyway.
        odb.refresh().context("cannot reread the object database")?;
    }
    Ok(id)
}

/// The commit's id and the objects the repository does not have, uncompressed.
fn new_objects<'a>(
    odb: &Odb,
    base: Oid,
    parent: Oid,
    updates: &'a [Update],
    author: &str,
    committer: &str,
    body: &str,
) -> Result<(Oid, Vec<Object<'a>>)> {
    let mut objects = NewObjects {
        odb,
        seen: HashSet::new(),
        list: Vec::new(),
    };
    let mut root = Dir::default();
    let mut slot = 0;
    for u in updates {
        check_path(&u.path)?;
        let change = match &u.content {
            Some(content) => {
                if ![REGULAR, EXECUTABLE, SYMLINK].contains(&u.mode) {
                    bail!("`{}`: unsupported mode {:o}", u.path, u.mode);
                }
                let id = objects.add(Kind::Blob, Cow::Borrowed(content), Some(slot));
                slot += 1;
                Some((id, u.mode))
            }
            None => None,
        };
        root.insert(&u.path, change)?;
    }
    crate::ui::trace("gitwrite: blobs hashed");
    let tree = match build(&mut objects, odb, Some(base), &root, "")? {
        Some(id) => id,
        // Everything deleted: the empty tree.
        None => objects.add(Kind::Tree, Cow::Borrowed(b""), None),
    };
    let commit =
        format!("tree {tree}\nparent {parent}\nauthor {author}\ncommitter {committer}\n\n{body}\n");
    let id = objects.add(Kind::Commit, Cow::Owned(commit.into_bytes()), None);
    Ok((id, objects.list))
}

/// Compresses `inputs`, each claimed by one of the threads that run it.
struct Deflater<'c> {
    inputs: &'c [&'c [u8]],
    next: AtomicUsize,
}

impl Deflater<'_> {
    /// The zlib streams of the inputs this call claimed, skipping those not `needed`.
    fn run(&self, needed: Option<&[bool]>) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut z = Compress::new(Compression::fast(), true);
        let mut done = Vec::new();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(input) = self.inputs.get(i) else {
                return Ok(done);
            };
            if needed.is_none_or(|needed| needed[i]) {
                done.push((i, compress(&mut z, input)?));
            }
        }
    }

    /// Leaves the rest.
    fn stop(&self) {
        self.next.store(self.inputs.len(), Ordering::Relaxed);
    }
}

/// The changes under one directory, by name.
#[derive(Default)]
struct Dir<'u> {
    files: BTreeMap<&'u [u8], Option<(Oid, u32)>>,
    dirs: BTreeMap<&'u [u8], Dir<'u>>,
}

impl<'u> Dir<'u> {
    fn insert(&mut self, path: &'u str, change: Option<(Oid, u32)>) -> Result<()> {
        let mut dir = self;
        let mut parts = path.split('/').peekable();
        while let Some(name) = parts.next() {
            if parts.peek().is_none() {
                if dir.files.insert(name.as_bytes(), change).is_some() {
                    bail!("`{path}` is updated twice");
                }
            } else {
                dir = dir.dirs.entry(name.as_bytes()).or_default();
            }
        }
        Ok(())
    }
}

/// A tree entry.
struct Entry<'a> {
    mode: u32,
    name: &'a [u8],
    id: Oid,
}

impl Entry<'_> {
    fn is_tree(&self) -> bool {
        self.mode == TREE
    }
}

/// A mode as git's index keeps it (`canon_mode`): what `git write-tree` writes.
fn canonical(mode: u32) -> u32 {
    match mode & TYPE_MASK {
        0o100000 if mode & 0o100 != 0 => EXECUTABLE,
        0o100000 => REGULAR,
        0o120000 => SYMLINK,
        TREE => TREE,
        _ => GITLINK,
    }
}

fn mode_text(mode: u32) -> &'static [u8] {
    match mode {
        REGULAR => b"100644",
        EXECUTABLE => b"100755",
        SYMLINK => b"120000",
        TREE => b"40000",
        _ => b"160000",
    }
}

/// The entries of a tree object.
fn parse_tree(data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let space = at + data[at..].iter().position(|&c| c == b' ')?;
        let mode = std::str::from_utf8(&data[at..space]).ok()?;
        let nul = space + 1 + data[space + 1..].iter().position(|&c| c == 0)?;
        entries.push(Entry {
            mode: canonical(u32::from_str_radix(mode, 8).ok()?),
            name: &data[space + 1..nul],
            id: Oid::from_bytes(data.get(nul + 1..nul + 21)?).ok()?,
        });
        at = nul + 21;
    }
    Some(entries)
}

/// git's order of tree entries: by name, a directory's name as if it ended with `/`.
fn tree_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let n = a.name.len().min(b.name.len());
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let end = |e: &Entry| {
            e.name
                .get(n)
                .copied()
                .unwrap_or(if e.is_tree() { b'/' } else { 0 })
        };
        end(a).cmp(&end(b))
    })
}

/// The tree `base` (or an empty one) with `changes` applied: its id, or `None` if it ends empty.
fn build<'a>(
    objects: &mut NewObjects<'_, 'a>,
    odb: &Odb,
    base: Option<Oid>,
    changes: &Dir,
    path: &str,
) -> Result<Option<Oid>> {
    let raw = match base {
        Some(id) => {
            let object = odb
                .read(id)
                .with_context(|| format!("cannot read tree {id} (`{path}/`)"))?;
            if object.kind() != ObjectType::Tree {
                bail!("{id} (`{path}/`) is not a tree");
            }
            Some(object)
        }
        None => None,
    };
    let existing = match &raw {
        Some(object) => parse_tree(object.data())
            .with_context(|| format!("cannot parse tree {} (`{path}/`)", object.id()))?,
        None => Vec::new(),
    };
    let full = |name: &[u8]| {
        let name = String::from_utf8_lossy(name);
        if path.is_empty() {
            name.into_owned()
        } else {
            format!("{path}/{name}")
        }
    };
    // One changed name: what the parent has, then the deletion, the changes under the
    // directory, the new file.
    let mut resolve = |name: &[u8], current: Option<(Oid, u32)>| -> Result<Option<(Oid, u32)>> {
        let file = changes.files.get(name);
        let mut current = current;
        if let Some(None) = file {
            if let Some((_, TREE)) = current {
                bail!("cannot delete `{}`: it is a directory", full(name));
            }
            current = None;
        }
        if let Some(sub) = changes.dirs.get(name) {
            let base = match current {
                None => None,
                Some((id, TREE)) => Some(id),
                Some(_) => bail!(
                    "`{}` is a file in the parent commit: delete it to put files under it",
                    full(name)
                ),
            };
            current = build(objects, odb, base, sub, &full(name))?.map(|id| (id, TREE));
        }
        if let Some(Some((id, mode))) = file {
            if let Some((_, TREE)) = current {
                bail!(
                    "`{}` is a directory: delete what is under it to make it a file",
                    full(name)
                );
            }
            current = Some((*id, *mode));
        }
        Ok(current)
    };
    let changed = |name: &[u8]| changes.files.contains_key(name) || changes.dirs.contains_key(name);
    let mut entries = Vec::with_capacity(existing.len() + changes.files.len());
    let mut matched: HashSet<&[u8]> = HashSet::new();
    for e in existing {
        if !changed(e.name) {
            entries.push(e);
            continue;
        }
        matched.insert(e.name);
        if let Some((id, mode)) = resolve(e.name, Some((e.id, e.mode)))? {
            entries.push(Entry {
                mode,
                name: e.name,
                id,
            });
        }
    }
    let mut added: Vec<&[u8]> = changes
        .files
        .keys()
        .chain(changes.dirs.keys())
        .copied()
        .filter(|n| !matched.contains(n))
        .collect();
    added.sort_unstable();
    added.dedup();
    for name in added {
        if let Some((id, mode)) = resolve(name, None)? {
            entries.push(Entry { mode, name, id });
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by(tree_order);
    if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
        bail!("`{}` is both a file and a directory", full(w[0].name));
    }
    let size = entries.iter().map(|e| 6 + e.name.len() + 22).sum();
    let mut data = Vec::with_capacity(size);
    for e in &entries {
        data.extend_from_slice(mode_text(e.mode));
        data.push(b' ');
        data.extend_from_slice(e.name);
        data.push(0);
        data.extend_from_slice(e.id.as_bytes());
    }
    Ok(Some(objects.add(Kind::Tree, Cow::Owned(data), None)))
}

/// A repository-relative path git would accept in a tree.
fn check_path(path: &str) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// The pack.

/// Blobs below this many bytes in all are compressed on one thread: a second one costs more to
/// start than it saves.
const PARALLEL_BYTES: usize = 256 * 1024;

/// Writes `objects` (compressed) as `pack-<checksum>.pack` and `.idx` in `dir`, and returns the
/// checksum.
fn write_pack(dir: &Path, objects: &[Object]) -> Result<String> {
    let count = u32::try_from(objects.len()).context("too many objects for one pack")?;
    let size = objects.iter().map(|o| o.zlib.len() + 10).sum::<usize>();
    let mut pack = Vec::with_capacity(12 + size + 20);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    let mut index: Vec<(Oid, u32, usize)> = Vec::with_capacity(objects.len());
    for o in objects {
        let start = pack.len();
        // Type in bits 4-6 of the first byte, the size in its low four bits and then seven bits
        // a byte, least significant first; the high bit says another byte follows.
        let mut size = o.data.len();
        let mut byte = ((o.kind as u8) << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size != 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        pack.extend_from_slice(&o.zlib);
        index.push((o.id, crc32fast::hash(&pack[start..]), start));
    }
    if pack.len() > 0x7fff_ffff {
        return unsupported("a pack over 2 GiB (the index would need 64-bit offsets)");
    }
    let checksum: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&checksum);

    index.sort_by_key(|&(id, _, _)| id);
    let mut idx = Vec::with_capacity(8 + 256 * 4 + index.len() * 28 + 40);
    idx.extend_from_slice(b"\xfftOc");
    idx.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in &index {
        fanout[usize::from(id.as_bytes()[0])] += 1;
    }
    let mut running = 0;
    for n in fanout {
        running += n;
        idx.extend_from_slice(&running.to_be_bytes());
    }
    for (id, _, _) in &index {
        idx.extend_from_slice(id.as_bytes());
    }
    for (_, crc, _) in &index {
        idx.extend_from_slice(&crc.to_be_bytes());
    }
    for &(_, _, offset) in &index {
        idx.extend_from_slice(&(offset as u32).to_be_bytes());
    }
    idx.extend_from_slice(&checksum);
    let own: [u8; 20] = Sha1::digest(&idx).into();
    idx.extend_from_slice(&own);

    let name = format!("pack-{}", hex(&checksum));
    // git finds a pack by its .idx: the .pack must be complete, under its name, first.
    let tmp_pack = TempFile::write(dir, "tmp_pack_", &pack)?;
    let tmp_idx = TempFile::write(dir, "tmp_idx_", &idx)?;
    tmp_pack.persist(&dir.join(format!("{name}.pack")))?;
    tmp_idx.persist(&dir.join(format!("{name}.idx")))?;
    crate::ui::trace("gitwrite: pack written");
    Ok(name)
}

/// The zlib stream of `input`.
fn compress(z: &mut Compress, input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    z.reset();
    deflate(z, input, &mut out)?;
    Ok(out)
}

/// Appends the zlib stream of `input` to `out`.
fn deflate(z: &mut Compress, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    loop {
        // zlib's bound for incompressible input is a few bytes more than the input.
        out.reserve(input.len() + input.len() / 64 + 64);
        let (before_in, before_out) = (z.total_in(), z.total_out());
        let status = z
            .compress_vec(input, out, FlushCompress::Finish)
            .context("zlib failed")?;
        let used = (z.total_in() - before_in) as usize;
        input = &input[used..];
        match status {
            Status::StreamEnd => return Ok(()),
            _ if used == 0 && z.total_out() == before_out => bail!("zlib made no progress"),
            _ => {}
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file written under a temporary name (`tmp_*`, which `git gc` cleans up if a crash leaves
/// one), removed unless it is renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn write(dir: &Path, prefix: &str, bytes: &[u8]) -> Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}{}_{nanos}_{n}", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // git's pack files are read-only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o444);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        let temp = TempFile { path, keep: false };
        file.write_all(bytes)
            .with_context(|| format!("cannot write `{}`", temp.path.display()))?;
        Ok(temp)
    }

    fn persist(mut self, to: &Path) -> Result<()> {
        fs::rename(&self.path, to).with_context(|| format!("cannot create `{}`", to.display()))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The index.

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

const EXTENDED: u16 = 0x4000;
const NAME_MASK: u16 = 0x0fff;

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
pub fn update_index(
    repo: &Repository,
    workdir: &Path,
    changes: &[(String, Option<(Oid, u32)>)],
) -> Result<IndexLock> {
    update_index_within(repo, workdir, changes, crate::git::lock_wait())
}

/// [`update_index`], waiting up to `wait` for another process's `index.lock` to go away (git
/// holds it for the few milliseconds of a `git add`), then failing with who holds it.
pub fn update_index_within(
    repo: &Repository,
    workdir: &Path,
    changes: &[(String, Option<(Oid, u32)>)],
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

/// The new index file's bytes.
fn write_index(
    index: &Path,
    workdir: &Path,
    changes: &[(String, Option<(Oid, u32)>)],
) -> Result<Vec<u8>> {
    let (bytes, timestamp) = match File::open(index) {
        Ok(mut f) => {
            // The time of the index we read: entries as new are "racily clean" (see `racy`).
            let timestamp = f.metadata().ok().as_ref().map(stat_times).map(|t| t.mtime);
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .with_context(|| format!("cannot read `{}`", index.display()))?;
            (Some(bytes), timestamp)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => (None, None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", index.display())),
    };
    let mut sorted: Vec<&(String, Option<(Oid, u32)>)> = changes.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("`{}` is updated twice", w[0].0);
    }
    for (path, _) in &sorted {
        check_path(path)?;
    }
    let stat = || -> Result<Vec<IndexEntry>> {
        sorted
            .iter()
            .filter_map(|(path, change)| change.map(|(id, mode)| (path, id, mode)))
            .map(|(path, id, mode)| fresh_entry(workdir, path, id, mode))
            .collect()
    };
    let parse = || match &bytes {
        Some(bytes) => index::parse_full(bytes).ok_or_else(|| {
            Unsupported(format!(
                "`{}` is an index this writer does not handle (split, sparse, with a required \
                 extension, or damaged)",
                index.display()
            ))
        }),
        None => Ok(index::Parsed {
            version: 2,
            entries: Vec::new(),
            ranges: Vec::new(),
            extensions: &[],
        }),
    };
    // The work tree's stat data is taken while the index is parsed.
    let (parsed, fresh) = if changes.len() >= 64 {
        std::thread::scope(|s| {
            let fresh = s.spawn(stat);
            let parsed = parse();
            (parsed, fresh.join().expect("the stat thread panicked"))
        })
    } else {
        (parse(), stat())
    };
    let (parsed, fresh) = (parsed?, fresh?);

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

    // Merge the two sorted lists: the old entries kept (by position) and the fresh ones.
    let mut items = Vec::with_capacity(old.len() + fresh.len());
    let mut i = 0;
    let mut next_fresh = 0;
    for (path, _) in &sorted {
        let path = path.as_bytes();
        while i < old.len() && old[i].path.as_slice() < path {
            items.push(Item::Old(i));
            i += 1;
        }
        while i < old.len() && old[i].path == path {
            if stage(&old[i]) != 0 {
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
    let entry = |item: &Item| match *item {
        Item::Old(i) => &old[i],
        Item::New(i) => &fresh[i],
    };
    let path_at = |k: usize| entry(&items[k]).path.as_slice();

    // A file where a directory is, or the reverse (git's "D/F conflict").
    for (path, change) in &sorted {
        if change.is_none() {
            continue;
        }
        let path = path.as_bytes();
        let under = [path, b"/"].concat();
        let k = partition_point(items.len(), |k| path_at(k) < under.as_slice());
        let below = k < items.len() && path_at(k).starts_with(&under);
        let above = path
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == b'/')
            .any(|(n, _)| {
                let k = partition_point(items.len(), |k| path_at(k) < &path[..n]);
                k < items.len() && path_at(k) == &path[..n]
            });
        if below || above {
            return unsupported(format!(
                "`{}` and another path in the index are a file and a directory",
                String::from_utf8_lossy(path)
            ));
        }
    }

    crate::ui::trace("gitwrite: index entries updated");
    // Versions 2 and 3 differ only in extended flags: git writes 3 exactly when an entry has them.
    let extended = items.iter().any(|item| {
        let e = entry(item);
        e.flags_extended != 0 || e.flags & EXTENDED != 0
    });
    let version: u32 = match parsed.version {
        4 => 4,
        _ if extended => 3,
        _ => 2,
    };

    let raw = bytes.as_deref().unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + fresh_len(changes));
    out.extend_from_slice(b"DIRC");
    out.extend_from_slice(&version.to_be_bytes());
    let count = u32::try_from(items.len()).context("too many index entries")?;
    out.extend_from_slice(&count.to_be_bytes());
    let mut previous: &[u8] = &[];
    // Old entries are copied as they are, a run of them at a time; except in version 4 right
    // after a change, where an entry's bytes depend on the previous entry's path.
    let mut run = 0..0;
    let mut copyable = Some(0);
    for item in &items {
        let e = entry(item);
        match *item {
            Item::Old(i) if version != 4 || copyable == Some(i) => {
                let range = &parsed.ranges[i];
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
                put_entry(&mut out, e, version, previous);
            }
        }
        copyable = match *item {
            Item::Old(i) => Some(i + 1),
            Item::New(_) => None,
        };
        previous = &e.path;
    }
    out.extend_from_slice(&raw[run]);

    // The directories holding a changed path, up to the root.
    let mut dirs: HashSet<&[u8]> = HashSet::new();
    if !changed.is_empty() {
        dirs.insert(b"");
    }
    for path in &changed {
        for (n, &c) in path.iter().enumerate() {
            if c == b'/' {
                dirs.insert(&path[..n]);
            }
        }
    }
    let mut at = 0;
    let ext = parsed.extensions;
    while at + 8 <= ext.len() {
        let signature = &ext[at..at + 4];
        let size = index::be32(ext, at + 4).expect("in bounds") as usize;
        let data = &ext[at + 8..at + 8 + size];
        at += 8 + size;
        match signature {
            b"TREE" => {
                let mut tree = Vec::with_capacity(data.len());
                // A cache tree we cannot read is dropped: git rebuilds it.
                if invalidate_tree(data, &dirs, &mut tree).is_some() {
                    out.extend_from_slice(b"TREE");
                    out.extend_from_slice(&(tree.len() as u32).to_be_bytes());
                    out.extend_from_slice(&tree);
                }
            }
            b"REUC" => out.extend_from_slice(&ext[at - 8 - size..at]),
            _ => {}
        }
    }
    let trailer: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&trailer);
    Ok(out)
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
        e.ctime.seconds() as u32,
        e.ctime.nanoseconds(),
        e.mtime.seconds() as u32,
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

fn fresh_len(changes: &[(String, Option<(Oid, u32)>)]) -> usize {
    changes.iter().map(|(p, _)| 72 + p.len()).sum()
}

fn stage(e: &IndexEntry) -> u16 {
    (e.flags >> 12) & 3
}

/// git's variable-length integer (see `index::varint`).
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
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

/// Stat times as `(seconds, nanoseconds)`, truncated as the index keeps them.
struct Times {
    mtime: (u32, u32),
    ctime: (u32, u32),
}

#[cfg(unix)]
fn stat_times(m: &fs::Metadata) -> Times {
    use std::os::unix::fs::MetadataExt;
    Times {
        mtime: (m.mtime() as u32, m.mtime_nsec() as u32),
        ctime: (m.ctime() as u32, m.ctime_nsec() as u32),
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
fn fresh_entry(workdir: &Path, path: &str, id: Oid, mode: u32) -> Result<IndexEntry> {
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
    let len = path.len().min(usize::from(NAME_MASK)) as u16;
    Ok(IndexEntry {
        ctime: IndexTime::new(t.ctime.0 as i32, t.ctime.1),
        mtime: IndexTime::new(t.mtime.0 as i32, t.mtime.1),
        dev: m.dev() as u32,
        ino: m.ino() as u32,
        mode,
        uid: m.uid(),
        gid: m.gid(),
        file_size: m.size() as u32,
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
fn racy(e: &IndexEntry, timestamp: (u32, u32)) -> bool {
    stage(e) == 0 && e.mode & TYPE_MASK != GITLINK && e.mtime.seconds() as u32 >= timestamp.0
}

/// Smudges a racily clean entry whose file's content is not its blob while its stat data would
/// still tell git "unchanged"; whether it did.
fn smudge_if_modified(workdir: &Path, e: &mut IndexEntry, timestamp: (u32, u32)) -> bool {
    let Ok(path) = std::str::from_utf8(&e.path) else {
        e.file_size = 0;
        return true;
    };
    let full = workdir.join(path);
    let Ok(m) = fs::symlink_metadata(&full) else {
        return false; // Deleted: git sees it.
    };
    let t = stat_times(&m);
    let recorded = (e.mtime.seconds() as u32, e.mtime.nanoseconds());
    if m.len() as u32 != e.file_size || t.mtime.0 != recorded.0 {
        return false; // git sees the change in the stat data.
    }
    // Unchanged since the old index was written, to the nanosecond: a later write would have
    // given the file a later mtime (or ctime).
    let ctime = (e.ctime.seconds() as u32, e.ctime.nanoseconds());
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    const IDENT: &str = "Pro Mote <promote@example.com> 1700000000 +0100";

    fn git_full(dir: &Path, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", dir)
            .env("GIT_AUTHOR_NAME", "Pro Mote")
            .env("GIT_AUTHOR_EMAIL", "promote@example.com")
            .env("GIT_AUTHOR_DATE", "1700000000 +0100")
            .env("GIT_COMMITTER_NAME", "Pro Mote")
            .env("GIT_COMMITTER_EMAIL", "promote@example.com")
            .env("GIT_COMMITTER_DATE", "1700000000 +0100")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = git_full(dir, args, None);
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(dir: &Path, path: &str, content: &str) {
        let full = dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }

    #[cfg(unix)]
    fn chmod(dir: &Path, path: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.join(path), fs::Permissions::from_mode(mode)).unwrap();
    }

    fn upsert(path: &str, content: &str, mode: u32) -> Update {
        Update {
            path: path.into(),
            content: Some(content.as_bytes().to_vec()),
            mode,
        }
    }

    fn delete(path: &str) -> Update {
        Update {
            path: path.into(),
            content: None,
            mode: 0,
        }
    }

    /// Applies `updates` to the work tree, as the caller would have.
    fn apply(dir: &Path, updates: &[Update]) {
        for u in updates {
            let full = dir.join(&u.path);
            match &u.content {
                Some(c) if u.mode == SYMLINK => {
                    let _ = fs::remove_file(&full);
                    fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::os::unix::fs::symlink(std::str::from_utf8(c).unwrap(), &full).unwrap();
                }
                Some(c) => {
                    fs::create_dir_all(full.parent().unwrap()).unwrap();
                    fs::write(&full, c).unwrap();
                    chmod(
                        dir,
                        &u.path,
                        if u.mode == EXECUTABLE { 0o755 } else { 0o644 },
                    );
                }
                None => {
                    fs::remove_file(&full).unwrap();
                    // Empty directories go, as git removes them.
                    let mut parent = full.parent();
                    while let Some(p) = parent.filter(|p| *p != dir) {
                        if fs::remove_dir(p).is_err() {
                            break;
                        }
                        parent = p.parent();
                    }
                }
            }
        }
    }

    fn packs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir.join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .map(|p| (p.display().to_string(), fs::read(p).unwrap()))
            .collect()
    }

    /// The objects of the packs that appeared since `before`: `(id, type)` from `verify-pack -v`.
    fn new_objects(dir: &Path, before: &BTreeMap<String, Vec<u8>>) -> Vec<(String, String)> {
        let mut objects = Vec::new();
        for idx in packs(dir).keys().filter(|k| !before.contains_key(*k)) {
            let out = git(dir, &["verify-pack", "-v", idx]);
            for line in out.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 5 && f[0].len() == 40 {
                    // Undeltified: id, type, size, packed size, offset, and nothing more.
                    assert_eq!(f.len(), 5, "{line}");
                    objects.push((f[0].to_string(), f[1].to_string()));
                }
            }
        }
        objects.sort();
        objects
    }

    /// A repository with one commit: nested directories, names whose order depends on the
    /// trailing-slash rule (`a-b`, `a.b`, `a/`, `a0`), an executable, a symlink, a directory
    /// left untouched.
    fn repo() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q", "-b", "main"]);
        for (path, content) in [
            ("a-b", "1\n"),
            ("a.b", "2\n"),
            ("a/x.yaml", "3\n"),
            ("a0", "4\n"),
            ("mod.yaml", "old\n"),
            ("keep/one.yaml", "k1\n"),
            ("keep/deep/two.yaml", "k2\n"),
            ("gone/only.yaml", "g\n"),
            ("half/stays.yaml", "s\n"),
            ("half/goes.yaml", "h\n"),
            ("run.sh", "#!/bin/sh\necho hi\n"),
            ("env/dev/app.yaml", "image: v1\n"),
            ("env/staging/app.yaml", "image: v0\n"),
        ] {
            write(d, path, content);
        }
        std::os::unix::fs::symlink("mod.yaml", d.join("link")).unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "one"]);
        t
    }

    fn the_change() -> Vec<Update> {
        vec![
            upsert("mod.yaml", "new\n", REGULAR),
            upsert("run.sh", "#!/bin/sh\necho hi\n", EXECUTABLE),
            upsert("new/nested/dir/c.yaml", "c\n", REGULAR),
            upsert("new/top.yaml", "t\n", REGULAR),
            upsert("a/y.yaml", "5\n", REGULAR),
            upsert("a.c", "6\n", REGULAR),
            upsert("env/staging/app.yaml", "image: v1\n", REGULAR),
            upsert("env/prod/app.yaml", "image: v1\n", REGULAR),
            upsert("link2", "a/x.yaml", SYMLINK),
            delete("gone/only.yaml"),
            delete("half/goes.yaml"),
            delete("link"),
        ]
    }

    fn head(repo: &Repository) -> Oid {
        repo.head().unwrap().peel_to_commit().unwrap().id()
    }

    #[test]
    fn commit_has_the_ids_git_computes() {
        let t = repo();
        let d = t.path();
        let repo = Repository::open(d).unwrap();
        let parent = head(&repo);
        let updates = the_change();
        apply(d, &updates);
        let before = packs(d);
        let id =
            write_commit(&repo, parent, &updates, IDENT, IDENT, "Promote\n\nbody\n\n").unwrap();

        // libgit2 reads it through the same handle.
        let commit = repo.find_commit(id).unwrap();
        assert_eq!(commit.parent_id(0).unwrap(), parent);
        assert_eq!(commit.message_raw(), Some("Promote\n\nbody\n"));
        let tree = commit.tree().unwrap();
        let entry = tree.get_path(Path::new("new/nested/dir/c.yaml")).unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        assert_eq!(blob.content(), b"c\n");

        // The same ids as git's, for the same work tree.
        git(d, &["add", "-A"]);
        let expected = git(d, &["write-tree"]);
        assert_eq!(tree.id().to_string(), expected.trim());
        // And the commit git would write.
        let theirs = git_full(
            d,
            &["commit-tree", expected.trim(), "-p", &parent.to_string()],
            Some(b"Promote\n\nbody\n"),
        );
        assert_eq!(
            String::from_utf8_lossy(&theirs.stdout).trim(),
            id.to_string()
        );

        git(d, &["update-ref", "refs/heads/fast", &id.to_string()]);
        let fsck = git_full(d, &["fsck", "--strict", "--no-dangling"], None);
        assert!(fsck.status.success(), "{fsck:?}");
        assert!(fsck.stderr.is_empty(), "{fsck:?}");
        assert!(fsck.stdout.is_empty(), "{fsck:?}");

        // One pack, holding the objects on the changed paths, each once: the commit; the trees of
        // the root, `a`, `half`, `env`, `env/staging` (the same tree as `env/prod` now), `new`,
        // `new/nested`, `new/nested/dir`; the blobs `new\n`, `c\n`, `t\n`, `5\n`, `6\n`, the
        // link's target, `run.sh`'s and `image: v1\n` (those two exist already: blobs and trees
        // are not looked up, see `NewObjects::add`).
        let objects = new_objects(d, &before);
        assert_eq!(packs(d).len(), before.len() + 1);
        let count = |kind: &str| objects.iter().filter(|(_, k)| k == kind).count();
        assert_eq!((count("commit"), count("tree"), count("blob")), (1, 8, 8));

        let listing = git(d, &["cat-file", "-p", &format!("{id}^{{tree}}")]);
        let names: Vec<&str> = listing
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "a-b", "a.b", "a.c", "a", "a0", "env", "half", "keep", "link2", "mod.yaml", "new",
                "run.sh"
            ]
        );
        assert!(listing.contains("100755 blob"), "{listing}");
        assert!(listing.contains("120000 blob"), "{listing}");
        // Untouched subtrees keep their ids.
        let keep = |rev: &str| git(d, &["rev-parse", &format!("{rev}:keep")]);
        assert_eq!(keep("main"), keep("fast"));
    }

    #[test]
    fn an_existing_commit_is_not_written_again() {
        let t = repo();
        let d = t.path();
        // Change mod.yaml with git, then restore its first content with write_commit.
        write(d, "mod.yaml", "second\n");
        git(d, &["commit", "-q", "-am", "two"]);
        let repo = Repository::open(d).unwrap();
        let before = packs(d);
        let updates = [upsert("mod.yaml", "old\n", REGULAR)];
        let id = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "back").unwrap();
        let objects = new_objects(d, &before);
        // The blob and root tree exist already (the first commit's) and are written again, with
        // the commit: blobs and trees are not looked up (see `NewObjects::add`).
        let kinds: Vec<&str> = objects.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "commit").count(), 1);
        assert!(objects.contains(&(id.to_string(), "commit".to_string())));
        assert_eq!(git(d, &["fsck", "--strict", "--no-dangling"]), "");
        let first = git(d, &["rev-parse", "HEAD~1^{tree}"]);
        assert_eq!(
            repo.find_commit(id).unwrap().tree_id().to_string(),
            first.trim()
        );

        // The same commit again: nothing at all to write, no new pack.
        let before = packs(d);
        let again = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "back").unwrap();
        assert_eq!(again, id);
        assert_eq!(packs(d), before);
    }

    #[test]
    fn conflicting_or_invalid_updates_are_refused() {
        let t = repo();
        let d = t.path();
        let repo = Repository::open(d).unwrap();
        let parent = head(&repo);
        let refuse = |updates: &[Update]| {
            write_commit(&repo, parent, updates, IDENT, IDENT, "x").unwrap_err()
        };
        // A file under a file, a file over a directory, twice the same path, bad paths.
        refuse(&[upsert("mod.yaml/x", "1", REGULAR)]);
        refuse(&[upsert("keep", "1", REGULAR)]);
        refuse(&[delete("keep")]);
        refuse(&[upsert("x", "1", REGULAR), upsert("x", "2", REGULAR)]);
        for bad in [
            "",
            "/x",
            "x/",
            "a//b",
            "../x",
            "a/./b",
            ".git/config",
            "x/.GIT/y",
        ] {
            refuse(&[upsert(bad, "1", REGULAR)]);
        }
        let ok = write_commit(&repo, parent, &[], IDENT, IDENT, "x");
        assert!(ok.is_ok());
        assert!(write_commit(&repo, parent, &[], "nobody", IDENT, "x").is_err());
        assert!(write_commit(&repo, parent, &[], IDENT, IDENT, "\n\n").is_err());
        // With the deletions that make room, a file may replace a directory and the reverse.
        let updates = [
            delete("keep/one.yaml"),
            delete("keep/deep/two.yaml"),
            upsert("keep", "now a file\n", REGULAR),
            delete("mod.yaml"),
            upsert("mod.yaml/x", "now a dir\n", REGULAR),
        ];
        let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "swap").unwrap();
        apply(d, &updates[..2]);
        apply(d, &updates[3..4]);
        apply(d, &updates[2..3]);
        apply(d, &updates[4..]);
        git(d, &["add", "-A"]);
        let expected = git(d, &["write-tree"]);
        assert_eq!(
            repo.find_commit(id).unwrap().tree_id().to_string(),
            expected.trim()
        );
    }

    /// The cache tree's nodes: path -> valid.
    fn cache_tree(index: &[u8]) -> BTreeMap<String, bool> {
        let parsed = index::parse_full(index).unwrap();
        let ext = parsed.extensions;
        let mut at = 0;
        let mut nodes = BTreeMap::new();
        while at < ext.len() {
            let size = index::be32(ext, at + 4).unwrap() as usize;
            if &ext[at..at + 4] == b"TREE" {
                let data = &ext[at + 8..at + 8 + size];
                let mut i = 0;
                let mut stack: Vec<(String, usize)> = Vec::new();
                while i < data.len() {
                    let nul = i + data[i..].iter().position(|&c| c == 0).unwrap();
                    let name = String::from_utf8(data[i..nul].to_vec()).unwrap();
                    let nl = nul + data[nul..].iter().position(|&c| c == b'\n').unwrap();
                    let line = std::str::from_utf8(&data[nul + 1..nl]).unwrap();
                    let (count, subtrees) = line.split_once(' ').unwrap();
                    let count: i64 = count.parse().unwrap();
                    i = nl + 1 + if count >= 0 { 20 } else { 0 };
                    while stack.last().is_some_and(|(_, left)| *left == 0) {
                        stack.pop();
                    }
                    let path = match stack.last_mut() {
                        Some((parent, left)) => {
                            *left -= 1;
                            if parent.is_empty() {
                                name
                            } else {
                                format!("{parent}/{name}")
                            }
                        }
                        None => name,
                    };
                    nodes.insert(path.clone(), count >= 0);
                    stack.push((path, subtrees.parse().unwrap()));
                }
            }
            at += 8 + size;
        }
        nodes
    }

    fn index_with_version(version: &str, intent_to_add: bool) {
        let t = repo();
        let d = t.path();
        git(d, &["update-index", "--index-version", version]);
        git(d, &["config", "core.untrackedCache", "true"]);
        // A valid cache tree everywhere, an untracked cache, and nothing racy.
        git(d, &["status", "--porcelain"]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        git(d, &["update-index", "--refresh"]);
        if intent_to_add {
            write(d, "ita.yaml", "i\n");
            git(d, &["add", "-N", "ita.yaml"]);
        }
        let index = d.join(".git/index");
        let old = fs::read(&index).unwrap();
        assert!(old.windows(4).any(|w| w == b"UNTR"));
        let old_tree = cache_tree(&old);
        assert_eq!(old_tree.get("keep/deep"), Some(&true), "{old_tree:?}");
        assert_eq!(old_tree.get("half"), Some(&true), "{old_tree:?}");
        let old_entries = index::read(&index).unwrap();

        let repo = Repository::open(d).unwrap();
        let updates = the_change();
        apply(d, &updates);
        // An mtime unlike the ctime, so that swapping them shows.
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(d.join("mod.yaml"))
            .unwrap()
            .set_times(fs::FileTimes::new().set_modified(hour_ago))
            .unwrap();
        let id = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "Promote").unwrap();
        let lock = update_index(&repo, d, &index_changes(&updates)).unwrap();
        assert_eq!(fs::read(&index).unwrap(), old, "untouched until commit");
        git(d, &["update-ref", "HEAD", &id.to_string()]);
        lock.commit().unwrap();
        assert!(!d.join(".git/index.lock").exists());

        // Everything about our index first: `git status` and `git write-tree` rewrite it.
        let new = fs::read(&index).unwrap();
        let ours = index::read(&index).unwrap();
        let debug = git(d, &["ls-files", "-s", "--debug"]);
        assert_eq!(fs::read(&index).unwrap(), new);
        let expected_version: u32 = version.parse().unwrap();
        let expected_version = if intent_to_add && expected_version == 2 {
            3
        } else {
            expected_version
        };
        assert_eq!(index::be32(&new, 4), Some(expected_version));
        assert!(!new.windows(4).any(|w| w == b"UNTR"), "UNTR is dropped");
        // Our own dirty check agrees that the work tree is clean.
        assert_eq!(
            crate::git::status::dirty(&repo, &["".to_string()]).unwrap(),
            if intent_to_add {
                vec!["ita.yaml".to_string()]
            } else {
                vec![]
            }
        );

        // Fresh stat data on the changed paths, the very data git records; untouched entries kept.
        let other = d.join(".git/other-index");
        let with_other = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(d)
                .env("GIT_INDEX_FILE", &other)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        with_other(&["read-tree", "HEAD"]);
        let paths: Vec<&str> = updates.iter().map(|u| u.path.as_str()).collect();
        let mut args = vec!["update-index", "--add", "--remove", "--"];
        args.extend(&paths);
        with_other(&args);
        let theirs = index::read(&other).unwrap();
        for u in &updates {
            let find = |list: &[IndexEntry]| {
                list.iter().find(|e| e.path == u.path.as_bytes()).map(|e| {
                    (
                        e.id,
                        e.mode,
                        e.file_size,
                        e.ino,
                        e.dev,
                        e.uid,
                        e.gid,
                        (e.mtime.seconds(), e.mtime.nanoseconds()),
                        (e.ctime.seconds(), e.ctime.nanoseconds()),
                        e.flags,
                        e.flags_extended,
                    )
                })
            };
            assert_eq!(find(&ours), find(&theirs), "{}", u.path);
            assert_eq!(find(&ours).is_some(), u.content.is_some(), "{}", u.path);
            if let Some(e) = find(&ours) {
                assert!(e.3 != 0 && e.7 .0 != 0 && e.8 .0 != 0, "{}: {e:?}", u.path);
                let shown = format!(
                    "\t{}\n  ctime: {}:{}\n  mtime: {}:{}\n",
                    u.path, e.8 .0, e.8 .1, e.7 .0, e.7 .1
                );
                assert!(debug.contains(&shown), "{shown} in {debug}");
            }
        }
        let changed: HashSet<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
        let kept: Vec<_> = old_entries
            .iter()
            .filter(|e| !changed.contains(e.path.as_slice()))
            .collect();
        let still: Vec<_> = ours
            .iter()
            .filter(|e| !changed.contains(e.path.as_slice()))
            .collect();
        assert_eq!(kept.len(), still.len());
        for (a, b) in kept.iter().zip(&still) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }

        // The cache tree: still valid where nothing changed, invalid along the changed paths,
        // and right: write-tree trusts its valid nodes.
        let tree = cache_tree(&new);
        assert_eq!(tree.get("keep"), Some(&true), "{tree:?}");
        assert_eq!(tree.get("keep/deep"), Some(&true), "{tree:?}");
        for invalid in ["", "a", "env", "env/staging", "half", "gone"] {
            assert_eq!(tree.get(invalid), Some(&false), "{invalid}: {tree:?}");
        }
        let head_tree = git(d, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(git(d, &["write-tree"]), head_tree);

        let ita = if intent_to_add { " A ita.yaml\n" } else { "" };
        assert_eq!(git(d, &["status", "--porcelain"]), ita);
        let ita = if intent_to_add {
            format!(
                ":000000 100644 {z} {empty} A\tita.yaml\n",
                z = "0".repeat(40),
                empty = blob_id(b"")
            )
        } else {
            String::new()
        };
        assert_eq!(git(d, &["diff-index", "--cached", "HEAD"]), ita);
    }

    #[test]
    fn index_version_2() {
        index_with_version("2", false);
    }

    #[test]
    fn index_version_3_with_an_intent_to_add_entry() {
        index_with_version("2", true);
    }

    #[test]
    fn index_version_4() {
        index_with_version("4", false);
    }

    #[test]
    fn an_existing_lock_is_respected() {
        let t = repo();
        let d = t.path();
        let repo = Repository::open(d).unwrap();
        let index = d.join(".git/index");
        let lock_path = d.join(".git/index.lock");
        let old = fs::read(&index).unwrap();
        fs::write(&lock_path, "someone else's").unwrap();
        let updates = [upsert("mod.yaml", "new\n", REGULAR)];
        apply(d, &updates);
        let wait = std::time::Duration::from_millis(200);
        let started = std::time::Instant::now();
        let err = update_index_within(&repo, d, &index_changes(&updates), wait).unwrap_err();
        assert!(started.elapsed() >= wait, "gave up before the wait");
        let text = format!("{err:#}");
        assert!(text.contains(&lock_path.display().to_string()), "{text}");
        assert!(text.contains("no process has it open"), "{text}");
        assert_eq!(fs::read(&index).unwrap(), old);
        assert_eq!(fs::read(&lock_path).unwrap(), b"someone else's");

        fs::remove_file(&lock_path).unwrap();
        let lock = update_index(&repo, d, &index_changes(&updates)).unwrap();
        assert!(lock_path.exists());
        assert_eq!(lock.path(), lock_path);
        lock.rollback();
        assert!(!lock_path.exists());
        assert_eq!(fs::read(&index).unwrap(), old);
        // Dropped without a commit: the same.
        drop(update_index(&repo, d, &index_changes(&updates)).unwrap());
        assert!(!lock_path.exists());
        assert_eq!(fs::read(&index).unwrap(), old);
    }

    #[test]
    fn a_lock_released_within_the_wait_is_waited_for() {
        let t = repo();
        let d = t.path();
        let repo = Repository::open(d).unwrap();
        let lock_path = d.join(".git/index.lock");
        fs::write(&lock_path, "someone else's").unwrap();
        let updates = [upsert("mod.yaml", "new\n", REGULAR)];
        apply(d, &updates);
        let release = {
            let lock_path = lock_path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(150));
                fs::remove_file(lock_path).unwrap();
            })
        };
        let wait = std::time::Duration::from_secs(20);
        let lock = update_index_within(&repo, d, &index_changes(&updates), wait).unwrap();
        release.join().unwrap();
        lock.commit().unwrap();
        let entries = index::read(&d.join(".git/index")).unwrap();
        let e = entries.iter().find(|e| e.path == b"mod.yaml").unwrap();
        assert_eq!(e.id, blob_id(b"new\n"));
    }

    #[test]
    fn indexes_git_should_write_are_refused() {
        let t = repo();
        let d = t.path();
        let repo = Repository::open(d).unwrap();
        let index = d.join(".git/index");
        let updates = [upsert("mod.yaml", "new\n", REGULAR)];
        apply(d, &updates);
        git(d, &["update-index", "--split-index"]);
        let old = fs::read(&index).unwrap();
        let err = update_index(&repo, d, &index_changes(&updates)).unwrap_err();
        assert!(err.downcast_ref::<Unsupported>().is_some(), "{err:#}");
        assert_eq!(fs::read(&index).unwrap(), old);
        assert!(!d.join(".git/index.lock").exists());
        git(d, &["update-index", "--no-split-index"]);

        // A conflicted path.
        let blob = blob_id(b"x\n").to_string();
        git_full(
            d,
            &["update-index", "--index-info"],
            Some(format!("100644 {blob} 1\tmod.yaml\n100644 {blob} 2\tmod.yaml\n").as_bytes()),
        );
        let err = update_index(&repo, d, &index_changes(&updates)).unwrap_err();
        assert!(err.downcast_ref::<Unsupported>().is_some(), "{err:#}");
        assert!(!d.join(".git/index.lock").exists());
    }

    /// A racily clean entry (not older than the index) whose file changed without changing the
    /// stat data git compares is smudged, as git does; an unchanged one is left alone.
    #[test]
    fn racily_clean_entries_are_smudged_when_modified() {
        for version in ["2", "4"] {
            racy_case(version);
        }
    }

    fn racy_case(version: &str) {
        use std::time::{Duration, SystemTime};
        let t = repo();
        let d = t.path();
        git(d, &["config", "core.trustctime", "false"]);
        git(d, &["update-index", "--index-version", version]);
        let when = SystemTime::now() - Duration::from_secs(100);
        let set = |path: &Path, t: SystemTime| {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_times(fs::FileTimes::new().set_modified(t))
                .unwrap();
        };
        for f in ["mod.yaml", "a0"] {
            set(&d.join(f), when);
        }
        git(d, &["update-index", "--refresh"]);
        // The index as old as the files: their entries are racy.
        set(&d.join(".git/index"), when);
        fs::write(d.join("mod.yaml"), "OLD\n").unwrap();
        set(&d.join("mod.yaml"), when);
        // Before: git sees the change, checking the racy entry's content.
        assert_eq!(
            git_full(d, &["diff-files", "--quiet"], None).status.code(),
            Some(1)
        );
        let before = index::read(&d.join(".git/index")).unwrap();

        let repo = Repository::open(d).unwrap();
        let updates = [upsert("a-b", "changed\n", REGULAR)];
        apply(d, &updates);
        update_index(&repo, d, &index_changes(&updates))
            .unwrap()
            .commit()
            .unwrap();
        let entries = index::read(&d.join(".git/index")).unwrap();
        let size = |p: &str| {
            entries
                .iter()
                .find(|e| e.path == p.as_bytes())
                .unwrap()
                .file_size
        };
        assert_eq!(size("mod.yaml"), 0, "smudged");
        assert_eq!(size("a0"), 2, "unchanged, so not smudged");
        // Everything else as it was.
        assert_eq!(entries.len(), before.len());
        for (a, b) in before.iter().zip(&entries) {
            if a.path != b"a-b" && a.path != b"mod.yaml" {
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
        // After: git still sees it, though the index is newer than the file now.
        let status = git(d, &["status", "--porcelain"]);
        assert_eq!(status, "M  a-b\n M mod.yaml\n", "version {version}");
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    /// `write_commit` + `update_index` (+ the ref and the lock's commit) against
    /// `git update-index` + `git commit` for 1,000 changed files in a 24,000-file repository
    /// (8,000 of them in the directory that changes). Release mode:
    /// `cargo test --release --lib gitwrite -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_against_git() {
        // As `git::Repo::discover` sets it.
        git2::opts::strict_hash_verification(false);
        let t = tempfile::tempdir().unwrap();
        let template = t.path().join("template");
        let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
        let out = Command::new("python3")
            .arg(&gen)
            .arg(&template)
            .args(["--services", "1000", "--layout", "legacy"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // 1,000 files of `staging/`, each with a new version.
        let mut names: Vec<String> = fs::read_dir(template.join("staging"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with("-deployment.yaml"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 1000);
        let updates: Vec<Update> = names
            .iter()
            .map(|n| {
                let path = format!("staging/{n}");
                let old = fs::read_to_string(template.join(&path)).unwrap();
                let version = old
                    .split("app.kubernetes.io/version: \"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let new = old.replace(version, "abcdef0");
                assert_ne!(new, old);
                upsert(&path, &new, REGULAR)
            })
            .collect();
        let paths: String = updates.iter().map(|u| format!("{}\0", u.path)).collect();

        // A copy of the repository with the change in its work tree, its index fresh.
        let copy = |name: &str| {
            let dir = t.path().join(name);
            let out = Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            git(&dir, &["update-index", "-q", "--refresh"]);
            apply(&dir, &updates);
            // Nothing measured waits for the copy's writeback.
            assert!(Command::new("sync").status().unwrap().success());
            dir
        };
        let ms = |start: std::time::Instant| start.elapsed().as_secs_f64() * 1000.0;
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let mut parts = vec![Vec::new(); 4];
        for round in 0..5 {
            let d = copy(&format!("fast{round}"));
            let repo = Repository::open(&d).unwrap();
            let head = repo.head().unwrap();
            let branch = head.name().unwrap().to_string();
            let parent = head.peel_to_commit().unwrap().id();
            let start = std::time::Instant::now();
            let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "Promote\n").unwrap();
            let t1 = ms(start);
            let lock = update_index(&repo, &d, &index_changes(&updates)).unwrap();
            let t2 = ms(start);
            repo.reference_matching(&branch, id, true, parent, "commit: Promote")
                .unwrap();
            let t3 = ms(start);
            lock.commit().unwrap();
            let t4 = ms(start);
            fast.push(t4);
            for (i, t) in [t1, t2 - t1, t3 - t2, t4 - t3].into_iter().enumerate() {
                parts[i].push(t);
            }
            assert_eq!(git(&d, &["status", "--porcelain"]), "");

            let g = copy(&format!("git{round}"));
            let start = std::time::Instant::now();
            let run = |args: &[&str], input: &[u8]| {
                let out = git_full(&g, args, Some(input));
                assert!(out.status.success(), "{out:?}");
            };
            run(
                &["update-index", "--add", "--remove", "-z", "--stdin"],
                paths.as_bytes(),
            );
            run(&["commit", "-q", "-F", "-"], b"Promote\n");
            slow.push(ms(start));
            // The same commit, to the byte.
            assert_eq!(git(&g, &["rev-parse", "HEAD"]).trim(), id.to_string());
            let _ = fs::remove_dir_all(&d);
            let _ = fs::remove_dir_all(&g);
        }
        eprintln!(
            "write_commit {:.1} ms, update_index {:.1} ms, ref {:.1} ms, index commit {:.1} ms",
            median(parts[0].clone()),
            median(parts[1].clone()),
            median(parts[2].clone()),
            median(parts[3].clone()),
        );
        eprintln!(
            "in-process: {fast:.1?} ms, median {:.1} ms",
            median(fast.clone())
        );
        eprintln!(
            "git:        {slow:.1?} ms, median {:.1} ms",
            median(slow.clone())
        );
    }

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 129, 255, 16_511, 16_512, 1 << 40] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut value = u64::from(out[0] & 0x7f);
            for &b in &out[1..] {
                value = ((value + 1) << 7) | u64::from(b & 0x7f);
            }
            assert_eq!(value, v, "{out:?}");
            assert!(out[..out.len() - 1].iter().all(|b| b & 0x80 != 0));
            assert_eq!(out.last().unwrap() & 0x80, 0);
        }
    }
}
