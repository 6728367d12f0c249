//! What init found in a sed-templated repository, told to the person who runs it.

use serde_json::Value as Json;

use super::{plural, table, table_n, EnvPlan};
use crate::adopt::legacy::{Analysis, Found, OldMetadata, DEPLOY_LOG, METADATA_FILE};
use crate::model::config::Config;

/// What init found, for the person who runs it.
pub(super) fn explain(
    a: &Analysis,
    found: &Found,
    envs: &[(EnvPlan, Option<String>)],
    config: &Config,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "found the sed layout: {}, {} lined up with their rendered files, no byte out of place\n\n",
        plural(envs.len(), "environment"),
        plural(a.pairs, "template")
    ));
    s.push_str(&environments(envs));
    s.push_str(&services(a));
    s.push_str(&placeholders(a, found, envs));
    s.push_str(&versions(a, envs));
    s.push_str(&metadata(envs, config));
    s.push_str(&deploy_logs(envs));
    s.push_str(&left_alone(envs, found));
    s
}

/// The report's part on the environments, in pipeline order.
fn environments(envs: &[(EnvPlan, Option<String>)]) -> String {
    let mut s = String::new();
    s.push_str("environments, in pipeline order (a guess from the names: dev, then test/qa, then staging, then\nprod; edit `from:` in promote.yaml if yours differs):\n");
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|(e, from)| {
            vec![
                e.found.name.clone(),
                format!("{}/", e.found.dir),
                from.as_ref()
                    .map(|f| format!("from {f}"))
                    .unwrap_or_else(|| "start".into()),
                format!(
                    "{}, {}",
                    plural(e.found.templates.len(), "template"),
                    plural(e.found.plain.len(), "plain manifest")
                ),
            ]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));
    s
}

/// The report's part on the services and their images.
fn services(a: &Analysis) -> String {
    let mut s = String::new();
    let version_token = a
        .placeholders
        .iter()
        .find(|p| p.is_version())
        .map(|p| p.token.as_str())
        .unwrap_or("COMMIT_SHA");
    s.push_str(&format!("\nservices, the images the templates write as `<image>:{version_token}` (registry `{}`):\n", a.registry));
    let rows: Vec<Vec<String>> = a
        .services
        .iter()
        .map(|svc| vec![svc.name.clone(), svc.image.clone()])
        .collect();
    s.push_str(&table_n(&rows, "  "));
    s
}

/// The report's part on the placeholders, and what each stands for.
fn placeholders(a: &Analysis, found: &Found, envs: &[(EnvPlan, Option<String>)]) -> String {
    let mut s = String::new();
    s.push_str("\nplaceholders, and what each stands for:\n");
    let rows: Vec<Vec<String>> = a
        .placeholders
        .iter()
        .map(|p| {
            let what = if p.is_version() {
                "the version of the image written before it, or of the service the file is named after".to_string()
            } else {
                envs.iter()
                    .filter_map(|(e, _)| {
                        let i = found.envs.iter().position(|f| f.name == e.found.name)?;
                        p.values[i].as_ref().map(|v| format!("{} {}", e.found.name, Json::String(v.clone())))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![p.token.clone(), p.key.clone(), what]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));
    s
}

/// The report's part on the versions each environment runs.
fn versions(a: &Analysis, envs: &[(EnvPlan, Option<String>)]) -> String {
    let mut s = String::new();
    s.push_str("\nversions, from the rendered manifests:\n");
    let mut rows = vec![std::iter::once("SERVICE".to_string())
        .chain(envs.iter().map(|(e, _)| e.found.name.clone()))
        .collect::<Vec<_>>()];
    for svc in &a.services {
        rows.push(
            std::iter::once(svc.name.clone())
                .chain(envs.iter().map(|(e, _)| {
                    e.versions
                        .get(&svc.name)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                }))
                .collect(),
        );
    }
    s.push_str(&table_n(&rows, "  "));
    s
}

/// The report's part on the metadata files, and what was read from the old ones.
fn metadata(envs: &[(EnvPlan, Option<String>)], config: &Config) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "\nmetadata, written in promote's format to each environment's `{METADATA_FILE}`:\n"
    ));
    let mut rows = Vec::new();
    for (e, _) in envs {
        let path = config
            .env(&e.found.name)
            .map(|x| x.metadata.clone())
            .unwrap_or_default();
        let what = match &e.old {
            None => "none yet: written new".to_string(),
            Some(old) => old_metadata(e, old, &path),
        };
        rows.push(vec![path, what]);
    }
    s.push_str(&table_n(&rows, "  "));
    s
}

/// What init reads from an environment's old metadata file, and what it leaves in git history.
fn old_metadata(e: &EnvPlan, old: &OldMetadata, path: &str) -> String {
    let mut read: Vec<String> = Vec::new();
    if !old.versions.is_empty() {
        let same = old
            .versions
            .iter()
            .all(|(k, v)| e.versions.get(k).map(|x| x.to_string()).as_deref() == Some(v.as_str()));
        read.push(format!(
            "versions of {}{}",
            old.versions.keys().cloned().collect::<Vec<_>>().join(", "),
            if same {
                " (as the manifests say)"
            } else {
                " (not all as the manifests say: the manifests win)"
            }
        ));
    }
    for (k, present) in [
        ("urls", !old.urls.is_empty()),
        ("database", old.database.is_some()),
        ("kube_context", old.kube_context.is_some()),
        ("time", old.time.is_some()),
    ] {
        if present {
            read.push(k.to_string());
        }
    }
    let kind = match old.format {
        "promote" => "promote's format already",
        "json" => "JSON in another format",
        "lines" => "`key=value` lines",
        _ => "a format promote cannot read",
    };
    let mut w = kind.to_string();
    if !read.is_empty() && old.format != "promote" {
        w.push_str(&format!("; read {}", read.join(", ")));
    }
    if !old.unused.is_empty() {
        w.push_str(&format!("; not carried over: {}", old.unused.join(", ")));
    }
    if old.format != "promote" {
        w.push_str(&format!(
            "; the old content stays in git history (`git show HEAD:{path}`)"
        ));
    }
    w
}

/// The report's part on the deploy.logs, kept.
fn deploy_logs(envs: &[(EnvPlan, Option<String>)]) -> String {
    let mut s = String::new();
    s.push_str("\ndeploy.log: the lines there stay as they are; promote appends its records after them, chained:\n");
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|(e, _)| {
            let n = e
                .log
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            vec![
                e.found.path(DEPLOY_LOG),
                if e.log.is_empty() {
                    "none yet".into()
                } else {
                    plural(n, "line")
                },
            ]
        })
        .collect();
    s.push_str(&table_n(&rows, "  "));
    s
}

/// The report's part on what init leaves as it is.
fn left_alone(envs: &[(EnvPlan, Option<String>)], found: &Found) -> String {
    let mut s = String::new();
    let mut left: Vec<(String, String)> = Vec::new();
    let plain: Vec<String> = envs
        .iter()
        .flat_map(|(e, _)| e.found.plain.iter().map(|p| e.found.path(p)))
        .collect();
    if let Some(first) = plain.first() {
        left.push((
            "plain manifests".into(),
            format!(
                "{} with no template (e.g. `{first}`): ArgoCD applies them as they are",
                plain.len()
            ),
        ));
    }
    if let Some(t) = &found.preview_templates {
        left.push((
            format!("{}/", t.dir),
            format!(
                "{} of the old preview flow",
                plural(t.entries.len(), "template")
            ),
        ));
    }
    if let Some(p) = &found.previews {
        let names = if p.entries.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.entries.join(", "))
        };
        left.push((
            format!("{}/", p.dir),
            format!("{}{names}", plural(p.entries.len(), "live preview")),
        ));
    }
    if !found.scripts.is_empty() {
        left.push((
            found.scripts.join(", "),
            "the sed flow; the README's \"Adopting promote\" maps its targets to promote's".into(),
        ));
    }
    if !left.is_empty() {
        s.push_str("\nleft as they are:\n");
        s.push_str(&table(&left, "  "));
    }
    s
}
