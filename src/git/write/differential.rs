//! Differential tests: the hand-written writer against the `git` binary, over generated change
//! sets. Two copies of one repository take the same changes, one through `write_commit` +
//! `update_index`, the other through `git update-index` + `git commit`; after each change set the
//! commits must be the same object (so the same tree, to the byte), the indexes must list the same
//! entries (`git ls-files -s --debug`, stat data aside), `git write-tree` from our index (its
//! cache tree) must give that tree, `git status` must be clean and `git fsck --strict` too (our
//! pack included, which `git verify-pack` must read as undeltified objects).

use std::path::Path;

use git2::Repository;

use super::tests::{apply, delete, git, git_full, new_objects, packs, upsert, write, IDENT};
use super::*;

/// A small deterministic generator (xorshift64*), so a failure names the seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
        usize::try_from(v).unwrap() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Directories and file names that never collide (no name is both), chosen so that git's tree
/// order differs from plain byte order: `a.b` < `a/` < `a0` (a directory sorts as if its name
/// ended with `/`), `a-b` the directory against `a-b.yaml`, `a.b` < `a.b.c/` < `a.bc` inside `a/`.
const DIRS: [&str; 7] = [
    "",
    "a/",
    "a/a.b.c/",
    "a-b/",
    "a-b/x y/",
    "deep/er/still/",
    "a/y/",
];
const FILES: [&str; 6] = ["a.b", "a0", "a-b.yaml", "é.yaml", "z", "a.bc"];
/// Symbolic links only ever have this name (a file never becomes a link or the reverse).
const LINK: &str = "l";

/// A change set for the files now in `dir`'s work tree: new files (nested directories, some
/// executable, some links), updated contents, executable bits flipped, deletions.
fn change_set(rng: &mut Rng, dir: &Path, tracked: &[String]) -> Vec<Update> {
    let mut updates: Vec<Update> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for _ in 0..1 + rng.below(12) {
        let existing = !tracked.is_empty() && rng.below(3) > 0;
        let path = if existing {
            tracked[rng.below(tracked.len())].clone()
        } else {
            let name = if rng.below(8) == 0 {
                LINK
            } else {
                rng.pick(&FILES)
            };
            format!("{}{name}", rng.pick(&DIRS))
        };
        if !taken.insert(path.clone()) {
            continue;
        }
        let is_link = path.rsplit('/').next() == Some(LINK);
        let present = dir.join(&path).symlink_metadata().is_ok();
        let u = match rng.below(4) {
            0 if present => delete(&path),
            _ if is_link => upsert(&path, rng.pick(&FILES), SYMLINK),
            1 if present => {
                // The same content, the executable bit flipped.
                let content = std::fs::read_to_string(dir.join(&path)).unwrap();
                let exec = tracked_mode(dir, &path) == EXECUTABLE;
                upsert(&path, &content, if exec { REGULAR } else { EXECUTABLE })
            }
            n => {
                let content = format!("{path} {}\n", rng.below(1000)).repeat(1 + n);
                upsert(&path, &content, if n == 3 { EXECUTABLE } else { REGULAR })
            }
        };
        updates.push(u);
    }
    updates
}

fn tracked_mode(dir: &Path, path: &str) -> u32 {
    let line = git(dir, &["ls-files", "-s", "--", path]);
    u32::from_str_radix(line.split(' ').next().unwrap(), 8).unwrap()
}

/// `git ls-files -s --debug` without the stat data that differs between two copies (times,
/// device and inode numbers).
fn index_listing(dir: &Path) -> String {
    git(dir, &["ls-files", "-s", "--debug"])
        .lines()
        .filter(|l| {
            !["  ctime:", "  mtime:", "  dev:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One sequence of change sets from `seed`, on an index of format `version`.
fn sequence(seed: u64, version: &str) {
    let t = tempfile::tempdir().unwrap();
    let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
    std::fs::create_dir(&ours).unwrap();
    git(&ours, &["init", "-q", "-b", "main"]);
    git(&ours, &["config", "core.filemode", "true"]);
    for (path, content) in [
        ("a.b", "1\n"),
        ("a/x", "2\n"),
        ("a0", "3\n"),
        ("a-b/y", "4\n"),
    ] {
        write(&ours, path, content);
    }
    git(&ours, &["add", "-A"]);
    git(&ours, &["update-index", "--index-version", version]);
    git(&ours, &["commit", "-q", "-m", "base"]);
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(&ours)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let mut rng = Rng(seed);
    for step in 0..12 {
        let tracked: Vec<String> = git(&ours, &["ls-files"])
            .lines()
            .map(String::from)
            .collect();
        let updates = change_set(&mut rng, &ours, &tracked);
        let what = format!("seed {seed}, index v{version}, step {step}: {updates:?}");
        apply(&ours, &updates);
        apply(&theirs, &updates);

        // Ours: objects, then the index, the branch moved between the two as `git::commit` does.
        let repo = Repository::open(&ours).unwrap();
        let parent = repo.head().unwrap().peel_to_commit().unwrap().id();
        let before = packs(&ours);
        let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "step\n").expect(&what);
        let lock = update_index(&repo, &ours, &index_changes(&updates)).expect(&what);
        repo.reference("refs/heads/main", id, true, "step").unwrap();
        lock.commit().unwrap();

        // Theirs: git's own.
        let list: String = updates.iter().map(|u| format!("{}\0", u.path)).collect();
        let out = git_full(
            &theirs,
            &["update-index", "--add", "--remove", "-z", "--stdin"],
            Some(list.as_bytes()),
        );
        assert!(out.status.success(), "{what}: {out:?}");
        let out = git_full(&theirs, &["commit", "-q", "-F", "-"], Some(b"step\n"));
        assert!(out.status.success(), "{what}: {out:?}");

        let theirs_head = git(&theirs, &["rev-parse", "HEAD"]);
        assert_eq!(id.to_string(), theirs_head.trim(), "the commit: {what}");
        assert_eq!(
            index_listing(&ours),
            index_listing(&theirs),
            "the index: {what}"
        );
        let tree = git(&theirs, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(git(&ours, &["write-tree"]), tree, "the cache tree: {what}");
        assert_eq!(git(&ours, &["status", "--porcelain"]), "", "status: {what}");
        // The new pack: every object readable, none deltified (`new_objects` checks), and the
        // commit among them.
        let objects = new_objects(&ours, &before);
        assert!(
            objects
                .iter()
                .any(|(o, kind)| *o == id.to_string() && kind == "commit"),
            "{what}"
        );
        git(&ours, &["fsck", "--strict", "--no-dangling"]);
    }
    assert_eq!(
        git(&ours, &["ls-files", "-s"]),
        git(&theirs, &["ls-files", "-s"])
    );
}

#[test]
fn the_same_commits_and_index_as_git_index_v2() {
    for seed in 1..=4 {
        sequence(seed, "2");
    }
}

#[test]
fn the_same_commits_and_index_as_git_index_v4() {
    for seed in 101..=104 {
        sequence(seed, "4");
    }
}
