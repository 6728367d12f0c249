//! The steps of applying one environment change, all or nothing: the dirty check, the audit and
//! gate guards, the plan, the write and the commit; and how an applied change is told (`summary`,
//! `version_line`), shared by the direct path (`change.rs`) and the pull-request path (`pr.rs`).

use crate::error::Failure;
use crate::git;
use crate::model::version::Version;
use crate::plan::{self, ChangeRequest, Ctx, Plan};
use crate::ui;
use anyhow::Result;
use serde_json::json;

use crate::cli::ChangeOpts as Opts;

/// What applying a request did.
pub(super) enum Applied {
    /// The environment already runs the requested versions.
    NoOp(Plan),
    DryRun(Plan),
    Committed(Plan, String),
}

/// Plans, then (unless a dry run) writes and commits. All-or-nothing.
pub(super) fn apply(
    ctx: &Ctx,
    req: ChangeRequest,
    dry_run: bool,
    override_gates: Option<&str>,
) -> Result<Applied> {
    let opts = Opts {
        dry_run,
        override_gates: override_gates.map(str::to_string),
        ..Default::default()
    };
    apply_with(ctx, req, &opts)
}

/// [`apply`], with every option of the command (`--repair-audit`, `--allow-remove`).
pub(super) fn apply_with(ctx: &Ctx, mut req: ChangeRequest, opts: &Opts) -> Result<Applied> {
    let dry_run = opts.dry_run;
    let override_gates = opts.override_gates.as_deref();
    let config = &ctx.config;
    let env = config.env(&req.env)?.clone();

    // STEP 1: refuse to run over uncommitted changes in the environment's directories. The
    // source environment's metadata too: a promotion takes what is committed there. A request
    // that changes nothing (the environment already runs these versions) reads only the metadata.
    let mut listing = None;
    if !dry_run {
        let mut paths = vec![env.metadata.clone()];
        if let Some(from) = &req.from {
            paths.push(config.env(from)?.metadata.clone());
        }
        let changes = plan::changes_anything(ctx, &req)?;
        crate::ui::trace("request read");
        if changes {
            paths.push(env.dir.clone());
            paths.push(env.manifests.clone());
            git::prefetch_idents(&config.root);
        }
        crate::ui::trace("dirty check");
        let (dirty, listed) = ctx.repo.dirty_listing(&paths)?;
        listing = Some(listed);
        crate::ui::trace("dirty check done");
        if !dirty.is_empty() {
            return Err(Failure::EnvDirty {
                env: env.name.clone(),
                dirty,
            }
            .into());
        }
    }

    // STEP 1b: the audit trail this change extends must verify (the chain, what HEAD holds, the
    // metadata that names its last record), and a promotion's source must run what its metadata
    // says: no change builds on a trail someone rewrote.
    audit_guard(ctx, &mut req, opts)?;

    // STEP 2: the gates into the environment (a dry run only reports them, without the command gate).
    let (refusals, output) = plan::gate_refusals(ctx, &req, !dry_run)?;
    let gate_ran = output.is_some();
    if let Some(out) = output.filter(|o| !o.trim().is_empty()) {
        ui::status(&format!(
            "command gate of `{}`:\n{}",
            env.name,
            out.trim_end()
        ));
    }
    if !refusals.is_empty() {
        let list: Vec<String> = refusals.iter().map(|r| format!("  {r}")).collect();
        let (name, said) = (&req.env, list.join("\n"));
        match override_gates {
            _ if dry_run => ui::warn(&format!("`{name}` would be refused by its gates:\n{said}")),
            Some(reason) => {
                ui::warn(&format!(
                    "GATES OVERRIDDEN for `{name}` ({reason}):\n{said}"
                ));
                let names: Vec<String> = refusals
                    .iter()
                    .map(|r| match &r.service {
                        Some(s) => format!("{} ({s})", r.gate),
                        None => r.gate.clone(),
                    })
                    .collect();
                req.gates_overridden = Some(format!("{reason} [overrode: {}]", names.join(", ")));
            }
            None => {
                let (env, refusals) = (name.clone(), list);
                return Err(Failure::GatesRefuse { env, refusals }.into());
            }
        }
    }

    // STEP 3: plan: render in memory, new metadata, the audit record, the commit message.
    // After the dirty check (and unless a command gate ran since, which could have changed
    // files), git's index vouches for the manifests.
    let plan = match listing {
        Some(listing) if !gate_ran => plan::build_checked(ctx, req, &listing)?,
        _ => plan::build(ctx, req)?,
    };
    if plan.is_empty() {
        return Ok(Applied::NoOp(plan));
    }
    removal_guard(&plan, opts)?;
    if dry_run {
        return Ok(Applied::DryRun(plan));
    }

    // STEP 4: write the files, then commit exactly those files.
    let commit = crate::apply::write_and_commit(
        &ctx.repo,
        &ctx.config.root,
        &plan.files,
        &plan.commit_message,
    )?;
    Ok(Applied::Committed(plan, commit))
}

/// Refuses (unless `--repair-audit -m REASON`) a change whose environment's audit trail, or whose
/// source's metadata, does not verify; a dry run only warns. A repair is recorded in the record.
pub(super) fn audit_guard(ctx: &Ctx, req: &mut ChangeRequest, opts: &Opts) -> Result<()> {
    let config = &ctx.config;
    let env = config.env(&req.env)?;
    let mut problems = crate::plan::anchor::problems(config, &ctx.repo, env)?;
    if let Some(from) = &req.from {
        problems.extend(crate::plan::anchor::problems(
            config,
            &ctx.repo,
            config.env(from)?,
        )?);
    }
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    match &opts.repair_audit {
        _ if opts.dry_run => {
            ui::warn(&format!(
                "`{}` would be refused: its audit trail does not verify:\n{}",
                req.env,
                list.join("\n")
            ));
            Ok(())
        }
        Some(reason) => {
            ui::warn(&format!(
                "AUDIT TRAIL REPAIR for `{}` ({}): building on a trail that does not verify:\n{}",
                req.env,
                crate::ui::escape::escape_line(reason),
                list.join("\n")
            ));
            req.audit_repaired = Some(format!("{reason} [{}]", problems.join("; ")));
            Ok(())
        }
        None => Err(Failure::AuditDoesNotVerify {
            env: req.env.clone(),
            problems: list,
            deploy_log: env.deploy_log.clone(),
        }
        .into()),
    }
}

/// Refuses a rollback that would remove services from the environment unless `--allow-remove`
/// asked for it; then lists every manifest it deletes.
pub(super) fn removal_guard(plan: &Plan, opts: &Opts) -> Result<()> {
    let removed: Vec<&str> = plan
        .versions
        .iter()
        .filter(|c| c.after.is_none())
        .map(|c| c.service.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    let deleted: Vec<String> = plan
        .files
        .iter()
        .filter(|c| c.after.is_none())
        .map(|c| format!("  {}", c.path))
        .collect();
    let what = format!(
        "removes {} from `{}` (it did not run {} then), deleting {} manifest(s):\n{}",
        removed
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        plan.request.env,
        if removed.len() == 1 { "it" } else { "them" },
        deleted.len(),
        deleted.join("\n")
    );
    if opts.allow_remove {
        ui::warn(&format!("this {} {what}", plan.request.action));
        return Ok(());
    }
    if opts.dry_run {
        ui::warn(&format!(
            "this {} {what}\n(refused without `--allow-remove`)",
            plan.request.action
        ));
        return Ok(());
    }
    Err(Failure::RemovesServices {
        action: plan.request.action.clone(),
        what,
        env: plan.request.env.clone(),
    }
    .into())
}

pub(super) fn version_line(c: &plan::VersionChange) -> String {
    let v = |x: &Option<Version>| {
        x.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(none)".into())
    };
    format!("{}: {} -> {}", c.service, v(&c.before), v(&c.after))
}

pub(super) fn summary(plan: &Plan, commit: Option<&str>, dry_run: bool) -> serde_json::Value {
    json!({
        "env": plan.request.env,
        "action": plan.request.action,
        "from": plan.request.from,
        "changes": plan.versions,
        "files": plan.paths(),
        "record": plan.record.as_ref().map(|r| r.id.clone()),
        "commit": commit,
        "dry_run": dry_run,
        "pushed": false,
    })
}
