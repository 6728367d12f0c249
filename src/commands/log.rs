//! `promote log [ENV] [-n N] [--verify]`: the audit history.

use std::path::Path;

use crate::audit::{self, Record};
use crate::error::{exit, Outcome, UserError};
use crate::metadata::Metadata;
use crate::plan::Ctx;
use crate::ui;

pub fn run(
    dir: &Path,
    env: Option<&str>,
    limit: Option<usize>,
    verify: bool,
    json: bool,
) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let config = &ctx.config;
    let envs: Vec<_> = match env {
        Some(name) => vec![config.env(name)?],
        None => config.environments.iter().collect(),
    };

    if verify {
        let mut total = 0;
        for e in &envs {
            let log = std::fs::read(config.abs(&e.deploy_log)).unwrap_or_default();
            let (lines, bad) = audit::read(&log);
            if let Some((line, msg)) = bad {
                return Err(
                    UserError::new(format!("`{}` (line {line}): {msg}", e.deploy_log))
                        .hint(format!(
                            "`git log -p -- {}` shows who changed it",
                            e.deploy_log
                        ))
                        .into(),
                );
            }
            let meta = Metadata::load(config, e)?;
            if let Some(head) = &meta.audit_head {
                if &audit::tail_hash(&log) != head {
                    return Err(UserError::new(format!(
                        "`{}`: its last record is not the one `{}` names: a record was deleted or added by hand",
                        e.deploy_log, e.metadata
                    ))
                    .hint(format!("`git log -p -- {}` shows who changed it", e.deploy_log))
                    .into());
                }
            }
            total += lines
                .iter()
                .filter(|l| matches!(l, audit::Line::Record(..)))
                .count();
        }
        if json {
            let doc = serde_json::json!({"verified": true, "records": total, "logs": envs.len()});
            ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
            return Ok(exit::OK);
        }
        ui::result(&format!(
            "verified {total} records in {} deploy logs: the chains are intact",
            envs.len()
        ));
        return Ok(exit::OK);
    }

    let mut records: Vec<Record> = Vec::new();
    for e in &envs {
        let log = std::fs::read(config.abs(&e.deploy_log)).unwrap_or_default();
        if let (_, Some((line, msg))) = audit::read(&log) {
            ui::warn(&format!(
                "`{}` (line {line}): {msg}; the history below may not be what happened (`promote log --verify`)",
                e.deploy_log
            ));
        }
        // Show every record that parses, even past a broken link, so nothing is hidden.
        records.extend(
            String::from_utf8_lossy(&log)
                .lines()
                .filter(|l| l.trim_start().starts_with('{'))
                .filter_map(|l| serde_json::from_str::<Record>(l).ok()),
        );
    }
    // Newest first; records of one environment are already in order, so a stable sort keeps ties sane.
    records.reverse();
    records.sort_by(|a, b| b.time.cmp(&a.time));
    // `-n 0` asks for no record (as `git log -n 0`): an empty answer, not "no records yet".
    let none_yet = records.is_empty();
    if let Some(n) = limit {
        records.truncate(n);
    }
    if json {
        ui::data(&(serde_json::to_string_pretty(&records)? + "\n"));
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for r in &records {
        let what = match &r.from {
            Some(f) => format!("{} {f} -> {}", r.action, r.env),
            None => format!("{} {}", r.action, r.env),
        };
        out.push_str(&format!("{}  {}  {what}\n", r.id, r.time));
        let ci = r.actor.ci.as_ref().map(|c| {
            let mut s = format!(" via {}", c.system);
            if let Some(b) = &c.build {
                s.push_str(&format!(" build {b}"));
            }
            s
        });
        out.push_str(&format!(
            "    by {} <{}>{}\n",
            r.actor.name,
            r.actor.email,
            ci.unwrap_or_default()
        ));
        for c in &r.changes {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".into());
            out.push_str(&format!(
                "    {}: {} -> {}\n",
                c.service,
                v(&c.before),
                v(&c.after)
            ));
        }
        if let Some(m) = &r.message {
            out.push_str(&format!("    why: {m}\n"));
        }
    }
    if none_yet {
        ui::status("no records yet");
    }
    ui::data(&out);
    Ok(exit::OK)
}
