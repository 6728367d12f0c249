use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The implementation this module replaces: libgit2's `statuses()` with pathspecs.
fn slow_dirty(repo: &Repository, paths: &[String]) -> Result<Vec<String>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    for p in paths {
        opts.pathspec(p);
    }
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read `git status`")?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| {
            s.status() != git2::Status::CURRENT && !s.status().contains(git2::Status::IGNORED)
        })
        .filter_map(|s| s.path().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// A work tree in a temp dir, driven with the `git` binary (no user or system config).
struct T {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl T {
    /// A repository with one commit: `d/a`, `d/b`, `d/sub/c`, `dx/f`, `top`.
    pub(super) fn new() -> T {
        let t = T::unborn();
        t.write("d/a", "alpha\n");
        t.write("d/b", "bravo\n");
        t.write("d/sub/c", "charlie\n");
        t.write("dx/f", "foxtrot\n");
        t.write("top", "top\n");
        t.git(&["add", "-A"]);
        t.git(&["commit", "-q", "-m", "init"]);
        t
    }

    fn unborn() -> T {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        let t = T { _tmp: tmp, dir };
        t.git(&["init", "-q", "-b", "main"]);
        t
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn set_mtime(&self, rel: &str, t: SystemTime) {
        let f = fs::File::options()
            .write(true)
            .open(self.path(rel))
            .unwrap();
        f.set_modified(t).unwrap();
    }

    fn mtime(&self, rel: &str) -> SystemTime {
        fs::metadata(self.path(rel)).unwrap().modified().unwrap()
    }

    /// Asserts that both implementations answer `expected` for `paths`.
    #[track_caller]
    fn check(&self, paths: &[&str], expected: &[&str]) {
        let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        // A fresh handle each time: libgit2 caches the index.
        let repo = Repository::open(&self.dir).unwrap();
        let fast = dirty(&repo, &paths).unwrap();
        let repo = Repository::open(&self.dir).unwrap();
        let slow = slow_dirty(&repo, &paths).unwrap();
        assert_eq!(fast, slow, "fast vs libgit2 for {paths:?}");
        assert_eq!(fast, expected, "for {paths:?}");
    }
}

#[test]
fn every_index_format_and_the_libgit2_fallback() {
    // Versions 2-4 are read by `gitindex`, the index of a case-insensitive repository by
    // libgit2. The answers are the same. (libgit2 cannot read a split index at all.)
    let t = T::new();
    t.write("d/a", "changed\n");
    t.write("d/sub/new", "new\n");
    t.git(&["add", "d/sub/new"]);
    t.write("dx/untracked", "u\n");
    let expected = ["d/a", "d/sub/new", "dx/untracked"];
    for version in ["2", "3", "4"] {
        t.git(&["update-index", "--index-version", version]);
        t.check(&["d", "dx", "top"], &expected);
    }
    t.git(&["config", "core.ignorecase", "true"]);
    t.check(&["d", "dx", "top"], &expected);
}

#[test]
fn clean_tree() {
    let t = T::new();
    t.check(&["d"], &[]);
    t.check(&["d", "dx", "top"], &[]);
    t.check(&["d/sub/c"], &[]);
    // Clean after git has refreshed the index too.
    t.git(&["status", "--porcelain"]);
    t.check(&["d", "top"], &[]);
}

#[test]
fn modified_same_size_right_after_the_index_was_written() {
    let t = T::new();
    t.write("d/a", "ALPHA\n");
    t.check(&["d"], &["d/a"]);
    t.check(&["dx", "top"], &[]);
}

#[test]
fn racily_clean_entries_are_hashed() {
    // The file's mtime is newer than the index, and the stat data (ctime aside) still matches
    // after a same-size rewrite: only the racy check catches it.
    let t = T::new();
    t.git(&["config", "core.trustctime", "false"]);
    let future = SystemTime::now() + Duration::from_secs(3600);
    t.set_mtime("d/a", future);
    t.set_mtime("d/b", future);
    // libgit2 writes the index without smudging racily clean entries.
    let repo = Repository::open(&t.dir).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("d/a")).unwrap();
    index.add_path(Path::new("d/b")).unwrap();
    index.write().unwrap();
    t.write("d/a", "ALPHA\n");
    t.set_mtime("d/a", future);
    let e = index.get_path(Path::new("d/a"), 0).unwrap();
    assert_eq!(e.file_size, 6, "the entry is not smudged");
    t.check(&["d"], &["d/a"]);
    t.check(&["d/b"], &[]);
}

#[test]
fn a_big_directory_on_several_threads() {
    // Enough files for the `lstat`s and the hashing to be spread over threads.
    let t = T::new();
    for i in 0..600 {
        t.write(&format!("big/f{i:03}"), format!("file {i}\n"));
    }
    t.git(&["add", "-A"]);
    t.git(&["commit", "-q", "-m", "big"]);
    t.git(&["status", "--porcelain"]);
    t.check(&["big"], &[]);
    let later = t.mtime("big/f000") + Duration::from_secs(5);
    for i in 0..600 {
        t.set_mtime(&format!("big/f{i:03}"), later);
    }
    t.write("big/f007", "FILE 7\n");
    t.write("big/f500", "changed size\n");
    fs::remove_file(t.path("big/f123")).unwrap();
    t.write("big/new", "new\n");
    t.check(&["big"], &["big/f007", "big/f123", "big/f500", "big/new"]);
    t.check(&["big/f007", "big/f008"], &["big/f007"]);
}

#[test]
fn modified_different_size() {
    let t = T::new();
    t.write("d/sub/c", "charlie and more\n");
    t.check(&["d"], &["d/sub/c"]);
    t.check(&["d/sub"], &["d/sub/c"]);
    t.check(&["d/a"], &[]);
}

#[test]
fn touched_with_the_same_content_is_clean() {
    let t = T::new();
    let later = t.mtime("d/a") + Duration::from_secs(5);
    t.set_mtime("d/a", later);
    t.set_mtime("top", later);
    t.check(&["d", "top"], &[]);
    // And a rewrite with the same bytes (new ctime and mtime).
    t.write("d/b", "bravo\n");
    t.check(&["d", "top"], &[]);
}

#[test]
fn deleted_file() {
    let t = T::new();
    fs::remove_file(t.path("d/b")).unwrap();
    t.check(&["d"], &["d/b"]);
    t.check(&["d/b"], &["d/b"]);
    fs::remove_dir_all(t.path("d/sub")).unwrap();
    t.check(&["d"], &["d/b", "d/sub/c"]);
    t.check(&["d/sub"], &["d/sub/c"]);
}

#[test]
fn staged_new_file() {
    let t = T::new();
    t.write("d/new", "new\n");
    t.git(&["add", "d/new"]);
    t.check(&["d"], &["d/new"]);
    t.check(&["d/new"], &["d/new"]);
    t.check(&["dx"], &[]);
}

#[test]
fn staged_modification_reverted_in_the_work_tree() {
    let t = T::new();
    t.write("d/a", "staged\n");
    t.git(&["add", "d/a"]);
    t.write("d/a", "alpha\n");
    t.check(&["d"], &["d/a"]);
}

#[test]
fn staged_deletion() {
    let t = T::new();
    t.git(&["rm", "-q", "--cached", "d/b"]);
    // Deleted from the index, and untracked in the work tree.
    t.check(&["d"], &["d/b"]);
    t.git(&["rm", "-q", "d/a"]);
    t.check(&["d"], &["d/a", "d/b"]);
    t.check(&["d/a"], &["d/a"]);
}

#[test]
fn untracked_files() {
    let t = T::new();
    t.write("d/u", "u\n");
    t.write("d/new/deeper/x", "x\n");
    t.write("d/new/y", "y\n");
    fs::create_dir_all(t.path("d/empty/dir")).unwrap();
    t.check(&["d"], &["d/new/deeper/x", "d/new/y", "d/u"]);
    t.check(&["d/new"], &["d/new/deeper/x", "d/new/y"]);
    t.check(&["d/u"], &["d/u"]);
    t.check(&["d/empty"], &[]);
    t.check(&["dx"], &[]);
}

#[test]
fn ignored_files_are_not_dirty() {
    let t = T::new();
    t.write(".gitignore", "*.log\nbuild/\n!keep.log\n");
    t.git(&["add", ".gitignore"]);
    t.git(&["commit", "-q", "-m", "ignore"]);
    t.write("d/x.log", "log\n");
    t.write("d/keep.log", "keep\n");
    t.write("d/build/out", "out\n");
    t.write("d/new/x.log", "log\n");
    t.write("d/new/build/y", "y\n");
    t.write("d/new/z", "z\n");
    t.check(&["d"], &["d/keep.log", "d/new/z"]);
    t.check(&["d/x.log", "d/build", "d/build/out"], &[]);
    // A tracked file in an ignored directory is still tracked.
    t.write("d/build/tracked", "t\n");
    t.git(&["add", "-f", "d/build/tracked"]);
    t.check(&["d/build"], &["d/build/tracked"]);
    t.git(&["commit", "-q", "-m", "tracked"]);
    t.write("d/build/tracked", "changed\n");
    t.check(&["d/build"], &["d/build/tracked"]);
}

#[test]
fn executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let t = T::new();
    fs::set_permissions(t.path("d/a"), fs::Permissions::from_mode(0o755)).unwrap();
    t.check(&["d"], &["d/a"]);
    t.git(&["config", "core.filemode", "false"]);
    t.check(&["d"], &[]);
}

#[test]
fn a_prefix_matches_itself_and_what_is_under_it_only() {
    let t = T::new();
    t.write("dx/f", "changed\n");
    t.write("d.txt", "untracked\n");
    t.write("d-x/u", "untracked\n");
    t.check(&["d"], &[]);
    t.check(&["dx"], &["dx/f"]);
    t.check(&["d", "dx/f"], &["dx/f"]);
    t.check(&["d.txt"], &["d.txt"]);
    t.check(&["d/a", "d/b"], &[]);
    t.write("d/a", "changed a\n");
    t.check(&["d/a", "d/b"], &["d/a"]);
    t.check(&["d/b"], &[]);
    // Overlapping prefixes.
    t.check(&["d", "d/a", "d/sub", "d"], &["d/a"]);
}

#[test]
fn prefixes_that_do_not_exist() {
    let t = T::new();
    t.write("d/a", "changed a\n");
    t.check(&["nope"], &[]);
    t.check(
        &[
            "nope/deeper",
            "d/nope",
            "top/under-a-file",
            "d/a/under-a-file",
        ],
        &[],
    );
    t.check(&["nope", "d"], &["d/a"]);
}

#[test]
fn unborn_repository() {
    let t = T::unborn();
    t.write("d/a", "a\n");
    t.write("d/b", "b\n");
    t.write("e/c", "c\n");
    t.check(&["d"], &["d/a", "d/b"]);
    t.git(&["add", "d/a"]);
    t.check(&["d"], &["d/a", "d/b"]);
    t.check(&["d/a", "e"], &["d/a", "e/c"]);
}

#[test]
fn conflicts_are_dirty() {
    let t = T::new();
    t.git(&["checkout", "-q", "-b", "other"]);
    t.write("d/a", "other\n");
    t.git(&["commit", "-q", "-am", "other"]);
    t.git(&["checkout", "-q", "main"]);
    t.write("d/a", "main\n");
    t.git(&["commit", "-q", "-am", "main"]);
    let out = Command::new("git")
        .current_dir(&t.dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["merge", "-q", "other"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the merge conflicts");
    t.check(&["d"], &["d/a"]);
    t.check(&["d/a"], &["d/a"]);
    t.check(&["dx"], &[]);
}

#[test]
fn symlinks() {
    let t = T::new();
    std::os::unix::fs::symlink("a", t.path("d/link")).unwrap();
    t.check(&["d"], &["d/link"]);
    t.git(&["add", "d/link"]);
    t.git(&["commit", "-q", "-m", "link"]);
    t.check(&["d"], &[]);
    // Same length target, different target.
    fs::remove_file(t.path("d/link")).unwrap();
    std::os::unix::fs::symlink("b", t.path("d/link")).unwrap();
    t.check(&["d"], &["d/link"]);
    // A symlink where a file was.
    fs::remove_file(t.path("d/link")).unwrap();
    std::os::unix::fs::symlink("a", t.path("d/link")).unwrap();
    fs::remove_file(t.path("top")).unwrap();
    std::os::unix::fs::symlink("d/a", t.path("top")).unwrap();
    t.check(&["d", "top"], &["top"]);
}

#[test]
fn a_directory_replaced_by_a_symlink_is_not_followed() {
    let t = T::new();
    fs::rename(t.path("d/sub"), t.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", t.path("d/sub")).unwrap();
    t.check(&["d/sub"], &["d/sub", "d/sub/c"]);
    t.check(&["d/sub/c"], &["d/sub/c"]);
    t.check(&["d"], &["d/sub", "d/sub/c"]);
}

#[test]
fn a_file_replaced_by_a_directory_and_back() {
    let t = T::new();
    fs::remove_file(t.path("d/a")).unwrap();
    t.write("d/a/inside", "x\n");
    t.check(&["d"], &["d/a", "d/a/inside"]);
    t.check(&["d/a"], &["d/a", "d/a/inside"]);
    fs::remove_dir_all(t.path("d/sub")).unwrap();
    t.write("d/sub", "now a file\n");
    t.check(&["d/sub"], &["d/sub", "d/sub/c"]);
    t.check(&["d/sub/c"], &["d/sub/c"]);
}

#[test]
fn nested_repositories() {
    let t = T::new();
    // Untracked, with a file in it: libgit2 lists the directory, `d/nested/`.
    t.write("d/nested/f", "f\n");
    t.git(&["-C", "d/nested", "init", "-q"]);
    t.check(&["d"], &["d/nested/"]);
    t.check(&["d/nested"], &["d/nested/"]);
    t.check(&["d/nested/f"], &[]);
    // A submodule (a gitlink in the index).
    let sub = T::new();
    t.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        sub.dir.to_str().unwrap(),
        "e/sub",
    ]);
    t.git(&["commit", "-q", "-m", "submodule"]);
    t.check(&["e"], &[]);
    t.check(&["e/sub"], &[]);
    // Its checkout moves to another commit.
    t.write("e/sub/top", "moved\n");
    t.git(&["-C", "e/sub", "commit", "-q", "-am", "moved"]);
    t.check(&["e"], &["e/sub"]);
}

#[test]
fn autocrlf() {
    let t = T::new();
    t.git(&["config", "core.autocrlf", "true"]);
    t.write("d/crlf", "one\r\ntwo\r\n");
    t.git(&["add", "d/crlf"]);
    t.git(&["commit", "-q", "-m", "crlf"]);
    t.check(&["d"], &[]);
    // Touched: the bytes differ from the blob (LF), but not once converted.
    let later = t.mtime("d/crlf") + Duration::from_secs(5);
    t.set_mtime("d/crlf", later);
    t.check(&["d"], &[]);
    // The blob's own bytes (LF) in the work tree: another size than the index records, and
    // that is a change for libgit2 (and git).
    t.write("d/crlf", "one\ntwo\n");
    t.check(&["d"], &["d/crlf"]);
    t.write("d/crlf", "one\r\nTWO\r\n");
    t.check(&["d"], &["d/crlf"]);
}

#[test]
fn text_auto_with_crlf_both_ways() {
    let t = T::new();
    // Committed with CRLF before `.gitattributes` said `text=auto`: the blob keeps the CRs.
    t.write("d/before", "one\r\ntwo\r\n");
    t.git(&["add", "d/before"]);
    t.git(&["commit", "-q", "-m", "before"]);
    t.write(".gitattributes", "* text=auto\n");
    // Committed with CRLF after: the blob has LF.
    t.write("d/after", "three\r\nfour\r\n");
    t.git(&["add", ".gitattributes", "d/after"]);
    t.git(&["commit", "-q", "-m", "after"]);
    let blob = t.git(&["cat-file", "-p", "HEAD:d/after"]);
    assert_eq!(blob, "three\nfour\n");
    t.check(&["d"], &[]);
    for f in ["d/before", "d/after"] {
        let later = t.mtime(f) + Duration::from_secs(5);
        t.set_mtime(f, later);
    }
    t.check(&["d"], &[]);
    t.write("d/after", "three\r\nFOUR\r\n");
    t.check(&["d"], &["d/after"]);
    t.write("d/before", "one\r\nTWO\r\n");
    t.check(&["d"], &["d/after", "d/before"]);
}

#[test]
fn forced_text_over_a_crlf_blob_is_libgit2s_call() {
    // A blob with CRLF under `text`: git would store LF now, so libgit2 calls the file modified
    // once its stat data no longer vouches for it, although its bytes are the blob's.
    let t = T::new();
    t.write("d/crlf", "one\r\ntwo\r\n");
    // Older than the index, so git does not find it racily clean and smudge its entry.
    let earlier = t.mtime("d/crlf") - Duration::from_secs(5);
    t.set_mtime("d/crlf", earlier);
    t.git(&["add", "d/crlf"]);
    t.git(&["commit", "-q", "-m", "crlf"]);
    t.write(".gitattributes", "* text\n");
    t.git(&["add", ".gitattributes"]);
    t.git(&["commit", "-q", "-m", "text"]);
    t.check(&["d"], &[]);
    let later = t.mtime("d/crlf") + Duration::from_secs(5);
    t.set_mtime("d/crlf", later);
    t.check(&["d"], &["d/crlf"]);
}

#[test]
fn the_whole_repository() {
    let t = T::new();
    t.write("d/a", "changed\n");
    t.write("new", "new\n");
    let repo = Repository::open(&t.dir).unwrap();
    let all = slow_dirty(&repo, &[]).unwrap();
    assert_eq!(all, ["d/a", "new"]);
    // libgit2 reads `.` as a pattern matching nothing; it is the whole repository here.
    t.check(&[""], &["d/a", "new"]);
    let fast = dirty(&repo, &[".".to_string()]).unwrap();
    assert_eq!(fast, all);
    // No paths: nothing (libgit2 would answer for the whole repository).
    assert_eq!(dirty(&repo, &[]).unwrap(), Vec::<String>::new());
}

#[test]
fn patterns_and_odd_paths_keep_libgit2s_reading() {
    let t = T::new();
    t.write("d/a", "changed\n");
    t.write("dx/f", "changed\n");
    t.check(&["d*"], &["d/a", "dx/f"]);
    t.check(&["d/?"], &["d/a"]);
    t.check(&["d/", "top"], &["d/a"]);
    t.check(&["./d"], &[]);
}

#[test]
fn prefix_of_reads_plain_paths_only() {
    assert_eq!(prefix_of("."), Some(vec![]));
    assert_eq!(prefix_of("a/b c"), Some(b"a/b c".to_vec()));
    for p in [
        "a*", "a/?", "[a]", "a\\b", "!a", "#a", "a/", "/a", "a//b", "./a", "a/../b", "a\tb",
    ] {
        assert_eq!(prefix_of(p), None, "{p}");
    }
    let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(
        outermost(v(&["d/a", "d", "dx/f", "d-x", "d/a", "d/sub/c"])),
        v(&["d", "d-x", "dx/f"])
    );
    assert_eq!(outermost(v(&["d", ""])), v(&[""]));
}
