//! What is on disk: the environments, their templates and rendered files, and the pipeline their names suggest.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model::config::is_manifest_name;

use super::*;

// What is on disk.

/// The sed layout as found at the repository root.
#[derive(Debug, Default)]
pub struct Found {
    /// Top-level directories holding `*.tpl` templates, by name.
    pub envs: Vec<EnvFound>,
    /// `template/`: the old flow's preview templates.
    pub preview_templates: Option<DirFound>,
    /// `prs/`: the old flow's live previews.
    pub previews: Option<DirFound>,
    /// The old flow's own files (`scripts/promote.sh`, `Makefile`) that exist.
    pub scripts: Vec<String>,
}

/// A directory and its entries (file or directory names), sorted.
#[derive(Debug)]
pub struct DirFound {
    pub dir: String,
    pub entries: Vec<String>,
}

/// One environment's directory.
#[derive(Debug, Clone)]
pub struct EnvFound {
    /// The environment's name (the directory's, made a valid name).
    pub name: String,
    /// The directory, relative to the repository root.
    pub dir: String,
    /// Template file names (`api-deployment.yaml.tpl`), sorted.
    pub templates: Vec<String>,
    /// Manifests with no template (`api-service.yaml`): promote leaves them as they are.
    pub plain: Vec<String>,
}

impl EnvFound {
    pub fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }
}

/// Looks for the sed layout at `root`: top-level directories holding `*.tpl` files.
pub fn scan(root: &Path) -> Result<Found> {
    let mut found = Found::default();
    for name in dir_entries(root, true)? {
        if name.starts_with('.') || NOT_ENVIRONMENTS.contains(&name.as_str()) {
            continue;
        }
        let files = dir_entries(&root.join(&name), false)?;
        let templates: Vec<String> = files
            .iter()
            .filter(|f| f.ends_with(".tpl"))
            .cloned()
            .collect();
        if templates.is_empty() {
            continue;
        }
        let plain = files
            .iter()
            .filter(|f| is_manifest_name(f) && !templates.contains(&format!("{f}.tpl")))
            .cloned()
            .collect();
        found.envs.push(EnvFound {
            name: env_name(&name),
            dir: name,
            templates,
            plain,
        });
    }
    for (dir, slot, dirs) in [
        ("template", &mut found.preview_templates, false),
        ("prs", &mut found.previews, true),
    ] {
        if root.join(dir).is_dir() {
            let entries = dir_entries(&root.join(dir), dirs)?;
            *slot = Some(DirFound {
                dir: dir.to_string(),
                entries: entries
                    .into_iter()
                    .filter(|e| !e.starts_with('.'))
                    .collect(),
            });
        }
    }
    for f in ["scripts/promote.sh", "Makefile"] {
        if root.join(f).is_file() {
            found.scripts.push(f.to_string());
        }
    }
    Ok(found)
}

/// The names in a directory: its subdirectories (`dirs`) or its files, sorted.
fn dir_entries(dir: &Path, dirs: bool) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))?
    {
        let entry = entry?;
        let kind = entry.file_type()?;
        if (dirs && kind.is_dir()) || (!dirs && kind.is_file()) {
            out.push(entry.file_name().to_string_lossy().to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// An environment name for a directory: lowercase, `-` for anything but letters and digits.
pub(super) fn env_name(dir: &str) -> String {
    let s: String = dir
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.trim_matches('-').to_string()
}

// ---------------------------------------------------------------------------------------------
// The pipeline, from the names.

/// Where a name sits in the usual pipeline: dev, then test/qa, then staging, then prod.
pub fn rank(name: &str) -> u8 {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let any = |set: &[&str]| words.iter().any(|w| set.contains(w));
    if any(&["preprod", "staging", "stage", "stg", "uat", "preproduction"]) {
        30
    } else if any(&["prod", "production", "prd", "live"]) {
        40
    } else if any(&["test", "testing", "qa", "int", "integration", "sit", "e2e"]) {
        20
    } else if any(&["dev", "develop", "development", "sandbox", "local"]) {
        10
    } else {
        25
    }
}

/// The environments in pipeline order, each with the one it takes from: the last environment of the
/// rank before its own (so prod-eu and prod-us both take from staging).
pub fn pipeline(names: &[String]) -> Vec<(String, Option<String>)> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort_by_key(|n| (rank(n), n.to_string()));
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut prev_rank_last: Option<String> = None;
    let mut cur_rank: Option<u8> = None;
    let mut cur_last: Option<String> = None;
    for n in sorted {
        let r = rank(n);
        if cur_rank != Some(r) {
            if cur_rank.is_some() {
                prev_rank_last = cur_last.clone();
            }
            cur_rank = Some(r);
        }
        out.push((n.clone(), prev_rank_last.clone()));
        cur_last = Some(n.clone());
    }
    out
}
