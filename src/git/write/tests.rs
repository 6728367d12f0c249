//! The writer against the `git` binary: the ids, the pack, the index git would write.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use std::collections::HashSet;
use std::fs::File;

use git2::IndexEntry;

use super::index::put_varint;
use super::*;
use crate::git::index;

pub(super) const IDENT: &str = "Pro Mote <promote@example.com> 1700000000 +0100";

pub(super) fn git_full(dir: &Path, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Pro Mote")
        .env("GIT_AUTHOR_EMAIL", "promote@example.com")
        .env("GIT_AUTHOR_DATE", "1700000000 +0100")
        .env("GIT_COMMITTER_NAME", "Pro Mote")
        .env("GIT_COMMITTER_EMAIL", "promote@example.com")
        .env("GIT_COMMITTER_DATE", "1700000000 +0100")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_full(dir, args, None);
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

pub(super) fn write(dir: &Path, path: &str, content: &str) {
    let full = dir.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, content).unwrap();
}

#[cfg(unix)]
fn chmod(dir: &Path, path: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join(path), fs::Permissions::from_mode(mode)).unwrap();
}

pub(super) fn upsert(path: &str, content: &str, mode: u32) -> Update {
    Update {
        path: path.into(),
        content: Some(content.as_bytes().to_vec()),
        mode,
    }
}

pub(super) fn delete(path: &str) -> Update {
    Update {
        path: path.into(),
        content: None,
        mode: 0,
    }
}

/// Applies `updates` to the work tree, as the caller would have.
pub(super) fn apply(dir: &Path, updates: &[Update]) {
    for u in updates {
        let full = dir.join(&u.path);
        match &u.content {
            Some(c) if u.mode == SYMLINK => {
                let _ = fs::remove_file(&full);
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(std::str::from_utf8(c).unwrap(), &full).unwrap();
            }
            Some(c) => {
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                fs::write(&full, c).unwrap();
                chmod(
                    dir,
                    &u.path,
                    if u.mode == EXECUTABLE { 0o755 } else { 0o644 },
                );
            }
            None => {
                fs::remove_file(&full).unwrap();
                // Empty directories go, as git removes them.
                let mut parent = full.parent();
                while let Some(p) = parent.filter(|p| *p != dir) {
                    if fs::remove_dir(p).is_err() {
                        break;
                    }
                    parent = p.parent();
                }
            }
        }
    }
}

pub(super) fn packs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .map(|p| (p.display().to_string(), fs::read(p).unwrap()))
        .collect()
}

/// The objects of the packs that appeared since `before`: `(id, type)` from `verify-pack -v`.
pub(super) fn new_objects(dir: &Path, before: &BTreeMap<String, Vec<u8>>) -> Vec<(String, String)> {
    let mut objects = Vec::new();
    for idx in packs(dir).keys().filter(|k| !before.contains_key(*k)) {
        let out = git(dir, &["verify-pack", "-v", idx]);
        for line in out.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 && f[0].len() == 40 {
                // Undeltified: id, type, size, packed size, offset, and nothing more.
                assert_eq!(f.len(), 5, "{line}");
                objects.push((f[0].to_string(), f[1].to_string()));
            }
        }
    }
    objects.sort();
    objects
}

/// A repository with one commit: nested directories, names whose order depends on the
/// trailing-slash rule (`a-b`, `a.b`, `a/`, `a0`), an executable, a symlink, a directory
/// left untouched.
fn repo() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    git(d, &["init", "-q", "-b", "main"]);
    for (path, content) in [
        ("a-b", "1\n"),
        ("a.b", "2\n"),
        ("a/x.yaml", "3\n"),
        ("a0", "4\n"),
        ("mod.yaml", "old\n"),
        ("keep/one.yaml", "k1\n"),
        ("keep/deep/two.yaml", "k2\n"),
        ("gone/only.yaml", "g\n"),
        ("half/stays.yaml", "s\n"),
        ("half/goes.yaml", "h\n"),
        ("run.sh", "#!/bin/sh\necho hi\n"),
        ("env/dev/app.yaml", "image: v1\n"),
        ("env/staging/app.yaml", "image: v0\n"),
    ] {
        write(d, path, content);
    }
    std::os::unix::fs::symlink("mod.yaml", d.join("link")).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "one"]);
    t
}

fn the_change() -> Vec<Update> {
    vec![
        upsert("mod.yaml", "new\n", REGULAR),
        upsert("run.sh", "#!/bin/sh\necho hi\n", EXECUTABLE),
        upsert("new/nested/dir/c.yaml", "c\n", REGULAR),
        upsert("new/top.yaml", "t\n", REGULAR),
        upsert("a/y.yaml", "5\n", REGULAR),
        upsert("a.c", "6\n", REGULAR),
        upsert("env/staging/app.yaml", "image: v1\n", REGULAR),
        upsert("env/prod/app.yaml", "image: v1\n", REGULAR),
        upsert("link2", "a/x.yaml", SYMLINK),
        delete("gone/only.yaml"),
        delete("half/goes.yaml"),
        delete("link"),
    ]
}

fn head(repo: &Repository) -> Oid {
    repo.head().unwrap().peel_to_commit().unwrap().id()
}

#[test]
fn commit_has_the_ids_git_computes() {
    let t = repo();
    let d = t.path();
    let repo = Repository::open(d).unwrap();
    let parent = head(&repo);
    let updates = the_change();
    apply(d, &updates);
    let before = packs(d);
    let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "Promote\n\nbody\n\n").unwrap();

    // libgit2 reads it through the same handle.
    let commit = repo.find_commit(id).unwrap();
    assert_eq!(commit.parent_id(0).unwrap(), parent);
    assert_eq!(commit.message_raw(), Some("Promote\n\nbody\n"));
    let tree = commit.tree().unwrap();
    let entry = tree.get_path(Path::new("new/nested/dir/c.yaml")).unwrap();
    let blob = repo.find_blob(entry.id()).unwrap();
    assert_eq!(blob.content(), b"c\n");

    // The same ids as git's, for the same work tree.
    git(d, &["add", "-A"]);
    let expected = git(d, &["write-tree"]);
    assert_eq!(tree.id().to_string(), expected.trim());
    // And the commit git would write.
    let theirs = git_full(
        d,
        &["commit-tree", expected.trim(), "-p", &parent.to_string()],
        Some(b"Promote\n\nbody\n"),
    );
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout).trim(),
        id.to_string()
    );

    git(d, &["update-ref", "refs/heads/fast", &id.to_string()]);
    let fsck = git_full(d, &["fsck", "--strict", "--no-dangling"], None);
    assert!(fsck.status.success(), "{fsck:?}");
    assert!(fsck.stderr.is_empty(), "{fsck:?}");
    assert!(fsck.stdout.is_empty(), "{fsck:?}");

    // One pack, holding the objects on the changed paths, each once: the commit; the trees of
    // the root, `a`, `half`, `env`, `env/staging` (the same tree as `env/prod` now), `new`,
    // `new/nested`, `new/nested/dir`; the blobs `new\n`, `c\n`, `t\n`, `5\n`, `6\n`, the
    // link's target, `run.sh`'s and `image: v1\n` (those two exist already: blobs and trees
    // are not looked up, see `NewObjects::add`).
    let objects = new_objects(d, &before);
    assert_eq!(packs(d).len(), before.len() + 1);
    let count = |kind: &str| objects.iter().filter(|(_, k)| k == kind).count();
    assert_eq!((count("commit"), count("tree"), count("blob")), (1, 8, 8));

    let listing = git(d, &["cat-file", "-p", &format!("{id}^{{tree}}")]);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "a-b", "a.b", "a.c", "a", "a0", "env", "half", "keep", "link2", "mod.yaml", "new",
            "run.sh"
        ]
    );
    assert!(listing.contains("100755 blob"), "{listing}");
    assert!(listing.contains("120000 blob"), "{listing}");
    // Untouched subtrees keep their ids.
    let keep = |rev: &str| git(d, &["rev-parse", &format!("{rev}:keep")]);
    assert_eq!(keep("main"), keep("fast"));
}

#[test]
fn an_existing_commit_is_not_written_again() {
    let t = repo();
    let d = t.path();
    // Change mod.yaml with git, then restore its first content with write_commit.
    write(d, "mod.yaml", "second\n");
    git(d, &["commit", "-q", "-am", "two"]);
    let repo = Repository::open(d).unwrap();
    let before = packs(d);
    let updates = [upsert("mod.yaml", "old\n", REGULAR)];
    let id = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "back").unwrap();
    let objects = new_objects(d, &before);
    // The blob and root tree exist already (the first commit's) and are written again, with
    // the commit: blobs and trees are not looked up (see `NewObjects::add`).
    let kinds: Vec<&str> = objects.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "commit").count(), 1);
    assert!(objects.contains(&(id.to_string(), "commit".to_string())));
    assert_eq!(git(d, &["fsck", "--strict", "--no-dangling"]), "");
    let first = git(d, &["rev-parse", "HEAD~1^{tree}"]);
    assert_eq!(
        repo.find_commit(id).unwrap().tree_id().to_string(),
        first.trim()
    );

    // The same commit again: nothing at all to write, no new pack.
    let before = packs(d);
    let again = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "back").unwrap();
    assert_eq!(again, id);
    assert_eq!(packs(d), before);
}

#[test]
fn conflicting_or_invalid_updates_are_refused() {
    let t = repo();
    let d = t.path();
    let repo = Repository::open(d).unwrap();
    let parent = head(&repo);
    let refuse =
        |updates: &[Update]| write_commit(&repo, parent, updates, IDENT, IDENT, "x").unwrap_err();
    // A file under a file, a file over a directory, twice the same path, bad paths.
    refuse(&[upsert("mod.yaml/x", "1", REGULAR)]);
    refuse(&[upsert("keep", "1", REGULAR)]);
    refuse(&[delete("keep")]);
    refuse(&[upsert("x", "1", REGULAR), upsert("x", "2", REGULAR)]);
    for bad in [
        "",
        "/x",
        "x/",
        "a//b",
        "../x",
        "a/./b",
        ".git/config",
        "x/.GIT/y",
    ] {
        refuse(&[upsert(bad, "1", REGULAR)]);
    }
    let ok = write_commit(&repo, parent, &[], IDENT, IDENT, "x");
    assert!(ok.is_ok());
    assert!(write_commit(&repo, parent, &[], "nobody", IDENT, "x").is_err());
    assert!(write_commit(&repo, parent, &[], IDENT, IDENT, "\n\n").is_err());
    // With the deletions that make room, a file may replace a directory and the reverse.
    let updates = [
        delete("keep/one.yaml"),
        delete("keep/deep/two.yaml"),
        upsert("keep", "now a file\n", REGULAR),
        delete("mod.yaml"),
        upsert("mod.yaml/x", "now a dir\n", REGULAR),
    ];
    let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "swap").unwrap();
    apply(d, &updates[..2]);
    apply(d, &updates[3..4]);
    apply(d, &updates[2..3]);
    apply(d, &updates[4..]);
    git(d, &["add", "-A"]);
    let expected = git(d, &["write-tree"]);
    assert_eq!(
        repo.find_commit(id).unwrap().tree_id().to_string(),
        expected.trim()
    );
}

/// The cache tree's nodes: path -> valid.
fn cache_tree(index: &[u8]) -> BTreeMap<String, bool> {
    let parsed = index::parse_full(index).unwrap();
    let ext = parsed.extensions;
    let mut at = 0;
    let mut nodes = BTreeMap::new();
    while at < ext.len() {
        let size = index::be32(ext, at + 4).unwrap() as usize;
        if &ext[at..at + 4] == b"TREE" {
            let data = &ext[at + 8..at + 8 + size];
            let mut i = 0;
            let mut stack: Vec<(String, usize)> = Vec::new();
            while i < data.len() {
                let nul = i + data[i..].iter().position(|&c| c == 0).unwrap();
                let name = String::from_utf8(data[i..nul].to_vec()).unwrap();
                let nl = nul + data[nul..].iter().position(|&c| c == b'\n').unwrap();
                let line = std::str::from_utf8(&data[nul + 1..nl]).unwrap();
                let (count, subtrees) = line.split_once(' ').unwrap();
                let count: i64 = count.parse().unwrap();
                i = nl + 1 + if count >= 0 { 20 } else { 0 };
                while stack.last().is_some_and(|(_, left)| *left == 0) {
                    stack.pop();
                }
                let path = match stack.last_mut() {
                    Some((parent, left)) => {
                        *left -= 1;
                        if parent.is_empty() {
                            name
                        } else {
                            format!("{parent}/{name}")
                        }
                    }
                    None => name,
                };
                nodes.insert(path.clone(), count >= 0);
                stack.push((path, subtrees.parse().unwrap()));
            }
        }
        at += 8 + size;
    }
    nodes
}

// long: one scenario read top to bottom (set up, write, compare with what git writes from the
// same state, entry by entry and extension by extension); split, the comparisons would be far
// from the state they compare.
fn index_with_version(version: &str, intent_to_add: bool) {
    let t = repo();
    let d = t.path();
    git(d, &["update-index", "--index-version", version]);
    git(d, &["config", "core.untrackedCache", "true"]);
    // A valid cache tree everywhere, an untracked cache, and nothing racy.
    git(d, &["status", "--porcelain"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    git(d, &["update-index", "--refresh"]);
    if intent_to_add {
        write(d, "ita.yaml", "i\n");
        git(d, &["add", "-N", "ita.yaml"]);
    }
    let index = d.join(".git/index");
    let old = fs::read(&index).unwrap();
    assert!(old.windows(4).any(|w| w == b"UNTR"));
    let old_tree = cache_tree(&old);
    assert_eq!(old_tree.get("keep/deep"), Some(&true), "{old_tree:?}");
    assert_eq!(old_tree.get("half"), Some(&true), "{old_tree:?}");
    let old_entries = index::read(&index).unwrap();

    let repo = Repository::open(d).unwrap();
    let updates = the_change();
    apply(d, &updates);
    // An mtime unlike the ctime, so that swapping them shows.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(d.join("mod.yaml"))
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(hour_ago))
        .unwrap();
    let id = write_commit(&repo, head(&repo), &updates, IDENT, IDENT, "Promote").unwrap();
    let lock = update_index(&repo, d, &index_changes(&updates)).unwrap();
    assert_eq!(fs::read(&index).unwrap(), old, "untouched until commit");
    git(d, &["update-ref", "HEAD", &id.to_string()]);
    lock.commit().unwrap();
    assert!(!d.join(".git/index.lock").exists());

    // Everything about our index first: `git status` and `git write-tree` rewrite it.
    let new = fs::read(&index).unwrap();
    let ours = index::read(&index).unwrap();
    let debug = git(d, &["ls-files", "-s", "--debug"]);
    assert_eq!(fs::read(&index).unwrap(), new);
    let expected_version: u32 = version.parse().unwrap();
    let expected_version = if intent_to_add && expected_version == 2 {
        3
    } else {
        expected_version
    };
    assert_eq!(index::be32(&new, 4), Some(expected_version));
    assert!(!new.windows(4).any(|w| w == b"UNTR"), "UNTR is dropped");
    // Our own dirty check agrees that the work tree is clean.
    assert_eq!(
        crate::git::status::dirty(&repo, &["".to_string()]).unwrap(),
        if intent_to_add {
            vec!["ita.yaml".to_string()]
        } else {
            vec![]
        }
    );

    // Fresh stat data on the changed paths, the very data git records; untouched entries kept.
    let other = d.join(".git/other-index");
    let with_other = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(d)
            .env("GIT_INDEX_FILE", &other)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    with_other(&["read-tree", "HEAD"]);
    let paths: Vec<&str> = updates.iter().map(|u| u.path.as_str()).collect();
    let mut args = vec!["update-index", "--add", "--remove", "--"];
    args.extend(&paths);
    with_other(&args);
    let theirs = index::read(&other).unwrap();
    for u in &updates {
        let find = |list: &[IndexEntry]| {
            list.iter().find(|e| e.path == u.path.as_bytes()).map(|e| {
                (
                    e.id,
                    e.mode,
                    e.file_size,
                    e.ino,
                    e.dev,
                    e.uid,
                    e.gid,
                    (e.mtime.seconds(), e.mtime.nanoseconds()),
                    (e.ctime.seconds(), e.ctime.nanoseconds()),
                    e.flags,
                    e.flags_extended,
                )
            })
        };
        assert_eq!(find(&ours), find(&theirs), "{}", u.path);
        assert_eq!(find(&ours).is_some(), u.content.is_some(), "{}", u.path);
        if let Some(e) = find(&ours) {
            assert!(e.3 != 0 && e.7 .0 != 0 && e.8 .0 != 0, "{}: {e:?}", u.path);
            let shown = format!(
                "\t{}\n  ctime: {}:{}\n  mtime: {}:{}\n",
                u.path, e.8 .0, e.8 .1, e.7 .0, e.7 .1
            );
            assert!(debug.contains(&shown), "{shown} in {debug}");
        }
    }
    let changed: HashSet<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
    let kept: Vec<_> = old_entries
        .iter()
        .filter(|e| !changed.contains(e.path.as_slice()))
        .collect();
    let still: Vec<_> = ours
        .iter()
        .filter(|e| !changed.contains(e.path.as_slice()))
        .collect();
    assert_eq!(kept.len(), still.len());
    for (a, b) in kept.iter().zip(&still) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    // The cache tree: still valid where nothing changed, invalid along the changed paths,
    // and right: write-tree trusts its valid nodes.
    let tree = cache_tree(&new);
    assert_eq!(tree.get("keep"), Some(&true), "{tree:?}");
    assert_eq!(tree.get("keep/deep"), Some(&true), "{tree:?}");
    for invalid in ["", "a", "env", "env/staging", "half", "gone"] {
        assert_eq!(tree.get(invalid), Some(&false), "{invalid}: {tree:?}");
    }
    let head_tree = git(d, &["rev-parse", "HEAD^{tree}"]);
    assert_eq!(git(d, &["write-tree"]), head_tree);

    let ita = if intent_to_add { " A ita.yaml\n" } else { "" };
    assert_eq!(git(d, &["status", "--porcelain"]), ita);
    let ita = if intent_to_add {
        format!(
            ":000000 100644 {z} {empty} A\tita.yaml\n",
            z = "0".repeat(40),
            empty = blob_id(b"")
        )
    } else {
        String::new()
    };
    assert_eq!(git(d, &["diff-index", "--cached", "HEAD"]), ita);
}

#[test]
fn index_version_2() {
    index_with_version("2", false);
}

#[test]
fn index_version_3_with_an_intent_to_add_entry() {
    index_with_version("2", true);
}

#[test]
fn index_version_4() {
    index_with_version("4", false);
}

#[test]
fn an_existing_lock_is_respected() {
    let t = repo();
    let d = t.path();
    let repo = Repository::open(d).unwrap();
    let index = d.join(".git/index");
    let lock_path = d.join(".git/index.lock");
    let old = fs::read(&index).unwrap();
    fs::write(&lock_path, "someone else's").unwrap();
    let updates = [upsert("mod.yaml", "new\n", REGULAR)];
    apply(d, &updates);
    let wait = std::time::Duration::from_millis(200);
    let started = std::time::Instant::now();
    let err = update_index_within(&repo, d, &index_changes(&updates), wait).unwrap_err();
    assert!(started.elapsed() >= wait, "gave up before the wait");
    let text = format!("{err:#}");
    assert!(text.contains(&lock_path.display().to_string()), "{text}");
    assert!(text.contains("no process has it open"), "{text}");
    assert_eq!(fs::read(&index).unwrap(), old);
    assert_eq!(fs::read(&lock_path).unwrap(), b"someone else's");

    fs::remove_file(&lock_path).unwrap();
    let lock = update_index(&repo, d, &index_changes(&updates)).unwrap();
    assert!(lock_path.exists());
    assert_eq!(lock.path(), lock_path);
    lock.rollback();
    assert!(!lock_path.exists());
    assert_eq!(fs::read(&index).unwrap(), old);
    // Dropped without a commit: the same.
    drop(update_index(&repo, d, &index_changes(&updates)).unwrap());
    assert!(!lock_path.exists());
    assert_eq!(fs::read(&index).unwrap(), old);
}

#[test]
fn a_lock_released_within_the_wait_is_waited_for() {
    let t = repo();
    let d = t.path();
    let repo = Repository::open(d).unwrap();
    let lock_path = d.join(".git/index.lock");
    fs::write(&lock_path, "someone else's").unwrap();
    let updates = [upsert("mod.yaml", "new\n", REGULAR)];
    apply(d, &updates);
    let release = {
        let lock_path = lock_path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            fs::remove_file(lock_path).unwrap();
        })
    };
    let wait = std::time::Duration::from_secs(20);
    let lock = update_index_within(&repo, d, &index_changes(&updates), wait).unwrap();
    release.join().unwrap();
    lock.commit().unwrap();
    let entries = index::read(&d.join(".git/index")).unwrap();
    let e = entries.iter().find(|e| e.path == b"mod.yaml").unwrap();
    assert_eq!(e.id, blob_id(b"new\n"));
}

#[test]
fn indexes_git_should_write_are_refused() {
    let t = repo();
    let d = t.path();
    let repo = Repository::open(d).unwrap();
    let index = d.join(".git/index");
    let updates = [upsert("mod.yaml", "new\n", REGULAR)];
    apply(d, &updates);
    git(d, &["update-index", "--split-index"]);
    let old = fs::read(&index).unwrap();
    let err = update_index(&repo, d, &index_changes(&updates)).unwrap_err();
    assert!(err.downcast_ref::<Unsupported>().is_some(), "{err:#}");
    assert_eq!(fs::read(&index).unwrap(), old);
    assert!(!d.join(".git/index.lock").exists());
    git(d, &["update-index", "--no-split-index"]);

    // A conflicted path.
    let blob = blob_id(b"x\n").to_string();
    git_full(
        d,
        &["update-index", "--index-info"],
        Some(format!("100644 {blob} 1\tmod.yaml\n100644 {blob} 2\tmod.yaml\n").as_bytes()),
    );
    let err = update_index(&repo, d, &index_changes(&updates)).unwrap_err();
    assert!(err.downcast_ref::<Unsupported>().is_some(), "{err:#}");
    assert!(!d.join(".git/index.lock").exists());
}

/// A racily clean entry (not older than the index) whose file changed without changing the
/// stat data git compares is smudged, as git does; an unchanged one is left alone.
#[test]
fn racily_clean_entries_are_smudged_when_modified() {
    for version in ["2", "4"] {
        racy_case(version);
    }
}

fn racy_case(version: &str) {
    use std::time::{Duration, SystemTime};
    let t = repo();
    let d = t.path();
    git(d, &["config", "core.trustctime", "false"]);
    git(d, &["update-index", "--index-version", version]);
    let when = SystemTime::now() - Duration::from_secs(100);
    let set = |path: &Path, t: SystemTime| {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_times(fs::FileTimes::new().set_modified(t))
            .unwrap();
    };
    for f in ["mod.yaml", "a0"] {
        set(&d.join(f), when);
    }
    git(d, &["update-index", "--refresh"]);
    // The index as old as the files: their entries are racy.
    set(&d.join(".git/index"), when);
    fs::write(d.join("mod.yaml"), "OLD\n").unwrap();
    set(&d.join("mod.yaml"), when);
    // Before: git sees the change, checking the racy entry's content.
    assert_eq!(
        git_full(d, &["diff-files", "--quiet"], None).status.code(),
        Some(1)
    );
    let before = index::read(&d.join(".git/index")).unwrap();

    let repo = Repository::open(d).unwrap();
    let updates = [upsert("a-b", "changed\n", REGULAR)];
    apply(d, &updates);
    update_index(&repo, d, &index_changes(&updates))
        .unwrap()
        .commit()
        .unwrap();
    let entries = index::read(&d.join(".git/index")).unwrap();
    let size = |p: &str| {
        entries
            .iter()
            .find(|e| e.path == p.as_bytes())
            .unwrap()
            .file_size
    };
    assert_eq!(size("mod.yaml"), 0, "smudged");
    assert_eq!(size("a0"), 2, "unchanged, so not smudged");
    // Everything else as it was.
    assert_eq!(entries.len(), before.len());
    for (a, b) in before.iter().zip(&entries) {
        if a.path != b"a-b" && a.path != b"mod.yaml" {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
    }
    // After: git still sees it, though the index is newer than the file now.
    let status = git(d, &["status", "--porcelain"]);
    assert_eq!(status, "M  a-b\n M mod.yaml\n", "version {version}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The 1,000 changed files of `promote dev -> staging` on bench/gen.py's 1,000-service legacy
/// repository (24,000 files, 8,000 in the directory that changes), generated in `dir/template`.
fn bench_change(dir: &Path) -> (std::path::PathBuf, Vec<Update>) {
    let template = dir.join("template");
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
    let out = Command::new("python3")
        .arg(&gen)
        .arg(&template)
        .args(["--services", "1000", "--layout", "legacy"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<String> = fs::read_dir(template.join("staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-deployment.yaml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 1000);
    let updates = names
        .iter()
        .map(|n| {
            let path = format!("staging/{n}");
            let old = fs::read_to_string(template.join(&path)).unwrap();
            let version = old
                .split("app.kubernetes.io/version: \"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let new = old.replace(version, "abcdef0");
            assert_ne!(new, old);
            upsert(&path, &new, REGULAR)
        })
        .collect();
    (template, updates)
}

/// The objects of the commit through git2's primitives: blobs and the commit written through
/// the object database, the trees by `TreeUpdateBuilder`; with `pack`, into a mempack backend
/// dumped as one pack (`Mempack::dump`, libgit2's packbuilder) through `Odb::packwriter` (its
/// indexer writes the `.idx`), else as loose objects.
fn git2_commit(repo: &Repository, parent: Oid, updates: &[Update], pack: bool) -> Oid {
    let odb = repo.odb().unwrap();
    let mempack = pack.then(|| odb.add_new_mempack_backend(1000).unwrap());
    let mut builder = git2::build::TreeUpdateBuilder::new();
    for u in updates {
        match &u.content {
            Some(c) => {
                let id = odb.write(git2::ObjectType::Blob, c).unwrap();
                let mode = match u.mode {
                    EXECUTABLE => git2::FileMode::BlobExecutable,
                    SYMLINK => git2::FileMode::Link,
                    _ => git2::FileMode::Blob,
                };
                builder.upsert(&u.path, id, mode);
            }
            None => {
                builder.remove(&u.path);
            }
        }
    }
    let base = repo.find_commit(parent).unwrap().tree().unwrap();
    let tree = builder.create_updated(repo, &base).unwrap();
    let commit =
        format!("tree {tree}\nparent {parent}\nauthor {IDENT}\ncommitter {IDENT}\n\nPromote\n");
    let id = odb
        .write(git2::ObjectType::Commit, commit.as_bytes())
        .unwrap();
    if let Some(mempack) = mempack {
        let mut buf = git2::Buf::new();
        mempack.dump(repo, &mut buf).unwrap();
        let mut writer = odb.packwriter().unwrap();
        writer.write_all(&buf).unwrap();
        writer.commit().unwrap();
        mempack.reset().unwrap();
    }
    id
}

/// The index through git2's `Index`: read, the changed entries added with the work tree's stat
/// data, written (libgit2 takes `index.lock` and renames it at once).
fn git2_index(repo: &Repository, workdir: &Path, updates: &[Update]) {
    let mut index = repo.index().unwrap();
    for (path, change) in index_changes(updates) {
        match change {
            Some((id, mode)) => index
                .add(&super::index::fresh_entry(workdir, &path, id, mode).unwrap())
                .unwrap(),
            None => index.remove_path(Path::new(&path)).unwrap(),
        }
    }
    index.write().unwrap();
}

/// Each hand-written piece against git2's primitive for it, and the whole against
/// `git update-index` + `git commit`, for the 1,000 changed files of `bench_change`: median of 7
/// runs, the variants alternating run by run, each on a fresh copy of the repository with the
/// change in its work tree. Every variant must make the commit git makes, and leave `git status`
/// clean. Release mode (bench/results.md quotes it):
/// `cargo test --release --lib git::write::tests::bench -- --ignored --nocapture`.
#[cfg(test)] // prints its table: test code (tests/architecture.rs)
#[test]
#[ignore]
fn bench_against_git2_and_git() {
    // As `git::Repo::discover` sets it.
    git2::opts::strict_hash_verification(false);
    let t = tempfile::tempdir().unwrap();
    let (template, updates) = bench_change(t.path());
    let paths: String = updates.iter().map(|u| format!("{}\0", u.path)).collect();
    // A copy of the repository with the change in its work tree, its index fresh.
    let copy = |name: &str| {
        let dir = t.path().join(name);
        let out = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        git(&dir, &["update-index", "-q", "--refresh"]);
        apply(&dir, &updates);
        // Nothing measured waits for the copy's writeback.
        assert!(Command::new("sync").status().unwrap().success());
        dir
    };
    let ms = |start: std::time::Instant| start.elapsed().as_secs_f64() * 1000.0;
    // (objects, index) times per variant.
    const VARIANTS: [&str; 4] = [
        "hand-written: trees, pack, index",
        "git2: TreeUpdateBuilder, mempack + packwriter, Index",
        "git2: TreeUpdateBuilder, loose objects, Index",
        "git binary: update-index + commit",
    ];
    let mut times = vec![(Vec::new(), Vec::new()); VARIANTS.len()];
    let mut expected = None;
    for round in 0..7 {
        for (v, _) in VARIANTS.iter().enumerate() {
            let d = copy(&format!("v{v}r{round}"));
            let repo = Repository::open(&d).unwrap();
            let head = repo.head().unwrap();
            let branch = head.name().unwrap().to_string();
            let parent = head.peel_to_commit().unwrap().id();
            let start = std::time::Instant::now();
            let (id, objects) = match v {
                0 => {
                    let id = write_commit(&repo, parent, &updates, IDENT, IDENT, "Promote\n");
                    (id.unwrap(), ms(start))
                }
                1 | 2 => (git2_commit(&repo, parent, &updates, v == 1), ms(start)),
                _ => {
                    let run = |args: &[&str], input: &[u8]| {
                        let out = git_full(&d, args, Some(input));
                        assert!(out.status.success(), "{out:?}");
                    };
                    run(
                        &["update-index", "--add", "--remove", "-z", "--stdin"],
                        paths.as_bytes(),
                    );
                    run(&["commit", "-q", "-F", "-"], b"Promote\n");
                    let id = Repository::open(&d).unwrap().head().unwrap().target();
                    (id.unwrap(), ms(start))
                }
            };
            let start = std::time::Instant::now();
            match v {
                0 => {
                    let lock = update_index(&repo, &d, &index_changes(&updates)).unwrap();
                    lock.commit().unwrap();
                }
                1 | 2 => git2_index(&repo, &d, &updates),
                _ => {}
            }
            times[v].0.push(objects);
            times[v].1.push(ms(start));
            if v < 3 {
                repo.reference_matching(&branch, id, true, parent, "commit: Promote")
                    .unwrap();
            }
            // The same commit, to the byte, and a clean status.
            assert_eq!(*expected.get_or_insert(id), id, "{}", VARIANTS[v]);
            assert_eq!(git(&d, &["status", "--porcelain"]), "", "{}", VARIANTS[v]);
            git(&d, &["fsck", "--strict", "--no-dangling"]);
            let _ = fs::remove_dir_all(&d);
        }
        eprint!(".");
    }
    eprintln!();
    eprintln!("| variant | objects (median, fastest) | index (median, fastest) | total (median) |");
    eprintln!("|---|---:|---:|---:|");
    for (v, (objects, index)) in times.iter().enumerate() {
        let total: Vec<f64> = objects.iter().zip(index).map(|(a, b)| a + b).collect();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        eprintln!(
            "| {} | {:.1} ms, {:.1} ms | {:.1} ms, {:.1} ms | {:.1} ms |",
            VARIANTS[v],
            median(objects.clone()),
            min(objects),
            median(index.clone()),
            min(index),
            median(total),
        );
    }
}

#[test]
fn varint_round_trip() {
    for v in [0u64, 1, 127, 128, 129, 255, 16_511, 16_512, 1 << 40] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        let mut value = u64::from(out[0] & 0x7f);
        for &b in &out[1..] {
            value = ((value + 1) << 7) | u64::from(b & 0x7f);
        }
        assert_eq!(value, v, "{out:?}");
        assert!(out[..out.len() - 1].iter().all(|b| b & 0x80 != 0));
        assert_eq!(out.last().unwrap() & 0x80, 0);
    }
}
