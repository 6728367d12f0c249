//! What `promote render` found clean last time, so that it need not read every file again.
//!
//! After a render that changes nothing in an environment, promote records in
//! `<git dir>/promote/render-state` the file-system stat data (size, mtime, ctime, inode, mode) of
//! every file and directory that render read (templates, partials, the synced manifests) and a key of
//! everything else it depends on (`promote.yaml`, the environment's versions, promote's own binary).
//! The next render of that environment stats those paths; when every one is as recorded and the key
//! is the same, the render would produce exactly the bytes on disk again, and is skipped.
//!
//! This is git's index trick, with git's care: any change to a file changes its ctime (which no tool
//! can set back) and a replaced file has a new inode; adding or removing a file changes its
//! directory's mtime. A file changed within two seconds before recording (racily clean: a later
//! change could leave the same time stamps) is recorded with a stamp that matches nothing, so it
//! is taken as unchanged only on its proof: git's index vouching for the same blob (see `Proof`).
//! A path whose stamp changed but whose proof holds is stamped anew. The state lives in the git
//! directory, is never committed, and a missing or unreadable state only means a full render.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::git::ObjectId;

use crate::model::config::{Config, Environment, Layout};
use crate::model::version::Version;

const FILE: &str = "promote/render-state";
const HEADER: &str = "promote render-state 2";
/// A file changed this recently is not trusted to show a later change in its time stamps.
const RACY: Duration = Duration::from_secs(2);

/// The stat data that must not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    mode: u32,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(Stamp {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            mode: m.mode(),
        })
    }

    /// Stands for a file whose stat data was too recent to trust: no file has inode 0.
    const UNKNOWN: Stamp = Stamp {
        size: 0,
        mtime: (0, 0),
        ctime: (0, 0),
        ino: 0,
        mode: 0,
    };

    fn from_stat(s: crate::fs::at::Stat) -> Stamp {
        Stamp {
            size: s.size,
            mtime: s.mtime,
            ctime: s.ctime,
            ino: s.ino,
            mode: s.mode,
        }
    }

    fn to_line(self, path: &str, proof: &Proof) -> String {
        format!(
            "{path}\t{} {} {} {} {} {} {:o}\t{}\n",
            self.size,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1,
            self.ino,
            self.mode,
            proof.to_field()
        )
    }

    fn parse(s: &str) -> Option<Stamp> {
        let mut f = s.split(' ');
        let stamp = Stamp {
            size: f.next()?.parse().ok()?,
            mtime: (f.next()?.parse().ok()?, f.next()?.parse().ok()?),
            ctime: (f.next()?.parse().ok()?, f.next()?.parse().ok()?),
            ino: f.next()?.parse().ok()?,
            mode: u32::from_str_radix(f.next()?, 8).ok()?,
        };
        f.next().is_none().then_some(stamp)
    }

    /// Changed too recently to be trusted (see the module documentation).
    fn racy(&self, now: SystemTime) -> bool {
        let newest = self.mtime.max(self.ctime);
        let at = SystemTime::UNIX_EPOCH + Duration::new(newest.0.max(0) as u64, newest.1 as u32);
        at + RACY > now
    }
}

/// Every path's stamp (None: absent), paths relative to the repository root, and what else
/// proves it unchanged when its stamp changed.
type Stamps = Vec<(String, Option<Stamp>, Proof)>;

/// What shows that a path whose stat data changed still holds what was rendered: a tool that
/// rewrites files with the same bytes (`git checkout`, `git reset --hard`, `sed -i`, a copy) gives
/// them a new inode and ctime.
#[derive(Debug, Clone, PartialEq)]
enum Proof {
    None,
    /// A file: the blob id git's index vouched for when it was recorded. If the index now holds an
    /// entry for it with this id and stat data equal to the file's (git's own test that a file is
    /// unchanged, as `git status` trusts it), the content is the same.
    Blob(ObjectId),
    /// A directory: a hash of its entries' names (files added or removed).
    Names(String),
}

impl Proof {
    fn to_field(&self) -> String {
        match self {
            Proof::None => "-".into(),
            Proof::Blob(id) => id.to_string(),
            Proof::Names(h) => format!("d:{h}"),
        }
    }

    fn parse(s: &str) -> Option<Proof> {
        Some(match s {
            "-" => Proof::None,
            _ => match s.strip_prefix("d:") {
                Some(h) => Proof::Names(h.to_string()),
                None => Proof::Blob(ObjectId::from_hex(s)?),
            },
        })
    }
}

/// The git index, for `Proof::Blob`.
struct GitIndex {
    index: crate::git::Index,
    /// The index file's mtime: an entry as new is racily clean, and proves nothing.
    mtime: (i64, i64),
}

impl GitIndex {
    fn load(git_dir: &Path) -> Option<GitIndex> {
        // Only where the in-process readers are proven to read the index git uses.
        let m = std::fs::metadata(git_dir.join("index")).ok()?;
        Some(GitIndex {
            index: crate::git::Index::read(git_dir)?,
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }

    /// The blob id the index holds for `path` if its stat data is `stamp`'s (and it is not racy).
    fn vouches(&self, path: &str, stamp: &Stamp) -> Option<ObjectId> {
        use crate::git::mode;
        let e = self.index.stat(path)?;
        let same = u64::from(e.size) == stamp.size & 0xffff_ffff
            && e.mtime == stamp.mtime
            && e.ctime == stamp.ctime
            && u64::from(e.ino) == stamp.ino & 0xffff_ffff
            && e.mode & mode::TYPE_MASK == mode::FILE_TYPE
            && stamp.mode & mode::TYPE_MASK == mode::FILE_TYPE
            && (e.mode & 0o100) == (stamp.mode & 0o100);
        (same && e.mtime < self.mtime && e.size != 0).then_some(e.id)
    }
}

/// A hash of the names in directory `path`, if it can be listed.
fn names_hash(path: &Path) -> Option<String> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(path)
        .ok()?
        .map(|e| e.map(|e| e.file_name().as_encoded_bytes().to_vec()))
        .collect::<std::io::Result<_>>()
        .ok()?;
    names.sort();
    let mut h = Sha256::new();
    for n in names {
        h.update(n);
        h.update([0]);
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// One environment's record: the key and the stamps.
#[derive(Debug, Default, Clone, PartialEq)]
struct Record {
    key: String,
    stamps: Stamps,
    /// How many manifests the environment renders (reported by `render`).
    files: usize,
}

/// The render state of a repository.
pub struct RenderState {
    path: PathBuf,
    records: BTreeMap<String, Record>,
    changed: bool,
    /// Stamps taken in this run: the environments share their templates, and nothing this run
    /// writes is stamped before it is written.
    seen: std::sync::Mutex<std::collections::HashMap<String, Option<Stamp>, FastHash>>,
}

/// A multiply-rotate hash (as rustc's `FxHash`) for the stamp cache: its keys are paths from the
/// state itself, not from an adversary, and SipHash was a tenth of a render's time.
#[derive(Default, Clone, Copy)]
struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The stamps of `paths` (repository-relative) under `root`, each directory opened once and its
/// entries stamped relative to it (`fstatat`), on every core.
fn stamp_all(root: &Path, paths: &[&str]) -> Vec<Option<Stamp>> {
    fn parent(p: &str) -> (&str, &str) {
        p.rsplit_once('/').unwrap_or(("", p))
    }
    let mut dirs: std::collections::HashMap<&str, Option<crate::fs::at::Dir>> =
        std::collections::HashMap::new();
    for p in paths {
        let (dir, _) = parent(p);
        dirs.entry(dir)
            .or_insert_with(|| crate::fs::at::Dir::open(&root.join(dir)).ok());
    }
    crate::par::chunks(paths, |chunk| {
        chunk
            .iter()
            .map(|p| {
                let (dir, name) = parent(p);
                match dirs.get(dir) {
                    Some(Some(d)) => d
                        .lstat(std::ffi::OsStr::new(name))
                        .ok()
                        .map(Stamp::from_stat),
                    _ => Stamp::of(&root.join(p)),
                }
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

impl RenderState {
    /// Loads the state (an empty one if there is none, or it cannot be read).
    pub fn load(git_dir: &Path) -> RenderState {
        let path = git_dir.join(FILE);
        let records = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| parse(&t))
            .unwrap_or_default();
        RenderState {
            path,
            records,
            changed: false,
            seen: Default::default(),
        }
    }

    /// The stamps of `paths`, taken once per run.
    fn stamps(&self, root: &Path, paths: &[&str]) -> Vec<Option<Stamp>> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let missing: Vec<&str> = paths
            .iter()
            .copied()
            .filter(|p| !seen.contains_key(*p))
            .collect();
        for (p, stamp) in missing.iter().zip(stamp_all(root, &missing)) {
            seen.insert(p.to_string(), stamp);
        }
        paths
            .iter()
            .map(|p| seen.get(*p).copied().flatten())
            .collect()
    }

    /// When `env` is known to render to exactly what is on disk, the number of files it renders.
    /// Paths whose stat data changed but are proven unchanged are stamped anew (when their stat
    /// data is not too recent to trust), so the next run need not prove them again.
    pub fn clean(&mut self, config: &Config, env: &Environment, key: &str) -> Option<usize> {
        let rec = self.records.get(&env.name)?;
        if rec.key != key {
            return None;
        }
        let root = &config.root;
        // The paths whose stat data changed, with their stamps now.
        let paths: Vec<&str> = rec.stamps.iter().map(|(p, _, _)| p.as_str()).collect();
        let changed: Vec<(String, Option<Stamp>, Proof)> = rec
            .stamps
            .iter()
            .zip(self.stamps(root, &paths))
            .filter(|((_, s, _), now)| now != s)
            .map(|((p, _, proof), now)| (p.clone(), now, proof.clone()))
            .collect();
        if changed.is_empty() {
            return Some(rec.files);
        }
        // Rewritten with the same bytes? Only the index (or the names) can tell without reading.
        let index = GitIndex::load(self.path.parent()?.parent()?);
        let unchanged = changed.iter().all(|(p, now, proof)| match (proof, now) {
            (Proof::Blob(id), Some(now)) => index
                .as_ref()
                .and_then(|ix| ix.vouches(p, now))
                .is_some_and(|v| v == *id),
            (Proof::Names(h), Some(now)) if now.mode & 0o170000 == 0o040000 => {
                names_hash(&root.join(p)).as_ref() == Some(h)
            }
            _ => false,
        });
        if !unchanged {
            return None;
        }
        let files = rec.files;
        let now = SystemTime::now();
        let fresh: std::collections::HashMap<String, Stamp> = changed
            .into_iter()
            .filter_map(|(p, stamp, _)| stamp.filter(|s| !s.racy(now)).map(|s| (p, s)))
            .collect();
        if !fresh.is_empty() {
            if let Some(rec) = self.records.get_mut(&env.name) {
                for (p, s, _) in &mut rec.stamps {
                    if let Some(stamp) = fresh.get(p.as_str()) {
                        *s = Some(*stamp);
                    }
                }
                self.changed = true;
            }
        }
        Some(files)
    }

    /// Records that `env`, with `key`, renders its `files` manifests to exactly what is on disk, as
    /// found by a render that started after `snapshot` was taken. A path that had changed too
    /// recently before the snapshot for its stat data to be trusted is recorded with a stamp that
    /// matches nothing: the next run trusts it only on its proof (git's index, or its names).
    pub fn record(&mut self, env: &Environment, key: &str, files: usize, snapshot: Snapshot) {
        let Some(mut stamps) = snapshot.stamps else {
            self.forget(env);
            return;
        };
        for (_, s, _) in &mut stamps {
            if s.is_some_and(|s| s.racy(snapshot.taken)) {
                *s = Some(Stamp::UNKNOWN);
            }
        }
        let rec = Record {
            key: key.to_string(),
            stamps,
            files,
        };
        if self.records.get(&env.name) != Some(&rec) {
            self.records.insert(env.name.clone(), rec);
            self.changed = true;
        }
    }

    /// Drops what is known of `env` (it changed, or could not be recorded).
    pub fn forget(&mut self, env: &Environment) {
        if self.records.remove(&env.name).is_some() {
            self.changed = true;
        }
    }

    /// Writes the state if it changed (temporary file and rename). A state that cannot be written
    /// is only a lost shortcut: the error is ignored.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let mut out = format!("{HEADER}\n");
        for (name, rec) in &self.records {
            out.push_str(&format!("env\t{name}\t{}\t{}\n", rec.key, rec.files));
            for (p, s, proof) in &rec.stamps {
                match s {
                    Some(s) => out.push_str(&s.to_line(p, proof)),
                    None => out.push_str(&format!("{p}\t-\n")),
                }
            }
        }
        super::save(&self.path, out);
    }
}

/// Everything an environment's render depends on besides its files: promote itself, the config,
/// and the versions it runs.
pub fn key(config: &Config, env: &Environment, versions: &BTreeMap<String, Version>) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    // A rebuilt binary may render differently: its size and time stamp are part of the key.
    if let Some(s) = std::env::current_exe().ok().and_then(|exe| Stamp::of(&exe)) {
        h.update(format!("{} {:?}", s.size, s.mtime));
    }
    h.update(serde_json::to_vec(config).unwrap_or_default());
    h.update(&env.name);
    for (svc, v) in versions {
        h.update(format!("\n{svc}={v}"));
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stamps of every file and directory an environment's render reads or owns, taken before it
/// reads them.
pub struct Snapshot {
    stamps: Option<Stamps>,
    taken: SystemTime,
}

/// Takes the stamps of `env`'s files. A path promote cannot stamp or record (unreadable, or a name
/// with a tab or a line break) makes an empty snapshot, which records nothing.
pub fn snapshot(
    state: &RenderState,
    config: &Config,
    env: &Environment,
    git_dir: &Path,
) -> Snapshot {
    let taken = SystemTime::now();
    let mut paths: Vec<String> = Vec::new();
    let listed = match config.layout {
        Layout::Native => walk(&config.root, &config.templates, true, &mut paths)
            .and_then(|_| walk(&config.root, &env.templates, true, &mut paths))
            .and_then(|_| walk(&config.root, &env.manifests, false, &mut paths)),
        Layout::Legacy => walk(&config.root, &env.dir, false, &mut paths).and_then(|_| {
            if env.manifests != env.dir {
                walk(&config.root, &env.manifests, false, &mut paths)
            } else {
                Some(())
            }
        }),
    };
    if listed.is_none() || paths.iter().any(|p| p.contains(['\t', '\n', '\r'])) {
        return Snapshot {
            stamps: None,
            taken,
        };
    }
    paths.sort();
    paths.dedup();
    let root = &config.root;
    let index = GitIndex::load(git_dir);
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let stamped: Vec<(&String, Option<Stamp>)> =
        paths.iter().zip(state.stamps(root, &refs)).collect();
    let stamps = crate::par::chunks(&stamped, |chunk| {
        chunk
            .iter()
            .map(|&(p, stamp)| {
                let proof = match stamp {
                    Some(s) if s.mode & 0o170000 == 0o040000 => {
                        names_hash(&root.join(p)).map_or(Proof::None, Proof::Names)
                    }
                    Some(s) => index
                        .as_ref()
                        .and_then(|ix| ix.vouches(p, &s))
                        .map_or(Proof::None, Proof::Blob),
                    None => Proof::None,
                };
                (p.clone(), stamp, proof)
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    Snapshot {
        stamps: Some(stamps),
        taken,
    }
}

/// Lists `dir` (and, if `deep`, its subdirectories) into `out`: the directory itself and every
/// entry. A missing directory is recorded too (its absence is then part of the state).
fn walk(root: &Path, dir: &str, deep: bool, out: &mut Vec<String>) -> Option<()> {
    out.push(dir.to_string());
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = format!("{dir}/{name}");
        if deep && entry.file_type().ok()?.is_dir() {
            walk(root, &path, deep, out)?;
        } else {
            out.push(path);
        }
    }
    Some(())
}

fn parse(text: &str) -> Option<BTreeMap<String, Record>> {
    let body = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    // Each environment's section on its own core: a big state is tens of thousands of lines.
    let mut sections = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let next = rest[1..].find("\nenv\t").map_or(rest.len(), |i| i + 2);
        sections.push(&rest[..next]);
        rest = &rest[next..];
    }
    let parsed: Vec<Option<BTreeMap<String, Record>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sections
            .iter()
            .skip(1)
            .map(|s| scope.spawn(move || parse_sections(s)))
            .collect();
        let mut out = vec![sections.first().and_then(|s| parse_sections(s))];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
        );
        out
    });
    let mut records = BTreeMap::new();
    for section in parsed {
        records.extend(section?);
    }
    Some(records)
}

/// Environment sections of the state (each an `env` line and its paths).
fn parse_sections(text: &str) -> Option<BTreeMap<String, Record>> {
    let mut records = BTreeMap::new();
    let mut current: Option<(String, Record)> = None;
    for line in text.lines() {
        let (first, rest) = line.split_once('\t')?;
        if first == "env" {
            if let Some((name, rec)) = current.take() {
                records.insert(name, rec);
            }
            let mut f = rest.split('\t');
            let name = f.next()?.to_string();
            let key = f.next()?.to_string();
            let files = f.next()?.parse().ok()?;
            current = Some((
                name,
                Record {
                    key,
                    stamps: Vec::new(),
                    files,
                },
            ));
        } else {
            let (stamp, proof) = if rest == "-" {
                (None, Proof::None)
            } else {
                let (stamp, proof) = rest.split_once('\t')?;
                (Some(Stamp::parse(stamp)?), Proof::parse(proof)?)
            };
            current
                .as_mut()?
                .1
                .stamps
                .push((first.to_string(), stamp, proof));
        }
    }
    if let Some((name, rec)) = current {
        records.insert(name, rec);
    }
    Some(records)
}
