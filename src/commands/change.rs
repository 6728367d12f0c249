//! `promote to`, `promote set-image` and `promote diff`: the commands that change (or would change)
//! an environment's versions.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::error::{exit, Failure, Outcome};
use crate::git::{self, Lock};
use crate::model::version::Version;
use crate::plan::{self, ChangeRequest, Ctx, Plan};
use crate::ui;
use crate::ui::diff::unified;

use super::pr::{self, Replay};

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

pub(super) fn set_image_request(
    ctx: &Ctx,
    env: &str,
    sha: Option<&str>,
    pairs: &[String],
    message: Option<String>,
) -> Result<ChangeRequest> {
    let config = &ctx.config;
    let env = config.env(env)?;
    let mut versions = BTreeMap::new();
    if sha.is_none() && pairs.is_empty() {
        return Err(Failure::NoVersionsGiven {
            env: env.name.clone(),
        }
        .into());
    }
    if let Some(sha) = sha {
        let v = Version::from_sha(sha).map_err(|e| Failure::ShaInvalid {
            sha: sha.to_string(),
            error: e.to_string(),
        })?;
        for s in &config.services {
            versions.insert(s.name.clone(), v.clone());
        }
    }
    let mut given: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in pairs {
        let Some((svc, value)) = pair.split_once('=') else {
            return Err(Failure::NotServiceVersion {
                pair: pair.to_string(),
            }
            .into());
        };
        if let Some(first) = given.insert(svc, pair) {
            return Err(Failure::ServiceGivenTwice {
                service: svc.to_string(),
                first: first.to_string(),
                second: pair.to_string(),
            }
            .into());
        }
        let service = config.service(svc)?;
        let v = parse_version(&service.image, value).map_err(|e| Failure::VersionInvalid {
            pair: pair.to_string(),
            error: e.to_string(),
        })?;
        versions.insert(svc.to_string(), v);
    }
    Ok(ChangeRequest {
        env: env.name.clone(),
        action: "set-image".into(),
        from: None,
        versions,
        message,
        ..Default::default()
    })
}

/// A version given on the command line: a git SHA, a `tag[@digest]`, or a full reference of the
/// service's own image.
fn parse_version(image: &str, value: &str) -> std::result::Result<Version, String> {
    if value.contains('/') {
        let r = crate::model::imageref::ImageRef::parse(value).map_err(|e| e.to_string())?;
        if !crate::model::imageref::same_repository(&r.name(), image) {
            return Err(format!(
                "the image is `{}`, but this service's image is `{image}`",
                r.name()
            ));
        }
        if r.tag.is_none() && r.digest.is_none() {
            return Err("the reference has no tag or digest".into());
        }
        return Ok(Version {
            tag: r.tag,
            digest: r.digest,
        });
    }
    Version::parse(value)
}

/// What applying a request did.
pub(super) enum Applied {
    /// The environment already runs the requested versions.
    NoOp(Plan),
    DryRun(Plan),
    Committed(Plan, String),
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
        pr::refuse_direct(&Ctx::open(dir)?, &replay)?;
    }
    let (applied, push) = with_push(dir, opts.push && !opts.dry_run, |ctx| {
        let req = replay.make(ctx)?;
        if !opts.dry_run {
            pr::refuse_direct(ctx, &replay)?;
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
fn apply_with(ctx: &Ctx, mut req: ChangeRequest, opts: &Opts) -> Result<Applied> {
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
        match override_gates {
            _ if dry_run => ui::warn(&format!(
                "`{}` would be refused by its gates:\n{}",
                req.env,
                list.join("\n")
            )),
            Some(reason) => {
                ui::warn(&format!(
                    "GATES OVERRIDDEN for `{}` ({reason}):\n{}",
                    req.env,
                    list.join("\n")
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
                return Err(Failure::GatesRefuse {
                    env: req.env.clone(),
                    refusals: list,
                }
                .into())
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
fn audit_guard(ctx: &Ctx, req: &mut ChangeRequest, opts: &Opts) -> Result<()> {
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
fn removal_guard(plan: &Plan, opts: &Opts) -> Result<()> {
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

/// The push part of a report.
pub(super) struct Push {
    pub(super) pushed: bool,
    pub(super) attempts: u32,
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
