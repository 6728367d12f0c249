//! One orchestrator per subcommand, each reading top to bottom like the steps of the script it replaces.

pub mod preflight;

use std::path::Path;

use crate::cli::Request;
use crate::error::Outcome;

mod apply_change;
mod change;
mod check;
mod config;
mod init;
mod log;
mod migrate;
mod pr;
mod preview;
mod push;
mod recover;
mod render;
mod report;
mod request;
mod status;

pub fn dispatch(dir: &Path, request: Request) -> Outcome {
    // A change a killed run left unfinished is repaired before anything else reads the tree
    // (`check` reports it instead; `recover` is the explicit form).
    if !matches!(request, Request::Check { .. } | Request::Recover { .. }) {
        crate::apply::journal::recover_first(dir)?;
    }
    match request {
        Request::Render {
            envs,
            check,
            dry_run,
            json,
        } => render::run(dir, &envs, check, dry_run, json),
        Request::Check { base: None, json } => check::run(dir, json),
        Request::Check {
            base: Some(base),
            json: _,
        } => pr::check_base(dir, &base),
        Request::PrRefresh { target, json } => pr::refresh(dir, &target, json),
        Request::Recover { dry_run } => recover::run(dir, dry_run),
        Request::Config { json } => config::run(dir, json),
        Request::Promote {
            env,
            from,
            only,
            opts,
        } => change::promote(dir, &env, from.as_deref(), &only, opts),
        Request::SetImage {
            env,
            sha,
            pairs,
            opts,
        } => change::set_image(dir, &env, sha.as_deref(), &pairs, opts),
        Request::Rollback { env, to, opts } => change::rollback(dir, &env, to.as_deref(), opts),
        Request::Hold { env, hold, opts } => change::hold(dir, &env, hold, opts),
        Request::Diff {
            env,
            from,
            only,
            exit_code,
            json,
        } => change::diff(dir, &env, from.as_deref(), &only, exit_code, json),
        Request::Status { json } => status::run(dir, json),
        Request::Log {
            env,
            limit,
            verify,
            json,
        } => log::run(dir, env.as_deref(), limit, verify, json),
        Request::Report { since, html, json } => report::run(dir, &since, json, html.as_deref()),
        Request::Preview(p) => preview::dispatch(dir, p),
        // `--output json` reaches them through ui::mode(), set before a command runs.
        Request::Init { dry_run, .. } => init::run(dir, dry_run),
        Request::Migrate { dry_run, .. } => migrate::run(dir, dry_run),
        Request::Completions { shell } => crate::cli::docs::completions(shell),
        Request::Man { dir: out, command } => crate::cli::docs::man(dir, out.as_deref(), &command),
    }
}
