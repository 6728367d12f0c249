//! Every commit is the one `git add` + `git commit` would make, on every kind of repository git
//! supports: a matrix of setups, each exercised with `set-image`, `to`, `rollback`, `preview up`
//! and `preview down`, on both backends (the default, and `PROMOTE_GIT=cli`). After each change:
//! the commit's tree is the tree `git add` makes from the same work tree (in a scratch index),
//! `git fsck --strict` and `git status` are clean; after all of them a plain `git commit` and
//! `git gc` work; and both backends committed the same trees.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{copy_tree, crate_dir, executable, hermetic, Repo, Run};

/// A repository set up one way: where promote runs, and the environment it and git run with.
struct Setup {
    repo: Repo,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Setup {
    fn run(&self, program: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir).args(args);
        hermetic(&mut cmd, &self.repo.base);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("spawn");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_with(args, &[])
    }

    fn git_with(&self, args: &[&str], extra: &[(&str, &str)]) -> String {
        let r = self.run("git", args, extra);
        assert_eq!(r.code, 0, "git {args:?}\n{}\n{}", r.stdout, r.stderr);
        r.stdout
    }

    fn promote(&self, args: &[&str], backend: &str) -> Run {
        self.run(
            env!("CARGO_BIN_EXE_promote"),
            args,
            &[("PROMOTE_GIT", backend)],
        )
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// The bundled example, committed in `work/` (with `origin.git` beside it).
fn example() -> Setup {
    let repo = Repo::example();
    let dir = repo.path.clone();
    Setup {
        repo,
        dir,
        env: Vec::new(),
    }
}

/// The bundled example committed in a new repository made with `init_args`.
fn fresh(init_args: &[&str]) -> Setup {
    let repo = Repo::new();
    let dir = repo.base.join("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    let s = Setup {
        repo,
        dir,
        env: Vec::new(),
    };
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend(init_args);
    s.git(&args);
    for entry in ["promote.yaml", "templates", "environments"] {
        copy_tree(&crate_dir().join(entry), &s.dir.join(entry));
    }
    s.git(&["add", "-A"]);
    s.git(&["commit", "-q", "-m", "the bundled example"]);
    s
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The changes each backend makes, in order.
const STEPS: &[&[&str]] = &[
    &["set-image", "dev", "--sha", "a252dcc"],
    &["to", "staging"],
    &["set-image", "dev", "--sha", "b3f1e2d"],
    &["rollback", "dev"],
    &["preview", "up", "feature-x", "--sha", "2222222"],
    &["preview", "down", "feature-x"],
];

/// The tree `git add` makes of `paths` as they are in the work tree, on top of `base`'s tree, in a
/// scratch index (the real one is not touched).
fn tree_git_would_make(s: &Setup, base: &str, paths: &[&str]) -> String {
    let scratch = s
        .repo
        .base
        .join(format!("scratch-index-{}", std::process::id()));
    let scratch = scratch.to_str().unwrap();
    let env = [("GIT_INDEX_FILE", scratch)];
    let _ = std::fs::remove_file(scratch);
    s.git_with(&["read-tree", base], &env);
    let mut add = vec!["add", "-A", "--"];
    add.extend(paths);
    s.git_with(&add, &env);
    let tree = s.git_with(&["write-tree"], &env).trim().to_string();
    let _ = std::fs::remove_file(scratch);
    tree
}

/// Runs every step with `backend` and checks each commit; returns the trees committed.
fn exercise(s: &Setup, backend: &str) -> Vec<String> {
    let mut trees = Vec::new();
    for step in STEPS {
        let before = s.head();
        let r = s.promote(step, backend);
        assert_eq!(
            r.code, 0,
            "promote {step:?} ({backend})\n--- stdout\n{}\n--- stderr\n{}",
            r.stdout, r.stderr
        );
        let after = s.head();
        assert_ne!(before, after, "promote {step:?} ({backend}) made no commit");
        assert_eq!(
            s.git(&["rev-parse", &format!("{after}^")]).trim(),
            before,
            "promote {step:?} ({backend}): the commit's parent"
        );
        let changed = s.git(&["diff", "--name-only", "--no-renames", "-z", &before, &after]);
        let changed: Vec<&str> = changed.split('\0').filter(|p| !p.is_empty()).collect();
        assert!(!changed.is_empty(), "promote {step:?}: an empty commit");
        let tree = s.git(&["rev-parse", &format!("{after}^{{tree}}")]);
        let tree = tree.trim().to_string();
        assert_eq!(
            tree,
            tree_git_would_make(s, &before, &changed),
            "promote {step:?} ({backend}): the commit's tree is not the one `git add` makes"
        );
        let status = s.git(&["status", "--porcelain", "--untracked-files=all"]);
        assert_eq!(
            status, "",
            "promote {step:?} ({backend}): `git status` after it"
        );
        let fsck = s.run("git", &["fsck", "--strict", "--no-progress"], &[]);
        assert_eq!(
            fsck.code, 0,
            "promote {step:?} ({backend}): git fsck --strict\n{}\n{}",
            fsck.stdout, fsck.stderr
        );
        trees.push(tree);
    }
    let r = s.promote(&["log", "dev", "--verify"], backend);
    assert_eq!(r.code, 0, "log --verify ({backend}): {}", r.stderr);
    // Plain git carries on after promote.
    write(&s.dir.join("NOTES.md"), "notes\n");
    s.git(&["add", "NOTES.md"]);
    s.git(&["commit", "-q", "-m", "notes"]);
    s.git(&["gc", "--quiet"]);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    trees
}

/// Builds the setup twice and exercises one with each backend: both must commit the same trees.
fn matrix(build: impl Fn() -> Setup) -> Setup {
    let fast = build();
    let cli = build();
    let a = exercise(&fast, "auto");
    let b = exercise(&cli, "cli");
    assert_eq!(a, b, "the backends committed different trees");
    fast
}

#[test]
fn default_repository() {
    matrix(example);
}

#[test]
fn index_version_4() {
    matrix(|| {
        let s = example();
        s.git(&["update-index", "--index-version", "4"]);
        s
    });
}

#[test]
fn split_index() {
    matrix(|| {
        let s = example();
        s.git(&["config", "core.splitIndex", "true"]);
        s.git(&["update-index", "--split-index"]);
        s
    });
}

#[test]
fn sparse_checkout_cone_and_sparse_index() {
    for sparse_index in [false, true] {
        matrix(|| {
            let s = example();
            write(&s.dir.join("docs/readme.md"), "docs\n");
            s.git(&["add", "docs"]);
            s.git(&["commit", "-q", "-m", "docs"]);
            let mut args = vec!["sparse-checkout", "set", "--cone"];
            if sparse_index {
                args.push("--sparse-index");
            }
            args.extend(["environments", "templates"]);
            s.git(&args);
            assert!(!s.dir.join("docs").exists());
            s
        });
    }
}

#[test]
fn untracked_cache_fsmonitor_and_skip_hash() {
    matrix(|| {
        let s = example();
        s.git(&["config", "core.untrackedCache", "true"]);
        s.git(&["update-index", "--untracked-cache"]);
        s.git(&["status", "--porcelain"]);
        s
    });
    matrix(|| {
        let s = example();
        s.git(&["config", "core.fsmonitor", "false"]);
        s
    });
    matrix(|| {
        let s = example();
        // A stand-in fsmonitor hook (protocol 2) that says everything may have changed.
        let hook = s.repo.base.join("fsmonitor.sh");
        executable(&hook, "#!/bin/sh\nprintf 'token\\0/\\0'\n");
        s.git(&["config", "core.fsmonitor", hook.to_str().unwrap()]);
        s.git(&["status", "--porcelain"]);
        s
    });
    matrix(|| {
        let s = example();
        s.git(&["config", "index.skipHash", "true"]);
        s.git(&["update-index", "--really-refresh"]);
        s.git(&["commit", "-q", "--allow-empty", "-m", "rewrite the index"]);
        s
    });
}

/// `git worktree add` of a new branch `release` at `linked/` beside the work tree.
fn linked_worktree(s: &Setup) -> PathBuf {
    let wt = s.repo.base.join("linked");
    s.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "release",
        wt.to_str().unwrap(),
    ]);
    wt
}

#[test]
fn linked_worktree_runs_the_common_hooks() {
    let s = matrix(|| {
        let mut s = example();
        let wt = linked_worktree(&s);
        let marker = s.repo.base.join("hook-ran");
        executable(
            &s.repo.path.join(".git/hooks/pre-commit"),
            &format!("#!/bin/sh\necho ran >> '{}'\n", marker.display()),
        );
        s.dir = wt;
        s
    });
    let ran = std::fs::read_to_string(s.repo.base.join("hook-ran")).unwrap_or_default();
    // Each of the steps (and the plain commit after them) ran the hook.
    assert!(ran.lines().count() > STEPS.len(), "{ran:?}");
}

#[test]
fn separate_git_dir_and_git_dir_variables() {
    matrix(|| {
        let s = example();
        let sep = s.repo.base.join("separate.git");
        s.git(&["init", "-q", "--separate-git-dir", sep.to_str().unwrap()]);
        assert!(s.dir.join(".git").is_file());
        s
    });
    // GIT_DIR and GIT_WORK_TREE, the git dir away from the work tree.
    matrix(|| {
        let mut s = example();
        let elsewhere = s.repo.base.join("elsewhere.git");
        std::fs::rename(s.dir.join(".git"), &elsewhere).unwrap();
        s.env = vec![
            ("GIT_DIR".into(), elsewhere.display().to_string()),
            ("GIT_WORK_TREE".into(), s.dir.display().to_string()),
        ];
        s
    });
    // GIT_INDEX_FILE: the commit and the next dirty check use the same index.
    matrix(|| {
        let mut s = example();
        let index = s.repo.base.join("other-index");
        std::fs::copy(s.dir.join(".git/index"), &index).unwrap();
        s.env = vec![("GIT_INDEX_FILE".into(), index.display().to_string())];
        s
    });
    // GIT_COMMON_DIR: a linked worktree's git dir named by hand.
    matrix(|| {
        let mut s = example();
        let wt = linked_worktree(&s);
        let common = s.repo.path.join(".git");
        s.env = vec![
            (
                "GIT_DIR".into(),
                common.join("worktrees/linked").display().to_string(),
            ),
            ("GIT_COMMON_DIR".into(), common.display().to_string()),
            ("GIT_WORK_TREE".into(), wt.display().to_string()),
        ];
        s.dir = wt;
        s
    });
}

#[test]
fn relative_git_dir_variables_are_read_as_git_c_reads_them() {
    // `promote -C work/environments` run from the temp dir, with paths relative to that directory
    // (as `git -C work/environments` reads them), while every later git runs in `work/`.
    let s = example();
    std::fs::rename(s.dir.join(".git"), s.repo.base.join("elsewhere.git")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promote"));
    cmd.current_dir(&s.repo.base).args([
        "-C",
        "work/environments",
        "set-image",
        "dev",
        "--sha",
        "a252dcc",
    ]);
    hermetic(&mut cmd, &s.repo.base);
    cmd.env("GIT_DIR", "../../elsewhere.git")
        .env("GIT_WORK_TREE", "..");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = [("GIT_DIR", "../elsewhere.git"), ("GIT_WORK_TREE", ".")];
    let subject = s.git_with(&["log", "-1", "--format=%s"], &env);
    assert!(subject.starts_with("set-image dev"), "{subject}");
    assert_eq!(s.git_with(&["status", "--porcelain"], &env), "");
}

#[test]
fn git_dir_naming_another_repository_commits_there() {
    // promote runs in `work/` with GIT_DIR naming `other`'s git dir: git's reading (the work tree
    // is the current directory) is the one promote must use, for the files and the commit alike.
    let s = example();
    let other = fresh(&[]);
    let git_dir = other.dir.join(".git");
    let r = s.run(
        env!("CARGO_BIN_EXE_promote"),
        &["set-image", "dev", "--sha", "a252dcc"],
        &[("GIT_DIR", git_dir.to_str().unwrap())],
    );
    // The files are in `work/`, the repository is `other`'s: git sees `work/` as its work tree.
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head_tree = other.git(&["show", "--stat", "--format=%s", "HEAD"]);
    assert!(head_tree.contains("environments/dev/"), "{head_tree}");
    let status = s.run(
        "git",
        &["status", "--porcelain"],
        &[("GIT_DIR", git_dir.to_str().unwrap())],
    );
    assert_eq!(status.stdout, "");
}

#[test]
fn clones_alternates_shallow_partial() {
    for how in [
        &["--shared"][..],
        &["--depth", "1"][..],
        &["--filter=blob:none"][..],
    ] {
        matrix(|| {
            let mut s = example();
            s.git(&["push", "-q", "origin", "main"]);
            s.run(
                "git",
                &[
                    "-C",
                    "../origin.git",
                    "config",
                    "uploadpack.allowFilter",
                    "true",
                ],
                &[],
            );
            let clone = s.repo.base.join("clone");
            let url = format!("file://{}", s.repo.base.join("origin.git").display());
            let mut args = vec!["clone", "-q"];
            args.extend(how);
            args.extend([url.as_str(), clone.to_str().unwrap()]);
            s.git(&args);
            s.dir = clone;
            s
        });
    }
}

#[test]
fn sha256_reftable_and_packed_refs() {
    matrix(|| fresh(&["--object-format=sha256"]));
    matrix(|| fresh(&["--ref-format=reftable"]));
    matrix(|| {
        let s = example();
        s.git(&["pack-refs", "--all"]);
        s
    });
}

/// The example checked out again after `configure`, so the work tree has git's line endings.
fn recheckout(s: &Setup) {
    s.git(&["rm", "-q", "--cached", "-r", "."]);
    s.git(&["reset", "-q", "--hard"]);
}

#[test]
fn autocrlf_checkout() {
    let s = matrix(|| {
        let s = example();
        // A history promote wrote, then checked out with CRLF line endings.
        s.git(&["config", "core.autocrlf", "true"]);
        recheckout(&s);
        assert!(std::fs::read_to_string(s.dir.join("promote.yaml"))
            .unwrap()
            .contains("\r\n"));
        s
    });
    // The blobs hold LF line endings, as git stores them.
    let blob = s.git(&["show", "HEAD~1:environments/dev/metadata.json"]);
    assert!(!blob.contains('\r'));
}

#[test]
fn an_autocrlf_checkout_of_a_log_promote_wrote_verifies() {
    let s = example();
    assert_eq!(
        s.promote(&["set-image", "dev", "--sha", "a252dcc"], "auto")
            .code,
        0
    );
    s.git(&["config", "core.autocrlf", "true"]);
    recheckout(&s);
    assert!(
        std::fs::read_to_string(s.dir.join("environments/dev/deploy.log"))
            .unwrap()
            .contains("\r\n")
    );
    for args in [&["log", "dev", "--verify"][..], &["check"][..]] {
        let r = s.promote(args, "auto");
        assert_eq!(r.code, 0, "{args:?}\n{}\n{}", r.stdout, r.stderr);
    }
    // A tampered log still fails.
    let log = s.dir.join("environments/dev/deploy.log");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("a252dcc", "a252dcd", 1)).unwrap();
    assert_eq!(s.promote(&["log", "dev", "--verify"], "auto").code, 1);
}

#[test]
fn eol_attributes_filters_and_ident() {
    for attributes in [
        "*.yaml text eol=crlf\n*.json text eol=crlf\n*.log text eol=crlf\n",
        "*.yaml ident\n",
    ] {
        matrix(|| {
            let s = example();
            write(&s.dir.join(".gitattributes"), attributes);
            s.git(&["add", ".gitattributes"]);
            s.git(&["commit", "-q", "-m", "attributes"]);
            recheckout(&s);
            s
        });
    }
    // A clean/smudge filter, standing in for git-crypt: what git stores is transformed.
    let s = matrix(|| {
        let s = example();
        s.git(&["config", "filter.rot13.clean", "tr A-Za-z N-ZA-Mn-za-m"]);
        s.git(&["config", "filter.rot13.smudge", "tr A-Za-z N-ZA-Mn-za-m"]);
        write(
            &s.dir.join("environments/.gitattributes"),
            "*.yaml filter=rot13\n",
        );
        // Stored through the filter from now on.
        s.git(&["add", "--renormalize", "."]);
        s.git(&["add", "environments/.gitattributes"]);
        s.git(&["commit", "-q", "-m", "attributes"]);
        s
    });
    let stored = s.git(&[
        "cat-file",
        "-p",
        "HEAD~1:environments/dev/manifests/api-deployment.yaml",
    ]);
    assert!(
        !stored.contains("apiVersion"),
        "stored in plain text:\n{stored}"
    );
    assert!(stored.contains("ncvIrefvba"), "{stored}");
}

#[test]
fn hooks_path_with_a_tilde_and_signing() {
    let s = matrix(|| {
        let s = example();
        let marker = s.repo.base.join("hook-ran");
        executable(
            &s.repo.base.join("home/hooks/pre-commit"),
            &format!("#!/bin/sh\necho ran >> '{}'\n", marker.display()),
        );
        s.git(&["config", "core.hooksPath", "~/hooks"]);
        s
    });
    let ran = std::fs::read_to_string(s.repo.base.join("hook-ran")).unwrap_or_default();
    assert!(ran.lines().count() > STEPS.len(), "{ran:?}");

    // A stand-in for gpg: git hands it the commit and takes its output as the signature.
    let s = matrix(|| {
        let s = example();
        let gpg = s.repo.base.join("fake-gpg");
        executable(
            &gpg,
            "#!/bin/sh\ncat >/dev/null\necho '[GNUPG:] SIG_CREATED D 1 8 00 0 0' >&2\nprintf -- '-----BEGIN PGP SIGNATURE-----\\nstand-in\\n-----END PGP SIGNATURE-----\\n'\n",
        );
        s.git(&["config", "gpg.program", gpg.to_str().unwrap()]);
        s.git(&["config", "user.signingKey", "jane@example.com"]);
        s.git(&["config", "commit.gpgSign", "true"]);
        s
    });
    let commit = s.git(&["cat-file", "commit", "HEAD~1"]);
    assert!(
        commit.contains("gpgsig -----BEGIN PGP SIGNATURE-----"),
        "{commit}"
    );
}

#[test]
fn detached_head_is_refused_before_anything_is_written() {
    // As the README says: a commit there would be on no branch.
    let s = example();
    s.git(&["checkout", "-q", "--detach"]);
    let head = s.head();
    for backend in ["auto", "cli"] {
        let r = s.promote(&["set-image", "dev", "--sha", "a252dcc"], backend);
        assert_eq!(r.code, 1, "{backend}: {}", r.stderr);
        assert!(r.stderr.contains("detached"), "{backend}: {}", r.stderr);
        assert_eq!(s.head(), head);
        assert_eq!(s.git(&["status", "--porcelain"]), "");
    }
}

#[test]
fn a_repository_inside_a_submodule() {
    matrix(|| {
        let mut s = example();
        s.git(&["push", "-q", "origin", "main"]);
        let sup = s.repo.base.join("super");
        std::fs::create_dir_all(&sup).unwrap();
        s.dir = sup.clone();
        s.git(&["init", "-q", "-b", "main"]);
        let url = s.repo.base.join("origin.git");
        s.git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url.to_str().unwrap(),
            "config",
        ]);
        s.git(&["commit", "-q", "-m", "the config repository as a submodule"]);
        s.dir = sup.join("config");
        s.git(&["checkout", "-q", "-B", "main", "origin/main"]);
        s
    });
}

#[test]
fn promote_git_is_validated() {
    let s = example();
    let r = s.promote(&["status"], "gitoxide");
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.stderr_has("`PROMOTE_GIT=gitoxide` is not valid: it takes `auto`");
}

#[test]
fn staged_entries_survive_promotions_with_git_add_in_a_loop() {
    for backend in ["auto", "cli"] {
        let s = example();
        // Another process stages files while promotions run.
        let adder = {
            let dir = s.dir.clone();
            let base = s.repo.base.clone();
            std::thread::spawn(move || {
                let mut added = Vec::new();
                for i in 0..60 {
                    let name = format!("staged/{i}.txt");
                    write(&dir.join(&name), &format!("{i}\n"));
                    let mut cmd = Command::new("git");
                    cmd.current_dir(&dir).args(["add", &name]);
                    hermetic(&mut cmd, &base);
                    if cmd.output().unwrap().status.success() {
                        added.push(name);
                    }
                }
                added
            })
        };
        let mut made = 0;
        for i in 0..12 {
            let sha = format!("{:07x}", 0xa000000 + i);
            let r = s.run(
                env!("CARGO_BIN_EXE_promote"),
                &["set-image", "dev", "--sha", &sha],
                &[("PROMOTE_GIT", backend), ("PROMOTE_LOCK_WAIT", "30")],
            );
            if r.code == 0 {
                made += 1;
            } else {
                r.stderr_lacks("index.lock");
            }
        }
        let added = adder.join().unwrap();
        assert!(made > 0 && !added.is_empty());
        // Every successful `git add` is in the index, and in no promotion's commit.
        let staged = s.git(&["diff", "--cached", "--name-only"]);
        for name in &added {
            assert!(
                staged.lines().any(|l| l == name),
                "{backend}: `{name}` lost"
            );
        }
        let committed = s.git(&["log", "--name-only", "--format="]);
        assert!(
            !committed.contains("staged/"),
            "{backend}: another's file was committed"
        );
    }
}

#[test]
fn the_backend_and_why_are_traced() {
    crate::support::in_process_path_only();
    let s = example();
    let backend = |s: &Setup| {
        let r = s.run(
            env!("CARGO_BIN_EXE_promote"),
            &["status"],
            &[("PROMOTE_TRACE", "1")],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stderr
            .lines()
            .find_map(|l| l.split_once("git backend: ").map(|(_, b)| b.to_string()))
            .unwrap_or_default()
    };
    assert_eq!(backend(&s), "in-process");
    // The commit itself is written in-process, and a converting attribute sends it to git.
    let commit_trace = |s: &Setup, sha: &str| {
        let r = s.run(
            env!("CARGO_BIN_EXE_promote"),
            &["set-image", "dev", "--sha", sha],
            &[("PROMOTE_TRACE", "1")],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stderr
    };
    let t = commit_trace(&s, "a252dcc");
    assert!(
        t.contains("gitwrite: pack written") && !t.contains("commit: staged"),
        "{t}"
    );
    write(&s.dir.join(".gitattributes"), "*.json text eol=crlf\n");
    s.git(&["add", ".gitattributes"]);
    s.git(&["commit", "-q", "-m", "attributes"]);
    let t = commit_trace(&s, "b3f1e2d");
    assert!(
        t.contains("commit: through git: attributes convert `environments/dev/metadata.json`"),
        "{t}"
    );
    assert!(t.contains("commit: staged"), "{t}");
    s.git(&["config", "core.autocrlf", "true"]);
    assert_eq!(backend(&s), "the git binary (config `core.autocrlf=true`)");
    s.git(&["config", "core.autocrlf", "false"]);
    assert_eq!(backend(&s), "in-process");
    executable(&s.dir.join(".git/hooks/post-commit"), "#!/bin/sh\n");
    assert!(backend(&s).contains("hooks/post-commit"), "{}", backend(&s));
}

#[test]
fn a_foreign_index_lock_is_waited_for_then_named() {
    for backend in ["auto", "cli"] {
        let s = example();
        let lock = s.dir.join(".git/index.lock");
        // Another process holds `index.lock` (as a running `git add` does).
        let mut holder = Command::new("sh")
            .current_dir(&s.dir)
            .args(["-c", "exec 3<>.git/index.lock; exec sleep 60"])
            .spawn()
            .unwrap();
        while !lock.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let r = s.run(
            env!("CARGO_BIN_EXE_promote"),
            &["set-image", "dev", "--sha", "a252dcc"],
            &[("PROMOTE_GIT", backend), ("PROMOTE_LOCK_WAIT", "0.5")],
        );
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(r.code, 1, "{backend}: {}", r.stderr);
        let who = format!("process {} (`sleep 60`) holds it", holder.id());
        assert!(
            r.stderr.contains("the git index is locked"),
            "{backend}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(&who), "{backend}: {}", r.stderr);
        assert_eq!(s.git(&["status", "--porcelain"]), "", "{backend}: put back");

        // Released within the wait: promote waits, then commits.
        std::fs::write(&lock, "").unwrap();
        let release = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(700));
                std::fs::remove_file(lock).unwrap();
            })
        };
        let r = s.run(
            env!("CARGO_BIN_EXE_promote"),
            &["set-image", "dev", "--sha", "a252dcc"],
            &[("PROMOTE_GIT", backend), ("PROMOTE_LOCK_WAIT", "30")],
        );
        release.join().unwrap();
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
    }
}
