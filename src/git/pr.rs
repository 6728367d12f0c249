//! The git side of promotion by pull request (`--pr`), all through the `git` binary: promote's own
//! branches on the remote, the temporary worktree a pull request's commit is made in (so the
//! user's checkout is never touched), and the lease-protected push of such a branch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::{git, GitError};
use crate::error::Failure;

/// The URL configured for `remote`, as written (`remote.<name>.url`, before `insteadOf`
/// rewriting): the address people know the repository by, which says where it is hosted.
pub fn remote_url(root: &Path, remote: &str) -> Option<String> {
    git(root, &["config", "--get", &format!("remote.{remote}.url")])
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The commit `refs/heads/<branch>` points at on `remote`, if the branch exists there.
pub fn remote_branch(root: &Path, remote: &str, branch: &str) -> Result<Option<String>> {
    let full = format!("refs/heads/{branch}");
    let out = git(root, &["ls-remote", "--heads", remote, &full])?;
    Ok(out.lines().find_map(|l| {
        let (sha, name) = l.split_once('\t')?;
        (name == full).then(|| sha.to_string())
    }))
}

/// promote's branches under `prefix` (`promote/prod/`) on `remote`, with their commits.
pub fn remote_branches(root: &Path, remote: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let pattern = format!("refs/heads/{prefix}*");
    let out = git(root, &["ls-remote", "--heads", remote, &pattern])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (sha, name) = l.split_once('\t')?;
            let b = name.strip_prefix("refs/heads/")?;
            b.starts_with(prefix)
                .then(|| (b.to_string(), sha.to_string()))
        })
        .collect())
}

/// Fetches `branch` from `remote` into its remote-tracking ref, so its commits can be read.
pub fn fetch_branch(root: &Path, remote: &str, branch: &str) -> Result<String> {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    // An explicit refspec: the remote's fetch config may not cover promote's branches.
    let refspec = format!("+refs/heads/{branch}:{tracking}");
    git(root, &["fetch", "--quiet", "--no-tags", remote, &refspec])?;
    Ok(git(root, &["rev-parse", &tracking])?.trim().to_string())
}

/// `git show <rev>:<path>`: a file's bytes in a commit, `None` if it is not there.
pub fn file_at(root: &Path, rev: &str, path: &str) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["cat-file", "blob", &format!("{rev}:{path}")])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// A commit's full message.
pub fn message(root: &Path, rev: &str) -> Result<String> {
    git(root, &["log", "-1", "--format=%B", rev, "--"])
}

/// The first parent of `rev`.
pub fn parent(root: &Path, rev: &str) -> Result<String> {
    Ok(git(root, &["rev-parse", &format!("{rev}^")])?
        .trim()
        .to_string())
}

/// Resolves a revision to a commit id, or says it does not name one.
pub fn resolve(root: &Path, rev: &str) -> Result<String> {
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map(|s| s.trim().to_string())
    .map_err(|_| {
        Failure::NotACommit {
            rev: rev.to_string(),
        }
        .into()
    })
}

/// The files under `paths` that differ between commits `a` and `b`.
pub fn changed(root: &Path, a: &str, b: &str, paths: &[String]) -> Result<Vec<String>> {
    let mut args = vec!["diff", "--name-only", "--no-renames", a, b, "--"];
    args.extend(paths.iter().map(String::as_str));
    Ok(git(root, &args)?.lines().map(str::to_string).collect())
}

/// A detached worktree of the repository at a commit, removed again when dropped: the place a
/// pull request's commit is made, so the user's branch, index and files stay exactly as they were.
pub struct Worktree {
    pub path: PathBuf,
    root: PathBuf,
}

impl Worktree {
    /// Checks `commit` out (detached) at `<common git dir>/promote/pr-worktree`, without the files
    /// under `skip` (directories; the files in `keep` are checked out all the same): those stay in
    /// the index, marked skip-worktree, as a sparse checkout has them, so the commit made here holds
    /// them unchanged while only what the change reads is written to disk. A leftover of a run that
    /// was killed is removed first (callers hold the clone's lock).
    pub fn add(
        root: &Path,
        common_dir: &Path,
        commit: &str,
        skip: &[String],
        keep: &[String],
    ) -> Result<Worktree> {
        let path = common_dir.join("promote").join("pr-worktree");
        if path.exists() {
            let _ = git(
                root,
                &["worktree", "remove", "--force", &path.to_string_lossy()],
            );
            let _ = std::fs::remove_dir_all(&path);
        }
        // A worktree whose directory is gone is still registered until pruned.
        let _ = git(root, &["worktree", "prune"]);
        std::fs::create_dir_all(path.parent().unwrap_or(common_dir))
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        // `--no-checkout`: the index is filled and the files written below, without `skip`.
        git(
            root,
            &[
                "worktree",
                "add",
                "--no-checkout",
                "--detach",
                "--quiet",
                &path.to_string_lossy(),
                commit,
            ],
        )?;
        let wt = Worktree {
            path,
            root: root.to_path_buf(),
        };
        git(&wt.path, &["read-tree", commit])?;
        if !skip.is_empty() {
            let mut args = vec!["ls-files", "-z", "--"];
            let specs: Vec<String> = skip.iter().map(|d| format!(":(top,literal){d}/")).collect();
            args.extend(specs.iter().map(String::as_str));
            let listed = git(&wt.path, &args)?;
            let mut list = String::new();
            for f in listed.split('\0').filter(|f| !f.is_empty()) {
                if !keep.iter().any(|k| k == f) {
                    list.push_str(f);
                    list.push('\0');
                }
            }
            if !list.is_empty() {
                super::git_stdin(
                    &wt.path,
                    &["update-index", "-z", "--skip-worktree", "--stdin"],
                    &list,
                )?;
            }
        }
        // `checkout-index` leaves skip-worktree entries alone.
        git(&wt.path, &["checkout-index", "--all", "--quiet"])?;
        Ok(wt)
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        // The worktree holds our own commit's files, nothing of the user's: deleting the directory
        // and pruning is what `git worktree remove --force` does, without its status of every file.
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = git(&self.root, &["worktree", "prune"]);
    }
}

/// How pushing a pull-request branch ended.
pub enum BranchPush {
    /// Pushed; what the remote said (`remote:` lines carry the pull request's address).
    Ok(String),
    /// The branch moved on the remote since it was read: someone else updated it.
    Moved(String),
}

/// Pushes `commit` to `refs/heads/<branch>` on `remote`, replacing what is there only if it is still
/// `expected` (`None`: the branch must not exist yet). This lease is the only force promote ever
/// uses, and only on its own `promote/...` branches. `options` are sent as push options (`-o`).
pub fn push_branch(
    root: &Path,
    remote: &str,
    commit: &str,
    branch: &str,
    expected: Option<&str>,
    options: &[String],
) -> Result<BranchPush> {
    let dst = format!("refs/heads/{branch}");
    let lease = format!("--force-with-lease={dst}:{}", expected.unwrap_or(""));
    let refspec = format!("{commit}:{dst}");
    let mut args: Vec<String> = vec!["push".into(), "--porcelain".into(), lease];
    for o in options {
        args.push("-o".into());
        args.push(o.clone());
    }
    args.push(remote.into());
    args.push(refspec);
    let out = Command::new("git")
        .current_dir(root)
        .args(&args)
        // Never wait for a password prompt: a missing credential fails instead of hanging.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .context("cannot run `git`: is git installed and on PATH?")?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        return Ok(BranchPush::Ok(stderr));
    }
    // `--porcelain` prints `!\t<src>:<dst>\t[rejected] (stale info)` on stdout for a lost lease.
    if stdout.contains("stale info") || stderr.contains("stale info") {
        return Ok(BranchPush::Moved(stdout + &stderr));
    }
    let detail = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    Err(GitError {
        args,
        dir: root.to_path_buf(),
        stderr: detail.trim().to_string(),
    }
    .into())
}
