//! Rollback, hold, and promotion gates, with a pinned clock.

use crate::support::{Case, Repo};

const DAY1: &str = "2026-11-23T10:00:00Z"; // a Monday
const DAY1_LATER: &str = "2026-11-23T15:00:00Z";
const DAY2: &str = "2026-11-24T11:00:00Z";
const SATURDAY: &str = "2026-11-28T12:00:00Z";

/// api and web, dev -> staging -> prod; prod has the gates given as YAML (indented under `gates:`).
fn repo(prod_gates: &str) -> Repo {
    Case::native(&["api", "web"])
        .config_append(&format!("    gates:\n{prod_gates}"))
        .commit()
        .repo()
}

/// `repo(prod_gates)` with 1111111 in dev and staging since DAY1.
fn in_staging(prod_gates: &str) -> Repo {
    let repo = repo(prod_gates);
    repo.at(DAY1, &["set-image", "dev", "--sha", "1111111"])
        .ok();
    repo.at(DAY1, &["to", "staging"]).ok();
    repo
}

fn last_record(repo: &Repo, env: &str) -> serde_json::Value {
    repo.records(env).pop().unwrap()
}

#[test]
fn rollback_of_a_promotion_and_of_the_rollback() {
    let repo = in_staging("      {}\n");
    repo.at(DAY1, &["set-image", "dev", "api=2222222"]).ok();
    repo.at(DAY1, &["to", "staging"]).ok();
    assert_eq!(repo.version("staging", "api"), "2222222");

    let r = repo
        .at(
            DAY2,
            &["rollback", "staging", "-m", "api 2222222 leaks memory"],
        )
        .ok();
    r.stderr_has("promote hold staging");
    assert_eq!(repo.version("staging", "api"), "1111111");
    assert_eq!(repo.version("staging", "web"), "1111111");
    let rec = last_record(&repo, "staging");
    assert_eq!(rec["action"], "rollback");
    assert_eq!(
        rec["changes"],
        serde_json::json!([{"service": "api", "before": "2222222", "after": "1111111"}])
    );
    assert!(repo
        .read("environments/staging/manifests/api-deployment.yaml")
        .contains("r.example.com/acme/api:1111111"));
    assert!(repo
        .git(&["log", "-1", "--format=%B"])
        .contains("Promote-Rollback-To:"));

    // A rollback is itself rollback-able.
    repo.at(DAY2, &["rollback", "staging"]).ok();
    assert_eq!(repo.version("staging", "api"), "2222222");
    repo.promote(&["log", "--verify"]).ok();
    repo.promote(&["check"]).ok();
    assert_eq!(repo.status(), "");
}

#[test]
fn rollback_to_a_record_and_to_before_a_service_existed() {
    let repo = repo("      {}\n");
    repo.at(DAY1, &["set-image", "dev", "api=1111111"]).ok();
    let first = last_record(&repo, "dev")["id"]
        .as_str()
        .unwrap()
        .to_string();
    repo.at(DAY1, &["set-image", "dev", "api=2222222", "web=2222222"])
        .ok();
    repo.at(DAY1, &["set-image", "dev", "api=3333333"]).ok();
    assert!(repo.exists("environments/dev/manifests/web-deployment.yaml"));

    // web arrived after that record: the rollback removes it, only when asked to.
    let r = repo
        .at(DAY2, &["rollback", "dev", "--to", &first[..8]])
        .expect(1);
    r.stderr_has("--allow-remove");
    assert!(repo.exists("environments/dev/manifests/web-deployment.yaml"));
    repo.at(
        DAY2,
        &["rollback", "dev", "--to", &first[..8], "--allow-remove"],
    )
    .ok();
    assert_eq!(repo.version("dev", "api"), "1111111");
    // web arrived after that record: it is gone again, manifests and all.
    assert_eq!(repo.version("dev", "web"), "");
    assert!(!repo.exists("environments/dev/manifests/web-deployment.yaml"));
    assert_eq!(last_record(&repo, "dev")["target"], first.as_str());

    let r = repo
        .at(DAY2, &["rollback", "dev", "--to", "ffffffff"])
        .expect(1);
    r.stderr_has("no record `ffffffff`");
    let r = repo.at(DAY2, &["rollback", "dev", "--dry-run"]).ok();
    r.stdout_has("+          image: r.example.com/acme/api:3333333");
}

#[test]
fn soak_gate_refuses_then_passes() {
    let repo = in_staging("      soak: 24h\n");
    let head = repo.head();
    let r = repo.at(DAY1_LATER, &["to", "prod"]).expect(1);
    r.stderr_has("gate `soak` holds `api`: it has run in `staging` for 5h00m of the 1d0h required; it passes at 2026-11-24T10:00:00Z");
    assert_eq!(repo.head(), head, "nothing committed");
    assert_eq!(repo.status(), "");
    // status says which gate holds the waiting versions, and until when.
    let s = repo.at(DAY1_LATER, &["status"]).ok();
    s.stdout_has("prod: gate `soak` holds `web`");
    repo.at(DAY2, &["to", "prod"]).ok();
    assert_eq!(repo.version("prod", "api"), "1111111");
}

#[test]
fn freeze_windows_refuse_with_the_end_of_the_window() {
    let repo = in_staging("      freeze:\n        - days: [sat, sun]\n        - from: 2026-12-20\n          until: 2027-01-04\n          reason: year-end\n");
    let r = repo.at(SATURDAY, &["to", "prod"]).expect(1);
    r.stderr_has("gate `freeze`: `prod` is frozen (sat, sun); it passes at 2026-11-30T00:00:00Z");
    let r = repo.at("2026-12-24T09:00:00Z", &["to", "prod"]).expect(1);
    r.stderr_has("(2026-12-20 to 2027-01-04 (year-end)); it passes at 2027-01-04T00:00:00Z");
    // Staging has no gates; set-image into prod is frozen too.
    let r = repo
        .at(SATURDAY, &["set-image", "prod", "api=9999999"])
        .expect(1);
    r.stderr_has("gate `freeze`");
    repo.at("2026-11-30T09:00:00Z", &["to", "prod"]).ok();
}

#[test]
fn hold_stops_promotions_until_unhold() {
    let repo = in_staging("      {}\n");
    repo.at(DAY1, &["hold", "prod", "--reason", "incident 42"])
        .ok();
    let meta: serde_json::Value =
        serde_json::from_str(&repo.read("environments/prod/metadata.json")).unwrap();
    assert_eq!(meta["hold"]["reason"], "incident 42");
    let r = repo.at(DAY1, &["to", "prod"]).expect(1);
    r.stderr_has("gate `hold`: `prod` is on hold since 2026-11-23T10:00:00Z by Jane Doe <jane@example.com>: incident 42");
    repo.at(DAY1, &["unhold", "prod", "-m", "resolved"]).ok();
    repo.at(DAY1, &["to", "prod"]).ok();
    assert_eq!(last_record(&repo, "prod")["action"], "promote");
    repo.promote(&["log", "--verify"]).ok();
}

#[test]
fn command_gate_output_is_shown_and_its_exit_code_decides() {
    let repo = repo("      command: ./smoke.sh\n");
    repo.write(
        "smoke.sh",
        "#!/bin/sh\necho \"smoke test for $PROMOTE_ENV: $PROMOTE_VERSIONS\"\ntest -f pass\n",
    );
    std::process::Command::new("chmod")
        .args(["+x", repo.file("smoke.sh").to_str().unwrap()])
        .status()
        .unwrap();
    repo.commit_all("smoke test");
    repo.at(DAY1, &["set-image", "dev", "--sha", "1111111"])
        .ok();
    repo.at(DAY1, &["to", "staging"]).ok();
    let r = repo.at(DAY1, &["to", "prod"]).expect(1);
    r.stderr_has("smoke test for prod: api=1111111 web=1111111");
    r.stderr_has("gate `command`: `./smoke.sh` exited with 1");
    std::fs::write(repo.file("pass"), "").unwrap();
    let r = repo.at(DAY1, &["to", "prod"]).ok();
    r.stderr_has("smoke test for prod");
}

#[test]
fn an_override_is_recorded_loudly() {
    let repo = in_staging("      soak: 24h\n");
    let r = repo
        .at(DAY1_LATER, &["to", "prod", "--override-gates"])
        .expect(2);
    r.stderr_has("--message <REASON>");
    let r = repo
        .at(
            DAY1_LATER,
            &["to", "prod", "--override-gates", "--reason", "CVE fix"],
        )
        .ok();
    r.stderr_has("GATES OVERRIDDEN");
    let rec = last_record(&repo, "prod");
    assert_eq!(
        rec["gates_overridden"],
        "CVE fix [overrode: soak (api), soak (web)]"
    );
    assert!(repo
        .git(&["log", "-1", "--format=%B"])
        .contains("Promote-Gates-Overridden: CVE fix"));
}
