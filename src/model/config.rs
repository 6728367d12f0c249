//! `promote.yaml`: the one config file at the repository root.
//!
//! Parsing is strict (`deny_unknown_fields`) and every error names the file and line. Defaults live in
//! one place ([`Config::resolve`]), and the resolved config is what `promote config` prints.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::Failure;
use crate::model::gates::Gates;
use crate::model::imageref;

pub const CONFIG_FILE: &str = "promote.yaml";

/// How templates are laid out in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Shared minijinja templates under `templates/`, one directory per environment.
    #[default]
    Native,
    /// Per-environment `*.yaml.tpl` files with sed placeholders.
    Legacy,
}

/// A map that keeps the order keys were written in (services and environments are shown in that order).
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "`{key}` is declared twice"
                        )));
                    }
                    let value = map.next_value::<Option<V>>()?;
                    match value {
                        Some(v) => out.push((key, v)),
                        None => {
                            // `api:` with nothing after it means "all defaults".
                            let v = V::deserialize(serde::de::value::MapDeserializer::<
                                std::iter::Empty<((), ())>,
                                A::Error,
                            >::new(
                                std::iter::empty()
                            ))?;
                            out.push((key, v));
                        }
                    }
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_any(V_(PhantomData))
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    registry: Option<String>,
    #[serde(default)]
    layout: Layout,
    templates: Option<String>,
    services: Ordered<RawService>,
    #[serde(default)]
    values: Option<serde_yaml::Value>,
    #[serde(default)]
    placeholders: Ordered<String>,
    environments: Ordered<RawEnvironment>,
    previews: Option<RawPreviews>,
    hosting: Option<RawHosting>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHosting {
    kind: Option<crate::model::hosting::Kind>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    from: Option<String>,
    dir: Option<String>,
    manifests: Option<String>,
    metadata: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    values: Option<serde_yaml::Value>,
    #[serde(default)]
    gates: Gates,
    #[serde(default)]
    approval: Approval,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreviews {
    dir: Option<String>,
    templates: Option<String>,
    from: Option<String>,
    values: Option<serde_yaml::Value>,
}

// ---------------------------------------------------------------------------------------------
// The resolved config: every default filled in, every path relative to the repository root.

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Absolute path of the repository root (not printed).
    #[serde(skip)]
    pub root: PathBuf,
    pub registry: String,
    pub layout: Layout,
    /// Shared template directory (native layout).
    pub templates: String,
    pub services: Vec<Service>,
    /// Placeholder -> value key (`version` means the image version), legacy layout.
    pub placeholders: Vec<(String, String)>,
    pub environments: Vec<Environment>,
    pub previews: Option<Previews>,
    /// Where pull requests are opened (`--pr`): the hosting's kind and the repository's web address,
    /// when they cannot be read from the remote's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosting: Option<Hosting>,
    /// Where each service is in `services`: a promotion looks up every one.
    #[serde(skip)]
    service_at: HashMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// Full repository name, e.g. `europe-docker.pkg.dev/acme/apps/api`.
    pub image: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    /// The environment this one takes its versions from.
    pub from: Option<String>,
    /// The environment's directory (state, overrides, and in the legacy layout its manifests).
    pub dir: String,
    /// The directory ArgoCD syncs: rendered manifests only.
    pub manifests: String,
    /// The metadata file.
    pub metadata: String,
    /// The audit log.
    pub deploy_log: String,
    /// Template overrides for this environment (native layout).
    pub templates: String,
    /// Shared templates this environment does not render (paths relative to `templates`).
    pub exclude: Vec<String>,
    /// Values, the shared `values` merged with the environment's own.
    pub values: Json,
    /// Promotion gates into this environment.
    #[serde(skip_serializing_if = "gates_empty")]
    pub gates: Gates,
    /// How changes reach this environment: `direct` commits, or `pr` (pull requests only).
    pub approval: Approval,
}

/// How changes reach an environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// promote commits (and with `--push` pushes) the change itself.
    #[default]
    Direct,
    /// Only by pull request (`--pr`): a direct commit is refused.
    Pr,
}

/// The `hosting` section.
#[derive(Debug, Clone, Serialize)]
pub struct Hosting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::model::hosting::Kind>,
    /// The repository's web address (`https://git.acme.example/platform/config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn gates_empty(g: &Gates) -> bool {
    *g == Gates::default()
}

#[derive(Debug, Clone, Serialize)]
pub struct Previews {
    pub dir: String,
    pub templates: String,
    pub from: Option<String>,
    pub values: Json,
}

impl Environment {
    /// How an environment gets versions, following the pipeline: the start of the pipeline by
    /// `set-image`, any other by a promotion from the environment it takes from.
    pub fn versions_hint(&self) -> String {
        match &self.from {
            Some(from) => format!(
                "promote into it first: `promote to {}` (it takes from `{from}`)",
                self.name
            ),
            None => format!(
                "set them first: `promote set-image {} --sha <sha>` (the start of the pipeline)",
                self.name
            ),
        }
    }
}

impl Config {
    /// Reads `promote.yaml` at `root`.
    pub fn load(root: &Path) -> Result<Config> {
        crate::fs::links::no_link(root, CONFIG_FILE)?;
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::NoConfig {
                    root: root.to_path_buf(),
                }
                .into())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        let config = Self::parse(root, &text)?;
        check_links(&config)?;
        Ok(config)
    }

    /// Parses config text (the file is always reported as `promote.yaml`).
    pub fn parse(root: &Path, text: &str) -> Result<Config> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            Failure::ConfigSyntax {
                at,
                error: strip_location(&e.to_string()),
            }
        })?;
        Self::resolve(root, raw, text)
    }

    /// Every default filled in and every rule checked, in the order a user reads the file: the first
    /// problem found is the one reported, with its line.
    fn resolve(root: &Path, raw: RawConfig, text: &str) -> Result<Config> {
        let src = Source(text);
        let registry = resolve_registry(&src, raw.registry)?;
        let services = resolve_services(&src, raw.services, &registry)?;
        let templates = clean_path(raw.templates.as_deref().unwrap_or("templates"))
            .map_err(|m| src.err(&["templates"], m))?;
        let shared_values = to_json(raw.values, "values").map_err(|m| src.err(&["values"], m))?;
        let (names, environments) =
            resolve_environments(&src, raw.environments, raw.layout, &shared_values)?;
        check_pipeline(&src, &environments)?;
        let placeholders = resolve_placeholders(&src, raw.placeholders, raw.layout)?;
        let previews = match raw.previews {
            None => None,
            Some(p) => {
                let p = resolve_previews(&src, p, &names, &templates, &shared_values)?;
                check_previews_dir(&src, &p, &environments, &templates)?;
                Some(p)
            }
        };
        let hosting = raw.hosting.map(|h| resolve_hosting(&src, h)).transpose()?;

        let service_at = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Ok(Config {
            root: root.to_path_buf(),
            registry,
            layout: raw.layout,
            templates,
            services,
            placeholders,
            environments,
            previews,
            hosting,
            service_at,
        })
    }

    /// The environment named `name`, or an error with a "did you mean" hint.
    pub fn env(&self, name: &str) -> Result<&Environment> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                let names: Vec<String> = self.environments.iter().map(|e| e.name.clone()).collect();
                Failure::UnknownEnvironment {
                    name: name.to_string(),
                    suggestion: did_you_mean(name, &names),
                    known: names,
                }
                .into()
            })
    }

    /// The service named `name`, or an error with a "did you mean" hint.
    pub fn service(&self, name: &str) -> Result<&Service> {
        self.service_at
            .get(name)
            .map(|&i| &self.services[i])
            .ok_or_else(|| {
                let names: Vec<String> = self.services.iter().map(|s| s.name.clone()).collect();
                Failure::UnknownService {
                    name: name.to_string(),
                    suggestion: did_you_mean(name, &names),
                    known: names,
                }
                .into()
            })
    }

    /// Environments that take from `name`.
    pub fn downstream(&self, name: &str) -> Vec<&Environment> {
        self.environments
            .iter()
            .filter(|e| e.from.as_deref() == Some(name))
            .collect()
    }

    /// Absolute path of a repository-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving the raw config, one part at a time.

/// The text of `promote.yaml`, for errors that name the line of the key they are about.
struct Source<'a>(&'a str);

impl Source<'_> {
    fn err(&self, path: &[&str], msg: String) -> anyhow::Error {
        let at = line_of(self.0, path)
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        Failure::ConfigInvalid { at, problem: msg }.into()
    }

    /// An error about `key` of environment `env` (`""`: the environment itself).
    fn env_err(&self, env: &str, key: &str, msg: String) -> anyhow::Error {
        self.err(&["environments", env, key], msg)
    }
}

fn resolve_registry(src: &Source, registry: Option<String>) -> Result<String> {
    let registry = registry
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    if !registry.is_empty() && !imageref::is_valid_name(&format!("{registry}/x")) {
        return Err(src.err(
            &["registry"],
            format!("`{registry}` is not a valid registry (a host, optional port, and path such as `europe-docker.pkg.dev/acme/apps`)"),
        ));
    }
    Ok(registry)
}

fn resolve_services(
    src: &Source,
    raw: Ordered<RawService>,
    registry: &str,
) -> Result<Vec<Service>> {
    if raw.0.is_empty() {
        return Err(src.err(&["services"], "no services are declared".into()));
    }
    let mut services = Vec::new();
    for (name, s) in raw.0 {
        if !is_name(&name) {
            return Err(src.err(
                &["services", &name],
                format!("service name `{name}` must be lowercase letters, digits and `-`"),
            ));
        }
        let image = match s.image {
            Some(i) if looks_qualified(&i) || registry.is_empty() => i,
            Some(i) => format!("{registry}/{i}"),
            None if registry.is_empty() => {
                return Err(src.err(
                    &["services", &name],
                    format!(
                    "service `{name}` has no `image` and there is no `registry` to put it under"
                ),
                ))
            }
            None => format!("{registry}/{name}"),
        };
        if !imageref::is_valid_name(&image) {
            return Err(src.err(
                &["services", &name, "image"],
                format!(
                    "`{image}` is not a valid image repository name (lowercase, no tag or digest)"
                ),
            ));
        }
        services.push(Service { name, image });
    }
    Ok(services)
}

/// The environments, in the order declared, and their names.
fn resolve_environments(
    src: &Source,
    raw: Ordered<RawEnvironment>,
    layout: Layout,
    shared_values: &Json,
) -> Result<(Vec<String>, Vec<Environment>)> {
    if raw.0.is_empty() {
        return Err(src.err(&["environments"], "no environments are declared".into()));
    }
    let names: Vec<String> = raw.0.iter().map(|(n, _)| n.clone()).collect();
    let mut environments = Vec::new();
    for (name, e) in raw.0 {
        check_env_name(src, &name, e.from.as_deref(), &names)?;
        let (dir, manifests, metadata) = env_paths(src, &name, &e, layout)?;
        e.gates
            .validate()
            .map_err(|m| src.env_err(&name, "gates", format!("environment `{name}`: {m}")))?;
        let own = to_json(e.values, "values").map_err(|m| src.env_err(&name, "values", m))?;
        let mut values = shared_values.clone();
        merge(&mut values, own);
        environments.push(Environment {
            deploy_log: join_dir(&dir, "deploy.log"),
            templates: join_dir(&dir, "templates"),
            name,
            from: e.from,
            dir,
            manifests,
            metadata,
            exclude: e.exclude,
            values,
            gates: e.gates,
            approval: e.approval,
        });
    }
    Ok((names, environments))
}

/// The environment's name, and the one it takes from: declared, and not itself.
fn check_env_name(src: &Source, name: &str, from: Option<&str>, names: &[String]) -> Result<()> {
    if !is_name(name) || name == "prs" {
        return Err(src.env_err(
            name,
            "",
            format!("environment name `{name}` must be lowercase letters, digits and `-` (and not `prs`)"),
        ));
    }
    if let Some(from) = from {
        if from == name {
            return Err(src.env_err(
                name,
                "from",
                format!("environment `{name}` cannot take from itself"),
            ));
        }
        if !names.iter().any(|n| n == from) {
            let others: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
            return Err(src.env_err(
                name,
                "from",
                format!(
                    "environment `{name}` takes from `{from}`, which is not declared{}",
                    did_you_mean(from, &others)
                ),
            ));
        }
    }
    Ok(())
}

/// `rel` under the environment's directory `dir` (`.`: `dir` itself).
fn join_dir(dir: &str, rel: &str) -> String {
    if rel == "." {
        dir.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// The environment's directory, manifests directory and metadata file, relative to the repository.
fn env_paths(
    src: &Source,
    name: &str,
    e: &RawEnvironment,
    layout: Layout,
) -> Result<(String, String, String)> {
    let default_dir = match layout {
        Layout::Native => format!("environments/{name}"),
        Layout::Legacy => name.to_string(),
    };
    let dir = clean_path(e.dir.as_deref().unwrap_or(&default_dir))
        .map_err(|m| src.env_err(name, "dir", m))?;
    if let Some(m) = &e.manifests {
        check_not_nested(src, name, &dir, "manifests", m)?;
    }
    if let Some(m) = &e.metadata {
        check_not_nested(src, name, &dir, "metadata", m)?;
    }
    let manifests = match (&e.manifests, layout) {
        (Some(m), _) => join_dir(
            &dir,
            &clean_path(m).map_err(|m| src.env_err(name, "manifests", m))?,
        ),
        (None, Layout::Native) => join_dir(&dir, "manifests"),
        (None, Layout::Legacy) => dir.clone(),
    };
    let metadata = match (&e.metadata, layout) {
        (Some(m), _) => join_dir(
            &dir,
            &clean_path(m).map_err(|m| src.env_err(name, "metadata", m))?,
        ),
        (None, Layout::Native) => join_dir(&dir, "metadata.json"),
        (None, Layout::Legacy) => join_dir(&dir, "metadata.json.noargo"),
    };
    if is_manifest_name(&metadata) && parent(&metadata) == manifests {
        return Err(src.env_err(
            name,
            "metadata",
            format!("metadata file `{metadata}` is inside `{manifests}`, which ArgoCD syncs: ArgoCD would read it as a manifest"),
        ));
    }
    Ok((dir, manifests, metadata))
}

/// `manifests` and `metadata` are relative to the environment's `dir`. A path that starts with `dir`
/// again was written relative to the repository root: taken as it is, it would nest the environment
/// inside itself (`environments/dev/environments/dev/...`).
fn check_not_nested(src: &Source, name: &str, dir: &str, key: &str, value: &str) -> Result<()> {
    let rel = clean_path(value).map_err(|m| src.env_err(name, key, m))?;
    if dir != "." && (rel == dir || rel.starts_with(&format!("{dir}/"))) {
        let inner = rel[dir.len()..].trim_start_matches('/');
        let inner = if inner.is_empty() { "." } else { inner };
        return Err(src.env_err(
            name,
            key,
            format!(
                "`{key}: {rel}` is relative to the environment's `dir` (`{dir}`): it would be `{dir}/{rel}`, inside the environment inside itself; write `{key}: {inner}`"
            ),
        ));
    }
    Ok(())
}

/// The pipeline is a graph; it must not loop, and no two environments render into one directory.
fn check_pipeline(src: &Source, environments: &[Environment]) -> Result<()> {
    for env in environments {
        let mut seen = BTreeSet::new();
        let mut cur = Some(env);
        while let Some(e) = cur {
            if !seen.insert(e.name.clone()) {
                return Err(src.err(
                    &["environments", &env.name, "from"],
                    format!("the pipeline loops through `{}`", env.name),
                ));
            }
            cur = e
                .from
                .as_ref()
                .and_then(|f| environments.iter().find(|x| &x.name == f));
        }
    }
    let mut dirs = BTreeSet::new();
    for env in environments {
        if !dirs.insert(env.manifests.clone()) {
            return Err(src.err(
                &["environments", &env.name],
                format!("two environments render into `{}`", env.manifests),
            ));
        }
    }
    Ok(())
}

fn resolve_placeholders(
    src: &Source,
    raw: Ordered<String>,
    layout: Layout,
) -> Result<Vec<(String, String)>> {
    let placeholders: Vec<(String, String)> = raw.0;
    if layout == Layout::Legacy && placeholders.is_empty() {
        return Err(src.err(
            &["layout"],
            "the legacy layout needs `placeholders` (e.g. `COMMIT_SHA: version`)".into(),
        ));
    }
    for (ph, _) in &placeholders {
        if ph.is_empty() || ph.contains('\n') {
            return Err(src.err(
                &["placeholders"],
                format!("placeholder `{ph}` must be non-empty, on one line"),
            ));
        }
    }
    Ok(placeholders)
}

fn resolve_previews(
    src: &Source,
    p: RawPreviews,
    names: &[String],
    templates: &str,
    shared_values: &Json,
) -> Result<Previews> {
    if let Some(from) = &p.from {
        if !names.contains(from) {
            return Err(src.err(
                &["previews", "from"],
                format!(
                    "previews take from `{from}`, which is not declared{}",
                    did_you_mean(from, names)
                ),
            ));
        }
    }
    let own = to_json(p.values, "values").map_err(|m| src.err(&["previews", "values"], m))?;
    let mut values = shared_values.clone();
    merge(&mut values, own);
    Ok(Previews {
        dir: clean_path(p.dir.as_deref().unwrap_or("environments/prs"))
            .map_err(|m| src.err(&["previews", "dir"], m))?,
        templates: clean_path(p.templates.as_deref().unwrap_or(templates))
            .map_err(|m| src.err(&["previews", "templates"], m))?,
        from: p.from,
        values,
    })
}

/// `promote preview down`/`gc` delete whole directories under `previews.dir`: it must hold nothing
/// else promote manages.
fn check_previews_dir(
    src: &Source,
    p: &Previews,
    environments: &[Environment],
    templates: &str,
) -> Result<()> {
    let overlaps = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
    };
    let mut others: Vec<(String, &str)> = environments
        .iter()
        .map(|e| (format!("environment `{}`", e.name), e.dir.as_str()))
        .collect();
    others.push(("the shared templates".into(), templates));
    others.push(("the preview templates".into(), p.templates.as_str()));
    if p.dir == "." {
        return Err(src.err(
            &["previews", "dir"],
            "`previews.dir` cannot be the repository root: previews need a directory of their own"
                .into(),
        ));
    }
    for (what, dir) in others {
        if overlaps(&p.dir, dir) {
            return Err(src.err(
                &["previews", "dir"],
                format!("`previews.dir` (`{}`) overlaps {what} (`{dir}`): previews need a directory of their own", p.dir),
            ));
        }
    }
    Ok(())
}

fn resolve_hosting(src: &Source, h: RawHosting) -> Result<Hosting> {
    if let Some(url) = &h.url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(src.err(
                &["hosting", "url"],
                format!("`{url}` is not a web address: write the repository's `https://` address, e.g. `https://git.acme.example/platform/config`"),
            ));
        }
    }
    Ok(Hosting {
        kind: h.kind,
        url: h.url.map(|u| u.trim_end_matches('/').to_string()),
    })
}

/// ` (did you mean `x`?)` when a candidate is close, else empty.
pub fn did_you_mean(word: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A DNS-label-like name: lowercase letters, digits, `-`, not starting or ending with `-`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Does `image` name its own registry (`ghcr.io/x`, `localhost:5000/x`)?
fn looks_qualified(image: &str) -> bool {
    match image.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// Would ArgoCD read a file of this name as a manifest?
pub fn is_manifest_name(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or(".")
}

/// A repository-relative path: forward slashes, no `..`, not absolute, no trailing slash.
fn clean_path(p: &str) -> std::result::Result<String, String> {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if p.starts_with('/') || p.contains('\\') || parts.contains(&"..") {
        return Err(format!(
            "path `{p}` must be relative to the repository root, without `..`"
        ));
    }
    if parts.is_empty() {
        return Ok(".".into());
    }
    Ok(parts.join("/"))
}

fn to_json(v: Option<serde_yaml::Value>, what: &str) -> std::result::Result<Json, String> {
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(Json::Object(Default::default())),
        Some(v @ serde_yaml::Value::Mapping(_)) => serde_json::to_value(&v)
            .map_err(|e| format!("`{what}` cannot be used as template values: {e}")),
        Some(_) => Err(format!("`{what}` must be a mapping of names to values")),
    }
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
pub fn merge(base: &mut Json, over: Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The 1-based line where a key path (`environments`, `prod`, `from`) is written, found by indentation.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let mut indent: Option<usize> = None;
    let mut found = None;
    let mut lines = text.lines().enumerate();
    'path: for key in path.iter().filter(|k| !k.is_empty()) {
        for (i, line) in lines.by_ref() {
            let trimmed = line.trim_start();
            let this_indent = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(min) = indent {
                if this_indent <= min {
                    return found;
                }
            }
            let k = trimmed.trim_start_matches("- ");
            let k = k
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .trim_matches('\'');
            if k == *key && trimmed.contains(':') {
                indent = Some(this_indent);
                found = Some(i + 1);
                continue 'path;
            }
        }
        return found;
    }
    found
}

/// Checks every path the config names (templates, each environment's directories and files, the
/// previews directory) for symbolic links: a few `lstat` calls per environment.
fn check_links(config: &Config) -> Result<()> {
    let root = &config.root;
    crate::fs::links::no_link(root, CONFIG_FILE)?;
    crate::fs::links::no_link(root, &config.templates)?;
    for env in &config.environments {
        for p in [
            &env.dir,
            &env.manifests,
            &env.templates,
            &env.metadata,
            &env.deploy_log,
        ] {
            crate::fs::links::no_link(root, p)?;
        }
    }
    if let Some(p) = &config.previews {
        crate::fs::links::no_link(root, &p.dir)?;
        crate::fs::links::no_link(root, &p.templates)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("/repo"), text)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const MINIMAL: &str = "registry: reg.example.com/acme\nservices:\n  api:\n  web:\n    image: frontend\nenvironments:\n  dev:\n  staging:\n    from: dev\n";

    #[test]
    fn defaults_are_filled_in() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.services[0].image, "reg.example.com/acme/api");
        assert_eq!(c.services[1].image, "reg.example.com/acme/frontend");
        let s = c.env("staging").unwrap();
        assert_eq!(s.dir, "environments/staging");
        assert_eq!(s.manifests, "environments/staging/manifests");
        assert_eq!(s.metadata, "environments/staging/metadata.json");
        assert_eq!(s.from.as_deref(), Some("dev"));
    }

    #[test]
    fn unknown_key_names_the_line() {
        let e = err("services:\n  api:\n    imgae: x\nenvironments:\n  dev:\n");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("unknown field `imgae`"), "{e}");
    }

    #[test]
    fn unknown_source_environment_is_named_with_its_line() {
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n  prod:\n    from: stagign\n");
        assert_eq!(
            e,
            "`promote.yaml` (line 7): environment `prod` takes from `stagign`, which is not declared"
        );
        let e = err(
            "registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n  dve2:\n    from: dve\n",
        );
        assert!(e.contains("did you mean `dev`?"), "{e}");
    }

    #[test]
    fn loops_are_refused() {
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  a:\n    from: b\n  b:\n    from: a\n");
        assert!(e.contains("loops"), "{e}");
    }

    #[test]
    fn a_path_that_nests_the_environment_in_itself_is_refused() {
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n    metadata: environments/dev/manifests/metadata.json\n");
        assert!(
            e.contains("`metadata: environments/dev/manifests/metadata.json` is relative to the environment's `dir` (`environments/dev`): it would be `environments/dev/environments/dev/manifests/metadata.json`, inside the environment inside itself; write `metadata: manifests/metadata.json`"),
            "{e}"
        );
        assert!(e.contains("line 6"), "{e}");
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n    dir: deploy/dev\n    manifests: deploy/dev/out\n");
        assert!(e.contains("write `manifests: out`"), "{e}");
        // Relative to `dir`, as documented: fine.
        let c = parse("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n    metadata: state/metadata.json\n").unwrap();
        assert_eq!(
            c.environments[0].metadata,
            "environments/dev/state/metadata.json"
        );
    }

    #[test]
    fn metadata_inside_synced_dir_is_refused() {
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n    metadata: manifests/metadata.json\n");
        assert!(e.contains("ArgoCD would read it"), "{e}");
    }

    #[test]
    fn legacy_defaults() {
        let c = parse("layout: legacy\nregistry: r.io/a\nplaceholders:\n  COMMIT_SHA: version\nservices:\n  api:\nenvironments:\n  dev:\n").unwrap();
        let d = c.env("dev").unwrap();
        assert_eq!((d.dir.as_str(), d.manifests.as_str()), ("dev", "dev"));
        assert_eq!(d.metadata, "dev/metadata.json.noargo");
        assert_eq!(
            c.placeholders,
            vec![("COMMIT_SHA".to_string(), "version".to_string())]
        );
    }

    #[test]
    fn values_merge_deeply() {
        let c = parse("registry: r.io/a\nservices:\n  api:\nvalues:\n  a: {x: 1, y: 2}\nenvironments:\n  dev:\n    values:\n      a: {y: 3}\n").unwrap();
        assert_eq!(
            c.env("dev").unwrap().values,
            serde_json::json!({"a": {"x": 1, "y": 3}})
        );
    }

    #[test]
    fn paths_cannot_escape() {
        let e = err("registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n    dir: ../x\n");
        assert!(e.contains("without `..`"), "{e}");
    }

    #[test]
    fn previews_need_a_directory_of_their_own() {
        let base = "registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\npreviews:\n";
        let c = parse(&format!("{base}  dir: environments/prs\n")).unwrap();
        assert_eq!(c.previews.unwrap().dir, "environments/prs");
        for dir in [
            ".",
            "environments",
            "environments/dev",
            "environments/dev/prs",
            "templates/prs",
        ] {
            let e = err(&format!("{base}  dir: {dir}\n"));
            assert!(
                e.contains("previews need a directory of their own"),
                "{dir}: {e}"
            );
            assert!(e.contains("(line 7)"), "{dir}: {e}");
        }
        let e = err(&format!("{base}  dir: ../prs\n"));
        assert!(e.contains("without `..`"), "{e}");
    }

    #[test]
    fn did_you_mean_picks_close_names() {
        let names = vec!["staging".to_string(), "prod".to_string()];
        assert_eq!(did_you_mean("stagin", &names), " (did you mean `staging`?)");
        assert_eq!(did_you_mean("zzzzzz", &names), "");
    }
}
