//! Promotion by pull request: `--pr` on the commands that change an environment, `promote pr
//! refresh`, and `promote check --base`.
//!
//! The change is planned on the upstream head exactly as `--push` plans it, but in a temporary
//! worktree (`.git/promote/pr-worktree`), so the user's branch, index and files are never touched.
//! It is committed there (metadata and deploy.log in the same commit: merging is the promotion) and
//! pushed to promote's own branch `promote/<env>/<request>`, the only ref promote ever force-pushes,
//! with a lease. The pull request is then opened or updated with the hosting's CLI (`gh`, `glab`),
//! with GitLab's push options, or by printing the address that opens it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::PrMode;
use crate::error::{exit, Failure, Outcome, UserError};
use crate::git::pr::{self, BranchPush, Worktree};
use crate::git::{self, Lock};
use crate::model::audit::{self, Record};
use crate::model::config::{Approval, Config};
use crate::model::hosting::{self, Kind};
use crate::model::metadata::Metadata;
use crate::plan::{self, ChangeRequest, Ctx, Plan};
use crate::ui;

use super::change::{self, Applied, Opts};

/// The trailer that records the request in a pull request's commit, so `promote pr refresh` can
/// make it again on a new base.
const REQUEST_TRAILER: &str = "Promote-Request: ";

/// A request as the user made it (not its result): what `--pr` replays on the upstream head, and
/// what `pr refresh` replays on a new base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Replay {
    To {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        only: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    SetImage {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pairs: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Rollback {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Hold {
        env: String,
        reason: String,
    },
    Unhold {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl Replay {
    pub fn env(&self) -> &str {
        match self {
            Replay::To { env, .. }
            | Replay::SetImage { env, .. }
            | Replay::Rollback { env, .. }
            | Replay::Hold { env, .. }
            | Replay::Unhold { env, .. } => env,
        }
    }

    /// The request, made from the repository `ctx` opens.
    pub fn make(&self, ctx: &Ctx) -> Result<ChangeRequest> {
        match self {
            Replay::To {
                env,
                from,
                only,
                message,
            } => plan::promotion(ctx, env, from.as_deref(), only, message.clone()),
            Replay::SetImage {
                env,
                sha,
                pairs,
                message,
            } => change::set_image_request(ctx, env, sha.as_deref(), pairs, message.clone()),
            Replay::Rollback { env, to, message } => {
                plan::rollback(ctx, env, to.as_deref(), message.clone())
            }
            Replay::Hold { env, reason } => plan::hold(ctx, env, Some(reason.clone()), None),
            Replay::Unhold { env, message } => plan::hold(ctx, env, None, message.clone()),
        }
    }

    /// The command that makes this request by pull request, for hints.
    pub fn command_line(&self) -> String {
        match self {
            Replay::To { env, only, .. } if only.is_empty() => format!("promote to {env} --pr"),
            Replay::To { env, only, .. } => {
                format!("promote to {env} --only {} --pr", only.join(","))
            }
            Replay::SetImage {
                env, sha, pairs, ..
            } => {
                let mut s = format!("promote set-image {env}");
                if let Some(sha) = sha {
                    s.push_str(&format!(" --sha {sha}"));
                }
                for p in pairs {
                    s.push_str(&format!(" {p}"));
                }
                s + " --pr"
            }
            Replay::Rollback { env, to: None, .. } => format!("promote rollback {env} --pr"),
            Replay::Rollback {
                env, to: Some(t), ..
            } => {
                format!("promote rollback {env} --to {t} --pr")
            }
            Replay::Hold { env, .. } => format!("promote hold {env} --reason \"...\" --pr"),
            Replay::Unhold { env, .. } => format!("promote unhold {env} --pr"),
        }
    }

    /// promote's branch for this request: `promote/<env>/<what was asked>`. The same request gives
    /// the same branch (so running it again updates its pull request); the part after the
    /// environment is readable where it can be, else a hash of the request.
    pub fn branch(&self, config: &Config) -> String {
        let env = self.env();
        let id = match self {
            Replay::To { from, only, .. } => {
                let source = from
                    .clone()
                    .or_else(|| config.env(env).ok().and_then(|e| e.from.clone()));
                let mut id = format!("from-{}", source.unwrap_or_default());
                if !only.is_empty() {
                    let mut only = only.clone();
                    only.sort();
                    only.dedup();
                    id.push_str(&format!("-only-{}", only.join("-")));
                }
                id
            }
            Replay::SetImage { sha, pairs, .. } => {
                let mut parts: Vec<String> = sha.iter().cloned().collect();
                let mut pairs = pairs.clone();
                pairs.sort();
                parts.extend(pairs.iter().map(|p| p.replacen('=', "-", 1)));
                format!("set-image-{}", parts.join("-"))
            }
            Replay::Rollback { to: None, .. } => "rollback".into(),
            Replay::Rollback { to: Some(t), .. } => format!("rollback-to-{t}"),
            Replay::Hold { .. } => "hold".into(),
            Replay::Unhold { .. } => "unhold".into(),
        };
        format!("promote/{env}/{}", ref_safe(&id))
    }
}

/// `id` if it is a short, plain ref name component; otherwise its readable start and a hash.
fn ref_safe(id: &str) -> String {
    let plain = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '_')
        && !id.contains("..")
        && !id.ends_with('.')
        && !id.ends_with(".lock");
    if plain && id.len() <= 60 {
        return id.to_string();
    }
    let hash = &audit::sha256_hex(id.as_bytes())[..12];
    let head: String = id
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')
        .take(40)
        .collect::<String>()
        .replace("..", "-");
    format!("{}-{hash}", head.trim_end_matches(['-', '.']))
}

/// Refuses a direct commit into an environment with `approval: pr` (the hosting's branch
/// protection is what enforces it; this saves a rejected push and says what to run instead).
pub(super) fn refuse_direct(ctx: &Ctx, replay: &Replay) -> Result<()> {
    let env = ctx.config.env(replay.env())?;
    if env.approval != Approval::Pr {
        return Ok(());
    }
    Err(Failure::PrRequired {
        env: env.name.clone(),
        command: replay.command_line(),
    }
    .into())
}

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

/// Makes (or brings up to date) the pull request for `replay`.
fn open(ctx: &Ctx, replay: &Replay, override_gates: Option<&str>) -> Result<Opened> {
    let root = &ctx.config.root;

    // STEP 1: the upstream head, and promote's branch for this request if it exists.
    let up = git::upstream(root).map_err(|_| Failure::PrNoUpstream)?;
    let base = up.merge.trim_start_matches("refs/heads/").to_string();
    let upstream = git::fetch(root, &up)?;
    let branch = replay.branch(&ctx.config);
    let existing = match pr::remote_branch(root, &up.remote, &branch)? {
        Some(_) => Some(pr::fetch_branch(root, &up.remote, &branch)?),
        None => None,
    };

    // STEP 2: plan and commit on the upstream head, in a worktree of our own.
    let common = ctx.repo.common_dir().to_path_buf();
    let (skip, keep) = unread(root, &upstream, replay);
    let wt = Worktree::add(root, &common, &upstream, &skip, &keep)?;
    let wctx = Ctx::open(&wt.path)?;
    let mut req = replay.make(&wctx)?;
    req.trailers.push(format!(
        "{REQUEST_TRAILER}{}",
        serde_json::to_string(replay).context("cannot record the request")?
    ));
    let applied = change::apply(&wctx, req, false, override_gates)?;
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
                // The branch keeps its own commit: describe that one (its record, its base).
                let mut kept = plan;
                kept.record =
                    pr::file_at(root, old, &wctx.config.env(&kept.request.env)?.deploy_log)
                        .and_then(|log| audit::records(&log).pop());
                let old_base = pr::parent(root, old)?;
                let body = body(&wctx.config, &kept, &base, &old_base, old);
                let plan = kept;
                let pr = link(
                    ctx, &up.remote, &base, &branch, &title, &body, None, false, false,
                )?;
                return Ok(Opened {
                    branch,
                    base,
                    upstream,
                    state: State::Unchanged,
                    plan,
                    commit: Some(old.clone()),
                    why: None,
                    pr: Some(pr),
                });
            }
            Some(reason) => why = Some(reason),
        }
    }

    // STEP 4: push the branch (only if it is still what we read), then open or update the PR.
    ui::trace("pr: compared with the branch");
    let body = body(&wctx.config, &plan, &base, &upstream, &commit);
    ui::trace("pr: described");
    let hosting = Hosting::resolve(ctx, &up.remote);
    let options = match (&hosting, existing.is_some()) {
        (Some(h), _) if h.kind == Kind::Gitlab && !installed("glab") => {
            gitlab_push_options(&base, &title, &plan)
        }
        _ => Vec::new(),
    };
    drop(wt);
    ui::trace("pr: worktree removed");
    let said = match pr::push_branch(
        root,
        &up.remote,
        &commit,
        &branch,
        existing.as_deref(),
        &options,
    )? {
        BranchPush::Ok(said) => said,
        BranchPush::Moved(_) => {
            return Err(Failure::PrBranchMoved {
                branch: branch.clone(),
                remote: up.remote.clone(),
                command: replay.command_line(),
            }
            .into())
        }
    };
    let pr = link(
        ctx,
        &up.remote,
        &base,
        &branch,
        &title,
        &body,
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

/// What a request does not read, at commit `upstream`: the directories of the environments other
/// than its own and its source's, the source's own (but its metadata and deploy.log), and the
/// previews'. The worktree leaves them out: at 1,000 services that is two thirds of the files to
/// write. Nothing is left out where the config does not parse (the plan then says why) or where a
/// directory holds something the request reads.
fn unread(root: &Path, upstream: &str, replay: &Replay) -> (Vec<String>, Vec<String>) {
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
fn staleness(
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
fn same_change(a: &Record, b: &Record) -> bool {
    a.env == b.env
        && a.action == b.action
        && a.from == b.from
        && a.changes == b.changes
        && a.message == b.message
        && a.target == b.target
        && a.gates_overridden == b.gates_overridden
}

/// The hosting of the remote: its kind and the repository's web address.
struct Hosting {
    kind: Kind,
    repo: hosting::Repository,
}

impl Hosting {
    /// From `hosting:` in `promote.yaml`, else from the remote's URL as configured.
    fn resolve(ctx: &Ctx, remote: &str) -> Option<Hosting> {
        let configured = ctx.config.hosting.as_ref();
        let url = configured
            .and_then(|h| h.url.clone())
            .or_else(|| pr::remote_url(&ctx.config.root, remote))?;
        let repo = hosting::parse_remote(&url)?;
        let kind = configured
            .and_then(|h| h.kind)
            .or_else(|| hosting::detect(&repo.host))?;
        Some(Hosting { kind, repo })
    }
}

/// Where the pull request is, and how it was opened.
struct Link {
    url: Option<String>,
    /// `gh`, `glab`, `push-options`, `url` (printed for a person to open), `none`.
    via: &'static str,
    /// Whether a new pull request was opened (`false`: an existing one was updated, or unknown).
    opened: bool,
    /// What the user should do, when promote could not open it.
    todo: Option<String>,
}

/// Opens or updates the pull request of `branch`, or says how to.
#[allow(clippy::too_many_arguments)]
fn link(
    ctx: &Ctx,
    remote: &str,
    base: &str,
    branch: &str,
    title: &str,
    body: &str,
    pushed: Option<&str>,
    push_options: bool,
    update: bool,
) -> Result<Link> {
    let root = &ctx.config.root;
    let Some(h) = Hosting::resolve(ctx, remote) else {
        let url = pr::remote_url(root, remote).unwrap_or_default();
        return Ok(Link {
            url: None,
            via: "none",
            opened: false,
            todo: Some(format!(
                "open a pull request from `{branch}` into `{base}` on your hosting: promote cannot tell which service `{url}` is (set `hosting: {{kind: github, url: https://...}}` in `promote.yaml` for a link)"
            )),
        });
    };
    let repo = h.repo.cli_repo(h.kind);
    let by_hand = |e: anyhow::Error| -> anyhow::Error {
        let url = hosting::new_pr_url(h.kind, &h.repo, base, branch, title);
        match e.downcast::<UserError>() {
            Ok(u) => u.open_by_hand(branch, h.kind.pr_word(), &url).into(),
            Err(e) => e,
        }
    };
    match h.kind {
        Kind::Github if installed("gh") => {
            let view = tool(
                root,
                "gh",
                &["pr", "view", branch, "--repo", &repo, "--json", "url,state"],
                None,
            );
            let open = view.ok().and_then(|out| {
                let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
                (v["state"] == "OPEN").then(|| v["url"].as_str().map(str::to_string))?
            });
            if let Some(url) = open {
                if update {
                    tool(
                        root,
                        "gh",
                        &[
                            "pr",
                            "edit",
                            branch,
                            "--repo",
                            &repo,
                            "--title",
                            title,
                            "--body-file",
                            "-",
                        ],
                        Some(body),
                    )
                    .map_err(by_hand)?;
                }
                return Ok(Link {
                    url: Some(url),
                    via: "gh",
                    opened: false,
                    todo: None,
                });
            }
            let out = tool(
                root,
                "gh",
                &[
                    "pr",
                    "create",
                    "--repo",
                    &repo,
                    "--base",
                    base,
                    "--head",
                    branch,
                    "--title",
                    title,
                    "--body-file",
                    "-",
                ],
                Some(body),
            )
            .map_err(by_hand)?;
            Ok(Link {
                url: last_url(&out),
                via: "gh",
                opened: true,
                todo: None,
            })
        }
        Kind::Gitlab if installed("glab") => {
            let view = tool(
                root,
                "glab",
                &["mr", "view", branch, "--repo", &repo, "--output", "json"],
                None,
            );
            let open = view.ok().and_then(|out| {
                let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
                (v["state"] == "opened").then(|| v["web_url"].as_str().map(str::to_string))?
            });
            if let Some(url) = open {
                if update {
                    tool(
                        root,
                        "glab",
                        &[
                            "mr",
                            "update",
                            branch,
                            "--repo",
                            &repo,
                            "--title",
                            title,
                            "--description",
                            body,
                        ],
                        None,
                    )
                    .map_err(by_hand)?;
                }
                return Ok(Link {
                    url: Some(url),
                    via: "glab",
                    opened: false,
                    todo: None,
                });
            }
            let out = tool(
                root,
                "glab",
                &[
                    "mr",
                    "create",
                    "--repo",
                    &repo,
                    "--source-branch",
                    branch,
                    "--target-branch",
                    base,
                    "--title",
                    title,
                    "--description",
                    body,
                    "--yes",
                ],
                None,
            )
            .map_err(by_hand)?;
            Ok(Link {
                url: last_url(&out),
                via: "glab",
                opened: true,
                todo: None,
            })
        }
        Kind::Gitlab if push_options => {
            // GitLab opened (or kept) the merge request as it took the push, and said where.
            let url = pushed.and_then(remote_url_said);
            let todo = url.is_none().then(|| {
                format!(
                    "GitLab did not say where the merge request is: see {}/-/merge_requests?source_branch={branch}",
                    h.repo.url()
                )
            });
            Ok(Link {
                url,
                via: "push-options",
                opened: true,
                todo,
            })
        }
        kind => {
            let url = hosting::new_pr_url(kind, &h.repo, base, branch, title);
            Ok(Link {
                url: None,
                via: "url",
                opened: false,
                todo: Some(format!(
                    "open the {} (if one is not open already): {url}",
                    kind.pr_word()
                )),
            })
        }
    }
}

/// GitLab's push options that open (or keep) a merge request as the branch is pushed. A push option
/// is one line, so the description is the versions on one line; the commit message has the rest.
fn gitlab_push_options(base: &str, title: &str, plan: &Plan) -> Vec<String> {
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let versions: Vec<String> = plan
        .versions
        .iter()
        .map(|c| one_line(&change::version_line(c)))
        .collect();
    let mut description = format!("promote `{}`", plan.request.env);
    if !versions.is_empty() {
        description.push_str(&format!(": {}", versions.join(", ")));
    }
    if let Some(r) = &plan.record {
        description.push_str(&format!("; audit record {}", &r.id[..12.min(r.id.len())]));
    }
    vec![
        "merge_request.create".into(),
        format!("merge_request.target={base}"),
        format!("merge_request.title={}", one_line(title)),
        format!("merge_request.description={description}"),
    ]
}

/// The last `https://` address in a tool's output (`gh pr create` prints the new PR's).
fn last_url(out: &str) -> Option<String> {
    out.split_whitespace()
        .rev()
        .find(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(str::to_string)
}

/// The merge request's address from what the remote said during the push (`remote:   https://...`).
fn remote_url_said(said: &str) -> Option<String> {
    said.lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .flat_map(str::split_whitespace)
        .find(|w| {
            (w.starts_with("https://") || w.starts_with("http://"))
                && (w.contains("merge_requests") || w.contains("/pull"))
        })
        .map(str::to_string)
}

/// Whether `name` is an executable on PATH.
fn installed(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Runs a hosting CLI (never a prompt: `GH_PROMPT_DISABLED`, `NO_PROMPT`, no stdin but `input`).
fn tool(dir: &Path, program: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .args(args)
        .env("GH_PROMPT_DISABLED", "1")
        .env("NO_PROMPT", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{program}`"))?;
    if let (Some(text), Some(stdin)) = (input, child.stdin.take()) {
        crate::git::feed(stdin, text.as_bytes(), program)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(Failure::HostingCliFailed {
            program: program.to_string(),
            args: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The pull request's description: the environment, every version before -> after, the gates and
/// their state, the audit record, and a summary of the rendered diff (the full diff is the PR's files).
fn body(config: &Config, plan: &Plan, base: &str, upstream: &str, commit: &str) -> String {
    let req = &plan.request;
    let short = |s: &str| s[..7.min(s.len())].to_string();
    let mut b = match &req.from {
        Some(from) => format!("Promotes **{}** to what **{from}** runs", req.env),
        None => format!("`{}` in **{}**", req.action, req.env),
    };
    b.push_str(&format!(
        ", made by promote on `{base}` at `{}` (commit `{}`). Merging this pull request is the promotion: the manifests, metadata and deploy.log record are in its commit.\n\n",
        short(upstream),
        short(commit)
    ));
    if !plan.versions.is_empty() {
        b.push_str(&format!(
            "| service | {} now | after |\n| --- | --- | --- |\n",
            req.env
        ));
        let v = |x: &Option<crate::model::version::Version>| {
            x.as_ref()
                .map(|v| format!("`{v}`"))
                .unwrap_or_else(|| "(none)".into())
        };
        for c in &plan.versions {
            b.push_str(&format!(
                "| {} | {} | {} |\n",
                c.service,
                v(&c.before),
                v(&c.after)
            ));
        }
        b.push('\n');
    }
    if let Some(Some(reason)) = &req.hold {
        b.push_str(&format!("Holds `{}`: {reason}\n\n", req.env));
    }
    b.push_str("**Gates**");
    let gated = matches!(req.action.as_str(), "promote" | "set-image");
    let gates = config
        .env(&req.env)
        .map(|e| e.gates.clone())
        .unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(s) = &gates.soak {
        lines.push(format!("soak `{s}`"));
    }
    for f in &gates.freeze {
        let mut w = Vec::new();
        if !f.days.is_empty() {
            w.push(f.days.join(", "));
        }
        if let (Some(a), Some(u)) = (&f.from, &f.until) {
            w.push(format!("{a} to {u}"));
        }
        lines.push(format!("freeze ({})", w.join("; ")));
    }
    if let Some(c) = &gates.command {
        lines.push(format!("command `{c}`"));
    }
    match (&req.gates_overridden, gated, lines.is_empty()) {
        (Some(why), _, _) => b.push_str(&format!(": **overridden**: {why}\n")),
        (None, false, _) => b.push_str(&format!(": a {} is not gated\n", req.action)),
        (None, true, true) => b.push_str(": none declared for this environment\n"),
        (None, true, false) => {
            b.push_str(" (checked on the base when this branch was made; `promote check --base` checks them again on the merge result):\n");
            for l in lines {
                b.push_str(&format!("- {l}: passed\n"));
            }
        }
    }
    b.push('\n');
    if let Some(r) = &plan.record {
        let env = config.env(&req.env).ok();
        b.push_str(&format!(
            "**Audit record** `{}` in `{}`, by {} <{}>:\n\n```json\n{}\n```\n\n",
            &r.id[..12.min(r.id.len())],
            env.map(|e| e.deploy_log.as_str()).unwrap_or("deploy.log"),
            r.actor.name,
            r.actor.email,
            serde_json::to_string(r).unwrap_or_default()
        ));
    }
    let stats: Vec<(String, usize, usize)> = plan
        .files
        .iter()
        .map(|c| {
            let (added, removed) = line_counts(c.before.as_deref(), c.after.as_deref());
            (c.path.clone(), added, removed)
        })
        .collect();
    let (added, removed) = stats.iter().fold((0, 0), |(a, r), s| (a + s.1, r + s.2));
    b.push_str(&format!(
        "**Rendered changes**: {} file{}, +{added} -{removed}\n",
        stats.len(),
        if stats.len() == 1 { "" } else { "s" }
    ));
    const LISTED: usize = 40;
    for (path, a, r) in stats.iter().take(LISTED) {
        b.push_str(&format!("- `{path}` (+{a} -{r})\n"));
    }
    if stats.len() > LISTED {
        b.push_str(&format!("- and {} more\n", stats.len() - LISTED));
    }
    b.push_str(&format!(
        "\nIf `{base}` changes `{}` before this is merged, `promote pr refresh {}` rebuilds this branch on it.\n",
        req.env, req.env
    ));
    b
}

/// Lines added and removed, counted as multisets of lines: linear in the file's size (a minimal
/// diff of a 1,000-service metadata file takes seconds), and equal to the diff's counts wherever
/// lines change in place, as a promotion changes them; a moved line is not counted.
fn line_counts(before: Option<&[u8]>, after: Option<&[u8]>) -> (usize, usize) {
    let mut count: std::collections::HashMap<&[u8], isize> = std::collections::HashMap::new();
    for l in before.unwrap_or_default().split_inclusive(|b| *b == b'\n') {
        *count.entry(l.strip_suffix(b"\n").unwrap_or(l)).or_default() -= 1;
    }
    for l in after.unwrap_or_default().split_inclusive(|b| *b == b'\n') {
        *count.entry(l.strip_suffix(b"\n").unwrap_or(l)).or_default() += 1;
    }
    count.values().fold((0, 0), |(a, r), &n| {
        if n > 0 {
            (a + n as usize, r)
        } else {
            (a, r + n.unsigned_abs())
        }
    })
}

fn report(o: &Opened, json: bool) -> Result<()> {
    let plan = &o.plan;
    if json {
        let mut s = change::summary(plan, o.commit.as_deref(), false);
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
        text.push_str(&format!("\n  {}", change::version_line(c)));
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

/// What `promote init` says about approvals by pull request, for the environments at the end of the
/// pipeline (those no other environment takes from): the setting, the CODEOWNERS line and the
/// branch protection that make the hosting enforce it.
pub(super) fn approval_advice(config: &Config) -> Option<String> {
    let last: Vec<&crate::model::config::Environment> = config
        .environments
        .iter()
        .filter(|e| e.from.is_some())
        .filter(|e| {
            !config
                .environments
                .iter()
                .any(|o| o.from.as_deref() == Some(e.name.as_str()))
        })
        .collect();
    let first = last.first()?;
    let names: Vec<String> = last.iter().map(|e| format!("`{}`", e.name)).collect();
    let mut s = format!(
        "approvals by pull request, for {} (optional; see \"Promotion by pull request\" in the README):\n",
        names.join(", ")
    );
    s.push_str(&format!(
        "  promote.yaml        `approval: pr` under `{}`: promote refuses direct commits there, and `promote to {} --pr` opens a pull request\n",
        first.name, first.name
    ));
    for e in &last {
        s.push_str(&format!(
            "  CODEOWNERS          /{}/ @your-org/release-approvers\n",
            e.dir
        ));
    }
    s.push_str("  branch protection   GitHub: require a pull request, review from Code Owners, dismiss stale approvals; GitLab: allowed to push \"No one\", Code Owner approval\n");
    s.push_str("  promote runs on your machine and cannot stop a push: the hosting's branch protection enforces the approval");
    Some(s)
}

/// `promote pr refresh ENV|BRANCH`: rebuilds promote's pull-request branches whose base changed
/// under them, from the request each one records.
pub fn refresh(dir: &Path, target: &str, json: bool) -> Outcome {
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

/// `promote check --base REV`: `promote check`, and whether the changes since REV (a pull
/// request's merge result against its base) are still valid promotions on it.
pub fn check_base(dir: &Path, base: &str) -> Outcome {
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
        // The versions the new records leave, service by service (the last record wins).
        let mut recorded: BTreeMap<String, Option<String>> = BTreeMap::new();
        for r in &new {
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
        for r in &new {
            let id = &r.id[..12.min(r.id.len())];
            // A promotion must take what its source runs on the merge result.
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
            // The gates must still let it through (unless a person overrode them, on record).
            if matches!(r.action.as_str(), "promote" | "set-image") && r.gates_overridden.is_none()
            {
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
                let (refusals, _) = plan::gate_refusals(&ctx, &req, true)?;
                for refusal in refusals {
                    problems.push(format!("record {id} into `{}`: {refusal}", env.name));
                }
            }
            valid.push(format!("{} {} (record {id})", r.action, env.name));
        }
    }
    // The whole repository as `promote check` sees it.
    let whole = super::check::run(dir, ui::mode().json);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_ids_are_ref_safe_and_stable() {
        assert_eq!(ref_safe("from-staging"), "from-staging");
        assert_eq!(ref_safe("set-image-api-a252dcc"), "set-image-api-a252dcc");
        let digest = ref_safe("set-image-api-1.2@sha256:0123");
        assert!(digest.starts_with("set-image-api-1.2-"), "{digest}");
        assert_eq!(digest, ref_safe("set-image-api-1.2@sha256:0123"));
        assert_ne!(digest, ref_safe("set-image-api-1.2@sha256:0124"));
        let long = ref_safe(&"x".repeat(100));
        assert!(long.len() < 60, "{long}");
        assert!(ref_safe("a..b").contains('-'));
    }

    #[test]
    fn requests_survive_the_trailer() {
        for r in [
            Replay::To {
                env: "prod".into(),
                from: None,
                only: vec!["api".into()],
                message: Some("line one\nline two".into()),
            },
            Replay::Hold {
                env: "prod".into(),
                reason: "incident 42".into(),
            },
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Replay>(&line).unwrap(), r);
        }
    }

    #[test]
    fn lines_added_and_removed() {
        assert_eq!(line_counts(Some(b"a\nb\nc\n"), Some(b"a\nB\nc\n")), (1, 1));
        assert_eq!(line_counts(None, Some(b"a\nb")), (2, 0));
        assert_eq!(line_counts(Some(b"a\n"), None), (0, 1));
        assert_eq!(line_counts(Some(b"x\nx\n"), Some(b"x\n")), (0, 1));
        assert_eq!(line_counts(Some(b"same\n"), Some(b"same\n")), (0, 0));
    }

    #[test]
    fn urls_said_by_the_remote() {
        let said = "remote: \nremote: View merge request for promote/prod/from-staging:\nremote:   https://gitlab.com/acme/config/-/merge_requests/7\nremote: \nTo gitlab.com:acme/config.git\n";
        assert_eq!(
            remote_url_said(said).as_deref(),
            Some("https://gitlab.com/acme/config/-/merge_requests/7")
        );
        assert_eq!(remote_url_said("To ../origin.git\n"), None);
        assert_eq!(
            last_url("Creating pull request\nhttps://github.com/acme/config/pull/3\n").as_deref(),
            Some("https://github.com/acme/config/pull/3")
        );
    }
}
