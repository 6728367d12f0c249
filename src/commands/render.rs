//! `promote render [ENV...] [--check]`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::error::{exit, Outcome, UserError};
use crate::git::Lock;
use crate::metadata::Metadata;
use crate::plan::{manifest_targets, problems_error, Ctx};
use crate::render::{render_sets, validate_files};
use crate::ui;
use crate::write::{self, Target};

pub fn run(dir: &Path, envs: &[String], check: bool) -> Outcome {
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
        Some(Lock::acquire(&config.root, crate::git::lock_wait())?)
    };

    // STEP 2: render everything in memory, collecting every problem of every environment.
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    let mut rendered = Vec::new();
    let mut problems = Vec::new();
    for env in &selected {
        let versions = Metadata::load(config, env)?.versions();
        let r = render_sets(config, env, &[&versions])?
            .pop()
            .unwrap_or_default();
        problems.extend(r.problems);
        targets.extend(manifest_targets(config, env, r.files.clone())?);
        rendered.extend(r.files);
    }
    // Only the files whose bytes change are validated: the others are what was validated when they
    // were written (`promote check` validates every file).
    let paths: Vec<&String> = targets.keys().collect();
    let current = write::read_current(&config.root, &paths)?;
    if problems.is_empty() {
        problems = validate_files(&rendered, |f| {
            current.get(&f.path).and_then(|b| b.as_deref()) == Some(f.bytes.as_slice())
        });
    }
    drop(rendered);
    if !problems.is_empty() {
        return Err(problems_error(
            "nothing was written; cannot render:",
            &problems,
        ));
    }
    let total = targets
        .values()
        .filter(|t| matches!(t, Target::Write(_)))
        .count();

    // STEP 3: only the files whose bytes change.
    let changes = write::plan_against(&current, targets);
    if check {
        if changes.is_empty() {
            ui::status(&format!("all {total} rendered files are up to date"));
            return Ok(exit::OK);
        }
        let mut out = String::new();
        for c in &changes {
            out.push_str(&format!("{}\n", c.path));
        }
        ui::data(&out);
        ui::status(&format!(
            "{} of {total} files would change; run `promote render` to update them",
            changes.len()
        ));
        return Ok(exit::PENDING);
    }

    // STEP 4: refuse to overwrite uncommitted edits.
    let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    if !paths.is_empty() {
        let dirty = ctx.repo.dirty(&paths)?;
        if !dirty.is_empty() {
            return Err(UserError::new(format!(
                "these files have uncommitted changes that rendering would overwrite:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit them, or discard them with `git checkout -- <file>`, then render again")
            .into());
        }
    }

    // STEP 5: write.
    write::apply(&config.root, &changes)?;
    for c in &changes {
        let verb = match (&c.before, &c.after) {
            (None, _) => "created",
            (_, None) => "deleted",
            _ => "updated",
        };
        ui::status(&format!("{verb} {}", c.path));
    }
    ui::status(&format!(
        "rendered {total} files: {} changed, {} unchanged",
        changes.len(),
        total.saturating_sub(changes.len())
    ));
    Ok(exit::OK)
}
