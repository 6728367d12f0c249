//! `promote check`: the whole repository in one pass, every problem reported, not the first.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use crate::apply::files;
use crate::error::{exit, Outcome};
use crate::git::Repo;
use crate::model::audit;
use crate::model::config::{is_manifest_name, Config, Environment, Layout};
use crate::model::metadata::Metadata;
use crate::plan::manifest_targets;
use crate::render::{list_files, render_env, validate_manifest, Problem};
use crate::ui;
use crate::ui::diff::unified;

/// The rendered files that differ from what is committed: as text for the terminal, as JSON for `--json`.
#[derive(Default)]
struct Drift {
    text: String,
    json: Vec<serde_json::Value>,
}

pub fn run(dir: &Path, json: bool) -> Outcome {
    // STEP 1: the config must load; without it nothing else can be checked.
    let repo = Repo::discover(dir)?;
    let config = Config::load(&repo.root)?;
    let mut problems: Vec<Problem> = Vec::new();
    journal_problem(&repo, &mut problems);
    let mut drift = Drift::default();
    let color = ui::color_stdout() && !json;

    let mut progress = ui::progress("check", config.environments.len());
    // The problems of the environments checked so far, each with its environment, to group them.
    let mut found: Vec<(String, Problem)> = Vec::new();
    let mut prev: Option<&str> = None;
    for env in &config.environments {
        progress.step(&format!("checking `{}`", env.name));
        if let Some(p) = prev {
            found.extend(problems.drain(..).map(|x| (p.to_string(), x)));
        }
        prev = Some(&env.name);
        let Some(meta) = check_metadata(&config, env, &mut problems) else {
            continue;
        };
        check_audit(&config, env, &meta, &mut problems);
        let rendered = check_rendered(&config, env, &meta, color, &mut drift, &mut problems)?;
        check_synced(&config, env, &rendered, &mut problems)?;
    }

    drop(progress);
    if let Some(p) = prev {
        found.extend(problems.drain(..).map(|x| (p.to_string(), x)));
    }
    let problems = crate::render::problems::group(found);
    report(&config, problems, drift, json)
}

/// A change a killed run left unfinished: the tree may be half the old, half the new.
fn journal_problem(repo: &Repo, problems: &mut Vec<Problem>) {
    match crate::apply::journal::read(repo.git_dir()) {
        Ok(None) => {}
        Ok(Some(r)) => problems.push(
            Problem::new(
                ".git/promote/journal",
                None,
                format!(
                    "an interrupted change {} ({}, pid {}) was not finished or undone: {} files may be half-written",
                    r.change,
                    r.what,
                    r.pid,
                    r.files.len()
                ),
            )
            .hint("`promote recover` repairs it (`--dry-run` says how first); every other promote command does too"),
        ),
        Err(e) => problems.push(Problem::new(".git/promote/journal", None, format!("{e:#}"))),
    }
}

/// STEP 2: metadata readable and consistent with the config; `None` when it cannot be read,
/// and the environment's other checks are skipped.
fn check_metadata(
    config: &Config,
    env: &Environment,
    problems: &mut Vec<Problem>,
) -> Option<Metadata> {
    let meta = match Metadata::load(config, env) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::new(&env.metadata, None, e.to_string()));
            return None;
        }
    };
    if meta.environment != env.name && !meta.environment.is_empty() {
        problems.push(Problem::new(
            &env.metadata,
            None,
            format!(
                "says it belongs to environment `{}`, but it is `{}`'s metadata file",
                meta.environment, env.name
            ),
        ));
    }
    for (svc, state) in &meta.services {
        match config.services.iter().find(|s| &s.name == svc) {
            None => problems.push(
                Problem::new(
                    &env.metadata,
                    None,
                    format!("names service `{svc}`, which `promote.yaml` does not declare"),
                )
                .hint("declare it under `services`, or remove it from the metadata"),
            ),
            Some(s) if state.image != state.version.reference(&s.image) => {
                problems.push(Problem::new(
                    &env.metadata,
                    None,
                    format!(
                        "service `{svc}`: image `{}` does not match version `{}` of `{}`",
                        state.image, state.version, s.image
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Some(meta)
}

/// STEP 3: the audit log's chain, and its last record against the metadata.
fn check_audit(config: &Config, env: &Environment, meta: &Metadata, problems: &mut Vec<Problem>) {
    let log = std::fs::read(config.abs(&env.deploy_log)).unwrap_or_default();
    let (_, bad) = audit::read(&log);
    if let Some((line, msg)) = bad {
        problems.push(Problem::new(&env.deploy_log, Some(line), msg));
    } else if let Some(head) = &meta.audit_head {
        if &audit::tail_hash(&log) != head {
            problems.push(Problem::new(
                &env.deploy_log,
                None,
                "its last record is not the one the metadata names: a record was deleted or added by hand",
            ));
        }
    }
}

/// STEP 4: every template renders, and the rendered files are what is committed.
/// Returns the paths rendered, which step 5 need not validate again.
fn check_rendered(
    config: &Config,
    env: &Environment,
    meta: &Metadata,
    color: bool,
    drift: &mut Drift,
    problems: &mut Vec<Problem>,
) -> Result<BTreeSet<String>> {
    let (files, p) = render_env(config, env, &meta.versions())?;
    let rendered: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let render_failed = !p.is_empty();
    problems.extend(p);
    if !render_failed {
        for c in files::plan(&config.root, manifest_targets(config, env, files)?)? {
            let msg = match (&c.before, &c.after) {
                (None, _) => "is not rendered yet".to_string(),
                (_, None) => {
                    "is not produced by any template (ArgoCD would still apply it)".to_string()
                }
                _ => "differs from what its template renders (edited by hand, or not re-rendered)"
                    .to_string(),
            };
            problems.push(
                Problem::new(&c.path, None, msg)
                    .hint("run `promote render` to update the rendered files"),
            );
            let d = unified(&c.path, c.after.as_deref(), c.before.as_deref(), color);
            drift
                .json
                .push(serde_json::json!({"path": c.path, "diff": d}));
            drift.text.push_str(&d);
        }
    }
    Ok(rendered)
}

/// STEP 5: everything ArgoCD syncs must be a valid manifest, and no placeholder may be left.
fn check_synced(
    config: &Config,
    env: &Environment,
    rendered: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    for rel in list_files(&config.root, &env.manifests)? {
        if rel.contains('/') {
            continue; // ArgoCD directory sources are not recursive by default
        }
        let path = format!("{}/{rel}", env.manifests);
        if !is_manifest_name(&path) {
            continue;
        }
        let bytes = std::fs::read(config.abs(&path))?;
        if rendered.contains(&path) {
            continue; // validated when it was rendered
        }
        let before = problems.len();
        validate_manifest(&path, &bytes, problems);
        let not_a_manifest = problems[before..]
            .iter()
            .any(|p| p.message.contains("no `apiVersion`") || p.message.contains("not a mapping"));
        if not_a_manifest {
            problems.truncate(before);
            problems.push(
                Problem::new(&path, None, format!("is not a manifest, but ArgoCD syncs `{}` and will try to apply it", env.manifests))
                    .hint("move it out of the synced directory, or give it a name ArgoCD ignores (e.g. `metadata.json.noargo`)"),
            );
        }
        if config.layout == Layout::Legacy {
            let text = String::from_utf8_lossy(&bytes);
            for (ph, _) in &config.placeholders {
                if let Some(at) = text.find(ph.as_str()) {
                    let line = text[..at].matches('\n').count() + 1;
                    problems.push(Problem::new(
                        &path,
                        Some(line),
                        format!("still contains the placeholder `{ph}`"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// STEP 6: report. Files in the template directories that are not templates are not rendered:
/// said, not counted as problems.
fn report(config: &Config, mut problems: Vec<Problem>, drift: Drift, json: bool) -> Outcome {
    if config.layout == Layout::Native {
        for f in crate::render::not_templates(config)? {
            ui::status(&format!(
                "note: `{f}` is not a manifest template (`.yaml`, `.yml`, `.json`) or a `_` partial: it is not rendered"
            ));
        }
    }
    let targets_checked = config.environments.len();
    problems.sort();
    problems.dedup();
    if json {
        let list: Vec<serde_json::Value> = problems
            .iter()
            .map(|p| serde_json::json!({"file": p.file, "line": p.line, "message": p.message, "hint": p.hint}))
            .collect();
        let doc = serde_json::json!({
            "environments": targets_checked,
            "ok": problems.is_empty(),
            "problems": list,
            "drift": drift.json,
        });
        ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(if problems.is_empty() {
            exit::OK
        } else {
            exit::FAILURE
        });
    }
    if !drift.text.is_empty() {
        ui::data(&drift.text);
    }
    if problems.is_empty() {
        ui::result(&format!(
            "checked {targets_checked} environment{}: no problems",
            if targets_checked == 1 { "" } else { "s" }
        ));
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for p in &problems {
        out.push_str(&format!("{p}\n"));
        if let Some(h) = &p.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    ui::data(&out);
    let files: BTreeSet<&str> = problems.iter().map(|p| p.file.as_str()).collect();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    ui::result(&format!(
        "{} in {}",
        plural(problems.len(), "problem"),
        plural(files.len(), "file")
    ));
    Ok(exit::FAILURE)
}
