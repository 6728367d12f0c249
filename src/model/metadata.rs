//! The metadata file of an environment: what it runs, where each version came from, and when.
//! It is the source of truth for versions. Stable key order, pretty-printed, trailing newline.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::Failure;
use crate::model::config::{Config, Environment};
use crate::model::version::Version;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub environment: String,
    /// Every service this environment runs.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<Json>,
    /// Set by `promote hold`: no promotion into the environment until `promote unhold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// UTC time of the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Hash of the last deploy.log record, so that deleting the last record is detectable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub reason: String,
    /// Who set it (`Name <email>`).
    pub by: String,
    /// UTC time it was set.
    pub since: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceState {
    pub version: Version,
    /// The full image reference.
    pub image: String,
    /// The environment the version was promoted from (absent when set directly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The config-repository commit the change was made on top of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// UTC time this service last changed here.
    pub updated: String,
}

impl Metadata {
    /// An environment's metadata; an environment that was never deployed has none yet.
    /// A change reads the same files several times (the request, its gates, the plan): each file
    /// parsed is kept, and used again while its bytes are the same.
    pub fn load(config: &Config, env: &Environment) -> Result<Metadata> {
        use std::sync::Mutex;
        type Parsed = Vec<(std::path::PathBuf, String, Metadata)>;
        static PARSED: Mutex<Parsed> = Mutex::new(Vec::new());
        let path = config.abs(&env.metadata);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Metadata {
                    environment: env.name.clone(),
                    ..Default::default()
                })
            }
            Err(e) => {
                return Err(Failure::CannotRead {
                    file: env.metadata.clone(),
                    error: e.to_string(),
                }
                .into());
            }
        };
        let mut parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, meta)) = parsed.iter().find(|(p, t, _)| *p == path && *t == text) {
            return Ok(meta.clone());
        }
        let meta = Self::parse(&env.metadata, &text)?;
        parsed.retain(|(p, _, _)| *p != path);
        parsed.push((path, text, meta.clone()));
        Ok(meta)
    }

    pub fn parse(file: &str, text: &str) -> Result<Metadata> {
        serde_json::from_str(text).map_err(|e| {
            Failure::InvalidMetadata {
                file: file.to_string(),
                line: e.line(),
                error: strip_at(&e.to_string()),
            }
            .into()
        })
    }

    /// Versions by service.
    pub fn versions(&self) -> BTreeMap<String, Version> {
        self.services
            .iter()
            .map(|(k, v)| (k.clone(), v.version.clone()))
            .collect()
    }

    /// The file's bytes: pretty JSON, stable order, trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }

    /// Copies the environment's URLs, database and kube context from its values.
    pub fn refresh_from_config(&mut self, env: &Environment) {
        self.environment = env.name.clone();
        self.urls = env.values.get("urls").cloned();
        self.database = env.values.get("database").cloned();
        self.kube_context = env.values.get("kube_context").cloned();
    }
}

fn strip_at(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_stable_and_round_trip() {
        let mut m = Metadata {
            environment: "dev".into(),
            ..Default::default()
        };
        for name in ["web", "api"] {
            m.services.insert(
                name.into(),
                ServiceState {
                    version: Version::parse("a252dcc").unwrap(),
                    image: format!("r.io/{name}:a252dcc"),
                    from: None,
                    commit: None,
                    updated: "2026-01-01T00:00:00Z".into(),
                },
            );
        }
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.find("\"api\"").unwrap() < text.find("\"web\"").unwrap());
        assert_eq!(Metadata::parse("m.json", &text).unwrap(), m);
    }

    #[test]
    fn bad_metadata_names_file_and_line() {
        let e = Metadata::parse(
            "environments/dev/metadata.json",
            "{\n  \"environment\": \"dev\",\n  \"services\": {\"api\": {\"version\": \"\"}}\n}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("`environments/dev/metadata.json` (line 3)"),
            "{e}"
        );
    }
}
