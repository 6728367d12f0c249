//! `promote init`: adopt promote in a repository, in one command.
//!
//! In a repository laid out for the sed script (`<env>/*.yaml.tpl` beside the `<env>/*.yaml` sed made of
//! them) it lines every template up with its rendered file, works out the placeholders, their values
//! per environment, the services and the versions they run, and writes `promote.yaml` (layout legacy)
//! and each environment's metadata in promote's format, having proved first, in memory, that `promote
//! render` would then change no byte. It refuses, naming the file and line, where a rendered file says
//! something its template does not. In a repository with neither, it writes the bundled example.
//!
//! It never commits: the pipeline order is a guess from the names, to review before committing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value as Json};

use crate::adopt::legacy::{
    self, Analysis, EnvFound, EnvProposal, Found, OldMetadata, Proposal, DEPLOY_LOG, METADATA_FILE,
};
use crate::apply::files::{self, Target};
use crate::error::{exit, Blocked, Failure, Outcome};
use crate::git::{self, Lock, Repo};
use crate::model::audit;
use crate::model::config::{is_name, Config, CONFIG_FILE};
use crate::model::metadata::{Metadata, ServiceState};
use crate::model::version::Version;
use crate::plan::problems_error;
use crate::render::{self, Problem};
use crate::ui;

pub fn run(dir: &Path, dry_run: bool) -> Outcome {
    // STEP 1: the repository. One that has a promote.yaml is set up already: leave it alone.
    let repo = Repo::discover(dir)?;
    let root = repo.root.clone();
    if root.join(CONFIG_FILE).exists() {
        return Err(Failure::AlreadyInitialized.into());
    }
    let _lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(repo.git_dir(), git::lock_wait())?)
    };

    // STEP 2: the sed layout (`<env>/*.yaml.tpl`), or nothing to adopt: the bundled example.
    let found = legacy::scan(&root)?;
    if found.envs.is_empty() {
        return scaffold(&root, dry_run);
    }
    adopt(&repo, &found, dry_run)
}

// ---------------------------------------------------------------------------------------------
// A sed-templated repository.

/// One environment, as init will write it.
struct EnvPlan<'a> {
    found: &'a EnvFound,
    versions: BTreeMap<String, Version>,
    old: Option<OldMetadata>,
    log: Vec<u8>,
}

fn adopt(repo: &Repo, found: &Found, dry_run: bool) -> Outcome {
    let root = &repo.root;

    // STEP 3: line every template up with its rendered file: placeholders, values, services, versions.
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

    // STEP 4: the pipeline, from the names (dev, then test/qa, then staging, then prod).
    let order = legacy::pipeline(&names);

    // STEP 5: the old metadata files and deploy.logs, as far as they can be read.
    let services: Vec<String> = analysis.services.iter().map(|s| s.name.clone()).collect();
    let mut envs: Vec<(EnvPlan, Option<String>)> = Vec::new();
    for (name, from) in &order {
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

    // STEP 6: promote.yaml: layout legacy, the placeholders, each environment's values.
    let proposal = proposal(&analysis, found, &envs);
    let text = legacy::config_text(&proposal);
    let config = Config::parse(root, &text)
        .context("promote init wrote a promote.yaml that does not load (a bug)")?;

    // STEP 7: each environment's metadata, in promote's format.
    let now = audit::timestamp(audit::now()?);
    let head = repo.head();
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    targets.insert(
        CONFIG_FILE.to_string(),
        Target::Write(text.clone().into_bytes()),
    );
    for (e, _) in &envs {
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

    // STEP 8: the proof: render every environment in memory with that config and those versions;
    // every byte must be what is committed now.
    let mut problems = Vec::new();
    let mut progress = ui::progress("init", envs.len());
    for (e, _) in &envs {
        progress.step(&format!("proving `{}` renders byte for byte", e.found.name));
        let env = config.env(&e.found.name)?;
        let (files, p) = render::render_env(&config, env, &e.versions)?;
        problems.extend(p);
        for f in files {
            let disk = std::fs::read(root.join(&f.path)).unwrap_or_default();
            if disk != f.bytes {
                problems.push(Problem::new(
                    &f.path,
                    first_difference(&disk, &f.bytes),
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

    // STEP 9: refuse over uncommitted changes of the files it writes: the old metadata must be in git
    // history, which is where its old content stays.
    let paths: Vec<String> = targets.keys().cloned().collect();
    let dirty = repo.dirty(&paths)?;
    if !dirty.is_empty() {
        return Err(Failure::InitDirty { dirty }.into());
    }

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
    ui::result(explain(&analysis, found, &envs, &config).trim_end());
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
    if let Some(advice) = super::pr::approval_advice(&config) {
        ui::status(&advice);
    }
    Ok(exit::OK)
}

/// `--output json`: what was adopted (`sed`, or the bundled `example`), the pipeline, and the files
/// written (or, in a dry run, that would be).
fn json_report(adopted: &str, config: &Config, written: &[String], dry_run: bool) -> Outcome {
    let envs: Vec<serde_json::Value> = config
        .environments
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "from": e.from, "dir": e.dir}))
        .collect();
    let services: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    let doc = serde_json::json!({
        "adopted": adopted,
        "environments": envs,
        "services": services,
        "files": written,
        "dry_run": dry_run,
        "committed": false,
    });
    ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
    Ok(exit::OK)
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

/// The first line where two texts differ.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Some(a[..at].iter().filter(|&&c| c == b'\n').count() + 1)
}

/// Rows as aligned columns, each line starting with `indent` (a very long first cell is left out of
/// the alignment rather than pushing every other row to the right).
fn table(rows: &[(String, String)], indent: &str) -> String {
    let w = rows
        .iter()
        .map(|(a, _)| a.chars().count())
        .filter(|n| *n <= 40)
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(a, b)| format!("{indent}{a:w$}  {b}").trim_end().to_string() + "\n")
        .collect()
}

fn table_n(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{s:w$}", w = widths[i]))
                .collect();
            format!("{indent}{}", cells.join("  "))
                .trim_end()
                .to_string()
        })
        .collect();
    // A repository of a thousand services: the first rows, then how many more (all with `-v`).
    ui::clip(&lines, 12, indent)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// What init found, for the person who runs it.
fn explain(
    a: &Analysis,
    found: &Found,
    envs: &[(EnvPlan, Option<String>)],
    config: &Config,
) -> String {
    let mut s = String::new();
    let version_token = a
        .placeholders
        .iter()
        .find(|p| p.is_version())
        .map(|p| p.token.as_str())
        .unwrap_or("COMMIT_SHA");
    s.push_str(&format!(
        "found the sed layout: {}, {} lined up with their rendered files, no byte out of place\n\n",
        plural(envs.len(), "environment"),
        plural(a.pairs, "template")
    ));

    s.push_str("environments, in pipeline order (a guess from the names: dev, then test/qa, then staging, then\nprod; edit `from:` in promote.yaml if yours differs):\n");
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|(e, from)| {
            vec![
                e.found.name.clone(),
                format!("{}/", e.found.dir),
                from.as_ref()
                    .map(|f| format!("from {f}"))
                    .unwrap_or_else(|| "start".into()),
                format!(
                    "{}, {}",
                    plural(e.found.templates.len(), "template"),
                    plural(e.found.plain.len(), "plain manifest")
                ),
            ]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));

    s.push_str(&format!("\nservices, the images the templates write as `<image>:{version_token}` (registry `{}`):\n", a.registry));
    let rows: Vec<Vec<String>> = a
        .services
        .iter()
        .map(|svc| vec![svc.name.clone(), svc.image.clone()])
        .collect();
    s.push_str(&table_n(&rows, "  "));

    s.push_str("\nplaceholders, and what each stands for:\n");
    let rows: Vec<Vec<String>> = a
        .placeholders
        .iter()
        .map(|p| {
            let what = if p.is_version() {
                "the version of the image written before it, or of the service the file is named after".to_string()
            } else {
                envs.iter()
                    .filter_map(|(e, _)| {
                        let i = found.envs.iter().position(|f| f.name == e.found.name)?;
                        p.values[i].as_ref().map(|v| format!("{} {}", e.found.name, Json::String(v.clone())))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![p.token.clone(), p.key.clone(), what]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));

    s.push_str("\nversions, from the rendered manifests:\n");
    let mut rows = vec![std::iter::once("SERVICE".to_string())
        .chain(envs.iter().map(|(e, _)| e.found.name.clone()))
        .collect::<Vec<_>>()];
    for svc in &a.services {
        rows.push(
            std::iter::once(svc.name.clone())
                .chain(envs.iter().map(|(e, _)| {
                    e.versions
                        .get(&svc.name)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                }))
                .collect(),
        );
    }
    s.push_str(&table_n(&rows, "  "));

    s.push_str(&format!(
        "\nmetadata, written in promote's format to each environment's `{METADATA_FILE}`:\n"
    ));
    let mut rows = Vec::new();
    for (e, _) in envs {
        let path = config
            .env(&e.found.name)
            .map(|x| x.metadata.clone())
            .unwrap_or_default();
        let what = match &e.old {
            None => "none yet: written new".to_string(),
            Some(old) => {
                let mut read: Vec<String> = Vec::new();
                if !old.versions.is_empty() {
                    let same = old.versions.iter().all(|(k, v)| {
                        e.versions.get(k).map(|x| x.to_string()).as_deref() == Some(v.as_str())
                    });
                    read.push(format!(
                        "versions of {}{}",
                        old.versions.keys().cloned().collect::<Vec<_>>().join(", "),
                        if same {
                            " (as the manifests say)"
                        } else {
                            " (not all as the manifests say: the manifests win)"
                        }
                    ));
                }
                for (k, present) in [
                    ("urls", !old.urls.is_empty()),
                    ("database", old.database.is_some()),
                    ("kube_context", old.kube_context.is_some()),
                    ("time", old.time.is_some()),
                ] {
                    if present {
                        read.push(k.to_string());
                    }
                }
                let kind = match old.format {
                    "promote" => "promote's format already",
                    "json" => "JSON in another format",
                    "lines" => "`key=value` lines",
                    _ => "a format promote cannot read",
                };
                let mut w = kind.to_string();
                if !read.is_empty() && old.format != "promote" {
                    w.push_str(&format!("; read {}", read.join(", ")));
                }
                if !old.unused.is_empty() {
                    w.push_str(&format!("; not carried over: {}", old.unused.join(", ")));
                }
                if old.format != "promote" {
                    w.push_str(&format!(
                        "; the old content stays in git history (`git show HEAD:{path}`)"
                    ));
                }
                w
            }
        };
        rows.push(vec![path, what]);
    }
    s.push_str(&table_n(&rows, "  "));

    s.push_str("\ndeploy.log: the lines there stay as they are; promote appends its records after them, chained:\n");
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|(e, _)| {
            let n = e
                .log
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            vec![
                e.found.path(DEPLOY_LOG),
                if e.log.is_empty() {
                    "none yet".into()
                } else {
                    plural(n, "line")
                },
            ]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));

    let mut left: Vec<(String, String)> = Vec::new();
    let plain: Vec<String> = envs
        .iter()
        .flat_map(|(e, _)| e.found.plain.iter().map(|p| e.found.path(p)))
        .collect();
    if let Some(first) = plain.first() {
        left.push((
            "plain manifests".into(),
            format!(
                "{} with no template (e.g. `{first}`): ArgoCD applies them as they are",
                plain.len()
            ),
        ));
    }
    if let Some(t) = &found.preview_templates {
        left.push((
            format!("{}/", t.dir),
            format!(
                "{} of the old preview flow",
                plural(t.entries.len(), "template")
            ),
        ));
    }
    if let Some(p) = &found.previews {
        let names = if p.entries.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.entries.join(", "))
        };
        left.push((
            format!("{}/", p.dir),
            format!("{}{names}", plural(p.entries.len(), "live preview")),
        ));
    }
    if !found.scripts.is_empty() {
        left.push((
            found.scripts.join(", "),
            "the sed flow; the README's \"Adopting promote\" maps its targets to promote's".into(),
        ));
    }
    if !left.is_empty() {
        s.push_str("\nleft as they are:\n");
        s.push_str(&table(&left, "  "));
    }
    s
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

// ---------------------------------------------------------------------------------------------
// Nothing to adopt: the bundled example.

macro_rules! example {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../", $path)) as &[u8])),*]
    };
}

/// The bundled example: its config, shared templates and prod's own templates (its rendered
/// manifests, metadata and history are the demo's, not a new repository's).
const EXAMPLE: &[(&str, &[u8])] = example!(
    "promote.yaml",
    "templates/api/_deployment.yaml",
    "templates/api/_service.yaml",
    "templates/api/deployment.yaml",
    "templates/api/ingress.yaml",
    "templates/api/service.yaml",
    "templates/api/servicemonitor.yaml",
    "templates/gateway/deployment.yaml",
    "templates/gateway/ingress.yaml",
    "templates/gateway/service.yaml",
    "templates/gateway/servicemonitor.yaml",
    "templates/scribe/deployment.yaml",
    "templates/scribe/service.yaml",
    "templates/scribe/servicemonitor.yaml",
    "templates/web/deployment.yaml",
    "templates/web/ingress.yaml",
    "templates/web/service.yaml",
    "templates/web/servicemonitor.yaml",
    "templates/worker/deployment.yaml",
    "templates/worker/service.yaml",
    "templates/worker/servicemonitor.yaml",
    "environments/prod/templates/api/deployment.yaml",
    "environments/prod/templates/api/proxy.yaml",
    "environments/prod/templates/api/read.yaml",
    "environments/prod/templates/api/write.yaml",
    "environments/prod/templates/web/hpa.yaml",
    "argocd/previews-applicationset.yaml",
);

fn scaffold(root: &Path, dry_run: bool) -> Outcome {
    // STEP 3: nothing of the example may be here already.
    for dir in ["templates", "environments"] {
        if root.join(dir).exists() {
            return Err(Failure::ExampleDirExists {
                dir: dir.to_string(),
            }
            .into());
        }
    }
    if let Some((path, _)) = EXAMPLE.iter().find(|(p, _)| root.join(p).exists()) {
        return Err(Failure::ExampleFileExists {
            path: path.to_string(),
        }
        .into());
    }

    // STEP 4: the example's files; its config must load where it is written.
    let text =
        std::str::from_utf8(EXAMPLE[0].1).context("the bundled promote.yaml is not UTF-8")?;
    let config = Config::parse(root, text)?;
    let targets: BTreeMap<String, Target> = EXAMPLE
        .iter()
        .map(|(p, b)| (p.to_string(), Target::Write(b.to_vec())))
        .collect();
    let changes = files::plan(root, targets)?;
    if !dry_run {
        files::apply(root, &changes)?;
    }
    if ui::mode().json {
        let written: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        return json_report("example", &config, &written, dry_run);
    }

    // STEP 5: say what it is and what to do next.
    let mut s = String::from("found no sed layout to adopt (no `<env>/*.yaml.tpl`): ");
    s.push_str(if dry_run {
        "would write the bundled example\n\n"
    } else {
        "wrote the bundled example\n\n"
    });
    let envs: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let services: Vec<String> = config.services.iter().map(|x| x.name.clone()).collect();
    s.push_str(&table(
        &[
            (
                "promote.yaml".into(),
                format!(
                    "registry `{}`; services {}; pipeline {}",
                    config.registry,
                    services.join(", "),
                    envs.join(" -> ")
                ),
            ),
            (
                "templates/<service>/".into(),
                format!(
                    "{} shared minijinja templates",
                    EXAMPLE
                        .iter()
                        .filter(|(p, _)| p.starts_with("templates/"))
                        .count()
                ),
            ),
            (
                "environments/prod/templates/".into(),
                "prod's own templates: api as four Deployments, web autoscaled".into(),
            ),
            (
                "argocd/".into(),
                "the ApplicationSet for preview environments".into(),
            ),
        ],
        "  ",
    ));
    s.push_str(
        "\nNo environment runs a version yet, so nothing is rendered; nothing is committed.\n",
    );
    ui::result(s.trim_end());
    if dry_run {
        ui::status("dry run: nothing was written");
        return Ok(exit::OK);
    }
    let first = config
        .environments
        .iter()
        .find(|e| e.from.is_none())
        .map(|e| e.name.clone())
        .unwrap_or_default();
    let second = config
        .environments
        .iter()
        .find(|e| e.from.as_deref() == Some(first.as_str()))
        .map(|e| e.name.clone());
    let mut next = vec![
        (
            "promote.yaml".to_string(),
            "set your registry, services and environments".to_string(),
        ),
        (
            "promote check".to_string(),
            "the whole repository".to_string(),
        ),
        (
            "git add -A && git commit -m \"promote\"".to_string(),
            String::new(),
        ),
        (
            format!("promote set-image {first} --sha <sha>"),
            "in CI, right after the image build".to_string(),
        ),
    ];
    if let Some(s) = second {
        next.push((
            format!("promote to {s}"),
            format!("{s} takes what {first} runs"),
        ));
    }
    ui::status(&format!("next:\n{}", table(&next, "  ")));
    if let Some(advice) = super::pr::approval_advice(&config) {
        ui::status(&advice);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_example_is_the_one_at_the_crate_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = vec![
            "promote.yaml".to_string(),
            "argocd/previews-applicationset.yaml".to_string(),
        ];
        for dir in [
            "templates",
            "environments/prod/templates",
            "environments/staging/templates",
            "environments/dev/templates",
        ] {
            for f in render::list_files(root, dir).unwrap() {
                on_disk.push(format!("{dir}/{f}"));
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = EXAMPLE.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update EXAMPLE in src/commands/init.rs to the bundled example's files"
        );
    }
}
