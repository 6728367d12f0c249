//! What the alignment says.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::config::is_name;
use crate::model::imageref;
use crate::model::version::Version;
use crate::render::Problem;

use super::*;

/// A service: an image the templates write as `<image>:<version placeholder>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFound {
    pub name: String,
    /// The full image repository.
    pub image: String,
    /// `image:` for promote.yaml, when the image is not `<registry>/<name>`.
    pub image_key: Option<String>,
}

/// A placeholder and what it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceholderFound {
    pub token: String,
    /// The value key (`version` for the image version).
    pub key: String,
    /// Its value per environment (same order as [`Found::envs`]); None where it is not used, and for
    /// the version placeholder (whose value is each service's version).
    pub values: Vec<Option<String>>,
}

impl PlaceholderFound {
    pub fn is_version(&self) -> bool {
        self.key == "version"
    }
}

/// Everything the templates and their rendered files say.
#[derive(Debug, Default)]
pub struct Analysis {
    pub registry: String,
    pub services: Vec<ServiceFound>,
    pub placeholders: Vec<PlaceholderFound>,
    /// Per environment (same order as [`Found::envs`]): the version of each service it runs.
    pub versions: Vec<BTreeMap<String, Version>>,
    /// What stops the adoption: hand edits, conflicting values, versions of no service.
    pub problems: Vec<Problem>,
    /// Template and rendered file pairs lined up.
    pub pairs: usize,
}

/// Lines every template up with its rendered file and works out placeholders, services and versions.
pub fn analyse(root: &Path, found: &Found) -> Result<Analysis> {
    let mut a = Analysis::default();
    let (occs, identity) = line_up(root, found, &mut a)?;
    let tokens: Vec<String> = occs
        .iter()
        .map(|o| o.token.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    hand_edits(&occs, &identity, &tokens, &mut a.problems);
    let version_tokens = version_tokens(&occs);
    find_services(&occs, &version_tokens, &mut a);
    assign_versions(found, &occs, &version_tokens, &mut a);
    name_placeholders(found, &occs, tokens, &version_tokens, &mut a);
    Ok(a)
}

/// Where a token stands unreplaced: (environment, token) -> (file, line).
type Identity = HashMap<(usize, String), (String, usize)>;

/// 1. Line up every pair: the occurrences of placeholders, and where tokens stay as they are.
fn line_up(root: &Path, found: &Found, a: &mut Analysis) -> Result<(Vec<Occurrence>, Identity)> {
    let mut occs: Vec<Occurrence> = Vec::new();
    let mut identity: Identity = HashMap::new();
    for (ei, env) in found.envs.iter().enumerate() {
        let mut prefs: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for t in &env.templates {
            let tpl_path = env.path(t);
            let output = env.path(t.trim_end_matches(".tpl"));
            let tpl = std::fs::read(root.join(&tpl_path))
                .with_context(|| format!("cannot read `{tpl_path}`"))?;
            let out = match std::fs::read(root.join(&output)) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    a.problems.push(
                        Problem::new(&tpl_path, None, format!("has no rendered file `{output}` to line it up with"))
                            .hint("render every template with the old script and commit the result, then run `promote init` again"),
                    );
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read `{output}`")),
            };
            match align_file(
                ei,
                t,
                &tpl_path,
                &output,
                &tpl,
                &out,
                &mut prefs,
                &mut identity,
            ) {
                Ok(o) => {
                    occs.extend(o);
                    a.pairs += 1;
                }
                Err(p) => a.problems.push(p),
            }
        }
    }
    Ok((occs, identity))
}

/// 2. Placeholders: tokens that some rendered file replaced. Left as they are elsewhere, they are a
///    file the old script did not render, or a hand edit: sed replaces every one.
fn hand_edits(
    occs: &[Occurrence],
    identity: &Identity,
    tokens: &[String],
    problems: &mut Vec<Problem>,
) {
    let mut identity_at: Vec<_> = identity
        .iter()
        .filter(|((_, t), _)| tokens.contains(t))
        .collect();
    identity_at.sort_by(|x, y| x.1.cmp(y.1));
    for ((env, token), (file, line)) in identity_at {
        let other = occs
            .iter()
            .find(|o| &o.token == token && o.env == *env)
            .or_else(|| occs.iter().find(|o| &o.token == token));
        if let Some(o) = other {
            problems.push(
                Problem::new(
                    file,
                    Some(*line),
                    format!(
                        "still reads `{token}`, which {} replaces with `{}`",
                        o.at(),
                        String::from_utf8_lossy(&o.value)
                    ),
                )
                .hint(HAND_EDIT_HINT),
            );
        }
    }
}

/// An image repository with a registry path, as a version placeholder follows it.
fn is_image(img: &Option<String>) -> bool {
    img.as_deref()
        .is_some_and(|i| i.contains('/') && imageref::is_valid_name(i))
}

/// 3. Version placeholders: those written right after an image (`<registry>/<service>:COMMIT_SHA`).
fn version_tokens(occs: &[Occurrence]) -> BTreeSet<String> {
    occs.iter()
        .filter(|o| is_image(&o.image_before))
        .map(|o| o.token.clone())
        .collect()
}

/// 3. The services: the images the version placeholders follow, and the registry they share.
fn find_services(occs: &[Occurrence], version_tokens: &BTreeSet<String>, a: &mut Analysis) {
    let images: BTreeSet<String> = occs
        .iter()
        .filter(|o| version_tokens.contains(&o.token) && is_image(&o.image_before))
        .filter_map(|o| o.image_before.clone())
        .collect();
    (a.registry, a.services) = services_of(&images);
    for s in &a.services {
        if let Some(img) = &s.image_key {
            if img.contains('/') && !looks_qualified(img) {
                a.problems.push(Problem::new(
                    "promote.yaml",
                    None,
                    format!("image `{img}` names no registry host, and is not under the registry `{}`: promote.yaml cannot name it", a.registry),
                ));
            }
        }
    }
}

/// 4. Each version to its service, like the renderer does: the image right before it, or the
///    service the file is named after. One version per service and environment.
fn assign_versions(
    found: &Found,
    occs: &[Occurrence],
    version_tokens: &BTreeSet<String>,
    a: &mut Analysis,
) {
    a.versions = vec![BTreeMap::new(); found.envs.len()];
    let mut seen: BTreeMap<(usize, String), Vec<&Occurrence>> = BTreeMap::new();
    for o in occs.iter().filter(|o| version_tokens.contains(&o.token)) {
        let by_image = o
            .image_before
            .as_deref()
            .and_then(|img| a.services.iter().find(|s| s.image == img));
        let svc = by_image
            .map(|s| s.name.as_str())
            .or_else(|| file_service(&o.template, a.services.iter().map(|s| s.name.as_str())));
        match svc {
            Some(svc) => seen.entry((o.env, svc.to_string())).or_default().push(o),
            None => a.problems.push(
                Problem::new(
                    &o.output,
                    Some(o.line),
                    format!("`{}` here follows no service's image, and `{}` is not named after a service: whose version is it?", o.token, found.envs[o.env].path(&o.template)),
                )
                .hint(format!("promote renders `{}` as `<image>:{}` or in a file named `<service>-…`: rename the template (and its file) after the service", o.token, o.token)),
            ),
        }
    }
    for ((env, svc), list) in &mut seen {
        // On a tie, the version written after the image (what runs) is the one the others must match.
        list.sort_by_key(|o| {
            o.image_before.as_deref()
                != a.services
                    .iter()
                    .find(|s| &s.name == svc)
                    .map(|s| s.image.as_str())
        });
        let Some(value) = agree(list, &mut a.problems, &format!("service `{svc}` runs")) else {
            continue;
        };
        match Version::parse(&value) {
            Ok(v) => {
                a.versions[*env].insert(svc.clone(), v);
            }
            Err(e) => a.problems.push(Problem::new(
                &list[0].output,
                Some(list[0].line),
                format!("version of `{svc}`: {e}"),
            )),
        }
    }
}

/// 5. Every other placeholder: one value per environment, and a name for it.
fn name_placeholders(
    found: &Found,
    occs: &[Occurrence],
    mut tokens: Vec<String>,
    version_tokens: &BTreeSet<String>,
    a: &mut Analysis,
) {
    tokens.sort_by_key(|t| (!version_tokens.contains(t), t.clone()));
    let mut taken: BTreeSet<String> = ["version", "urls", "database", "kube_context"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for token in tokens {
        if version_tokens.contains(&token) {
            a.placeholders.push(PlaceholderFound {
                token,
                key: "version".into(),
                values: vec![None; found.envs.len()],
            });
            continue;
        }
        let mut values = vec![None; found.envs.len()];
        for (ei, v) in values.iter_mut().enumerate() {
            let list: Vec<&Occurrence> = occs
                .iter()
                .filter(|o| o.env == ei && o.token == token)
                .collect();
            if !list.is_empty() {
                *v = agree(
                    &list,
                    &mut a.problems,
                    &format!("placeholder `{token}` stands for"),
                );
            }
        }
        let key = key_for(&token, &mut taken);
        a.placeholders.push(PlaceholderFound { token, key, values });
    }
}

/// The value every occurrence agrees on; otherwise a problem at each occurrence that differs from
/// the most common value (the first one seen wins a tie).
fn agree(list: &[&Occurrence], problems: &mut Vec<Problem>, what: &str) -> Option<String> {
    let mut counts: Vec<(&[u8], usize)> = Vec::new();
    for o in list {
        match counts.iter_mut().find(|(v, _)| *v == o.value.as_slice()) {
            Some(c) => c.1 += 1,
            None => counts.push((&o.value, 1)),
        }
    }
    let best = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
        .map(|(_, (v, _))| *v)?;
    let first = list.iter().find(|o| o.value == best)?;
    let mut ok = true;
    for o in list.iter().filter(|o| o.value != best) {
        ok = false;
        problems.push(
            Problem::new(
                &o.output,
                Some(o.line),
                format!(
                    "{what} `{}` here, but `{}` in {}: one environment has one value",
                    String::from_utf8_lossy(&o.value),
                    String::from_utf8_lossy(best),
                    first.at()
                ),
            )
            .hint("a hand edit, or a file rendered with other values? make them agree, render with the old script, commit, and run `promote init` again"),
        );
    }
    let text = String::from_utf8(best.to_vec());
    if text.is_err() {
        problems.push(Problem::new(
            &first.output,
            Some(first.line),
            format!("{what} a value that is not UTF-8"),
        ));
    }
    text.ok().filter(|_| ok)
}

/// The registry (the most common parent of the images) and a service per image.
pub(super) fn services_of(images: &BTreeSet<String>) -> (String, Vec<ServiceFound>) {
    // Names are taken in Docker Hub's spelling: a template's `org/name` is the repository
    // `docker.io/org/name`, which promote.yaml can name (as the registry, or as a service's
    // `image`), while the template keeps its own spelling.
    let full = |i: &str| imageref::canonical_repository(i).into_owned();
    let parent = |i: &str| {
        full(i)
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in images {
        *counts.entry(parent(i)).or_default() += 1;
    }
    let registry = counts
        .iter()
        // The most used parent; on a tie, a registry host of the team's own before Docker Hub.
        .max_by_key(|(p, n)| {
            (
                **n,
                !p.starts_with("docker.io/"),
                std::cmp::Reverse((*p).clone()),
            )
        })
        .map(|(p, _)| p.clone())
        .unwrap_or_default();
    let mut services: Vec<ServiceFound> = Vec::new();
    for image in images {
        let canonical = full(image);
        let (dir, base) = canonical.rsplit_once('/').unwrap_or(("", &canonical));
        let mut name = env_name(base);
        if name.is_empty() || !is_name(&name) {
            name = "service".into();
        }
        if services.iter().any(|s| s.name == name) {
            let up = env_name(dir.rsplit('/').next().unwrap_or(""));
            name = format!("{up}-{name}").trim_matches('-').to_string();
        }
        let base_name = name.clone();
        let mut n = 2;
        while services.iter().any(|s| s.name == name) {
            name = format!("{base_name}-{n}");
            n += 1;
        }
        let image_key = if dir == registry && name == base {
            None
        } else if dir == registry {
            Some(base.to_string())
        } else {
            Some(canonical.clone())
        };
        services.push(ServiceFound {
            name,
            image: image.clone(),
            image_key,
        });
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    (registry, services)
}

/// Does `image` name its own registry (`ghcr.io/x`, `localhost:5000/x`)? As promote.yaml reads it.
fn looks_qualified(image: &str) -> bool {
    match image.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// A value key for a placeholder: `namespace`, `host_prefix`, or the token in lowercase.
pub(super) fn key_for(token: &str, taken: &mut BTreeSet<String>) -> String {
    let lower = token.to_ascii_lowercase();
    let words: Vec<&str> = lower.split('_').filter(|w| !w.is_empty()).collect();
    let has = |w: &str| words.contains(&w);
    let base = if has("namespace") || has("ns") {
        "namespace".to_string()
    } else if (has("domain") || has("host") || has("hostname")) && has("prefix") {
        "host_prefix".to_string()
    } else if (has("domain") || has("host") || has("hostname")) && has("suffix") {
        "host_suffix".to_string()
    } else {
        let kept: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !matches!(*w, "placeholder" | "ph" | "tpl" | "var"))
            .collect();
        if kept.is_empty() {
            words.join("_")
        } else {
            kept.join("_")
        }
    };
    let mut base = if base.is_empty() {
        "value".to_string()
    } else {
        base
    };
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base = format!("v_{base}");
    }
    let mut key = base.clone();
    let mut n = 2;
    while taken.contains(&key) {
        key = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(key.clone());
    key
}
