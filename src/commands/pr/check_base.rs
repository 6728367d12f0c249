//! `promote check --base REV`: what a pull request's change does to the environments, checked as CI
//! would before merging it.

use crate::error::{Failure, Outcome};
use crate::git::pr;
use crate::model::audit::{self, Record};
use crate::model::config::{Config, Environment};
use crate::model::metadata::Metadata;
use crate::model::version::Version;
use crate::plan::{self, ChangeRequest, Ctx};
use crate::ui;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// `promote check --base REV`: `promote check`, and whether the changes since REV (a pull
/// request's merge result against its base) are still valid promotions on it.
pub(crate) fn check_base(dir: &Path, base: &str) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let root = &ctx.config.root;
    let base_commit = pr::resolve(root, base)?;
    let config = &ctx.config;
    let mut problems: Vec<String> = Vec::new();
    let mut valid: Vec<String> = Vec::new();
    for env in &config.environments {
        let head_log = std::fs::read(config.abs(&env.deploy_log)).unwrap_or_default();
        let base_log = pr::file_at(root, &base_commit, &env.deploy_log).unwrap_or_default();
        if head_log == base_log {
            continue;
        }
        // The chain extends the base's: every byte the base has, then new records.
        if !head_log.starts_with(&base_log) {
            problems.push(format!(
                "`{}` does not extend `{base}`'s: records of the base were changed or dropped (a stale pull request merged by hand?)",
                env.deploy_log
            ));
            continue;
        }
        // The records after the base's (the chain is read from its start: each links to the last).
        let new: Vec<Record> = audit::records(&head_log)
            .into_iter()
            .skip(audit::records(&base_log).len())
            .collect();
        let meta = Metadata::load(config, env)?;
        let running = meta.versions();
        metadata_agrees(env, &new, &running, &mut problems);
        for r in &new {
            let id = &r.id[..12.min(r.id.len())];
            source_runs(config, env, r, id, &mut problems)?;
            gates_pass(&ctx, env, r, id, &mut problems)?;
            valid.push(format!("{} {} (record {id})", r.action, env.name));
        }
    }
    // The whole repository as `promote check` sees it.
    let whole = crate::commands::check::run(dir, ui::mode().json);
    if !problems.is_empty() {
        if let Err(e) = &whole {
            ui::report(e);
        }
        return Err(Failure::InvalidPromotions {
            base: base.to_string(),
            problems,
        }
        .into());
    }
    let code = whole?;
    if valid.is_empty() {
        ui::status(&format!("no environment changed since `{base}`"));
    } else {
        ui::result(&format!(
            "valid promotions on `{base}`: {}",
            valid.join(", ")
        ));
    }
    Ok(code)
}

/// The versions the new records leave, service by service (the last record wins), must be what
/// the metadata says.
fn metadata_agrees(
    env: &Environment,
    new: &[Record],
    running: &BTreeMap<String, Version>,
    problems: &mut Vec<String>,
) {
    // The versions the new records leave, service by service (the last record wins).
    let mut recorded: BTreeMap<String, Option<String>> = BTreeMap::new();
    for r in new {
        for c in &r.changes {
            recorded.insert(c.service.clone(), c.after.clone());
        }
    }
    for (svc, after) in &recorded {
        let now = running.get(svc).map(|v| v.to_string());
        if &now != after {
            problems.push(format!(
                "`{}`: the last record sets `{svc}` to {}, but the metadata says {}",
                env.deploy_log,
                after.as_deref().unwrap_or("(none)"),
                now.as_deref().unwrap_or("(none)")
            ));
        }
    }
}

/// A promotion must take what its source runs on the merge result.
fn source_runs(
    config: &Config,
    env: &Environment,
    r: &Record,
    id: &str,
    problems: &mut Vec<String>,
) -> Result<()> {
    if let (Some(from), "promote") = (&r.from, r.action.as_str()) {
        if let Ok(src) = config.env(from) {
            let src_versions = Metadata::load(config, src)?.versions();
            for c in &r.changes {
                let there = src_versions.get(&c.service).map(|v| v.to_string());
                if c.after.is_some() && there != c.after {
                    problems.push(format!(
                        "record {id} promotes `{}` {} into `{}`, but `{from}` runs {} now: the pull request is stale",
                        c.service,
                        c.after.as_deref().unwrap_or("(none)"),
                        env.name,
                        there.as_deref().unwrap_or("(none)")
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The gates must still let the record's change through (unless a person overrode them, on record).
fn gates_pass(
    ctx: &Ctx,
    env: &Environment,
    r: &Record,
    id: &str,
    problems: &mut Vec<String>,
) -> Result<()> {
    if matches!(r.action.as_str(), "promote" | "set-image") && r.gates_overridden.is_none() {
        let mut versions = BTreeMap::new();
        for c in &r.changes {
            if let Some(a) = &c.after {
                if let Ok(v) = crate::model::version::Version::parse(a) {
                    versions.insert(c.service.clone(), v);
                }
            }
        }
        let req = ChangeRequest {
            env: env.name.clone(),
            action: r.action.clone(),
            from: r.from.clone(),
            versions,
            ..Default::default()
        };
        let (refusals, _) = plan::gate_refusals(ctx, &req, true)?;
        for refusal in refusals {
            problems.push(format!("record {id} into `{}`: {refusal}", env.name));
        }
    }
    Ok(())
}
