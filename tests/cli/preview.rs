//! `promote preview up|down|list|gc`: preview environments under `environments/prs/`, against real
//! repositories. The invariant every test checks one way or another: nothing outside the previews
//! directory ever changes.

use crate::snapshot;
use crate::support::{executable, redact, Case, Repo, Run, NOW};

const CONFIG: &str = "\
registry: r.example.com/acme
services:
  api:
  web:
values:
  domain: example.com
environments:
  dev:
    values:
      namespace: acme-dev
      host_prefix: dev.
      urls: {web: https://dev.example.com}
previews:
  values:
    domain: preview.example.com
    urls: {web: \"https://{slug}.preview.example.com\"}
";

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: {{ values.namespace }}
spec:
  template:
    spec:
      containers:
        - name: api
          image: {{ image }}
          env:
            - name: ENVIRONMENT
              value: {{ env }}
            - name: PUBLIC_URL
              value: {{ values.urls.web }}
";

const INGRESS: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: {{ values.namespace }}
spec:
  rules:
    - host: {{ values.host_prefix }}{{ values.domain }}
";

const PRS: &str = "environments/prs";

/// A config repo with `api` and `web`, `dev` deployed at 0000000 (files outside the previews directory
/// that must never change), pushed to its origin.
fn repo() -> Repo {
    Case::empty()
        .config(CONFIG)
        .file("templates/api/deployment.yaml", DEPLOYMENT)
        .file("templates/web/ingress.yaml", INGRESS)
        .commit()
        .then(&["set-image", "dev", "--sha", "0000000"])
        .push()
        .repo()
}

/// `promote preview up --sha SHA -- BRANCH` at time `now`.
fn up(repo: &Repo, branch: &str, sha: &str, now: &str) -> Run {
    repo.promote_env(
        &[
            "preview", "up", "--sha", sha, "--output", "json", "--", branch,
        ],
        &[("PROMOTE_NOW", now)],
    )
}

fn down(repo: &Repo, branch: &str) -> Run {
    repo.promote(&["preview", "down", "--", branch])
}

/// Every committed path and blob outside `environments/prs/`.
fn outside(repo: &Repo) -> String {
    repo.git(&["ls-tree", "-r", "HEAD"])
        .lines()
        .filter(|l| {
            !l.split('\t')
                .nth(1)
                .unwrap_or("")
                .starts_with("environments/prs/")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each record's `prev` is the SHA-256 of the line before it (the first: zeros).
fn assert_chained(text: &str) {
    let mut prev = "0".repeat(64);
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["prev"], prev.as_str(), "{text}");
        prev = promote::model::audit::sha256_hex(line.as_bytes());
    }
}

#[test]
fn up_creates_a_preview_in_one_commit_that_touches_nothing_else() {
    let repo = repo();
    let before = outside(&repo);
    let head = repo.head();
    let r = up(&repo, "feature/Login_page", "a252dcc", NOW).ok();
    let v = Run::json(&r);
    assert_eq!(v["previews"][0]["slug"], "feature-login-page");
    assert_eq!(v["previews"][0]["namespace"], "pr-feature-login-page");
    assert_eq!(
        v["previews"][0]["urls"]["web"],
        "https://feature-login-page.preview.example.com"
    );
    assert_eq!(v["commit"], repo.head().as_str());

    // One commit, on top of the old head, holding the preview's directory only.
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), head);
    assert_eq!(outside(&repo), before);
    assert_eq!(repo.status(), "");
    let dir = format!("{PRS}/feature-login-page");
    assert_eq!(
        repo.last_commit_paths(),
        vec![
            format!("{dir}/deploy.log"),
            format!("{dir}/manifests/api-deployment.yaml"),
            format!("{dir}/manifests/web-ingress.yaml"),
            format!("{dir}/metadata.json"),
        ]
    );

    let deployment = repo.read(&format!("{dir}/manifests/api-deployment.yaml"));
    assert!(
        deployment.contains("namespace: pr-feature-login-page\n"),
        "{deployment}"
    );
    assert!(
        deployment.contains("image: r.example.com/acme/api:a252dcc\n"),
        "{deployment}"
    );
    assert!(
        deployment.contains("value: pr-feature-login-page\n"),
        "{deployment}"
    );
    let ingress = repo.read(&format!("{dir}/manifests/web-ingress.yaml"));
    assert!(
        ingress.contains("host: feature-login-page.preview.example.com\n"),
        "{ingress}"
    );

    let log = repo.read(&format!("{dir}/deploy.log"));
    let recs = records(&log);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["action"], "preview-up");
    assert_eq!(recs[0]["env"], "pr-feature-login-page");
    assert_chained(&log);

    snapshot!(
        "preview/up-metadata.json",
        &redact(&repo, &repo.read(&format!("{dir}/metadata.json"))),
    );
    snapshot!(
        "preview/up-commit.txt",
        &redact(
            &repo,
            &repo.git(&["show", "--stat", "--format=%s%n%n%b", "HEAD"]),
        ),
    );
    assert_eq!(
        r.stderr, "",
        "with `--output json`, stdout holds the JSON and nothing else"
    );
}

#[test]
fn up_again_updates_the_preview_in_place() {
    let repo = repo();
    let dir = format!("{PRS}/feature-x");
    up(&repo, "feature-x", "1111111", "2026-11-20T10:00:00Z").ok();
    let meta1: serde_json::Value =
        serde_json::from_str(&repo.read(&format!("{dir}/metadata.json"))).unwrap();

    // A template that the first preview rendered is gone by the second `up`: its manifest goes too.
    repo.git(&["rm", "-q", "templates/web/ingress.yaml"]);
    repo.commit_all("no ingress");
    repo.git(&["push", "-q"]);
    let before = outside(&repo);
    let r = up(&repo, "feature-x", "2222222", "2026-11-21T10:00:00Z").ok();
    let v = Run::json(&r);
    assert_eq!(
        v["previews"][0]["changes"][0],
        serde_json::json!({"service": "api", "before": "1111111", "after": "2222222"})
    );
    assert_eq!(outside(&repo), before);
    let mut paths = repo.last_commit_paths();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            format!("{dir}/deploy.log"),
            format!("{dir}/manifests/api-deployment.yaml"),
            format!("{dir}/manifests/web-ingress.yaml"),
            format!("{dir}/metadata.json"),
        ]
    );
    assert!(!repo.exists(&format!("{dir}/manifests/web-ingress.yaml")));
    assert!(repo
        .read(&format!("{dir}/manifests/api-deployment.yaml"))
        .contains("api:2222222"));

    let meta2: serde_json::Value =
        serde_json::from_str(&repo.read(&format!("{dir}/metadata.json"))).unwrap();
    assert_eq!(meta2["created"], meta1["created"], "created stays");
    assert_eq!(meta2["created"], "2026-11-20T10:00:00Z");
    assert_eq!(meta2["updated"], "2026-11-21T10:00:00Z");
    assert_eq!(meta2["services"]["web"]["version"], "2222222");
    let log = repo.read(&format!("{dir}/deploy.log"));
    assert_eq!(records(&log).len(), 2);
    assert_chained(&log);
    assert_eq!(
        meta2["audit_head"],
        promote::model::audit::sha256_hex(log.lines().last().unwrap().as_bytes()).as_str()
    );

    // The same SHA again: nothing to change, no commit.
    let head = repo.head();
    let r = repo
        .promote(&["preview", "up", "feature-x", "--sha", "2222222"])
        .ok();
    r.stdout_has("nothing to change: the preview of `feature-x` already runs 2222222");
    assert_eq!(repo.head(), head);
}

#[test]
fn down_removes_the_preview_and_records_it_outside_it() {
    let repo = repo();
    up(&repo, "feature/a", "a252dcc", NOW).ok();
    let before = outside(&repo);
    let head = repo.head();
    let r = repo
        .promote(&["preview", "down", "feature/a", "-m", "PR #7 merged"])
        .ok();
    r.stdout_has("preview down pr-feature-a");
    assert_eq!(
        repo.git(&["rev-parse", "HEAD~1"]).trim(),
        head,
        "one commit"
    );
    assert_eq!(outside(&repo), before);
    assert_eq!(repo.status(), "");
    assert!(!repo.exists(&format!("{PRS}/feature-a")));
    for p in repo.last_commit_paths() {
        assert!(
            p.starts_with(&format!("{PRS}/feature-a/")) || p == format!("{PRS}/deploy.log"),
            "{p}"
        );
    }
    let log = repo.read(&format!("{PRS}/deploy.log"));
    let recs = records(&log);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["action"], "preview-down");
    assert_eq!(recs[0]["env"], "pr-feature-a");
    assert_eq!(recs[0]["message"], "PR #7 merged");
    assert_eq!(
        recs[0]["changes"][0],
        serde_json::json!({"service": "api", "before": "a252dcc", "after": null})
    );
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.contains(
            "Promote-Action: preview-down\nPromote-Env: pr-feature-a\nPromote-Branch: feature/a\n"
        ),
        "{msg}"
    );

    // Again: already gone, nothing to do, success.
    let r = down(&repo, "feature/a").ok();
    r.stdout_has("nothing to remove: branch `feature/a` has no preview");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]).trim(), head);
}

#[test]
fn list_shows_every_preview() {
    let repo = repo();
    repo.promote(&["preview", "list"]).ok();
    up(&repo, "feature/login", "a252dcc", "2026-11-20T09:00:00Z").ok();
    up(&repo, "fix/typo", "b3f1e2d", "2026-11-21T09:00:00Z").ok();
    up(&repo, "feature/login", "c0ffee1", "2026-11-22T09:00:00Z").ok();
    up(
        &repo,
        "dependabot/npm_and_yarn/lodash-4.17.21",
        "d00d00d",
        "2026-11-23T09:00:00Z",
    )
    .ok();
    let text = repo.promote(&["preview", "list"]).ok();
    snapshot!("preview/list.txt", &text.stdout);
    let j = repo.promote(&["preview", "list", "--output", "json"]).ok();
    snapshot!("preview/list.json", &j.stdout);
    let v = Run::json(&j);
    assert_eq!(v["previews"].as_array().unwrap().len(), 3);
}

#[test]
fn gc_removes_previews_older_than_the_limit_in_one_commit() {
    let repo = repo();
    up(&repo, "old", "1111111", "2026-11-01T10:00:00Z").ok();
    up(&repo, "older", "2222222", "2026-10-01T10:00:00Z").ok();
    up(&repo, "recent", "3333333", "2026-11-20T10:00:00Z").ok();
    // `old` was created long ago but updated recently: it stays.
    up(&repo, "old", "4444444", "2026-11-19T10:00:00Z").ok();
    let before = outside(&repo);
    let head = repo.head();

    let gc = |now: &str| {
        repo.promote_env(
            &["preview", "gc", "--older-than", "14d"],
            &[("PROMOTE_NOW", now)],
        )
    };
    let r = gc("2026-11-23T10:00:00Z").ok();
    r.stdout_has("preview gc: remove pr-older");
    assert_eq!(
        repo.git(&["rev-parse", "HEAD~1"]).trim(),
        head,
        "one commit"
    );
    assert!(!repo.exists(&format!("{PRS}/older")));
    assert!(repo.exists(&format!("{PRS}/old/metadata.json")));
    assert!(repo.exists(&format!("{PRS}/recent/metadata.json")));
    assert_eq!(outside(&repo), before);

    // Twelve days later `old` and `recent` are both past the limit: one commit removes both.
    let head = repo.head();
    let r = gc("2026-12-05T10:00:00Z").ok();
    r.stdout_has("(+1 more)");
    assert_eq!(
        repo.git(&["rev-parse", "HEAD~1"]).trim(),
        head,
        "one commit"
    );
    assert!(!repo.exists(&format!("{PRS}/old")));
    assert!(!repo.exists(&format!("{PRS}/recent")));
    assert_eq!(outside(&repo), before);
    let log = repo.read(&format!("{PRS}/deploy.log"));
    let recs = records(&log);
    let envs: Vec<&str> = recs.iter().map(|r| r["env"].as_str().unwrap()).collect();
    assert_eq!(envs, vec!["pr-older", "pr-old", "pr-recent"]);
    assert!(
        recs[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("gc: not updated for 53d0h (since 2026-10-01T10:00:00Z)"),
        "{}",
        recs[0]
    );
    assert_chained(&log);

    // Nothing left to collect: no commit.
    let head = repo.head();
    let r = gc("2026-12-31T10:00:00Z").ok();
    r.stdout_has("nothing to remove: no preview is stale");
    assert_eq!(repo.head(), head);
}

#[test]
fn gc_keeps_only_the_listed_branches() {
    let repo = repo();
    for b in [
        "main-feature",
        "feature/gone",
        "feature/kept",
        "fix/gone-too",
    ] {
        up(&repo, b, "a252dcc", NOW).ok();
    }
    let before = outside(&repo);

    // Nothing is removed without a reason; an empty list is refused.
    let r = repo.promote(&["preview", "gc"]).expect(2);
    r.stderr_has("--older-than");
    let head = repo.head();
    let r = repo
        .promote_stdin(&["preview", "gc", "--keep-file", "-"], "\n", &[])
        .expect(1);
    r.stderr_has("stdin names no branch: every preview would be removed");
    assert_eq!(repo.head(), head);

    // `--dry-run` lists, changes nothing.
    let r = repo
        .promote(&[
            "preview",
            "gc",
            "--keep",
            "main-feature",
            "feature/kept",
            "--dry-run",
        ])
        .ok();
    r.stdout_has("pr-feature-gone  branch `feature/gone`");
    r.stdout_has("delete environments/prs/fix-gone-too/metadata.json");
    assert_eq!(repo.head(), head);

    // The output of `git ls-remote --heads origin` works as it is.
    let heads = "\
1111111111111111111111111111111111111111\trefs/heads/main-feature
2222222222222222222222222222222222222222\trefs/heads/feature/kept
";
    let r = repo
        .promote_stdin(
            &["preview", "gc", "--keep-file", "-", "--output", "json"],
            heads,
            &[],
        )
        .ok();
    let v = Run::json(&r);
    let gone: Vec<&str> = v["previews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["branch"].as_str().unwrap())
        .collect();
    assert_eq!(gone, vec!["feature/gone", "fix/gone-too"]);
    assert_eq!(
        repo.git(&["rev-parse", "HEAD~1"]).trim(),
        head,
        "one commit"
    );
    assert_eq!(outside(&repo), before);
    let left = Run::json(&repo.promote(&["preview", "list", "--output", "json"]).ok());
    let left: Vec<&str> = left["previews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["branch"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec!["feature/kept", "main-feature"]);

    // A file works too, and so does `--keep`.
    repo.write("../heads.txt", "main-feature\n");
    let r = repo
        .promote(&[
            "preview",
            "gc",
            "--keep-file",
            "../heads.txt",
            "--keep",
            "nothing",
        ])
        .ok();
    r.stdout_has("preview gc: remove pr-feature-kept");
    assert_eq!(outside(&repo), before);
    let log = repo.read(&format!("{PRS}/deploy.log"));
    assert_eq!(records(&log).len(), 3);
    assert_chained(&log);
}

#[test]
fn hostile_branch_names_get_a_safe_slug_or_a_clear_error() {
    let repo = repo();
    let start_outside = outside(&repo);
    let long = "x".repeat(300);
    let long_unicode = "é".repeat(150);
    let names: Vec<&str> = vec![
        "../../prod",
        "../../../../../../tmp/evil",
        "--help",
        "-rf",
        "a;rm -rf /",
        "$(touch pwned)",
        "`id`",
        "日本語",
        "🚀🚀",
        &long,
        &long_unicode,
        "",
        " ",
        "---",
        ".",
        "..",
        "/",
        "//etc/passwd",
        ".git",
        "environments/dev/manifests",
        "deploy.log",
        "manifests",
        "%2e%2e%2f",
        "C:\\Windows\\System32",
        "a\nPromote-Action: promote",
        "tab\there",
        "feature/Ünïcödé",
        "UPPER/Case",
        "*",
        "~root",
        "\u{202e}evil",
    ];
    let mut table = String::new();
    let mut slugs = std::collections::BTreeSet::new();
    for name in &names {
        let before = outside(&repo);
        let head = repo.head();
        let r = up(&repo, name, "a252dcc", NOW);
        assert_eq!(outside(&repo), before, "{name:?}");
        assert_eq!(repo.status(), "", "{name:?}");
        let shown = format!("{name:?}");
        let shown = if shown.chars().count() > 48 {
            format!("{}...\"", shown.chars().take(44).collect::<String>())
        } else {
            shown
        };
        if r.code != 0 {
            assert_eq!(r.code, 1, "{name:?}: {}", r.stderr);
            assert!(r.stderr.starts_with("error: "), "{name:?}: {}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{name:?}: {}", r.stderr);
            assert_eq!(repo.head(), head, "{name:?}: no commit");
            table.push_str(&format!(
                "{shown:50} error: {}\n",
                r.stderr
                    .lines()
                    .next()
                    .unwrap()
                    .trim_start_matches("error: ")
            ));
            continue;
        }
        let v = Run::json(&r);
        let slug = v["previews"][0]["slug"].as_str().unwrap().to_string();
        assert!(
            promote::model::slug::is_valid(&slug),
            "{name:?} -> {slug:?}"
        );
        assert!(format!("pr-{slug}").len() <= 63, "{name:?} -> {slug:?}");
        assert!(
            slugs.insert(slug.clone()),
            "{name:?}: slug `{slug}` is shared"
        );
        assert_eq!(v["previews"][0]["branch"], *name);
        for p in repo.last_commit_paths() {
            assert!(
                p.starts_with(&format!("{PRS}/{slug}/")),
                "{name:?} wrote {p}"
            );
        }
        let meta: serde_json::Value =
            serde_json::from_str(&repo.read(&format!("{PRS}/{slug}/metadata.json"))).unwrap();
        assert_eq!(meta["branch"], *name);
        table.push_str(&format!("{shown:50} {slug}\n"));
    }
    assert!(!repo.exists("pwned") && !repo.base.join("tmp").exists());
    snapshot!("preview/hostile-branches.txt", &table);

    // Every one of them can be taken down again, and the tree ends as it began.
    for name in &names {
        let r = down(&repo, name);
        if name.trim().is_empty() || name.contains('\n') || name.contains('\t') {
            r.expect(1);
        } else {
            r.ok();
        }
    }
    assert_eq!(outside(&repo), start_outside);
    let left: Vec<String> = repo
        .git(&["ls-files", PRS])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(left, vec![format!("{PRS}/deploy.log")]);
}

#[test]
fn branches_that_read_alike_never_share_a_preview() {
    let repo = repo();
    let a = Run::json(&up(&repo, "feature/a", "1111111", NOW).ok());
    let b = Run::json(&up(&repo, "Feature-A", "2222222", NOW).ok());
    let (sa, sb) = (
        a["previews"][0]["slug"].as_str().unwrap(),
        b["previews"][0]["slug"].as_str().unwrap(),
    );
    assert_eq!(sa, "feature-a");
    assert!(
        sb.starts_with("feature-a-") && sb.len() == "feature-a-".len() + 8,
        "{sb}"
    );
    // Each branch finds its own preview again.
    let b2 = Run::json(&up(&repo, "Feature-A", "3333333", NOW).ok());
    assert_eq!(b2["previews"][0]["slug"], sb);
    down(&repo, "feature/a").ok();
    assert!(!repo.exists(&format!("{PRS}/feature-a")));
    assert!(repo
        .read(&format!("{PRS}/{sb}/manifests/api-deployment.yaml"))
        .contains("api:3333333"));
    // The readable name is free again, but `Feature-A` keeps the preview it has.
    let b3 = Run::json(&up(&repo, "Feature-A", "4444444", NOW).ok());
    assert_eq!(b3["previews"][0]["slug"], sb);
}

#[test]
fn directories_and_links_in_the_way_are_refused() {
    let repo = repo();
    repo.write(&format!("{PRS}/squatter/README.md"), "not a preview\n");
    std::os::unix::fs::symlink("../dev", repo.file(&format!("{PRS}/evil"))).unwrap();
    repo.commit_all("things in the way");
    let before = outside(&repo);
    let head = repo.head();

    let r = up(&repo, "squatter", "a252dcc", NOW).expect(1);
    r.stderr_has("`environments/prs/squatter` is in the way of branch `squatter`'s preview: it has no `metadata.json`");
    let r = up(&repo, "evil", "a252dcc", NOW).expect(1);
    r.stderr_has("`environments/prs/evil` is in the way");
    let r = down(&repo, "evil").ok();
    r.stdout_has("has no preview");
    assert_eq!(repo.head(), head);
    assert_eq!(outside(&repo), before);
    let r = repo.promote(&["preview", "list"]).ok();
    r.stderr_has("warning: `environments/prs/squatter` is not a preview");
    let r = repo.promote(&["preview", "gc", "--keep", "nothing"]).ok();
    r.stdout_has("nothing to remove");
    assert!(repo.exists(&format!("{PRS}/squatter/README.md")));

    // The previews directory itself a link into an environment: refused before anything is written.
    repo.git(&["rm", "-rq", PRS]);
    std::os::unix::fs::symlink("dev", repo.file(PRS)).unwrap();
    repo.commit_all("prs is a link");
    let before = outside(&repo);
    let head = repo.head();
    let r = up(&repo, "feature", "a252dcc", NOW).expect(1);
    r.stderr_has("`environments/prs` is a symbolic link");
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    assert_eq!(outside(&repo), before);
}

#[test]
fn a_failed_render_or_a_dirty_preview_changes_nothing() {
    let repo = repo();
    repo.write(
        "templates/web/ingress.yaml",
        INGRESS.replace("values.domain", "values.preview_domain"),
    );
    repo.commit_all("typo");
    let head = repo.head();
    let r = up(&repo, "feature/x", "a252dcc", NOW).expect(1);
    r.stderr_has("cannot render preview `pr-feature-x` (branch `feature/x`)");
    r.stderr_has(
        "`templates/web/ingress.yaml` (line 8): uses undefined value `values.preview_domain`",
    );
    r.stderr_has("hint: set it under `previews.values`");
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");

    repo.write("templates/web/ingress.yaml", INGRESS);
    repo.commit_all("fixed");
    up(&repo, "feature/x", "a252dcc", NOW).ok();
    repo.write(
        &format!("{PRS}/feature-x/manifests/web-ingress.yaml"),
        "hand edit\n",
    );
    let head = repo.head();
    let r = up(&repo, "feature/x", "b3f1e2d", NOW).expect(1);
    r.stderr_has("the previews have uncommitted changes");
    let r = down(&repo, "feature/x").expect(1);
    r.stderr_has("uncommitted changes");
    assert_eq!(repo.head(), head);
    assert_eq!(
        repo.read(&format!("{PRS}/feature-x/manifests/web-ingress.yaml")),
        "hand edit\n"
    );
}

#[test]
fn previews_must_be_configured_and_the_sha_valid() {
    let repo = repo();
    let r = up(&repo, "feature/x", "not-a-sha", NOW).expect(1);
    r.stderr_has("--sha: `not-a-sha` is not a git SHA");
    repo.write("promote.yaml", CONFIG.split("previews:").next().unwrap());
    repo.commit_all("no previews");
    let r = up(&repo, "feature/x", "a252dcc", NOW).expect(1);
    r.stderr_has("previews are not configured");
    r.stderr_has("hint: add `previews: {}`");
}

#[test]
fn up_with_push_retries_when_another_pipeline_pushes_first() {
    let repo = repo();
    let other = repo.base.join("other");
    repo.git(&["clone", "-q", "../origin.git", other.to_str().unwrap()]);
    // The first time `repo` pushes, another pipeline pushes to origin first.
    let hook = format!(
        "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n[ -e '{marker}' ] && exit 0\ntouch '{marker}'\ncd '{other}' && echo x > other.txt && git add other.txt && git commit -qm other && git push -q\n",
        marker = repo.base.join("raced").display(),
        other = other.display()
    );
    executable(&repo.file(".git/hooks/pre-push"), &hook);

    let r = repo
        .promote_env(
            &[
                "preview",
                "up",
                "feature/x",
                "--sha",
                "a252dcc",
                "--push",
                "--output",
                "json",
            ],
            &[("PROMOTE_PUSH_BACKOFF_MS", "10")],
        )
        .ok();
    let v = Run::json(&r);
    assert_eq!(v["pushed"], true);
    assert_eq!(v["retries"], 1, "{}", r.stderr);
    r.stderr_has("push rejected");
    repo.git(&["fetch", "-q"]);
    assert_eq!(repo.head(), repo.git(&["rev-parse", "origin/main"]).trim());
    assert!(
        repo.exists("other.txt"),
        "the other pipeline's change is kept"
    );
    assert_eq!(
        repo.git(&["rev-list", "--count", "--merges", "HEAD"])
            .trim(),
        "0"
    );

    let r = repo
        .promote(&["preview", "down", "feature/x", "--push"])
        .ok();
    r.stdout_has("pushed");
    repo.git(&["fetch", "-q"]);
    assert_eq!(repo.head(), repo.git(&["rev-parse", "origin/main"]).trim());
    let r = repo
        .promote(&["preview", "down", "feature/x", "--push"])
        .ok();
    r.stdout_has("has no preview upstream");
}

#[test]
fn legacy_layout_previews_render_their_own_sed_templates() {
    let repo = Repo::new();
    repo.write(
        "promote.yaml",
        "layout: legacy\nregistry: r.example.com/acme\nplaceholders:\n  COMMIT_SHA: version\n  NAMESPACE_PLACEHOLDER: namespace\nservices:\n  api:\nenvironments:\n  dev:\n    values: {namespace: acme-dev}\npreviews:\n  templates: preview\n",
    );
    let tpl = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\n  namespace: NAMESPACE_PLACEHOLDER\nspec:\n  containers:\n    - name: api\n      image: r.example.com/acme/api:COMMIT_SHA\n";
    repo.write("dev/api-pod.yaml.tpl", tpl);
    repo.write("preview/api-pod.yaml.tpl", tpl);
    repo.commit_all("legacy");
    let before = outside(&repo);
    up(&repo, "feature/legacy", "a252dcc", NOW).ok();
    let pod = repo.read(&format!("{PRS}/feature-legacy/manifests/api-pod.yaml"));
    assert_eq!(
        pod,
        tpl.replace("NAMESPACE_PLACEHOLDER", "pr-feature-legacy")
            .replace("COMMIT_SHA", "a252dcc")
    );
    assert_eq!(outside(&repo), before);
}

#[test]
fn the_bundled_example_renders_a_preview_and_stays_clean() {
    let repo = Repo::example();
    let before = outside(&repo);
    let v = Run::json(&up(&repo, "feature/checkout-v2", "a252dcc", NOW).ok());
    assert_eq!(
        v["previews"][0]["urls"]["web"],
        "https://feature-checkout-v2.preview.acme.example"
    );
    assert_eq!(outside(&repo), before);
    let dir = format!("{PRS}/feature-checkout-v2/manifests");
    let files: Vec<String> = repo
        .git(&["ls-files", &dir])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let text = repo.read(f);
        assert!(
            text.contains("namespace: pr-feature-checkout-v2\n"),
            "{f}:\n{text}"
        );
        assert!(!text.contains("namespace: acme-"), "{f}:\n{text}");
    }
    let ingress = repo.read(&format!("{dir}/web-ingress.yaml"));
    assert!(
        ingress.contains("host: feature-checkout-v2.preview.acme.example"),
        "{ingress}"
    );
    // The environments are untouched: `check` and `render --check` still pass.
    repo.promote(&["check"]).ok();
    repo.promote(&["render", "--check"]).ok();
    down(&repo, "feature/checkout-v2").ok();
    assert_eq!(outside(&repo), before);
}
