//! Templates + values + versions -> manifests, in memory. Nothing here touches the disk except to read
//! templates. Every problem is collected (not just the first) so a user fixes them in one round.

pub mod problems;
pub mod yamlcheck;
pub mod yamltype;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::value::{Value, ValueKind};
use minijinja::{ErrorKind, UndefinedBehavior};
use serde_json::{json, Value as Json};

use crate::model::config::{is_manifest_name, Config, Environment, Layout, CONFIG_FILE};
use crate::model::imageref::ImageRef;
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

// ---------------------------------------------------------------------------------------------
// Native layout: minijinja.

/// Lists a directory's files recursively as paths relative to it, sorted; a missing directory is empty.
pub fn list_files(root: &Path, dir: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let base = root.join(dir);
    if !base.is_dir() {
        return Ok(out);
    }
    // Level by level, the directories of a level listed on every core (a template directory per
    // service is a thousand directories).
    let mut level = vec![base.clone()];
    while !level.is_empty() {
        let listed = crate::par::chunks(&level, |chunk| -> Result<Vec<(PathBuf, bool)>> {
            let mut found = Vec::new();
            for d in chunk {
                let entries = std::fs::read_dir(d)
                    .with_context(|| format!("cannot list `{}`", d.display()))?;
                for entry in entries {
                    let entry = entry?;
                    if entry.file_name().as_encoded_bytes().starts_with(b".") {
                        continue;
                    }
                    let kind = entry.file_type()?;
                    if kind.is_symlink() {
                        let rel = entry.path();
                        let rel = rel.strip_prefix(root).unwrap_or(&rel);
                        return Err(crate::fs::links::link_error(root, &rel.to_string_lossy()));
                    }
                    found.push((entry.path(), kind.is_dir()));
                }
            }
            Ok(found)
        });
        level = Vec::new();
        for chunk in listed {
            for (path, is_dir) in chunk? {
                if is_dir {
                    level.push(path);
                } else if let Ok(rel) = path.strip_prefix(&base) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The templates `env` renders, and every template file it can reach (for `include`).
fn native_templates(
    config: &Config,
    env: &Environment,
    problems: &mut Vec<Problem>,
) -> Result<(Vec<Template>, Vec<String>)> {
    // Only manifests are rendered, and partials read: a README or notes beside the templates stay
    // out of the synced directory (`promote check` lists them).
    let shared: Vec<String> = list_files(&config.root, &config.templates)?
        .into_iter()
        .filter(|r| is_template_name(r))
        .collect();
    let own: Vec<String> = list_files(&config.root, &env.templates)?
        .into_iter()
        .filter(|r| is_template_name(r))
        .collect();
    let mut all: Vec<String> = Vec::with_capacity(shared.len() + own.len());
    all.extend(
        shared
            .iter()
            .map(|rel| format!("{}/{rel}", config.templates)),
    );
    all.extend(own.iter().map(|rel| format!("{}/{rel}", env.templates)));
    let services: std::collections::HashSet<&str> =
        config.services.iter().map(|s| s.name.as_str()).collect();
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for rel in &shared {
        if !env.exclude.iter().any(|x| glob_match(x, rel)) {
            set.insert(rel.clone(), format!("{}/{rel}", config.templates));
        }
    }
    for rel in &own {
        set.insert(rel.clone(), format!("{}/{rel}", env.templates));
    }
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (rel, source) in set {
        // Partials (`_helpers.yaml`) are for `include`, not rendered on their own.
        if rel.rsplit('/').next().is_some_and(|f| f.starts_with('_')) {
            continue;
        }
        let flat = rel.replace('/', "-");
        let output = format!("{}/{flat}", env.manifests);
        if let Some(other) = outputs.insert(output.clone(), source.clone()) {
            problems.push(Problem::new(
                &source,
                None,
                format!("renders to `{output}`, as `{other}` does; rename one of them"),
            ));
            continue;
        }
        let first = rel.split('/').next().unwrap_or("");
        let service = if rel.contains('/') && services.contains(first) {
            Some(first.to_string())
        } else {
            None
        };
        out.push(Template {
            source,
            output,
            service,
        });
    }
    Ok((out, all))
}

/// Is a file in a template directory a template (a manifest `.yaml`/`.yml`/`.json`, or a `_`
/// partial)? Anything else there (a README, notes) is neither rendered nor read.
pub fn is_template_name(rel: &str) -> bool {
    is_manifest_name(rel) || rel.rsplit('/').next().is_some_and(|f| f.starts_with('_'))
}

/// The files of the native template directories that are not templates, for `promote check`.
pub fn not_templates(config: &Config) -> Result<Vec<String>> {
    let mut dirs = vec![config.templates.clone()];
    dirs.extend(config.environments.iter().map(|e| e.templates.clone()));
    let mut out = Vec::new();
    for d in dirs {
        for rel in list_files(&config.root, &d)? {
            if !is_template_name(&rel) {
                out.push(format!("{d}/{rel}"));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `*` matches any run of characters (including `/`); everything else is literal.
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The steps one render of one template may take: a template that loops over a thousand services
/// takes about a hundred thousand; two nested loops over `range(100000)` would take ten billion.
/// Running out takes well under a second (a release build).
pub const FUEL: u64 = 5_000_000;

/// The most one template may render (bytes): far above any manifest (etcd refuses objects over
/// 1.5 MB; a 50 MB ConfigMap still renders), far below what would exhaust memory.
pub const MAX_OUTPUT: usize = 64 << 20;

/// The output of one render, refusing to grow past [`MAX_OUTPUT`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("output limit"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders with the output capped; the text as the template wrote it (quotes not yet resolved).
fn render_capped<S: serde::Serialize>(
    tmpl: &minijinja::Template,
    ctx: S,
) -> std::result::Result<String, minijinja::Error> {
    let mut out = Capped(Vec::new());
    tmpl.render_captured_to(ctx, &mut out)?;
    String::from_utf8(out.0)
        .map_err(|_| minijinja::Error::new(ErrorKind::InvalidOperation, "the output is not UTF-8"))
}

/// Errors that another try cannot fix: the budget of steps or bytes ran out.
fn exhausted(e: &minijinja::Error, template: &str) -> Option<Problem> {
    let name = e.name().unwrap_or(template);
    match e.kind() {
        ErrorKind::OutOfFuel => Some(
            Problem::new(
                name,
                e.line(),
                format!("runs too long: it used up its budget of {FUEL} template steps"),
            )
            .hint("look for a loop that never ends, or loops nested over large ranges"),
        ),
        ErrorKind::WriteFailure => Some(
            Problem::new(
                name,
                e.line(),
                format!("renders more than {} MiB", MAX_OUTPUT >> 20),
            )
            .hint("look for a loop or a string repeated without bound"),
        ),
        _ => None,
    }
}

/// A minijinja environment set up the way manifests need: strict about undefined values (an undefined
/// value is an error, never an empty string), no HTML/JSON auto-escaping, trailing newlines kept, and
/// values printed as YAML data.
fn engine() -> minijinja::Environment<'static> {
    let mut e = minijinja::Environment::new();
    // SemiStrict: printing, iterating or reading into an undefined value fails; `{% if values.hpa %}`
    // is allowed so that optional settings stay optional.
    e.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    e.set_keep_trailing_newline(true);
    // A template cannot run without bound: every render has a budget of steps (see `FUEL`).
    e.set_fuel(Some(FUEL));
    e.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    e.set_formatter(|out, _state, value| {
        let s = yaml_fragment(value);
        out.write_str(&s)
            .map_err(|_| minijinja::Error::new(ErrorKind::WriteFailure, "cannot write output"))
    });
    e
}

/// How a value is printed into YAML: strings that are safe as plain scalars as they are; strings that
/// would change the document's structure (newlines, leading indicators, `: `, ` #`) as a quoted scalar;
/// mappings and lists as JSON flow collections (valid YAML). `|safe` prints a string as it is.
fn yaml_fragment(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            if value.is_safe() {
                s.to_string()
            } else if plain_safe(s) {
                if crate::render::yamltype::ambiguous(s) {
                    // Whether it needs quotes depends on where it is printed: see `resolve_quotes`.
                    crate::render::yamltype::mark(s)
                } else {
                    s.to_string()
                }
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        ValueKind::None => "null".into(),
        ValueKind::Map | ValueKind::Seq => serde_json::to_string(value).unwrap_or_default(),
        _ => value.to_string(),
    }
}

/// Does a string value print exactly as it is (not quoted)? `promote migrate` decides with it where a
/// converted sed placeholder needs `|safe` to stay byte-identical.
pub fn prints_as_is(s: &str) -> bool {
    plain_safe(s) && !crate::render::yamltype::ambiguous(s)
}

fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    !s.chars().any(|c| c.is_control())
        && !"[]{}#&*!|>'\"%@`,".contains(first)
        && !s.starts_with("- ")
        && !s.starts_with("? ")
        && !s.starts_with(": ")
        && s.trim() == s
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
}

fn render_native(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
) -> Result<Vec<Rendered>> {
    let mut problems = Vec::new();
    let (templates, names) = native_templates(config, env, &mut problems)?;

    // Every template file is read once (overrides and partials too, so `include` can reach any of
    // them). Each is compiled when it is used and dropped after: memory stays flat in the number of
    // templates. Files no template set renders here are compiled once, to report syntax errors.
    let read: Vec<(String, std::io::Result<String>)> = crate::par::chunks(&names, |chunk| {
        chunk
            .iter()
            .map(|n| (n.clone(), std::fs::read_to_string(config.root.join(n))))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for (name, r) in read {
        match r {
            Ok(src) => {
                sources.insert(name, src);
            }
            Err(e) => problems.push(Problem::new(
                &name,
                None,
                format!("cannot read template: {e}"),
            )),
        }
    }
    let sources = std::sync::Arc::new(sources);
    let mut engine = engine();
    let loaded = sources.clone();
    engine.set_loader(move |name| Ok(loaded.get(name).cloned()));
    let rendered: BTreeSet<&str> = templates.iter().map(|t| t.source.as_str()).collect();
    for (name, src) in sources.iter() {
        if !rendered.contains(name.as_str()) {
            if let Err(e) = engine.template_from_named_str(name, src) {
                problems.push(Problem::new(name, e.line(), template_error(&e)));
            }
        }
    }

    let images_by_service: std::collections::HashMap<&str, &str> = config
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.image.as_str()))
        .collect();
    // The context shared by every template, per set of versions: built once, as minijinja values
    // (cheap to clone); the JSON form is only used to report undefined values.
    let bases: Vec<(BTreeMap<String, Value>, Json)> = sets
        .iter()
        .map(|versions| {
            let images: serde_json::Map<String, Json> = config
                .services
                .iter()
                .filter_map(|s| {
                    versions
                        .get(&s.name)
                        .map(|v| (s.name.clone(), json!(v.reference(&s.image))))
                })
                .collect();
            let version_map: serde_json::Map<String, Json> = versions
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect();
            let base_json = json!({
                "env": env.name,
                "values": env.values,
                "images": images,
                "versions": version_map,
            });
            let mut base: BTreeMap<String, Value> = BTreeMap::new();
            if let Json::Object(m) = &base_json {
                for (k, v) in m {
                    base.insert(k.clone(), Value::from_serialize(v));
                }
            }
            (base, base_json)
        })
        .collect();

    let chunks = crate::par::chunks(&templates, |chunk| {
        let mut out: Vec<Rendered> = sets.iter().map(|_| Rendered::default()).collect();
        for t in chunk {
            let Some(src) = sources.get(&t.source) else {
                continue; // unreadable: reported above
            };
            let tmpl = match engine.template_from_named_str(&t.source, src) {
                Ok(tmpl) => tmpl,
                Err(e) => {
                    for r in &mut out {
                        r.problems
                            .push(Problem::new(&t.source, e.line(), template_error(&e)));
                    }
                    continue;
                }
            };
            for (i, versions) in sets.iter().enumerate() {
                let (base, base_json) = &bases[i];
                let mut ctx = base.clone();
                if let Some(svc) = &t.service {
                    // A service the environment does not run yet (never set or promoted there) has
                    // no manifests in it: `promote to` / `set-image` bring it in.
                    let Some(v) = versions.get(svc) else {
                        continue;
                    };
                    let image = images_by_service
                        .get(svc.as_str())
                        .copied()
                        .unwrap_or_default();
                    ctx.insert("service".into(), Value::from(svc.as_str()));
                    ctx.insert("image".into(), Value::from(v.reference(image)));
                    ctx.insert("version".into(), Value::from(v.to_string()));
                    ctx.insert("tag".into(), Value::from(v.tag.clone()));
                }
                let slow_ctx = || {
                    let mut c = base_json.clone();
                    for key in ["service", "image", "version", "tag"] {
                        if let Some(v) = ctx.get(key) {
                            c[key] = serde_json::to_value(v).unwrap_or(Json::Null);
                        }
                    }
                    c
                };
                match render_one(&engine, &tmpl, Value::from(ctx.clone()), slow_ctx) {
                    Ok(text) => out[i].files.push(OutFile {
                        path: t.output.clone(),
                        bytes: text.into_bytes(),
                        template: t.source.clone(),
                        version_free: None,
                    }),
                    Err(mut ps) => {
                        for p in &mut ps {
                            if p.message.contains("undefined value `values.") && p.hint.is_none() {
                                p.hint = Some(format!(
                                    "set it under `environments.{}.values` (or the shared `values`) in `{CONFIG_FILE}`",
                                    env.name
                                ));
                            }
                        }
                        out[i].problems.extend(ps)
                    }
                }
            }
        }
        out
    });
    let mut out: Vec<Rendered> = sets.iter().map(|_| Rendered::default()).collect();
    // Problems of the template set itself (unreadable files, syntax errors) concern every set.
    for r in &mut out {
        r.problems.extend(problems.iter().cloned());
    }
    for chunk in chunks {
        for (i, r) in chunk.into_iter().enumerate() {
            out[i].files.extend(r.files);
            out[i].problems.extend(r.problems);
        }
    }
    Ok(out)
}

/// Renders one template. On undefined values, keeps going to report every missing value of the
/// template at once: each missing dotted path is filled with a stand-in and the render is retried.
fn render_one(
    engine: &minijinja::Environment,
    tmpl: &minijinja::Template,
    fast: Value,
    slow: impl FnOnce() -> Json,
) -> std::result::Result<String, Vec<Problem>> {
    let name = tmpl.name();
    match render_capped(tmpl, &fast) {
        Ok(s) => return Ok(crate::render::yamltype::resolve_quotes(s)),
        Err(e) => {
            if let Some(p) = exhausted(&e, name) {
                return Err(vec![p]);
            }
        }
    }
    let mut ctx = slow();
    let mut missing: Vec<Problem> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let err = match render_capped(tmpl, &ctx) {
            Ok(s) if missing.is_empty() => return Ok(crate::render::yamltype::resolve_quotes(s)),
            Ok(_) => return Err(missing),
            Err(e) => e,
        };
        // An error inside an `{% include %}` is wrapped by the include; report the innermost one, in
        // the file where it is.
        let mut inner: &minijinja::Error = &err;
        while let Some(next) =
            std::error::Error::source(inner).and_then(|e| e.downcast_ref::<minijinja::Error>())
        {
            inner = next;
        }
        let err = inner;
        if let Some(p) = exhausted(err, name) {
            missing.push(p);
            return Err(missing);
        }
        let file = err.name().unwrap_or(name).to_string();
        let source = if file == name {
            tmpl.source().to_string()
        } else {
            engine
                .get_template(&file)
                .map(|t| t.source().to_string())
                .unwrap_or_default()
        };
        let expr = match (err.kind(), err.range()) {
            (ErrorKind::UndefinedError, Some(r)) => {
                // For `values.a.b` minijinja may point at `.a.b` only: widen to the whole dotted name.
                let bytes = source.as_bytes();
                let mut start = r.start.min(bytes.len());
                while start > 0
                    && (bytes[start - 1].is_ascii_alphanumeric()
                        || matches!(bytes[start - 1], b'_' | b'.'))
                {
                    start -= 1;
                }
                source
                    .get(start..r.end)
                    .map(|x| x.trim_matches('.').to_string())
            }
            _ => None,
        };
        let path_like = expr.as_deref().is_some_and(|x| {
            !x.is_empty()
                && x.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        });
        match expr {
            Some(x) if path_like && seen.insert(x.clone()) => {
                missing.push(Problem::new(
                    &file,
                    err.line(),
                    format!("uses undefined value `{x}`"),
                ));
                if !fill(&mut ctx, &x) {
                    return Err(missing);
                }
            }
            _ => {
                missing.push(Problem::new(&file, err.line(), template_error(err)));
                return Err(missing);
            }
        }
    }
    Err(missing)
}

/// Puts an empty string at a dotted path, creating mappings on the way; false when it cannot.
fn fill(ctx: &mut Json, path: &str) -> bool {
    let mut cur = ctx;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let Json::Object(map) = cur else { return false };
        if i == parts.len() - 1 {
            map.insert(p.to_string(), json!(""));
            return true;
        }
        cur = map.entry(p.to_string()).or_insert_with(|| json!({}));
    }
    false
}

fn template_error(e: &minijinja::Error) -> String {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    match e.kind() {
        ErrorKind::SyntaxError => format!("template syntax error{detail}"),
        ErrorKind::UndefinedError => format!("uses an undefined value{detail}"),
        ErrorKind::TemplateNotFound => format!("includes a template that does not exist{detail}"),
        k => format!("{k}{detail}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy layout: sed placeholders, byte for byte.

fn render_legacy(
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

// ---------------------------------------------------------------------------------------------
// Validation of rendered output.

/// Checks that every document parses as YAML and is a Kubernetes object with `apiVersion`, `kind` and
/// `metadata.name`, and that every container image is a valid reference.
pub fn validate_manifest(path: &str, bytes: &[u8], problems: &mut Vec<Problem>) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push(Problem::new(path, None, "is not valid UTF-8"));
        return;
    };
    if path.ends_with(".json") {
        match serde_json::from_str::<serde_yaml::Value>(text) {
            Ok(v) => check_object(path, text, None, &v, problems),
            Err(e) => problems.push(Problem::new(
                path,
                Some(e.line()),
                format!("invalid JSON: {e}"),
            )),
        }
        return;
    }
    // Almost every manifest is clean: a walk that builds nothing says so, and only the others are
    // looked at closely (which also words their problems).
    if crate::render::yamlcheck::clean(text) {
        return;
    }
    let starts = doc_start_lines(text);
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let line = starts.get(i).copied();
        let value = match serde_yaml::Value::deserialize_from(doc) {
            Ok(v) => v,
            Err(e) => {
                let l = e.location().map(|l| l.line()).or(line);
                let msg = e.to_string();
                let msg = msg.rfind(" at line ").map(|i| &msg[..i]).unwrap_or(&msg);
                problems.push(Problem::new(path, l, format!("invalid YAML: {msg}")));
                return;
            }
        };
        check_object(path, text, line, &value, problems);
    }
}

trait DeserializeFrom: Sized {
    fn deserialize_from(
        d: serde_yaml::Deserializer,
    ) -> std::result::Result<Self, serde_yaml::Error>;
}

impl DeserializeFrom for serde_yaml::Value {
    fn deserialize_from(
        d: serde_yaml::Deserializer,
    ) -> std::result::Result<Self, serde_yaml::Error> {
        serde::Deserialize::deserialize(d)
    }
}

fn doc_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    let mut first_content = true;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            if first_content {
                // A leading `---` opens the first document rather than a second one.
                starts[0] = i + 1;
            } else {
                starts.push(i + 1);
            }
        }
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') && !line.starts_with("---") {
            first_content = false;
        }
    }
    starts
}

fn check_object(
    path: &str,
    text: &str,
    line: Option<usize>,
    v: &serde_yaml::Value,
    problems: &mut Vec<Problem>,
) {
    use serde_yaml::Value as Y;
    if v.is_null() {
        return; // an empty document (`---` at the end)
    }
    let str_at = |keys: &[&str]| -> Option<&str> {
        keys.iter()
            .try_fold(v, |cur, k| cur.get(*k))
            .and_then(Y::as_str)
    };
    if !v.is_mapping() {
        problems.push(Problem::new(
            path,
            line,
            "a document is not a mapping (expected a Kubernetes object)",
        ));
        return;
    }
    let kind = str_at(&["kind"]);
    for (key, present) in [
        ("apiVersion", str_at(&["apiVersion"]).is_some()),
        ("kind", kind.is_some()),
    ] {
        if !present {
            problems.push(Problem::new(
                path,
                line,
                format!("a document has no `{key}`"),
            ));
        }
    }
    // Kustomize's own files carry no name; `generateName` stands in for one.
    let kustomize = matches!(kind, Some("Kustomization" | "Component"));
    if !kustomize
        && str_at(&["metadata", "name"]).is_none()
        && str_at(&["metadata", "generateName"]).is_none()
    {
        problems.push(Problem::new(
            path,
            line,
            format!("a `{}` has no `metadata.name`", kind.unwrap_or("document")),
        ));
    }
    check_string_fields(path, line, v, &mut Vec::new(), problems);
    let mut images = Vec::new();
    collect_images(v, &mut images);
    for image in images {
        if let Err(e) = ImageRef::parse(&image) {
            problems.push(Problem::new(
                path,
                find_line(text, line, &image),
                e.to_string(),
            ));
        }
    }
}

/// The first line at or after the document's start that holds `needle`.
fn find_line(text: &str, doc_line: Option<usize>, needle: &str) -> Option<usize> {
    let start = doc_line.unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .or(doc_line)
}

/// Labels, annotations and container `env` values must be strings. A value such as a git SHA made
/// only of digits (`1234567`), `true` or an empty value printed bare is read by YAML as a number,
/// a boolean or null, and the API server rejects the manifest.
fn check_string_fields<'a>(
    path: &str,
    line: Option<usize>,
    v: &'a serde_yaml::Value,
    at: &mut Vec<Seg<'a>>,
    problems: &mut Vec<Problem>,
) {
    use serde_yaml::Value as Y;
    let not_string = |val: &Y| -> Option<String> {
        match val {
            Y::String(_) => None,
            Y::Null => Some("empty (null)".into()),
            Y::Bool(b) => Some(format!("the boolean `{b}`")),
            Y::Number(n) => Some(format!("the number `{n}`")),
            _ => Some("not a string".into()),
        }
    };
    let hint = "quote it in the template, e.g. `\"{{ tag }}\"`, or print it with `| tojson`";
    match v {
        Y::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().unwrap_or("");
                // The path is only spelled out when there is a problem to report.
                let here = |at: &[Seg]| {
                    let mut s = seg_path(at);
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(key);
                    s
                };
                match (key, val) {
                    ("labels" | "annotations", Y::Mapping(items)) => {
                        for (lk, lv) in items {
                            if let Some(what) = not_string(lv) {
                                let name = lk.as_str().unwrap_or("?");
                                let here = here(at);
                                problems.push(
                                    Problem::new(path, line, format!("`{here}.{name}` is {what}, but Kubernetes wants a string"))
                                        .hint(hint),
                                );
                            }
                        }
                    }
                    ("env", Y::Sequence(items)) => {
                        for item in items {
                            if let Some(what) = item.get("value").and_then(not_string) {
                                let name = item.get("name").and_then(Y::as_str).unwrap_or("?");
                                let here = here(at);
                                problems.push(
                                    Problem::new(path, line, format!("env `{name}` in `{here}` is {what}, but Kubernetes wants a string"))
                                        .hint(hint),
                                );
                            }
                        }
                    }
                    _ => {
                        at.push(Seg::Key(key));
                        check_string_fields(path, line, val, at, problems);
                        at.pop();
                    }
                }
            }
        }
        Y::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                check_string_fields(path, line, item, at, problems);
                at.pop();
            }
        }
        _ => {}
    }
}

/// One step of a path into a document: `spec`, `[0]`.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn seg_path(at: &[Seg]) -> String {
    let mut s = String::new();
    for seg in at {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn collect_images(v: &serde_yaml::Value, out: &mut Vec<String>) {
    use serde_yaml::Value as Y;
    match v {
        Y::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().unwrap_or("");
                if matches!(key, "containers" | "initContainers" | "ephemeralContainers") {
                    if let Y::Sequence(items) = val {
                        for item in items {
                            if let Some(img) = item.get("image").and_then(Y::as_str) {
                                out.push(img.to_string());
                            }
                        }
                    }
                }
                collect_images(val, out);
            }
        }
        Y::Sequence(items) => items.iter().for_each(|i| collect_images(i, out)),
        _ => {}
    }
}

/// Would ArgoCD read this file as a manifest? (Used by `check` on synced directories.)
pub fn is_manifest_file(path: &str) -> bool {
    is_manifest_name(path)
}

/// The image right before a value, the way the legacy renderer finds it: the text after the last
/// space, quote, `=` or `,`, up to a `:` that ends it.
pub fn image_before(out: &[u8]) -> Option<&str> {
    let before = out.strip_suffix(b":")?;
    let start = before
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'=' | b','))
        .map(|p| p + 1)
        .unwrap_or(0);
    std::str::from_utf8(&before[start..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(path: &str, text: &str) -> Vec<String> {
        let mut p = Vec::new();
        validate_manifest(path, text.as_bytes(), &mut p);
        p.into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn yaml_fragments_keep_structure() {
        let f = |s: &str| yaml_fragment(&Value::from(s));
        assert_eq!(f("a/b&c|d\\e"), "a/b&c|d\\e");
        assert_eq!(f("line1\nkind: Secret"), "\"line1\\nkind: Secret\"");
        assert_eq!(f("*.example.com"), "\"*.example.com\"");
        assert_eq!(
            f(""),
            crate::render::yamltype::mark(""),
            "resolved by its place"
        );
        assert_eq!(f("a: b"), "\"a: b\"");
        assert_eq!(yaml_fragment(&Value::from(3)), "3");
        assert_eq!(
            yaml_fragment(&Value::from_serialize(json!({"cpu": "100m"}))),
            "{\"cpu\":\"100m\"}"
        );
    }

    #[test]
    fn manifests_need_kind_and_name() {
        assert!(problems_of(
            "a.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n"
        )
        .is_empty());
        let p = problems_of("a.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n---\nkind: Service\nmetadata: {}\n");
        assert_eq!(
            p,
            vec![
                "`a.yaml` (line 5): a document has no `apiVersion`".to_string(),
                "`a.yaml` (line 5): a `Service` has no `metadata.name`".to_string()
            ]
        );
        let p = problems_of("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: [\n");
        assert!(p[0].starts_with("`a.yaml` (line 4): invalid YAML"), "{p:?}");
    }

    #[test]
    fn container_images_must_be_valid_references() {
        let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: \"reg.io/api:\"\n";
        let p = problems_of("d.yaml", doc);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("reg.io/api:"), "{p:?}");
    }

    #[test]
    fn labels_and_env_values_must_be_strings() {
        let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n    version: 1234567\n    ok: \"1234567\"\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: r.io/api:1\n          env:\n            - name: DEBUG\n              value: true\n";
        let p = problems_of("d.yaml", doc);
        assert_eq!(
            p,
            vec![
                "`d.yaml` (line 1): `metadata.labels.version` is the number `1234567`, but Kubernetes wants a string".to_string(),
                "`d.yaml` (line 1): env `DEBUG` in `spec.template.spec.containers[0].env` is the boolean `true`, but Kubernetes wants a string".to_string(),
            ]
        );
    }

    #[test]
    fn glob() {
        assert!(glob_match("api/*", "api/hpa.yaml"));
        assert!(glob_match("*/hpa.yaml", "api/hpa.yaml"));
        assert!(!glob_match("api/*", "web/hpa.yaml"));
        assert!(glob_match("api/hpa.yaml", "api/hpa.yaml"));
    }

    #[test]
    fn fill_creates_paths() {
        let mut c = json!({"values": {"a": 1}});
        assert!(fill(&mut c, "values.b.c"));
        assert_eq!(c, json!({"values": {"a": 1, "b": {"c": ""}}}));
        assert!(!fill(&mut c, "values.a.x"));
    }
}
