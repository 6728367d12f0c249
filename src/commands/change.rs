//! `promote to`, `promote set-image` and `promote diff`: the commands that change (or would change)
//! an environment's versions.

use std::path::Path;

use serde_json::json;

use crate::error::{exit, Failure, Outcome};
use crate::model::version::Version;
use crate::plan::{self, Ctx, Plan};
use crate::ui;
use crate::ui::diff::unified;

use super::apply_change::{apply_with, summary, version_line, Applied};
use super::pr;
use super::push::{with_push, Push};
use super::request::{refuse_direct, Replay};

pub use crate::cli::ChangeOpts as Opts;

pub fn promote(dir: &Path, env: &str, from: Option<&str>, only: &[String], opts: Opts) -> Outcome {
    let replay = Replay::To {
        env: env.into(),
        from: from.map(str::to_string),
        only: only.to_vec(),
        message: opts.message.clone(),
    };
    run(dir, opts, replay)
}

pub fn set_image(
    dir: &Path,
    env: &str,
    sha: Option<&str>,
    pairs: &[String],
    opts: Opts,
) -> Outcome {
    let replay = Replay::SetImage {
        env: env.into(),
        sha: sha.map(str::to_string),
        pairs: pairs.to_vec(),
        message: opts.message.clone(),
    };
    run(dir, opts, replay)
}

pub fn rollback(dir: &Path, env: &str, to: Option<&str>, opts: Opts) -> Outcome {
    let replay = Replay::Rollback {
        env: env.into(),
        to: to.map(str::to_string),
        message: opts.message.clone(),
    };
    run(dir, opts, replay)
}

/// `promote hold` (`hold`) or `promote unhold`. A hold needs a reason: whoever it refuses reads it.
pub fn hold(dir: &Path, env: &str, hold: bool, opts: Opts) -> Outcome {
    let replay = match (hold, opts.message.clone()) {
        (true, None) => return Err(Failure::HoldNeedsReason { env: env.into() }.into()),
        (true, Some(reason)) => Replay::Hold {
            env: env.into(),
            reason,
        },
        (false, message) => Replay::Unhold {
            env: env.into(),
            message,
        },
    };
    run(dir, opts, replay)
}

/// Runs a change: with `--push`, on top of the upstream head, retrying when another pipeline pushes
/// first; with `--pr`, as a pull request (`pr.rs`). The request is built from the repository as it
/// is, so a retry re-plans from the new upstream state (the other pipeline's change is kept, and the
/// audit chain stays linear).
fn run(dir: &Path, opts: Opts, replay: Replay) -> Outcome {
    if let (Some(mode), false) = (opts.pr, opts.dry_run) {
        if let Some(done) = pr::run(dir, mode, &replay, &opts)? {
            return Ok(done);
        }
    }
    if opts.push && !opts.dry_run {
        // Before `--push` moves the branch onto the upstream head.
        refuse_direct(&Ctx::open(dir)?, &replay)?;
    }
    let (applied, push) = with_push(dir, opts.push && !opts.dry_run, |ctx| {
        let req = replay.make(ctx)?;
        if !opts.dry_run {
            refuse_direct(ctx, &replay)?;
            // A commit here (not in `--pr`'s worktree) needs a first commit and a branch.
            crate::commands::preflight::can_commit(ctx)?;
        }
        let applied = apply_with(ctx, req, &opts)?;
        let commit = match &applied {
            Applied::Committed(_, c) => Some(c.clone()),
            _ => None,
        };
        Ok((applied, commit))
    })?;
    report(&applied, &opts, push)
}

fn report(applied: &Applied, opts: &Opts, push: Option<Push>) -> Outcome {
    let (plan, commit) = match applied {
        Applied::NoOp(p) => (p, None),
        Applied::DryRun(p) => {
            if opts.json {
                ui::data(&(serde_json::to_string_pretty(&diff_json(p))? + "\n"));
            } else {
                ui::data(&diff_text(p));
            }
            return Ok(exit::OK);
        }
        Applied::Committed(p, c) => (p, Some(c.as_str())),
    };
    if opts.json {
        let mut s = summary(plan, commit, false);
        s["pushed"] = json!(push.as_ref().is_some_and(|p| p.pushed));
        s["retries"] = json!(push.as_ref().map(|p| p.attempts - 1).unwrap_or(0));
        ui::data(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let Some(commit) = commit else {
        let env = &plan.request.env;
        let where_ = if push.is_some() { " upstream" } else { "" };
        let what = match plan.request.action.as_str() {
            "promote" => format!("nothing to promote: `{env}` already runs these versions{where_}"),
            "hold" => format!("`{env}` is already on hold{where_}"),
            "unhold" => format!("`{env}` is not on hold{where_}"),
            "rollback" => {
                format!("nothing to roll back: `{env}` already runs those versions{where_}")
            }
            _ => format!("nothing to change: `{env}` already runs these versions{where_}"),
        };
        ui::result(&what);
        return Ok(exit::OK);
    };
    let mut summary = format!(
        "[{}] {}",
        &commit[..commit.len().min(7)],
        plan.commit_message.lines().next().unwrap_or("")
    );
    for c in &plan.versions {
        summary.push_str(&format!("\n  {}", version_line(c)));
    }
    if ui::verbose() {
        // `-v`: the files of the commit too (`git show --stat` would list them).
        for p in plan.paths() {
            summary.push_str(&format!("\n  wrote {p}"));
        }
    }
    ui::result(&summary);
    if plan.request.action == "rollback" {
        ui::hint(&format!(
            "to keep the rolled-back version from being promoted straight back: `promote hold {} --reason \"...\"`",
            plan.request.env
        ));
    }
    if let Some(p) = push.filter(|p| p.pushed) {
        let retries = match p.attempts - 1 {
            0 => String::new(),
            1 => " (after 1 retry)".into(),
            n => format!(" (after {n} retries)"),
        };
        ui::result(&format!("pushed{retries}"));
    }
    Ok(exit::OK)
}

fn diff_json(plan: &Plan) -> serde_json::Value {
    let files: Vec<serde_json::Value> = plan
        .files
        .iter()
        .map(|c| json!({"path": c.path, "diff": unified(&c.path, c.before.as_deref(), c.after.as_deref(), false)}))
        .collect();
    json!({
        "env": plan.request.env,
        "action": plan.request.action,
        "from": plan.request.from,
        "changes": plan.versions,
        "files": files,
    })
}

fn diff_text(plan: &Plan) -> String {
    let color = ui::color_stdout();
    let req = &plan.request;
    let n = plan.versions.len();
    let count = format!(
        "{n} service{} change{}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" }
    );
    let mut out = match &req.from {
        Some(f) => format!("promote {f} -> {}: {count}\n\n", req.env),
        None => format!("{} {}: {count}\n\n", req.action, req.env),
    };
    let w = plan
        .versions
        .iter()
        .map(|c| c.service.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let show = |x: &Option<Version>| {
        x.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(none)".into())
    };
    let bw = plan
        .versions
        .iter()
        .map(|c| show(&c.before).len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&ui::paint(
        &format!("  {:w$}  {:bw$}    {}\n", "SERVICE", "NOW", "AFTER"),
        "1",
        color,
    ));
    for c in &plan.versions {
        out.push_str(&format!(
            "  {:w$}  {:bw$} -> {}\n",
            c.service,
            show(&c.before),
            show(&c.after)
        ));
    }
    out.push('\n');
    for c in &plan.files {
        out.push_str(&unified(
            &c.path,
            c.before.as_deref(),
            c.after.as_deref(),
            color,
        ));
    }
    out
}

/// `promote diff ENV`: the promotion's diff, without changing anything.
pub fn diff(
    dir: &Path,
    env: &str,
    from: Option<&str>,
    only: &[String],
    exit_code: bool,
    json: bool,
) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let req = plan::promotion(&ctx, env, from, only, None)?;
    let (refusals, _) = plan::gate_refusals(&ctx, &req, false)?;
    let plan = plan::build(&ctx, req)?;
    if !refusals.is_empty() && !plan.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  {r}")).collect();
        ui::warn(&format!(
            "`promote to {env}` would be refused by its gates now:\n{}",
            list.join("\n")
        ));
    }
    if json {
        ui::data(&(serde_json::to_string_pretty(&diff_json(&plan))? + "\n"));
    } else if plan.is_empty() {
        ui::result(&format!(
            "nothing to promote: `{env}` already runs what its source runs"
        ));
    } else {
        ui::data(&diff_text(&plan));
    }
    Ok(if exit_code && !plan.is_empty() {
        exit::PENDING
    } else {
        exit::OK
    })
}
