//! `promote migrate`: from the sed layout (`layout: legacy`) to the native one, in one commit.
//!
//! Every legacy template becomes a minijinja template (placeholders become `{{ values.x }}`, `{{ image }}`
//! or `{{ version }}`; text minijinja would read as its own, such as `{{PROJECT_ID}}`, goes in a raw
//! block), and every plain manifest a template of its own, so that promote owns the whole synced
//! directory. A template that is the same in every environment is shared (`templates/`); one that
//! differs is an environment's own (`environments/<env>/templates/`). Manifests move to
//! `environments/<env>/manifests/`, metadata and deploy.log to `environments/<env>/`.
//!
//! The proof comes first: both layouts are rendered in memory and every byte ArgoCD would read must be
//! the same, or nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value as Json;

use crate::adopt::legacy;
use crate::apply::files::{self, Change, Target};
use crate::error::{exit, Blocked, Failure, Outcome};
use crate::git::{self, Lock};
use crate::model::config::{is_manifest_name, Config, Environment, Layout, CONFIG_FILE};
use crate::model::metadata::Metadata;
use crate::model::version::Version;
use crate::plan::{problems_error, Ctx};
use crate::render::{self, list_files, Problem};
use crate::ui;

/// One environment as it is, in the legacy layout.
struct Before<'a> {
    env: &'a Environment,
    versions: BTreeMap<String, Version>,
    /// What ArgoCD reads: every manifest of the synced directory, by file name.
    synced: BTreeMap<String, Vec<u8>>,
    /// The template each rendered file comes from, by file name.
    templates: BTreeMap<String, String>,
}

pub fn run(dir: &Path, dry_run: bool) -> Outcome {
    // STEP 1: the repository; only the legacy layout is migrated.
    let ctx = Ctx::open(dir)?;
    let config = &ctx.config;
    let root = config.root.clone();
    refuse_unmigratable(config)?;
    let _lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(ctx.repo.git_dir(), git::lock_wait())?)
    };

    // STEP 2: nothing uncommitted where it reads or writes, and nothing where the native layout goes.
    check_clean(&ctx, dry_run)?;

    // STEP 3: every environment as it renders now. It must be what is committed (a migration changes
    // no manifest); the bytes ArgoCD reads are the synced directory's manifests, rendered or plain.
    let mut progress = ui::progress("migrate", 2 * config.environments.len());
    let before = render_before(config, &mut progress)?;

    // STEP 4: the native layout: promote.yaml without the sed settings, a template per manifest.
    let text = std::fs::read_to_string(root.join(CONFIG_FILE))
        .with_context(|| format!("cannot read `{CONFIG_FILE}`"))?;
    let new_text = native_config(&text)?;
    let new_config = Config::parse(&root, &new_text)?;
    check_native(&new_config)?;
    let templates = convert(config, &new_config, &before)?;

    // STEP 5: the proof: render the native layout (in a scratch directory: the templates are not
    // written yet) and compare every byte with what ArgoCD reads now.
    let total = prove(&new_text, &templates, &before, &mut progress)?;
    drop(progress);

    // STEP 6: the change: promote.yaml, the templates, each environment's files at their new paths,
    // and the old paths deleted.
    let targets = native_targets(&root, &new_config, new_text, &templates, &before)?;
    let changes = files::plan(&root, targets)?;

    // STEP 7: write and commit, all or nothing.
    let told = Told::new(&new_config, &templates, &before, total)?;
    if dry_run {
        return told.dry_run(&changes);
    }
    let message = format!(
        "promote migrate: the sed layout -> native templates\n\n{}.\nManifests move from `<env>/` to `environments/<env>/manifests/`, metadata and deploy.log to\n`environments/<env>/`.\n\nPromote-Action: migrate\n",
        told.summary
    );
    let commit = crate::apply::write_and_commit(&ctx.repo, &ctx.config.root, &changes, &message)?;
    if ui::mode().json {
        told.json(&changes, Some(&commit), false)?;
    }
    ui::result(&format!(
        "[{}] promote migrate: the sed layout -> native templates\n{}",
        &commit[..commit.len().min(7)],
        told.summary
    ));

    // STEP 8: ArgoCD syncs directories: every Application must follow its environment's.
    warn_argocd(&root, &before, &told.moved)
}

/// Refuses what `promote migrate` does not convert: the native layout, previews, and environments
/// that do not render into their own directory.
fn refuse_unmigratable(config: &Config) -> Result<()> {
    if config.layout != Layout::Legacy {
        return Err(Failure::AlreadyNative.into());
    }
    if config.previews.is_some() {
        return Err(Failure::MigratePreviews.into());
    }
    for env in &config.environments {
        if env.manifests != env.dir || env.dir == "." {
            return Err(Failure::MigrateNotOwnDir {
                env: env.name.clone(),
                manifests: env.manifests.clone(),
                dir: env.dir.clone(),
            }
            .into());
        }
    }
    Ok(())
}

/// Refuses uncommitted changes where the migration reads or writes (unless a dry run), and any file
/// where the native layout goes.
fn check_clean(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let config = &ctx.config;
    let root = &config.root;
    let mut paths = vec![
        CONFIG_FILE.to_string(),
        config.templates.clone(),
        "environments".to_string(),
    ];
    for env in &config.environments {
        paths.extend([env.dir.clone(), env.metadata.clone()]);
    }
    if !dry_run {
        crate::commands::preflight::can_commit(ctx)?;
        let dirty = ctx.repo.dirty(&paths)?;
        if !dirty.is_empty() {
            return Err(Failure::MigrateDirty { dirty }.into());
        }
    }
    for d in [config.templates.as_str(), "environments"] {
        if let Some(f) = list_files(root, d)?.first() {
            return Err(Failure::NativeLayoutInTheWay {
                dir: d.to_string(),
                file: f.to_string(),
            }
            .into());
        }
    }

    Ok(())
}

/// Every environment as the legacy layout renders it now, checked against the committed manifests.
fn render_before<'a>(config: &'a Config, progress: &mut ui::Progress) -> Result<Vec<Before<'a>>> {
    let root = &config.root;
    let mut before: Vec<Before> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    for env in &config.environments {
        progress.step(&format!("rendering `{}` as it is", env.name));
        let versions = Metadata::load(config, env)?.versions();
        let (files, p) = render::render_env(config, env, &versions)?;
        if !p.is_empty() {
            problems.extend(p);
            continue;
        }
        let mut synced = BTreeMap::new();
        for rel in list_files(root, &env.manifests)? {
            if !rel.contains('/') && is_manifest_name(&rel) {
                synced.insert(
                    rel.clone(),
                    std::fs::read(root.join(&env.manifests).join(&rel))
                        .with_context(|| format!("cannot read `{}/{rel}`", env.manifests))?,
                );
            }
        }
        let mut templates = BTreeMap::new();
        for f in files {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
            if synced.get(&name) != Some(&f.bytes) {
                problems.push(
                    Problem::new(&f.path, None, format!("differs from what `{}` renders now", f.template))
                        .hint("run `promote render` and commit the result first: a migration changes no manifest"),
                );
            }
            templates.insert(name, f.template);
        }
        before.push(Before {
            env,
            versions,
            synced,
            templates,
        });
    }
    if !problems.is_empty() {
        return Err(problems_error(Blocked::MigrateDrift, &problems));
    }

    Ok(before)
}

/// Renders the native layout in a scratch directory and compares every byte with what ArgoCD reads
/// now; the number of byte-identical manifests, or every difference as one error.
fn prove(
    new_text: &str,
    templates: &BTreeMap<String, String>,
    before: &[Before],
    progress: &mut ui::Progress,
) -> Result<usize> {
    let mut problems: Vec<Problem> = Vec::new();
    let scratch = Scratch::new()?;
    std::fs::write(scratch.0.join(CONFIG_FILE), new_text)?;
    for (path, body) in templates {
        let p = scratch.0.join(path);
        std::fs::create_dir_all(p.parent().context("a template has no directory")?)?;
        std::fs::write(p, body)?;
    }
    let trial = Config::parse(&scratch.0, new_text)?;
    let mut total = 0;
    for b in before {
        progress.step(&format!("proving `{}` renders byte for byte", b.env.name));
        let env = trial.env(&b.env.name)?;
        let (files, p) = render::render_env(&trial, env, &b.versions)?;
        problems.extend(p);
        let after: BTreeMap<String, Vec<u8>> = files
            .into_iter()
            .map(|f| {
                (
                    f.path.rsplit('/').next().unwrap_or(&f.path).to_string(),
                    f.bytes,
                )
            })
            .collect();
        for name in b.synced.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let path = format!("{}/{name}", env.manifests);
            match (b.synced.get(name), after.get(name)) {
                (Some(x), Some(y)) if x == y => total += 1,
                (Some(x), Some(y)) => problems.push(Problem::new(
                    &path,
                    crate::ui::diff::first_difference(x, y),
                    format!(
                        "would not be byte-identical to `{}/{name}`",
                        b.env.manifests
                    ),
                )),
                (Some(_), None) => problems.push(Problem::new(
                    &path,
                    None,
                    format!(
                        "would not be rendered, but `{}/{name}` is synced now",
                        b.env.manifests
                    ),
                )),
                (None, _) => problems.push(Problem::new(
                    &path,
                    None,
                    format!(
                        "would be rendered, but `{}` has no such file",
                        b.env.manifests
                    ),
                )),
            }
        }
    }
    drop(scratch);
    if !problems.is_empty() {
        return Err(problems_error(Blocked::MigrateBytes, &problems));
    }

    Ok(total)
}

/// The files of the native layout: promote.yaml, the templates, each environment's files at their
/// new paths, and the old paths deleted.
fn native_targets(
    root: &Path,
    new_config: &Config,
    new_text: String,
    templates: &BTreeMap<String, String>,
    before: &[Before],
) -> Result<BTreeMap<String, Target>> {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    targets.insert(
        CONFIG_FILE.to_string(),
        Target::Write(new_text.into_bytes()),
    );
    for (path, body) in templates {
        targets.insert(path.clone(), Target::Write(body.clone().into_bytes()));
    }
    for b in before {
        let new = new_config.env(&b.env.name)?;
        for (name, bytes) in &b.synced {
            targets.insert(
                format!("{}/{name}", new.manifests),
                Target::Write(bytes.clone()),
            );
        }
        let mut moves: Vec<(String, String)> = vec![
            (b.env.metadata.clone(), new.metadata.clone()),
            (b.env.deploy_log.clone(), new.deploy_log.clone()),
        ];
        for rel in list_files(root, &b.env.dir)? {
            let old = format!("{}/{rel}", b.env.dir);
            let converted =
                !rel.contains('/') && (rel.ends_with(".tpl") || b.synced.contains_key(&rel));
            if converted {
                targets.insert(old, Target::Delete);
            } else if old != b.env.metadata && old != b.env.deploy_log {
                moves.push((old, format!("{}/{rel}", new.dir)));
            }
        }
        for (old, new_path) in moves {
            let Ok(bytes) = std::fs::read(root.join(&old)) else {
                continue;
            };
            if targets.contains_key(&new_path) {
                return Err(Failure::MigrateMoveCollision { old, new: new_path }.into());
            }
            targets.insert(old, Target::Delete);
            targets.insert(new_path, Target::Write(bytes));
        }
    }
    Ok(targets)
}

/// What the migration tells: the one-line summary, and where each environment's manifests move.
struct Told {
    summary: String,
    /// `  <env>: `<old>/` -> `<new>/`` lines.
    moved: String,
    moved_json: Vec<Json>,
    total: usize,
    shared: usize,
    own: usize,
}

impl Told {
    fn new(
        new_config: &Config,
        templates: &BTreeMap<String, String>,
        before: &[Before],
        total: usize,
    ) -> Result<Told> {
        let shared = templates
            .keys()
            .filter(|p| p.starts_with(&format!("{}/", new_config.templates)))
            .count();
        let own = templates.len() - shared;
        let summary = format!(
            "{} environment{}, {total} manifests byte-identical before and after; {shared} shared template{} in `{}/`, {own} of one environment's own in `environments/<env>/templates/`",
            before.len(),
            if before.len() == 1 { "" } else { "s" },
            if shared == 1 { "" } else { "s" },
            new_config.templates
        );
        let mut moved = String::new();
        let mut moved_json = Vec::new();
        for b in before {
            let new = new_config.env(&b.env.name)?;
            moved.push_str(&format!(
                "  {}: `{}/` -> `{}/`\n",
                b.env.name, b.env.manifests, new.manifests
            ));
            moved_json.push(serde_json::json!({"env": b.env.name, "from": b.env.manifests, "to": new.manifests}));
        }
        Ok(Told {
            summary,
            moved,
            moved_json,
            total,
            shared,
            own,
        })
    }

    /// `--dry-run`: what would be written, and nothing written.
    fn dry_run(&self, changes: &[Change]) -> Outcome {
        if ui::mode().json {
            return self.json(changes, None, true);
        }
        let list: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", c.action(), c.path))
            .collect();
        ui::data(&ui::clip(&list, 20, ""));
        ui::status(&format!(
            "dry run: nothing was written. {}\nthe manifests would move:\n{}",
            self.summary,
            self.moved.trim_end()
        ));
        Ok(exit::OK)
    }

    /// `--output json`.
    fn json(&self, changes: &[Change], commit: Option<&str>, dry_run: bool) -> Outcome {
        let files: Vec<Json> = changes
            .iter()
            .map(|c| serde_json::json!({"path": c.path, "change": c.kind()}))
            .collect();
        let doc = serde_json::json!({
            "manifests": self.total,
            "shared_templates": self.shared,
            "own_templates": self.own,
            "moved": self.moved_json,
            "files": files,
            "commit": commit,
            "dry_run": dry_run,
        });
        ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
        Ok(exit::OK)
    }
}

/// The warning that ArgoCD's Applications must follow the moved directories.
fn warn_argocd(root: &Path, before: &[Before], moved: &str) -> Outcome {
    let mut warn = format!(
        "the directories ArgoCD syncs have moved: re-point each environment's Application (`spec.source.path`) before you push:\n{}",
        moved
    );
    warn.push_str("  with automated sync and pruning, an Application whose path is gone deletes everything it deployed");
    let refs = old_path_references(root, before)?;
    if !refs.is_empty() {
        warn.push_str(&format!(
            "\n  these files still name the old paths:\n{}",
            refs.iter()
                .map(|r| format!("    {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    ui::warn(&warn);
    Ok(exit::OK)
}

/// promote.yaml without `layout: legacy`, `placeholders:` and the environments' legacy paths (`dir`,
/// `manifests`, `metadata`), each with the comment right above it. The rest, comments included, stays.
pub fn native_config(text: &str) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut drop = vec![false; lines.len()];
    let top = |l: &str| !l.starts_with([' ', '\t', '#']) && !l.trim().is_empty();
    for (i, l) in lines.iter().enumerate() {
        if !(l.starts_with("layout:") || l.starts_with("placeholders:")) {
            continue;
        }
        drop[i] = true;
        let mut j = i + 1;
        while j < lines.len() && lines[j].starts_with([' ', '\t']) && !lines[j].trim().is_empty() {
            drop[j] = true;
            j += 1;
        }
        let mut k = i;
        while k > 0 && lines[k - 1].starts_with('#') {
            k -= 1;
            drop[k] = true;
        }
    }
    // The environments' own keys are the first indentation under each environment's name.
    let (mut in_envs, mut env_indent, mut key_indent) = (false, None, None);
    for (i, l) in lines.iter().enumerate() {
        if top(l) {
            in_envs = l.starts_with("environments:");
            env_indent = None;
            continue;
        }
        let trimmed = l.trim_start();
        if !in_envs || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.len() - trimmed.len();
        match env_indent {
            None => env_indent = Some(indent),
            Some(e) if indent <= e => key_indent = None,
            Some(_) => {
                let k = *key_indent.get_or_insert(indent);
                if indent == k
                    && ["dir:", "manifests:", "metadata:"]
                        .iter()
                        .any(|p| trimmed.starts_with(p))
                {
                    drop[i] = true;
                }
            }
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if drop[i] {
            continue;
        }
        // No run of blank lines where a section was.
        if l.trim().is_empty() && (out.is_empty() || out.ends_with("\n\n")) {
            continue;
        }
        out.push_str(l);
    }
    Ok(out)
}

/// The rewritten config must be the native layout with every path at its default.
fn check_native(c: &Config) -> Result<()> {
    let ok = c.layout == Layout::Native
        && c.placeholders.is_empty()
        && c.environments.iter().all(|e| {
            let d = format!("environments/{}", e.name);
            e.dir == d
                && e.manifests == format!("{d}/manifests")
                && e.metadata == format!("{d}/metadata.json")
        });
    if ok {
        Ok(())
    } else {
        Err(Failure::MigrateConfigRewrite.into())
    }
}

/// The native templates (path -> text) that render each environment's synced manifests.
fn convert(config: &Config, new: &Config, before: &[Before]) -> Result<BTreeMap<String, String>> {
    let safe = safe_keys(config, before);
    // A manifest `<service>-<rest>` goes under `<service>/` when every environment that has it runs
    // the service (the native renderer skips a service's templates where it has no version).
    let mut problems = Vec::new();
    let rel_of = placement(config, before, &mut problems);
    // Each environment's text for each template.
    let texts = jinja_texts(config, before, &rel_of, &safe, &mut problems)?;
    if !problems.is_empty() {
        return Err(problems_error(Blocked::Migrate, &problems));
    }
    share(new, texts)
}

/// Value keys whose values would not print as they are: `|safe` keeps them byte-identical.
fn safe_keys(config: &Config, before: &[Before]) -> BTreeSet<String> {
    let mut safe = BTreeSet::new();
    for (_, key) in config.placeholders.iter().filter(|(_, k)| k != "version") {
        for b in before {
            if let Some(Json::String(s)) = render::lookup(&b.env.values, key) {
                if !render::prints_as_is(s) {
                    safe.insert(key.clone());
                }
            }
        }
    }
    safe
}

/// Where each synced manifest's template goes (relative to a template directory), and the
/// service it is under, if any.
fn placement(
    config: &Config,
    before: &[Before],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, (String, Option<String>)> {
    let names: BTreeSet<&String> = before.iter().flat_map(|b| b.synced.keys()).collect();
    let mut rel_of: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for name in names {
        let svc = legacy::file_service(name, config.services.iter().map(|s| s.name.as_str()))
            .filter(|s| {
                let rest = &name[s.len() + 1..];
                name.as_bytes()[s.len()] == b'-'
                    && !rest.is_empty()
                    && !rest.starts_with(['_', '.'])
                    && before
                        .iter()
                        .filter(|b| b.synced.contains_key(name))
                        .all(|b| b.versions.contains_key(*s))
            });
        if svc.is_none() && name.starts_with(['_', '.']) {
            problems.push(Problem::new(name, None, "a native template whose name starts with `_` or `.` is not rendered: rename it first"));
        }
        let rel = match svc {
            Some(s) => format!("{s}/{}", &name[s.len() + 1..]),
            None => name.clone(),
        };
        rel_of.insert(name.clone(), (rel, svc.map(str::to_string)));
    }
    rel_of
}

/// Each environment's text for each template (by its relative path), as minijinja.
fn jinja_texts(
    config: &Config,
    before: &[Before],
    rel_of: &BTreeMap<String, (String, Option<String>)>,
    safe: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let mut texts: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for b in before {
        for (name, bytes) in &b.synced {
            let (rel, svc) = &rel_of[name];
            let text = match b.templates.get(name) {
                Some(source) => {
                    let tpl = std::fs::read(config.root.join(source))
                        .with_context(|| format!("cannot read `{source}`"))?;
                    let file = source.rsplit('/').next().unwrap_or(source);
                    legacy::to_jinja(config, b.env, &b.versions, file, &tpl, svc.as_deref(), safe)
                        .map_err(|m| Problem::new(source, None, m))
                }
                None => std::str::from_utf8(bytes)
                    .map(legacy::literal)
                    .map_err(|_| {
                        Problem::new(
                            &format!("{}/{name}", b.env.manifests),
                            None,
                            "is not UTF-8, and minijinja templates must be",
                        )
                    }),
            };
            match text {
                Ok(t) => texts
                    .entry(rel.clone())
                    .or_default()
                    .push((b.env.name.clone(), t)),
                Err(p) => problems.push(p),
            }
        }
    }
    Ok(texts)
}

/// Shared where every environment has the template: the most common text (the first
/// environment's on a tie), and each environment whose text differs keeps its own.
fn share(
    new: &Config,
    texts: BTreeMap<String, Vec<(String, String)>>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (rel, list) in texts {
        if list.len() < new.environments.len() {
            for (env, t) in list {
                out.insert(format!("{}/{rel}", new.env(&env)?.templates), t);
            }
            continue;
        }
        let mut counts: Vec<(&String, usize)> = Vec::new();
        for (_, t) in &list {
            match counts.iter_mut().find(|(x, _)| *x == t) {
                Some(c) => c.1 += 1,
                None => counts.push((t, 1)),
            }
        }
        let best = counts
            .iter()
            .enumerate()
            .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
            .map(|(_, (t, _))| (*t).clone())
            .unwrap_or_default();
        for (env, t) in &list {
            if *t != best {
                out.insert(format!("{}/{rel}", new.env(env)?.templates), t.clone());
            }
        }
        out.insert(format!("{}/{rel}", new.templates), best);
    }
    Ok(out)
}

/// Files outside the environments that name an environment's old directory as a `path:` (ArgoCD
/// Applications and ApplicationSets), as `file (line n)`.
fn old_path_references(root: &Path, before: &[Before]) -> Result<Vec<String>> {
    let listed = git::git(root, &["ls-files", "-z", "--", "*.yaml", "*.yml"]).unwrap_or_default();
    let mut out = Vec::new();
    for file in listed.split('\0').filter(|f| !f.is_empty()) {
        if before
            .iter()
            .any(|b| file.starts_with(&format!("{}/", b.env.dir)))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let Some(v) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("path:")
            else {
                continue;
            };
            let v = v
                .split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .trim_end_matches('/');
            if before.iter().any(|b| b.env.dir == v) {
                out.push(format!("{file} (line {})", i + 1));
            }
        }
    }
    Ok(out)
}

/// A directory of its own under the system's temp directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("promote-migrate-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_loses_only_the_sed_settings() {
        let text = "\
# header

# The sed layout.
layout: legacy

registry: r.io/acme
services:
  api:
# What each placeholder is.
placeholders:
  COMMIT_SHA: version
  NS: namespace

environments:
  dev:
    dir: development
    values:
      dir: kept
      namespace: acme-dev
  prod:
    from: dev
    metadata: prod/meta.json.noargo
";
        assert_eq!(
            native_config(text).unwrap(),
            "\
# header

registry: r.io/acme
services:
  api:

environments:
  dev:
    values:
      dir: kept
      namespace: acme-dev
  prod:
    from: dev
"
        );
    }
}
