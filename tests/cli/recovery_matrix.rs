//! Crash recovery on the repositories git supports beyond the plain one: SHA-256 objects, reftable
//! refs, a `core.autocrlf` checkout and an `eol=crlf` attribute. A change killed before its commit
//! point is rolled back by the next command, one killed after it is finished; afterwards the work
//! tree, the index and HEAD agree (`git status` is clean), `git fsck --strict` finds nothing and
//! `promote check` passes. Each on both backends: the default (which finds the git path by itself
//! where libgit2 cannot open the repository or a conversion applies) and `PROMOTE_GIT=cli`.

use crate::support::{copy_tree, crate_dir, Repo, Run};

/// Killed before the branch moves (files in place; files in place and staged), and after.
const BEFORE: &[&str] = &["swapped", "index-written"];
const AFTER: &[&str] = &["ref-moved"];

/// The bundled example committed in a new repository made with `init_args`, then `configure`d
/// and checked out again (so the work tree holds git's line endings).
fn repository(init_args: &[&str], configure: impl Fn(&Repo)) -> Repo {
    let repo = Repo::new();
    std::fs::remove_dir_all(repo.path.join(".git")).unwrap();
    let mut init = vec!["init", "-q", "-b", "main"];
    init.extend(init_args);
    repo.git(&init);
    for entry in ["promote.yaml", "templates", "environments"] {
        copy_tree(&crate_dir().join(entry), &repo.path.join(entry));
    }
    configure(&repo);
    repo.commit_all("the bundled example");
    repo.git(&["rm", "-q", "--cached", "-r", "."]);
    repo.git(&["reset", "-q", "--hard"]);
    assert_eq!(repo.status(), "");
    repo
}

fn promote(repo: &Repo, backend: &str, args: &[&str], failpoint: Option<&str>) -> Run {
    let mut env = vec![("PROMOTE_GIT", backend)];
    if let Some(fp) = failpoint {
        env.push(("PROMOTE_FAILPOINT", fp));
    }
    repo.promote_env(args, &env)
}

/// Every failpoint on both backends: killed, then repaired by the next command, then checked.
fn killed_changes_are_repaired(repo: &Repo) {
    let start = repo.head();
    for backend in ["auto", "cli"] {
        for fp in BEFORE.iter().chain(AFTER) {
            let case = format!("{fp} with PROMOTE_GIT={backend}");
            repo.git(&["reset", "-q", "--hard", &start]);
            repo.git(&["clean", "-qfd"]);
            let spec = format!("{fp}:exit");
            let killed = promote(
                repo,
                backend,
                &["set-image", "dev", "--sha", "a252dcc"],
                Some(&spec),
            );
            assert_eq!(killed.code, 137, "{case}: killed\n{}", killed.stderr);
            assert!(repo.exists(".git/promote/journal"), "{case}: journal");

            let next = promote(repo, backend, &["status"], None);
            assert_eq!(next.code, 0, "{case}: the next command\n{}", next.stderr);
            let (ending, committed) = if AFTER.contains(fp) {
                ("it was finished", true)
            } else {
                ("it was rolled back", false)
            };
            assert!(
                next.stderr.contains("interrupted change") && next.stderr.contains(ending),
                "{case}: says what it did\n{}",
                next.stderr
            );
            assert!(!repo.exists(".git/promote/journal"), "{case}: journal left");
            assert!(!repo.exists(".git/index.lock"), "{case}: index.lock left");
            assert_eq!(repo.status(), "", "{case}: HEAD, index and tree differ");
            if committed {
                assert_eq!(repo.git(&["rev-parse", "HEAD^"]).trim(), start, "{case}");
                let metadata = repo.git(&["show", "HEAD:environments/dev/metadata.json"]);
                assert!(metadata.contains("a252dcc"), "{case}: {metadata}");
            } else {
                assert_eq!(repo.head(), start, "{case}: HEAD moved");
            }
            let fsck = repo.git_run(&["fsck", "--strict", "--no-dangling", "--no-progress"]);
            assert_eq!(
                fsck.code, 0,
                "{case}: git fsck\n{}{}",
                fsck.stdout, fsck.stderr
            );
            let check = promote(repo, backend, &["check"], None);
            assert_eq!(
                check.code, 0,
                "{case}: promote check\n{}{}",
                check.stdout, check.stderr
            );
        }
    }
}

#[test]
fn sha256_repository() {
    killed_changes_are_repaired(&repository(&["--object-format=sha256"], |_| {}));
}

#[test]
fn reftable_repository() {
    killed_changes_are_repaired(&repository(&["--ref-format=reftable"], |_| {}));
}

#[test]
fn autocrlf_checkout() {
    let repo = repository(&[], |r| {
        r.git(&["config", "core.autocrlf", "true"]).truncate(0)
    });
    assert!(repo.read("promote.yaml").contains("\r\n"));
    killed_changes_are_repaired(&repo);
}

#[test]
fn eol_crlf_attribute() {
    let repo = repository(&[], |r| {
        r.write(
            ".gitattributes",
            "*.yaml text eol=crlf\n*.json text eol=crlf\n",
        );
    });
    assert!(repo.read("environments/dev/metadata.json").contains("\r\n"));
    killed_changes_are_repaired(&repo);
}

/// Where libgit2 cannot open a repository, `-v` says why, and git's path does the work.
#[test]
fn libgit2_says_why_it_cannot_open_a_repository() {
    for (init, why) in [
        ("--object-format=sha256", "sha256"),
        ("--ref-format=reftable", "refstorage"),
    ] {
        let repo = repository(&[init], |_| {});
        let verbose = promote(&repo, "auto", &["-v", "status"], None).ok();
        let said = verbose
            .stderr
            .lines()
            .find(|l| l.starts_with("libgit2 cannot open this repository: "))
            .unwrap_or_else(|| panic!("{init}: no reason at -v\n{}", verbose.stderr));
        assert!(
            said.contains(why) && said.ends_with("; promote uses the git binary for it"),
            "{init}: {said}"
        );
        assert_eq!(
            verbose.stderr.matches("libgit2 cannot open").count(),
            1,
            "{init}: said once\n{}",
            verbose.stderr
        );
        let quiet = promote(&repo, "auto", &["status"], None).ok();
        assert!(
            !quiet.stderr.contains("libgit2"),
            "{init}: only at -v\n{}",
            quiet.stderr
        );
        // The git path works: a change is made and committed.
        promote(
            &repo,
            "auto",
            &["set-image", "dev", "--sha", "a252dcc"],
            None,
        )
        .ok();
        assert_eq!(repo.status(), "", "{init}");
    }
}
