//! The change journal: what a change is about to do, written durably before it touches anything, so
//! that a run killed half-way (CI timeout, preempted node, OOM) or stopped by a full disk is repaired
//! by the next promote command.
//!
//! `<gitdir>/promote/journal` (JSON, one small file; the per-worktree git directory, where the
//! index and HEAD live) names the change, the commit and branch it starts from, the pid of the
//! run, the locks it takes, and every path it writes with the blob id (and mode) before and after.
//! It is written to a temporary file, flushed, renamed into place and its directory flushed: once
//! [`Journal::begin`] returns, a power cut cannot lose it. It is removed when the change is
//! committed (or undone).
//!
//! Repairing ([`repair`]) needs no decision about what was meant, only where the branch is now:
//! the ref update is the commit point. Every path the journal names is brought in line with HEAD,
//! in the working tree and in the index. When HEAD is still the commit the change started from, that
//! puts every path back as it was (rolled back); when HEAD is the change's commit, that finishes
//! it. A file is only touched when it holds the old or the new version (or nothing): anything else
//! is someone's edit, left alone and reported. The files are written and the index updated by `git`
//! itself (`git checkout HEAD -- paths`, `git reset`), so filters and index formats are git's.
//!
//! Every read goes through the git façade ([`crate::git::Repo`]), so the repair works on every
//! repository git supports (SHA-256, reftable, ...): HEAD's entries, the index's, and the id git
//! would store for a working file (with the checkout's conversions: `core.autocrlf`, `eol`,
//! filters) decide whether a path is in line with HEAD. The journal's own ids are of the bytes
//! promote read and wrote, as they are, in the repository's object format: they tell whether a
//! file holds the old or the new version (or someone's edit).
//!
//! Failpoints (`PROMOTE_FAILPOINT`, [`failpoint`]) are for tests only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::git::{Entry, HeadCommit, Repo};
use crate::model::change::Change;

const REGULAR: &str = "100644";
const EXECUTABLE: &str = "100755";

/// The journal file of a git directory.
pub fn path(git_dir: &Path) -> PathBuf {
    git_dir.join("promote").join("journal")
}

/// What the journal records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    /// The change's id: the run's start time and pid.
    pub change: String,
    /// The commit message's first line (`promote dev -> staging: api a -> b`).
    pub what: String,
    pub pid: u32,
    /// Seconds since the epoch when the change began.
    pub started: u64,
    /// The commit HEAD pointed at (none on an unborn branch).
    pub head: Option<String>,
    /// The branch HEAD was on (`refs/heads/main`), none when detached.
    pub branch: Option<String>,
    /// The locks the change takes, relative to the git directory.
    pub locks: Vec<String>,
    pub files: Vec<FileRecord>,
}

/// One path of the change: blob ids and modes before and after (none: absent).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub path: String,
    pub old: Option<String>,
    pub old_mode: Option<String>,
    pub new: Option<String>,
    pub new_mode: Option<String>,
}

/// A change in progress: its journal is on disk until [`Journal::end`].
pub struct Journal {
    path: PathBuf,
    pub record: Record,
}

impl Journal {
    /// Records `changes` (about to be written under `root`, starting from HEAD) durably in `git_dir`.
    /// Fails, with nothing changed, if it cannot (a full disk fails here, before any file changes).
    pub fn begin(repo: &Repo, root: &Path, changes: &[Change], message: &str) -> Result<Journal> {
        let git_dir = repo.git_dir();
        let pid = std::process::id();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // The ids of the bytes as they are, in the repository's object format.
        let format = repo.object_format();
        let files = crate::par::chunks(changes, |chunk| {
            chunk
                .iter()
                .map(|c| {
                    // The mode of the file as it is (a replacement keeps it; a new file is plain).
                    let exec = mode_of(&root.join(&c.path));
                    let mode = if exec { EXECUTABLE } else { REGULAR };
                    FileRecord {
                        path: c.path.clone(),
                        old: c.before.as_deref().map(|b| format.blob_id(b)),
                        old_mode: c.before.as_ref().map(|_| mode.to_string()),
                        new: c.after.as_deref().map(|b| format.blob_id(b)),
                        new_mode: c.after.as_ref().map(|_| mode.to_string()),
                    }
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        let record = Record {
            version: 1,
            change: format!("{:x}-{pid}", now.as_millis()),
            what: message.lines().next().unwrap_or_default().to_string(),
            pid,
            started: now.as_secs(),
            head: repo.head(),
            branch: repo.head_ref(),
            locks: vec!["promote.lock".into(), "index.lock".into()],
            files,
        };
        let path = path(git_dir);
        write_durably(&path, &serde_json::to_vec_pretty(&record)?).with_context(|| {
            format!(
                "cannot record the change in `{}`; nothing was changed",
                path.display()
            )
        })?;
        crate::ui::trace("journal written");
        Ok(Journal { path, record })
    }

    /// The change is committed (or undone) and verified: the journal goes.
    pub fn end(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> bool {
    false
}

/// Temporary file, flushed, renamed into place, its directory flushed: the file is there whole,
/// or not at all, even after a power cut.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("the journal has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    crate::failpoint::check("journal-write")?;
    let tmp = dir.join(format!("journal.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// Reads the journal of `git_dir`, if there is one.
pub fn read(git_dir: &Path) -> Result<Option<Record>> {
    let path = path(git_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let record: Record =
        serde_json::from_slice(&bytes).map_err(|e| Failure::JournalUnreadable {
            path: path.clone(),
            error: e.to_string(),
        })?;
    Ok(Some(record))
}

// ---------------------------------------------------------------------------------------------
// Repair.

/// How an interrupted change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// HEAD is where the change started: every path put back as it was.
    RolledBack,
    /// HEAD is the change's commit: the working tree and index brought in line with it.
    Finished(String),
    /// HEAD moved elsewhere since (by hand): every path brought in line with it.
    Matched(String),
}

/// What [`repair`] did (or, in a dry run, would do), verified after doing it.
#[derive(Debug, Clone)]
pub struct Report {
    pub record: Record,
    pub ending: Ending,
    pub dry_run: bool,
    /// Paths whose working-tree file was (or would be) rewritten or deleted.
    pub files_fixed: Vec<String>,
    /// Paths whose index entry was (or would be) set anew.
    pub index_fixed: Vec<String>,
    /// Paths already in line with HEAD.
    pub already: usize,
    /// Temporary files of the run removed.
    pub temps: usize,
    /// `index.lock` of the run removed.
    pub removed_lock: bool,
    /// Paths not in line with HEAD after the repair, and why.
    pub left: Vec<(String, String)>,
}

impl Report {
    /// Whether every path is in line with HEAD (the journal is gone).
    pub fn complete(&self) -> bool {
        self.left.is_empty()
    }

    /// The text for the user, one fact a line.
    pub fn text(&self) -> String {
        let r = &self.record;
        let short = |c: &str| c[..c.len().min(7)].to_string();
        let verb = if self.dry_run { "would be" } else { "was" };
        let mut out = format!(
            "interrupted change {} ({}) of pid {}: ",
            r.change, r.what, r.pid
        );
        out.push_str(&match &self.ending {
            Ending::RolledBack => format!(
                "it never committed; it {verb} rolled back to {}",
                r.head
                    .as_deref()
                    .map(short)
                    .unwrap_or("the empty tree".into())
            ),
            Ending::Finished(c) => format!("it committed as {}; it {verb} finished", short(c)),
            Ending::Matched(c) => format!(
                "HEAD has moved since (to {}); its files {verb} brought in line with HEAD",
                short(c)
            ),
        });
        let n = r.files.len();
        let files = |k: usize| format!("{k} file{}", if k == 1 { "" } else { "s" });
        let tense = if self.dry_run {
            "to rewrite"
        } else {
            "rewritten"
        };
        out.push_str(&format!(
            "\n  of its {}: {} {tense}, {} index entr{} {}, {} already in line with HEAD",
            files(n),
            self.files_fixed.len(),
            self.index_fixed.len(),
            if self.index_fixed.len() == 1 {
                "y"
            } else {
                "ies"
            },
            if self.dry_run { "to set" } else { "set" },
            self.already
        ));
        if self.temps > 0 {
            out.push_str(&format!(
                "\n  {} temporary file{} of the run {}",
                self.temps,
                if self.temps == 1 { "" } else { "s" },
                if self.dry_run { "to remove" } else { "removed" }
            ));
        }
        if self.removed_lock {
            out.push_str(&format!(
                "\n  `.git/index.lock` left by the run {}",
                if self.dry_run { "to remove" } else { "removed" }
            ));
        }
        for (p, why) in &self.left {
            out.push_str(&format!("\n  not in line: `{p}`: {why}"));
        }
        out
    }
}

/// The state of one path against HEAD.
struct PathState {
    /// HEAD's blob id and mode at the path.
    target: Option<Entry>,
    /// The working-tree file's blob id as git would store it (none: absent), or why it cannot be
    /// read.
    file: std::result::Result<Option<String>, String>,
    /// The blob id of the file's bytes as they are: what the journal's ids are of.
    raw: Option<String>,
    /// The index entry (stage 0).
    index: Option<Entry>,
}

impl PathState {
    fn file_ok(&self) -> bool {
        matches!(&self.file, Ok(f) if f.as_ref() == self.target.as_ref().map(|t| &t.id))
    }

    fn index_ok(&self) -> bool {
        self.index == self.target
    }
}

/// Each path against HEAD and the index, as git sees them (see the module's comment).
fn look(repo: &Repo, paths: &[&str]) -> Result<Vec<PathState>> {
    let root = &repo.root;
    let targets = repo.head_entries(paths)?;
    let index = repo.index_entries(paths)?;
    // The files there are: their bytes' own ids now, git's ids in one run below.
    let mut files: Vec<std::result::Result<Option<String>, String>> = Vec::new();
    let mut raw = Vec::new();
    let mut present = Vec::new();
    for p in paths {
        let full = root.join(p);
        let (file, own) = match std::fs::symlink_metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Ok(None), None),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => (Ok(None), None),
            Err(e) => (Err(e.to_string()), None),
            Ok(m) if !m.is_file() => (Err("it is not a regular file".to_string()), None),
            Ok(_) => match std::fs::read(&full) {
                Ok(b) => {
                    present.push(*p);
                    (Ok(Some(String::new())), Some(repo.raw_blob_id(&b)))
                }
                Err(e) => (Err(e.to_string()), None),
            },
        };
        files.push(file);
        raw.push(own);
    }
    let mut stored = repo.stored_ids(&present)?.into_iter();
    for f in &mut files {
        if let Ok(Some(id)) = f {
            *id = stored.next().unwrap_or_default();
        }
    }
    Ok(targets
        .into_iter()
        .zip(files)
        .zip(raw)
        .zip(index)
        .map(|(((target, file), raw), index)| PathState {
            target,
            file,
            raw,
            index,
        })
        .collect())
}

/// Brings every path of the journal in `git_dir` in line with HEAD (see the module's comment),
/// verifies it, and removes the journal when every path is. `None` when there is no journal. The
/// caller holds the clone's lock (so the run that wrote the journal is not running any more).
pub fn repair(repo: &Repo, dry_run: bool) -> Result<Option<Report>> {
    let (root, git_dir) = (repo.root.as_path(), repo.git_dir());
    let Some(record) = read(git_dir)? else {
        return Ok(None);
    };
    let journal_path = path(git_dir);

    // STEP 1: an index lock the killed run left. Removed only when nobody holds it open and it is
    // newer than the journal (made after the run began); one another live process holds is never
    // touched.
    let IndexLock { removed_lock, busy } = index_lock(git_dir, &record, &journal_path, dry_run)?;

    // STEP 2: each path against HEAD.
    let head = repo.head_commit();
    let paths: Vec<&str> = record.files.iter().map(|f| f.path.as_str()).collect();
    let states = look(repo, &paths)?;
    let ending = ending(&record, head.as_ref(), &states);
    let todo = Todo::sort(&record, &states);
    let mut files_fixed: Vec<String> = todo.checkout.iter().chain(&todo.unlink).cloned().collect();
    files_fixed.sort();
    let mut index_fixed: Vec<String> = todo
        .reset
        .iter()
        .chain(&todo.uncache)
        .chain(&todo.index_stale)
        .cloned()
        .collect();
    index_fixed.sort();
    index_fixed.dedup();
    let temps = temp_files(root, &record);
    if let Some(busy) = busy {
        if !(todo.checkout.is_empty() && todo.reset.is_empty() && todo.uncache.is_empty()) {
            return Err(busy);
        }
    }

    if dry_run {
        return Ok(Some(Report {
            record,
            ending,
            dry_run,
            files_fixed,
            index_fixed,
            already: todo.already,
            temps: temps.len(),
            removed_lock,
            left: todo.left,
        }));
    }

    // STEP 3: the run's temporary files, the files HEAD does not have, then git puts back the rest
    // (working tree and index) from HEAD.
    let done = put_back(root, &record, &temps, &todo);

    // STEP 4: verify, and say only what is so.
    let left = verify(repo, &record, &paths, &todo.left, &done)?;
    let fixed_ok = |l: &[String]| -> Vec<String> {
        l.iter()
            .filter(|p| !left.iter().any(|(q, _)| q == *p))
            .cloned()
            .collect()
    };
    let report = Report {
        files_fixed: fixed_ok(&files_fixed),
        index_fixed: fixed_ok(&index_fixed),
        record,
        ending,
        dry_run,
        already: todo.already,
        temps: done.removed,
        removed_lock,
        left,
    };
    if report.complete() {
        let _ = std::fs::remove_file(&journal_path);
    }
    Ok(Some(report))
}

/// What repair found of the index lock.
struct IndexLock {
    /// The killed run's lock was removed (or, in a dry run, would be).
    removed_lock: bool,
    /// A live process holds the lock: an error if git must touch the index.
    busy: Option<anyhow::Error>,
}

/// STEP 1 of repair: an index lock the killed run left, removed; one a live process holds, noted;
/// one another git process made, refused.
fn index_lock(
    git_dir: &Path,
    record: &Record,
    journal_path: &Path,
    dry_run: bool,
) -> Result<IndexLock> {
    let lock = git_dir.join("index.lock");
    let mut removed_lock = false;
    // A lock a live process holds stops the repair only if git must touch the index (below): a
    // change that failed waiting for that very lock is undone by renames alone.
    let mut busy: Option<anyhow::Error> = None;
    if let Some(holder) = holder(&lock) {
        busy = Some(
            Failure::RepairLockHeld {
                what: record.what.clone(),
                lock: lock.clone(),
                holder,
            }
            .into(),
        );
    } else if let Ok(meta) = std::fs::symlink_metadata(&lock) {
        let journal_time = std::fs::metadata(journal_path)
            .and_then(|m| m.modified())
            .ok();
        let ours = match (meta.modified().ok(), journal_time) {
            (Some(l), Some(j)) => l >= j,
            _ => false,
        };
        if !ours {
            return Err(Failure::RepairLockForeign {
                what: record.what.clone(),
                lock,
            }
            .into());
        }
        if !dry_run {
            std::fs::remove_file(&lock)
                .with_context(|| format!("cannot remove `{}`", lock.display()))?;
        }
        removed_lock = true;
    }
    Ok(IndexLock { removed_lock, busy })
}

/// What repair does to each path of the journal, sorted by how it differs from HEAD.
struct Todo {
    /// Put back from HEAD (working file and index).
    checkout: Vec<String>,
    /// Removed: HEAD does not have them.
    unlink: Vec<String>,
    /// The index entry put back from HEAD.
    reset: Vec<String>,
    /// The index entry removed.
    uncache: Vec<String>,
    /// Left as they are, and why.
    left: Vec<(String, String)>,
    /// Checked out with a stale index entry too.
    index_stale: Vec<String>,
    /// In line with HEAD already.
    already: usize,
}

impl Todo {
    fn sort(record: &Record, states: &[PathState]) -> Todo {
        let mut checkout = Vec::new();
        let mut unlink = Vec::new();
        let mut reset = Vec::new();
        let mut uncache = Vec::new();
        let mut left = Vec::new();
        let mut index_stale = Vec::new();
        let mut already = 0;
        for (f, s) in record.files.iter().zip(states) {
            // The old or the new version (as promote read and wrote them), or nothing.
            let ours = match (&s.file, &s.raw) {
                (Ok(None), _) => true,
                (Ok(Some(_)), Some(id)) => f.old.as_ref() == Some(id) || f.new.as_ref() == Some(id),
                _ => false,
            };
            match (s.file_ok(), s.index_ok()) {
                (true, true) => already += 1,
                (true, false) if s.target.is_some() => reset.push(f.path.clone()),
                (true, false) => uncache.push(f.path.clone()),
                (false, _) if !ours => left.push((
                    f.path.clone(),
                    match &s.file {
                        Err(e) => format!("cannot read it: {e}"),
                        _ => "it holds neither the old nor the new version (an edit of someone's): left as it is".into(),
                    },
                )),
                (false, idx_ok) if s.target.is_some() => {
                    checkout.push(f.path.clone());
                    if !idx_ok {
                        index_stale.push(f.path.clone());
                    }
                }
                (false, idx_ok) => {
                    unlink.push(f.path.clone());
                    if !idx_ok {
                        uncache.push(f.path.clone());
                    }
                }
            }
        }
        Todo {
            checkout,
            unlink,
            reset,
            uncache,
            left,
            index_stale,
            already,
        }
    }
}

/// What putting back did: temporary files removed, and what failed.
struct PutBack {
    removed: usize,
    failures: BTreeMap<String, String>,
    git_errors: Vec<String>,
}

/// STEP 3 of repair: the run's temporary files, the files HEAD does not have, then git puts back
/// the rest (working tree and index) from HEAD.
fn put_back(root: &Path, record: &Record, temps: &[PathBuf], todo: &Todo) -> PutBack {
    let mut removed = 0;
    for t in temps {
        if std::fs::remove_file(t).is_ok() {
            removed += 1;
        }
    }
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for p in &todo.unlink {
        let full = root.join(p);
        match std::fs::remove_file(&full) {
            Ok(()) => super::files::remove_empty_parents(root, &full),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                super::files::remove_empty_parents(root, &full)
            }
            Err(e) => {
                failures.insert(p.clone(), e.to_string());
            }
        }
    }
    // The parent directories of files put back that the run created, now empty.
    for f in &record.files {
        if f.old.is_none() {
            super::files::remove_empty_parents(root, &root.join(&f.path));
        }
    }
    let mut git_errors = Vec::new();
    for (args, list) in [
        (&["checkout", "HEAD", "--"][..], &todo.checkout),
        (&["reset", "--quiet", "HEAD", "--"][..], &todo.reset),
        (
            &["rm", "--cached", "--quiet", "--ignore-unmatch", "--"][..],
            &todo.uncache,
        ),
    ] {
        for chunk in list.chunks(500) {
            let specs: Vec<String> = chunk.iter().map(|p| format!(":(literal){p}")).collect();
            let mut all: Vec<&str> = args.to_vec();
            all.extend(specs.iter().map(String::as_str));
            if let Err(e) = crate::git::git(root, &all) {
                git_errors.push(e.to_string());
            }
        }
    }
    PutBack {
        removed,
        failures,
        git_errors,
    }
}

/// STEP 4 of repair: every path read again; what is still out of line, and why.
fn verify(
    repo: &Repo,
    record: &Record,
    paths: &[&str],
    left: &[(String, String)],
    done: &PutBack,
) -> Result<Vec<(String, String)>> {
    let states = look(repo, paths)?;
    let mut still: BTreeMap<String, String> = left.iter().cloned().collect();
    for (f, s) in record.files.iter().zip(&states) {
        if still.contains_key(&f.path) {
            continue;
        }
        if !s.file_ok() {
            let why = done
                .failures
                .get(&f.path)
                .cloned()
                .or_else(|| done.git_errors.first().cloned())
                .unwrap_or_else(|| "the file still differs from HEAD".into());
            still.insert(f.path.clone(), why);
        } else if !s.index_ok() {
            let why = done
                .git_errors
                .first()
                .cloned()
                .unwrap_or_else(|| "its index entry still differs from HEAD".into());
            still.insert(f.path.clone(), format!("the index: {why}"));
        }
    }
    let left: Vec<(String, String)> = still.into_iter().collect();
    Ok(left)
}

/// How the change ended, from where HEAD is: the commit it started from, its own commit (on that
/// one, holding its new versions, or where attributes convert what git stores, its subject), or
/// elsewhere.
fn ending(record: &Record, head: Option<&HeadCommit>, states: &[PathState]) -> Ending {
    let Some(head) = head else {
        return Ending::RolledBack;
    };
    let id = head.id.clone();
    if record.head.as_deref() == Some(id.as_str()) {
        return Ending::RolledBack;
    }
    let holds_new = record
        .files
        .iter()
        .zip(states)
        .all(|(f, s)| s.target.as_ref().map(|t| &t.id) == f.new.as_ref());
    let ours = head.parent == record.head && (holds_new || head.subject == record.what);
    if ours {
        Ending::Finished(id)
    } else {
        Ending::Matched(id)
    }
}

/// The temporary files the run left beside its paths (`.<name>.promote-<pid>-*.tmp`).
fn temp_files(root: &Path, record: &Record) -> Vec<PathBuf> {
    let marker = format!(".promote-{}-", record.pid);
    let dirs: BTreeSet<PathBuf> = record
        .files
        .iter()
        .filter_map(|f| root.join(&f.path).parent().map(Path::to_path_buf))
        .collect();
    let names: BTreeSet<String> = record
        .files
        .iter()
        .filter_map(|f| Path::new(&f.path).file_name())
        .map(|n| n.to_string_lossy().to_string())
        .collect();
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            let Some(rest) = n.strip_prefix('.').and_then(|r| r.strip_suffix(".tmp")) else {
                continue;
            };
            if let Some((name, _)) = rest.rsplit_once(&marker) {
                if names.contains(name) {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

/// A process that has `path` open, as `pid N (command)`, if any (Linux: `/proc/*/fd`).
fn holder(path: &Path) -> Option<String> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let me = std::process::id().to_string();
    for e in entries.flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t == path) {
                let cmd = std::fs::read(e.path().join("cmdline"))
                    .map(|c| {
                        String::from_utf8_lossy(&c)
                            .replace('\0', " ")
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_default();
                return Some(format!("pid {pid}, `{cmd}`"));
            }
        }
    }
    None
}

/// The git directory of the repository containing `dir`, found cheaply (a few `stat`s): `GIT_DIR`,
/// or the first `.git` directory (or `.git` file of a worktree) upwards.
fn find_git_dir(dir: &Path) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("GIT_DIR") {
        return Some(dir.join(d));
    }
    let start = dir.canonicalize().ok()?;
    for d in start.ancestors() {
        let dot = d.join(".git");
        match std::fs::symlink_metadata(&dot) {
            Ok(m) if m.is_dir() => return Some(dot),
            Ok(_) => {
                let text = std::fs::read_to_string(&dot).ok()?;
                let rel = text.trim().strip_prefix("gitdir:")?.trim();
                return Some(d.join(rel));
            }
            Err(_) => continue,
        }
    }
    None
}

/// Whether the repository containing `dir` has a journal (an interrupted change), cheaply.
pub fn pending(dir: &Path) -> bool {
    find_git_dir(dir).is_some_and(|g| path(&g).exists())
}

/// Run first by every command (but `check` and `recover`): repairs an interrupted change, if there
/// is one, under the clone's lock, and says what it did. An error (nothing else runs) when the
/// repair is not complete.
pub fn recover_first(dir: &Path) -> Result<()> {
    if !pending(dir) {
        return Ok(());
    }
    let repo = Repo::discover(dir)?;
    let _lock = crate::git::Lock::acquire(repo.git_dir(), crate::git::lock_wait())?;
    let Some(report) = repair(&repo, false)? else {
        return Ok(());
    };
    if !report.complete() {
        return Err(incomplete(&report).into());
    }
    // A warning (shown with `-q` too, on stderr): the repository was changed before the command ran.
    crate::ui::warn(&report.text());
    Ok(())
}

/// The error for a repair that left paths out of line.
pub fn incomplete(report: &Report) -> Failure {
    Failure::RepairIncomplete {
        report: report.text(),
    }
}
