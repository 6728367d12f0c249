//! Trust (#17): nothing outside the repository reaches an output, the audit trail cannot be quietly
//! rewritten, rollbacks never delete by surprise, values keep their type, templates are bounded,
//! terminal output is safe.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{Repo, Run};

const CONFIG: &str = "\
registry: registry.example.com/acme
services:
  api:
  web:
environments:
  dev:
    values:
      namespace: acme-dev
  staging:
    from: dev
    values:
      namespace: acme-staging
  prod:
    from: staging
    values:
      namespace: acme-prod
";

fn template(svc: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc}
  namespace: {{{{ values.namespace }}}}
spec:
  template:
    spec:
      containers:
        - name: {svc}
          image: {{{{ image }}}}
"
    )
}

/// The config repository, committed, with no environment deployed yet.
fn config_repo() -> Repo {
    let repo = Repo::new();
    repo.write("promote.yaml", CONFIG);
    for svc in ["api", "web"] {
        repo.write(&format!("templates/{svc}/deployment.yaml"), template(svc));
    }
    repo.commit_all("config");
    repo
}

/// dev at `a252dcc`, staging promoted from it, dev then at `b3f1e2d`.
fn pipeline() -> Repo {
    let repo = config_repo();
    repo.promote(&["set-image", "dev", "--sha", "a252dcc"]).ok();
    repo.promote(&["to", "staging"]).ok();
    repo.promote(&["set-image", "dev", "--sha", "b3f1e2d"]).ok();
    repo
}

/// Every entry of the work tree outside `.git`: files with their bytes, links with their target
/// (never followed), directories ending in `/`.
fn tree(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &std::path::Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            if rel.is_empty() && name == ".git" {
                continue;
            }
            let path = format!("{rel}{name}");
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let to = std::fs::read_link(entry.path()).unwrap();
                out.insert(format!("{path} -> {}", to.display()), Vec::new());
            } else if kind.is_dir() {
                out.insert(format!("{path}/"), Vec::new());
                walk(&entry.path(), &format!("{path}/"), out);
            } else {
                out.insert(path, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&repo.path, "", &mut out);
    out
}

/// Runs a command that must be refused: exit 1, and nothing changed (HEAD, index, work tree).
fn refused(repo: &Repo, args: &[&str]) -> Run {
    let head = repo.head();
    let status = repo.status();
    let files = tree(repo);
    let r = repo.promote(args).expect(1);
    assert_eq!(repo.head(), head, "{args:?} committed");
    assert_eq!(repo.status(), status, "{args:?} changed the index or tree");
    assert_eq!(tree(repo), files, "{args:?} wrote files");
    r
}

fn records(repo: &Repo, env: &str) -> Vec<Value> {
    repo.read(&format!("environments/{env}/deploy.log"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Symbolic links.

const MARKER: &str = "OUTSIDE-SECRET-5c1e9d";

/// A file outside the work tree (beside it, in the test's temp dir) that looks like a manifest.
fn outside_file(repo: &Repo) -> std::path::PathBuf {
    let path = repo.base.join("outside/secret.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  token: {MARKER}\n"
        ),
    )
    .unwrap();
    path
}

/// Every command a user or CI runs, over a repository with a link leading out: whatever each does,
/// the outside file's text reaches no output, no file and no commit.
fn assert_nothing_leaks(repo: &Repo, link: &str) {
    let head = repo.head();
    let runs = [
        vec!["render"],
        vec!["render", "--check"],
        vec!["check"],
        vec!["diff", "staging"],
        vec!["diff", "staging", "--output", "json"],
        vec!["set-image", "dev", "--sha", "c0ffee1"],
        vec!["set-image", "dev", "--sha", "c0ffee1", "--dry-run"],
        vec!["to", "staging"],
        vec!["status"],
        vec!["log"],
        vec!["log", "--verify"],
        vec!["rollback", "dev", "--dry-run"],
    ];
    let mut refusals = 0;
    for args in &runs {
        let r = repo.promote(args);
        for (what, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(
                !text.contains(MARKER),
                "`promote {}` printed the outside file on {what}:\n{text}",
                args.join(" ")
            );
        }
        if r.stderr
            .contains(&format!("`{link}` is a symbolic link (to `"))
        {
            refusals += 1;
        }
    }
    // Each command that reads the templates or manifests refused, naming the link.
    assert!(refusals >= 6, "only {refusals} commands named `{link}`");
    // (A command that does not read the linked file, such as `to staging` over a link in dev's
    // manifests, may commit: what it commits is checked below.)
    let _ = head;
    for (path, bytes) in tree(repo) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(MARKER),
            "`{path}` holds the outside file's text"
        );
    }
    let history = repo.git(&["log", "-p", "--all"]);
    assert!(!history.contains(MARKER), "a commit holds the outside file");
    let diff = repo.git(&["diff", "HEAD"]);
    assert!(!diff.contains(MARKER));
}

#[test]
fn a_template_linked_outside_the_repository_is_refused_and_never_read() {
    let repo = pipeline();
    let outside = outside_file(&repo);
    std::os::unix::fs::symlink(&outside, repo.file("templates/api/leak.yaml")).unwrap();
    repo.commit_all("a template that is a link");
    let r = refused(&repo, &["render"]);
    assert!(
        r.stderr.contains(&format!(
            "`templates/api/leak.yaml` is a symbolic link (to `{}`)",
            outside.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: replace the link"), "{}", r.stderr);
    assert_nothing_leaks(&repo, "templates/api/leak.yaml");
}

#[test]
fn a_partial_linked_outside_the_repository_is_refused() {
    let repo = pipeline();
    let outside = outside_file(&repo);
    std::os::unix::fs::symlink(&outside, repo.file("templates/api/_leak.yaml")).unwrap();
    repo.write(
        "templates/api/deployment.yaml",
        template("api") + "---\n{% include \"templates/api/_leak.yaml\" %}",
    );
    repo.commit_all("a partial that is a link");
    assert_nothing_leaks(&repo, "templates/api/_leak.yaml");
}

#[test]
fn a_manifest_linked_outside_the_repository_is_refused() {
    let repo = pipeline();
    let outside = outside_file(&repo);
    std::os::unix::fs::symlink(&outside, repo.file("environments/dev/manifests/leak.yaml"))
        .unwrap();
    repo.commit_all("a manifest that is a link");
    assert_nothing_leaks(&repo, "environments/dev/manifests/leak.yaml");
}

#[test]
fn an_environment_directory_linked_to_another_is_refused() {
    let repo = pipeline();
    let dev_before = tree(&repo);
    std::fs::remove_dir_all(repo.file("environments/staging")).unwrap();
    std::os::unix::fs::symlink("dev", repo.file("environments/staging")).unwrap();
    repo.commit_all("staging is dev");
    for args in [
        vec!["render"],
        vec!["set-image", "dev", "--sha", "c0ffee1"],
        vec!["to", "staging"],
        vec!["check"],
    ] {
        let r = refused(&repo, &args);
        assert!(
            r.stderr
                .contains("`environments/staging` is a symbolic link (to `dev`)"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // dev's files are as they were before the link.
    for (path, bytes) in dev_before {
        if path.starts_with("environments/dev/") && !path.ends_with('/') {
            assert_eq!(repo.read_bytes(&path), bytes, "{path}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit trail.

/// Tampering with staging's deploy.log, committed; the next promotion must be refused, naming the
/// file and the way out, and `log --verify` must report the commit that did it.
fn tampered(edit: impl Fn(&Repo)) -> Repo {
    let repo = pipeline();
    edit(&repo);
    repo.commit_all("tidy the log");
    let r = refused(&repo, &["to", "staging"]);
    assert!(
        r.stderr.contains("refusing to change `staging`")
            && r.stderr.contains("environments/staging/deploy.log")
            && r.stderr.contains("--repair-audit"),
        "{}",
        r.stderr
    );
    let v = repo.promote(&["log", "--verify"]).expect(1);
    assert!(!v.stderr.contains("intact"), "{}", v.stderr);
    repo
}

#[test]
fn deleting_the_last_record_is_refused_and_reported_with_its_commit() {
    let repo = tampered(|repo| {
        let log = repo.read("environments/staging/deploy.log");
        let mut lines: Vec<&str> = log.lines().collect();
        lines.pop();
        repo.write(
            "environments/staging/deploy.log",
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        );
    });
    let v = repo.promote(&["log", "--verify"]).expect(1);
    let commit = repo.head();
    assert!(
        v.stderr.contains(&format!(
            "`environments/staging/deploy.log`: commit {} (tidy the log) removed lines (1 records before, 0 after)",
            &commit[..12]
        )),
        "{}",
        v.stderr
    );
}

#[test]
fn an_emptied_log_is_refused() {
    tampered(|repo| repo.write("environments/staging/deploy.log", ""));
}

#[test]
fn a_deleted_log_is_refused() {
    let repo = tampered(|repo| {
        std::fs::remove_file(repo.file("environments/staging/deploy.log")).unwrap()
    });
    let v = repo.promote(&["log", "--verify"]).expect(1);
    assert!(
        v.stderr.contains("(tidy the log) deleted it"),
        "{}",
        v.stderr
    );
}

#[test]
fn a_log_that_fails_verification_is_not_built_on() {
    let repo = tampered(|repo| {
        let log = repo.read("environments/staging/deploy.log");
        repo.write(
            "environments/staging/deploy.log",
            log.replace("\"a252dcc\"", "\"a252dcd\""),
        );
    });
    let v = repo.promote(&["log", "--verify"]).expect(1);
    assert!(v.stderr.contains("was edited"), "{}", v.stderr);
}

#[test]
fn a_repair_is_explicit_loud_and_recorded() {
    let repo = pipeline();
    repo.write("environments/staging/deploy.log", "");
    repo.commit_all("tidy the log");
    let r = repo
        .promote(&["to", "staging", "--repair-audit", "log lost in INC-7"])
        .ok();
    assert!(
        r.stderr
            .contains("AUDIT TRAIL REPAIR for `staging` (log lost in INC-7)"),
        "{}",
        r.stderr
    );
    let recs = records(&repo, "staging");
    assert_eq!(recs.len(), 1);
    let why = recs[0]["audit_repaired"].as_str().unwrap();
    assert!(why.starts_with("log lost in INC-7 ["), "{why}");
    assert!(why.contains("environments/staging/deploy.log"), "{why}");
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.contains("Promote-Audit-Repaired: log lost in INC-7"),
        "{msg}"
    );
    // The trail verifies from the repair on; `log` shows the repair.
    repo.promote(&["log", "--verify"]).ok();
    let log = repo.promote(&["log", "staging"]).ok();
    assert!(
        log.stdout
            .contains("AUDIT TRAIL REPAIRED: log lost in INC-7"),
        "{}",
        log.stdout
    );
}

#[test]
fn source_metadata_edited_to_a_version_it_never_ran_is_refused() {
    let repo = pipeline();
    let meta = repo.read("environments/dev/metadata.json");
    repo.write(
        "environments/dev/metadata.json",
        meta.replace("b3f1e2d", "deadbee"),
    );
    repo.commit_all("bump api by hand");
    let r = refused(&repo, &["to", "staging"]);
    assert!(
        r.stderr.contains(
            "`environments/dev/metadata.json` says `api` runs deadbee, but the last record of `environments/dev/deploy.log` that changed it set b3f1e2d"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn deleted_metadata_is_refused() {
    let repo = pipeline();
    std::fs::remove_file(repo.file("environments/dev/metadata.json")).unwrap();
    repo.commit_all("lose the metadata");
    let r = refused(&repo, &["set-image", "dev", "--sha", "c0ffee1"]);
    assert!(
        r.stderr
            .contains("`environments/dev/metadata.json` is missing, but `environments/dev/deploy.log` records 2 change(s) of `dev`"),
        "{}",
        r.stderr
    );
    refused(&repo, &["to", "staging"]);
}

// ---------------------------------------------------------------------------------------------
// Rollback.

#[test]
fn a_rollback_that_removes_services_is_refused_unless_asked_for() {
    let repo = pipeline();
    repo.promote(&["to", "prod"]).ok();
    let r = refused(&repo, &["rollback", "prod"]);
    assert!(
        r.stderr
            .contains("refusing: this rollback removes `api`, `web` from `prod`")
            && r.stderr
                .contains("environments/prod/manifests/api-deployment.yaml")
            && r.stderr.contains("--allow-remove"),
        "{}",
        r.stderr
    );
    let r = repo.promote(&["rollback", "prod", "--allow-remove"]).ok();
    for m in ["api-deployment.yaml", "web-deployment.yaml"] {
        assert!(
            r.stderr
                .contains(&format!("  environments/prod/manifests/{m}")),
            "{}",
            r.stderr
        );
        assert!(!repo.exists(&format!("environments/prod/manifests/{m}")));
    }
}

#[test]
fn the_readme_rollback_examples_work() {
    let repo = pipeline();
    repo.promote(&["to", "prod"]).ok();
    repo.promote(&["to", "staging"]).ok();
    repo.promote(&["to", "prod"]).ok();
    // Back to what prod ran before its last change.
    repo.promote(&["rollback", "prod", "--dry-run"]).ok();
    let r = repo.promote(&["rollback", "prod"]).ok();
    assert!(r.stderr.contains("api: b3f1e2d -> a252dcc"), "{}", r.stderr);
    // To the state right after a record.
    let first = records(&repo, "prod")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    repo.promote(&["to", "prod"]).ok();
    repo.promote(&["rollback", "prod", "--to", &first]).ok();
    assert!(repo
        .read("environments/prod/manifests/api-deployment.yaml")
        .contains(":a252dcc"));
}

// ---------------------------------------------------------------------------------------------
// Terminal output.

#[test]
fn control_characters_are_escaped_wherever_they_are_printed() {
    let repo = config_repo();
    let evil = "deploy \u{1b}]0;owned\u{7}\u{1b}[2J now";
    repo.promote(&["set-image", "dev", "--sha", "a252dcc", "-m", evil])
        .ok();
    repo.promote_env(
        &["set-image", "dev", "--sha", "b3f1e2d"],
        &[("GIT_AUTHOR_NAME", "Eve \u{1b}[31mRed")],
    )
    .ok();
    let hold = repo
        .promote(&["hold", "dev", "--reason", "bell \u{7} here"])
        .ok();
    let runs = [
        repo.promote(&["log"]).ok(),
        repo.promote(&["status"]).ok(),
        repo.promote(&["set-image", "dev", "--sha", "c0ffee1"])
            .expect(1),
        repo.promote(&["log", "dev", "--output", "json"]).ok(),
        hold,
    ];
    for r in &runs {
        for text in [&r.stdout, &r.stderr] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "raw control character in:\n{text}"
            );
        }
    }
    assert!(
        runs[0].stdout.contains("why: deploy \\u{1b}]0;owned\\u{7}"),
        "{}",
        runs[0].stdout
    );
    assert!(
        runs[0].stdout.contains("by Eve \\u{1b}[31mRed"),
        "{}",
        runs[0].stdout
    );
}
