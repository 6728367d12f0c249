//! Templates + values + versions -> manifests, in memory. Nothing here touches the disk except to read
//! templates. Every problem is collected (not just the first) so a user fixes them in one round.

pub mod problems;
pub mod yamlcheck;
pub mod yamltype;

mod native;
mod sed;
#[cfg(test)]
mod tests;
mod validate;

pub use native::*;
pub use sed::*;
pub use validate::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::Result;

use crate::model::config::{Config, Environment, Layout};
use crate::model::version::Version;

/// One rendered file.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFile {
    /// Repository-relative path of the rendered file.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Repository-relative path of the template it came from.
    pub template: String,
    /// The template's blob id, when a legacy render asked to learn (see `crate::cache::memo`) found that
    /// the output does not depend on versions.
    pub version_free: Option<crate::git::ObjectId>,
}

/// Something wrong with a file, reported with its location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(file: &str, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            line,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.file)?;
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One template of an environment's set.
#[derive(Debug, Clone)]
struct Template {
    /// Repository-relative path of the template file.
    source: String,
    /// Repository-relative path of the rendered file.
    output: String,
    /// The service whose image the template uses, if any.
    service: Option<String>,
}

/// What one rendering of an environment made: its files (ordered by path) and the problems that
/// stopped some of them.
#[derive(Debug, Default)]
pub struct Rendered {
    pub files: Vec<OutFile>,
    pub problems: Vec<Problem>,
}

/// The rendered and validated files of one environment (ordered by path), and the problems found.
/// A file with a problem is not among the files.
pub fn render_env(
    config: &Config,
    env: &Environment,
    versions: &BTreeMap<String, Version>,
) -> Result<(Vec<OutFile>, Vec<Problem>)> {
    let Rendered {
        mut files,
        mut problems,
    } = render_sets(config, env, &[versions])?
        .pop()
        .unwrap_or_default();
    let invalid = validate_files(&files, |_| false);
    if !invalid.is_empty() {
        let bad: BTreeSet<&str> = invalid.iter().map(|p| p.file.as_str()).collect();
        files.retain(|f| !bad.contains(f.path.as_str()));
        problems.extend(invalid);
    }
    Ok((files, problems))
}

/// Renders `env` once for each set of versions in `sets` (a promotion renders the versions it runs
/// and the ones it will run), reading and compiling each template once. Nothing is validated: see
/// [`validate_files`], for the outputs that need it.
pub fn render_sets(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
) -> Result<Vec<Rendered>> {
    let mut out = match config.layout {
        Layout::Native => render_native(config, env, sets)?,
        Layout::Legacy => render_legacy(config, env, sets)?,
    };
    for r in &mut out {
        r.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(out)
}

/// Validates rendered files (YAML, Kubernetes objects, image references), except those `skip`
/// says are already known to be good. Each problem names the template the file was rendered from.
pub fn validate_files(files: &[OutFile], skip: impl Fn(&OutFile) -> bool + Sync) -> Vec<Problem> {
    crate::par::chunks(files, |chunk| {
        let mut problems = Vec::new();
        for f in chunk {
            if skip(f) {
                continue;
            }
            let before = problems.len();
            validate_manifest(&f.path, &f.bytes, &mut problems);
            // Point at the template too: that is what the user edits.
            for p in &mut problems[before..] {
                p.message = format!("{} (rendered from `{}`)", p.message, f.template);
            }
        }
        problems
    })
    .into_iter()
    .flatten()
    .collect()
}
