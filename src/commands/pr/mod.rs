//! Promotion by pull request: `--pr` on the commands that change an environment, `promote pr
//! refresh`, and `promote check --base`.
//!
//! The change is planned on the upstream head exactly as `--push` plans it, but in a temporary
//! worktree (`.git/promote/pr-worktree`), so the user's branch, index and files are never touched.
//! It is committed there (metadata and deploy.log in the same commit: merging is the promotion) and
//! pushed to promote's own branch `promote/<env>/<request>`, the only ref promote ever force-pushes,
//! with a lease. The pull request is then opened or updated with the hosting's CLI (`gh`, `glab`),
//! with GitLab's push options, or by printing the address that opens it.

use std::path::Path;

use anyhow::Result;

use crate::cli::PrMode;
use crate::error::exit;
use crate::git::{self, Lock};
use crate::model::config::Approval;
use crate::plan::Ctx;

mod body;
mod check_base;
mod link;
mod open;
mod refresh;
mod report;

pub(crate) use check_base::check_base;
pub(crate) use link::approval_advice;
pub(crate) use refresh::refresh;

use open::open;
use report::report;

use super::request::Replay;
use crate::cli::ChangeOpts as Opts;

/// `--pr`: the change as a pull request. `None` when `--pr=auto` and the environment does not
/// require one (the caller then commits as usual).
pub(super) fn run(dir: &Path, mode: PrMode, replay: &Replay, opts: &Opts) -> Result<Option<i32>> {
    let ctx = Ctx::open(dir)?;
    let env = ctx.config.env(replay.env())?;
    if mode == PrMode::Auto && env.approval != Approval::Pr {
        return Ok(None);
    }
    let _lock = Lock::acquire(ctx.repo.git_dir(), git::lock_wait())?;
    let opened = open(&ctx, replay, opts.override_gates.as_deref())?;
    report(&opened, opts.json)?;
    Ok(Some(exit::OK))
}
