//! deploy.log: one JSON record per line, append-only, hash-chained.
//!
//! Each record carries `prev`, the SHA-256 of the line before it (free-text lines a legacy script wrote
//! count too), and `id`, derived from the record's own content. Editing a line breaks its `id`;
//! deleting or reordering lines breaks the next record's `prev`; deleting the last line is caught by the
//! environment's metadata, which keeps the hash of the last line (`audit_head`).

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev` of the first line of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: String,
    pub time: String,
    pub env: String,
    /// `promote`, `set-image`, `rollback`, `preview-up`, `preview-down`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub changes: Vec<ServiceChange>,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The record a rollback returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Set when a person let the change through its gates: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates_overridden: Option<String>,
    /// Set when a person built this record on an audit trail that failed verification: why, and
    /// what was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_repaired: Option<String>,
    /// The config-repository commit the change was made on top of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub prev: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    pub service: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Ci>,
}

/// The CI system's own identity for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ci {
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The CI run this process is part of, from the variables each CI system sets.
pub fn ci_from_env(var: impl Fn(&str) -> Option<String>) -> Option<Ci> {
    let get = |k: &str| var(k).filter(|v| !v.is_empty());
    if get("GITHUB_ACTIONS").is_some() {
        let url = match (
            get("GITHUB_SERVER_URL"),
            get("GITHUB_REPOSITORY"),
            get("GITHUB_RUN_ID"),
        ) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        return Some(Ci {
            system: "github-actions".into(),
            user: get("GITHUB_ACTOR"),
            job: match (get("GITHUB_WORKFLOW"), get("GITHUB_JOB")) {
                (Some(w), Some(j)) => Some(format!("{w}/{j}")),
                (w, j) => w.or(j),
            },
            build: get("GITHUB_RUN_ID").map(|id| match get("GITHUB_RUN_ATTEMPT") {
                Some(a) => format!("{id}.{a}"),
                None => id,
            }),
            url,
        });
    }
    if get("GITLAB_CI").is_some() {
        return Some(Ci {
            system: "gitlab-ci".into(),
            user: get("GITLAB_USER_LOGIN"),
            job: get("CI_JOB_NAME"),
            build: get("CI_JOB_ID"),
            url: get("CI_JOB_URL"),
        });
    }
    if get("BUILD_ID").is_some() && (get("PROJECT_ID").is_some() || get("TRIGGER_NAME").is_some()) {
        // Google Cloud Build exposes these when they are passed through `env:` in the build step.
        return Some(Ci {
            system: "cloud-build".into(),
            user: get("SERVICE_ACCOUNT_EMAIL"),
            job: get("TRIGGER_NAME"),
            build: get("BUILD_ID"),
            url: None,
        });
    }
    if get("JENKINS_URL").is_some() {
        return Some(Ci {
            system: "jenkins".into(),
            user: get("BUILD_USER_ID"),
            job: get("JOB_NAME"),
            build: get("BUILD_NUMBER"),
            url: get("BUILD_URL"),
        });
    }
    if get("CIRCLECI").is_some() {
        return Some(Ci {
            system: "circleci".into(),
            user: get("CIRCLE_USERNAME"),
            job: get("CIRCLE_JOB"),
            build: get("CIRCLE_BUILD_NUM"),
            url: get("CIRCLE_BUILD_URL"),
        });
    }
    if get("BUILDKITE").is_some() {
        return Some(Ci {
            system: "buildkite".into(),
            user: get("BUILDKITE_BUILD_CREATOR"),
            job: get("BUILDKITE_PIPELINE_SLUG"),
            build: get("BUILDKITE_BUILD_NUMBER"),
            url: get("BUILDKITE_BUILD_URL"),
        });
    }
    if get("CI").is_some_and(|v| v == "true" || v == "1") {
        return Some(Ci {
            system: "ci".into(),
            user: None,
            job: None,
            build: None,
            url: None,
        });
    }
    None
}

/// The time now, in UTC. `PROMOTE_NOW` (RFC 3339) pins it, for tests and reproducible demos; this is
/// the only place the clock is read.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var("PROMOTE_NOW") {
        Ok(s) if !s.is_empty() => Ok(DateTime::parse_from_rfc3339(&s)
            .map_err(|e| crate::error::Failure::PromoteNowInvalid {
                value: s.clone(),
                error: e.to_string(),
            })?
            .with_timezone(&Utc)),
        _ => Ok(Utc::now()),
    }
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Record {
    /// The record's id: the first 12 hex characters of the SHA-256 of its line with an empty id.
    pub fn compute_id(&self) -> String {
        let mut r = self.clone();
        r.id = String::new();
        let line = serde_json::to_string(&r).unwrap_or_default();
        sha256_hex(line.as_bytes())[..12].to_string()
    }

    /// Fills in `id` and returns the line to append (with its newline).
    pub fn seal(&mut self) -> String {
        self.id = self.compute_id();
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// The hash a record appended after `log` must carry as `prev`.
pub fn tail_hash(log: &[u8]) -> String {
    match last_line(log) {
        Some(line) => sha256_hex(line),
        None => GENESIS.to_string(),
    }
}

/// The last line, without its line ending. A line's hash never includes a `\r` before its `\n`:
/// a checkout with `core.autocrlf=true` (or `eol=crlf`) holds the log with CRLF line endings,
/// and its chain is the same chain.
fn last_line(log: &[u8]) -> Option<&[u8]> {
    let trimmed = log.strip_suffix(b"\n").unwrap_or(log);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    if trimmed.is_empty() {
        return None;
    }
    Some(match trimmed.iter().rposition(|&b| b == b'\n') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    })
}

/// One line of a log, parsed.
#[derive(Debug, Clone)]
pub enum Line {
    /// A record, with its 1-based line number.
    Record(usize, Box<Record>),
    /// Free text from before promote (kept as it is).
    Legacy(usize, String),
}

/// Parses a log and checks its chain. Returns the lines read, and the first problem (line number and
/// message), if any.
///
/// A problem before the last record that carries `audit_repaired` (a person let a change build on
/// the broken trail, and said why) is acknowledged: the lines before it are read as they are, and
/// only the chain from that record on must verify.
pub fn read(log: &[u8]) -> (Vec<Line>, Option<(usize, String)>) {
    let mut out = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut seen_record = false;
    let text = String::from_utf8_lossy(log);
    let repaired = text
        .split_terminator('\n')
        .enumerate()
        .filter(|(_, l)| l.contains("\"audit_repaired\""))
        .filter(|(_, l)| {
            serde_json::from_str::<Record>(l)
                .is_ok_and(|r| r.audit_repaired.is_some() && r.compute_id() == r.id)
        })
        .map(|(i, _)| i)
        .last();
    for (i, raw) in text.split_terminator('\n').enumerate() {
        let n = i + 1;
        // CRLF (an autocrlf checkout) is the same line: see `last_line`.
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let hash = sha256_hex(raw.as_bytes());
        if repaired.is_some_and(|r| i < r) {
            // Before the repair: kept as read, not verified.
            match serde_json::from_str::<Record>(raw) {
                Ok(r) => {
                    seen_record = true;
                    out.push(Line::Record(n, Box::new(r)));
                }
                Err(_) => out.push(Line::Legacy(n, raw.to_string())),
            }
            prev = hash;
            continue;
        }
        if !raw.trim_start().starts_with('{') {
            if seen_record {
                return (
                    out,
                    Some((
                        n,
                        "a line that is not a record follows the records (was a line edited?)"
                            .into(),
                    )),
                );
            }
            out.push(Line::Legacy(n, raw.to_string()));
            prev = hash;
            continue;
        }
        let record: Record = match serde_json::from_str(raw) {
            Ok(r) => r,
            Err(e) => return (out, Some((n, format!("not a valid record: {e}")))),
        };
        if record.prev != prev {
            return (
                out,
                Some((n, "its `prev` does not match the line before it: a line before it was edited, deleted or reordered".into())),
            );
        }
        if record.compute_id() != record.id {
            return (
                out,
                Some((
                    n,
                    format!(
                        "record `{}` was edited: its content does not match its id",
                        record.id
                    ),
                )),
            );
        }
        seen_record = true;
        prev = hash;
        out.push(Line::Record(n, Box::new(record)));
    }
    (out, None)
}

/// The records of a log, for display (problems are for `log --verify`).
pub fn records(log: &[u8]) -> Vec<Record> {
    read(log)
        .0
        .into_iter()
        .filter_map(|l| match l {
            Line::Record(_, r) => Some(*r),
            Line::Legacy(..) => None,
        })
        .collect()
}

/// FOR TESTS: the record `promote set-image dev` writes when it sets `service` to `after` (no
/// version before), by `A <a@x>`, at `time`, after the line whose hash is `prev`; not sealed.
#[cfg(test)]
pub(crate) fn sample(time: &str, service: &str, after: &str, prev: &str) -> Record {
    Record {
        id: String::new(),
        time: time.into(),
        env: "dev".into(),
        action: "set-image".into(),
        from: None,
        changes: vec![ServiceChange {
            service: service.into(),
            before: None,
            after: Some(after.into()),
        }],
        actor: Actor {
            name: "A".into(),
            email: "a@x".into(),
            ci: None,
        },
        message: None,
        target: None,
        gates_overridden: None,
        audit_repaired: None,
        commit: None,
        prev: prev.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(prev: &str, after: &str) -> Record {
        sample("2026-01-01T00:00:00Z", "api", after, prev)
    }

    fn chain(n: usize, head: &str) -> String {
        let mut log = head.to_string();
        for i in 0..n {
            let mut r = record(&tail_hash(log.as_bytes()), &format!("{i:07x}"));
            log.push_str(&r.seal());
        }
        log
    }

    #[test]
    fn a_chain_verifies_including_legacy_lines() {
        let log = chain(3, "2024-01-01 promoted api abc by bob\n");
        let (lines, problem) = read(log.as_bytes());
        assert_eq!(problem, None);
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn edits_deletions_and_legacy_edits_are_caught() {
        let log = chain(3, "old line\n");
        let edited = log.replacen("0000001", "0000009", 1);
        assert_eq!(read(edited.as_bytes()).1.unwrap().0, 3);
        let mut lines: Vec<&str> = log.lines().collect();
        lines.remove(2);
        let deleted = lines.join("\n") + "\n";
        assert_eq!(read(deleted.as_bytes()).1.unwrap().0, 3);
        let legacy_edited = log.replacen("old line", "new line", 1);
        assert_eq!(read(legacy_edited.as_bytes()).1.unwrap().0, 2);
    }

    #[test]
    fn a_crlf_checkout_is_the_same_chain_and_edits_still_show() {
        let log = chain(3, "2024-01-01 promoted api abc by bob\n");
        let crlf = log.replace('\n', "\r\n");
        assert_eq!(read(crlf.as_bytes()).1, None);
        assert_eq!(tail_hash(crlf.as_bytes()), tail_hash(log.as_bytes()));
        // A record appended to the CRLF checkout chains on.
        let mut mixed = crlf.clone();
        mixed.push_str(&record(&tail_hash(crlf.as_bytes()), "0000003").seal());
        assert_eq!(read(mixed.as_bytes()).1, None);
        let edited = crlf.replacen("0000001", "0000009", 1);
        assert_eq!(read(edited.as_bytes()).1.unwrap().0, 3);
    }

    #[test]
    fn ci_identity_from_github_variables() {
        let vars = |k: &str| {
            match k {
                "GITHUB_ACTIONS" => Some("true"),
                "GITHUB_ACTOR" => Some("octo"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_JOB" => Some("build"),
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_REPOSITORY" => Some("acme/config"),
                _ => None,
            }
            .map(str::to_string)
        };
        let ci = ci_from_env(vars).unwrap();
        assert_eq!(ci.system, "github-actions");
        assert_eq!(ci.user.as_deref(), Some("octo"));
        assert_eq!(
            ci.url.as_deref(),
            Some("https://github.com/acme/config/actions/runs/42")
        );
        assert_eq!(ci_from_env(|_| None), None);
    }
}
