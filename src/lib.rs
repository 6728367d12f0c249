//! `promote`: moves container image versions through the environments of a GitOps config repository.
//!
//! Data flows one way: config -> plan -> render -> write -> commit. Each stage returns plain data.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diff;
pub mod error;
pub mod fsat;
pub mod gates;
pub mod git;
pub mod gitcli;
pub mod gitfast;
pub mod gitindex;
pub mod gitwrite;
pub mod imageref;
pub mod legacy;
pub mod memo;
pub mod metadata;
pub mod plan;
pub mod render;
pub mod slug;
pub mod state;
pub mod status;
pub mod ui;
pub mod version;
pub mod write;
pub mod yamlcheck;

use std::path::PathBuf;

use cli::Request;

/// Runs one request and returns the process exit code. Errors are reported here, once.
pub fn run(dir: Option<PathBuf>, request: Request) -> i32 {
    ui::trace("start");
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let code = match commands::dispatch(&dir, request) {
        Ok(code) => code,
        Err(e) => ui::report(&e),
    };
    ui::trace("done");
    code
}
