//! `promote log [ENV] [-n N] [--verify]`: the audit history.

use std::path::Path;

use crate::error::{exit, Failure, Outcome};
use crate::model::audit::{self, Record};
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
        return verify_logs(&ctx, &envs, env.is_none(), json);
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
        let esc = crate::ui::escape::escape_line;
        out.push_str(&format!(
            "{}  {}  {}\n",
            esc(&r.id),
            esc(&r.time),
            esc(&what)
        ));
        let ci = r.actor.ci.as_ref().map(|c| {
            let mut s = format!(" via {}", esc(&c.system));
            if let Some(b) = &c.build {
                s.push_str(&format!(" build {}", esc(b)));
            }
            s
        });
        out.push_str(&format!(
            "    by {} <{}>{}\n",
            esc(&r.actor.name),
            esc(&r.actor.email),
            ci.unwrap_or_default()
        ));
        for c in &r.changes {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".into());
            out.push_str(&format!(
                "    {}: {} -> {}\n",
                esc(&c.service),
                esc(&v(&c.before)),
                esc(&v(&c.after))
            ));
        }
        if let Some(m) = &r.message {
            out.push_str(&format!("    why: {}\n", esc(m)));
        }
        if let Some(g) = &r.gates_overridden {
            out.push_str(&format!("    gates overridden: {}\n", esc(g)));
        }
        if let Some(a) = &r.audit_repaired {
            out.push_str(&format!("    AUDIT TRAIL REPAIRED: {}\n", esc(a)));
        }
    }
    if none_yet {
        ui::status("no records yet");
    }
    ui::data(&out);
    Ok(exit::OK)
}

/// `log --verify`: every log's chain, its last record against the metadata, the metadata against the
/// log, and every committed version of the log against the one before it (a record removed or
/// changed in a later commit is reported with that commit). With no environment named, the
/// previews' logs too. Every problem is reported, not only the first.
fn verify_logs(
    ctx: &Ctx,
    envs: &[&crate::model::config::Environment],
    previews: bool,
    json: bool,
) -> Outcome {
    let config = &ctx.config;
    let mut problems: Vec<String> = Vec::new();
    let mut total = 0;
    let mut logs = 0;
    for e in envs {
        logs += 1;
        let log = std::fs::read(config.abs(&e.deploy_log)).unwrap_or_default();
        total += audit::records(&log).len();
        problems.extend(crate::plan::anchor::problems(config, &ctx.repo, e)?);
        problems.extend(crate::plan::anchor::history_problems(
            &ctx.repo,
            &config.root,
            &e.deploy_log,
        )?);
    }
    if let (true, Some(p)) = (previews, &config.previews) {
        let mut dirs: Vec<String> = std::fs::read_dir(config.abs(&p.dir))
            .map(|rd| {
                rd.flatten()
                    .filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|d| format!("{}/{}", p.dir, d.file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        // The shared log of removals, then each preview's own.
        let shared = format!("{}/deploy.log", p.dir);
        for path in std::iter::once(shared).chain(dirs.iter().map(|d| format!("{d}/deploy.log"))) {
            let Ok(log) = std::fs::read(config.abs(&path)) else {
                continue;
            };
            logs += 1;
            total += audit::records(&log).len();
            problems.extend(crate::plan::anchor::log_problems(config, &ctx.repo, &path)?.0);
            // `preview down` deletes a preview's log with its directory: only rewrites count.
            problems.extend(
                crate::plan::anchor::history_problems(&ctx.repo, &config.root, &path)?
                    .into_iter()
                    .filter(|p| !p.ends_with("deleted it")),
            );
        }
    }
    if !problems.is_empty() {
        // One problem a line, the first on the `error:` line.
        let list: Vec<String> = problems
            .iter()
            .map(|p| crate::ui::escape::escape_line(p))
            .collect();
        return Err(Failure::AuditProblems { problems: list }.into());
    }
    if json {
        let doc = serde_json::json!({"verified": true, "records": total, "logs": logs});
        ui::data(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(exit::OK);
    }
    ui::result(&format!(
        "verified {total} records in {logs} deploy logs: the chains are intact"
    ));
    Ok(exit::OK)
}
