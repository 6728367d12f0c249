//! Checks before a command runs, each with a message that says exactly what is wrong: the directory
//! given with `-C`, and whether the repository can take a commit (it has a first commit, and HEAD
//! is on a branch).

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::plan::Ctx;

/// The directory a command runs in (`-C DIR`, or the current one) must exist and be a directory.
pub fn directory(dir: &Path) -> Result<()> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Failure::DirIsFile {
            dir: shown.to_string(),
        }
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::NoSuchDir {
            dir: shown.to_string(),
        }
        .into()),
        Err(e) => Err(Failure::CannotOpen {
            dir: shown.to_string(),
            error: e.to_string(),
        }
        .into()),
    }
}

/// The repository can take promote's commit: it has a first commit (a change is a commit on top of
/// what is committed), and HEAD is on a branch (a commit on a detached HEAD belongs to no branch and
/// is easily lost, so it is refused, as `--push` refuses it).
pub fn can_commit(ctx: &Ctx) -> Result<()> {
    has_commits(
        ctx,
        "promote commits its change on top of the committed config repository",
    )?;
    let head = ctx.repo.head().unwrap_or_default();
    if ctx.repo.branch().is_none() {
        return Err(Failure::DetachedHeadCommit { head }.into());
    }
    Ok(())
}

/// The repository has a first commit; `why` says what needs it.
pub fn has_commits(ctx: &Ctx, why: &str) -> Result<()> {
    if ctx.repo.head().is_none() {
        return Err(Failure::NoCommits {
            why: why.to_string(),
        }
        .into());
    }
    Ok(())
}
