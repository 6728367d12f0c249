//! `--push`: a change made on the upstream head, retried on the new head when another pipeline
//! pushes first. Shared by the environment changes and `promote preview`.

use crate::error::Failure;
use crate::git::{self, Lock};
use crate::plan::Ctx;
use crate::ui;
use anyhow::Result;
use std::path::Path;

/// Runs `attempt` under the clone's lock. With `push`: first moves onto the upstream head; after an
/// attempt that committed (it returns the commit), pushes; when another pipeline pushed first, moves
/// onto the new upstream head and runs `attempt` again, so the change is re-planned from there.
/// Shared by the environment changes and `promote preview`.
pub(super) fn with_push<T>(
    dir: &Path,
    push: bool,
    mut attempt: impl FnMut(&Ctx) -> Result<(T, Option<String>)>,
) -> Result<(T, Option<Push>)> {
    let ctx = Ctx::open(dir)?;
    crate::ui::trace("config loaded");
    let root = ctx.config.root.clone();
    let _lock = Lock::acquire(ctx.repo.git_dir(), git::lock_wait())?;
    crate::ui::trace("locked");
    if !push {
        return Ok((attempt(&ctx)?.0, None));
    }

    // STEP 1: start from the upstream head, so the change is made on what is deployed.
    let up = git::upstream(&root)?;
    let remote = git::fetch(&root, &up)?;
    let head = ctx.repo.head().unwrap_or_default();
    if head != remote {
        if !git::is_ancestor(&root, &head, &remote) {
            return Err(Failure::UnpushedCommits {
                upstream: up.tracking.trim_start_matches("refs/remotes/").to_string(),
            }
            .into());
        }
        git::reset_keep(&root, &remote)?;
    }

    // STEP 2: apply, commit, push; on a lost race, move onto the new upstream head and re-apply.
    let policy = git::PushPolicy::from_env();
    let mut tries = 1;
    loop {
        let ctx = Ctx::open(dir)?;
        let (out, commit) = attempt(&ctx)?;
        let Some(commit) = commit else {
            return Ok((
                out,
                Some(Push {
                    pushed: false,
                    attempts: tries,
                }),
            ));
        };
        match git::push(&root, &up)? {
            git::Pushed::Ok => {
                return Ok((
                    out,
                    Some(Push {
                        pushed: true,
                        attempts: tries,
                    }),
                ))
            }
            git::Pushed::LostRace(why) if tries >= policy.attempts => {
                return Err(Failure::PushGaveUp {
                    tries,
                    upstream: up.tracking.trim_start_matches("refs/remotes/").to_string(),
                    commit,
                    rejection: why
                        .lines()
                        .find(|l| l.contains("rejected"))
                        .unwrap_or(why.trim())
                        .trim()
                        .to_string(),
                }
                .into());
            }
            git::Pushed::LostRace(_) => {
                let wait = policy.backoff(tries);
                ui::status(&format!(
                    "push rejected: another change reached `{}` first; re-applying on its new head in {:.1} s (attempt {} of {})",
                    up.tracking.trim_start_matches("refs/remotes/"),
                    wait.as_secs_f64(),
                    tries + 1,
                    policy.attempts
                ));
                std::thread::sleep(wait);
                let remote = git::fetch(&root, &up)?;
                // Drops our unpushed commit and moves to the new head; local edits elsewhere are kept.
                git::reset_keep(&root, &remote)?;
                tries += 1;
            }
        }
    }
}

/// The push part of a report.
pub(super) struct Push {
    pub(super) pushed: bool,
    pub(super) attempts: u32,
}
