//! The audit trail anchored in git: what a change checks before it builds on an environment's
//! deploy.log and metadata, and what `promote log --verify` checks against the whole history.
//!
//! A change stays cheap: it reads the log (it appends to it anyway), compares it with HEAD's
//! committed blob, and compares the metadata with the log. Only `log --verify` walks history.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::git::Repo;
use crate::model::audit;
use crate::model::config::{Config, Environment};
use crate::model::metadata::Metadata;

/// Everything wrong with `env`'s audit trail that a change would build on, each naming the file.
/// Empty: the chain verifies, extends what HEAD holds, and the metadata agrees with it.
pub fn problems(config: &Config, repo: &Repo, env: &Environment) -> Result<Vec<String>> {
    let log_path = &env.deploy_log;
    let (mut out, log, bad, records) = log_problems(config, repo, log_path)?;

    // The metadata and the log were written together by every change.
    let meta_exists = config.abs(&env.metadata).exists();
    if !meta_exists {
        if records > 0 {
            out.push(format!(
                "`{}` is missing, but `{log_path}` records {records} change(s) of `{}`",
                env.metadata, env.name
            ));
        } else if repo.read_at_head(&env.metadata).is_some() {
            out.push(format!("`{}` is missing, but HEAD has it", env.metadata));
        }
        return Ok(out);
    }
    let meta = Metadata::load(config, env)?;
    if bad.is_none() {
        if let Some(head) = &meta.audit_head {
            if &audit::tail_hash(&log) != head {
                out.push(format!(
                    "`{log_path}`: its last line is not the record `{}` names (`audit_head`): a record was deleted or added by hand",
                    env.metadata
                ));
            }
        } else if records > 0 {
            out.push(format!(
                "`{}` names no last record (`audit_head`), but `{log_path}` has {records}",
                env.metadata
            ));
        }
        // (A broken chain stops the reading: what it says past the break is not compared.)
        out.extend(disagreements(env, &meta, &log));
    }
    Ok(out)
}

/// A problem of the chain at a line.
type Broken = Option<(usize, String)>;

/// What is wrong with one log by itself: its chain, and whether it still starts with what HEAD
/// holds. Also returns the bytes, the chain's problem and the number of records read.
pub fn log_problems(
    config: &Config,
    repo: &Repo,
    log_path: &str,
) -> Result<(Vec<String>, Vec<u8>, Broken, usize)> {
    let mut out = Vec::new();
    let disk = read_opt(config, log_path)?;
    let log = disk.clone().unwrap_or_default();
    // The chain itself.
    let (lines, bad) = audit::read(&log);
    if let Some((line, msg)) = &bad {
        out.push(format!("`{log_path}` (line {line}): {msg}"));
    }
    let records = lines
        .iter()
        .filter(|l| matches!(l, audit::Line::Record(..)))
        .count();

    // Append-only: what HEAD holds must still be there, byte for byte, at the start; the line
    // endings a checkout gives it (`core.autocrlf`, `eol=crlf`) aside, as for the chain.
    if let Some(committed) = repo.read_at_head(log_path) {
        if !lf(&log).starts_with(&lf(&committed)) {
            let lines = |b: &[u8]| b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count();
            let (here, there) = (lines(&log), lines(&committed));
            let what = match &disk {
                None => "is missing".to_string(),
                Some(b) if b.is_empty() => "is empty".to_string(),
                Some(b) if b.len() < committed.len() => format!(
                    "is shorter than the version committed in HEAD ({here} lines here, {there} there)"
                ),
                Some(_) => "rewrites lines of the version committed in HEAD".to_string(),
            };
            out.push(format!("`{log_path}` {what}"));
        }
    }
    Ok((out, log, bad, records))
}

/// `bytes` with every CRLF line ending made LF.
fn lf(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !bytes.windows(2).any(|w| w == b"\r\n") {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Where `meta` says a service runs something other than what the last record that changed it set.
/// Services no record mentions (a repository taken over by `promote init`) are not compared.
pub fn disagreements(env: &Environment, meta: &Metadata, log: &[u8]) -> Vec<String> {
    let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
    for r in audit::records(log) {
        for c in r.changes {
            last.insert(c.service, c.after);
        }
    }
    let mut out = Vec::new();
    for (svc, after) in &last {
        let runs = meta.services.get(svc).map(|s| s.version.to_string());
        if runs != *after {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "nothing".into());
            out.push(format!(
                "`{}` says `{svc}` runs {}, but the last record of `{}` that changed it set {}",
                env.metadata,
                show(&runs),
                env.deploy_log,
                show(after)
            ));
        }
    }
    out
}

fn read_opt(config: &Config, rel: &str) -> Result<Option<Vec<u8>>> {
    match std::fs::read(config.abs(rel)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::error::Failure::CannotRead {
            file: rel.to_string(),
            error: e.to_string(),
        }
        .into()),
    }
}

/// `log --verify`'s walk through history: every committed version of `path` (oldest first) must
/// extend the one before it. Returns the commit (short id and subject) and what it did, for the
/// first version that removed or changed a line.
pub fn history_problems(repo: &Repo, root: &std::path::Path, path: &str) -> Result<Vec<String>> {
    // `--format=%H %s`, first parent only: the versions of the file as the branch saw them.
    // `--no-renames` keeps each version to this exact path.
    let out = crate::git::git(
        root,
        &[
            "log",
            "--first-parent",
            "--no-renames",
            "--reverse",
            "--format=%H %s",
            "--",
            path,
        ],
    )?;
    let mut problems = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    let repairs = |b: &Option<Vec<u8>>| {
        b.as_ref().map_or(0, |b| {
            audit::records(b)
                .iter()
                .filter(|r| r.audit_repaired.is_some())
                .count()
        })
    };
    for line in out.lines() {
        let (id, subject) = line.split_once(' ').unwrap_or((line, ""));
        // The file at this commit (absent: deleted in it).
        let now = blob_at(repo, id, path);
        if let Some(before) = &prev {
            let ok = now.as_ref().is_some_and(|n| n.starts_with(before));
            if !ok {
                let n_before = audit::records(before).len();
                let n_now = now.as_ref().map(|n| audit::records(n).len()).unwrap_or(0);
                let what = match &now {
                    None => "deleted it".to_string(),
                    Some(n) if n.len() < before.len() => {
                        format!("removed lines ({n_before} records before, {n_now} after)")
                    }
                    Some(_) => "changed lines that were already committed".to_string(),
                };
                problems.push(format!(
                    "`{path}`: commit {} ({}) {what}",
                    &id[..id.len().min(12)],
                    crate::ui::escape::escape_line(subject)
                ));
            }
        }
        // A version that adds a repair record acknowledges what was reported before it (the
        // person who repaired the trail said why, in the record).
        if repairs(&now) > repairs(&prev) {
            problems.clear();
        }
        prev = now;
    }
    Ok(problems)
}

/// The bytes of `path` in commit `id`, None where it does not exist there.
fn blob_at(repo: &Repo, id: &str, path: &str) -> Option<Vec<u8>> {
    repo.read_at(id, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        let c = Config::parse(
            std::path::Path::new("/nonexistent"),
            "registry: r.io/a\nservices:\n  api:\nenvironments:\n  dev:\n",
        )
        .unwrap();
        c.environments[0].clone()
    }

    #[test]
    fn metadata_must_agree_with_the_log() {
        let env = env();
        let mut r = audit::sample("2026-01-01T00:00:00Z", "api", "aaaaaaa", audit::GENESIS);
        let log = r.seal();
        let mut meta = Metadata::default();
        meta.services.insert(
            "api".into(),
            crate::model::metadata::ServiceState {
                version: crate::model::version::Version::parse("aaaaaaa").unwrap(),
                image: "r.io/a/api:aaaaaaa".into(),
                from: None,
                commit: None,
                updated: "2026-01-01T00:00:00Z".into(),
            },
        );
        assert!(disagreements(&env, &meta, log.as_bytes()).is_empty());
        meta.services.get_mut("api").unwrap().version =
            crate::model::version::Version::parse("bbbbbbb").unwrap();
        let d = disagreements(&env, &meta, log.as_bytes());
        assert_eq!(d.len(), 1);
        assert!(
            d[0].contains("runs bbbbbbb") && d[0].contains("set aaaaaaa"),
            "{d:?}"
        );
    }
}
