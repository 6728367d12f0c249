//! Reading a sed-templated ("legacy") repository, for `promote init` and `promote migrate`.
//!
//! The sed flow leaves, in each environment's directory, `X.yaml.tpl` templates beside `X.yaml`, what
//! sed made of them. Lining each template up with its rendered file, line by line, tells which ALL-CAPS
//! tokens are placeholders (where the two differ) and what each stood for in that environment; the
//! placeholder written right after `<image>:` is the version. Everything here reads; nothing writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value as Json};

use crate::model::audit;
use crate::model::config::{is_manifest_name, is_name, Config, Environment};
use crate::model::imageref::{self, ImageRef};
use crate::model::metadata::Metadata;
use crate::model::version::Version;
use crate::render::{self, Problem};

/// The metadata file of the sed flow (ArgoCD ignores the name), which is also promote's legacy default.
pub const METADATA_FILE: &str = "metadata.json.noargo";
/// The audit log of an environment.
pub const DEPLOY_LOG: &str = "deploy.log";
/// Top-level directories that are never environments: the old flow's preview templates and live
/// previews, and the native layout's own directories.
const NOT_ENVIRONMENTS: &[&str] = &["template", "templates", "prs", "environments"];

// ---------------------------------------------------------------------------------------------
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
fn env_name(dir: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Lining templates up with their rendered files.

/// The ALL-CAPS tokens of a line (`COMMIT_SHA`, `NAMESPACE_PLACEHOLDER`, `__TAG__`), as byte ranges:
/// runs of `A-Z`, `0-9` and `_` of two characters or more, with a letter, not starting with a digit.
fn tokens(line: &[u8]) -> Vec<(usize, usize)> {
    let in_token = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if !in_token(line[i]) {
            i += 1;
            continue;
        }
        let mut start = i;
        while i < line.len() && in_token(line[i]) {
            i += 1;
        }
        while start < i && line[start].is_ascii_digit() {
            start += 1;
        }
        if i - start >= 2 && line[start..i].iter().any(u8::is_ascii_uppercase) {
            out.push((start, i));
        }
    }
    out
}

/// Finds what each token of a template line stands for in the rendered line: the template's literal
/// text must match exactly, and each token is either itself or a value (on one line). Known values
/// of a token are tried first, then the token itself, then the shortest value that fits. Returns the
/// value's byte range in `out` per token, or None when the lines differ beyond the tokens.
struct Aligner<'a> {
    lits: Vec<&'a [u8]>,
    toks: Vec<&'a [u8]>,
    prefs: Vec<Option<&'a [u8]>>,
    out: &'a [u8],
    failed: HashSet<(usize, usize)>,
    chosen: Vec<(usize, usize)>,
    /// Steps left: a line with many tokens that does not match gives up instead of searching long.
    budget: usize,
}

impl Aligner<'_> {
    fn go(&mut self, i: usize, pos: usize) -> bool {
        let lit = self.lits[i];
        if !self.out[pos..].starts_with(lit) {
            return false;
        }
        let p = pos + lit.len();
        if i == self.toks.len() {
            return p == self.out.len();
        }
        if self.failed.contains(&(i, p)) || self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let rest = &self.out[p..];
        let mut tried: Vec<usize> = Vec::new();
        for cand in [self.prefs[i], Some(self.toks[i])].into_iter().flatten() {
            if rest.starts_with(cand) && !tried.contains(&cand.len()) {
                tried.push(cand.len());
                self.chosen[i] = (p, p + cand.len());
                if self.go(i + 1, p + cand.len()) {
                    return true;
                }
            }
        }
        let next = self.lits[i + 1];
        // A value never holds a line break (sed replaces within a line).
        let max = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        for n in 0..=max {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            if tried.contains(&n) || !rest[n..].starts_with(next) {
                continue;
            }
            self.chosen[i] = (p, p + n);
            if self.go(i + 1, p + n) {
                return true;
            }
        }
        self.failed.insert((i, p));
        false
    }
}

fn align_line(
    tpl: &[u8],
    out: &[u8],
    toks: &[(usize, usize)],
    prefs: &HashMap<Vec<u8>, Vec<u8>>,
) -> Option<Vec<(usize, usize)>> {
    let mut lits = Vec::with_capacity(toks.len() + 1);
    let mut at = 0;
    for &(s, e) in toks {
        lits.push(&tpl[at..s]);
        at = e;
    }
    lits.push(&tpl[at..]);
    let toks_b: Vec<&[u8]> = toks.iter().map(|&(s, e)| &tpl[s..e]).collect();
    let mut a = Aligner {
        lits,
        prefs: toks_b
            .iter()
            .map(|t| prefs.get(*t).map(Vec::as_slice))
            .collect(),
        toks: toks_b,
        out,
        failed: HashSet::new(),
        chosen: vec![(0, 0); toks.len()],
        budget: 200_000,
    };
    a.go(0, 0).then_some(a.chosen)
}

/// One place where a token of a template stands in its rendered file.
#[derive(Debug, Clone)]
struct Occurrence {
    env: usize,
    /// The template's file name.
    template: String,
    /// The rendered file (repository-relative).
    output: String,
    line: usize,
    token: String,
    value: Vec<u8>,
    /// The image written right before the value (`<image>:`), as promote's renderer reads it.
    image_before: Option<String>,
}

impl Occurrence {
    fn at(&self) -> String {
        format!("`{}` (line {})", self.output, self.line)
    }
}

/// The service a file is named after (`api-deployment.yaml.tpl` -> `api`), the longest that fits.
pub fn file_service<'a>(
    file_name: &str,
    services: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    services
        .filter(|s| {
            file_name
                .strip_prefix(*s)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('.'))
        })
        .max_by_key(|s| s.len())
}

fn shown(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let s = s.trim_end_matches(['\n', '\r']);
    let trimmed = s.trim_start();
    if trimmed.chars().count() > 72 {
        format!("{}…", trimmed.chars().take(72).collect::<String>())
    } else {
        trimmed.to_string()
    }
}

const HAND_EDIT_HINT: &str = "a hand edit? make the template say what the file should say (or undo the edit), render with the old script, commit, and run `promote init` again";

/// Lines one template up with its rendered file: the occurrences of its tokens, the first line where
/// the identity of a token that is left as it is (`first_identity`), or the problem that stops it.
#[allow(clippy::too_many_arguments)]
fn align_file(
    env: usize,
    template: &str,
    tpl_path: &str,
    output: &str,
    tpl: &[u8],
    out: &[u8],
    prefs: &mut HashMap<Vec<u8>, Vec<u8>>,
    identity: &mut HashMap<(usize, String), (String, usize)>,
) -> std::result::Result<Vec<Occurrence>, Problem> {
    let tl: Vec<&[u8]> = tpl.split_inclusive(|&b| b == b'\n').collect();
    let ol: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    let mut occs = Vec::new();
    let mut same: Vec<(String, usize)> = Vec::new();
    for i in 0..tl.len().max(ol.len()) {
        let n = i + 1;
        let (t, o) = match (tl.get(i), ol.get(i)) {
            (Some(t), Some(o)) => (*t, *o),
            (Some(t), None) => {
                return Err(Problem::new(
                    output,
                    Some(n),
                    format!(
                    "ends before its template `{tpl_path}` does (the template goes on with `{}`)",
                    shown(t)
                ),
                )
                .hint(HAND_EDIT_HINT))
            }
            (None, Some(o)) => {
                return Err(Problem::new(
                    output,
                    Some(n),
                    format!(
                        "goes on after its template `{tpl_path}` ends (with `{}`)",
                        shown(o)
                    ),
                )
                .hint(HAND_EDIT_HINT))
            }
            (None, None) => break,
        };
        let toks = tokens(t);
        if t == o {
            for (s, e) in toks {
                same.push((String::from_utf8_lossy(&t[s..e]).to_string(), n));
            }
            continue;
        }
        let Some(ranges) = align_line(t, o, &toks, prefs) else {
            return Err(Problem::new(
                output,
                Some(n),
                format!(
                    "differs from its template `{tpl_path}` beyond placeholders: the template has `{}`, the file `{}`",
                    shown(t),
                    shown(o)
                ),
            )
            .hint(HAND_EDIT_HINT));
        };
        for (&(s, e), &(vs, ve)) in toks.iter().zip(&ranges) {
            let token = &t[s..e];
            let value = &o[vs..ve];
            let name = String::from_utf8_lossy(token).to_string();
            if token == value {
                same.push((name, n));
                continue;
            }
            prefs.insert(token.to_vec(), value.to_vec());
            occs.push(Occurrence {
                env,
                template: template.to_string(),
                output: output.to_string(),
                line: n,
                token: name,
                value: value.to_vec(),
                image_before: crate::render::image_before(&o[..vs]).map(str::to_string),
            });
        }
    }
    for (token, line) in same {
        identity
            .entry((env, token))
            .or_insert_with(|| (output.to_string(), line));
    }
    Ok(occs)
}

// ---------------------------------------------------------------------------------------------
// What the alignment says.

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
    let mut occs: Vec<Occurrence> = Vec::new();
    let mut identity: HashMap<(usize, String), (String, usize)> = HashMap::new();

    // 1. Line up every pair.
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

    // 2. Placeholders: tokens that some rendered file replaced. Left as they are elsewhere, they are
    //    a file the old script did not render, or a hand edit: sed replaces every one.
    let mut tokens: Vec<String> = occs
        .iter()
        .map(|o| o.token.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
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
            a.problems.push(
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

    // 3. Version placeholders: those written right after an image (`<registry>/<service>:COMMIT_SHA`).
    let is_image = |img: &Option<String>| {
        img.as_deref()
            .is_some_and(|i| i.contains('/') && imageref::is_valid_name(i))
    };
    let version_tokens: BTreeSet<String> = occs
        .iter()
        .filter(|o| is_image(&o.image_before))
        .map(|o| o.token.clone())
        .collect();
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

    // 4. Each version to its service, like the renderer does: the image right before it, or the
    //    service the file is named after. One version per service and environment.
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

    // 5. Every other placeholder: one value per environment, and a name for it.
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
    Ok(a)
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
fn services_of(images: &BTreeSet<String>) -> (String, Vec<ServiceFound>) {
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
fn key_for(token: &str, taken: &mut BTreeSet<String>) -> String {
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

// ---------------------------------------------------------------------------------------------
// The old metadata file, best effort.

/// What an old metadata file holds, as far as it can be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OldMetadata {
    /// `promote` (already promote's format), `json` (another JSON format), `lines` (`key=value`
    /// lines), or `unreadable`.
    pub format: &'static str,
    /// Versions by service, as written.
    pub versions: BTreeMap<String, String>,
    pub urls: Map<String, Json>,
    pub database: Option<Json>,
    pub kube_context: Option<Json>,
    /// The latest time it mentions, RFC 3339 UTC.
    pub time: Option<String>,
    /// Keys it has that promote does not carry over.
    pub unused: Vec<String>,
}

/// Reads an old metadata file: promote's own format, or any JSON (or `key=value` lines) whose keys
/// mention the services, URLs, the database, the kube context and a time.
pub fn read_old_metadata(bytes: &[u8], services: &[String]) -> OldMetadata {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(m) = Metadata::parse("metadata", &text) {
        return OldMetadata {
            format: "promote",
            versions: m
                .services
                .iter()
                .map(|(k, v)| (k.clone(), v.version.to_string()))
                .collect(),
            urls: m
                .urls
                .and_then(|u| u.as_object().cloned())
                .unwrap_or_default(),
            database: m.database,
            kube_context: m.kube_context,
            time: m.updated,
            unused: Vec::new(),
        };
    }
    let (format, value) = match serde_json::from_str::<Json>(&text) {
        Ok(v @ Json::Object(_)) => ("json", v),
        _ => {
            let mut map = Map::new();
            for line in text.lines() {
                let line = line.trim().trim_start_matches("export ").trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(": ")) else {
                    continue;
                };
                let v = v.trim().trim_matches('"').trim_matches('\'');
                map.insert(k.trim().to_string(), Json::String(v.to_string()));
            }
            if map.is_empty() {
                return OldMetadata {
                    format: "unreadable",
                    ..Default::default()
                };
            }
            ("lines", Json::Object(map))
        }
    };
    let mut leaves = Vec::new();
    flatten(&value, &mut Vec::new(), &mut leaves);
    let mut old = OldMetadata {
        format,
        ..Default::default()
    };
    let mut sorted: Vec<&String> = services.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for (path, v) in leaves {
        let lower: Vec<String> = path.iter().map(|p| p.to_ascii_lowercase()).collect();
        // The words that say what a field is, from its keys without the service names they
        // mention: `images.catalogue-db` is the service `catalogue-db`, not a database field,
        // while `db` and `catalogue-db_url` still are a database and a URL.
        let unnamed: Vec<String> = lower.iter().map(|p| without_services(p, &sorted)).collect();
        let words: Vec<&str> = unnamed
            .iter()
            .flat_map(|p| p.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| !w.is_empty())
            .collect();
        let has = |set: &[&str]| words.iter().any(|w| set.contains(w));
        let s = v.as_str().unwrap_or_default();
        let svc = lower.iter().rev().find_map(|p| {
            sorted
                .iter()
                .find(|s| mentions(p, s))
                .map(|s| s.to_string())
        });
        if has(&["database", "db", "postgres", "postgresql", "mysql", "dsn"])
            || ["postgres://", "postgresql://", "mysql://", "mongodb://"]
                .iter()
                .any(|p| s.starts_with(p))
        {
            old.database.get_or_insert(v);
        } else if has(&["url", "urls", "uri", "endpoint", "endpoints"])
            || s.starts_with("http://")
            || s.starts_with("https://")
        {
            let name = svc.clone().unwrap_or_else(|| {
                let last = lower.last().cloned().unwrap_or_default();
                let kept: Vec<&str> = last
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty() && !matches!(*w, "url" | "urls" | "uri"))
                    .collect();
                if kept.is_empty() {
                    "url".into()
                } else {
                    kept.join("_")
                }
            });
            old.urls.entry(name).or_insert(v);
        } else if has(&["context", "kubecontext", "kubectx", "kube", "cluster"]) {
            old.kube_context.get_or_insert(v);
        } else if has(&[
            "time",
            "timestamp",
            "date",
            "updated",
            "deployed",
            "at",
            "when",
            "last",
        ]) && parse_time(&v).is_some()
        {
            let t = parse_time(&v);
            if old.time.is_none() || t > old.time {
                old.time = t;
            }
        } else if let (Some(svc), Some(version)) = (svc, version_in(s)) {
            old.versions.entry(svc).or_insert(version);
        } else {
            old.unused.push(path.join("."));
        }
    }
    old
}

/// A key with every service name it mentions (longest first) cut out.
fn without_services(part: &str, longest_first: &[&String]) -> String {
    let mut part = part.to_string();
    for svc in longest_first {
        while mentions(&part, svc) {
            let Some(at) = find_mention(&part, svc) else {
                break;
            };
            part.replace_range(at..at + svc.len(), " ");
        }
    }
    part
}

/// Where `svc` stands as a whole word of `part` (see `mentions`).
fn find_mention(part: &str, svc: &str) -> Option<usize> {
    let sep = |c: char| !c.is_ascii_alphanumeric() && c != '-';
    part.match_indices(svc).map(|(i, _)| i).find(|&i| {
        let before = part[..i].chars().next_back();
        let after = part[i + svc.len()..].chars().next();
        before.is_none_or(sep) && after.is_none_or(sep)
    })
}

fn mentions(part: &str, svc: &str) -> bool {
    let sep = |c: char| !c.is_ascii_alphanumeric() && c != '-';
    part == svc
        || part.strip_prefix(svc).is_some_and(|r| r.starts_with(sep))
        || part.strip_suffix(svc).is_some_and(|r| r.ends_with(sep))
        || part.split(sep).any(|w| w == svc)
}

/// A version in a value: an image reference's tag (and digest), or a version by itself.
fn version_in(s: &str) -> Option<String> {
    if s.contains('/') {
        let r = ImageRef::parse(s).ok()?;
        let v = Version {
            tag: r.tag,
            digest: r.digest,
        };
        return (v.tag.is_some() || v.digest.is_some()).then(|| v.to_string());
    }
    Version::parse(s).ok().map(|v| v.to_string())
}

fn flatten(v: &Json, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Json)>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                path.push(k.clone());
                flatten(v, path, out);
                path.pop();
            }
        }
        other => out.push((path.clone(), other.clone())),
    }
}

/// A time in RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), or Unix seconds, as RFC 3339 UTC.
fn parse_time(v: &Json) -> Option<String> {
    if let Some(n) = v.as_i64() {
        return (n > 1_000_000_000)
            .then(|| Utc.timestamp_opt(n, 0).single())
            .flatten()
            .map(audit::timestamp);
    }
    let s = v.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(audit::timestamp(t.with_timezone(&Utc)));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S UTC",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(audit::timestamp(Utc.from_utc_datetime(&t)));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// promote.yaml for the legacy layout.

/// What `promote init` proposes for one environment.
#[derive(Debug, Clone)]
pub struct EnvProposal {
    pub name: String,
    /// The directory, when it is not the environment's name.
    pub dir: Option<String>,
    pub from: Option<String>,
    pub values: Vec<(String, Json)>,
}

/// What `promote init` proposes.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub registry: String,
    pub services: Vec<ServiceFound>,
    pub placeholders: Vec<(String, String)>,
    pub envs: Vec<EnvProposal>,
    /// A note on the old flow's previews, written as a comment.
    pub previews: Option<String>,
}

/// promote.yaml for a proposal, commented.
pub fn config_text(p: &Proposal) -> String {
    let version = p
        .placeholders
        .iter()
        .find(|(_, k)| k == "version")
        .map(|(t, _)| t.as_str())
        .unwrap_or("COMMIT_SHA");
    let mut s = String::new();
    s.push_str("# promote.yaml: written by `promote init` from the sed-templated layout it found in this repository.\n");
    s.push_str("# `promote config` prints the effective configuration; `promote check` checks the whole repository.\n\n");
    s.push_str("# The sed layout, as it is: every `<env>/*.yaml.tpl` renders to `<env>/*.yaml`, byte for byte as the\n");
    s.push_str(
        "# old script did. `promote migrate` converts it to shared minijinja templates later.\n",
    );
    s.push_str("layout: legacy\n\n");
    s.push_str("# Images are `<registry>/<service>` unless a service names its own `image:`.\n");
    s.push_str(&format!("registry: {}\n\n", yaml_scalar(&p.registry)));
    s.push_str(&format!(
        "# The services: the images the templates write as `<image>:{version}`.\n"
    ));
    s.push_str("services:\n");
    for svc in &p.services {
        s.push_str(&format!("  {}:\n", svc.name));
        if let Some(i) = &svc.image_key {
            s.push_str(&format!("    image: {}\n", yaml_scalar(i)));
        }
    }
    s.push_str("\n# What each sed placeholder stands for. `version` is the version of the image written right before\n");
    s.push_str(&format!("# it (`<image>:{version}`), or of the service the file is named after (`api-deployment.yaml.tpl`);\n"));
    s.push_str("# any other name is a key of the environment's `values`.\n");
    s.push_str("placeholders:\n");
    for (t, k) in &p.placeholders {
        s.push_str(&format!("  {}: {}\n", yaml_key(t), yaml_scalar(k)));
    }
    s.push_str("\n# The pipeline, from the environments' names (dev, then test/qa, then staging, then prod): each\n");
    s.push_str("# environment takes its versions from the one in `from:`. Edit `from:` if your order differs.\n");
    s.push_str("# `urls`, `database` and `kube_context` are copied into each environment's metadata file.\n");
    s.push_str("environments:\n");
    for e in &p.envs {
        s.push_str(&format!("  {}:\n", e.name));
        if let Some(d) = &e.dir {
            s.push_str(&format!("    dir: {}\n", yaml_scalar(d)));
        }
        if let Some(f) = &e.from {
            s.push_str(&format!("    from: {f}\n"));
        }
        if !e.values.is_empty() {
            s.push_str("    values:\n");
            for (k, v) in &e.values {
                yaml_entry(&mut s, k, v, 6);
            }
        }
    }
    if let Some(note) = &p.previews {
        s.push('\n');
        for line in note.lines() {
            s.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
    }
    s
}

fn yaml_entry(s: &mut String, key: &str, v: &Json, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Json::Object(m) if !m.is_empty() => {
            s.push_str(&format!("{pad}{}:\n", yaml_key(key)));
            for (k, v) in m {
                yaml_entry(s, k, v, indent + 2);
            }
        }
        Json::String(x) => s.push_str(&format!("{pad}{}: {}\n", yaml_key(key), yaml_scalar(x))),
        other => s.push_str(&format!("{pad}{}: {}\n", yaml_key(key), other)),
    }
}

fn yaml_key(k: &str) -> String {
    let simple = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if simple {
        k.to_string()
    } else {
        Json::String(k.to_string()).to_string()
    }
}

/// A string as YAML: plain when YAML reads it back as the same string, else double-quoted.
pub fn yaml_scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        Json::String(s.to_string()).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy templates as minijinja templates (`promote migrate`).

/// Where the text of a template needs protecting from minijinja: `{{`, `{%`, `{#`, or a `{` that would
/// join the `{{` of an expression after it.
fn needs_raw(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#") || s.ends_with('{')
}

/// Literal text in a minijinja template: as it is, or in a `{% raw %}` block when minijinja would
/// read some of it as its own syntax (`{{PROJECT_ID}}` stays text).
pub fn literal(s: &str) -> String {
    if !needs_raw(s) {
        return s.to_string();
    }
    if !s.contains("endraw") {
        return format!("{{% raw %}}{s}{{% endraw %}}");
    }
    // Text that itself says `endraw`: print each `{` as a string instead.
    s.replace('{', "{{ \"{\"|safe }}")
}

/// An attribute path for minijinja: `values.namespace`, `versions["my-svc"]`.
pub fn access(base: &str, path: &str) -> String {
    let mut out = base.to_string();
    for part in path.split('.') {
        let ident = part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ident {
            out.push('.');
            out.push_str(part);
        } else {
            out.push_str(&format!("[{}]", Json::String(part.to_string())));
        }
    }
    out
}

/// Converts one legacy template to minijinja text that renders, for `env`, the bytes the legacy
/// renderer makes: the same walk over the bytes (longest placeholder first), the same choice of the
/// service a version belongs to. `dir_service` is the service whose directory the template goes to
/// (its `image` and `version` are then the template's own); `safe` lists the value keys to print as
/// they are (`|safe`), because their values are not plain YAML text.
pub fn to_jinja(
    config: &Config,
    env: &Environment,
    versions: &BTreeMap<String, Version>,
    file_name: &str,
    bytes: &[u8],
    dir_service: Option<&str>,
    safe: &BTreeSet<String>,
) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "is not UTF-8, and minijinja templates must be".to_string())?;
    let fsvc = file_service(file_name, config.services.iter().map(|s| s.name.as_str()))
        .map(str::to_string);
    let mut placeholders: Vec<&(String, String)> = config.placeholders.iter().collect();
    placeholders.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));

    let mut out: Vec<u8> = Vec::new(); // what the legacy renderer writes, to find the image before
    let mut tpl = String::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some((ph, key)) = placeholders
            .iter()
            .find(|(p, _)| bytes[i..].starts_with(p.as_bytes()))
        else {
            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
            lit.push(ch);
            out.extend_from_slice(&bytes[i..i + ch.len_utf8()]);
            i += ch.len_utf8();
            continue;
        };
        let (expr, value) = if key == "version" {
            let by_image = crate::render::image_before(&out).and_then(|img| {
                config
                    .services
                    .iter()
                    .find(|s| imageref::same_repository(&s.image, img))
            });
            let svc = by_image
                .map(|s| s.name.clone())
                .or_else(|| fsvc.clone())
                .ok_or_else(|| format!("cannot tell whose version `{ph}` is"))?;
            let v = versions
                .get(&svc)
                .ok_or_else(|| format!("service `{svc}` has no version in `{}`", env.name))?;
            let own = dir_service == Some(svc.as_str());
            match by_image {
                // `<image>:COMMIT_SHA` is the image reference: `{{ image }}`.
                Some(s) if lit.ends_with(&format!("{}:", s.image)) => {
                    lit.truncate(lit.len() - s.image.len() - 1);
                    let e = if own {
                        "image".to_string()
                    } else {
                        access("images", &svc)
                    };
                    (e, v.to_string())
                }
                _ => (
                    if own {
                        "version".to_string()
                    } else {
                        access("versions", &svc)
                    },
                    v.to_string(),
                ),
            }
        } else {
            let value = match render::lookup(&env.values, key) {
                Some(Json::String(s)) => s.clone(),
                Some(v @ (Json::Number(_) | Json::Bool(_))) => v.to_string(),
                _ => {
                    return Err(format!(
                        "placeholder `{ph}`: `values.{key}` is not set in `{}`",
                        env.name
                    ))
                }
            };
            let e = access("values", key);
            (
                if safe.contains(key.as_str()) {
                    format!("{e}|safe")
                } else {
                    e
                },
                value,
            )
        };
        tpl.push_str(&literal(&std::mem::take(&mut lit)));
        tpl.push_str(&format!("{{{{ {expr} }}}}"));
        out.extend_from_slice(value.as_bytes());
        i += ph.len();
    }
    tpl.push_str(&literal(&lit));
    Ok(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        tokens(s.as_bytes())
            .into_iter()
            .map(|(a, b)| &s[a..b])
            .collect()
    }

    #[test]
    fn tokens_are_all_caps_runs() {
        assert_eq!(
            toks("    - host: DOMAIN_PREFIXapi.example.com"),
            ["DOMAIN_PREFIX"]
        );
        assert_eq!(
            toks("image: r.io/api:COMMIT_SHA # A x __TAG__ 8080 2XL"),
            ["COMMIT_SHA", "__TAG__", "XL"]
        );
        assert_eq!(toks("project: {{PROJECT_ID}}"), ["PROJECT_ID"]);
    }

    fn align(t: &str, o: &str) -> Option<Vec<String>> {
        let toks = tokens(t.as_bytes());
        align_line(t.as_bytes(), o.as_bytes(), &toks, &HashMap::new())
            .map(|r| r.into_iter().map(|(a, b)| o[a..b].to_string()).collect())
    }

    #[test]
    fn lines_align_on_their_literal_text() {
        assert_eq!(
            align(
                "  image: r.io/api:COMMIT_SHA\n",
                "  image: r.io/api:a252dcc\n"
            )
            .unwrap(),
            ["a252dcc"]
        );
        assert_eq!(
            align("- host: DOMAIN_PREFIXapi.x\r\n", "- host: api.x\r\n").unwrap(),
            [""]
        );
        // Tokens left as they are stand for themselves.
        assert_eq!(
            align("- name: PORT # NS_X\n", "- name: PORT # acme\n").unwrap(),
            ["PORT", "acme"]
        );
        // A hand edit outside the tokens.
        assert_eq!(
            align("replicas: 1 # COMMIT_SHA\n", "replicas: 3 # abc\n"),
            None
        );
        assert_eq!(align("a: COMMIT_SHA\n", "a: abc\nb\n"), None);
    }

    #[test]
    fn many_tokens_on_a_line_that_does_not_match_give_up_quickly() {
        let t = format!("{}\n", "AB ".repeat(400));
        let o = format!("{}x\n", "ab ".repeat(400));
        let start = std::time::Instant::now();
        assert_eq!(align(&t, &o), None);
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn pipeline_by_name() {
        let names: Vec<String> = ["prod", "dev", "staging", "qa"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = pipeline(&names);
        assert_eq!(
            p,
            vec![
                ("dev".to_string(), None),
                ("qa".to_string(), Some("dev".to_string())),
                ("staging".to_string(), Some("qa".to_string())),
                ("prod".to_string(), Some("staging".to_string())),
            ]
        );
        let names: Vec<String> = ["prod-us", "prod-eu", "dev"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = pipeline(&names);
        assert_eq!(p[1], ("prod-eu".to_string(), Some("dev".to_string())));
        assert_eq!(p[2], ("prod-us".to_string(), Some("dev".to_string())));
    }

    #[test]
    fn placeholder_keys() {
        let mut taken = BTreeSet::new();
        assert_eq!(key_for("NAMESPACE_PLACEHOLDER", &mut taken), "namespace");
        assert_eq!(key_for("DOMAIN_PREFIX", &mut taken), "host_prefix");
        assert_eq!(key_for("__PROJECT_ID__", &mut taken), "project_id");
        assert_eq!(key_for("K8S_NS", &mut taken), "namespace_2");
    }

    #[test]
    fn services_and_registry_from_images() {
        let images: BTreeSet<String> = ["r.io/acme/api", "r.io/acme/web", "ghcr.io/x/proxy_v2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (registry, services) = services_of(&images);
        assert_eq!(registry, "r.io/acme");
        assert_eq!(
            services[0],
            ServiceFound {
                name: "api".into(),
                image: "r.io/acme/api".into(),
                image_key: None
            }
        );
        assert_eq!(services[1].name, "proxy-v2");
        assert_eq!(services[1].image_key.as_deref(), Some("ghcr.io/x/proxy_v2"));
    }

    #[test]
    fn old_metadata_best_effort() {
        let text = r#"{"api_sha": "a252dcc", "images": {"web": "r.io/acme/web:b3f1e2d"},
            "api_url": "https://api.dev.example", "database": "postgres://db/acme",
            "kube_context": "gke_dev", "deployed_at": "2024-05-01 10:00:00", "by": "bob"}"#;
        let old = read_old_metadata(text.as_bytes(), &["api".into(), "web".into()]);
        assert_eq!(old.format, "json");
        assert_eq!(old.versions.get("api").unwrap(), "a252dcc");
        assert_eq!(old.versions.get("web").unwrap(), "b3f1e2d");
        assert_eq!(old.urls.get("api").unwrap(), "https://api.dev.example");
        assert_eq!(old.database.unwrap(), "postgres://db/acme");
        assert_eq!(old.kube_context.unwrap(), "gke_dev");
        assert_eq!(old.time.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(old.unused, ["by"]);
        let lines = read_old_metadata(b"API_SHA=a252dcc\nKUBE_CONTEXT=gke\n", &["api".into()]);
        assert_eq!(lines.format, "lines");
        assert_eq!(lines.versions.get("api").unwrap(), "a252dcc");
        assert_eq!(read_old_metadata(b"\x00\x01", &[]).format, "unreadable");
    }

    #[test]
    fn old_metadata_services_named_like_fields_stay_services() {
        let text = r#"{"db": "dev-db.internal", "kube_context": "gke_dev",
            "images": {"catalogue-db": "7a7596b", "user-db": "r.io/acme/user-db:b3f1e2d",
                       "catalogue": "c0ffee1", "session-db-url": "8bad1de"},
            "urls": {"catalogue-db_url": "https://cat.dev.example"}}"#;
        let services: Vec<String> = ["catalogue-db", "user-db", "catalogue", "session-db-url"]
            .map(String::from)
            .to_vec();
        let old = read_old_metadata(text.as_bytes(), &services);
        assert_eq!(old.database.unwrap(), "dev-db.internal");
        assert_eq!(old.versions.get("catalogue-db").unwrap(), "7a7596b");
        assert_eq!(old.versions.get("user-db").unwrap(), "b3f1e2d");
        assert_eq!(old.versions.get("catalogue").unwrap(), "c0ffee1");
        assert_eq!(old.versions.get("session-db-url").unwrap(), "8bad1de");
        assert_eq!(
            old.urls.get("catalogue-db").unwrap(),
            "https://cat.dev.example"
        );
        assert_eq!(old.kube_context.unwrap(), "gke_dev");
        assert!(old.unused.is_empty(), "{:?}", old.unused);
    }

    #[test]
    fn literals_survive_minijinja() {
        assert_eq!(literal("a: b\n"), "a: b\n");
        assert_eq!(
            literal("p: {{PROJECT_ID}}\n"),
            "{% raw %}p: {{PROJECT_ID}}\n{% endraw %}"
        );
        assert_eq!(literal("x{"), "{% raw %}x{{% endraw %}");
        assert_eq!(access("versions", "my-svc"), "versions[\"my-svc\"]");
        assert_eq!(access("values", "a.b"), "values.a.b");
    }

    #[test]
    fn yaml_scalars() {
        assert_eq!(yaml_scalar("acme-dev"), "acme-dev");
        assert_eq!(yaml_scalar("dev."), "dev.");
        assert_eq!(yaml_scalar(""), "\"\"");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_scalar("0123"), "\"0123\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    }
}
