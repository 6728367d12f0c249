//! Planning: read-only. Reads the repository state, metadata and audit tail, renders in memory, and
//! returns exactly the file changes a command would make. Every check happens here, before anything
//! is written.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::audit::{self, Actor, Record, ServiceChange};
use crate::config::{is_manifest_name, Config, Environment, Layout};
use crate::error::UserError;
use crate::git::{self, Repo};
use crate::metadata::{Metadata, ServiceState};
use crate::render::{self, list_files, Problem};
use crate::version::Version;
use crate::write::{self, Change, Target};

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
pub fn problems_error(title: &str, problems: &[Problem]) -> anyhow::Error {
    let mut msg = title.to_string();
    let mut hints: Vec<String> = Vec::new();
    for p in problems {
        msg.push_str(&format!("\n  {p}"));
        if let Some(h) = &p.hint {
            if !hints.contains(h) {
                hints.push(h.clone());
            }
        }
    }
    let mut e = UserError::new(msg);
    for h in hints {
        e = e.hint(h);
    }
    e.into()
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

/// Renders `env` with `versions`; every problem becomes one error.
pub fn render_or_fail(
    config: &Config,
    env: &Environment,
    versions: &BTreeMap<String, Version>,
) -> Result<Vec<render::OutFile>> {
    let (files, problems) = render::render_env(config, env, versions)?;
    if !problems.is_empty() {
        return Err(problems_error(
            &format!("cannot render environment `{}`:", env.name),
            &problems,
        ));
    }
    Ok(files)
}

/// A change to one environment's versions, however it was asked for.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub env: String,
    /// `promote`, `set-image`, `rollback`.
    pub action: String,
    /// The source environment of a promotion.
    pub from: Option<String>,
    /// The versions wanted, for the services that should change.
    pub versions: BTreeMap<String, Version>,
    pub message: Option<String>,
}

/// One service's version change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionChange {
    pub service: String,
    pub before: Option<Version>,
    pub after: Option<Version>,
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
        self.versions.is_empty()
    }

    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|c| c.path.clone()).collect()
    }
}

/// Plans a version change: renders the environment with its current versions (which must match the
/// files as committed, so that the change holds nothing but new versions), then with the new ones.
pub fn build(ctx: &Ctx, req: ChangeRequest) -> Result<Plan> {
    let config = &ctx.config;
    let env = config.env(&req.env)?;
    let meta = Metadata::load(config, env)?;
    let old = meta.versions();
    let mut new = old.clone();
    for (svc, v) in &req.versions {
        config.service(svc)?;
        new.insert(svc.clone(), v.clone());
    }
    let versions: Vec<VersionChange> = new
        .iter()
        .filter(|(svc, v)| old.get(*svc) != Some(v))
        .map(|(svc, v)| VersionChange {
            service: svc.clone(),
            before: old.get(svc).cloned(),
            after: Some(v.clone()),
        })
        .collect();
    if versions.is_empty() {
        return Ok(Plan {
            request: req,
            versions,
            files: Vec::new(),
            record: None,
            commit_message: String::new(),
        });
    }

    // The environment as it is must render to what is on disk; otherwise the commit would carry
    // unrelated changes (a template edit not yet rendered, a hand edit to a manifest).
    if !old.is_empty() {
        let current = render::render_env(config, env, &old)?;
        if current.1.is_empty() {
            let drift = write::plan(&config.root, manifest_targets(config, env, current.0)?)?;
            if !drift.is_empty() {
                let list: Vec<String> = drift.iter().map(|c| format!("  {}", c.path)).collect();
                return Err(UserError::new(format!(
                    "environment `{}` has manifests that differ from what its templates render now:\n{}",
                    env.name,
                    list.join("\n")
                ))
                .hint(format!(
                    "run `promote render {}` and commit the result first (or `promote check` to see the differences)",
                    env.name
                ))
                .hint("a promotion only changes versions, so it will not mix in other changes")
                .into());
            }
        }
    }
    let files = render_or_fail(config, env, &new)?;
    let mut targets = manifest_targets(config, env, files)?;

    let now = audit::now()?;
    let time = audit::timestamp(now);
    let head = ctx.repo.head();
    let (name, email) = git::identity(&config.root)?;
    let log_path = config.abs(&env.deploy_log);
    let log = std::fs::read(&log_path).unwrap_or_default();
    let mut record = Record {
        id: String::new(),
        time: time.clone(),
        env: env.name.clone(),
        action: req.action.clone(),
        from: req.from.clone(),
        changes: versions
            .iter()
            .map(|c| ServiceChange {
                service: c.service.clone(),
                before: c.before.as_ref().map(|v| v.to_string()),
                after: c.after.as_ref().map(|v| v.to_string()),
            })
            .collect(),
        actor: Actor {
            name,
            email,
            ci: audit::ci_from_env(|k| std::env::var(k).ok()),
        },
        message: req.message.clone(),
        commit: head.clone(),
        prev: audit::tail_hash(&log),
    };
    let line = record.seal();

    let mut meta = meta;
    meta.refresh_from_config(env);
    for c in &versions {
        let svc = config.service(&c.service)?;
        if let Some(v) = &c.after {
            meta.services.insert(
                c.service.clone(),
                ServiceState {
                    version: v.clone(),
                    image: v.reference(&svc.image),
                    from: req.from.clone(),
                    commit: head.clone(),
                    updated: time.clone(),
                },
            );
        }
    }
    meta.updated = Some(time);
    meta.audit_head = Some(audit::sha256_hex(line.trim_end_matches('\n').as_bytes()));
    targets.insert(env.metadata.clone(), Target::Write(meta.to_bytes()));
    targets.insert(env.deploy_log.clone(), Target::Append(line.into_bytes()));

    let files = write::plan(&config.root, targets)?;
    let commit_message = commit_message(&req, &versions, &record);
    Ok(Plan {
        request: req,
        versions,
        files,
        record: Some(record),
        commit_message,
    })
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
    let first = &versions[0];
    let mut subject = format!(
        "{what}: {} {} -> {}",
        first.service,
        short(&first.before),
        short(&first.after)
    );
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
    msg.push_str(&format!("Promote-Record: {}\n", record.id));
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
        return Err(UserError::new(format!(
            "`{}` is the start of the pipeline: it takes no promotions",
            env.name
        ))
        .hint(format!(
            "set its versions directly: `promote set-image {} --sha <sha>`",
            env.name
        ))
        .into());
    };
    if let Some(f) = from {
        config.env(f)?;
        if f != allowed {
            return Err(UserError::new(format!(
                "`{}` takes versions only from `{allowed}`, not from `{f}`",
                env.name
            ))
            .hint(format!(
                "promote `{allowed}` first, then run `promote to {}`",
                env.name
            ))
            .hint("environments cannot be skipped: the pipeline is declared in `promote.yaml`")
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
        return Err(UserError::new(format!(
            "`{}` runs no versions yet: there is nothing to promote from it",
            source.name
        ))
        .hint(format!(
            "set them first: `promote set-image {} --sha <sha>`",
            source.name
        ))
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
                    return Err(UserError::new(format!(
                        "`{}` does not run `{svc}`: there is no version to promote",
                        source.name
                    ))
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
    })
}
