//! `promote`: moves container image versions through the environments of a GitOps config repository.
//!
//! A request flows one way: `cli` (clap, only there) -> `commands` (one orchestrator per
//! subcommand) -> `model` (config, metadata, audit) -> `plan` (read-only, using `render` and
//! `cache`) -> `apply` (journal, files, the commit through `git`), and `ui` prints. ARCHITECTURE.md
//! describes each folder and the rules between them, which `tests/architecture.rs` checks.

pub mod adopt;
pub mod apply;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod error;
#[expect(
    clippy::exit,
    reason = "`PROMOTE_FAILPOINT=name:exit` ends the run as a kill would, skipping every destructor"
)]
pub mod failpoint;
pub mod fs;
pub mod git;
pub mod model;
pub mod par;
pub mod plan;
pub mod render;
pub mod report;
pub mod ui;

use std::path::PathBuf;

use cli::Request;

/// Runs one request and returns the process exit code. Errors are reported here, once.
pub fn run(dir: Option<PathBuf>, request: Request) -> i32 {
    // The variables first: `PROMOTE_TRACE` itself is one.
    if let Err(e) = crate::cli::env::validate() {
        return ui::report(&e.into());
    }
    ui::trace("start");
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let checked = crate::commands::preflight::directory(&dir);
    let code = match checked.and_then(|_| commands::dispatch(&dir, request)) {
        Ok(code) => code,
        Err(e) => ui::report(&e),
    };
    ui::trace("done");
    code
}
