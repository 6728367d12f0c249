//! Making the pull request's branch: the change planned in a temporary worktree on the upstream head,
//! and whether an existing branch still holds it (on a base it is valid on) or is rebuilt.

use super::body::body;
use super::link::{gitlab_push_options, installed, link, Hosting, Link, Request};
use crate::commands::apply_change::{self, Applied};
use crate::commands::request::Replay;
use crate::error::Failure;
use crate::git;
use crate::git::pr::{self, BranchPush, Worktree};
use crate::model::audit::{self, Record};
use crate::model::config::Config;
use crate::model::hosting::Kind;
use crate::plan::{Ctx, Plan};
use crate::ui;
use anyhow::{Context, Result};
use std::path::Path;

/// The trailer that records the request in a pull request's commit, so `promote pr refresh` can
/// make it again on a new base.
pub(super) const REQUEST_TRAILER: &str = "Promote-Request: ";

/// What `open` did with a request.
pub(super) struct Opened {
    pub(super) branch: String,
    pub(super) base: String,
    /// The upstream head the change was planned on.
    pub(super) upstream: String,
    pub(super) state: State,
    /// The plan (`None` only when the request is in effect upstream).
    pub(super) plan: Plan,
    /// The pull request's commit (new or, when unchanged, the one already pushed).
    pub(super) commit: Option<String>,
    /// Why an existing branch was rebuilt.
    pub(super) why: Option<String>,
    pub(super) pr: Option<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum State {
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
    pub(super) fn word(self) -> &'static str {
        match self {
            State::InEffect => "in-effect",
            State::Created => "created",
            State::Updated => "updated",
            State::Unchanged => "unchanged",
        }
    }
}

/// Makes (or brings up to date) the pull request for `replay`.
pub(super) fn open(ctx: &Ctx, replay: &Replay, override_gates: Option<&str>) -> Result<Opened> {
    let root = &ctx.config.root;

    // STEP 1: the upstream head, and promote's branch for this request if it exists.
    let Base {
        up,
        base,
        upstream,
        branch,
        existing,
    } = base(ctx, replay)?;

    // STEP 2: plan and commit on the upstream head, in a worktree of our own.
    let (wt, wctx, applied) = commit_in_worktree(ctx, replay, &upstream, override_gates)?;
    let (plan, commit) = match applied {
        Applied::NoOp(plan) => {
            return Ok(Opened {
                branch,
                base,
                upstream,
                state: State::InEffect,
                plan,
                commit: None,
                why: None,
                pr: None,
            })
        }
        Applied::Committed(plan, commit) => (plan, commit),
        Applied::DryRun(_) => unreachable!("not a dry run"),
    };

    // STEP 3: an existing branch that still holds this change, on a base where it is still
    // valid, is left as it is (no force-push, no new CI run, approvals kept).
    ui::trace("pr: committed");
    let title = plan.commit_message.lines().next().unwrap_or("").to_string();
    let mut why = None;
    if let Some(old) = &existing {
        match staleness(&wctx, root, old, &upstream, &plan)? {
            None => {
                drop(wt);
                let target = Base {
                    up,
                    base,
                    upstream,
                    branch,
                    existing: Some(old.clone()),
                };
                return unchanged(ctx, &wctx, target, plan, old, &title);
            }
            Some(reason) => why = Some(reason),
        }
    }

    // STEP 4: push the branch (only if it is still what we read), then open or update the PR.
    ui::trace("pr: compared with the branch");
    let body = body(&wctx.config, &plan, &base, &upstream, &commit);
    ui::trace("pr: described");
    let options = push_options(ctx, &up, &base, &title, &plan, existing.is_some());
    drop(wt);
    ui::trace("pr: worktree removed");
    let said = push(
        root,
        &up,
        &commit,
        &branch,
        existing.as_deref(),
        &options,
        replay,
    )?;
    let request = Request {
        base: &base,
        branch: &branch,
        title: &title,
        body: &body,
    };
    let pr = link(
        ctx,
        &up.remote,
        &request,
        Some(&said),
        !options.is_empty(),
        true,
    )?;
    Ok(Opened {
        branch,
        base,
        upstream,
        state: if existing.is_some() {
            State::Updated
        } else {
            State::Created
        },
        plan,
        commit: Some(commit),
        why,
        pr: Some(pr),
    })
}

/// STEP 2 of `open`: plan and commit on the upstream head, in a worktree of our own (removed
/// when the worktree is dropped), the request recorded in the commit.
fn commit_in_worktree(
    ctx: &Ctx,
    replay: &Replay,
    upstream: &str,
    override_gates: Option<&str>,
) -> Result<(Worktree, Ctx, Applied)> {
    let root = &ctx.config.root;
    let common = ctx.repo.common_dir().to_path_buf();
    let (skip, keep) = unread(root, upstream, replay);
    let wt = Worktree::add(root, &common, upstream, &skip, &keep)?;
    let wctx = Ctx::open(&wt.path)?;
    let mut req = replay.make(&wctx)?;
    req.trailers.push(format!(
        "{REQUEST_TRAILER}{}",
        serde_json::to_string(replay).context("cannot record the request")?
    ));
    let applied = apply_change::apply(&wctx, req, false, override_gates)?;
    Ok((wt, wctx, applied))
}

/// GitLab's push options, where glab is not installed to open the merge request.
fn push_options(
    ctx: &Ctx,
    up: &git::Upstream,
    base: &str,
    title: &str,
    plan: &Plan,
    existing: bool,
) -> Vec<String> {
    let hosting = Hosting::resolve(ctx, &up.remote);
    match (&hosting, existing) {
        (Some(h), _) if h.kind == Kind::Gitlab && !installed("glab") => {
            gitlab_push_options(base, title, plan)
        }
        _ => Vec::new(),
    }
}

/// Where the pull request goes: the upstream, its branch (`base`) and head (`upstream`), and
/// promote's branch for the request (`branch`) with its commit if it exists on the remote.
struct Base {
    up: git::Upstream,
    base: String,
    upstream: String,
    branch: String,
    existing: Option<String>,
}

/// STEP 1 of `open`: the upstream head, and promote's branch for this request if it exists.
fn base(ctx: &Ctx, replay: &Replay) -> Result<Base> {
    let root = &ctx.config.root;
    let up = git::upstream(root).map_err(|_| Failure::PrNoUpstream)?;
    let base = up.merge.trim_start_matches("refs/heads/").to_string();
    let upstream = git::fetch(root, &up)?;
    let branch = replay.branch(&ctx.config);
    let existing = match pr::remote_branch(root, &up.remote, &branch)? {
        Some(_) => Some(pr::fetch_branch(root, &up.remote, &branch)?),
        None => None,
    };
    Ok(Base {
        up,
        base,
        upstream,
        branch,
        existing,
    })
}

/// An existing branch (its commit `old`) that still holds the change is left as it is, and its pull
/// request linked.
fn unchanged(
    ctx: &Ctx,
    wctx: &Ctx,
    target: Base,
    plan: Plan,
    old: &str,
    title: &str,
) -> Result<Opened> {
    let root = &ctx.config.root;
    let Base {
        up,
        base,
        upstream,
        branch,
        ..
    } = target;
    // The branch keeps its own commit: describe that one (its record, its base).
    let mut kept = plan;
    kept.record = pr::file_at(root, old, &wctx.config.env(&kept.request.env)?.deploy_log)
        .and_then(|log| audit::records(&log).pop());
    let old_base = pr::parent(root, old)?;
    let body = body(&wctx.config, &kept, &base, &old_base, old);
    let plan = kept;
    let request = Request {
        base: &base,
        branch: &branch,
        title,
        body: &body,
    };
    let pr = link(ctx, &up.remote, &request, None, false, false)?;
    Ok(Opened {
        branch,
        base,
        upstream,
        state: State::Unchanged,
        plan,
        commit: Some(old.to_string()),
        why: None,
        pr: Some(pr),
    })
}

/// Pushes the branch, only if it is still what was read; what the remote said.
fn push(
    root: &Path,
    up: &git::Upstream,
    commit: &str,
    branch: &str,
    existing: Option<&str>,
    options: &[String],
    replay: &Replay,
) -> Result<String> {
    let said = match pr::push_branch(root, &up.remote, commit, branch, existing, options)? {
        BranchPush::Ok(said) => said,
        BranchPush::Moved(_) => {
            return Err(Failure::PrBranchMoved {
                branch: branch.to_string(),
                remote: up.remote.clone(),
                command: replay.command_line(),
            }
            .into())
        }
    };
    Ok(said)
}

/// What a request does not read, at commit `upstream`: the directories of the environments other
/// than its own and its source's, the source's own (but its metadata and deploy.log), and the
/// previews'. The worktree leaves them out: at 1,000 services that is two thirds of the files to
/// write. Nothing is left out where the config does not parse (the plan then says why) or where a
/// directory holds something the request reads.
pub(super) fn unread(root: &Path, upstream: &str, replay: &Replay) -> (Vec<String>, Vec<String>) {
    let config = pr::file_at(root, upstream, crate::model::config::CONFIG_FILE)
        .and_then(|text| String::from_utf8(text).ok())
        .and_then(|text| Config::parse(root, &text).ok());
    let Some(config) = config else {
        return (Vec::new(), Vec::new());
    };
    let Ok(target) = config.env(replay.env()) else {
        return (Vec::new(), Vec::new());
    };
    let source = match replay {
        Replay::To { from, .. } => from
            .clone()
            .or_else(|| target.from.clone())
            .and_then(|f| config.env(&f).ok()),
        _ => None,
    };
    let mut keep = Vec::new();
    let mut read = vec![target.dir.clone(), config.templates.clone()];
    if let Some(s) = source {
        keep.push(s.metadata.clone());
        keep.push(s.deploy_log.clone());
    }
    // A directory is left out only if nothing read is at or above it and it is not above anything read.
    let overlaps = |a: &str, b: &str| {
        a == b
            || a == "."
            || b == "."
            || a.starts_with(&format!("{b}/"))
            || b.starts_with(&format!("{a}/"))
    };
    read.retain(|r| !r.is_empty());
    let mut skip: Vec<String> = config
        .environments
        .iter()
        .filter(|e| e.name != target.name)
        .map(|e| e.dir.clone())
        .chain(config.previews.iter().map(|p| p.dir.clone()))
        .filter(|d| !read.iter().any(|r| overlaps(d, r)))
        .filter(|d| !overlaps(d, crate::model::config::CONFIG_FILE))
        .collect();
    skip.sort();
    skip.dedup();
    (skip, keep)
}

/// Why the pull request at `old` no longer is this request's change on the base's head `upstream`
/// (`None`: it still is). It is stale when something the change reads (the config, the templates,
/// the environment, the source's metadata) changed on the base since the branch was made, or when
/// the request now asks for other versions.
pub(super) fn staleness(
    wctx: &Ctx,
    root: &Path,
    old: &str,
    upstream: &str,
    plan: &Plan,
) -> Result<Option<String>> {
    let config = &wctx.config;
    let env = config.env(&plan.request.env)?;
    let old_base = pr::parent(root, old)?;
    if old_base != upstream {
        let mut paths = vec![
            crate::model::config::CONFIG_FILE.to_string(),
            config.templates.clone(),
            env.dir.clone(),
            env.manifests.clone(),
            env.metadata.clone(),
        ];
        if let Some(from) = &plan.request.from {
            paths.push(config.env(from)?.metadata.clone());
        }
        let changed = pr::changed(root, &old_base, upstream, &paths)?;
        if let Some(first) = changed.first() {
            let more = match changed.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Ok(Some(format!(
                "it was stale: `{first}`{more} changed on the base since it was made"
            )));
        }
    }
    let old_record =
        pr::file_at(root, old, &env.deploy_log).and_then(|log| audit::records(&log).pop());
    let same = match (&old_record, &plan.record) {
        (Some(a), Some(b)) => same_change(a, b),
        _ => false,
    };
    Ok((!same).then(|| "the request now makes another change".to_string()))
}

/// Two records of the same change, whoever made it and whenever.
pub(super) fn same_change(a: &Record, b: &Record) -> bool {
    a.env == b.env
        && a.action == b.action
        && a.from == b.from
        && a.changes == b.changes
        && a.message == b.message
        && a.target == b.target
        && a.gates_overridden == b.gates_overridden
}
