//! `promote`: moves container image versions through the environments of a GitOps config repository.
//!
//! Data flows one way: config -> plan -> render -> write -> commit. Each stage returns plain data.

pub mod anchor;
pub mod audit;
pub mod cli;
pub mod clidocs;
pub mod commands;
pub mod config;
pub mod diff;
pub mod envvars;
pub mod error;
pub mod fsat;
pub mod gates;
pub mod git;
pub mod gitcli;
pub mod gitfast;
pub mod gitindex;
pub mod gitpr;
pub mod gitwrite;
pub mod hosting;
pub mod imageref;
pub mod journal;
pub mod legacy;
pub mod memo;
pub mod metadata;
pub mod plan;
pub mod preflight;
pub mod problems;
pub mod render;
pub mod report;
pub mod slug;
pub mod state;
pub mod status;
pub mod trust;
pub mod ui;
pub mod version;
pub mod write;
pub mod yamlcheck;
pub mod yamltype;

use std::path::PathBuf;

use cli::Request;

/// Runs one request and returns the process exit code. Errors are reported here, once.
pub fn run(dir: Option<PathBuf>, request: Request) -> i32 {
    // The variables first: `PROMOTE_TRACE` itself is one.
    if let Err(e) = envvars::validate() {
        return ui::report(&e.into());
    }
    ui::trace("start");
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let checked = preflight::directory(&dir);
    let code = match checked.and_then(|_| commands::dispatch(&dir, request)) {
        Ok(code) => code,
        Err(e) => ui::report(&e),
    };
    ui::trace("done");
    code
}
