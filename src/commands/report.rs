//! `promote report [--since 30d] [--output json] [--html DIR]`: what runs where, how it got there, and
//! how fast, from the repository alone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::error::{exit, Failure, Outcome};
use crate::model::audit;
use crate::model::gates::{self, Gates};
use crate::model::metadata::Metadata;
use crate::model::version::Version;
use crate::plan::{ChangeRequest, Ctx};
use crate::report::{self, EnvInput, Input};
use crate::ui;

pub fn run(dir: &Path, since: &str, json: bool, html: Option<&Path>) -> Outcome {
    // STEP 1: the window, before anything is read, so a typo fails fast.
    let window = gates::parse_duration(since).map_err(|e| Failure::SinceInvalid {
        error: e.to_string(),
    })?;
    let now = audit::now()?;

    // STEP 2: the repository: config, each environment's metadata and deploy.log.
    let ctx = Ctx::open(dir)?;
    let config = &ctx.config;
    ui::trace("report: config");
    let mut envs = read_envs(config)?;

    ui::trace("report: logs read");
    // STEP 3: what waits, and which gates hold it (the command gate is not run: a report changes nothing).
    held(&ctx, &mut envs)?;

    ui::trace("report: gates");
    // STEP 4: the figures.
    let input = Input {
        now,
        since: since.to_string(),
        window,
        repo: config
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "promote".into()),
        head: ctx.repo.head(),
        services: config.services.iter().map(|s| s.name.clone()).collect(),
        envs,
    };
    let built = report::build(&input);
    ui::trace("report: figures");

    // STEP 5: the page, or the figures.
    if let Some(dir) = html {
        return write_html(dir, input, built, since, json);
    }
    if json {
        ui::data(&(serde_json::to_string_pretty(&built)? + "\n"));
    } else {
        ui::data(&report::text::render(&built));
    }
    Ok(exit::OK)
}

/// Each log is read and its chain checked on a thread of its own: at 10,000 records that is most
/// of the report's time, and the logs are independent. A log's problem is warned about.
fn read_envs(config: &crate::model::config::Config) -> anyhow::Result<Vec<EnvInput>> {
    let read: Vec<anyhow::Result<EnvInput>> = std::thread::scope(|scope| {
        let handles: Vec<_> = config
            .environments
            .iter()
            .map(|e| scope.spawn(move || read_env(config, e)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(anyhow::anyhow!("a thread reading a deploy.log panicked"))
                })
            })
            .collect()
    });
    let mut envs: Vec<EnvInput> = Vec::with_capacity(read.len());
    for env in read {
        let env = env?;
        if let Some(p) = &env.log_problem {
            ui::warn(&format!(
                "{}; the report shows the records that parse (`promote log --verify`)",
                report::clean(p)
            ));
        }
        envs.push(env);
    }
    Ok(envs)
}

/// STEP 3: what waits, and which gates hold it (the command gate is not run: a report changes nothing).
fn held(ctx: &Ctx, envs: &mut [EnvInput]) -> anyhow::Result<()> {
    let config = &ctx.config;
    for (i, e) in config.environments.iter().enumerate() {
        let Some(src) = e
            .from
            .as_ref()
            .and_then(|f| config.environments.iter().position(|x| &x.name == f))
        else {
            continue;
        };
        let versions: BTreeMap<String, Version> = envs[src]
            .meta
            .services
            .iter()
            .filter(|(svc, s)| {
                envs[i].meta.services.get(*svc).map(|h| &h.version) != Some(&s.version)
            })
            .map(|(svc, s)| (svc.clone(), s.version.clone()))
            .collect();
        if versions.is_empty() {
            continue;
        }
        let req = ChangeRequest {
            env: e.name.clone(),
            action: "promote".into(),
            from: e.from.clone(),
            versions,
            ..Default::default()
        };
        envs[i].refusals = crate::plan::gate_refusals(ctx, &req, false)?.0;
    }
    Ok(())
}

/// STEP 5: the page (and with `--output json`, the figures too).
fn write_html(dir: &Path, input: Input, built: report::Report, since: &str, json: bool) -> Outcome {
    let page = report::html::render(&input, &built);
    ui::trace("report: page made");
    let path = write_page(dir, page.as_bytes())?;
    ui::trace("report: page written");
    let records: usize = input.envs.iter().map(|e| e.records.len()).sum();
    ui::status(&format!(
        "wrote `{}` ({} KiB): {} services in {} environments, {} deploy.log records, figures over {}",
        path.display(),
        page.len().div_ceil(1024),
        input.services.len(),
        input.envs.len(),
        records,
        since
    ));
    if json {
        ui::data(&(serde_json::to_string_pretty(&built)? + "\n"));
    }
    // The process ends right after this: freeing every record and cell one by one (tens of
    // thousands of strings at 10,000 records) would only delay the exit.
    std::mem::forget(input);
    std::mem::forget(built);
    Ok(exit::OK)
}

/// An environment's metadata and deploy.log, its chain checked.
fn read_env(
    config: &crate::model::config::Config,
    e: &crate::model::config::Environment,
) -> anyhow::Result<EnvInput> {
    let meta = Metadata::load(config, e)?;
    let log = match std::fs::read(config.abs(&e.deploy_log)) {
        Ok(b) => b,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => {
            return Err(Failure::CannotRead {
                file: e.deploy_log.clone(),
                error: err.to_string(),
            }
            .into())
        }
    };
    let (lines, problem) = audit::read(&log);
    let mut log_problem =
        problem.map(|(line, msg)| format!("`{}` (line {line}): {msg}", e.deploy_log));
    let records: Vec<audit::Record> = if log_problem.is_some() {
        // As `promote log` does: every record that parses, even past a broken link.
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    } else {
        lines
            .into_iter()
            .filter_map(|l| match l {
                audit::Line::Record(_, r) => Some(*r),
                audit::Line::Legacy(..) => None,
            })
            .collect()
    };
    if log_problem.is_none() {
        if let Some(head) = &meta.audit_head {
            if &audit::tail_hash(&log) != head {
                log_problem = Some(format!(
                    "`{}`: its last record is not the one `{}` names: a record was deleted or added by hand",
                    e.deploy_log, e.metadata
                ));
            }
        }
    }
    Ok(EnvInput {
        name: e.name.clone(),
        from: e.from.clone(),
        meta,
        records,
        log_problem,
        refusals: Vec::new(),
        gates: describe(&e.gates),
        command_gate: e.gates.command.is_some(),
    })
}

/// The gates of an environment, for people.
fn describe(g: &Gates) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &g.soak {
        out.push(format!("soak {s} in the source environment"));
    }
    for f in &g.freeze {
        let mut parts = Vec::new();
        if !f.days.is_empty() {
            parts.push(f.days.join(", "));
        }
        if let (Some(a), Some(b)) = (&f.from, &f.until) {
            parts.push(format!("{a} to {b}"));
        }
        let mut s = format!("freeze {}", parts.join(", "));
        if let Some(r) = &f.reason {
            s.push_str(&format!(" ({r})"));
        }
        out.push(s);
    }
    if let Some(c) = &g.command {
        out.push(format!("command `{c}`"));
    }
    out
}

/// Writes `DIR/index.html` whole or not at all: a temporary file in DIR, then a rename.
fn write_page(dir: &Path, bytes: &[u8]) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::HtmlDirUncreatable {
        dir: dir.to_path_buf(),
        error: e.to_string(),
    })?;
    let path = dir.join("index.html");
    let tmp = dir.join(format!(".index.html.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::HtmlUnwritable {
            path,
            error: e.to_string(),
        }
        .into());
    }
    Ok(path)
}
