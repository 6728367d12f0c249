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
use serde_json::json;

use crate::cli::PrMode;
use crate::error::exit;
use crate::git::{self, Lock};
use crate::model::config::Approval;
use crate::plan::{Ctx, Plan};
use crate::ui;

mod body;
mod check_base;
mod link;
mod open;
mod refresh;

pub(crate) use check_base::check_base;
pub(crate) use link::approval_advice;
pub(crate) use refresh::refresh;

use link::Link;
use open::open;

use super::apply_change;
use super::request::Replay;
use crate::cli::ChangeOpts as Opts;

/// The trailer that records the request in a pull request's commit, so `promote pr refresh` can
/// make it again on a new base.
const REQUEST_TRAILER: &str = "Promote-Request: ";

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

/// What `open` did with a request.
struct Opened {
    branch: String,
    base: String,
    /// The upstream head the change was planned on.
    upstream: String,
    state: State,
    /// The plan (`None` only when the request is in effect upstream).
    plan: Plan,
    /// The pull request's commit (new or, when unchanged, the one already pushed).
    commit: Option<String>,
    /// Why an existing branch was rebuilt.
    why: Option<String>,
    pr: Option<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// The environment already runs what was asked, upstream: no branch was touched.
    InEffect,
    /// A new branch.
    Created,
    /// The branch existed and was rebuilt.
    Updated,
    /// The branch existed and still holds this change on a base it is valid on.
    Unchanged,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::InEffect => "in-effect",
            State::Created => "created",
            State::Updated => "updated",
            State::Unchanged => "unchanged",
        }
    }
}

fn report(o: &Opened, json: bool) -> Result<()> {
    let plan = &o.plan;
    if json {
        let mut s = apply_change::summary(plan, o.commit.as_deref(), false);
        s["pushed"] = json!(matches!(o.state, State::Created | State::Updated));
        s["branch"] = json!(o.branch);
        s["base"] = json!(o.base);
        s["state"] = json!(o.state.word());
        s["pr"] = json!(o.pr.as_ref().map(|p| json!({
            "url": p.url,
            "via": p.via,
            "opened": p.opened,
        })));
        if o.state == State::InEffect {
            s["record"] = json!(null);
        }
        ui::data(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let env = &plan.request.env;
    if o.state == State::InEffect {
        ui::result(&format!(
            "nothing to change: `{env}` already runs what was asked on `{}` ({}); no pull request was opened or updated",
            o.base,
            &o.upstream[..7.min(o.upstream.len())]
        ));
        return Ok(());
    }
    let commit = o.commit.as_deref().unwrap_or("");
    let mut text = format!(
        "[{} on {}] {}",
        &commit[..7.min(commit.len())],
        o.branch,
        plan.commit_message.lines().next().unwrap_or("")
    );
    for c in &plan.versions {
        text.push_str(&format!("\n  {}", apply_change::version_line(c)));
    }
    ui::result(&text);
    let pushed = match o.state {
        State::Created => format!("pushed the new branch `{}`", o.branch),
        State::Updated => format!(
            "rebuilt `{}` on `{}` and pushed it ({})",
            o.branch,
            o.base,
            o.why.as_deref().unwrap_or("updated")
        ),
        _ => format!(
            "`{}` already holds this change on a valid base: nothing pushed",
            o.branch
        ),
    };
    ui::result(&pushed);
    if let Some(p) = &o.pr {
        match (&p.url, p.opened, p.via) {
            (Some(url), true, via) => {
                ui::result(&format!("opened the pull request ({via}): {url}"))
            }
            (Some(url), false, via) => ui::result(&format!("pull request ({via}): {url}")),
            (None, _, _) => {}
        }
        if let Some(todo) = &p.todo {
            ui::status(todo);
        }
    }
    Ok(())
}
