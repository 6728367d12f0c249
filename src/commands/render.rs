//! `promote render [ENV...] [--check]`.

use std::path::Path;

use anyhow::Result;

use crate::apply::files::{self, Change};
use crate::cache::state::{self, RenderState};
use crate::error::{exit, Blocked, Failure, Outcome};
use crate::git::Lock;
use crate::model::config::Environment;
use crate::model::metadata::Metadata;
use crate::plan::{manifest_targets, problems_error, Ctx};
use crate::render::{render_sets, validate_files};
use crate::ui;

/// `check`: list what would change, exit 3 if anything would; `dry_run`: the same list, exit 0.
pub fn run(dir: &Path, envs: &[String], check: bool, dry_run: bool, json: bool) -> Outcome {
    let pending = if check { exit::PENDING } else { exit::OK };
    let check = check || dry_run;
    // STEP 1: the repository, its config, and the environments asked for.
    let ctx = Ctx::open(dir)?;
    let config = &ctx.config;
    let selected: Vec<_> = if envs.is_empty() {
        config.environments.iter().collect()
    } else {
        envs.iter().map(|e| config.env(e)).collect::<Result<_>>()?
    };
    let _lock = if check {
        None
    } else {
        Some(Lock::acquire(ctx.repo.git_dir(), crate::git::lock_wait())?)
    };

    // STEP 2: render in memory; only the files whose bytes change.
    let (changes, total) = render_all(&ctx, &selected)?;

    // STEP 3: what changes.
    if check && json {
        report_json(&changes, total, false)?;
        return Ok(if changes.is_empty() {
            exit::OK
        } else {
            pending
        });
    }
    if check {
        return Ok(report_check(&changes, total, pending));
    }

    // STEP 4: refuse to overwrite uncommitted edits.
    refuse_dirty(&ctx, &changes)?;

    // STEP 5: write.
    files::apply(&config.root, &changes)?;
    if json {
        report_json(&changes, total, true)?;
        return Ok(exit::OK);
    }
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{}d {}", c.action(), c.path))
        .collect();
    ui::result(&format!(
        "{}rendered {total} files: {} changed, {} unchanged",
        ui::clip(&lines, 10, ""),
        changes.len(),
        total.saturating_sub(changes.len())
    ));
    Ok(exit::OK)
}

/// STEP 2: render everything in memory, collecting every problem of every environment, and
/// keep only the files whose bytes change. Only those are validated: the others are what was
/// validated when they were written (`promote check` validates every file).
/// An environment whose files are all as a render found them last time (`state`) is skipped.
/// Returns the changes and the number of files rendered.
fn render_all(ctx: &Ctx, selected: &[&Environment]) -> Result<(Vec<Change>, usize)> {
    ui::trace("opened and locked");
    let config = &ctx.config;
    let mut state = RenderState::load(ctx.repo.git_dir());
    ui::trace("state loaded");
    let mut clean = Vec::new();
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    let mut total = 0;
    let mut progress = ui::progress("render", selected.len());
    for env in selected {
        progress.step(&format!("rendering `{}`", env.name));
        let versions = Metadata::load(config, env)?.versions();
        ui::trace("metadata");
        let key = state::key(config, env, &versions);
        ui::trace("key");
        if let Some(files) = state.clean(config, env, &key) {
            ui::trace(&format!("{}: as rendered last time", env.name));
            total += files;
            continue;
        }
        let snapshot = state::snapshot(&state, config, env, ctx.repo.git_dir());
        let r = render_sets(config, env, &[&versions])?
            .pop()
            .unwrap_or_default();
        let env_problems = r.problems.len();
        problems.extend(r.problems.into_iter().map(|p| (env.name.clone(), p)));
        total += r.files.len();
        let files = r.files.len();
        let targets = manifest_targets(config, env, r.files.clone())?;
        let paths: Vec<&String> = targets.keys().collect();
        let current = files::read_current(&config.root, &paths)?;
        problems.extend(
            validate_files(&r.files, |f| {
                current.get(&f.path).and_then(|b| b.as_deref()) == Some(f.bytes.as_slice())
            })
            .into_iter()
            .map(|p| (env.name.clone(), p)),
        );
        let env_changes = files::plan_against(&current, targets);
        if env_changes.is_empty() && env_problems == 0 {
            clean.push((*env, key, files, snapshot));
        } else {
            state.forget(env);
        }
        changes.extend(env_changes);
        ui::trace(&format!("{}: rendered", env.name));
    }
    drop(progress);
    for (env, key, files, snapshot) in clean {
        state.record(env, &key, files, snapshot);
    }
    state.save();
    if !problems.is_empty() {
        return Err(problems_error(
            Blocked::RenderFiles,
            &crate::render::problems::group(problems),
        ));
    }
    Ok((changes, total))
}

/// STEP 3: what changes, as JSON.
fn report_json(changes: &[Change], total: usize, written: bool) -> Result<()> {
    let changed: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| serde_json::json!({"path": c.path, "change": c.kind()}))
        .collect();
    let doc = serde_json::json!({"files": total, "changed": changed, "written": written});
    ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
    Ok(())
}

/// STEP 3: what changes, as the list `--check` and `--dry-run` print; the exit code.
fn report_check(changes: &[Change], total: usize, pending: i32) -> i32 {
    if changes.is_empty() {
        ui::result(&format!("all {total} rendered files are up to date"));
        return exit::OK;
    }
    let mut out = String::new();
    for c in changes {
        out.push_str(&format!("{}\n", c.path));
    }
    ui::data(&out);
    ui::status(&format!(
        "{} of {total} files would change; run `promote render` to update them",
        changes.len()
    ));
    pending
}

/// STEP 4: refuse to overwrite uncommitted edits.
fn refuse_dirty(ctx: &Ctx, changes: &[Change]) -> Result<()> {
    let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    if !paths.is_empty() {
        crate::commands::preflight::has_commits(
            ctx,
            "promote overwrites only files whose content git holds",
        )?;
        let dirty = ctx.repo.dirty(&paths)?;
        if !dirty.is_empty() {
            return Err(Failure::RenderDirty { dirty }.into());
        }
    }
    Ok(())
}
