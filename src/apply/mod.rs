//! Applying a planned change: the journal written first, then the files, then the commit; all or
//! nothing, even when killed.

pub mod files;
pub mod journal;

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::failpoint;
use crate::git;
use crate::model::change::Change;

/// Writes `files` and commits exactly them, all or nothing, even when killed: see
/// [`journal`]. If the commit fails (a hook, no identity, signing, a full disk), the working
/// tree and the index are put back as they were, and the message says what was verified.
///
/// The order of writes, and the invariant recovery relies on:
///
/// 1. the journal, durably: from here until it is removed, the next promote command can bring
///    every path back in line with HEAD (nothing else has changed yet);
/// 2. the new files, written beside their targets under temporary names (the disk fills here,
///    if it does);
/// 3. renamed into place, each replaced file kept where a rename brings it back (so undoing
///    needs no space), while the commit's objects are written (unreferenced until 5);
/// 4. the new index written to `index.lock`;
/// 5. the branch moved, with a compare-and-swap from the commit the change started from: the
///    commit point. Before it, recovery rolls back; after it, recovery finishes;
/// 6. `index.lock` renamed over the index; the replaced files freed; the journal removed.
///
/// So a kill leaves work for recovery only from 2 to 6 -- a few milliseconds of renames and one
/// index write -- and at every instant the tree is HEAD's or the change's, path by path.
pub fn write_and_commit(
    repo: &git::Repo,
    root: &Path,
    files: &[Change],
    message: &str,
) -> Result<String> {
    crate::ui::trace("write");
    let journal = journal::Journal::begin(repo, root, files, message)?;
    let mut swapped: Option<files::Swapped> = None;
    let result = (|| -> Result<String> {
        failpoint::check("journal")?;
        let staged = files::stage_all(root, files)?;
        failpoint::check("staged")?;
        let executable = staged.executable().to_vec();
        // The commit's objects are made from the new bytes, not from the files: they are written
        // while the files are renamed into place (renames, one at a time in the kernel, are most
        // of the wait). If a rename fails, the files are put back and the objects are left
        // unreferenced, as a failed `git commit` leaves them.
        let (swap, prepared) = std::thread::scope(|s| {
            let swap = s.spawn(move || staged.swap());
            let prepared = git::prepare_commit(root, files, &executable, message);
            let swapped = swap
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (swapped, prepared)
        });
        swapped = Some(swap?);
        failpoint::check("swapped")?;
        crate::ui::trace("commit");
        let commit = git::finish_commit(root, files, prepared?, message)?;
        failpoint::check("committed")?;
        Ok(commit)
    })();
    match result {
        Ok(commit) => {
            if let Some(s) = swapped {
                s.finish();
            }
            journal.end();
            Ok(commit)
        }
        Err(e) => Err(undo(repo, root, journal, swapped, e)),
    }
}

/// After a failed step of [`write_and_commit`]: unless the branch moved (the change is committed),
/// the files go back by renames (no new disk space needed); then every path is checked against
/// HEAD, and whatever is not in line (the index) is repaired as recovery would. The error says what
/// was verified.
fn undo(
    repo: &git::Repo,
    root: &Path,
    journal: journal::Journal,
    swapped: Option<files::Swapped>,
    e: anyhow::Error,
) -> anyhow::Error {
    let start = journal.record.head.clone();
    let head = git::Repo::discover(root).ok().and_then(|r| r.head());
    let committed = head.is_some() && head != start;
    let mut not_undone = Vec::new();
    let written = swapped.is_some();
    if let Some(s) = swapped {
        if committed {
            s.finish();
        } else {
            not_undone = s.undo();
        }
    }
    let repaired = journal::repair(repo, false);
    let report = match repaired {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Failure::ChangeFailed {
                error: format!("{e:#}"),
            }
            .into()
        }
        Err(r) => {
            return Failure::ChangeAndRepairFailed {
                error: format!("{e:#}"),
                repair: format!("{r:#}"),
            }
            .into()
        }
    };
    if !report.complete() {
        return Failure::ChangeRepairIncomplete {
            error: format!("{e:#}"),
            report: report.text(),
            not_undone,
        }
        .into();
    }
    match report.ending {
        // Verified above: every path of the change is as HEAD has it, in the tree and the index.
        journal::Ending::RolledBack => Failure::ChangeRolledBack {
            written,
            disk_full: disk_full(&e),
            error: format!("{e:#}"),
        }
        .into(),
        journal::Ending::Finished(c) | journal::Ending::Matched(c) => {
            Failure::ChangeCommittedThen {
                commit: c,
                error: format!("{e:#}"),
            }
            .into()
        }
    }
}

/// Whether `e` comes from a full disk or an exhausted quota.
fn disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|n| n == libc::ENOSPC || n == libc::EDQUOT)
            || c.downcast_ref::<git::GitError>().is_some_and(|g| {
                // git's own words for it (`write_or_die`, `xwrite`).
                [
                    "No space left on device",
                    "Out of diskspace",
                    "Disk quota exceeded",
                ]
                .iter()
                .any(|w| g.stderr.contains(w))
            })
    })
}
