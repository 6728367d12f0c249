//! Trust (#17): nothing outside the repository reaches an output, the audit trail cannot be quietly
//! rewritten, rollbacks never delete by surprise, values keep their type, templates are bounded,
//! terminal output is safe.

use crate::support::{Case, Repo};

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
  selector:
    matchLabels:
      app: {svc}
  template:
    metadata:
      labels:
        app: {svc}
    spec:
      containers:
        - name: {svc}
          image: {{{{ image }}}}
"
    )
}

/// The config repository, committed, with no environment deployed yet.
fn config_repo() -> Repo {
    Case::empty()
        .config(CONFIG)
        .templates(&["api", "web"], "deployment.yaml", template)
        .commit()
        .repo()
}

/// dev at `a252dcc`, staging promoted from it, dev then at `b3f1e2d`.
fn pipeline() -> Repo {
    let repo = config_repo();
    for step in [
        &["set-image", "dev", "--sha", "a252dcc"][..],
        &["to", "staging"],
        &["set-image", "dev", "--sha", "b3f1e2d"],
    ] {
        repo.run(step).succeeds();
    }
    repo
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
    for (path, bytes) in repo.tree() {
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
    let r = repo.refused(&["render"]);
    r.stderr_has(&format!(
        "`templates/api/leak.yaml` is a symbolic link (to `{}`)",
        outside.display()
    ));
    r.stderr_has("hint: replace the link");
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
    let dev_before = repo.tree();
    std::fs::remove_dir_all(repo.file("environments/staging")).unwrap();
    std::os::unix::fs::symlink("dev", repo.file("environments/staging")).unwrap();
    repo.commit_all("staging is dev");
    for args in [
        vec!["render"],
        vec!["set-image", "dev", "--sha", "c0ffee1"],
        vec!["to", "staging"],
        vec!["check"],
    ] {
        let r = repo.refused(&args);
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
    let r = repo.refused(&["to", "staging"]);
    assert!(
        r.stderr.contains("refusing to change `staging`")
            && r.stderr.contains("environments/staging/deploy.log")
            && r.stderr.contains("--repair-audit"),
        "{}",
        r.stderr
    );
    let v = repo.promote(&["log", "--verify"]).expect(1);
    v.stderr_lacks("intact");
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
    v.stderr_has(&format!(
            "`environments/staging/deploy.log`: commit {} (tidy the log) removed lines (1 records before, 0 after)",
            &commit[..12]
        ));
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
    v.stderr_has("(tidy the log) deleted it");
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
    v.stderr_has("was edited");
}

#[test]
fn a_repair_is_explicit_loud_and_recorded() {
    let repo = pipeline();
    repo.write("environments/staging/deploy.log", "");
    repo.commit_all("tidy the log");
    // A repair needs its reason, given like every other reason (`-m`/`--reason`).
    let bare = repo.promote(&["to", "staging", "--repair-audit"]).expect(2);
    bare.stderr_has("--message");
    let r = repo
        .promote(&["to", "staging", "--repair-audit", "-m", "log lost in INC-7"])
        .ok();
    r.stderr_has("AUDIT TRAIL REPAIR for `staging` (log lost in INC-7)");
    let recs = repo.records("staging");
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
    log.stdout_has("AUDIT TRAIL REPAIRED: log lost in INC-7");
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
    let r = repo.refused(&["to", "staging"]);
    r.stderr_has("`environments/dev/metadata.json` says `api` runs deadbee, but the last record of `environments/dev/deploy.log` that changed it set b3f1e2d");
}

#[test]
fn deleted_metadata_is_refused() {
    let repo = pipeline();
    std::fs::remove_file(repo.file("environments/dev/metadata.json")).unwrap();
    repo.commit_all("lose the metadata");
    let r = repo.refused(&["set-image", "dev", "--sha", "c0ffee1"]);
    r.stderr_has("`environments/dev/metadata.json` is missing, but `environments/dev/deploy.log` records 2 change(s) of `dev`");
    repo.refused(&["to", "staging"]);
}

// ---------------------------------------------------------------------------------------------
// Rollback.

#[test]
fn a_rollback_that_removes_services_is_refused_unless_asked_for() {
    let repo = pipeline();
    repo.promote(&["to", "prod"]).ok();
    let r = repo.refused(&["rollback", "prod"]);
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
        r.stderr_has(&format!("  environments/prod/manifests/{m}"));
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
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("api: b3f1e2d -> a252dcc"), "{out}");
    // To the state right after a record.
    let first = repo.records("prod")[0]["id"].as_str().unwrap().to_string();
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

// ---------------------------------------------------------------------------------------------
// Values keep their type.

/// Strings a YAML 1.1 or 1.2 reader would take for a bool, number, null or timestamp.
const AMBIGUOUS: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "007",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    "~",
    "null",
    "NULL",
    ".inf",
    "-.inf",
    ".nan",
    "1:20",
    "2026-11-23",
    "1234567",
    "",
];

/// The kubernetes-validate binary: `KUBERNETES_VALIDATE` (`make test` sets it to the one in its
/// venv), else on PATH. In CI (`CI` set) it must be there.
fn kubernetes_validate() -> Option<String> {
    if let Some(v) = std::env::var_os("KUBERNETES_VALIDATE") {
        return Some(v.to_string_lossy().into_owned());
    }
    let on_path = std::process::Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return Some("kubernetes-validate".into());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubernetes-validate is missing: `make test` installs it (target/venv)"
    );
    eprintln!("note: kubernetes-validate not found; run `make test` to check the schema too");
    None
}

#[test]
fn strings_that_look_like_other_types_are_written_quoted() {
    let repo = config_repo();
    let mut values = String::from("    values:\n      namespace: acme-dev\n      flags:\n");
    for (i, s) in AMBIGUOUS.iter().enumerate() {
        values.push_str(&format!(
            "        k{i}: {}\n",
            serde_json::to_string(s).unwrap()
        ));
    }
    let config = CONFIG.replace("    values:\n      namespace: acme-dev\n", &values);
    repo.write("promote.yaml", config);
    let mut cm = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: {{ values.namespace }}\n  labels:\n    version: {{ tag }}\n    quoted: \"{{ tag }}\"\ndata:\n",
    );
    let mut env = String::new();
    for i in 0..AMBIGUOUS.len() {
        cm.push_str(&format!("  k{i}: {{{{ values.flags.k{i} }}}}\n"));
        env.push_str(&format!(
            "            - name: K{i}\n              value: {{{{ values.flags.k{i} }}}}\n"
        ));
    }
    repo.write("templates/api/flags.yaml", cm);
    repo.write(
        "templates/api/deployment.yaml",
        template("api") + "          env:\n" + &env,
    );
    repo.commit_all("flags");
    repo.promote(&["set-image", "dev", "api=1234567", "web=a252dcc"])
        .ok();

    let rendered = repo.read("environments/dev/manifests/api-flags.yaml");
    for (i, s) in AMBIGUOUS.iter().enumerate() {
        assert!(
            rendered.contains(&format!("  k{i}: \"{s}\"\n")),
            "{s:?} not quoted:\n{rendered}"
        );
    }
    // Inside a larger scalar, or the template's own quotes, the value prints as it is.
    assert!(
        rendered.contains("    version: \"1234567\"\n"),
        "{rendered}"
    );
    assert!(rendered.contains("    quoted: \"1234567\"\n"), "{rendered}");
    let deployment = repo.read("environments/dev/manifests/api-deployment.yaml");
    assert!(
        deployment.contains("image: registry.example.com/acme/api:1234567\n"),
        "{deployment}"
    );
    // Every value reads back as the string it was.
    let doc: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
    for (i, s) in AMBIGUOUS.iter().enumerate() {
        assert_eq!(doc["data"][format!("k{i}")].as_str(), Some(*s));
    }
    repo.promote(&["check"]).ok();

    if let Some(validator) = kubernetes_validate() {
        let out = std::process::Command::new(validator)
            .args(["-k", "1.30", "--strict", "--quiet", "--no-warn"])
            .arg(repo.file("environments/dev/manifests/api-flags.yaml"))
            .arg(repo.file("environments/dev/manifests/api-deployment.yaml"))
            .output()
            .expect("run kubernetes-validate");
        assert!(
            out.status.success(),
            "kubernetes-validate rejects the manifests:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded rendering.

#[test]
fn a_template_that_runs_or_grows_without_bound_fails_naming_it() {
    let repo = config_repo();
    repo.write(
        "templates/api/loop.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loop\ndata:\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );
    repo.write(
        "templates/web/big.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: {% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}\n",
    );
    repo.commit_all("unbounded templates");
    // (Without a bound this would not finish; how fast the bound trips is for `make bench`.)
    let r = repo.refused(&["set-image", "dev", "--sha", "a252dcc"]);
    r.stderr_has("`templates/api/loop.yaml` (line 6): runs too long: it used up its budget of");
    r.stderr_has("`templates/web/big.yaml`: renders more than 64 MiB");
}

// ---------------------------------------------------------------------------------------------
// Only manifests are rendered.

#[test]
fn files_that_are_not_templates_are_not_rendered_and_check_says_so() {
    let repo = config_repo();
    repo.write("templates/api/README.md", "# api\nHow {{ this }} works.\n");
    repo.write("templates/api/notes.txt", "todo\n");
    repo.commit_all("docs beside the templates");
    repo.promote(&["set-image", "dev", "--sha", "a252dcc"]).ok();
    let names: Vec<String> = std::fs::read_dir(repo.file("environments/dev/manifests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with("-deployment.yaml")),
        "{names:?}"
    );
    let r = repo.promote(&["check"]).ok();
    for f in ["templates/api/README.md", "templates/api/notes.txt"] {
        r.stderr_has(&format!("note: `{f}` is not a manifest template"));
    }
}

#[test]
fn a_preview_log_that_fails_verification_is_not_built_on_and_verify_reports_it() {
    let repo = config_repo();
    repo.write("promote.yaml", format!("{CONFIG}previews: {{}}\n"));
    repo.commit_all("previews");
    repo.promote(&["preview", "up", "feature-x", "--sha", "a252dcc"])
        .ok();
    let log = "environments/prs/feature-x/deploy.log";
    let text = repo.read(log);
    repo.write(log, text.replace("a252dcc", "a252dcd"));
    repo.commit_all("tidy the preview log");
    let v = repo.promote(&["log", "--verify"]).expect(1);
    v.stderr_has(&format!("`{log}`"));
    v.stderr_has("(tidy the preview log) changed lines");
    let r = repo.refused(&["preview", "up", "feature-x", "--sha", "b3f1e2d"]);
    assert!(
        r.stderr.contains("refusing to change preview") && r.stderr.contains(log),
        "{}",
        r.stderr
    );
    // Taking the preview down (which removes its log) stays possible.
    repo.promote(&["preview", "down", "feature-x"]).ok();
}
