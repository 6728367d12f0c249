//! `promote pr refresh TARGET`: replay promote's open requests on the new upstream head.

use super::open::{open, REQUEST_TRAILER};
use super::report::report;
use crate::commands::request::Replay;
use crate::error::{exit, Failure, Outcome};
use crate::git::pr;
use crate::git::{self, Lock};
use crate::plan::Ctx;
use crate::ui;
use serde_json::json;
use std::path::Path;

/// `promote pr refresh ENV|BRANCH`: rebuilds promote's pull-request branches whose base changed
/// under them, from the request each one records.
pub(crate) fn refresh(dir: &Path, target: &str, json: bool) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let _lock = Lock::acquire(ctx.repo.git_dir(), git::lock_wait())?;
    let root = &ctx.config.root;
    let up = git::upstream(root)?;
    let branches: Vec<String> = if ctx.config.env(target).is_ok() {
        pr::remote_branches(root, &up.remote, &format!("promote/{target}/"))?
            .into_iter()
            .map(|(b, _)| b)
            .collect()
    } else if target.starts_with("promote/") {
        if pr::remote_branch(root, &up.remote, target)?.is_none() {
            return Err(Failure::NoSuchRemoteBranch {
                branch: target.to_string(),
                remote: up.remote.clone(),
            }
            .into());
        }
        vec![target.to_string()]
    } else {
        ctx.config.env(target)?;
        unreachable!("`env` errs for an unknown environment")
    };
    if branches.is_empty() {
        ui::status(&format!(
            "no pull-request branches of `{target}` on `{}` (`promote/{target}/...`)",
            up.remote
        ));
        if json {
            ui::data("[]\n");
        }
        return Ok(exit::OK);
    }
    let mut all = Vec::new();
    for branch in branches {
        let tip = pr::fetch_branch(root, &up.remote, &branch)?;
        let message = pr::message(root, &tip)?;
        let replay: Replay = message
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(REQUEST_TRAILER))
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| Failure::NotMadeByPromote {
                branch: branch.clone(),
                trailer: REQUEST_TRAILER.trim_end_matches([':', ' ']).to_string(),
            })?;
        let opened = open(&ctx, &replay, None)?;
        if json {
            all.push(json!({
                "branch": opened.branch,
                "state": opened.state.word(),
                "commit": opened.commit,
                "changes": opened.plan.versions,
                "pr": opened.pr.as_ref().and_then(|p| p.url.clone()),
            }));
        } else {
            report(&opened, false)?;
        }
    }
    if json {
        ui::data(&(serde_json::to_string_pretty(&all)? + "\n"));
    }
    Ok(exit::OK)
}
