//! The git façade: the only module that touches git. Every read and write of a repository goes
//! through [`Repo`] and the functions here, with two backends: the `git` binary (`cli`, and the
//! plumbing below), right on every repository git supports, and the in-process path (libgit2, our
//! index reader `index`, our object writer `write`), used only where `fast` proves it equal. A
//! commit is written in-process when nothing of the user's could take part in `git commit` -- no
//! hooks, no signing, no other message cleanup or encoding, no converting attribute -- and through
//! the `git` binary otherwise. The identity always comes from `git var` (environment, config,
//! `includeIf`); push always goes through `git`. Nothing outside `git/` sees a libgit2 type: ids
//! are [`ObjectId`] (the in-process path's) or strings (any object format), the index is [`Index`].

// The backends are private to `git/`: nothing else sees libgit2 or spawns `git`. (`status` and
// `write` stay public only until the items nothing outside their tests uses are settled.)
mod cli;
mod fast;
mod index;
pub mod mode;
mod objects;
mod paths;
pub mod pr;
pub mod status;
pub mod write;

pub use objects::{blob_id, Index, IndexStat, ObjectFormat, ObjectId};
pub use paths::{Entry, HeadCommit};
pub use status::Listing;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::error::Failure;

pub struct Repo {
    pub root: PathBuf,
    git_dir: PathBuf,
    common_dir: PathBuf,
    /// The object format (libgit2 opens SHA-1 repositories only).
    format: ObjectFormat,
    /// libgit2's handle, only where the in-process path is proven (see `gitfast`); `None` means
    /// every read goes through the `git` binary.
    repo: Option<git2::Repository>,
}

/// The repositories (work tree root, git dir) where the in-process path is allowed (see
/// `gitfast`), as `Repo::discover` found them; any other commits and reads through `git`.
static FAST: std::sync::Mutex<Vec<(PathBuf, PathBuf)>> = std::sync::Mutex::new(Vec::new());

fn fast_allowed(root: &Path) -> bool {
    FAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(r, _)| r == root)
}

/// Whether the in-process readers may read the index in `git_dir` (the fast path was allowed for
/// its repository in this process).
pub fn index_readable(git_dir: &Path) -> bool {
    FAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(_, g)| g == git_dir)
}

impl Repo {
    /// The repository containing `start` (like `git` itself, searching upwards), with the backend
    /// `gitfast` allows: libgit2 and our own readers where everything about the repository is on
    /// the allow-list, the `git` binary otherwise (and with `PROMOTE_GIT=cli`).
    pub fn discover(start: &Path) -> Result<Repo> {
        let mode = fast::mode()?;
        let why_cli = match mode {
            fast::Mode::Cli => Some("`PROMOTE_GIT=cli`".to_string()),
            fast::Mode::Auto => fast::env_reason(),
        };
        if let Some(why) = why_cli {
            return Repo::through_git(start, &why);
        }
        // The config as git reads it, while libgit2 opens the repository.
        let dir = start.to_path_buf();
        let config = std::thread::spawn(move || fast::read_config(&dir));
        // git checks an object's id against its content only in `git fsck`; libgit2 does it at
        // every read by default, which is most of the cost of reading HEAD's trees.
        git2::opts::strict_hash_verification(false);
        let repo = match git2::Repository::discover(start) {
            Ok(repo) => repo,
            Err(e) => {
                let _ = config.join();
                let why = format!("libgit2 cannot open this repository: {}", e.message());
                // Not a repository at all is for `git` to say (in its words, below).
                // Once per run (a run may open the repository twice: recovery, then the command).
                static SAID: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if e.code() != git2::ErrorCode::NotFound
                    && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    crate::ui::detail(&format!("{why}; promote uses the git binary for it"));
                }
                return Repo::through_git(start, &why);
            }
        };
        let config = match config.join() {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Repo::through_git(start, &format!("{e:#}")),
            Err(_) => return Repo::through_git(start, "`git config` did not answer"),
        };
        let Some(root) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Failure::BareRepository.into());
        };
        let root = root.canonicalize().unwrap_or(root);
        let git_dir = repo.path().to_path_buf();
        let common_dir = repo.commondir().to_path_buf();
        let why = fast::config_reason(&config)
            .or_else(|| fast::layout_reason(&root, &git_dir, &common_dir))
            .or_else(|| fast::hook_reason(&fast::hooks_dir(&config, &root, &common_dir)));
        if let Some(why) = why {
            return Repo::through_git(start, &why);
        }
        crate::ui::trace("git backend: in-process");
        let mut fast = FAST.lock().unwrap_or_else(|e| e.into_inner());
        if !fast.iter().any(|(r, _)| r == &root) {
            fast.push((root.clone(), git_dir.clone()));
        }
        Ok(Repo {
            root,
            git_dir,
            common_dir,
            format: ObjectFormat::Sha1,
            repo: Some(repo),
        })
    }

    /// The repository as the `git` binary finds it; every read and write goes through `git`.
    fn through_git(start: &Path, why: &str) -> Result<Repo> {
        crate::ui::trace(&format!("git backend: the git binary ({why})"));
        absolute_git_env(start);
        let found = cli::discover(start)?;
        FAST.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(r, _)| r != &found.root);
        Ok(Repo {
            root: found.root,
            git_dir: found.git_dir,
            common_dir: found.common_dir,
            format: found.format,
            repo: None,
        })
    }

    /// Whether reads and the commit go through the in-process path (see `gitfast`).
    pub fn in_process(&self) -> bool {
        self.repo.is_some()
    }

    /// The commit HEAD points at, if there is one.
    pub fn head(&self) -> Option<String> {
        let Some(repo) = &self.repo else {
            return cli::head(&self.root);
        };
        repo.head()
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id().to_string())
    }

    /// The current branch's short name, if HEAD is on a branch.
    pub fn branch(&self) -> Option<String> {
        let Some(repo) = &self.repo else {
            return cli::branch(&self.root);
        };
        let head = repo.head().ok()?;
        if head.is_branch() {
            head.shorthand().map(str::to_string)
        } else {
            None
        }
    }

    /// Paths under any of `paths` (files or directories, repository-relative) with uncommitted
    /// changes: modified, staged, deleted or untracked.
    pub fn dirty(&self, paths: &[String]) -> Result<Vec<String>> {
        self.dirty_listing(paths).map(|(dirty, _)| dirty)
    }

    /// [`Repo::dirty`], and the files it found in the directories it listed (nothing listed
    /// through `git`).
    pub fn dirty_listing(&self, paths: &[String]) -> Result<(Vec<String>, status::Listing)> {
        match &self.repo {
            Some(repo) => status::dirty_listing(repo, paths),
            None => Ok((cli::dirty(&self.root, paths)?, status::Listing::default())),
        }
    }

    /// Whether git stores files exactly as they are in the work tree as far as the config and the
    /// repository's own attributes file say: the in-process path, no `core.autocrlf`, `core.eol`
    /// or `core.attributesFile`, no `info/attributes`. (`.gitattributes` files in the work tree
    /// are the caller's to look for, in the directories it reads.)
    pub fn stores_files_as_is(&self) -> bool {
        let Some(Ok(cfg)) = self.repo.as_ref().map(|r| r.config()) else {
            return false;
        };
        let autocrlf = cfg.get_string("core.autocrlf").unwrap_or_default();
        matches!(autocrlf.to_ascii_lowercase().as_str(), "" | "false")
            && cfg.get_string("core.eol").is_err()
            && cfg.get_string("core.attributesFile").is_err()
            && !self.git_dir.join("info").join("attributes").exists()
    }

    /// The git directory (`.git`, or where a worktree's or submodule's is).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The common git directory (the main `.git` of a linked worktree; else the git directory).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The index file, where the in-process readers may read it (the in-process path).
    pub fn index_file(&self) -> Option<PathBuf> {
        self.repo.as_ref().map(|_| self.git_dir.join("index"))
    }

    /// The ref HEAD names (`refs/heads/main`), if HEAD is on a branch.
    pub fn head_ref(&self) -> Option<String> {
        let Some(repo) = &self.repo else {
            let out = cli::bytes(&self.root, &["symbolic-ref", "--quiet", "HEAD"]).ok()?;
            let name = String::from_utf8_lossy(&out).trim().to_string();
            return (!name.is_empty()).then_some(name);
        };
        let head = repo.find_reference("HEAD").ok()?;
        head.symbolic_target().map(str::to_string)
    }

    /// A file's bytes in commit `id`, if it exists there.
    pub fn read_at(&self, id: &str, path: &str) -> Option<Vec<u8>> {
        let Some(repo) = &self.repo else {
            return cli::bytes(&self.root, &["cat-file", "blob", &format!("{id}:{path}")]).ok();
        };
        let commit = repo.find_commit(git2::Oid::from_str(id).ok()?).ok()?;
        let entry = commit.tree().ok()?.get_path(Path::new(path)).ok()?;
        Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
    }

    /// A file's bytes at HEAD, if it exists there.
    pub fn read_at_head(&self, path: &str) -> Option<Vec<u8>> {
        let Some(repo) = &self.repo else {
            return cli::read_at_head(&self.root, path);
        };
        let tree = repo.head().ok()?.peel_to_tree().ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(blob.content().to_vec())
    }
}

/// Makes the `GIT_*` variables that name paths absolute, as `git -C <start>` reads them: every later
/// `git` runs in the work tree's root, which may not be `start`.
fn absolute_git_env(start: &Path) {
    let Ok(base) = start.canonicalize() else {
        return;
    };
    for name in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
    ] {
        if let Some(v) = std::env::var_os(name) {
            let p = PathBuf::from(&v);
            if !v.is_empty() && p.is_relative() {
                // Before any thread of ours starts: nothing reads the environment meanwhile.
                std::env::set_var(name, base.join(p));
            }
        }
    }
}

/// Writes `input` to a child's stdin and closes it. A child that exits without reading all of it
/// closes the pipe: its exit status and stderr then say what happened, not the broken pipe.
pub(crate) fn feed(mut stdin: std::process::ChildStdin, input: &[u8], program: &str) -> Result<()> {
    use std::io::Write;
    match stdin.write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).with_context(|| format!("cannot write to `{program}`"))
        }
        _ => Ok(()),
    }
}

/// Runs `git` in `dir`. The error carries the arguments, the directory and git's stderr.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    git_with_input(dir, args, None)
}

/// Runs `git` in `dir` with `input` on its stdin.
pub fn git_stdin(dir: &Path, args: &[&str], input: &str) -> Result<String> {
    git_with_input(dir, args, Some(input))
}

fn git_with_input(dir: &Path, args: &[&str], input: Option<&str>) -> Result<String> {
    git_env(dir, args, input, &[])
}

/// [`git`] with `input` on stdin and `env` set for it.
fn git_env(
    dir: &Path,
    args: &[&str],
    input: Option<&str>,
    env: &[(&str, &Path)],
) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Never wait for a password prompt: a missing credential fails instead of hanging a pipeline.
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| "cannot run `git`: is git installed and on PATH?")?;
    if let (Some(text), Some(stdin)) = (input, child.stdin.take()) {
        feed(stdin, text.as_bytes(), "git")?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let detail = if stderr.is_empty() { stdout } else { stderr };
        return Err(GitError {
            args: args.iter().map(|s| s.to_string()).collect(),
            dir: dir.to_path_buf(),
            stderr: detail,
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// A failed `git` command.
#[derive(Debug)]
pub struct GitError {
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub stderr: String,
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`git {}` failed in `{}`",
            self.args.join(" "),
            self.dir.display()
        )?;
        if !self.stderr.is_empty() {
            write!(f, ":\n{}", indent(&self.stderr))?;
        }
        Ok(())
    }
}

impl std::error::Error for GitError {}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `git var` started ahead, or its answer.
enum Var {
    Running(std::thread::JoinHandle<Option<String>>),
    Done(Option<String>),
}

/// `git var` processes started by `prefetch_idents`, by repository and variable.
static VARS: std::sync::Mutex<Vec<(PathBuf, &'static str, Var)>> =
    std::sync::Mutex::new(Vec::new());

const IDENTS: [&str; 2] = ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"];

/// Starts `git var` for the author and committer identities in the background: a change needs
/// both (the record, the commit), and each is a process start (~5 ms) better spent while promote
/// renders. Their answers (with the time they were asked) are used by `identity` and the commit.
/// Each runs on its own thread: even starting a process (the search of PATH, `vfork`) holds up the
/// thread that starts it for a millisecond or more.
pub fn prefetch_idents(root: &Path) {
    let mut vars = VARS.lock().unwrap_or_else(|e| e.into_inner());
    for name in IDENTS {
        if vars.iter().any(|(r, n, _)| r == root && *n == name) {
            continue;
        }
        let dir = root.to_path_buf();
        let ask = std::thread::Builder::new().spawn(move || {
            Command::new("git")
                .current_dir(dir)
                .args(["var", name])
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        });
        if let Ok(ask) = ask {
            vars.push((root.to_path_buf(), name, Var::Running(ask)));
        }
    }
}

/// `git var <name>`, trimmed: the prefetched answer if there is one. `None` if git has none.
fn var(root: &Path, name: &'static str) -> Option<String> {
    let mut vars = VARS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, v)) = vars.iter_mut().find(|(r, n, _)| r == root && *n == name) {
        if let Var::Running(_) = v {
            let Var::Running(ask) = std::mem::replace(v, Var::Done(None)) else {
                unreachable!("matched above")
            };
            *v = Var::Done(ask.join().ok().flatten());
        }
        if let Var::Done(answer) = v {
            return answer.clone();
        }
    }
    drop(vars);
    git(root, &["var", name]).ok().map(|s| s.trim().to_string())
}

/// The identity git will commit as (`GIT_AUTHOR_*`, config, `includeIf`), as `(name, email)`.
pub fn identity(root: &Path) -> Result<(String, String)> {
    let ident = var(root, "GIT_AUTHOR_IDENT").ok_or(Failure::NoIdentity)?;
    // `Name <email> 1700000000 +0000`
    let ident = ident.trim();
    let (name, rest) = ident.split_once(" <").unwrap_or((ident, ""));
    let email = rest.split_once('>').map(|(e, _)| e).unwrap_or("");
    Ok((name.to_string(), email.to_string()))
}

/// Commits exactly `changes` (in place now) with `message`, leaving anything else the user staged
/// alone: in-process from what [`prepare_commit`] prepared, else with `git`. Returns the commit id.
pub fn finish_commit(
    root: &Path,
    changes: &[crate::model::change::Change],
    prepared: Option<Prepared>,
    message: &str,
) -> Result<String> {
    if let Some(prepared) = prepared {
        if let Some(commit) = prepared.finish(root)? {
            return Ok(commit);
        }
    }
    let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    commit(root, &paths, message)
}

/// The commit `git commit --only -- <paths>` would make, written in-process: objects as one pack,
/// the branch moved with a compare-and-swap on the commit it started from (and the reflog entry
/// git writes), the index updated for these paths only. `None` (nothing written) when `git` must
/// do it: the repository is not one `gitfast` allows (a hook, signing, a config key, a format or
/// layout, a `GIT_*` variable, `PROMOTE_GIT=cli`), a detached or unborn HEAD, a file that is not
/// a plain one (`executable` is `None` for a change with bytes), or `PROMOTE_COMMIT=git`. A path
/// with an attribute that converts what git stores (`text`, `eol`, `filter`, ...) is found while
/// the objects are written, and [`Prepared::finish`] then leaves the commit to `git`.
///
/// This first half writes the objects, from the changes' bytes: it needs nothing in place yet, so
/// it can run while the files are renamed into place. [`Prepared::finish`] is the second half.
pub fn prepare_commit(
    root: &Path,
    changes: &[crate::model::change::Change],
    executable: &[Option<bool>],
    message: &str,
) -> Result<Option<Prepared>> {
    use write;
    if !fast_allowed(root) || std::env::var("PROMOTE_COMMIT").is_ok_and(|v| v == "git") {
        return Ok(None);
    }
    let Ok(repo) = git2::Repository::open(root) else {
        return Ok(None);
    };
    // Which of the paths git would convert (attributes from every file git reads), asked while
    // the objects are written.
    let converted = {
        let root = root.to_path_buf();
        let paths: Vec<String> = changes
            .iter()
            .filter(|c| c.after.is_some())
            .map(|c| c.path.clone())
            .collect();
        std::thread::spawn(move || fast::converted(&root, &paths))
    };
    // HEAD must be a branch with a commit: `refs/heads/<name>`.
    let Some(branch) = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|head| head.symbolic_target().map(str::to_string))
    else {
        return Ok(None);
    };
    let Ok(parent) = repo.refname_to_id(&branch) else {
        return Ok(None);
    };

    // What git records for each file: its content and whether it is executable.
    let mut updates = Vec::with_capacity(changes.len());
    for (c, exec) in changes.iter().zip(executable) {
        let mode = match (&c.after, exec) {
            (None, _) => write::REGULAR,
            (Some(_), None) => return Ok(None),
            (Some(_), Some(true)) => write::EXECUTABLE,
            (Some(_), Some(false)) => write::REGULAR,
        };
        updates.push(write::Update {
            path: c.path.clone(),
            content: c.after.clone(),
            mode,
        });
    }
    let author = var(root, "GIT_AUTHOR_IDENT");
    let committer = var(root, "GIT_COMMITTER_IDENT");
    let (Some(author), Some(committer)) = (author, committer) else {
        // No identity: `git commit` words that error.
        return Ok(None);
    };
    // `git commit -F` cleans the message up this way (`commit.cleanup=whitespace`).
    let message = git2::message_prettify(message, None).context("cannot clean up the message")?;
    let commit = match write::write_commit(
        &repo,
        parent,
        &updates,
        author.trim(),
        committer.trim(),
        &message,
    ) {
        Ok(id) => id,
        Err(e) if unsupported(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(Prepared {
        subject: message.lines().next().unwrap_or_default().to_string(),
        repo,
        branch,
        parent,
        commit,
        updates,
        converted,
    }))
}

fn unsupported(e: &anyhow::Error) -> bool {
    e.downcast_ref::<write::Unsupported>().is_some()
}

/// A commit whose objects are written (see [`prepare_commit`]): nothing refers to it yet.
pub struct Prepared {
    repo: git2::Repository,
    branch: String,
    parent: git2::Oid,
    commit: git2::Oid,
    updates: Vec<write::Update>,
    subject: String,
    converted: std::thread::JoinHandle<Result<Vec<String>>>,
}

impl Prepared {
    /// With the files in place: the index updated for these paths, then the branch moved (if it
    /// is still where it was). `None` (nothing changed) where `git` must do it after all.
    pub fn finish(self, root: &Path) -> Result<Option<String>> {
        let Prepared {
            repo,
            branch,
            parent,
            commit,
            updates,
            subject,
            converted,
        } = self;
        match converted.join() {
            Ok(Ok(paths)) if paths.is_empty() => {}
            Ok(Ok(paths)) => {
                // The pack written is harmless: unreachable objects, as a failed `git commit` leaves.
                crate::ui::trace(&format!(
                    "commit: through git: attributes convert `{}`",
                    paths[0]
                ));
                return Ok(None);
            }
            Ok(Err(e)) => {
                crate::ui::trace(&format!("commit: through git: {e:#}"));
                return Ok(None);
            }
            Err(_) => return Ok(None),
        }
        let entries = write::index_changes(&updates);
        let lock = match write::update_index(&repo, root, &entries) {
            Ok(lock) => lock,
            // The pack written is harmless: unreachable objects, as a failed `git commit` leaves.
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        crate::ui::trace("commit: objects and index written");
        crate::failpoint::check("index-written")?;
        // Moves the branch only if it is still where we started (another process may have
        // committed meanwhile); the lock is dropped, and the index left as it was, if not.
        repo.reference_matching(&branch, commit, true, parent, &format!("commit: {subject}"))
            .with_context(|| format!("cannot move `{branch}` to the new commit"))?;
        crate::failpoint::check("ref-moved")?;
        if let Err(e) = lock.commit() {
            // The commit is made; only the index is behind. Let git bring it up to date.
            let mut list = String::new();
            for u in &updates {
                list.push_str(&u.path);
                list.push('\0');
            }
            git_with_input(
                root,
                &["update-index", "--add", "--remove", "-z", "--stdin"],
                Some(&list),
            )
            .with_context(|| format!("committed {commit}, but cannot update the index: {e}"))?;
        }
        crate::ui::trace("commit: committed");
        if let Ok(config) = repo.config() {
            gc_if_due(&repo, &config);
        }
        Ok(Some(commit.to_string()))
    }
}

/// Each in-process commit adds one small pack. `git commit` runs `git gc --auto` after every
/// commit; this runs it only when there are more packs than `gc.autoPackLimit` (what `gc --auto`
/// would act on), so the usual run costs one directory listing. gc detaches itself by default.
fn gc_if_due(repo: &git2::Repository, config: &git2::Config) {
    let auto = config.get_i64("gc.auto").unwrap_or(6700);
    let limit = config.get_i64("gc.autoPackLimit").unwrap_or(50);
    if auto <= 0 || limit <= 0 {
        return;
    }
    let packs = std::fs::read_dir(repo.commondir().join("objects").join("pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0);
    if packs as i64 > limit {
        if let Some(root) = repo.workdir() {
            let _ = git(root, &["gc", "--auto", "--quiet"]);
        }
    }
}

/// Commits exactly `paths` (added, changed or deleted) with `message` through `git`, leaving
/// anything else the user staged alone. Returns the new commit id.
///
/// Where a hook or signing takes part (or `PROMOTE_COMMIT=git`, or no commit yet), that is
/// `git commit --only`, exactly as a user would run it. Otherwise it is git's plumbing, which
/// never reads the index without holding its lock (`git commit` reads it before locking it, so
/// an entry another process stages meanwhile can vanish): `update-index` stages the paths in the
/// index, the same paths on HEAD's tree in a scratch index make the tree, `commit-tree` and
/// `update-ref` (a compare-and-swap on the commit it started from) make the commit.
pub fn commit(root: &Path, paths: &[String], message: &str) -> Result<String> {
    // `update-index` stages exactly these files (added, changed or deleted), with git's
    // conversions (attributes, filters, `core.autocrlf`) and the stat data git records.
    let mut list = String::new();
    for p in paths {
        list.push_str(p);
        list.push('\0');
    }
    let stage = ["update-index", "--add", "--remove", "-z", "--stdin"];
    waiting_for_index(root, || git_with_input(root, &stage, Some(&list)))?;
    crate::ui::trace("commit: staged");
    crate::failpoint::check("index-written")?;
    let plan = CommitPlan::read(root)?;
    let (Some(parent), None) = (&plan.head, &plan.needs_git_commit) else {
        if let Some(why) = &plan.needs_git_commit {
            crate::ui::trace(&format!("commit: `git commit` ({why})"));
        }
        return git_commit_only(root, paths, message);
    };
    // The tree: HEAD's, with these paths as `git add` stores them.
    let scratch = plan.git_dir.join("promote-next-index");
    let _ = std::fs::remove_file(&scratch);
    let env = [("GIT_INDEX_FILE", scratch.as_path())];
    let tree = git_env(root, &["read-tree", parent], None, &env)
        .and_then(|_| git_env(root, &stage, Some(&list), &env))
        .and_then(|_| git_env(root, &["write-tree"], None, &env));
    let _ = std::fs::remove_file(&scratch);
    let tree = tree?;
    let tree = tree.trim();
    // `git commit -F` cleans the message up this way (`commit.cleanup` unset: whitespace).
    let message = cleanup_whitespace(message);
    let commit = git_with_input(
        root,
        &["commit-tree", tree, "-p", parent, "-F", "-"],
        Some(&message),
    )?;
    let commit = commit.trim().to_string();
    let subject = message.lines().next().unwrap_or_default();
    // HEAD (and the branch it names) moves only if it is still where we started; the reflog
    // entries are the ones `git commit` writes.
    git(
        root,
        &[
            "update-ref",
            "-m",
            &format!("commit: {subject}"),
            "HEAD",
            &commit,
            parent,
        ],
    )
    .with_context(|| {
        format!("HEAD moved while promote committed; `{commit}` is left unreferenced")
    })?;
    crate::failpoint::check("ref-moved")?;
    crate::ui::trace("commit: committed");
    // `git commit` ends with `gc --auto` (it detaches itself when there is work to do).
    let _ = git(root, &["gc", "--auto", "--quiet"]);
    Ok(commit)
}

/// What decides how `commit` commits, as git reads it.
struct CommitPlan {
    git_dir: PathBuf,
    head: Option<String>,
    /// Why only `git commit` itself will do: a hook, signing, a message cleanup.
    needs_git_commit: Option<String>,
}

impl CommitPlan {
    fn read(root: &Path) -> Result<CommitPlan> {
        if std::env::var("PROMOTE_COMMIT").is_ok_and(|v| v == "git") {
            return Ok(CommitPlan {
                git_dir: PathBuf::new(),
                head: None,
                needs_git_commit: Some("`PROMOTE_COMMIT=git`".into()),
            });
        }
        // `--git-path hooks` is where git runs hooks from: `core.hooksPath` (with `~` expanded,
        // relative to the work tree) or the common dir's `hooks`.
        let out = git(
            root,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--git-dir",
                "--git-path",
                "hooks",
            ],
        )?;
        let mut lines = out.lines();
        let git_dir = PathBuf::from(lines.next().unwrap_or_default());
        let hooks = PathBuf::from(lines.next().unwrap_or_default());
        let config = fast::read_config(root)?;
        let on = |key: &str| {
            config.get(key).is_some_and(|v| {
                !matches!(
                    v.as_deref().map(str::to_ascii_lowercase).as_deref(),
                    Some("false" | "no" | "off" | "0" | "")
                )
            })
        };
        let needs_git_commit = fast::hook_reason(&hooks)
            .or_else(|| on("commit.gpgsign").then(|| "`commit.gpgSign`".to_string()))
            .or_else(|| {
                config
                    .contains_key("commit.cleanup")
                    .then(|| "`commit.cleanup`".to_string())
            });
        Ok(CommitPlan {
            git_dir,
            head: cli::head(root),
            needs_git_commit,
        })
    }
}

/// `git commit -F`'s whitespace cleanup: trailing whitespace off every line, leading and trailing
/// blank lines dropped, runs of blank lines made one, a final newline.
fn cleanup_whitespace(message: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in message.lines().map(str::trim_end) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `git commit --only -- <paths>`: hooks, signing and message cleanup as the user's `git commit`.
fn git_commit_only(root: &Path, paths: &[String], message: &str) -> Result<String> {
    // The paths from a file, NUL-separated: any name, and an error message that stays short.
    let git_dir =
        PathBuf::from(git(root, &["rev-parse", "--path-format=absolute", "--git-dir"])?.trim());
    // One name: `promote.lock` keeps a second run out of this clone.
    let list = git_dir.join("promote-commit-paths");
    let mut bytes = Vec::new();
    for p in paths {
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(0);
    }
    std::fs::write(&list, bytes).with_context(|| format!("cannot write `{}`", list.display()))?;
    let from = format!("--pathspec-from-file={}", list.display());
    // `--only`: the commit holds these paths and nothing else. `--literal-pathspecs`: the paths
    // are names, not patterns. `-F -` reads the message from stdin: no quoting, no temp file.
    let args = [
        "--literal-pathspecs",
        "commit",
        "--quiet",
        "--only",
        "-F",
        "-",
        &from,
        "--pathspec-file-nul",
    ];
    let done = waiting_for_index(root, || git_with_input(root, &args, Some(message)));
    let _ = std::fs::remove_file(&list);
    done?;
    crate::failpoint::check("ref-moved")?;
    crate::ui::trace("commit: committed");
    Ok(git(root, &["rev-parse", "HEAD"])?.trim().to_string())
}

/// Runs `run` (a `git` command that takes `index.lock`) again while it fails only because another
/// process holds the lock, up to `PROMOTE_LOCK_WAIT` seconds; then fails saying who holds it.
fn waiting_for_index<T>(root: &Path, mut run: impl FnMut() -> Result<T>) -> Result<T> {
    let wait = lock_wait();
    let start = Instant::now();
    loop {
        match run() {
            Err(e) => {
                let Some(lock) = e
                    .downcast_ref::<GitError>()
                    .and_then(|g| locked_by(&g.stderr))
                else {
                    return Err(e);
                };
                if start.elapsed() >= wait {
                    let lock = if lock.is_absolute() {
                        lock
                    } else {
                        root.join(lock)
                    };
                    return Err(index_locked(&lock, start.elapsed()).into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            ok => return ok,
        }
    }
}

/// The lock file named by git's "Unable to create '<path>.lock': File exists." message.
fn locked_by(stderr: &str) -> Option<PathBuf> {
    let at = stderr.find("Unable to create '")? + "Unable to create '".len();
    let rest = &stderr[at..];
    let end = rest.find("': File exists")?;
    Some(PathBuf::from(&rest[..end]))
}

/// The error for an `index.lock` still held after waiting: which process has it open (from
/// `/proc`), or that none does (a lock left behind by a crashed git).
pub fn index_locked(lock: &Path, waited: Duration) -> Failure {
    Failure::IndexLocked {
        lock: lock.to_path_buf(),
        holder: lock_holder(lock),
        waited,
    }
}

/// The process that has `lock` open, and its command line, as `/proc` shows it (Linux).
fn lock_holder(lock: &Path) -> Option<(u32, String)> {
    let me = std::process::id();
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = proc_entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        let open = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock));
        if open {
            let cmd = std::fs::read(proc_entry.path().join("cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            return Some((pid, cmd));
        }
    }
    None
}

/// Takes `paths` out of the index again after a failed commit, so the index ends as it began
/// (the paths were clean before we touched them).
pub fn unstage(root: &Path, paths: &[String], has_head: bool) -> Result<()> {
    let mut args: Vec<&str> = if has_head {
        vec!["reset", "--quiet", "--"]
    } else {
        vec!["rm", "--cached", "--quiet", "-r", "--ignore-unmatch", "--"]
    };
    args.extend(paths.iter().map(String::as_str));
    waiting_for_index(root, || git(root, &args)).map(|_| ())
}

/// An exclusive lock on the clone, so two runs cannot interleave. It is an OS file lock
/// (`flock`): it is released when the process ends, however it ends, so a crash leaves no stale lock.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// `git_dir` is the repository's (`Repo::git_dir`): asking libgit2, which already opened it,
    /// spares a `git rev-parse` process at every run.
    pub fn acquire(git_dir: &Path, wait: Duration) -> Result<Lock> {
        let path = git_dir.join("promote.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file `{}`", path.display()))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    use std::io::Write;
                    let mut f = &file;
                    let _ = f.set_len(0);
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Lock { _file: file });
                }
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    return Err(Failure::AnotherPromote {
                        pid: holder.to_string(),
                        waited: wait,
                    }
                    .into());
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock `{}`", path.display()))
                }
            }
        }
    }
}

/// Where the current branch pushes: its upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The remote's name (`origin`).
    pub remote: String,
    /// The branch on the remote (`refs/heads/main`).
    pub merge: String,
    /// The remote-tracking ref (`refs/remotes/origin/main`).
    pub tracking: String,
}

/// The current branch's upstream, or an error saying how to set one.
pub fn upstream(root: &Path) -> Result<Upstream> {
    let branch = git(root, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .map_err(|_| Failure::DetachedHead)?;
    let branch = branch.trim();
    let remote = git(root, &["config", &format!("branch.{branch}.remote")]);
    let merge = git(root, &["config", &format!("branch.{branch}.merge")]);
    let tracking = git(root, &["rev-parse", "--symbolic-full-name", "@{upstream}"]);
    match (remote, merge, tracking) {
        (Ok(r), Ok(m), Ok(t)) => Ok(Upstream {
            remote: r.trim().to_string(),
            merge: m.trim().to_string(),
            tracking: t.trim().to_string(),
        }),
        _ => Err(Failure::NoUpstream {
            branch: branch.to_string(),
        }
        .into()),
    }
}

/// Fetches the upstream branch and returns the commit it points at.
pub fn fetch(root: &Path, up: &Upstream) -> Result<String> {
    // An explicit refspec so the remote-tracking ref is updated whatever the remote's fetch config says.
    let refspec = format!("+{}:{}", up.merge, up.tracking);
    git(
        root,
        &["fetch", "--quiet", "--no-tags", &up.remote, &refspec],
    )?;
    Ok(git(root, &["rev-parse", &up.tracking])?.trim().to_string())
}

/// How a push ended.
#[derive(Debug)]
pub enum Pushed {
    Ok,
    /// Someone else pushed first: fetch, re-apply, try again.
    LostRace(String),
}

/// Pushes HEAD to the upstream branch. Never forces.
pub fn push(root: &Path, up: &Upstream) -> Result<Pushed> {
    let dst = format!("HEAD:{}", up.merge);
    match git(root, &["push", "--quiet", &up.remote, &dst]) {
        Ok(_) => Ok(Pushed::Ok),
        Err(e) => {
            let text = e
                .downcast_ref::<GitError>()
                .map(|g| g.stderr.clone())
                .unwrap_or_default();
            if is_lost_race(&text) {
                Ok(Pushed::LostRace(text))
            } else {
                Err(e)
            }
        }
    }
}

/// Every way git (and hosting services) report that the remote branch moved under us.
pub fn is_lost_race(stderr: &str) -> bool {
    [
        "non-fast-forward",
        "fetch first",
        "cannot lock ref",
        "incorrect old value provided",
        "stale info",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

/// Moves the branch and the files it tracks to `commit`, keeping unrelated local changes
/// (`--keep` refuses instead of overwriting a file with local changes).
pub fn reset_keep(root: &Path, commit: &str) -> Result<()> {
    git(root, &["reset", "--quiet", "--keep", commit]).map(|_| ())
}

/// Is `a` an ancestor of (or equal to) `b`?
pub fn is_ancestor(root: &Path, a: &str, b: &str) -> bool {
    git(root, &["merge-base", "--is-ancestor", a, b]).is_ok()
}

/// How long to wait for another run's lock: `PROMOTE_LOCK_WAIT` seconds, 10 by default.
pub fn lock_wait() -> Duration {
    let secs = std::env::var("PROMOTE_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
}

/// Push retries: `PROMOTE_PUSH_ATTEMPTS` (default 10) and `PROMOTE_PUSH_BACKOFF_MS` (first wait,
/// default 1000 ms; it doubles each time, capped at 8x, with jitter so racing pipelines spread out).
#[derive(Debug, Clone, Copy)]
pub struct PushPolicy {
    pub attempts: u32,
    pub base_ms: u64,
}

impl PushPolicy {
    pub fn from_env() -> PushPolicy {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(d)
        };
        PushPolicy {
            attempts: num("PROMOTE_PUSH_ATTEMPTS", 10).clamp(1, 100) as u32,
            base_ms: num("PROMOTE_PUSH_BACKOFF_MS", 1000),
        }
    }

    /// The wait after the `attempt`-th rejection: between half and all of `base * 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .base_ms
            .saturating_mul(1 << (attempt.saturating_sub(1)).min(3));
        let jitter = 0.5 + 0.5 * random_fraction();
        Duration::from_millis((full as f64 * jitter) as u64)
    }
}

/// A number in [0, 1) that differs between processes and calls (jitter, not cryptography).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_races_in_every_form() {
        for s in [
            " ! [rejected]        HEAD -> main (fetch first)",
            " ! [rejected]        HEAD -> main (non-fast-forward)",
            "remote: error: cannot lock ref 'refs/heads/main': is at 1234 but expected 5678",
            "error: incorrect old value provided",
        ] {
            assert!(is_lost_race(s), "{s}");
        }
        assert!(!is_lost_race(
            "fatal: Authentication failed for 'https://example.com/'"
        ));
    }

    #[test]
    fn messages_are_cleaned_up_as_git_commit_does() {
        assert_eq!(
            cleanup_whitespace("\n\nsubject  \n\n\n\nbody\t\nmore\n\n"),
            "subject\n\nbody\nmore\n"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = PushPolicy {
            attempts: 10,
            base_ms: 1000,
        };
        for (attempt, full) in [(1, 1000), (2, 2000), (3, 4000), (4, 8000), (9, 8000)] {
            let d = p.backoff(attempt).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
        }
    }
}
