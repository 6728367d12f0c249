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

use crate::adopt::legacy::{self, EnvFound, OldMetadata};
use crate::error::{exit, Failure, Outcome};
use crate::git::{self, Lock, Repo};
use crate::model::config::{Config, CONFIG_FILE};
use crate::model::version::Version;
use crate::ui;

mod adopt;
mod explain;
mod scaffold;

use adopt::adopt;
use scaffold::scaffold;

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

/// One environment, as init will write it.
struct EnvPlan<'a> {
    found: &'a EnvFound,
    versions: BTreeMap<String, Version>,
    old: Option<OldMetadata>,
    log: Vec<u8>,
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
