//! Applying a planned preview change (all or nothing, `--push` through the shared retry loop) and reporting it.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::commands::push::{with_push, Push};
use crate::error::{exit, Failure, Outcome};
use crate::plan::Ctx;
use crate::ui;
use crate::ui::diff::unified;

use super::down::plan_down;
use super::gc::plan_gc;
use super::up::plan_up;
use super::{plan::*, state::*};
use crate::cli::PreviewOpts as Opts;

pub(super) enum Applied {
    NoOp(Plan),
    DryRun(Plan),
    Committed(Plan, String),
}

pub(super) fn run(dir: &Path, op: &Op, opts: &Opts) -> Outcome {
    let (applied, push) = with_push(dir, opts.push && !opts.dry_run, |ctx| {
        let applied = apply(ctx, op, opts.dry_run)?;
        let commit = match &applied {
            Applied::Committed(_, c) => Some(c.clone()),
            _ => None,
        };
        Ok((applied, commit))
    })?;
    report(op, &applied, opts, push)
}

/// Plans, then (unless a dry run) writes and commits. All-or-nothing.
pub(super) fn apply(ctx: &Ctx, op: &Op, dry_run: bool) -> Result<Applied> {
    // STEP 1: refuse to run over uncommitted changes where the change would write.
    let previews = settings(&ctx.config)?;
    if !dry_run {
        crate::commands::preflight::can_commit(ctx)?;
        let dirty = ctx.repo.dirty(&guarded(previews, op)?)?;
        if !dirty.is_empty() {
            return Err(Failure::PreviewsDirty { dirty }.into());
        }
    }

    // STEP 2: plan: render in memory, metadata, audit records, the commit message.
    let plan = build(ctx, op)?;
    if plan.files.is_empty() {
        return Ok(Applied::NoOp(plan));
    }
    if dry_run {
        return Ok(Applied::DryRun(plan));
    }

    // STEP 3: write the files, then commit exactly those files.
    let commit = crate::apply::write_and_commit(
        &ctx.repo,
        &ctx.config.root,
        &plan.files,
        &plan.commit_message,
    )?;
    Ok(Applied::Committed(plan, commit))
}

pub(super) fn report(op: &Op, applied: &Applied, opts: &Opts, push: Option<Push>) -> Outcome {
    let (plan, commit, dry_run) = match applied {
        Applied::NoOp(p) => (p, None, false),
        Applied::DryRun(p) => (p, None, true),
        Applied::Committed(p, c) => (p, Some(c.as_str()), false),
    };
    if opts.json {
        report_json(plan, commit, dry_run, push.as_ref())?;
    }
    if plan.items.is_empty() {
        let where_ = if push.is_some() { " upstream" } else { "" };
        ui::result(&match op {
            Op::Up {
                branch, version, ..
            } => format!(
                "nothing to change: the preview of `{branch}` already runs {}{where_}",
                version.short()
            ),
            Op::Down { branch, .. } => {
                format!("nothing to remove: branch `{branch}` has no preview{where_}")
            }
            Op::Gc { .. } => format!("nothing to remove: no preview is stale{where_}"),
        });
        return Ok(exit::OK);
    }
    if dry_run {
        if !opts.json {
            let out = dry_run_text(plan);
            ui::data(&crate::ui::escape::escape(&out));
        }
        return Ok(exit::OK);
    }
    let commit = commit.unwrap_or_default();
    let mut out = format!(
        "[{}] {}\n",
        &commit[..commit.len().min(7)],
        plan.commit_message.lines().next().unwrap_or("")
    );
    for it in &plan.items {
        out.push_str(&item_line(it));
    }
    if ui::verbose() {
        for c in &plan.files {
            let verb = if c.after.is_none() {
                "deleted"
            } else {
                "wrote"
            };
            out.push_str(&format!("  {verb} {}\n", c.path));
        }
    }
    if let Some(p) = push.filter(|p| p.pushed) {
        let retries = match p.attempts - 1 {
            0 => String::new(),
            1 => " (after 1 retry)".into(),
            n => format!(" (after {n} retries)"),
        };
        out.push_str(&format!("pushed{retries}\n"));
    }
    ui::result(out.trim_end());
    Ok(exit::OK)
}

/// `--output json`: the action, the previews, the files, the commit and the push.
fn report_json(
    plan: &Plan,
    commit: Option<&str>,
    dry_run: bool,
    push: Option<&Push>,
) -> Result<()> {
    let files: Vec<serde_json::Value> = plan
        .files
        .iter()
        .map(|c| {
            let change = match (&c.before, &c.after) {
                (None, _) => "add",
                (_, None) => "delete",
                _ => "modify",
            };
            json!({"path": c.path, "change": change})
        })
        .collect();
    let s = json!({
        "action": plan.action,
        "previews": plan.items,
        "files": files,
        "commit": commit,
        "dry_run": dry_run,
        "pushed": push.is_some_and(|p| p.pushed),
        "retries": push.map(|p| p.attempts - 1).unwrap_or(0),
    });
    ui::data(&(serde_json::to_string_pretty(&s)? + "\n"));
    Ok(())
}

/// A dry run: the commit's subject, the previews, and each file's diff (or its deletion).
fn dry_run_text(plan: &Plan) -> String {
    let mut out = format!(
        "{} (dry run): {}\n",
        plan.action,
        plan.commit_message.lines().next().unwrap_or("")
    );
    for it in &plan.items {
        out.push_str(&item_line(it));
    }
    out.push('\n');
    let color = ui::color_stdout();
    for c in &plan.files {
        if c.after.is_none() {
            out.push_str(&format!("delete {}\n", c.path));
        } else {
            out.push_str(&unified(
                &c.path,
                c.before.as_deref(),
                c.after.as_deref(),
                color,
            ));
        }
    }
    out
}

pub(super) fn item_line(it: &Item) -> String {
    let mut s = format!("  {}  branch `{}`  {}\n", it.namespace, it.branch, it.dir);
    if let Some(r) = &it.reason {
        s.push_str(&format!("    {r}\n"));
    }
    s
}

fn build(ctx: &Ctx, op: &Op) -> Result<Plan> {
    let config = &ctx.config;
    let previews = settings(config)?;
    let plan = match op {
        Op::Up {
            branch,
            version,
            message,
        } => plan_up(ctx, previews, branch, version, message.clone())?,
        Op::Down { branch, message } => plan_down(ctx, previews, branch, message.clone())?,
        Op::Gc {
            older_than,
            keep,
            message,
        } => plan_gc(ctx, previews, *older_than, keep.as_ref(), message.clone())?,
    };
    for c in &plan.files {
        ensure_inside(config, &previews.dir, &c.path)?;
    }
    Ok(plan)
}
