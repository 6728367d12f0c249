//! `promote preview up|down|list|gc`: one throwaway environment per pull-request branch.
//!
//! ```text
//! <previews.dir>/                   environments/prs/ by default
//!   <slug>/manifests/               what ArgoCD syncs (the ApplicationSet's `environments/prs/*/manifests`)
//!   <slug>/metadata.json            branch, slug, namespace, created, updated, the versions it runs
//!   <slug>/deploy.log               the preview's audit chain (`preview-up` records)
//!   deploy.log                      `preview-down` records: a preview's own log goes with it
//! ```
//!
//! A preview renders the preview template set (`previews.templates`, the shared templates by default)
//! with `previews.values` and, over them, `namespace: pr-<slug>`, `host_prefix: <slug>.`, `branch` and
//! `slug`. The branch name is data: it only ever reaches the file system as a slug (see
//! [`crate::model::slug`]), and every path written is checked to lie inside `previews.dir`, through no
//! symbolic link. `--push` runs through the same retry loop as `set-image --push`.

mod apply;
mod down;
mod gc;
mod list;
mod plan;
mod state;
mod up;

use std::path::Path;

use crate::cli::PreviewRequest;
use crate::error::Failure;
use crate::model::version::Version;
use crate::model::{gates, slug};

use crate::error::Outcome;
use apply::run;
use gc::keep_list;
use plan::Op;

pub use crate::cli::PreviewOpts as Opts;

pub fn dispatch(dir: &Path, request: PreviewRequest) -> Outcome {
    match request {
        PreviewRequest::Up { branch, sha, opts } => up(dir, &branch, &sha, &opts),
        PreviewRequest::Down { branch, opts } => down(dir, &branch, &opts),
        PreviewRequest::List { json } => list::list(dir, json),
        PreviewRequest::Gc {
            older_than,
            keep,
            keep_file,
            opts,
        } => gc(
            dir,
            older_than.as_deref(),
            &keep,
            keep_file.as_deref(),
            &opts,
        ),
    }
}

/// `promote preview up BRANCH --sha SHA`.
pub fn up(dir: &Path, branch: &str, sha: &str, opts: &Opts) -> Outcome {
    let version = Version::from_sha(sha).map_err(|e| Failure::PreviewShaInvalid {
        error: e.to_string(),
    })?;
    slug::slug(branch)?;
    run(
        dir,
        &Op::Up {
            branch,
            version,
            message: opts.message.clone(),
        },
        opts,
    )
}

/// `promote preview down BRANCH`.
pub fn down(dir: &Path, branch: &str, opts: &Opts) -> Outcome {
    slug::slug(branch)?;
    let message = opts.message.clone();
    run(dir, &Op::Down { branch, message }, opts)
}

/// `promote preview gc [--older-than D] [--keep B...] [--keep-file F]`.
pub fn gc(
    dir: &Path,
    older_than: Option<&str>,
    keep: &[String],
    keep_file: Option<&str>,
    opts: &Opts,
) -> Outcome {
    // STEP 1: what counts as stale, read once (stdin cannot be read again on a push retry).
    let older_than = match older_than {
        Some(s) => {
            let d = gates::parse_duration(s).map_err(|e| Failure::OlderThanInvalid {
                error: e.to_string(),
            })?;
            if d <= chrono::Duration::zero() {
                return Err(Failure::OlderThanNotPositive {
                    value: s.to_string(),
                }
                .into());
            }
            Some(d)
        }
        None => None,
    };
    let keep = keep_list(keep, keep_file)?;
    if older_than.is_none() && keep.is_none() {
        return Err(Failure::GcNeedsCriteria.into());
    }
    run(
        dir,
        &Op::Gc {
            older_than,
            keep,
            message: opts.message.clone(),
        },
        opts,
    )
}
