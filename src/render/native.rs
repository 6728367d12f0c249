//! Native layout: minijinja templates, strict about undefined values, bounded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::value::{Value, ValueKind};
use minijinja::{ErrorKind, UndefinedBehavior};
use serde_json::{json, Value as Json};

use crate::model::config::{is_manifest_name, Config, Environment, CONFIG_FILE};
use crate::model::version::Version;

use super::*;

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
pub(super) fn glob_match(pattern: &str, s: &str) -> bool {
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
pub(super) fn yaml_fragment(value: &Value) -> String {
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

/// Renders an environment's templates (minijinja) once per set of versions.
pub(super) fn render_native(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
) -> Result<Vec<Rendered>> {
    let mut problems = Vec::new();
    let (templates, names) = native_templates(config, env, &mut problems)?;
    let sources = std::sync::Arc::new(read_sources(config, &names, &mut problems));
    let mut engine = engine();
    let loaded = sources.clone();
    engine.set_loader(move |name| Ok(loaded.get(name).cloned()));
    compile_unrendered(&engine, &sources, &templates, &mut problems);
    let bases = base_contexts(config, env, sets);
    let images: HashMap<&str, &str> = config
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.image.as_str()))
        .collect();
    let set = TemplateSet {
        env,
        engine: &engine,
        sources: &sources,
        sets,
        bases: &bases,
        images: &images,
    };
    let chunks = crate::par::chunks(&templates, |chunk| set.render_chunk(chunk));

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

/// Every template file is read once (overrides and partials too, so `include` can reach any of
/// them), on a few threads. Each is compiled when it is used and dropped after: memory stays flat in
/// the number of templates.
fn read_sources(
    config: &Config,
    names: &[String],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let read: Vec<(String, std::io::Result<String>)> = crate::par::chunks(names, |chunk| {
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
    sources
}

/// Files no template set renders here (partials, overrides of other environments' templates) are
/// compiled once, to report syntax errors.
fn compile_unrendered(
    engine: &minijinja::Environment,
    sources: &BTreeMap<String, String>,
    templates: &[Template],
    problems: &mut Vec<Problem>,
) {
    let rendered: BTreeSet<&str> = templates.iter().map(|t| t.source.as_str()).collect();
    for (name, src) in sources.iter() {
        if !rendered.contains(name.as_str()) {
            if let Err(e) = engine.template_from_named_str(name, src) {
                problems.push(Problem::new(name, e.line(), template_error(&e)));
            }
        }
    }
}

/// The context shared by every template, per set of versions: built once, as minijinja values
/// (cheap to clone); the JSON form is only used to report undefined values.
fn base_contexts(
    config: &Config,
    env: &Environment,
    sets: &[&BTreeMap<String, Version>],
) -> Vec<(BTreeMap<String, Value>, Json)> {
    sets.iter()
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
        .collect()
}

/// What rendering an environment's templates for each set of versions needs, shared by the threads.
struct TemplateSet<'a> {
    env: &'a Environment,
    engine: &'a minijinja::Environment<'static>,
    sources: &'a BTreeMap<String, String>,
    sets: &'a [&'a BTreeMap<String, Version>],
    bases: &'a [(BTreeMap<String, Value>, Json)],
    /// Each service's image repository.
    images: &'a HashMap<&'a str, &'a str>,
}

impl TemplateSet<'_> {
    /// Renders the templates of `chunk` for every set of versions (one [`Rendered`] per set).
    fn render_chunk(&self, chunk: &[Template]) -> Vec<Rendered> {
        let mut out: Vec<Rendered> = self.sets.iter().map(|_| Rendered::default()).collect();
        for t in chunk {
            let Some(src) = self.sources.get(&t.source) else {
                continue; // unreadable: reported above
            };
            let tmpl = match self.engine.template_from_named_str(&t.source, src) {
                Ok(tmpl) => tmpl,
                Err(e) => {
                    for r in &mut out {
                        r.problems
                            .push(Problem::new(&t.source, e.line(), template_error(&e)));
                    }
                    continue;
                }
            };
            for (i, versions) in self.sets.iter().enumerate() {
                self.render_for(t, &tmpl, i, versions, &mut out[i]);
            }
        }
        out
    }

    /// Renders template `t` with the `i`th set of versions into `out`.
    fn render_for(
        &self,
        t: &Template,
        tmpl: &minijinja::Template,
        i: usize,
        versions: &BTreeMap<String, Version>,
        out: &mut Rendered,
    ) {
        let (base, base_json) = &self.bases[i];
        let mut ctx = base.clone();
        if let Some(svc) = &t.service {
            // A service the environment does not run yet (never set or promoted there) has
            // no manifests in it: `promote to` / `set-image` bring it in.
            let Some(v) = versions.get(svc) else {
                return;
            };
            let image = self.images.get(svc.as_str()).copied().unwrap_or_default();
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
        match render_one(self.engine, tmpl, Value::from(ctx.clone()), slow_ctx) {
            Ok(text) => out.files.push(OutFile {
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
                            self.env.name
                        ));
                    }
                }
                out.problems.extend(ps)
            }
        }
    }
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
pub(super) fn fill(ctx: &mut Json, path: &str) -> bool {
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
