//! Legacy templates as minijinja templates (`promote migrate`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::model::config::{Config, Environment};
use crate::model::imageref;
use crate::model::version::Version;
use crate::render;

use super::*;

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
