//! Planning: read-only. Reads the repository state, metadata and audit tail, renders in memory, and
//! returns exactly the file changes a command would make. Every check happens here, before anything
//! is written.

pub mod anchor;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::apply::files::{self, Change, Target};
use crate::cache::memo::Memo;
use crate::error::{Blocked, Failure};
use crate::git::Listing;
use crate::git::{self, Repo};
use crate::model::audit::{self, Actor, Record, ServiceChange};
use crate::model::config::{is_manifest_name, Config, Environment, Layout};
use crate::model::gates::{self, Refusal};
use crate::model::metadata::{Hold, Metadata, ServiceState};
use crate::model::version::Version;
use crate::render::{self, list_files, OutFile, Problem, Rendered};

/// The repository and its config, opened once per command.
pub struct Ctx {
    pub repo: Repo,
    pub config: Config,
}

impl Ctx {
    pub fn open(dir: &Path) -> Result<Ctx> {
        let repo = Repo::discover(dir)?;
        let config = Config::load(&repo.root)?;
        Ok(Ctx { repo, config })
    }
}

/// An error listing every problem found, one per line, with their hints.
pub fn problems_error(blocked: Blocked, problems: &[Problem]) -> anyhow::Error {
    let mut hints: Vec<String> = Vec::new();
    for p in problems {
        if let Some(h) = &p.hint {
            if !hints.contains(h) {
                hints.push(h.clone());
            }
        }
    }
    Failure::Problems {
        blocked,
        problems: problems.iter().map(|p| p.to_string()).collect(),
        hints,
    }
    .into()
}

/// The targets that make an environment's manifests exactly `files`: every rendered file, and in the
/// native layout (where promote owns the synced directory) the deletion of manifests no template makes.
pub fn manifest_targets(
    config: &Config,
    env: &Environment,
    files: Vec<render::OutFile>,
) -> Result<BTreeMap<String, Target>> {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    if config.layout == Layout::Native {
        for rel in list_files(&config.root, &env.manifests)? {
            if is_manifest_name(&rel) && !rel.contains('/') {
                targets.insert(format!("{}/{rel}", env.manifests), Target::Delete);
            }
        }
    }
    for f in files {
        targets.insert(f.path, Target::Write(f.bytes));
    }
    Ok(targets)
}

/// The current bytes of `paths` (None: absent). With `index` (git's index, after a dirty check
/// found the environment's directories clean and `unfiltered` holds), a manifest is not read when
/// the index proves it holds what the old render (`old`) says: every tracked file there holds its
/// index blob, so the same blob id is the same bytes.
fn current_manifests(
    config: &Config,
    env: &Environment,
    paths: &[&String],
    old: Option<&BTreeMap<String, Target>>,
    index: Option<&crate::git::Index>,
) -> Result<BTreeMap<String, Option<Vec<u8>>>> {
    let (Some(old), Some(entries)) = (old, index) else {
        return files::read_current(&config.root, paths);
    };
    let under = |p: &str| {
        [&env.manifests, &env.dir].iter().any(|d| {
            p.strip_prefix(d.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })
    };
    let proven: Vec<Option<(String, Vec<u8>)>> = crate::par::chunks(paths, |chunk| {
        chunk
            .iter()
            .map(|p| {
                let Some(Target::Write(bytes)) = old.get(*p) else {
                    return None;
                };
                if !under(p) {
                    return None;
                }
                (entries.blob(p)? == crate::git::blob_id(bytes))
                    .then(|| ((*p).clone(), bytes.clone()))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut current = BTreeMap::new();
    let mut rest = Vec::new();
    for (p, known) in paths.iter().zip(proven) {
        match known {
            Some((path, bytes)) => {
                current.insert(path, Some(bytes));
            }
            None => rest.push(*p),
        }
    }
    current.extend(files::read_current(&config.root, &rest)?);
    Ok(current)
}

/// Does git store the environment's files exactly as they are in the work tree (no line-ending
/// conversion, no attributes that could filter them)?
fn unfiltered(config: &Config, env: &Environment, repo: &Repo) -> bool {
    if !repo.stores_files_as_is() {
        return false;
    }
    // `.gitattributes` in the root or any directory down to the environment's.
    let mut dirs = vec![config.root.clone()];
    for d in [&env.dir, &env.manifests] {
        let mut at = config.root.clone();
        for part in d.split('/') {
            at.push(part);
            dirs.push(at.clone());
        }
    }
    !dirs.iter().any(|d| d.join(".gitattributes").exists())
}

/// Renders `env` with `versions`; every problem becomes one error.
pub fn render_or_fail(
    config: &Config,
    env: &Environment,
    versions: &BTreeMap<String, Version>,
) -> Result<Vec<render::OutFile>> {
    let (files, problems) = render::render_env(config, env, versions)?;
    if !problems.is_empty() {
        return Err(problems_error(
            Blocked::Render {
                env: env.name.clone(),
            },
            &problems,
        ));
    }
    Ok(files)
}

/// A change to one environment's versions, however it was asked for.
#[derive(Debug, Clone, Default)]
pub struct ChangeRequest {
    pub env: String,
    /// `promote`, `set-image`, `rollback`, `hold`, `unhold`.
    pub action: String,
    /// The source environment of a promotion.
    pub from: Option<String>,
    /// The versions wanted, for the services that should change.
    pub versions: BTreeMap<String, Version>,
    /// Services the environment should stop running (a rollback to before they arrived).
    pub remove: Vec<String>,
    pub message: Option<String>,
    /// The record a rollback returns to.
    pub target: Option<String>,
    /// Set (`Some(reason)`) or clear (`None`) the environment's hold.
    pub hold: Option<Option<String>>,
    /// Why the gates were overridden, if they were.
    pub gates_overridden: Option<String>,
    /// Why the change was let build on an audit trail that does not verify, and what was wrong.
    pub audit_repaired: Option<String>,
    /// More trailers for the commit message (`Promote-Request:` of a pull request's commit).
    pub trailers: Vec<String>,
}

/// One service's version change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionChange {
    pub service: String,
    pub before: Option<Version>,
    pub after: Option<Version>,
}

impl VersionChange {
    /// The change as deploy.log records it.
    pub fn recorded(&self) -> ServiceChange {
        ServiceChange {
            service: self.service.clone(),
            before: self.before.as_ref().map(ToString::to_string),
            after: self.after.as_ref().map(ToString::to_string),
        }
    }
}

/// What a change would do.
#[derive(Debug)]
pub struct Plan {
    pub request: ChangeRequest,
    pub versions: Vec<VersionChange>,
    pub files: Vec<Change>,
    pub record: Option<Record>,
    pub commit_message: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|c| c.path.clone()).collect()
    }
}

/// What a request changes in its environment: the versions before and after, the services that
/// change, and whether the hold changes.
struct Delta {
    old: BTreeMap<String, Version>,
    new: BTreeMap<String, Version>,
    versions: Vec<VersionChange>,
    hold_changes: bool,
}

fn delta(config: &Config, meta: &Metadata, req: &ChangeRequest) -> Result<Delta> {
    let old = meta.versions();
    let mut new = old.clone();
    for (svc, v) in &req.versions {
        config.service(svc)?;
        new.insert(svc.clone(), v.clone());
    }
    for svc in &req.remove {
        new.remove(svc);
    }
    // Services in the order `promote.yaml` declares them, as `status` shows them.
    let position: std::collections::HashMap<&str, usize> = config
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let order = |svc: &String| position.get(svc.as_str()).copied().unwrap_or(usize::MAX);
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort_by_key(|s| (order(s), s.as_str()));
    names.dedup();
    let versions: Vec<VersionChange> = names
        .into_iter()
        .filter(|svc| old.get(*svc) != new.get(*svc))
        .map(|svc| VersionChange {
            service: svc.clone(),
            before: old.get(svc).cloned(),
            after: new.get(svc).cloned(),
        })
        .collect();
    let hold_changes = match &req.hold {
        Some(Some(reason)) => meta.hold.as_ref().map(|h| &h.reason) != Some(reason),
        Some(None) => meta.hold.is_some(),
        None => false,
    };
    Ok(Delta {
        old,
        new,
        versions,
        hold_changes,
    })
}

/// Whether a request changes anything at all (otherwise it is a no-op, which reads only the
/// metadata).
pub fn changes_anything(ctx: &Ctx, req: &ChangeRequest) -> Result<bool> {
    let config = &ctx.config;
    let meta = Metadata::load(config, config.env(&req.env)?)?;
    let d = delta(config, &meta, req)?;
    Ok(!d.versions.is_empty() || d.hold_changes)
}

/// Plans a version change: renders the environment with its current versions (which must match the
/// files as committed, so that the change holds nothing but new versions), then with the new ones.
pub fn build(ctx: &Ctx, req: ChangeRequest) -> Result<Plan> {
    build_with(ctx, req, None)
}

/// [`build`], right after a dirty check of the environment's directories found them clean (and
/// listed them): the manifests git's index proves equal to the old render need not be read (see
/// `current_manifests`), and the templates are those the check saw.
pub fn build_checked(ctx: &Ctx, req: ChangeRequest, listing: &Listing) -> Result<Plan> {
    build_with(ctx, req, Some(listing))
}

fn build_with(ctx: &Ctx, req: ChangeRequest, checked: Option<&Listing>) -> Result<Plan> {
    let config = &ctx.config;
    let env = config.env(&req.env)?;
    let meta = Metadata::load(config, env)?;
    let Delta {
        old,
        new,
        versions,
        hold_changes,
    } = delta(config, &meta, &req)?;
    if versions.is_empty() && !hold_changes {
        return Ok(Plan {
            request: req,
            versions,
            files: Vec::new(),
            record: None,
            commit_message: String::new(),
        });
    }

    let mut files = Vec::new();
    if !versions.is_empty() {
        let index = checked.map(|listing| (&ctx.repo, listing));
        files = manifest_changes(config, env, &old, &new, index)?;
    }
    crate::ui::trace("record and metadata");

    let stamp = Stamp {
        time: audit::timestamp(audit::now()?),
        head: ctx.repo.head(),
        identity: git::identity(&config.root)?,
    };
    let (record, line) = new_record(config, env, &req, &versions, &stamp);
    let meta = new_metadata(config, env, meta, &req, &versions, &stamp, &line)?;
    let mut targets = BTreeMap::new();
    targets.insert(env.metadata.clone(), Target::Write(meta.to_bytes()));
    targets.insert(env.deploy_log.clone(), Target::Append(line.into_bytes()));
    files.retain(|c| !targets.contains_key(&c.path));
    files.extend(files::plan(&config.root, targets)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    crate::ui::trace("planned");
    let commit_message = commit_message(&req, &versions, &record);
    Ok(Plan {
        request: req,
        versions,
        files,
        record: Some(record),
        commit_message,
    })
}

/// When and on what a change is made, and by whom: what its record and the metadata carry.
struct Stamp {
    time: String,
    /// The config-repo commit the change is made on.
    head: Option<String>,
    /// The git identity: name and email.
    identity: (String, String),
}

/// The audit record of the change, and its line for deploy.log (sealed: its id and the hash of the
/// record before it).
fn new_record(
    config: &Config,
    env: &Environment,
    req: &ChangeRequest,
    versions: &[VersionChange],
    stamp: &Stamp,
) -> (Record, String) {
    let log_path = config.abs(&env.deploy_log);
    let log = std::fs::read(&log_path).unwrap_or_default();
    let (name, email) = &stamp.identity;
    let mut record = Record {
        id: String::new(),
        time: stamp.time.clone(),
        env: env.name.clone(),
        action: req.action.clone(),
        from: req.from.clone(),
        changes: versions.iter().map(VersionChange::recorded).collect(),
        actor: Actor {
            name: name.clone(),
            email: email.clone(),
            ci: audit::ci_from_env(|k| std::env::var(k).ok()),
        },
        message: req.message.clone(),
        target: req.target.clone(),
        gates_overridden: req.gates_overridden.clone(),
        audit_repaired: req.audit_repaired.clone(),
        commit: stamp.head.clone(),
        prev: audit::tail_hash(&log),
    };
    let line = record.seal();
    (record, line)
}

/// The environment's metadata after the change: the new versions, the hold, and the hash of the
/// record `line` it appends.
fn new_metadata(
    config: &Config,
    env: &Environment,
    mut meta: Metadata,
    req: &ChangeRequest,
    versions: &[VersionChange],
    stamp: &Stamp,
    line: &str,
) -> Result<Metadata> {
    meta.refresh_from_config(env);
    for c in versions {
        let svc = config.service(&c.service)?;
        match &c.after {
            Some(v) => {
                meta.services.insert(
                    c.service.clone(),
                    ServiceState {
                        version: v.clone(),
                        image: v.reference(&svc.image),
                        from: req.from.clone(),
                        commit: stamp.head.clone(),
                        updated: stamp.time.clone(),
                    },
                );
            }
            None => {
                meta.services.remove(&c.service);
            }
        }
    }
    match &req.hold {
        Some(Some(reason)) => {
            let (name, email) = &stamp.identity;
            meta.hold = Some(Hold {
                reason: reason.clone(),
                by: format!("{name} <{email}>"),
                since: stamp.time.clone(),
            })
        }
        Some(None) => meta.hold = None,
        None => {}
    }
    meta.updated = Some(stamp.time.clone());
    meta.audit_head = Some(audit::sha256_hex(line.trim_end_matches('\n').as_bytes()));
    Ok(meta)
}

/// The manifest changes that take `env` from the `old` versions to the `new` ones. Each template is
/// read once and rendered with both; each manifest is read once. The environment as it is must
/// render to what is on disk (otherwise the commit would carry unrelated changes: a template edit
/// not yet rendered, a hand edit to a manifest), and only the outputs whose bytes change are
/// validated (the others were validated when they were written).
fn manifest_changes(
    config: &Config,
    env: &Environment,
    old: &BTreeMap<String, Version>,
    new: &BTreeMap<String, Version>,
    checked: Option<(&Repo, &Listing)>,
) -> Result<Vec<Change>> {
    crate::ui::trace("render");
    let sets = if old.is_empty() {
        vec![new]
    } else {
        vec![old, new]
    };
    let index = clean_index(config, env, checked);
    crate::ui::trace("render: index read");
    let mut memo = match &index {
        Some((git_dir, entries)) if config.layout == Layout::Legacy && !old.is_empty() => {
            Some(load_memo(config, env, git_dir, entries))
        }
        _ => None,
    };
    let listing = checked.map(|(_, listing)| listing);
    let (before, after) = render_old_new(config, env, &sets, memo.as_ref(), listing)?;
    // When the current versions do not render (the new ones will say why), there is nothing to
    // compare with.
    let old_targets = match before {
        Some(b) if b.problems.is_empty() => Some(manifest_targets(config, env, b.files)?),
        _ => None,
    };
    let new_targets = manifest_targets(config, env, after.files.clone())?;
    crate::ui::trace("read manifests");
    let mut paths: std::collections::BTreeSet<&String> = new_targets.keys().collect();
    if let Some(o) = &old_targets {
        paths.extend(o.keys());
    }
    let paths: Vec<&String> = paths.into_iter().collect();
    let disk = current_manifests(
        config,
        env,
        &paths,
        old_targets.as_ref(),
        index.as_ref().map(|(_, e)| e),
    )?;
    if let Some(o) = old_targets {
        check_drift(env, &disk, o)?;
    }
    crate::ui::trace("validate");
    validate(env, after.problems, &after.files, &disk)?;
    if let Some((memo, _)) = &mut memo {
        memo.learn(&after.files);
        memo.save();
    }
    Ok(files::plan_against(&disk, new_targets))
}

/// Git's index, after a clean dirty check and when git stores the environment's files as they are:
/// it then holds every file's blob id.
fn clean_index<'r>(
    config: &Config,
    env: &Environment,
    checked: Option<(&'r Repo, &Listing)>,
) -> Option<(&'r Path, crate::git::Index)> {
    match checked {
        Some((repo, _)) if unfiltered(config, env, repo) => {
            let git_dir = repo.git_dir();
            crate::git::Index::shared(git_dir).map(|e| (git_dir, e))
        }
        _ => None,
    }
}

/// Legacy templates that do not use versions, known to render to what their manifests hold: the
/// memo, and the templates it settles.
fn load_memo(
    config: &Config,
    env: &Environment,
    git_dir: &Path,
    entries: &crate::git::Index,
) -> (Memo, HashSet<String>) {
    let key = crate::cache::state::key(config, env, &BTreeMap::new());
    let mut memo = Memo::load(git_dir, env, key);
    crate::ui::trace("render: memo loaded");
    let settled = memo.settled(env, entries);
    crate::ui::trace("render: memo settled");
    (memo, settled)
}

/// Renders `sets` (the old versions, if any, and the new ones), skipping the templates the memo
/// settles: what the old versions render, if there are any, and what the new ones do.
fn render_old_new(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
    memo: Option<&(Memo, HashSet<String>)>,
    listing: Option<&Listing>,
) -> Result<(Option<Rendered>, Rendered)> {
    let mut rendered = match memo {
        Some((_, settled)) => render::render_legacy_except(
            config,
            env,
            sets,
            listing.and_then(|listing| listing.files(&env.dir)),
            &|template: &str| settled.contains(template),
            true,
        )?,
        None => render::render_sets(config, env, sets)?,
    }
    .into_iter();
    let before = if sets.len() > 1 {
        rendered.next()
    } else {
        None
    };
    let after = rendered.next().unwrap_or_default();
    Ok((before, after))
}

/// The environment as it is must render to what is on disk.
fn check_drift(
    env: &Environment,
    disk: &BTreeMap<String, Option<Vec<u8>>>,
    old_targets: BTreeMap<String, Target>,
) -> Result<()> {
    let drift = files::plan_against(disk, old_targets);
    if drift.is_empty() {
        return Ok(());
    }
    Err(Failure::Drift {
        env: env.name.clone(),
        files: drift.iter().map(|c| c.path.clone()).collect(),
    }
    .into())
}

/// The problems of the new render, and of the outputs whose bytes change (the others were
/// validated when they were written).
fn validate(
    env: &Environment,
    mut problems: Vec<Problem>,
    files: &[OutFile],
    disk: &BTreeMap<String, Option<Vec<u8>>>,
) -> Result<()> {
    problems.extend(render::validate_files(files, |f| {
        disk.get(&f.path).and_then(|b| b.as_deref()) == Some(f.bytes.as_slice())
    }));
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems_error(
        Blocked::Render {
            env: env.name.clone(),
        },
        &problems,
    ))
}

fn short(v: &Option<Version>) -> String {
    v.as_ref()
        .map(Version::short)
        .unwrap_or_else(|| "(none)".into())
}

/// `promote staging -> prod: api a252dcc -> b3f1e2d (+3 more)`, the full list, and trailers.
fn commit_message(req: &ChangeRequest, versions: &[VersionChange], record: &Record) -> String {
    let what = match (&req.action[..], &req.from) {
        ("promote", Some(from)) => format!("promote {from} -> {}", req.env),
        (action, _) => format!("{action} {}", req.env),
    };
    let mut subject = match (versions.first(), &req.hold) {
        (Some(first), _) => format!(
            "{what}: {} {} -> {}",
            first.service,
            short(&first.before),
            short(&first.after)
        ),
        (None, Some(Some(reason))) => format!("{what}: {}", reason.lines().next().unwrap_or("")),
        (None, _) => what.clone(),
    };
    if versions.len() > 1 {
        subject.push_str(&format!(" (+{} more)", versions.len() - 1));
    }
    let width = versions.iter().map(|c| c.service.len()).max().unwrap_or(0);
    let mut body = String::new();
    for c in versions {
        body.push_str(&format!(
            "{:width$}  {} -> {}\n",
            c.service,
            short(&c.before),
            short(&c.after)
        ));
    }
    let mut msg = format!("{subject}\n\n{body}");
    if let Some(m) = &req.message {
        msg.push_str(&format!("\n{}\n", m.trim_end()));
    }
    msg.push_str(&format!(
        "\nPromote-Action: {}\nPromote-Env: {}\n",
        req.action, req.env
    ));
    if let Some(from) = &req.from {
        msg.push_str(&format!("Promote-From: {from}\n"));
    }
    if let Some(t) = &req.target {
        msg.push_str(&format!("Promote-Rollback-To: {t}\n"));
    }
    if let Some(why) = &req.gates_overridden {
        msg.push_str(&format!(
            "Promote-Gates-Overridden: {}\n",
            why.lines().next().unwrap_or("")
        ));
    }
    if let Some(why) = &req.audit_repaired {
        msg.push_str(&format!(
            "Promote-Audit-Repaired: {}\n",
            why.lines().next().unwrap_or("")
        ));
    }
    msg.push_str(&format!("Promote-Record: {}\n", record.id));
    for t in &req.trailers {
        msg.push_str(&format!("{}\n", t.lines().next().unwrap_or("")));
    }
    if let Some(ci) = &record.actor.ci {
        if let Some(url) = ci.url.as_ref().or(ci.build.as_ref()) {
            msg.push_str(&format!("Promote-CI: {} {url}\n", ci.system));
        }
    }
    msg
}

/// The source environment of a promotion into `env`: the one it takes from. `--from` may name it,
/// but nothing else is accepted (no skipping environments).
pub fn source_env<'a>(
    config: &'a Config,
    env: &Environment,
    from: Option<&str>,
) -> Result<&'a Environment> {
    let Some(allowed) = &env.from else {
        return Err(Failure::PipelineStart {
            env: env.name.clone(),
        }
        .into());
    };
    if let Some(f) = from {
        config.env(f)?;
        if f != allowed {
            return Err(Failure::WrongSource {
                env: env.name.clone(),
                allowed: allowed.clone(),
                from: f.to_string(),
            }
            .into());
        }
    }
    config.env(allowed)
}

/// The request `promote to ENV` makes: the source's versions, for all or `only` its services.
pub fn promotion(
    ctx: &Ctx,
    env: &str,
    from: Option<&str>,
    only: &[String],
    message: Option<String>,
) -> Result<ChangeRequest> {
    let config = &ctx.config;
    let target = config.env(env)?;
    let source = source_env(config, target, from)?;
    let source_versions = Metadata::load(config, source)?.versions();
    if source_versions.is_empty() {
        return Err(Failure::SourceEmpty {
            source: source.name.clone(),
            hint: source.versions_hint(),
        }
        .into());
    }
    let mut versions = BTreeMap::new();
    if only.is_empty() {
        versions = source_versions;
    } else {
        for svc in only {
            config.service(svc)?;
            match source_versions.get(svc) {
                Some(v) => {
                    versions.insert(svc.clone(), v.clone());
                }
                None => {
                    return Err(Failure::SourceLacksService {
                        source: source.name.clone(),
                        service: svc.to_string(),
                        hint: source.versions_hint(),
                    }
                    .into())
                }
            }
        }
    }
    Ok(ChangeRequest {
        env: target.name.clone(),
        action: "promote".into(),
        from: Some(source.name.clone()),
        versions,
        message,
        ..Default::default()
    })
}

/// Which gates refuse a request into its environment (empty: it may go). Rollbacks, holds and
/// unholds are not gated: they are how a person gets out of trouble. The command gate runs only when
/// `run_command` is set and every other gate passes; its output is returned either way.
pub fn gate_refusals(
    ctx: &Ctx,
    req: &ChangeRequest,
    run_command: bool,
) -> Result<(Vec<Refusal>, Option<String>)> {
    if !matches!(req.action.as_str(), "promote" | "set-image") {
        return Ok((Vec::new(), None));
    }
    let config = &ctx.config;
    let env = config.env(&req.env)?;
    let now = audit::now()?;
    let meta = Metadata::load(config, env)?;
    let mut refusals = Vec::new();
    if let Some(h) = &meta.hold {
        refusals.push(Refusal {
            gate: "hold".into(),
            service: None,
            reason: format!(
                "`{}` is on hold since {} by {}: {} (lift it with `promote unhold {}`)",
                env.name, h.since, h.by, h.reason, env.name
            ),
            until: None,
        });
    }
    refusals.extend(gates::check_freeze(&env.gates, &env.name, now));
    if let (Some(from), Some(_)) = (&req.from, &env.gates.soak) {
        let source = Metadata::load(config, config.env(from)?)?;
        for (svc, v) in &req.versions {
            if meta.services.get(svc).map(|s| &s.version) == Some(v) {
                continue; // not changing
            }
            if let Some(state) = source.services.get(svc) {
                refusals.extend(gates::check_soak(
                    &env.gates,
                    svc,
                    from,
                    &state.updated,
                    now,
                ));
            }
        }
    }
    let mut output = None;
    if let (Some(cmd), true, true) = (&env.gates.command, run_command, refusals.is_empty()) {
        let changed: Vec<String> = req
            .versions
            .iter()
            .map(|(s, v)| format!("{s}={v}"))
            .collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&config.root)
            .env("PROMOTE_ENV", &env.name)
            .env("PROMOTE_FROM", req.from.as_deref().unwrap_or(""))
            .env("PROMOTE_ACTION", &req.action)
            .env("PROMOTE_VERSIONS", changed.join(" "))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Failure::GateCommandFailed {
                env: env.name.clone(),
                command: cmd.to_string(),
                error: e.to_string(),
            })?;
        let mut text = String::from_utf8_lossy(&out.stdout).to_string();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            refusals.push(Refusal {
                gate: "command".into(),
                service: None,
                reason: format!(
                    "`{cmd}` exited with {}",
                    out.status
                        .code()
                        .map_or("a signal".into(), |c| c.to_string())
                ),
                until: None,
            });
        }
        output = Some(text);
    }
    Ok((refusals, output))
}

/// The request `promote rollback ENV [--to ID]` makes: undo the records after the target, newest
/// first, starting from what the environment runs now.
pub fn rollback(
    ctx: &Ctx,
    env: &str,
    to: Option<&str>,
    message: Option<String>,
) -> Result<ChangeRequest> {
    let config = &ctx.config;
    let env = config.env(env)?;
    let records = audit::records(&std::fs::read(config.abs(&env.deploy_log)).unwrap_or_default());
    let changing: Vec<&Record> = records.iter().filter(|r| !r.changes.is_empty()).collect();
    let Some(last) = changing.last() else {
        return Err(Failure::NothingToRollBack {
            env: env.name.clone(),
        }
        .into());
    };
    let (after, target): (Vec<&Record>, Option<String>) = match to {
        None => (
            vec![*last],
            changing
                .len()
                .checked_sub(2)
                .map(|i| changing[i].id.clone()),
        ),
        Some(id) => {
            let matches: Vec<usize> = records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.id.starts_with(id))
                .map(|(i, _)| i)
                .collect();
            let i = match (id.len() >= 4, matches.as_slice()) {
                (true, [i]) => *i,
                (true, []) | (false, _) => {
                    return Err(Failure::NoSuchRecord {
                        env: env.name.clone(),
                        id: id.to_string(),
                    }
                    .into())
                }
                (true, _) => return Err(Failure::AmbiguousRecord { id: id.to_string() }.into()),
            };
            (
                records[i + 1..].iter().collect(),
                Some(records[i].id.clone()),
            )
        }
    };
    let current = Metadata::load(config, env)?.versions();
    let mut wanted: BTreeMap<String, Option<Version>> = current
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    for r in after.iter().rev() {
        for c in &r.changes {
            let before = match &c.before {
                Some(b) => Some(
                    Version::parse(b).map_err(|e| Failure::RecordVersionInvalid {
                        id: r.id.clone(),
                        error: e.to_string(),
                    })?,
                ),
                None => None,
            };
            wanted.insert(c.service.clone(), before);
        }
    }
    let mut req = ChangeRequest {
        env: env.name.clone(),
        action: "rollback".into(),
        message,
        target,
        ..Default::default()
    };
    for (svc, v) in wanted {
        match v {
            Some(v) => {
                req.versions.insert(svc, v);
            }
            None if current.contains_key(&svc) => req.remove.push(svc),
            None => {}
        }
    }
    Ok(req)
}

/// The request `promote hold ENV --reason R` / `promote unhold ENV` makes.
pub fn hold(
    ctx: &Ctx,
    env: &str,
    reason: Option<String>,
    message: Option<String>,
) -> Result<ChangeRequest> {
    let env = ctx.config.env(env)?;
    let action = if reason.is_some() { "hold" } else { "unhold" };
    Ok(ChangeRequest {
        env: env.name.clone(),
        action: action.into(),
        message: message.or_else(|| reason.clone()),
        hold: Some(reason),
        ..Default::default()
    })
}
