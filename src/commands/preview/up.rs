//! `promote preview up BRANCH --sha SHA`: render the preview of a branch at one version.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::json;

use crate::apply::files::{self, Target};
use crate::error::{Blocked, Failure};
use crate::model::audit;
use crate::model::config::{merge, Config, Environment, Layout, Previews};
use crate::model::metadata::ServiceState;
use crate::model::slug;
use crate::model::version::Version;
use crate::plan::{problems_error, Ctx, VersionChange};
use crate::render;

use super::{plan::*, state::*};

/// Which slug `branch` has or gets: its own preview under any candidate, else the first free one.
pub(super) fn locate(
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

pub(super) fn plan_up(
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
    let mut targets = manifest_targets(ctx, &manifests, files)?;
    let manifest_changes = files::plan(&config.root, targets.clone())?;
    let changes = version_changes(&old, &new);
    if changes.is_empty() && manifest_changes.is_empty() {
        return Ok(Plan::empty("preview-up"));
    }

    // STEP 3: the audit record, then the metadata that names it.
    let who = who(ctx)?;
    let log_path = format!("{dir}/deploy.log");
    let log = verified_log(ctx, &log_path, &namespace, branch)?;
    let mut rec = record(
        &who,
        &namespace,
        "preview-up",
        &changes,
        message.clone(),
        audit::tail_hash(&log),
    );
    let line = rec.seal();
    let mut meta =
        existing.unwrap_or_else(|| new_meta(branch, &slug, &namespace, &host_prefix, &who));
    meta.slug = slug.clone();
    meta.namespace = namespace.clone();
    meta.host_prefix = host_prefix.clone();
    meta.urls = urls.clone();
    meta.updated = who.time.clone();
    meta.services.retain(|s, _| new.contains_key(s));
    set_versions(&mut meta, config, &changes, &who)?;
    meta.audit_head = Some(audit::sha256_hex(line.trim_end_matches('\n').as_bytes()));
    targets.insert(meta_path(&dir), Target::Write(meta.to_bytes()));
    targets.insert(log_path, Target::Append(line.into_bytes()));

    // STEP 4: the commit message.
    let (what, body) = describe(branch, &namespace, &dir, version, &old, &changes);
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

/// The metadata of a preview that does not exist yet.
fn new_meta(
    branch: &str,
    slug: &str,
    namespace: &str,
    host_prefix: &str,
    who: &Who,
) -> PreviewMeta {
    PreviewMeta {
        branch: branch.to_string(),
        slug: slug.to_string(),
        namespace: namespace.to_string(),
        host_prefix: host_prefix.to_string(),
        urls: None,
        created: who.time.clone(),
        updated: who.time.clone(),
        services: BTreeMap::new(),
        audit_head: None,
    }
}

/// The preview's manifests exactly as rendered: stale ones (committed, no longer rendered) go.
fn manifest_targets(
    ctx: &Ctx,
    manifests: &str,
    files: Vec<render::OutFile>,
) -> Result<BTreeMap<String, Target>> {
    let config = &ctx.config;
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    for path in walk(config, manifests)? {
        if ctx.repo.read_at_head(&path).is_some() {
            targets.insert(path, Target::Delete);
        }
    }
    for f in files {
        targets.insert(f.path, Target::Write(f.bytes));
    }
    Ok(targets)
}

/// The preview's deploy.log, which must verify before a record is added to it.
fn verified_log(ctx: &Ctx, log_path: &str, namespace: &str, branch: &str) -> Result<Vec<u8>> {
    let config = &ctx.config;
    // The preview's trail must verify before a record is added to it (#17); `preview down`, which
    // removes the preview with its log, stays possible.
    let (broken, log, _, _) = crate::plan::anchor::log_problems(config, &ctx.repo, log_path)?;
    if !broken.is_empty() {
        return Err(Failure::PreviewAuditBroken {
            namespace: namespace.to_string(),
            broken,
            log: log_path.to_string(),
            branch: branch.to_string(),
        }
        .into());
    }
    Ok(log)
}

/// The metadata's services: the version each now runs.
fn set_versions(
    meta: &mut PreviewMeta,
    config: &Config,
    changes: &[VersionChange],
    who: &Who,
) -> Result<()> {
    for c in changes {
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
    Ok(())
}

/// The commit message's subject (what changed) and body (where, and each service's versions).
fn describe(
    branch: &str,
    namespace: &str,
    dir: &str,
    version: &Version,
    old: &BTreeMap<String, Version>,
    changes: &[VersionChange],
) -> (String, String) {
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
        for c in changes {
            body.push_str(&format!(
                "{:w$}  {} -> {}\n",
                c.service,
                short(c.before.as_ref()),
                short(c.after.as_ref())
            ));
        }
    }
    (what, body)
}

/// The manifests of the preview `slug`, in memory; every problem becomes one error.
pub(super) fn render_preview(
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
pub(super) fn with_slug(values: &serde_json::Value, slug: &str) -> serde_json::Value {
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
