//! Reads through the `git` binary: the backend that is right on every repository git supports
//! (SHA-256, reftable, split and sparse indexes, linked worktrees, `GIT_DIR` and the other `GIT_*`
//! variables, attributes and filters). See `gitfast` for when the in-process path is used instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::error::Failure;

/// Runs `git args` in `dir` and returns its stdout as bytes; the error carries git's stderr.
pub fn bytes(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `git`: is git installed and on PATH?")?;
    if !out.status.success() {
        return Err(super::GitError {
            args: args.iter().map(|s| s.to_string()).collect(),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into());
    }
    Ok(out.stdout)
}

/// Where git finds the repository from `start`: the work tree's root, the git dir and the common
/// git dir (absolute), as `git rev-parse` says (honouring `GIT_DIR`, `GIT_WORK_TREE`, ...).
pub struct Found {
    pub root: PathBuf,
    pub git_dir: PathBuf,
    pub common_dir: PathBuf,
    /// `extensions.objectFormat`: SHA-1 or SHA-256.
    pub format: super::ObjectFormat,
}

pub fn discover(start: &Path) -> Result<Found> {
    let out = Command::new("git")
        .current_dir(start)
        .args([
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-dir",
            "--git-common-dir",
            // In the same process: the ids recovery compares are in this format.
            "--show-object-format",
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .context("cannot run `git`: is git installed and on PATH?")?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        if stderr.contains("not a git repository") {
            return Err(Failure::NotARepository {
                start: start.to_path_buf(),
            }
            .into());
        }
        if stderr.contains("must be run in a work tree") {
            return Err(Failure::BareRepository.into());
        }
        return Err(Failure::GitCannotOpen {
            start: start.to_path_buf(),
            stderr,
        }
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(root), Some(git_dir), Some(common_dir), Some(format)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(Failure::BareRepository.into());
    };
    let Some(format) = super::ObjectFormat::parse(format) else {
        return Err(Failure::UnknownObjectFormat {
            start: start.to_path_buf(),
            format: format.to_string(),
        }
        .into());
    };
    let canon = |p: &str| {
        let p = PathBuf::from(p);
        p.canonicalize().unwrap_or(p)
    };
    Ok(Found {
        root: canon(root),
        git_dir: canon(git_dir),
        common_dir: canon(common_dir),
        format,
    })
}

/// The commit HEAD points at, if any.
pub fn head(root: &Path) -> Option<String> {
    let out = bytes(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).ok()?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    (!id.is_empty()).then_some(id)
}

/// The current branch's short name, if HEAD is on one.
pub fn branch(root: &Path) -> Option<String> {
    let out = bytes(root, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()?;
    let name = String::from_utf8_lossy(&out).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// A file's bytes at HEAD, if it exists there.
pub fn read_at_head(root: &Path, path: &str) -> Option<Vec<u8>> {
    bytes(root, &["cat-file", "blob", &format!("HEAD:{path}")]).ok()
}

/// `git status` for `paths` (repository-relative; empty or `.` is the whole repository): the
/// paths that are staged, modified, deleted, conflicted, or untracked and not ignored (each file
/// of an untracked directory). Sorted, without duplicates.
pub fn dirty(root: &Path, paths: &[String]) -> Result<Vec<String>> {
    let mut args = vec![
        // A read must not take `index.lock` (git status refreshes the index when it can): a
        // concurrent `git add` would fail on it.
        "--no-optional-locks",
        // Paths are paths, not patterns.
        "--literal-pathspecs",
        "status",
        "--porcelain=v2",
        "-z",
        "--untracked-files=all",
        "--ignored=no",
        "--no-renames",
        // Submodules: any change in one counts, as in `git status`.
        "--ignore-submodules=none",
        "--",
    ];
    for p in paths {
        args.push(if p.is_empty() { "." } else { p.as_str() });
    }
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let out = bytes(root, &args)?;
    let mut dirty = std::collections::BTreeSet::new();
    let mut fields = out.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(record) = fields.next() {
        let text = String::from_utf8_lossy(record);
        // `1 XY sub mH mI mW hH hI path`, `u XY sub m1 m2 m3 mW h1 h2 h3 path`, `? path`.
        let path = match record.first() {
            Some(b'1') => text.splitn(9, ' ').nth(8),
            Some(b'2') => {
                // A rename (not produced with --no-renames) is followed by its origin path.
                let _ = fields.next();
                text.splitn(10, ' ').nth(9)
            }
            Some(b'u') => text.splitn(11, ' ').nth(10),
            Some(b'?') => text.get(2..),
            _ => None,
        };
        if let Some(p) = path {
            dirty.insert(p.to_string());
        }
    }
    Ok(dirty.into_iter().collect())
}
