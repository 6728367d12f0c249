//! `git status` restricted to a few paths, at the cost of those paths only.
//!
//! libgit2's `statuses()` with pathspecs still walks (and `lstat`s) the whole work tree and matches
//! every path against every pathspec: ~175 ms on a 24,000-file repository even to ask about one
//! file, seconds for thousands of paths. This does what git does: find the index entries under each
//! path by binary search, compare them with HEAD's subtree for that path, and walk only that part of
//! the work tree, trusting the stat data the index keeps for each file (and hashing the file when it
//! cannot). Like git's `core.preloadIndex`, the `lstat`s and the hashing of a big directory are
//! spread over a few threads, and the first `lstat`s overlap libgit2's reading of the index. What it
//! cannot decide on its own -- a file whose bytes differ from the index (a filter such as
//! `core.autocrlf` may explain it), a submodule -- is handed to libgit2 for exactly those paths, in
//! one call, so the verdicts stay libgit2's.

mod files;
mod scan;
#[cfg(test)]
mod tests;
mod worktree;

use files::*;
use scan::*;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;

use anyhow::{Context, Result};
use git2::Repository;

use crate::git::mode::{FILE_TYPE, GITLINK, SYMLINK, TYPE_MASK};
const PERMS: u32 = 0o777;

/// Paths under any of `paths` (repository-relative files or directories, `/`-separated; `.` is the
/// whole repository) that differ between HEAD and the index (staged), between the index and the work
/// tree (modified, deleted, mode changed), are conflicted, or are untracked and not ignored (files
/// in untracked directories are listed one by one). Sorted, without duplicates.
pub fn dirty(repo: &Repository, paths: &[String]) -> Result<Vec<String>> {
    dirty_listing(repo, paths).map(|(dirty, _)| dirty)
}

/// The regular files found directly in the directories a dirty check listed, by directory
/// (repository-relative): what a check that found nothing dirty vouched for.
#[derive(Debug, Default)]
pub struct Listing(HashMap<String, Vec<String>>);

impl Listing {
    /// The names of the regular files directly in `dir`, if the check listed it.
    pub fn files(&self, dir: &str) -> Option<&[String]> {
        self.0.get(dir).map(Vec::as_slice)
    }
}

/// [`dirty`], and what it listed.
pub fn dirty_listing(repo: &Repository, paths: &[String]) -> Result<(Vec<String>, Listing)> {
    let mut listing = Listing::default();
    let mut prefixes = Vec::new();
    let mut patterns = Vec::new();
    for p in paths {
        match prefix_of(p) {
            Some(prefix) => prefixes.push(prefix),
            None => patterns.push(p.as_bytes()),
        }
    }
    let mut out = BTreeSet::new();
    if !patterns.is_empty() {
        // Not a plain path: keep libgit2's reading of it (a pattern), and its cost.
        out.extend(libgit2_dirty(repo, patterns, false)?);
    }
    if !prefixes.is_empty() {
        let prefixes = outermost(prefixes);
        let workdir = repo
            .workdir()
            .context("the repository is bare; promote needs a checkout")?;
        let found = std::thread::scope(|s| {
            // The `lstat`s of the files directly in each directory asked about, while libgit2
            // reads the index on this thread: they are most of the cost, and need no index.
            let prefetch = s.spawn(|| {
                let mut listings = HashMap::new();
                for p in &prefixes {
                    let abs = workdir.join(os_path(p));
                    if fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir()) {
                        listings.insert(p.clone(), list(&abs, true));
                    }
                }
                crate::ui::trace("dirty check: listing done");
                listings
            });
            let mut scan = Scan::new(repo)?;
            crate::ui::trace("dirty check: index and HEAD read");
            scan.listings = prefetch
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            crate::ui::trace("dirty check: directories listed");
            for (dir, items) in &scan.listings {
                let files = items
                    .iter()
                    .filter(|i| i.kind.is_file())
                    .map(|i| String::from_utf8_lossy(&i.name).into_owned())
                    .collect();
                listing
                    .0
                    .insert(String::from_utf8_lossy(dir).into_owned(), files);
            }
            for prefix in &prefixes {
                scan.prefix(prefix)?;
            }
            crate::ui::trace("dirty check: compared");
            scan.finish()
        })?;
        out.extend(found);
    }
    let dirty = out
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok((dirty, listing))
}

/// The plain repository-relative path `p` names (empty for the whole repository), or `None` when
/// libgit2 would read it as something else: a pattern (`*`, `?`, `[`, `\`, a leading `!` or `#`), or
/// a path not in normal form (`./a`, `a/`, `a//b`).
fn prefix_of(p: &str) -> Option<Vec<u8>> {
    if p.is_empty() || p == "." {
        return Some(Vec::new());
    }
    let special = |c: char| {
        matches!(c, '*' | '?' | '[' | '\\') || c.is_control() || (c.is_whitespace() && c != ' ')
    };
    if p.starts_with(['!', '#'])
        || p.contains(special)
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    Some(p.as_bytes().to_vec())
}

/// The prefixes with those inside another one dropped (and duplicates), so each index entry and
/// each file belongs to one prefix at most.
fn outermost(mut prefixes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    prefixes.sort();
    prefixes.dedup();
    let all: HashSet<&[u8]> = prefixes.iter().map(Vec::as_slice).collect();
    if all.contains(&b""[..]) {
        return vec![Vec::new()];
    }
    let covered = |p: &[u8]| {
        p.iter()
            .enumerate()
            .any(|(i, &c)| c == b'/' && all.contains(&p[..i]))
    };
    prefixes.iter().filter(|p| !covered(p)).cloned().collect()
}

/// libgit2's answer for `specs`: patterns, or exact paths (and everything under them) if `exact`.
fn libgit2_dirty<'a>(
    repo: &Repository,
    specs: impl IntoIterator<Item = &'a [u8]>,
    exact: bool,
) -> Result<Vec<Vec<u8>>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .disable_pathspec_match(exact);
    for s in specs {
        opts.pathspec(s);
    }
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read `git status`")?;
    Ok(statuses
        .iter()
        .filter(|s| {
            s.status() != git2::Status::CURRENT && !s.status().contains(git2::Status::IGNORED)
        })
        .map(|s| s.path_bytes().to_vec())
        .collect())
}
