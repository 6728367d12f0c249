//! `--pr`: promotion by pull request against a real bare origin. The remote is configured by a
//! hosting's address (`https://github.com/acme/config.git`) that git's `insteadOf` rewrites to the
//! bare origin beside the work tree, so promote reads the hosting from the URL as it would for a
//! real remote while every push lands here. `gh` and `glab`, which would talk to a hosting's API,
//! are stand-in scripts on PATH that record their arguments and answer with a URL.

use std::path::{Path, PathBuf};

use crate::support::{executable, pod, Case, Repo, Run};

/// A config repo with services s1, s2 and dev -> staging -> prod (`prod_extra` is added under
/// prod), dev and staging at `v1`, prod at `v0`, pushed to origin, which is known as `url`.
fn setup(url: &str, prod_extra: &str) -> Repo {
    let repo = Case::native(&["s1", "s2"])
        .templates(&["s1", "s2"], "pod.yaml", pod)
        .config_append(prod_extra)
        .commit()
        .repo();
    // prod first gets 0000000 directly (before any `approval: pr` applies), then dev and staging move on.
    let cfg = repo.read("promote.yaml");
    repo.write("promote.yaml", cfg.replace("    approval: pr\n", ""));
    for env in ["dev", "staging", "prod"] {
        if env == "dev" {
            repo.promote(&["set-image", "dev", "--sha", "0000000"]).ok();
        } else {
            repo.promote(&["to", env]).ok();
        }
    }
    repo.write("promote.yaml", &cfg);
    repo.commit_all("approval");
    repo.promote(&["set-image", "dev", "--sha", "1111111"]).ok();
    repo.promote(&["to", "staging"]).ok();
    let origin = repo.base.join("origin.git");
    repo.git(&["remote", "set-url", "origin", url]);
    repo.git(&[
        "config",
        &format!("url.{}.insteadOf", origin.display()),
        url,
    ]);
    repo.git(&["push", "-q"]);
    repo
}

/// A directory of stand-in hosting CLIs, put first on PATH.
fn stand_ins(repo: &Repo) -> PathBuf {
    let bin = repo.base.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // `gh`: `pr view` answers from its state file, `pr create` opens pull request 1, `pr edit`
    // updates it; each call's arguments (one per line) and stdin are recorded.
    let gh = r#"#!/bin/sh
dir="$(dirname "$0")/.."
{ printf '%s\n' "$@"; echo "--"; } >> "$dir/gh.log"
case "$1 $2" in
  "pr view")
    if [ -f "$dir/gh.state" ]; then printf '{"url":"%s","state":"OPEN"}\n' "$(cat "$dir/gh.state")"
    else echo "no pull requests found for branch \"$3\"" >&2; exit 1; fi ;;
  "pr create") cat > "$dir/gh.body"; echo "https://github.com/acme/config/pull/1" > "$dir/gh.state"
    echo "https://github.com/acme/config/pull/1" ;;
  "pr edit") cat > "$dir/gh.body"; cat "$dir/gh.state" ;;
  *) echo "stand-in gh: unexpected $*" >&2; exit 2 ;;
esac
"#;
    let glab = r#"#!/bin/sh
dir="$(dirname "$0")/.."
{ printf '%s\n' "$@"; echo "--"; } >> "$dir/glab.log"
case "$1 $2" in
  "mr view")
    if [ -f "$dir/glab.state" ]; then printf '{"web_url":"%s","state":"opened"}\n' "$(cat "$dir/glab.state")"
    else echo "no open merge request available for \"$3\"" >&2; exit 1; fi ;;
  "mr create") echo "https://gitlab.example.com/acme/config/-/merge_requests/4" > "$dir/glab.state"
    echo "Creating merge request for $5 into $7"; cat "$dir/glab.state" ;;
  "mr update") cat "$dir/glab.state" ;;
  *) echo "stand-in glab: unexpected $*" >&2; exit 2 ;;
esac
"#;
    for (name, text) in [("gh", gh), ("glab", glab)] {
        executable(&bin.join(name), text);
    }
    bin
}

/// PATH with `bin` first (or without any stand-in).
fn path_with(bin: Option<&Path>) -> String {
    let sys = std::env::var("PATH").unwrap_or_default();
    match bin {
        Some(b) => format!("{}:{sys}", b.display()),
        None => sys,
    }
}

/// The commit a branch points at on origin.
fn on_origin(repo: &Repo, branch: &str) -> Option<String> {
    let out = repo.git(&[
        "ls-remote",
        "--heads",
        "origin",
        &format!("refs/heads/{branch}"),
    ]);
    out.split_whitespace().next().map(str::to_string)
}

/// What must stay exactly as it was in the user's checkout.
fn checkout_state(repo: &Repo) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        repo.head(),
        repo.git(&["symbolic-ref", "HEAD"]),
        repo.status(),
        repo.git(&["ls-files", "-s", "--", "environments"]),
        repo.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree"))
            .count()
    )
}

/// `promote args` with `path` as PATH, which must succeed with one JSON document on stdout.
fn json_with(repo: &Repo, path: &str, args: &[&str]) -> serde_json::Value {
    repo.promote_env(args, &[("PATH", path)]).ok().json()
}

const GITHUB: &str = "https://github.com/acme/config.git";

#[test]
fn pr_opens_with_gh_on_promotes_own_branch_and_leaves_the_checkout_alone() {
    let repo = setup(GITHUB, "");
    let bin = stand_ins(&repo);
    // Local work in progress elsewhere in the repo: untouched by --pr.
    repo.write("notes.txt", "draft\n");
    repo.write("README.md", "staged\n");
    repo.git(&["add", "README.md"]);
    let before = checkout_state(&repo);
    let prod_meta = repo.read("environments/prod/metadata.json");

    let path = path_with(Some(&bin));
    let run = repo
        .promote_env(
            &["to", "prod", "--pr", "--output", "json"],
            &[("PATH", &path)],
        )
        .ok();
    let v = Run::json(&run);
    assert_eq!(v["branch"], "promote/prod/from-staging", "{v}");
    assert_eq!(v["base"], "main");
    assert_eq!(v["state"], "created");
    assert_eq!(v["pr"]["url"], "https://github.com/acme/config/pull/1");
    assert_eq!(v["pr"]["via"], "gh");
    assert_eq!(v["changes"].as_array().unwrap().len(), 2, "{v}");
    let commit = v["commit"].as_str().unwrap().to_string();
    assert_eq!(
        on_origin(&repo, "promote/prod/from-staging").as_deref(),
        Some(commit.as_str())
    );

    // The user's checkout is exactly as it was.
    assert_eq!(checkout_state(&repo), before);
    assert_eq!(repo.read("environments/prod/metadata.json"), prod_meta);
    assert_eq!(repo.read("notes.txt"), "draft\n");

    // The commit is on top of origin/main and holds the manifests, the metadata and the record.
    repo.git(&["fetch", "-q", "origin"]);
    assert_eq!(
        repo.git(&["rev-parse", &format!("{commit}^")]).trim(),
        repo.git(&["rev-parse", "origin/main"]).trim()
    );
    let files = repo.git(&["diff-tree", "--no-commit-id", "--name-only", "-r", &commit]);
    assert_eq!(
        files,
        "environments/prod/deploy.log\nenvironments/prod/manifests/s1-pod.yaml\nenvironments/prod/manifests/s2-pod.yaml\nenvironments/prod/metadata.json\n"
    );
    let msg = repo.git(&["log", "-1", "--format=%B", &commit]);
    assert!(
        msg.starts_with("promote staging -> prod: s1 0000000 -> 1111111 (+1 more)"),
        "{msg}"
    );
    assert!(
        msg.contains("Promote-Request: {\"command\":\"to\",\"env\":\"prod\"}"),
        "{msg}"
    );

    // gh was asked for the branch's PR, then to create one into main, with title and body.
    let log = std::fs::read_to_string(repo.base.join("gh.log")).unwrap();
    assert_eq!(
        log,
        "pr\nview\npromote/prod/from-staging\n--repo\nacme/config\n--json\nurl,state\n--\n\
         pr\ncreate\n--repo\nacme/config\n--base\nmain\n--head\npromote/prod/from-staging\n--title\npromote staging -> prod: s1 0000000 -> 1111111 (+1 more)\n--body-file\n-\n--\n"
    );
    let body = std::fs::read_to_string(repo.base.join("gh.body")).unwrap();
    for want in [
        "Promotes **prod** to what **staging** runs",
        "| s1 | `0000000` | `1111111` |",
        "| s2 | `0000000` | `1111111` |",
        "**Gates**: none declared",
        "**Audit record**",
        "\"action\":\"promote\"",
        "**Rendered changes**: 4 files",
        "- `environments/prod/manifests/s1-pod.yaml` (+1 -1)",
        "promote pr refresh prod",
    ] {
        assert!(body.contains(want), "body lacks {want:?}:\n{body}");
    }
}

#[test]
fn running_the_same_request_again_changes_nothing_and_updates_the_same_pr() {
    let repo = setup(GITHUB, "");
    let bin = stand_ins(&repo);
    let path = path_with(Some(&bin));
    let first = json_with(&repo, &path, &["to", "prod", "--pr", "--output", "json"]);
    let sha = on_origin(&repo, "promote/prod/from-staging").unwrap();

    // A new time, a new actor: the same change all the same.
    let again = repo
        .promote_env(
            &["to", "prod", "--pr", "--output", "json"],
            &[
                ("PATH", &path),
                ("PROMOTE_NOW", "2026-11-24T09:00:00Z"),
                ("GIT_AUTHOR_NAME", "Other"),
            ],
        )
        .ok();
    let v = Run::json(&again);
    assert_eq!(v["state"], "unchanged", "{v}");
    assert_eq!(v["commit"], first["commit"]);
    assert_eq!(v["pushed"], false);
    assert_eq!(v["pr"]["url"], "https://github.com/acme/config/pull/1");
    // With `--output json`, stdout is the JSON document alone; its `state` says it.
    assert_eq!(again.stdout.trim_start().chars().next(), Some('{'));
    assert_eq!(on_origin(&repo, "promote/prod/from-staging").unwrap(), sha);
    let log = std::fs::read_to_string(repo.base.join("gh.log")).unwrap();
    assert_eq!(log.matches("\ncreate\n").count(), 1, "{log}");
    assert_eq!(
        log.matches("pr\nedit\n").count(),
        0,
        "an unchanged PR's description is left as it is:\n{log}"
    );

    // Staging moves on: the same request now asks for other versions, and the same branch is
    // rebuilt (force-pushed with a lease) and its PR updated.
    repo.promote(&["set-image", "dev", "--sha", "2222222"]).ok();
    repo.promote(&["to", "staging"]).ok();
    repo.git(&["push", "-q"]);
    let moved = json_with(&repo, &path, &["to", "prod", "--pr", "--output", "json"]);
    assert_eq!(moved["state"], "updated", "{moved}");
    assert_eq!(moved["changes"][0]["after"], "2222222");
    assert_eq!(moved["pr"]["url"], "https://github.com/acme/config/pull/1");
    assert_eq!(
        on_origin(&repo, "promote/prod/from-staging").as_deref(),
        moved["commit"].as_str()
    );
    let log = std::fs::read_to_string(repo.base.join("gh.log")).unwrap();
    assert_eq!(
        log.matches("\ncreate\n").count(),
        1,
        "one PR, updated:\n{log}"
    );
    assert_eq!(
        log.matches("pr\nedit\npromote/prod/from-staging\n").count(),
        1,
        "{log}"
    );
    let body = std::fs::read_to_string(repo.base.join("gh.body")).unwrap();
    assert!(body.contains("| s1 | `0000000` | `2222222` |"), "{body}");
}

#[test]
fn approval_pr_refuses_a_direct_commit_and_auto_opens_a_pr_only_where_required() {
    let repo = setup(GITHUB, "    approval: pr\n");
    let bin = stand_ins(&repo);
    let path = path_with(Some(&bin));
    let head = repo.head();
    let run = repo.promote(&["to", "prod"]).expect(1);
    run.stderr_has("`prod` takes changes by pull request only (`approval: pr` in `promote.yaml`): nothing was written");
    run.stderr_has("`promote to prod --pr`");
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    // Not with --push either, nor a rollback or a hold.
    // With --push, refused before the branch is moved onto a newer upstream head.
    repo.git(&["commit", "-q", "--allow-empty", "-m", "elsewhere"]);
    repo.git(&["push", "-q"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.promote(&["to", "prod", "--push"]).expect(1);
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    repo.git(&["merge", "-q", "--ff-only", "origin/main"]);
    let head = repo.head();
    repo.promote(&["hold", "prod", "--reason", "x"]).expect(1);
    assert_eq!(repo.head(), head);
    // The dry run still shows the diff.
    repo.promote(&["to", "prod", "--dry-run"]).ok();

    // `--pr=auto` (what `make promote/%` runs): staging takes direct commits...
    repo.promote(&["set-image", "dev", "--sha", "2222222"]).ok();
    let staging = repo
        .promote_env(&["to", "staging", "--pr=auto"], &[("PATH", &path)])
        .ok();
    staging.stdout_has("promote dev -> staging");
    assert_ne!(repo.head(), head, "committed locally");
    assert!(!repo.base.join("gh.log").exists(), "no PR for staging");
    repo.git(&["push", "-q"]);
    // ...and prod gets a pull request.
    let prod = json_with(
        &repo,
        &path,
        &["to", "prod", "--pr=auto", "--output", "json"],
    );
    assert_eq!(prod["branch"], "promote/prod/from-staging");
    assert_eq!(prod["state"], "created");
}

#[test]
fn gitlab_without_glab_opens_the_merge_request_with_push_options() {
    let url = "https://gitlab.example.com/acme/config.git";
    let repo = setup(url, "");
    let origin = repo.base.join("origin.git");
    let run = |args: &[&str]| {
        let r = std::process::Command::new("git")
            .current_dir(&origin)
            .args(args)
            .output()
            .unwrap();
        assert!(r.status.success());
    };
    run(&["config", "receive.advertisePushOptions", "true"]);
    // The hook records the push options and answers as GitLab does.
    let hook = origin.join("hooks/pre-receive");
    executable(
        &hook,
        "#!/bin/sh\ni=0\nwhile [ $i -lt \"${GIT_PUSH_OPTION_COUNT:-0}\" ]; do\n  eval \"echo \\\"\\$GIT_PUSH_OPTION_$i\\\"\" >> ../push-options.log\n  i=$((i+1))\ndone\ncat > /dev/null\necho\necho 'View merge request for promote/prod/from-staging:'\necho '  https://gitlab.example.com/acme/config/-/merge_requests/9'\n",
    );

    // A PATH without the stand-ins: no glab.
    let v = json_with(
        &repo,
        &path_with(None),
        &["to", "prod", "--pr", "--output", "json"],
    );
    assert_eq!(v["pr"]["via"], "push-options", "{v}");
    assert_eq!(
        v["pr"]["url"],
        "https://gitlab.example.com/acme/config/-/merge_requests/9"
    );
    let options = std::fs::read_to_string(repo.base.join("push-options.log")).unwrap();
    let lines: Vec<&str> = options.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "merge_request.create",
            "merge_request.target=main",
            "merge_request.title=promote staging -> prod: s1 0000000 -> 1111111 (+1 more)",
        ],
        "{options}"
    );
    assert!(
        lines[3].starts_with("merge_request.description=promote `prod`: s1: 0000000 -> 1111111, s2: 0000000 -> 1111111; audit record "),
        "{options}"
    );
    assert_eq!(lines.len(), 4, "{options}");
}

#[test]
fn gitlab_with_glab_creates_then_updates_the_merge_request() {
    let repo = setup("git@gitlab.example.com:acme/config.git", "");
    let bin = stand_ins(&repo);
    let path = path_with(Some(&bin));
    let v = json_with(&repo, &path, &["to", "prod", "--pr", "--output", "json"]);
    assert_eq!(v["pr"]["via"], "glab", "{v}");
    assert_eq!(
        v["pr"]["url"],
        "https://gitlab.example.com/acme/config/-/merge_requests/4"
    );
    let log = std::fs::read_to_string(repo.base.join("glab.log")).unwrap();
    assert!(
        log.starts_with("mr\nview\npromote/prod/from-staging\n--repo\ngitlab.example.com/acme/config\n--output\njson\n--\nmr\ncreate\n--repo\ngitlab.example.com/acme/config\n--source-branch\npromote/prod/from-staging\n--target-branch\nmain\n--title\npromote staging -> prod: s1 0000000 -> 1111111 (+1 more)\n--description\nPromotes **prod**"),
        "{log}"
    );
    // Staging moves on: the same request updates the same merge request.
    repo.promote(&["set-image", "dev", "--sha", "2222222"]).ok();
    repo.promote(&["to", "staging"]).ok();
    repo.git(&["push", "-q"]);
    repo.promote_env(&["to", "prod", "--pr"], &[("PATH", &path)])
        .ok();
    let log = std::fs::read_to_string(repo.base.join("glab.log")).unwrap();
    assert!(
        log.contains("--\nmr\nupdate\npromote/prod/from-staging\n--repo\ngitlab.example.com/acme/config\n--title\npromote staging -> prod: s1 0000000 -> 2222222 (+1 more)\n--description\nPromotes **prod**"),
        "{log}"
    );
    assert_eq!(log.matches("mr\ncreate").count(), 1);
}

#[test]
fn without_a_cli_the_address_that_opens_the_pr_is_printed() {
    for (url, want) in [
        ("git@bitbucket.org:acme/config.git", "https://bitbucket.org/acme/config/pull-requests/new?source=promote%2Fprod%2Ffrom-staging&dest=main"),
        ("ssh://git@github.com/acme/config.git", "https://github.com/acme/config/compare/main...promote%2Fprod%2Ffrom-staging?expand=1&title=promote%20staging%20-%3E%20prod%3A%20s1%200000000%20-%3E%201111111%20%28%2B1%20more%29\n"),
    ] {
        let repo = setup(url, "");
        let run = repo.promote_env(&["to", "prod", "--pr"], &[("PATH", &path_with(None))]).ok();
        run.stdout_has("pushed the new branch `promote/prod/from-staging`");
        assert!(run.stderr.contains(&format!("open the pull request (if one is not open already): {want}")), "{url}:\n{}", run.stderr);
    }
    // A host promote cannot tell: it says what to do, and how to name the hosting.
    let repo = setup("https://git.acme.example/platform/config.git", "");
    let run = repo
        .promote_env(&["to", "prod", "--pr"], &[("PATH", &path_with(None))])
        .ok();
    run.stderr_has("promote cannot tell which service");
    // Named in promote.yaml, it can.
    let cfg = repo.read("promote.yaml");
    repo.write("promote.yaml", format!("{cfg}hosting:\n  kind: gitea\n"));
    repo.commit_all("hosting");
    repo.git(&["push", "-q"]);
    let run = repo
        .promote_env(&["to", "prod", "--pr"], &[("PATH", &path_with(None))])
        .ok();
    run.stderr_has("https://git.acme.example/platform/config/compare/main...promote%2Fprod%2Ffrom-staging?title=");
}

#[test]
fn merging_the_pr_is_the_promotion_fast_forward_or_merge_commit() {
    for merge_commit in [false, true] {
        let repo = setup(GITHUB, "    approval: pr\n");
        let path = path_with(None);
        repo.promote_env(&["to", "prod", "--pr"], &[("PATH", &path)])
            .ok();
        repo.git(&["fetch", "-q", "origin"]);
        let base = repo.git(&["rev-parse", "origin/main"]).trim().to_string();
        if merge_commit {
            // main moves on with something unrelated; the PR is merged with a merge commit.
            repo.write("README.md", "config repo\n");
            repo.commit_all("readme");
            repo.git(&["push", "-q"]);
            repo.git(&[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge pull request #1",
                "origin/promote/prod/from-staging",
            ]);
            let check = repo.promote(&["check", "--base", "HEAD^1"]).ok();
            assert!(
                check
                    .stdout
                    .contains("valid promotions on `HEAD^1`: promote prod"),
                "{}",
                check.stdout
            );
        } else {
            repo.git(&[
                "merge",
                "-q",
                "--ff-only",
                "origin/promote/prod/from-staging",
            ]);
            let check = repo.promote(&["check", "--base", &base]).ok();
            check.stdout_has("valid promotions");
        }
        repo.promote(&["log", "--verify"]).ok();
        repo.promote(&["check"]).ok();
        let meta: serde_json::Value =
            serde_json::from_str(&repo.read("environments/prod/metadata.json")).unwrap();
        assert_eq!(meta["services"]["s1"]["version"], "1111111");
        repo.git(&["push", "-q"]);
        // Now in effect upstream: running the request again opens nothing and says so.
        let sha = on_origin(&repo, "promote/prod/from-staging");
        let again = repo
            .promote_env(&["to", "prod", "--pr"], &[("PATH", &path)])
            .ok();
        assert!(
            again
                .stdout
                .contains("nothing to change: `prod` already runs what was asked on `main`"),
            "{}",
            again.stdout
        );
        assert_eq!(
            on_origin(&repo, "promote/prod/from-staging"),
            sha,
            "the branch is left alone"
        );
    }
}

#[test]
fn a_stale_pr_is_detected_and_refreshed_on_the_new_base() {
    let repo = setup(GITHUB, "");
    let bin = stand_ins(&repo);
    let path = path_with(Some(&bin));
    let pr = json_with(
        &repo,
        &path,
        &["to", "prod", "--only", "s1", "--pr", "--output", "json"],
    );
    assert_eq!(pr["branch"], "promote/prod/from-staging-only-s1");
    let old = pr["commit"].as_str().unwrap().to_string();

    // Before it is merged, staging moves on, and the PR's merge result is no longer a valid
    // promotion: it would promote s1 1111111 while staging runs 2222222.
    repo.promote(&["set-image", "dev", "--sha", "2222222"]).ok();
    repo.promote(&["to", "staging"]).ok();
    repo.git(&["push", "-q"]);
    repo.git(&["fetch", "-q", "origin"]);
    let main = repo.head();
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "merge result",
        "origin/promote/prod/from-staging-only-s1",
    ]);
    let check = repo.promote(&["check", "--base", &main]).expect(1);
    check.stderr_has("promotes `s1` 1111111 into `prod`, but `staging` runs 2222222 now: the pull request is stale");
    check.stderr_has("promote pr refresh");
    repo.git(&["reset", "-q", "--hard", &main]);

    // Another promotion lands on main for prod itself (s2): the PR's deploy.log would conflict.
    repo.promote(&["to", "prod", "--only", "s2"]).ok();
    repo.git(&["push", "-q"]);

    let refreshed = json_with(&repo, &path, &["pr", "refresh", "prod", "--output", "json"]);
    let r = &refreshed[0];
    assert_eq!(
        r["branch"], "promote/prod/from-staging-only-s1",
        "{refreshed}"
    );
    assert_eq!(r["state"], "updated");
    assert_eq!(r["changes"][0]["after"], "2222222");
    let new = r["commit"].as_str().unwrap();
    assert_ne!(new, old);
    repo.git(&["fetch", "-q", "origin"]);
    assert_eq!(
        repo.git(&["rev-parse", &format!("{new}^")]).trim(),
        repo.git(&["rev-parse", "origin/main"]).trim(),
        "rebuilt on the new head"
    );
    // The text form says why.
    let again = repo
        .promote_env(
            &["pr", "refresh", "promote/prod/from-staging-only-s1"],
            &[("PATH", &path)],
        )
        .ok();
    assert!(
        again
            .stdout
            .contains("already holds this change on a valid base: nothing pushed"),
        "{}",
        again.stderr
    );

    // Merged now, the chain is intact.
    repo.git(&[
        "merge",
        "-q",
        "--ff-only",
        "origin/promote/prod/from-staging-only-s1",
    ]);
    repo.promote(&["log", "--verify"]).ok();
    repo.promote(&["check"]).ok();
    let log = repo.read("environments/prod/deploy.log");
    assert_eq!(log.lines().count(), 3, "{log}");
}

#[test]
fn pr_works_for_set_image_rollback_and_hold() {
    let repo = setup(GITHUB, "");
    let path = path_with(None);
    let v = json_with(
        &repo,
        &path,
        &[
            "set-image",
            "prod",
            "s2=abcdef1",
            "--pr",
            "--output",
            "json",
        ],
    );
    assert_eq!(v["branch"], "promote/prod/set-image-s2-abcdef1", "{v}");
    let v = json_with(
        &repo,
        &path,
        &[
            "hold",
            "prod",
            "--reason",
            "incident 42",
            "--pr",
            "--output",
            "json",
        ],
    );
    assert_eq!(v["branch"], "promote/prod/hold", "{v}");
    let msg = repo.git(&["log", "-1", "--format=%B", v["commit"].as_str().unwrap()]);
    assert!(msg.contains("Promote-Action: hold"), "{msg}");
    let v = json_with(
        &repo,
        &path,
        &["rollback", "staging", "--pr", "--output", "json"],
    );
    assert_eq!(v["branch"], "promote/staging/rollback", "{v}");
    assert_eq!(v["changes"][0]["after"], "0000000");
    // --pr and --push do not go together.
    repo.promote(&["to", "prod", "--pr", "--push"]).expect(2);
}

#[test]
fn make_promote_prod_opens_the_pr_where_approval_is_pr() {
    let repo = setup(GITHUB, "    approval: pr\n");
    let bin = stand_ins(&repo);
    let promote = env!("CARGO_BIN_EXE_promote");
    // The crate's own Makefile, whose promote/* targets are what a config repository's looks like;
    // `-o` keeps make from rebuilding the binary.
    let make = |target: &str| {
        let out = repo
            .command("make", &crate::support::crate_dir())
            .args(["--no-print-directory", "-o", promote, target])
            .arg(format!("PROMOTE={promote}"))
            .arg(format!("REPO={}", repo.path.display()))
            .env("PATH", path_with(Some(&bin)))
            .output()
            .expect("make");
        // Results on stdout, the rest on stderr: what make printed, both.
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "make {target}:\n{said}");
        said
    };
    let head = repo.head();
    let said = make("promote/prod");
    assert!(
        said.contains("opened the pull request (gh): https://github.com/acme/config/pull/1"),
        "{said}"
    );
    assert_eq!(repo.head(), head, "the checkout is not touched");
    assert!(on_origin(&repo, "promote/prod/from-staging").is_some());
    // Run again: the same PR, nothing pushed.
    let again = make("promote/prod");
    assert!(
        again.contains("already holds this change on a valid base"),
        "{again}"
    );
    assert!(
        again.contains("pull request (gh): https://github.com/acme/config/pull/1"),
        "{again}"
    );
}

#[test]
fn a_failing_gh_is_an_error_that_says_the_branch_is_pushed() {
    let repo = setup(GITHUB, "");
    let bin = repo.base.join("failing-bin");
    executable(
        &bin.join("gh"),
        "#!/bin/sh\necho 'To get started with GitHub CLI, please run:  gh auth login' >&2\nexit 4\n",
    );
    let run = repo
        .promote_env(&["to", "prod", "--pr"], &[("PATH", &path_with(Some(&bin)))])
        .expect(1);
    run.stderr_has(
        "`gh pr create` failed:\n  To get started with GitHub CLI, please run:  gh auth login",
    );
    run.stderr_has("hint: check `gh auth status`");
    run.stderr_has("hint: `promote/prod/from-staging` is pushed: open its pull request by hand: https://github.com/acme/config/compare/main...promote%2Fprod%2Ffrom-staging?expand=1&title=");
    assert!(on_origin(&repo, "promote/prod/from-staging").is_some());
}
