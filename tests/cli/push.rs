//! `--push` against a real bare origin: concurrent pipelines, lost races, retries.

use std::process::Command;

use crate::support::{pod, Case, Repo};

/// A config repo with `n` services (s1..sn), one environment `dev` at version 0000000, pushed.
fn repo_with_services(n: usize) -> Repo {
    let names: Vec<String> = (1..=n).map(|i| format!("s{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cfg = String::from("registry: r.example.com/acme\nservices:\n");
    for svc in &names {
        cfg.push_str(&format!("  {svc}:\n"));
    }
    cfg.push_str("environments:\n  dev:\n    values: {namespace: dev}\n  staging:\n    from: dev\n    values: {namespace: staging}\n");
    Case::empty()
        .config(&cfg)
        .templates(&names, "pod.yaml", pod)
        .commit()
        .then(&["set-image", "dev", "--sha", "0000000"])
        .push()
        .repo()
}

/// A second clone of the same origin, with its own identity.
fn clone(repo: &Repo, name: &str) -> std::path::PathBuf {
    let dir = repo.base.join(name);
    let r = repo.git_run(&["clone", "-q", "../origin.git", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    dir
}

/// The `promote` command in `dir`, hermetic like the harness, with fast retries.
fn promote_cmd(repo: &Repo, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_promote"), dir);
    cmd.args(args)
        // Each pipeline commits at its own time, as in CI.
        .env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE")
        .env("GIT_AUTHOR_NAME", "CI Bot")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "CI Bot")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .env("PROMOTE_PUSH_BACKOFF_MS", "50")
        .env("PROMOTE_PUSH_ATTEMPTS", "20");
    cmd
}

/// A fresh clone of origin, to look at what landed.
fn origin_state(repo: &Repo, name: &str) -> Repo {
    let dir = clone(repo, name);
    let mut view = Repo::new();
    view.path = dir;
    view
}

#[test]
fn eight_concurrent_pushers_all_land() {
    let repo = repo_with_services(8);
    let dirs: Vec<_> = (1..=8).map(|i| clone(&repo, &format!("ci{i}"))).collect();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let pair = format!("s{}={:07x}", i + 1, (i + 1) * 0x1111111);
            promote_cmd(
                &repo,
                dir,
                &["set-image", "dev", &pair, "--push", "--output", "json"],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut retries = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["pushed"], true, "{v}");
        retries += v["retries"].as_u64().unwrap();
    }
    // Eight writers, one branch: every one but the first to push lost at least one race.
    assert!(retries >= 1, "no push was retried: the test did not race");

    let view = origin_state(&repo, "verify");
    let meta: serde_json::Value =
        serde_json::from_str(&view.read("environments/dev/metadata.json")).unwrap();
    for i in 1..=8 {
        assert_eq!(
            meta["services"][format!("s{i}")]["version"],
            format!("{:07x}", i * 0x1111111),
            "s{i}"
        );
    }
    let log = view.read("environments/dev/deploy.log");
    assert_eq!(
        log.lines().count(),
        9,
        "one set-image before, 8 now:\n{log}"
    );
    view.promote(&["log", "--verify"]).ok();
    view.promote(&["check"]).ok();
    // One commit per pusher on top of the seed, no merges.
    let count = view.git(&["rev-list", "--count", "--merges", "HEAD"]);
    assert_eq!(count.trim(), "0");
}

#[test]
fn two_pushers_on_one_service_end_in_the_last_logged_state() {
    let repo = repo_with_services(2);
    let a = clone(&repo, "a");
    let b = clone(&repo, "b");
    let ca = promote_cmd(&repo, &a, &["set-image", "dev", "s1=aaaaaaa", "--push"]).output();
    let cb = promote_cmd(&repo, &b, &["set-image", "dev", "s1=bbbbbbb", "--push"]).output();
    assert!(ca.unwrap().status.success());
    assert!(cb.unwrap().status.success());
    let view = origin_state(&repo, "verify");
    let records = view.records("dev").split_off(1);
    assert_eq!(records.len(), 2, "both changes are recorded");
    let last = records[1]["changes"][0]["after"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(view.version("dev", "s1"), last);
    let manifest = view.read("environments/dev/manifests/s1-pod.yaml");
    assert!(
        manifest.contains(&format!("r.example.com/acme/s1:{last}")),
        "{manifest}"
    );
    view.promote(&["log", "--verify"]).ok();
}

#[test]
fn concurrent_pushers_race_for_real() {
    // Two processes started together on the same service: both land, in some order, and the
    // second record's `before` is the first one's `after` (re-planned on the new head, not stale).
    let repo = repo_with_services(1);
    let a = clone(&repo, "a");
    let b = clone(&repo, "b");
    let pa = promote_cmd(&repo, &a, &["set-image", "dev", "s1=aaaaaaa", "--push"])
        .spawn()
        .unwrap();
    let pb = promote_cmd(&repo, &b, &["set-image", "dev", "s1=bbbbbbb", "--push"])
        .spawn()
        .unwrap();
    assert!(pa.wait_with_output().unwrap().status.success());
    assert!(pb.wait_with_output().unwrap().status.success());
    let view = origin_state(&repo, "verify");
    let records = view.records("dev").split_off(1);
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1]["changes"][0]["before"],
        records[0]["changes"][0]["after"]
    );
    let meta: serde_json::Value =
        serde_json::from_str(&view.read("environments/dev/metadata.json")).unwrap();
    assert_eq!(
        meta["services"]["s1"]["version"],
        records[1]["changes"][0]["after"]
    );
}

#[test]
fn a_request_already_in_effect_upstream_is_a_no_op() {
    let repo = repo_with_services(2);
    let a = clone(&repo, "a");
    let b = clone(&repo, "b");
    assert!(promote_cmd(
        &repo,
        &a,
        &["set-image", "dev", "--sha", "1234567", "--push"]
    )
    .status()
    .unwrap()
    .success());
    // `b` is behind: it fetches first and finds the versions already there.
    let out = promote_cmd(
        &repo,
        &b,
        &["set-image", "dev", "--sha", "1234567", "--push"],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already runs these versions upstream"));
    let view = origin_state(&repo, "verify");
    assert_eq!(view.read("environments/dev/deploy.log").lines().count(), 2);
}

#[test]
fn exhausted_retries_leave_the_clone_consistent() {
    let repo = repo_with_services(2);
    let racer = clone(&repo, "racer");
    let ci = clone(&repo, "ci");
    // Every time `ci` is about to push, another pipeline pushes first.
    let hook = format!(
        "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\ncd '{}' && git pull -q --rebase && git commit -q --allow-empty -m other && git push -q\n",
        racer.display()
    );
    let hook_path = ci.join(".git/hooks/pre-push");
    std::fs::write(&hook_path, hook).unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&hook_path)
        .status()
        .unwrap();
    let out = promote_cmd(&repo, &ci, &["set-image", "dev", "s1=ccccccc", "--push"])
        .env("PROMOTE_PUSH_ATTEMPTS", "3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gave up after 3 attempts"), "{stderr}");
    assert!(stderr.contains("committed locally"), "{stderr}");

    // The clone holds one whole change on top of what it last fetched: clean, verifiable, checkable.
    let mut local = Repo::new();
    local.path = ci.clone();
    assert_eq!(local.status(), "");
    let parent = local.git(&["rev-parse", "HEAD~1"]);
    let fetched = local.git(&["rev-parse", "origin/main"]);
    assert_eq!(parent, fetched);
    local.promote(&["log", "--verify"]).ok();
    local.promote(&["check"]).ok();
    let meta: serde_json::Value =
        serde_json::from_str(&local.read("environments/dev/metadata.json")).unwrap();
    assert_eq!(meta["services"]["s1"]["version"], "ccccccc");
}

#[test]
fn push_needs_an_upstream_and_refuses_unpushed_commits() {
    let repo = repo_with_services(1);
    repo.write("notes.txt", "local work\n");
    repo.commit_all("unpushed");
    let r = repo
        .promote(&["set-image", "dev", "s1=ddddddd", "--push"])
        .expect(1);
    r.stderr_has("`--push` would publish them too");
    repo.git(&["branch", "--unset-upstream"]);
    let r = repo
        .promote(&["set-image", "dev", "s1=ddddddd", "--push"])
        .expect(1);
    r.stderr_has("has no upstream");
}
