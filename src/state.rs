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
//! directory's mtime. Files changed within two seconds before recording (racily clean: a later
//! change could leave the same time stamps) make promote not record the environment at all. The
//! state lives in the git directory, is never committed, and a missing or unreadable state only
//! means a full render.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::config::{Config, Environment, Layout};
use crate::render::par_chunks;
use crate::version::Version;

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
        let f: Vec<&str> = s.split(' ').collect();
        let [size, ms, mn, cs, cn, ino, mode] = f[..] else {
            return None;
        };
        Some(Stamp {
            size: size.parse().ok()?,
            mtime: (ms.parse().ok()?, mn.parse().ok()?),
            ctime: (cs.parse().ok()?, cn.parse().ok()?),
            ino: ino.parse().ok()?,
            mode: u32::from_str_radix(mode, 8).ok()?,
        })
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
    Blob(git2::Oid),
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
                None => Proof::Blob(git2::Oid::from_str(s).ok()?),
            },
        })
    }
}

/// The git index, for `Proof::Blob`.
struct GitIndex {
    entries: Vec<git2::IndexEntry>,
    /// The index file's mtime: an entry as new is racily clean, and proves nothing.
    mtime: (i64, i64),
}

impl GitIndex {
    fn load(git_dir: &Path) -> Option<GitIndex> {
        let path = git_dir.join("index");
        let m = std::fs::metadata(&path).ok()?;
        Some(GitIndex {
            entries: crate::gitindex::read(&path)?,
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }

    /// The blob id the index holds for `path` if its stat data is `stamp`'s (and it is not racy).
    fn vouches(&self, path: &str, stamp: &Stamp) -> Option<git2::Oid> {
        let i = self
            .entries
            .partition_point(|e| e.path.as_slice() < path.as_bytes());
        let e = self.entries.get(i).filter(|e| e.path == path.as_bytes())?;
        let secs = |t: git2::IndexTime| (i64::from(t.seconds() as u32), i64::from(t.nanoseconds()));
        let same = (e.flags >> 12) & 3 == 0
            && u64::from(e.file_size) == stamp.size & 0xffff_ffff
            && secs(e.mtime) == stamp.mtime
            && secs(e.ctime) == stamp.ctime
            && u64::from(e.ino) == stamp.ino & 0xffff_ffff
            && e.mode & 0o170000 == 0o100000
            && stamp.mode & 0o170000 == 0o100000
            && (e.mode & 0o100) == (stamp.mode & 0o100);
        (same && secs(e.mtime) < self.mtime && e.file_size != 0).then_some(e.id)
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
        }
    }

    /// When `env` is known to render to exactly what is on disk, the number of files it renders.
    pub fn clean(&self, config: &Config, env: &Environment, key: &str) -> Option<usize> {
        let rec = self.records.get(&env.name)?;
        if rec.key != key {
            return None;
        }
        let root = &config.root;
        // The paths whose stat data changed, with their stamps now.
        let changed: Vec<(String, Option<Stamp>, Proof)> = par_chunks(&rec.stamps, |chunk| {
            chunk
                .iter()
                .filter_map(|(p, s, proof)| {
                    let now = Stamp::of(&root.join(p));
                    (now != *s).then(|| (p.clone(), now, proof.clone()))
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
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
        unchanged.then_some(rec.files)
    }

    /// Records that `env`, with `key`, renders its `files` manifests to exactly what is on disk, as
    /// found by a render that started after `snapshot` was taken. Does nothing (but forget) when a
    /// file had changed too recently before the snapshot to be trusted.
    pub fn record(&mut self, env: &Environment, key: &str, files: usize, snapshot: Snapshot) {
        let Some(stamps) = snapshot.stamps else {
            self.forget(env);
            return;
        };
        if stamps
            .iter()
            .any(|(_, s, _)| s.is_some_and(|s| s.racy(snapshot.taken)))
        {
            self.forget(env);
            return;
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
        let Some(dir) = self.path.parent() else {
            return;
        };
        let tmp = dir.join(format!("render-state.{}.tmp", std::process::id()));
        let ok = std::fs::create_dir_all(dir).is_ok()
            && std::fs::write(&tmp, out).is_ok()
            && std::fs::rename(&tmp, &self.path).is_ok();
        if !ok {
            let _ = std::fs::remove_file(&tmp);
        }
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
pub fn snapshot(config: &Config, env: &Environment, git_dir: &Path) -> Snapshot {
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
    let stamps = par_chunks(&paths, |chunk| {
        chunk
            .iter()
            .map(|p| {
                let stamp = Stamp::of(&root.join(p));
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
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut records = BTreeMap::new();
    let mut current: Option<(String, Record)> = None;
    for line in lines {
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
