//! The old metadata file, best effort.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value as Json};

use crate::model::audit;
use crate::model::imageref::ImageRef;
use crate::model::metadata::Metadata;
use crate::model::version::Version;

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
        return from_promote(m);
    }
    let (format, value) = match serde_json::from_str::<Json>(&text) {
        Ok(v @ Json::Object(_)) => ("json", v),
        _ => match parse_lines(&text) {
            Some(map) => ("lines", map),
            None => {
                return OldMetadata {
                    format: "unreadable",
                    ..Default::default()
                }
            }
        },
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
        old.classify(path, v, &sorted);
    }
    old
}

/// A metadata file promote wrote.
fn from_promote(m: Metadata) -> OldMetadata {
    OldMetadata {
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
    }
}

/// `KEY=value` or `key: value` lines (a shell or dotenv file), as a JSON object; None when there is
/// no such line.
fn parse_lines(text: &str) -> Option<Json> {
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
    (!map.is_empty()).then_some(Json::Object(map))
}

impl OldMetadata {
    /// Files the value `v` at `path` under what it looks like: a database, a URL, a kube context, a
    /// time, a service's version, or unused. `sorted`: the service names, longest first.
    fn classify(&mut self, path: Vec<String>, v: Json, sorted: &[&String]) {
        let lower: Vec<String> = path.iter().map(|p| p.to_ascii_lowercase()).collect();
        // The words that say what a field is, from its keys without the service names they
        // mention: `images.catalogue-db` is the service `catalogue-db`, not a database field,
        // while `db` and `catalogue-db_url` still are a database and a URL.
        let unnamed: Vec<String> = lower.iter().map(|p| without_services(p, sorted)).collect();
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
            self.database.get_or_insert(v);
        } else if has(&["url", "urls", "uri", "endpoint", "endpoints"])
            || s.starts_with("http://")
            || s.starts_with("https://")
        {
            let name = svc.clone().unwrap_or_else(|| url_name(&lower));
            self.urls.entry(name).or_insert(v);
        } else if has(&["context", "kubecontext", "kubectx", "kube", "cluster"]) {
            self.kube_context.get_or_insert(v);
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
            if self.time.is_none() || t > self.time {
                self.time = t;
            }
        } else if let (Some(svc), Some(version)) = (svc, version_in(s)) {
            self.versions.entry(svc).or_insert(version);
        } else {
            self.unused.push(path.join("."));
        }
    }
}

/// The name of a URL no service's name says: its key's words but `url`.
fn url_name(lower: &[String]) -> String {
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
