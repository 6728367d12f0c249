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
use crate::error::Outcome;

pub use crate::cli::PreviewOpts as Opts;

pub fn dispatch(dir: &Path, request: PreviewRequest) -> Outcome {
    match request {
        PreviewRequest::Up { branch, sha, opts } => up::up(dir, &branch, &sha, &opts),
        PreviewRequest::Down { branch, opts } => down::down(dir, &branch, &opts),
        PreviewRequest::List { json } => list::list(dir, json),
        PreviewRequest::Gc {
            older_than,
            keep,
            keep_file,
            opts,
        } => gc::gc(
            dir,
            older_than.as_deref(),
            &keep,
            keep_file.as_deref(),
            &opts,
        ),
    }
}
