//! `promote preview up|down|list|gc`: one throwaway environment per pull-request branch.
//!
//! ```text
//! <previews.dir>/                   environments/prs/ by default
//!   <slug>/manifests/               what ArgoCD syncs (the ApplicationSet's `environments/prs/*/manifests`)
//!   <slug>/metadata.json            branch, slug, namespace, created, updated, the versions it runs
//!   <slug>/deploy.log               the preview's audit chain (`preview-up` records)
//!   deploy.log                      `preview-down` records: a preview's own log goes with it
//! ```
//!
//! A preview renders the preview template set (`previews.templates`, the shared templates by default)
//! with `previews.values` and, over them, `namespace: pr-<slug>`, `host_prefix: <slug>.`, `branch` and
//! `slug`. The branch name is data: it only ever reaches the file system as a slug (see
//! [`crate::model::slug`]), and every path written is checked to lie inside `previews.dir`, through no
//! symbolic link. `--push` runs through the same retry loop as `set-image --push`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::change::{self, Push};
use crate::apply::files::{self, Change, Target};
use crate::cli::PreviewRequest;
use crate::error::{exit, Blocked, Failure, Outcome};
use crate::git;
use crate::model::audit::{self, Actor, Record, ServiceChange};
use crate::model::config::{merge, Config, Environment, Layout, Previews};
use crate::model::gates;
use crate::model::metadata::ServiceState;
use crate::model::slug;
use crate::model::version::Version;
use crate::plan::{problems_error, Ctx, VersionChange};
use crate::render;
use crate::ui;
use crate::ui::diff::unified;

pub use crate::cli::PreviewOpts as Opts;

pub fn dispatch(dir: &Path, request: PreviewRequest) -> Outcome {
    match request {
        PreviewRequest::Up { branch, sha, opts } => up(dir, &branch, &sha, &opts),
        PreviewRequest::Down { branch, opts } => down(dir, &branch, &opts),
        PreviewRequest::List { json } => list(dir, json),
        PreviewRequest::Gc {
            older_than,
            keep,
            keep_file,
            opts,
        } => gc(
            dir,
            older_than.as_deref(),
            &keep,
            keep_file.as_deref(),
            &opts,
        ),
    }
}

/// `promote preview up BRANCH --sha SHA`.
pub fn up(dir: &Path, branch: &str, sha: &str, opts: &Opts) -> Outcome {
    let version = Version::from_sha(sha).map_err(|e| Failure::PreviewShaInvalid {
        error: e.to_string(),
    })?;
    slug::slug(branch)?;
    run(
        dir,
        &Op::Up {
            branch,
            version,
            message: opts.message.clone(),
        },
        opts,
    )
}

/// `promote preview down BRANCH`.
pub fn down(dir: &Path, branch: &str, opts: &Opts) -> Outcome {
    slug::slug(branch)?;
    let message = opts.message.clone();
    run(dir, &Op::Down { branch, message }, opts)
}

/// `promote preview gc [--older-than D] [--keep B...] [--keep-file F]`.
pub fn gc(
    dir: &Path,
    older_than: Option<&str>,
    keep: &[String],
    keep_file: Option<&str>,
    opts: &Opts,
) -> Outcome {
    // STEP 1: what counts as stale, read once (stdin cannot be read again on a push retry).
    let older_than = match older_than {
        Some(s) => {
            let d = gates::parse_duration(s).map_err(|e| Failure::OlderThanInvalid {
                error: e.to_string(),
            })?;
            if d <= chrono::Duration::zero() {
                return Err(Failure::OlderThanNotPositive {
                    value: s.to_string(),
                }
                .into());
            }
            Some(d)
        }
        None => None,
    };
    let keep = keep_list(keep, keep_file)?;
    if older_than.is_none() && keep.is_none() {
        return Err(Failure::GcNeedsCriteria.into());
    }
    run(
        dir,
        &Op::Gc {
            older_than,
            keep,
            message: opts.message.clone(),
        },
        opts,
    )
}

/// The branches `--keep` and `--keep-file` name; `None` when neither was given.
fn keep_list(keep: &[String], keep_file: Option<&str>) -> Result<Option<BTreeSet<String>>> {
    if keep.is_empty() && keep_file.is_none() {
        return Ok(None);
    }
    let mut set: BTreeSet<String> = keep.iter().map(|b| normalize_branch(b)).collect();
    if let Some(file) = keep_file {
        let text = if file == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("cannot read the kept branches from stdin")?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| Failure::KeepFileUnreadable {
                file: file.to_string(),
                error: e.to_string(),
            })?
        };
        let before = set.len();
        // One branch per line; a `git ls-remote --heads` line (`<sha>\trefs/heads/<branch>`) works too.
        set.extend(
            text.lines()
                .filter_map(|l| l.split_whitespace().last())
                .map(normalize_branch),
        );
        if set.len() == before && keep.is_empty() {
            return Err(Failure::KeepFileEmpty {
                file: file.to_string(),
            }
            .into());
        }
    }
    Ok(Some(set))
}

fn normalize_branch(b: &str) -> String {
    let b = b.trim();
    b.strip_prefix("refs/heads/").unwrap_or(b).to_string()
}

/// `promote preview list`.
pub fn list(dir: &Path, json_out: bool) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let previews = settings(&ctx.config)?;
    let (mut found, skipped) = scan(&ctx.config, previews)?;
    for (dir, why) in &skipped {
        ui::warn(&format!("`{dir}` is not a preview: {why}"));
    }
    found.sort_by(|a, b| a.meta.branch.cmp(&b.meta.branch).then(a.slug.cmp(&b.slug)));
    if json_out {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                let versions: serde_json::Map<String, serde_json::Value> = f
                    .meta
                    .services
                    .iter()
                    .map(|(s, st)| (s.clone(), json!(st.version.to_string())))
                    .collect();
                json!({
                    "branch": f.meta.branch,
                    "slug": f.slug,
                    "namespace": f.meta.namespace,
                    "host_prefix": f.meta.host_prefix,
                    "urls": f.meta.urls,
                    "dir": f.dir,
                    "version": common_version(&f.meta).map(|v| v.to_string()),
                    "versions": versions,
                    "created": f.meta.created,
                    "updated": f.meta.updated,
                })
            })
            .collect();
        ui::data(&(serde_json::to_string_pretty(&json!({ "previews": items }))? + "\n"));
        return Ok(exit::OK);
    }
    if found.is_empty() {
        ui::status(&format!("no previews in `{}`", previews.dir));
        return Ok(exit::OK);
    }
    let mut rows = vec![["BRANCH", "SLUG", "VERSION", "CREATED", "UPDATED"].map(String::from)];
    for f in &found {
        let version = match common_version(&f.meta) {
            Some(v) => v.short(),
            None if f.meta.services.is_empty() => "-".into(),
            None => "mixed".into(),
        };
        rows.push([
            f.meta.branch.clone(),
            f.slug.clone(),
            version,
            f.meta.created.clone(),
            f.meta.updated.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    ui::data(&crate::ui::escape::escape(&out));
    Ok(exit::OK)
}

/// The one version every service of a preview runs, if they all run the same.
fn common_version(meta: &PreviewMeta) -> Option<&Version> {
    let mut it = meta.services.values().map(|s| &s.version);
    let first = it.next()?;
    it.all(|v| v == first).then_some(first)
}

// ---------------------------------------------------------------------------------------------
// State.

/// `<previews.dir>/<slug>/metadata.json`: who the preview belongs to and what it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewMeta {
    /// The branch, exactly as given to `preview up`.
    pub branch: String,
    pub slug: String,
    pub namespace: String,
    pub host_prefix: String,
    /// `urls` from the preview's values, for people and bots (e.g. a pull-request comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<serde_json::Value>,
    /// UTC time of the first `preview up`.
    pub created: String,
    /// UTC time of the last `preview up` that changed something.
    pub updated: String,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceState>,
    /// Hash of the last record of the preview's deploy.log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
}

impl PreviewMeta {
    fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }

    fn versions(&self) -> BTreeMap<String, Version> {
        self.services
            .iter()
            .map(|(k, v)| (k.clone(), v.version.clone()))
            .collect()
    }
}

/// A preview found on disk.
struct Found {
    slug: String,
    /// Repository-relative directory.
    dir: String,
    meta: PreviewMeta,
}

/// What a candidate slug's directory holds.
enum Slot {
    Free,
    Own(Box<PreviewMeta>),
    Taken(String),
    NotPreview(String),
}

fn settings(config: &Config) -> Result<&Previews> {
    let Some(p) = config.previews.as_ref() else {
        return Err(Failure::PreviewsNotConfigured.into());
    };
    if config.layout == Layout::Legacy && p.templates == config.templates {
        return Err(Failure::LegacyPreviewsNeedTemplates.into());
    }
    Ok(p)
}

fn meta_path(dir: &str) -> String {
    format!("{dir}/metadata.json")
}

fn read_meta(config: &Config, dir: &str) -> Result<Option<PreviewMeta>, String> {
    let path = meta_path(dir);
    match std::fs::read_to_string(config.abs(&path)) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "`{path}` (line {}): invalid preview metadata: {e}",
                e.line()
            )
        }),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("cannot read `{path}`: {e}")),
    }
}

fn slot(config: &Config, dir: &str) -> Result<Slot> {
    let abs = config.abs(dir);
    match std::fs::symlink_metadata(&abs) {
        Err(_) => return Ok(Slot::Free),
        Ok(m) if !m.is_dir() => {
            return Ok(Slot::NotPreview("it is not a directory".into()));
        }
        Ok(_) => {}
    }
    match read_meta(config, dir) {
        Ok(Some(meta)) => Ok(Slot::Own(Box::new(meta))),
        Ok(None) => {
            let empty = std::fs::read_dir(&abs)
                .with_context(|| format!("cannot list `{dir}`"))?
                .next()
                .is_none();
            Ok(if empty {
                Slot::Free
            } else {
                Slot::NotPreview("it has no `metadata.json`".into())
            })
        }
        Err(e) => Ok(Slot::NotPreview(e)),
    }
}

/// Every preview under `previews.dir`, and the directories there that are not previews (and why).
/// Directories under `previews.dir` that are not previews, and why.
type Skipped = Vec<(String, String)>;

fn scan(config: &Config, previews: &Previews) -> Result<(Vec<Found>, Skipped)> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let base = config.abs(&previews.dir);
    let entries = match std::fs::read_dir(&base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, skipped)),
        Err(e) => return Err(e).with_context(|| format!("cannot list `{}`", previews.dir)),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let dir = format!("{}/{name}", previews.dir);
        match slot(config, &dir)? {
            Slot::Own(meta) if meta.slug == name && slug::is_valid(&name) => found.push(Found {
                slug: name,
                dir,
                meta: *meta,
            }),
            Slot::Own(meta) => {
                skipped.push((dir, format!("its metadata names slug `{}`", meta.slug)))
            }
            Slot::NotPreview(why) => skipped.push((dir, why)),
            Slot::Free | Slot::Taken(_) => {}
        }
    }
    Ok((found, skipped))
}

/// Checks that `rel` lies inside `previews_dir` and that nothing on the way to it is a symbolic link,
/// so no branch name and no crafted repository can make promote write elsewhere.
fn ensure_inside(config: &Config, previews_dir: &str, rel: &str) -> Result<()> {
    let inside = rel
        .strip_prefix(previews_dir)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|r| {
            !r.is_empty() && r.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        });
    if !inside {
        return Err(Failure::OutsidePreviews {
            rel: rel.to_string(),
            dir: previews_dir.to_string(),
        }
        .into());
    }
    let mut path = config.root.clone();
    for part in rel.split('/') {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Failure::PreviewSymlink {
                    rel: rel.to_string(),
                    link: path
                        .strip_prefix(&config.root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                }
                .into());
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Every file under `dir` (repository-relative), dotfiles included, symbolic links not followed.
fn walk(config: &Config, dir: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_string()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(config.abs(&d)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list `{d}`")),
        };
        for entry in entries {
            let entry = entry?;
            let rel = format!("{d}/{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                stack.push(rel);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Planning.

enum Op<'a> {
    Up {
        branch: &'a str,
        version: Version,
        message: Option<String>,
    },
    Down {
        branch: &'a str,
        message: Option<String>,
    },
    Gc {
        older_than: Option<chrono::Duration>,
        keep: Option<BTreeSet<String>>,
        message: Option<String>,
    },
}

/// One preview a plan creates, changes or removes.
#[derive(Debug, Serialize)]
struct Item {
    branch: String,
    slug: String,
    namespace: String,
    host_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<serde_json::Value>,
    dir: String,
    changes: Vec<VersionChange>,
    record: Option<String>,
    /// Why `gc` removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

struct Plan {
    action: &'static str,
    items: Vec<Item>,
    files: Vec<Change>,
    commit_message: String,
}

impl Plan {
    fn empty(action: &'static str) -> Plan {
        Plan {
            action,
            items: Vec::new(),
            files: Vec::new(),
            commit_message: String::new(),
        }
    }
}

/// Who makes the change, and on top of which commit.
struct Who {
    actor: Actor,
    head: Option<String>,
    time: String,
}

fn who(ctx: &Ctx) -> Result<Who> {
    let (name, email) = git::identity(&ctx.config.root)?;
    let now = audit::now()?;
    Ok(Who {
        actor: Actor {
            name,
            email,
            ci: audit::ci_from_env(|k| std::env::var(k).ok()),
        },
        head: ctx.repo.head(),
        time: audit::timestamp(now),
    })
}

fn record(
    who: &Who,
    env: &str,
    action: &str,
    changes: &[VersionChange],
    message: Option<String>,
    prev: String,
) -> Record {
    Record {
        id: String::new(),
        time: who.time.clone(),
        env: env.to_string(),
        action: action.to_string(),
        from: None,
        changes: changes
            .iter()
            .map(|c| ServiceChange {
                service: c.service.clone(),
                before: c.before.as_ref().map(|v| v.to_string()),
                after: c.after.as_ref().map(|v| v.to_string()),
            })
            .collect(),
        actor: who.actor.clone(),
        message,
        target: None,
        gates_overridden: None,
        audit_repaired: None,
        commit: who.head.clone(),
        prev,
    }
}

fn version_changes(
    old: &BTreeMap<String, Version>,
    new: &BTreeMap<String, Version>,
) -> Vec<VersionChange> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|s| old.get(*s) != new.get(*s))
        .map(|s| VersionChange {
            service: s.clone(),
            before: old.get(s).cloned(),
            after: new.get(s).cloned(),
        })
        .collect()
}

/// The directories a run may touch: checked for uncommitted changes before anything is planned.
fn guarded(previews: &Previews, op: &Op) -> Result<Vec<String>> {
    let log = format!("{}/deploy.log", previews.dir);
    Ok(match op {
        Op::Up { branch, .. } | Op::Down { branch, .. } => {
            let mut v: Vec<String> = slug::candidates(branch)?
                .iter()
                .map(|s| format!("{}/{s}", previews.dir))
                .collect();
            v.push(log);
            v
        }
        Op::Gc { .. } => vec![previews.dir.clone()],
    })
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

/// Which slug `branch` has or gets: its own preview under any candidate, else the first free one.
fn locate(
    config: &Config,
    previews: &Previews,
    branch: &str,
) -> Result<(String, Option<PreviewMeta>)> {
    let candidates = slug::candidates(branch)?;
    let mut slots = Vec::new();
    for s in &candidates {
        let dir = format!("{}/{s}", previews.dir);
        let slot = match slot(config, &dir)? {
            Slot::Own(meta) if meta.branch != branch => Slot::Taken(meta.branch),
            other => other,
        };
        if let Slot::Own(meta) = slot {
            return Ok((s.clone(), Some(*meta)));
        }
        slots.push((s.clone(), dir, slot));
    }
    let mut taken = Vec::new();
    for (s, dir, slot) in slots {
        match slot {
            Slot::Free => return Ok((s, None)),
            Slot::Taken(other) => taken.push(format!("`{s}` belongs to branch `{other}`")),
            Slot::NotPreview(why) => {
                return Err(Failure::PreviewInTheWay {
                    dir: dir.to_string(),
                    branch: branch.to_string(),
                    why: why.to_string(),
                    previews: previews.dir.to_string(),
                }
                .into())
            }
            Slot::Own(_) => unreachable!("returned above"),
        }
    }
    Err(Failure::NoFreePreviewName {
        branch: branch.to_string(),
        taken,
    }
    .into())
}

fn plan_up(
    ctx: &Ctx,
    previews: &Previews,
    branch: &str,
    version: &Version,
    message: Option<String>,
) -> Result<Plan> {
    let config = &ctx.config;
    let (slug, existing) = locate(config, previews, branch)?;
    let namespace = slug::namespace(&slug);
    let host_prefix = format!("{slug}.");
    let dir = format!("{}/{slug}", previews.dir);
    let manifests = format!("{dir}/manifests");

    // STEP 1: every service at the one version, rendered from the preview template set.
    let old = existing
        .as_ref()
        .map(PreviewMeta::versions)
        .unwrap_or_default();
    let new: BTreeMap<String, Version> = config
        .services
        .iter()
        .map(|s| (s.name.clone(), version.clone()))
        .collect();
    let mut values = with_slug(&previews.values, &slug);
    merge(
        &mut values,
        json!({"namespace": namespace, "host_prefix": host_prefix, "branch": branch, "slug": slug}),
    );
    let urls = values.get("urls").cloned();
    let files = render_preview(config, previews, &slug, values, &new, branch)?;

    // STEP 2: the manifests exactly as rendered: stale ones (committed, no longer rendered) go.
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    for path in walk(config, &manifests)? {
        if ctx.repo.read_at_head(&path).is_some() {
            targets.insert(path, Target::Delete);
        }
    }
    for f in files {
        targets.insert(f.path, Target::Write(f.bytes));
    }
    let manifest_changes = files::plan(&config.root, targets.clone())?;
    let changes = version_changes(&old, &new);
    if changes.is_empty() && manifest_changes.is_empty() {
        return Ok(Plan::empty("preview-up"));
    }

    // STEP 3: the audit record, then the metadata that names it.
    let who = who(ctx)?;
    let log_path = format!("{dir}/deploy.log");
    // The preview's trail must verify before a record is added to it (#17); `preview down`, which
    // removes the preview with its log, stays possible.
    let (broken, log, _, _) = crate::plan::anchor::log_problems(config, &ctx.repo, &log_path)?;
    if !broken.is_empty() {
        return Err(Failure::PreviewAuditBroken {
            namespace: namespace.to_string(),
            broken,
            log: log_path.to_string(),
            branch: branch.to_string(),
        }
        .into());
    }
    let mut rec = record(
        &who,
        &namespace,
        "preview-up",
        &changes,
        message.clone(),
        audit::tail_hash(&log),
    );
    let line = rec.seal();
    let mut meta = existing.unwrap_or_else(|| PreviewMeta {
        branch: branch.to_string(),
        slug: slug.clone(),
        namespace: namespace.clone(),
        host_prefix: host_prefix.clone(),
        urls: None,
        created: who.time.clone(),
        updated: who.time.clone(),
        services: BTreeMap::new(),
        audit_head: None,
    });
    meta.slug = slug.clone();
    meta.namespace = namespace.clone();
    meta.host_prefix = host_prefix.clone();
    meta.urls = urls.clone();
    meta.updated = who.time.clone();
    meta.services.retain(|s, _| new.contains_key(s));
    for c in &changes {
        if let Some(v) = &c.after {
            let svc = config.service(&c.service)?;
            meta.services.insert(
                c.service.clone(),
                ServiceState {
                    version: v.clone(),
                    image: v.reference(&svc.image),
                    from: None,
                    commit: who.head.clone(),
                    updated: who.time.clone(),
                },
            );
        }
    }
    meta.audit_head = Some(audit::sha256_hex(line.trim_end_matches('\n').as_bytes()));
    targets.insert(meta_path(&dir), Target::Write(meta.to_bytes()));
    targets.insert(log_path, Target::Append(line.into_bytes()));

    // STEP 4: the commit message.
    let short = |v: Option<&Version>| v.map(Version::short).unwrap_or_else(|| "(none)".into());
    let before: BTreeSet<String> = old.values().map(Version::short).collect();
    let what = if changes.is_empty() {
        format!("re-rendered at {}", version.short())
    } else if old.is_empty() {
        format!("{} (new)", version.short())
    } else if before.len() == 1 {
        format!(
            "{} -> {}",
            before.iter().next().cloned().unwrap_or_default(),
            version.short()
        )
    } else {
        format!("mixed -> {}", version.short())
    };
    let mut body = format!("branch     {branch}\nnamespace  {namespace}\ndir        {dir}\n");
    if !changes.is_empty() {
        body.push('\n');
        let w = changes.iter().map(|c| c.service.len()).max().unwrap_or(0);
        for c in &changes {
            body.push_str(&format!(
                "{:w$}  {} -> {}\n",
                c.service,
                short(c.before.as_ref()),
                short(c.after.as_ref())
            ));
        }
    }
    let commit_message = commit_message(
        &format!("preview up {namespace}: {what}"),
        &body,
        message.as_deref(),
        "preview-up",
        &[(&namespace, branch, &rec)],
    );
    let item = Item {
        branch: branch.to_string(),
        slug,
        namespace,
        host_prefix,
        urls,
        dir,
        changes,
        record: Some(rec.id.clone()),
        reason: None,
    };
    Ok(Plan {
        action: "preview-up",
        items: vec![item],
        files: files::plan(&config.root, targets)?,
        commit_message,
    })
}

/// The manifests of the preview `slug`, in memory; every problem becomes one error.
fn render_preview(
    config: &Config,
    previews: &Previews,
    slug: &str,
    values: serde_json::Value,
    versions: &BTreeMap<String, Version>,
    branch: &str,
) -> Result<Vec<render::OutFile>> {
    let namespace = slug::namespace(slug);
    let dir = format!("{}/{slug}", previews.dir);
    // The preview renders like an environment whose template set is `previews.templates`. It starts
    // from a clone of a declared environment so that settings only the pipeline uses keep a value.
    let mut env: Environment = config
        .environments
        .first()
        .cloned()
        .context("no environments are declared")?;
    env.name = namespace.clone();
    env.from = None;
    env.dir = match config.layout {
        // The legacy renderer reads the `*.yaml.tpl` files of the environment's directory.
        Layout::Legacy => previews.templates.clone(),
        Layout::Native => dir.clone(),
    };
    env.manifests = format!("{dir}/manifests");
    env.metadata = meta_path(&dir);
    env.deploy_log = format!("{dir}/deploy.log");
    env.templates = previews.templates.clone();
    env.exclude = Vec::new();
    env.values = values;
    let mut config = config.clone();
    config.templates = previews.templates.clone();

    let (files, mut problems) = render::render_env(&config, &env, versions)?;
    if !problems.is_empty() {
        let wrong = format!("environments.{namespace}.values");
        for p in &mut problems {
            if let Some(h) = &mut p.hint {
                *h = h.replace(&wrong, "previews.values");
            }
        }
        return Err(problems_error(
            Blocked::Preview {
                namespace: namespace.to_string(),
                branch: branch.to_string(),
            },
            &problems,
        ));
    }
    for f in &files {
        ensure_inside(&config, &previews.dir, &f.path)?;
    }
    Ok(files)
}

/// `previews.values` for one preview: `{slug}` in a string stands for the slug (`https://{slug}.preview.acme.example`).
/// A slug is `[a-z0-9-]`, so it cannot change the structure of what a template prints.
fn with_slug(values: &serde_json::Value, slug: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match values {
        J::String(s) => J::String(s.replace("{slug}", slug)),
        J::Array(a) => J::Array(a.iter().map(|v| with_slug(v, slug)).collect()),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), with_slug(v, slug)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The targets that remove a preview: every committed file in its directory.
fn removal(ctx: &Ctx, dir: &str, targets: &mut BTreeMap<String, Target>) -> Result<()> {
    for path in walk(&ctx.config, dir)? {
        if ctx.repo.read_at_head(&path).is_some() {
            targets.insert(path, Target::Delete);
        }
    }
    Ok(())
}

fn plan_down(
    ctx: &Ctx,
    previews: &Previews,
    branch: &str,
    message: Option<String>,
) -> Result<Plan> {
    // Only the branch's own preview is ever removed; whatever else is there stays as it is.
    let mut own = None;
    for s in slug::candidates(branch)? {
        if let Slot::Own(meta) = slot(&ctx.config, &format!("{}/{s}", previews.dir))? {
            if meta.branch == branch {
                own = Some((s, *meta));
                break;
            }
        }
    }
    let Some((slug, meta)) = own else {
        return Ok(Plan::empty("preview-down"));
    };
    let found = Found {
        dir: format!("{}/{slug}", previews.dir),
        slug,
        meta,
    };
    remove(ctx, previews, "preview-down", vec![(found, None)], message)
}

fn plan_gc(
    ctx: &Ctx,
    previews: &Previews,
    older_than: Option<chrono::Duration>,
    keep: Option<&BTreeSet<String>>,
    message: Option<String>,
) -> Result<Plan> {
    let config = &ctx.config;
    let (found, skipped) = scan(config, previews)?;
    for (dir, why) in &skipped {
        ui::warn(&format!("`{dir}` is not a preview ({why}): left alone"));
    }
    let now = audit::now()?;
    let mut stale = Vec::new();
    for f in found {
        let mut reasons = Vec::new();
        if keep.is_some_and(|k| !k.contains(&f.meta.branch)) {
            reasons.push("its branch is not in the keep list".to_string());
        }
        if let Some(limit) = older_than {
            match DateTime::parse_from_rfc3339(&f.meta.updated) {
                Ok(t) => {
                    let idle = now - t.with_timezone(&Utc);
                    if idle >= limit {
                        reasons.push(format!(
                            "not updated for {} (since {})",
                            gates::human(idle),
                            f.meta.updated
                        ));
                    }
                }
                Err(_) => ui::warn(&format!(
                    "`{}`: `updated` is not an RFC 3339 time; its age is unknown",
                    meta_path(&f.dir)
                )),
            }
        }
        if !reasons.is_empty() {
            stale.push((f, Some(reasons.join("; "))));
        }
    }
    remove(ctx, previews, "preview-gc", stale, message)
}

/// Removes previews in one change: their files, and one `preview-down` record each in the
/// previews-level log (the preview's own log goes with its directory).
fn remove(
    ctx: &Ctx,
    previews: &Previews,
    action: &'static str,
    gone: Vec<(Found, Option<String>)>,
    message: Option<String>,
) -> Result<Plan> {
    if gone.is_empty() {
        return Ok(Plan::empty(action));
    }
    let config = &ctx.config;
    let who = who(ctx)?;
    let log_path = format!("{}/deploy.log", previews.dir);
    let mut log = std::fs::read(config.abs(&log_path)).unwrap_or_default();
    if !log.is_empty() && !log.ends_with(b"\n") {
        log.push(b'\n'); // as `files::plan` will, before the first appended line
    }
    let start = log.len();
    let mut targets = BTreeMap::new();
    let mut items = Vec::new();
    let mut records = Vec::new();
    for (f, reason) in gone {
        removal(ctx, &f.dir, &mut targets)?;
        let changes = version_changes(&f.meta.versions(), &BTreeMap::new());
        let why = match (&reason, &message) {
            (Some(r), Some(m)) => Some(format!("gc: {r}; {m}")),
            (Some(r), None) => Some(format!("gc: {r}")),
            (None, m) => m.clone(),
        };
        let mut rec = record(
            &who,
            &f.meta.namespace,
            "preview-down",
            &changes,
            why,
            audit::tail_hash(&log),
        );
        log.extend_from_slice(rec.seal().as_bytes());
        records.push((f.meta.namespace.clone(), f.meta.branch.clone(), rec.clone()));
        items.push(Item {
            branch: f.meta.branch,
            slug: f.slug,
            namespace: f.meta.namespace,
            host_prefix: f.meta.host_prefix,
            urls: f.meta.urls,
            dir: f.dir,
            changes,
            record: Some(rec.id),
            reason,
        });
    }
    targets.insert(log_path, Target::Append(log[start..].to_vec()));

    let (subject, mut body) = if action == "preview-gc" {
        let first = &items[0].namespace;
        let more = match items.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        (format!("preview gc: remove {first}{more}"), String::new())
    } else {
        (
            format!("preview down {}", items[0].namespace),
            String::new(),
        )
    };
    for it in &items {
        body.push_str(&format!(
            "{}  branch {}  {}\n",
            it.namespace, it.branch, it.dir
        ));
        if let Some(r) = &it.reason {
            body.push_str(&format!("  {r}\n"));
        }
    }
    let trailers: Vec<(&str, &str, &Record)> = records
        .iter()
        .map(|(ns, b, r)| (ns.as_str(), b.as_str(), r))
        .collect();
    let commit_message = commit_message(&subject, &body, message.as_deref(), action, &trailers);
    Ok(Plan {
        action,
        items,
        files: files::plan(&config.root, targets)?,
        commit_message,
    })
}

/// Subject, body, the reason, and trailers (one `Promote-Env`/`Promote-Branch`/`Promote-Record`
/// group per preview).
fn commit_message(
    subject: &str,
    body: &str,
    message: Option<&str>,
    action: &str,
    previews: &[(&str, &str, &Record)],
) -> String {
    let mut msg = format!("{subject}\n\n{body}");
    if let Some(m) = message {
        msg.push_str(&format!("\n{}\n", m.trim_end()));
    }
    msg.push_str(&format!("\nPromote-Action: {action}\n"));
    for (env, branch, rec) in previews {
        msg.push_str(&format!(
            "Promote-Env: {env}\nPromote-Branch: {branch}\nPromote-Record: {}\n",
            rec.id
        ));
    }
    if let Some(ci) = previews.first().and_then(|(_, _, r)| r.actor.ci.as_ref()) {
        if let Some(url) = ci.url.as_ref().or(ci.build.as_ref()) {
            msg.push_str(&format!("Promote-CI: {} {url}\n", ci.system));
        }
    }
    msg
}

// ---------------------------------------------------------------------------------------------
// Applying and reporting.

enum Applied {
    NoOp(Plan),
    DryRun(Plan),
    Committed(Plan, String),
}

fn run(dir: &Path, op: &Op, opts: &Opts) -> Outcome {
    let (applied, push) = change::with_push(dir, opts.push && !opts.dry_run, |ctx| {
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
fn apply(ctx: &Ctx, op: &Op, dry_run: bool) -> Result<Applied> {
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

fn report(op: &Op, applied: &Applied, opts: &Opts, push: Option<Push>) -> Outcome {
    let (plan, commit, dry_run) = match applied {
        Applied::NoOp(p) => (p, None, false),
        Applied::DryRun(p) => (p, None, true),
        Applied::Committed(p, c) => (p, Some(c.as_str()), false),
    };
    if opts.json {
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
            "pushed": push.as_ref().is_some_and(|p| p.pushed),
            "retries": push.as_ref().map(|p| p.attempts - 1).unwrap_or(0),
        });
        ui::data(&(serde_json::to_string_pretty(&s)? + "\n"));
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

fn item_line(it: &Item) -> String {
    let mut s = format!("  {}  branch `{}`  {}\n", it.namespace, it.branch, it.dir);
    if let Some(r) = &it.reason {
        s.push_str(&format!("    {r}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_lists_accept_ls_remote_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("heads");
        std::fs::write(
            &file,
            "1111111111111111111111111111111111111111\trefs/heads/main\n\
             2222222222222222222222222222222222222222\trefs/heads/feature/a\n\
             feature/b\n\n",
        )
        .unwrap();
        let set = keep_list(&["refs/heads/x".into()], Some(file.to_str().unwrap()))
            .unwrap()
            .unwrap();
        let want: BTreeSet<String> = ["main", "feature/a", "feature/b", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(set, want);
        assert_eq!(keep_list(&[], None).unwrap(), None);
    }

    #[test]
    fn an_empty_keep_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty");
        std::fs::write(&file, "\n").unwrap();
        let e = keep_list(&[], Some(file.to_str().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("every preview would be removed"), "{e}");
    }

    #[test]
    fn paths_must_stay_inside_the_previews_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(
            dir.path(),
            "registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\npreviews: {}\n",
        )
        .unwrap();
        let ok = |p: &str| ensure_inside(&config, "environments/prs", p).is_ok();
        assert!(ok("environments/prs/a/manifests/x.yaml"));
        assert!(ok("environments/prs/deploy.log"));
        assert!(!ok("environments/prs"));
        assert!(!ok("environments/prs/"));
        assert!(!ok("environments/prs/../dev/x"));
        assert!(!ok("environments/prs/a/../../dev/x"));
        assert!(!ok("environments/prsx/a"));
        assert!(!ok("environments/dev/manifests/x.yaml"));
        assert!(!ok("/etc/passwd"));

        std::fs::create_dir_all(dir.path().join("environments/prs")).unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("elsewhere"),
            dir.path().join("environments/prs/evil"),
        )
        .unwrap();
        let e = ensure_inside(
            &config,
            "environments/prs",
            "environments/prs/evil/manifests/x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn common_version_of_a_preview() {
        let mut meta = PreviewMeta {
            branch: "b".into(),
            slug: "b".into(),
            namespace: "pr-b".into(),
            host_prefix: "b.".into(),
            urls: None,
            created: "t".into(),
            updated: "t".into(),
            services: BTreeMap::new(),
            audit_head: None,
        };
        assert_eq!(common_version(&meta), None);
        let state = |v: &str| ServiceState {
            version: Version::parse(v).unwrap(),
            image: String::new(),
            from: None,
            commit: None,
            updated: String::new(),
        };
        meta.services.insert("a".into(), state("1234567"));
        meta.services.insert("b".into(), state("1234567"));
        assert_eq!(
            common_version(&meta).map(Version::short),
            Some("1234567".into())
        );
        meta.services.insert("c".into(), state("89abcde"));
        assert_eq!(common_version(&meta), None);
    }
}
