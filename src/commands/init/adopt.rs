//! A sed-templated repository: lined up, proved and written in promote's format.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value as Json};

use super::{json_report, table, EnvPlan};
use crate::adopt::legacy::{
    self, Analysis, EnvProposal, Found, Proposal, DEPLOY_LOG, METADATA_FILE,
};
use crate::apply::files::{self, Target};
use crate::error::{exit, Blocked, Failure, Outcome};
use crate::git::{self, Repo};
use crate::model::audit;
use crate::model::config::{is_name, Config, CONFIG_FILE};
use crate::model::metadata::{Metadata, ServiceState};
use crate::plan::problems_error;
use crate::render::{self, Problem};
use crate::ui;

pub(super) fn adopt(repo: &Repo, found: &Found, dry_run: bool) -> Outcome {
    let root = &repo.root;

    // STEP 3: line every template up with its rendered file; every directory a valid environment.
    let (analysis, names) = analyse(root, found)?;

    // STEP 4: the pipeline, from the names (dev, then test/qa, then staging, then prod).
    let order = legacy::pipeline(&names);

    // STEP 5: the old metadata files and deploy.logs, as far as they can be read.
    let envs = read_old(root, found, &analysis, &order)?;

    // STEP 6: promote.yaml: layout legacy, the placeholders, each environment's values.
    let proposal = proposal(&analysis, found, &envs);
    let text = legacy::config_text(&proposal);
    let config = Config::parse(root, &text)
        .context("promote init wrote a promote.yaml that does not load (a bug)")?;

    // STEP 7: each environment's metadata, in promote's format.
    let targets = metadata_targets(repo, &config, &text, &envs)?;

    // STEP 8: the proof: every environment renders byte for byte as committed now.
    prove(root, &config, &envs)?;

    // STEP 9: refuse over uncommitted changes of the files it writes.
    refuse_dirty(repo, &targets)?;

    // STEP 10: write, and say what was found.
    let changes = files::plan(root, targets)?;
    if !dry_run {
        files::apply(root, &changes)?;
    }
    let mut written: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    written.sort_by_key(|p| p != CONFIG_FILE);
    if ui::mode().json {
        warnings(root, &envs, &config)?;
        return json_report("sed", &config, &written, dry_run);
    }
    // What was found: a report (not shown with `-q`).
    ui::result(super::explain::explain(&analysis, found, &envs, &config).trim_end());
    warnings(root, &envs, &config)?;
    if dry_run {
        ui::result(&format!(
            "dry run: nothing was written; `promote init` writes {}",
            written.join(", ")
        ));
        return Ok(exit::OK);
    }
    ui::result(&format!(
        "wrote {} (nothing is committed)",
        written.join(", ")
    ));
    next_steps(&config, &written);
    Ok(exit::OK)
}

/// STEP 3: line every template up with its rendered file: placeholders, values, services, versions;
/// and every directory must make a valid, distinct environment name. Returns the names too.
fn analyse(root: &Path, found: &Found) -> Result<(Analysis, Vec<String>)> {
    let mut analysis = legacy::analyse(root, found)?;
    let mut names: Vec<String> = Vec::new();
    for env in &found.envs {
        if !is_name(&env.name) || env.name == "prs" {
            analysis.problems.push(Problem::new(&env.dir, None, format!("cannot be an environment: `{}` is not a valid name (lowercase letters, digits, `-`)", env.name)));
        } else if names.contains(&env.name) {
            analysis.problems.push(Problem::new(
                &env.dir,
                None,
                format!(
                    "is environment `{}` as another directory is: rename one",
                    env.name
                ),
            ));
        }
        names.push(env.name.clone());
    }
    if !analysis.problems.is_empty() {
        return Err(problems_error(Blocked::Adopt, &analysis.problems));
    }
    Ok((analysis, names))
}

/// STEP 5: the old metadata files and deploy.logs, as far as they can be read, in pipeline order.
fn read_old<'a>(
    root: &Path,
    found: &'a Found,
    analysis: &Analysis,
    order: &[(String, Option<String>)],
) -> Result<Vec<(EnvPlan<'a>, Option<String>)>> {
    let services: Vec<String> = analysis.services.iter().map(|s| s.name.clone()).collect();
    let mut envs: Vec<(EnvPlan, Option<String>)> = Vec::new();
    for (name, from) in order {
        let i = found
            .envs
            .iter()
            .position(|e| &e.name == name)
            .context("environment lost")?;
        let f = &found.envs[i];
        let old = std::fs::read(root.join(f.path(METADATA_FILE)))
            .ok()
            .map(|b| legacy::read_old_metadata(&b, &services));
        let log = std::fs::read(root.join(f.path(DEPLOY_LOG))).unwrap_or_default();
        envs.push((
            EnvPlan {
                found: f,
                versions: analysis.versions[i].clone(),
                old,
                log,
            },
            from.clone(),
        ));
    }
    Ok(envs)
}

/// STEP 7: promote.yaml and each environment's metadata, in promote's format: the files init writes.
fn metadata_targets(
    repo: &Repo,
    config: &Config,
    text: &str,
    envs: &[(EnvPlan, Option<String>)],
) -> Result<BTreeMap<String, Target>> {
    let root = &repo.root;
    let now = audit::timestamp(audit::now()?);
    let head = repo.head();
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    targets.insert(
        CONFIG_FILE.to_string(),
        Target::Write(text.as_bytes().to_vec()),
    );
    for (e, _) in envs {
        let env = config.env(&e.found.name)?;
        let time = e
            .old
            .as_ref()
            .and_then(|o| o.time.clone())
            .or_else(|| last_change(root, &e.found.dir))
            .unwrap_or_else(|| now.clone());
        let mut meta = Metadata {
            environment: env.name.clone(),
            ..Default::default()
        };
        meta.refresh_from_config(env);
        for (svc, v) in &e.versions {
            let image = &config.service(svc)?.image;
            meta.services.insert(
                svc.clone(),
                ServiceState {
                    version: v.clone(),
                    image: v.reference(image),
                    from: None,
                    commit: head.clone(),
                    updated: time.clone(),
                },
            );
        }
        meta.updated = Some(time);
        if !e.log.is_empty() {
            // The last line the old script wrote: deleting it is caught like deleting a record.
            meta.audit_head = Some(audit::tail_hash(&e.log));
        }
        targets.insert(env.metadata.clone(), Target::Write(meta.to_bytes()));
    }
    Ok(targets)
}

/// STEP 8: the proof: render every environment in memory with that config and those versions;
/// every byte must be what is committed now.
fn prove(root: &Path, config: &Config, envs: &[(EnvPlan, Option<String>)]) -> Result<()> {
    let mut problems = Vec::new();
    let mut progress = ui::progress("init", envs.len());
    for (e, _) in envs {
        progress.step(&format!("proving `{}` renders byte for byte", e.found.name));
        let env = config.env(&e.found.name)?;
        let (files, p) = render::render_env(config, env, &e.versions)?;
        problems.extend(p);
        for f in files {
            let disk = std::fs::read(root.join(&f.path)).unwrap_or_default();
            if disk != f.bytes {
                problems.push(Problem::new(
                    &f.path,
                    crate::ui::diff::first_difference(&disk, &f.bytes),
                    format!(
                        "promote would render `{}` differently from this file as it is",
                        f.template
                    ),
                ));
            }
        }
    }
    drop(progress);
    if !problems.is_empty() {
        return Err(problems_error(Blocked::AdoptBytes, &problems));
    }
    Ok(())
}

/// STEP 9: refuse over uncommitted changes of the files it writes: the old metadata must be in git
/// history, which is where its old content stays.
fn refuse_dirty(repo: &Repo, targets: &BTreeMap<String, Target>) -> Result<()> {
    let paths: Vec<String> = targets.keys().cloned().collect();
    let dirty = repo.dirty(&paths)?;
    if !dirty.is_empty() {
        return Err(Failure::InitDirty { dirty }.into());
    }
    Ok(())
}

/// What to run next, after the files are written.
fn next_steps(config: &Config, written: &[String]) {
    let first_from = config.environments.iter().find(|e| e.from.is_some());
    let mut next = vec![
        (
            "promote render --check".to_string(),
            "the proof: no rendered byte changes".to_string(),
        ),
        (
            "promote check".to_string(),
            "the whole repository".to_string(),
        ),
        (
            format!(
                "git add {} && git commit -m \"Adopt promote\"",
                written.join(" ")
            ),
            "after reviewing them".to_string(),
        ),
    ];
    if let Some(e) = first_from {
        next.push((
            format!("promote to {}", e.name),
            format!("what `make promote ENV={}` did", e.name),
        ));
    }
    next.push((
        "promote migrate".to_string(),
        "later: shared minijinja templates (the native layout)".to_string(),
    ));
    ui::status(&format!("next:\n{}", table(&next, "  ")));
    if let Some(advice) = crate::commands::pr::approval_advice(config) {
        ui::status(&advice);
    }
}

/// The proposal for promote.yaml.
fn proposal(a: &Analysis, found: &Found, envs: &[(EnvPlan, Option<String>)]) -> Proposal {
    let mut out = Vec::new();
    for (e, from) in envs {
        let i = found
            .envs
            .iter()
            .position(|f| f.name == e.found.name)
            .unwrap_or(0);
        let mut values: Vec<(String, Json)> = a
            .placeholders
            .iter()
            .filter(|p| !p.is_version())
            .filter_map(|p| p.values[i].as_ref().map(|v| (p.key.clone(), json!(v))))
            .collect();
        if let Some(old) = &e.old {
            if !old.urls.is_empty() {
                values.push(("urls".into(), Json::Object(old.urls.clone())));
            }
            if let Some(d) = &old.database {
                values.push(("database".into(), d.clone()));
            }
            if let Some(k) = &old.kube_context {
                values.push(("kube_context".into(), k.clone()));
            }
        }
        out.push(EnvProposal {
            name: e.found.name.clone(),
            dir: (e.found.dir != e.found.name).then(|| e.found.dir.clone()),
            from: from.clone(),
            values,
        });
    }
    let previews = match (&found.preview_templates, &found.previews) {
        (None, None) => None,
        _ => Some(
            "Previews: `template/` and `prs/` belong to the old script's preview flow, which promote leaves as\n\
             it is. `promote preview` renders previews from a template directory of its own into\n\
             `previews.dir` (see \"Preview environments\" in the README), e.g.:\n\
             previews:\n  templates: template\n  dir: environments/prs"
                .to_string(),
        ),
    };
    Proposal {
        registry: a.registry.clone(),
        services: a.services.clone(),
        placeholders: a
            .placeholders
            .iter()
            .map(|p| (p.token.clone(), p.key.clone()))
            .collect(),
        envs: out,
        previews,
    }
}

/// When the environment's directory last changed in git (RFC 3339 UTC): the best guess at when its
/// versions arrived, when the old metadata says nothing.
fn last_change(root: &Path, dir: &str) -> Option<String> {
    let out = git::git(root, &["log", "-1", "--format=%cI", "--", dir]).ok()?;
    let t = chrono::DateTime::parse_from_rfc3339(out.trim()).ok()?;
    Some(audit::timestamp(t.with_timezone(&chrono::Utc)))
}

/// What promote will say about the repository later, said now.
fn warnings(root: &Path, envs: &[(EnvPlan, Option<String>)], config: &Config) -> Result<()> {
    for (e, _) in envs {
        if let Some(old) = &e.old {
            for (svc, v) in &old.versions {
                match e.versions.get(svc) {
                    Some(x) if x.to_string() != *v => ui::warn(&format!(
                        "`{}` says `{svc}` runs `{v}`, but the manifests run `{x}`: promote takes the manifests (what ArgoCD applies)",
                        e.found.path(METADATA_FILE)
                    )),
                    _ => {}
                }
            }
        }
        if let (_, Some((line, msg))) = audit::read(&e.log) {
            ui::warn(&format!(
                "`{}` (line {line}): {msg}; `promote log --verify` will report it",
                e.found.path(DEPLOY_LOG)
            ));
        }
        let mut problems = Vec::new();
        for p in &e.found.plain {
            let path = e.found.path(p);
            let bytes =
                std::fs::read(root.join(&path)).with_context(|| format!("cannot read `{path}`"))?;
            render::validate_manifest(&path, &bytes, &mut problems);
            let text = String::from_utf8_lossy(&bytes);
            for (ph, _) in &config.placeholders {
                if text.contains(ph.as_str()) {
                    problems.push(Problem::new(
                        &path,
                        None,
                        format!("still contains the placeholder `{ph}`"),
                    ));
                }
            }
        }
        for p in problems {
            ui::warn(&format!("{p}; `promote check` will report it"));
        }
    }
    Ok(())
}
