//! `promote recover [--dry-run]`: repairs a change a killed run (or a full disk) left unfinished.
//! Every other command does the same first; this is the explicit form, with a dry run.

use std::path::Path;

use crate::apply::journal;
use crate::error::{exit, Outcome};
use crate::git::{self, Lock, Repo};
use crate::ui;

pub fn run(dir: &Path, dry_run: bool) -> Outcome {
    // STEP 1: the clone's lock: a run still going holds it, and its journal is not to be touched.
    let repo = Repo::discover(dir)?;
    let _lock = Lock::acquire(repo.git_dir(), git::lock_wait())?;
    // STEP 2: bring every path of the journal in line with HEAD (or say how it would).
    let Some(report) = journal::repair(&repo, dry_run)? else {
        ui::result("no interrupted change: nothing to recover");
        return Ok(exit::OK);
    };
    if !dry_run && !report.complete() {
        return Err(journal::incomplete(&report).into());
    }
    ui::result(&report.text());
    Ok(exit::OK)
}
