//! Where previews live on disk: their metadata, the slot a branch takes, the scan of `previews.dir`,
//! and the check that every path stays inside it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::model::config::{Config, Layout, Previews};
use crate::model::metadata::ServiceState;
use crate::model::slug;
use crate::model::version::Version;

/// `<previews.dir>/<slug>/metadata.json`: who the preview belongs to and what it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewMeta {
    /// The branch, exactly as given to `preview up`.
    pub branch: String,
    pub slug: String,
    pub namespace: String,
    pub host_prefix: String,
    /// `urls` from the preview's values, for people and bots (e.g. a pull-request comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<serde_json::Value>,
    /// UTC time of the first `preview up`.
    pub created: String,
    /// UTC time of the last `preview up` that changed something.
    pub updated: String,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceState>,
    /// Hash of the last record of the preview's deploy.log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
}

impl PreviewMeta {
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }

    pub(super) fn versions(&self) -> BTreeMap<String, Version> {
        self.services
            .iter()
            .map(|(k, v)| (k.clone(), v.version.clone()))
            .collect()
    }
}

/// A preview found on disk.
pub(super) struct Found {
    pub(super) slug: String,
    /// Repository-relative directory.
    pub(super) dir: String,
    pub(super) meta: PreviewMeta,
}

/// What a candidate slug's directory holds.
pub(super) enum Slot {
    Free,
    Own(Box<PreviewMeta>),
    Taken(String),
    NotPreview(String),
}

pub(super) fn settings(config: &Config) -> Result<&Previews> {
    let Some(p) = config.previews.as_ref() else {
        return Err(Failure::PreviewsNotConfigured.into());
    };
    if config.layout == Layout::Legacy && p.templates == config.templates {
        return Err(Failure::LegacyPreviewsNeedTemplates.into());
    }
    Ok(p)
}

pub(super) fn meta_path(dir: &str) -> String {
    format!("{dir}/metadata.json")
}

pub(super) fn read_meta(config: &Config, dir: &str) -> Result<Option<PreviewMeta>, String> {
    let path = meta_path(dir);
    match std::fs::read_to_string(config.abs(&path)) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "`{path}` (line {}): invalid preview metadata: {e}",
                e.line()
            )
        }),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("cannot read `{path}`: {e}")),
    }
}

pub(super) fn slot(config: &Config, dir: &str) -> Result<Slot> {
    let abs = config.abs(dir);
    match std::fs::symlink_metadata(&abs) {
        Err(_) => return Ok(Slot::Free),
        Ok(m) if !m.is_dir() => {
            return Ok(Slot::NotPreview("it is not a directory".into()));
        }
        Ok(_) => {}
    }
    match read_meta(config, dir) {
        Ok(Some(meta)) => Ok(Slot::Own(Box::new(meta))),
        Ok(None) => {
            let empty = std::fs::read_dir(&abs)
                .with_context(|| format!("cannot list `{dir}`"))?
                .next()
                .is_none();
            Ok(if empty {
                Slot::Free
            } else {
                Slot::NotPreview("it has no `metadata.json`".into())
            })
        }
        Err(e) => Ok(Slot::NotPreview(e)),
    }
}

/// Every preview under `previews.dir`, and the directories there that are not previews (and why).
/// Directories under `previews.dir` that are not previews, and why.
type Skipped = Vec<(String, String)>;

pub(super) fn scan(config: &Config, previews: &Previews) -> Result<(Vec<Found>, Skipped)> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let base = config.abs(&previews.dir);
    let entries = match std::fs::read_dir(&base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, skipped)),
        Err(e) => return Err(e).with_context(|| format!("cannot list `{}`", previews.dir)),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let dir = format!("{}/{name}", previews.dir);
        match slot(config, &dir)? {
            Slot::Own(meta) if meta.slug == name && slug::is_valid(&name) => found.push(Found {
                slug: name,
                dir,
                meta: *meta,
            }),
            Slot::Own(meta) => {
                skipped.push((dir, format!("its metadata names slug `{}`", meta.slug)))
            }
            Slot::NotPreview(why) => skipped.push((dir, why)),
            Slot::Free | Slot::Taken(_) => {}
        }
    }
    Ok((found, skipped))
}

/// Checks that `rel` lies inside `previews_dir` and that nothing on the way to it is a symbolic link,
/// so no branch name and no crafted repository can make promote write elsewhere.
pub(super) fn ensure_inside(config: &Config, previews_dir: &str, rel: &str) -> Result<()> {
    let inside = rel
        .strip_prefix(previews_dir)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|r| {
            !r.is_empty() && r.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        });
    if !inside {
        return Err(Failure::OutsidePreviews {
            rel: rel.to_string(),
            dir: previews_dir.to_string(),
        }
        .into());
    }
    let mut path = config.root.clone();
    for part in rel.split('/') {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Failure::PreviewSymlink {
                    rel: rel.to_string(),
                    link: path
                        .strip_prefix(&config.root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                }
                .into());
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Every file under `dir` (repository-relative), dotfiles included, symbolic links not followed.
pub(super) fn walk(config: &Config, dir: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_string()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(config.abs(&d)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list `{d}`")),
        };
        for entry in entries {
            let entry = entry?;
            let rel = format!("{d}/{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                stack.push(rel);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_previews_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(
            dir.path(),
            "registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\npreviews: {}\n",
        )
        .unwrap();
        let ok = |p: &str| ensure_inside(&config, "environments/prs", p).is_ok();
        assert!(ok("environments/prs/a/manifests/x.yaml"));
        assert!(ok("environments/prs/deploy.log"));
        assert!(!ok("environments/prs"));
        assert!(!ok("environments/prs/"));
        assert!(!ok("environments/prs/../dev/x"));
        assert!(!ok("environments/prs/a/../../dev/x"));
        assert!(!ok("environments/prsx/a"));
        assert!(!ok("environments/dev/manifests/x.yaml"));
        assert!(!ok("/etc/passwd"));

        std::fs::create_dir_all(dir.path().join("environments/prs")).unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("elsewhere"),
            dir.path().join("environments/prs/evil"),
        )
        .unwrap();
        let e = ensure_inside(
            &config,
            "environments/prs",
            "environments/prs/evil/manifests/x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }
}
