//! `promote status`: what runs where, and what is waiting to be promoted.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::error::{exit, Outcome};
use crate::model::audit;
use crate::model::config::Config;
use crate::model::metadata::Metadata;
use crate::model::version::Version;
use crate::plan::Ctx;
use crate::ui;

pub fn run(dir: &Path, json_out: bool) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let mut board = Board::read(&ctx.config)?;
    board.held = held(&ctx, &board)?;
    if json_out {
        print_json(&board)?;
    } else {
        print_table(&board);
    }
    Ok(exit::OK)
}

/// What each environment runs, its last change, and the gates holding what waits for it,
/// indexed as `config.environments`.
struct Board<'a> {
    config: &'a Config,
    metas: Vec<Metadata>,
    last: Vec<Option<audit::Record>>,
    held: Vec<Vec<crate::model::gates::Refusal>>,
}

impl<'a> Board<'a> {
    fn read(config: &'a Config) -> Result<Self> {
        let metas: Vec<Metadata> = config
            .environments
            .iter()
            .map(|e| Metadata::load(config, e))
            .collect::<anyhow::Result<_>>()?;
        let last: Vec<Option<audit::Record>> = config
            .environments
            .iter()
            .map(|e| {
                audit::records(&std::fs::read(config.abs(&e.deploy_log)).unwrap_or_default()).pop()
            })
            .collect();
        Ok(Board {
            config,
            metas,
            last,
            held: Vec::new(),
        })
    }

    fn version(&self, i: usize, svc: &str) -> Option<Version> {
        self.metas[i].services.get(svc).map(|s| s.version.clone())
    }

    fn source(&self, i: usize) -> Option<usize> {
        let config = self.config;
        config.environments[i]
            .from
            .as_ref()
            .and_then(|f| config.environments.iter().position(|e| &e.name == f))
    }

    /// A version is waiting when the environment it takes from runs a different one.
    fn waiting(&self, i: usize, svc: &str) -> Option<Version> {
        match self.source(i) {
            Some(s) => self
                .version(s, svc)
                .filter(|v| Some(v) != self.version(i, svc).as_ref()),
            None => None,
        }
    }
}

/// Which gates hold each waiting version, and until when (the command gate is not run here).
fn held(ctx: &Ctx, board: &Board) -> Result<Vec<Vec<crate::model::gates::Refusal>>> {
    let config = &ctx.config;
    let mut held: Vec<Vec<crate::model::gates::Refusal>> = Vec::new();
    for (i, e) in config.environments.iter().enumerate() {
        let versions: std::collections::BTreeMap<String, Version> = config
            .services
            .iter()
            .filter_map(|s| board.waiting(i, &s.name).map(|v| (s.name.clone(), v)))
            .collect();
        if versions.is_empty() {
            held.push(Vec::new());
            continue;
        }
        let req = crate::plan::ChangeRequest {
            env: e.name.clone(),
            action: "promote".into(),
            from: e.from.clone(),
            versions,
            ..Default::default()
        };
        held.push(crate::plan::gate_refusals(ctx, &req, false)?.0);
    }
    Ok(held)
}

fn print_json(board: &Board) -> Result<()> {
    let config = board.config;
    let envs: Vec<serde_json::Value> = config
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let versions: serde_json::Map<String, serde_json::Value> = config
                .services
                .iter()
                .filter_map(|s| {
                    board
                        .version(i, &s.name)
                        .map(|v| (s.name.clone(), json!(v.to_string())))
                })
                .collect();
            let waiting: serde_json::Map<String, serde_json::Value> = config
                .services
                .iter()
                .filter_map(|s| {
                    board
                        .waiting(i, &s.name)
                        .map(|v| (s.name.clone(), json!(v.to_string())))
                })
                .collect();
            json!({
                "name": e.name,
                "from": e.from,
                "versions": versions,
                "waiting": waiting,
                "held": board.held[i],
                "hold": board.metas[i].hold,
                "updated": board.metas[i].updated,
                "last": board.last[i].as_ref().map(|r| json!({
                    "id": r.id, "time": r.time, "action": r.action,
                    "actor": format!("{} <{}>", r.actor.name, r.actor.email),
                })),
            })
        })
        .collect();
    ui::data(&(serde_json::to_string_pretty(&json!({ "environments": envs }))? + "\n"));
    Ok(())
}

/// The versions table (`*` where one waits), the gates holding them, and each environment's last change.
fn print_table(board: &Board) {
    let config = board.config;
    let mut rows: Vec<Vec<String>> = vec![std::iter::once("SERVICE".to_string())
        .chain(config.environments.iter().map(|e| e.name.clone()))
        .collect()];
    let mut any_waiting = false;
    for s in &config.services {
        let mut row = vec![s.name.clone()];
        for i in 0..config.environments.len() {
            let mut cell = board
                .version(i, &s.name)
                .map(|v| v.short())
                .unwrap_or_else(|| "-".into());
            if board.waiting(i, &s.name).is_some() {
                cell.push_str(" *");
                any_waiting = true;
            }
            row.push(cell);
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if any_waiting {
        out.push_str("\n* the environment it takes from runs another version: `promote diff <env>` shows the promotion\n");
    }
    for (i, e) in config.environments.iter().enumerate() {
        for r in &board.held[i] {
            out.push_str(&format!("{}: {r}\n", e.name));
        }
    }
    out.push_str(&last_changes(board));
    ui::data(&crate::ui::escape::escape(&out));
}

fn last_changes(board: &Board) -> String {
    let config = board.config;
    let mut out = String::from("\nlast change:\n");
    let ew = config
        .environments
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    for (i, e) in config.environments.iter().enumerate() {
        let what = match &board.last[i] {
            Some(r) => {
                let by = match &r.actor.ci {
                    Some(ci) => format!("{} <{}> via {}", r.actor.name, r.actor.email, ci.system),
                    None => format!("{} <{}>", r.actor.name, r.actor.email),
                };
                format!("{}  {:9}  by {by}", r.time, r.action)
            }
            None => "never".into(),
        };
        out.push_str(&format!("  {:ew$}  {what}\n", e.name));
    }
    out
}
