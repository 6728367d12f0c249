//! Legacy layout: sed placeholders, byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::Value as Json;

use crate::model::config::{Config, Environment, CONFIG_FILE};
use crate::model::version::Version;

use super::*;

pub(super) fn render_legacy(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
) -> Result<Vec<Rendered>> {
    render_legacy_except(config, env, sets, None, &|_: &str| false, false)
}

/// The manifest a legacy template (a file name in the environment's directory) renders to.
pub fn legacy_output(env: &Environment, name: &str) -> String {
    format!("{}/{}", env.manifests, name.trim_end_matches(".tpl"))
}

/// A legacy render of every template but those `skip` names (repository-relative paths). With
/// `learn`, the outputs that do not depend on versions carry their template's blob id.
/// A template without a version placeholder is substituted once for all the sets. `listed`: the
/// regular files of the environment's directory, when a dirty check just listed them (a
/// directory of thousands of files costs milliseconds to list again).
pub fn render_legacy_except(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
    listed: Option<&[String]>,
    skip: &(dyn Fn(&str) -> bool + Sync),
    learn: bool,
) -> Result<Vec<Rendered>> {
    let dir = config.root.join(&env.dir);
    let names = legacy_templates(config, env, listed, skip)?;
    let sub = Substituter::new(config, env);
    let opened = match names.is_empty() {
        true => None,
        false => Some(
            crate::fs::at::Dir::open(&dir).with_context(|| format!("cannot open `{}`", env.dir))?,
        ),
    };
    let chunks = crate::par::chunks(&names, |chunk| -> Result<Vec<Rendered>> {
        let mut out: Vec<Rendered> = sets.iter().map(|_| Rendered::default()).collect();
        for name in chunk {
            let source = format!("{}/{name}", env.dir);
            let output = legacy_output(env, name);
            let bytes = match &opened {
                Some(d) => d.read(std::ffi::OsStr::new(name)),
                None => std::fs::read(config.root.join(&source)),
            }
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => crate::fs::links::link_error(&config.root, &source),
                _ => anyhow::Error::new(e).context(format!("cannot read `{source}`")),
            })?;
            let hits = sub.find(&bytes);
            if sub.versioned(&hits) {
                for (i, versions) in sets.iter().enumerate() {
                    let r = &mut out[i];
                    let before = r.problems.len();
                    let text = sub.substitute(versions, &source, &bytes, &hits, &mut r.problems);
                    if r.problems.len() == before {
                        r.files.push(OutFile {
                            path: output.clone(),
                            bytes: text,
                            template: source.clone(),
                            version_free: None,
                        });
                    }
                }
                continue;
            }
            // No version placeholder: one output (or one set of problems) for every set.
            let mut problems = Vec::new();
            let text = sub.substitute(&BTreeMap::new(), &source, &bytes, &hits, &mut problems);
            let file = problems.is_empty().then(|| OutFile {
                path: output.clone(),
                bytes: text,
                template: source.clone(),
                version_free: learn.then(|| crate::git::blob_id(&bytes)),
            });
            for r in &mut out {
                r.files.extend(file.clone());
                r.problems.extend(problems.iter().cloned());
            }
        }
        Ok(out)
    });
    let mut out: Vec<Rendered> = sets.iter().map(|_| Rendered::default()).collect();
    for chunk in chunks {
        for (i, r) in chunk?.into_iter().enumerate() {
            out[i].files.extend(r.files);
            out[i].problems.extend(r.problems);
        }
    }
    for r in &mut out {
        r.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(out)
}

/// The names of the environment's `*.tpl` templates but those `skip` settles, sorted: from the
/// dirty check's listing of its directory when there is one (`listed`), else from the directory.
fn legacy_templates(
    config: &Config,
    env: &Environment,
    listed: Option<&[String]>,
    skip: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<String>> {
    let dir = config.root.join(&env.dir);
    let mut names: Vec<String> = Vec::new();
    if let Some(files) = listed {
        names.extend(
            files
                .iter()
                .filter(|name| name.ends_with(".tpl") && !skip(&format!("{}/{name}", env.dir)))
                .cloned(),
        );
    } else if dir.is_dir() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list `{}`", env.dir))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".tpl") && entry.file_type()?.is_symlink() {
                return Err(crate::fs::links::link_error(
                    &config.root,
                    &format!("{}/{name}", env.dir),
                ));
            }
            if name.ends_with(".tpl")
                && !skip(&format!("{}/{name}", env.dir))
                && entry.file_type()?.is_file()
            {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The sed-style substitution of one environment, set up once for all its templates.
struct Substituter<'a> {
    env: &'a Environment,
    /// Longest first, so `COMMIT_SHA_FULL` wins over `COMMIT_SHA` at the same position.
    placeholders: Vec<(&'a str, &'a str)>,
    /// A substring search for each placeholder, in the same order.
    finders: Vec<memchr::memmem::Finder<'a>>,
    /// By repository name in Docker Hub's spelling (`imageref::canonical_repository`), so that a
    /// template's `org/name:` finds the service declared as `docker.io/org/name`.
    service_of_image: std::collections::HashMap<std::borrow::Cow<'a, str>, &'a str>,
    services: BTreeSet<&'a str>,
}

impl<'a> Substituter<'a> {
    fn new(config: &'a Config, env: &'a Environment) -> Substituter<'a> {
        let mut placeholders: Vec<(&str, &str)> = config
            .placeholders
            .iter()
            .map(|(p, k)| (p.as_str(), k.as_str()))
            .collect();
        placeholders.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let finders = placeholders
            .iter()
            .map(|(p, _)| memchr::memmem::Finder::new(p.as_bytes()))
            .collect();
        let mut service_of_image = std::collections::HashMap::new();
        for s in &config.services {
            // The first service declared with an image is the one it stands for.
            service_of_image
                .entry(crate::model::imageref::canonical_repository(&s.image))
                .or_insert(s.name.as_str());
        }
        Substituter {
            env,
            placeholders,
            finders,
            service_of_image,
            services: config.services.iter().map(|s| s.name.as_str()).collect(),
        }
    }

    /// The service a file is named after (`<service>-…` or `<service>.…`; the longest name wins).
    fn file_service(&self, file_name: &str) -> Option<String> {
        file_name
            .char_indices()
            .rev()
            .filter(|(_, c)| matches!(c, '-' | '.'))
            .map(|(i, _)| &file_name[..i])
            .find(|prefix| self.services.contains(prefix))
            .map(str::to_string)
    }

    /// The service whose image is written right before a placeholder (`<image>:COMMIT_SHA`).
    fn image_before(&self, out: &[u8]) -> Option<String> {
        let image = image_before(out)?;
        self.service_of_image
            .get(&crate::model::imageref::canonical_repository(image))
            .map(|s| s.to_string())
    }

    /// Where the placeholders are in a template: (offset, index in `placeholders`), in order. At
    /// each offset the longest placeholder wins, and a match hides those that start inside it, as
    /// one left-to-right scan would find them.
    fn find(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for (k, f) in self.finders.iter().enumerate() {
            hits.extend(f.find_iter(bytes).map(|at| (at, k)));
        }
        // `placeholders` is longest first, so at equal offsets the lower index is the longer.
        hits.sort_unstable();
        let mut end = 0;
        hits.retain(|&(at, k)| {
            let keep = at >= end;
            if keep {
                end = at + self.placeholders[k].0.len();
            }
            keep
        });
        hits
    }

    /// Whether any of a template's placeholders (found by `find`) is a version.
    fn versioned(&self, hits: &[(usize, usize)]) -> bool {
        hits.iter()
            .any(|&(_, k)| self.placeholders[k].1 == "version")
    }

    /// Replaces every placeholder (found by `find`), like `sed "s/A/x/g; s/B/y/g"` over the bytes,
    /// except that a value is never scanned again for placeholders: values are data.
    fn substitute(
        &self,
        versions: &BTreeMap<String, Version>,
        source: &str,
        bytes: &[u8],
        hits: &[(usize, usize)],
        problems: &mut Vec<Problem>,
    ) -> Vec<u8> {
        let file_name = source.rsplit('/').next().unwrap_or(source);
        let line_at = |i: usize| bytes[..i].iter().filter(|&&b| b == b'\n').count() + 1;
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut copied = 0;
        let mut reported = BTreeSet::new();
        for &(i, k) in hits {
            let (ph, key) = self.placeholders[k];
            out.extend_from_slice(&bytes[copied..i]);
            let value = if key == "version" {
                let svc = self
                    .image_before(&out)
                    .or_else(|| self.file_service(file_name));
                match svc {
                    None => {
                        if reported.insert((ph.to_string(), "svc")) {
                            problems.push(
                                Problem::new(source, Some(line_at(i)), format!("cannot tell which service's version `{ph}` stands for"))
                                    .hint(format!("write it as `<image>:{ph}` with a service's image, or name the file `<service>-…`")),
                            );
                        }
                        None
                    }
                    Some(svc) => match versions.get(&svc) {
                        Some(v) => Some(v.to_string()),
                        None => {
                            if reported.insert((svc.clone(), "version")) {
                                problems.push(
                                    Problem::new(
                                        source,
                                        Some(line_at(i)),
                                        format!(
                                            "service `{svc}` has no version in environment `{}`",
                                            self.env.name
                                        ),
                                    )
                                    .hint(self.env.versions_hint()),
                                );
                            }
                            None
                        }
                    },
                }
            } else {
                match lookup(&self.env.values, key) {
                    Some(Json::String(s)) if s.contains(['\n', '\r']) => {
                        problems.push(
                            Problem::new(source, Some(line_at(i)), format!("placeholder `{ph}`: `values.{key}` contains a line break, which would add lines to the manifest"))
                                .hint("a sed placeholder stands for text within one line; move multi-line content to a native template"),
                        );
                        None
                    }
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(v @ (Json::Number(_) | Json::Bool(_))) => Some(v.to_string()),
                    Some(_) => {
                        problems.push(Problem::new(source, Some(line_at(i)), format!("placeholder `{ph}` maps to `values.{key}`, which is not a string or number")));
                        None
                    }
                    None => {
                        if reported.insert((ph.to_string(), "value")) {
                            problems.push(
                                Problem::new(
                                    source,
                                    Some(line_at(i)),
                                    format!(
                                        "placeholder `{ph}` uses undefined value `values.{key}`"
                                    ),
                                )
                                .hint(format!(
                                    "set `{key}` under `environments.{}.values` in `{CONFIG_FILE}`",
                                    self.env.name
                                )),
                            );
                        }
                        None
                    }
                }
            };
            if let Some(v) = value {
                out.extend_from_slice(v.as_bytes());
            }
            copied = i + ph.len();
        }
        out.extend_from_slice(&bytes[copied..]);
        out
    }
}

/// A dotted path in a JSON value.
pub fn lookup<'a>(v: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(v, |cur, key| cur.get(key))
}
