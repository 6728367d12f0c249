//! The command line as a whole (#19): the output policy (results on stdout, the rest on stderr,
//! `-q`, `-v`, `--output json`), `promote help`, one vocabulary of flags, validated environment
//! variables, hints that follow the pipeline, and precise messages for an unusual repository.

use serde_json::Value;

use crate::support::Repo;

/// The bundled example, with its history committed and pushed.
fn example() -> Repo {
    Repo::example()
}

/// The lines of `s` (for a readable assertion on the number of lines).
fn lines(s: &str) -> usize {
    s.lines().count()
}

// ---------------------------------------------------------------------------------------------
// The output policy.

#[test]
fn a_change_reports_its_commit_on_stdout_so_it_can_be_captured() {
    let repo = example();
    let r = repo.promote(&["to", "staging"]).ok();
    let head = repo.head();
    assert!(
        r.stdout
            .starts_with(&format!("[{}] promote dev -> staging: ", &head[..7])),
        "{}",
        r.stdout
    );
    r.stdout_has("\n  api: 8d41b07 -> c71e5d2\n");
    assert_eq!(r.stderr, "", "nothing but the result was printed");

    // `-v`: the files of the commit too.
    let r = repo.promote(&["to", "prod", "-v", "--only", "api"]).ok();
    let wrote: Vec<String> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("  wrote "))
        .map(String::from)
        .collect();
    assert!(wrote.len() > 2, "{}", r.stdout);
    assert_eq!(
        wrote,
        repo.git(&["show", "--format=", "--name-only", "HEAD"])
            .lines()
            .map(|l| format!("  wrote {l}"))
            .collect::<Vec<_>>()
    );

    // Nothing left to promote: the result says so, on stdout too.
    let r = repo.promote(&["to", "staging"]).ok();
    assert_eq!(
        r.stdout,
        "nothing to promote: `staging` already runs these versions\n"
    );
    assert_eq!(r.stderr, "");
}

#[test]
fn quiet_prints_only_the_data_asked_for_and_errors() {
    let repo = example();
    let r = repo.promote(&["-q", "to", "staging"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    assert!(repo
        .git(&["log", "-1", "--format=%s"])
        .starts_with("promote dev -> staging"));

    // Data a command exists to show is printed whatever `-q` says.
    let r = repo.promote(&["diff", "prod", "--quiet"]).ok();
    r.stdout_has("promote staging -> prod");
    let r = repo.promote(&["status", "-q"]).ok();
    assert!(r.stdout.starts_with("SERVICE"), "{}", r.stdout);

    // Errors are never silenced.
    let r = repo.promote(&["-q", "to", "nowhere"]).expect(1);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);

    // `-q` and `-v` contradict each other.
    let r = repo.promote(&["-q", "-v", "status"]).expect(2);
    r.stderr_has("cannot be used with");
}

#[test]
fn with_output_json_stdout_is_one_json_document_and_nothing_else() {
    let repo = example();
    let commands: &[&[&str]] = &[
        &["status", "--output", "json"],
        &["log", "--output", "json"],
        &["log", "--verify", "--output", "json"],
        &["preview", "list", "--output", "json"],
        &["diff", "prod", "--output", "json"],
        &["config", "--output", "json"],
        &["check", "--output", "json"],
        &["render", "--check", "--output", "json"],
        &[
            "set-image",
            "dev",
            "api=1234567",
            "--dry-run",
            "--output",
            "json",
        ],
        &["hold", "prod", "--reason", "incident", "--output", "json"],
        &["unhold", "prod", "--reason", "fixed", "--output", "json"],
        &["to", "staging", "--output", "json"],
        &["rollback", "staging", "--output", "json"],
    ];
    for args in commands {
        let r = repo.promote(args).ok();
        let v: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}):\n{}", r.stdout));
        assert!(v.is_object() || v.is_array(), "{args:?}");
        assert_eq!(r.stderr, "", "{args:?}");
    }

    // `init` in an empty repository writes the bundled example, and says so in JSON.
    let empty = Repo::new();
    let r = empty.promote(&["init", "--output", "json"]).ok();
    let v: Value = serde_json::from_str(&r.stdout).expect(&r.stdout);
    assert_eq!(
        (v["adopted"].clone(), v["dry_run"].clone()),
        ("example".into(), false.into())
    );
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "promote.yaml"),
        "{v}"
    );
    assert!(empty.exists("promote.yaml"));
}

#[test]
fn verbose_lists_what_a_summary_leaves_out() {
    let repo = example();
    // A new template for every service makes the render write 6+ files in each environment.
    for svc in ["api", "web", "worker", "scribe", "gateway"] {
        repo.write(
            &format!("templates/{svc}/note.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ service }}-note\ndata:\n  env: {{ env }}\n",
        );
    }
    repo.commit_all("a note per service");
    // A dry run lists every file (it is the data asked for), writes nothing, and exits 0.
    let r = repo.promote(&["render", "--dry-run"]).ok();
    assert_eq!(lines(&r.stdout), 15, "{}", r.stdout);
    r.stderr_has("15 of 73 files would change");
    assert_eq!(repo.status(), "");
    let r = repo.promote(&["render"]).ok();
    assert_eq!(lines(&r.stdout), 12, "{}", r.stdout);
    assert!(
        r.stdout.ends_with(
            "created environments/staging/manifests/worker-note.yaml\n... and 5 more (`-v` lists them all)\nrendered 73 files: 15 changed, 58 unchanged\n"
        ),
        "{}",
        r.stdout
    );

    // With `-v`, every file.
    repo.git(&["reset", "-q", "--hard"]);
    repo.git(&["clean", "-qfd"]);
    let r = repo.promote(&["render", "-v"]).ok();
    assert_eq!(lines(&r.stdout), 16, "{}", r.stdout);
    assert!(r
        .stdout
        .contains("created environments/prod/manifests/worker-note.yaml\n"));
}

#[test]
fn help_is_a_subcommand_and_every_help_fits_a_screen_with_an_example() {
    let repo = example();
    let top = repo.promote(&["--help"]).ok();
    assert!(
        lines(&top.stdout) <= 40,
        "{} lines:\n{}",
        lines(&top.stdout),
        top.stdout
    );
    top.stdout_has("Example");

    let cmds: &[&[&str]] = &[
        &["render"],
        &["check"],
        &["config"],
        &["to"],
        &["set-image"],
        &["rollback"],
        &["hold"],
        &["unhold"],
        &["diff"],
        &["status"],
        &["log"],
        &["preview"],
        &["preview", "up"],
        &["preview", "down"],
        &["preview", "list"],
        &["preview", "gc"],
        &["init"],
        &["migrate"],
        &["pr"],
        &["pr", "refresh"],
    ];
    for cmd in cmds {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = repo.promote(&args).ok();
        assert!(
            lines(&r.stdout) <= 40,
            "`promote {}` help has {} lines:\n{}",
            cmd.join(" "),
            lines(&r.stdout),
            r.stdout
        );
        assert!(
            r.stdout.contains("Example"),
            "`promote {}` help shows no example:\n{}",
            cmd.join(" "),
            r.stdout
        );
        // `promote help <cmd>` prints the same.
        let mut help = vec!["help"];
        help.extend_from_slice(cmd);
        let h = repo.promote(&help).ok();
        assert_eq!(h.stdout, r.stdout, "promote help {}", cmd.join(" "));
    }
}

#[test]
fn progress_is_drawn_only_when_asked_or_on_a_terminal() {
    let repo = example();
    // Not a terminal: no progress at all.
    let r = repo.promote(&["check"]).ok();
    r.stderr_lacks("progress");
    // `PROMOTE_PROGRESS=1`: a line per step on stderr, the result still on stdout.
    let r = repo
        .promote_env(&["check"], &[("PROMOTE_PROGRESS", "1")])
        .ok();
    assert_eq!(
        r.stderr,
        "progress: check [1/3] checking `dev`\nprogress: check [2/3] checking `staging`\nprogress: check [3/3] checking `prod`\n"
    );
    assert_eq!(r.stdout, "checked 3 environments: no problems\n");
    // Never with `-q` or `--output json`.
    let r = repo
        .promote_env(&["-q", "check"], &[("PROMOTE_PROGRESS", "1")])
        .ok();
    assert_eq!(r.stderr, "");
    let r = repo
        .promote_env(&["check", "--output", "json"], &[("PROMOTE_PROGRESS", "1")])
        .ok();
    assert_eq!(r.stderr, "");
}

// ---------------------------------------------------------------------------------------------
// One vocabulary.

/// The commit subject and the reason recorded in the last deploy.log record of `env`.
fn recorded(repo: &Repo, env: &str) -> (String, Value) {
    let log = repo.read(&format!("environments/{env}/deploy.log"));
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    (
        repo.git(&["log", "-1", "--format=%s"]).trim().to_string(),
        last["message"].clone(),
    )
}

#[test]
fn message_and_reason_are_one_flag_wherever_a_reason_is_recorded() {
    let repo = example();
    repo.promote(&["hold", "prod", "-m", "incident 42"]).ok();
    assert_eq!(recorded(&repo, "prod").1, "incident 42");
    repo.promote(&["unhold", "prod", "--reason", "fixed"]).ok();
    assert_eq!(recorded(&repo, "prod").1, "fixed");
    repo.promote(&["hold", "prod", "--message", "again"]).ok();
    repo.promote(&["unhold", "prod", "-m", "over"]).ok();
    repo.promote(&["to", "staging", "--reason", "release 42"])
        .ok();
    assert_eq!(recorded(&repo, "staging").1, "release 42");
    repo.promote(&["rollback", "staging", "--reason", "leaks memory"])
        .ok();
    assert_eq!(recorded(&repo, "staging").1, "leaks memory");

    // Both spellings at once: one flag given twice.
    let r = repo
        .promote(&["hold", "prod", "-m", "a", "--reason", "b"])
        .expect(2);
    r.stderr_has("cannot be used multiple times");
}

#[test]
fn empty_reasons_are_refused_and_a_hold_needs_one() {
    let repo = example();
    let head = repo.head();
    for args in [
        &["hold", "prod", "--reason", ""][..],
        &["hold", "prod", "-m", "  "],
        &["unhold", "prod", "-m", ""],
        &["to", "staging", "-m", ""],
        &["preview", "down", "x", "--reason", ""],
    ] {
        let r = repo.promote(args).expect(2);
        assert!(
            r.stderr.contains("a reason cannot be empty"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = repo.promote(&["hold", "prod"]).expect(2);
    assert_eq!(
        r.stderr,
        "error: `promote hold prod` needs a reason\nhint: say why, for whoever it stops: `promote hold prod -m \"incident 42\"` (`--reason` is the same)\n"
    );
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
}

#[test]
fn hold_and_unhold_have_a_dry_run() {
    let repo = example();
    let head = repo.head();
    let r = repo
        .promote(&["hold", "prod", "-m", "incident 42", "--dry-run"])
        .ok();
    assert!(r.stdout.starts_with("hold prod: "), "{}", r.stdout);
    r.stdout_has("environments/prod/metadata.json");
    assert_eq!((repo.head(), repo.status()), (head.clone(), String::new()));

    repo.promote(&["hold", "prod", "-m", "incident 42"]).ok();
    let held = repo.head();
    let r = repo.promote(&["unhold", "prod", "--dry-run"]).ok();
    assert!(r.stdout.starts_with("unhold prod: "), "{}", r.stdout);
    assert_eq!((repo.head(), repo.status()), (held, String::new()));
}

#[test]
fn a_service_given_twice_is_refused() {
    let repo = example();
    let head = repo.head();
    let r = repo
        .promote(&[
            "set-image",
            "dev",
            "api=1111111",
            "web=2222222",
            "api=3333333",
        ])
        .expect(2);
    assert_eq!(
        r.stderr,
        "error: `api` is given twice: `api=1111111` and `api=3333333`\nhint: give each service one version: keep `api=1111111` or `api=3333333`\n"
    );
    assert_eq!(repo.head(), head);
}

#[test]
fn every_environment_variable_is_validated() {
    let repo = example();
    for (k, v) in [
        ("PROMOTE_LOCK_WAIT", "abc"),
        ("PROMOTE_PUSH_ATTEMPTS", "0"),
        ("PROMOTE_PUSH_BACKOFF_MS", "soon"),
        ("PROMOTE_NOW", "yesterday"),
        ("PROMOTE_PROGRESS", "auto"),
        ("PROMOTE_COMMIT", "yes"),
        ("PROMOTE_TRACE", "on"),
    ] {
        let r = repo.promote_env(&["status"], &[(k, v)]).expect(2);
        assert!(
            r.stderr
                .starts_with(&format!("error: `{k}={v}` is not valid: it takes ")),
            "{}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }
    let r = repo
        .promote_env(&["to", "staging"], &[("PROMOTE_LOCK_WAIT", "abc")])
        .expect(2);
    assert_eq!(
        r.stderr,
        "error: `PROMOTE_LOCK_WAIT=abc` is not valid: it takes seconds, from 0 to 3600 (e.g. `30` or `0.5`)\nhint: set it to such a value, or unset it (`unset PROMOTE_LOCK_WAIT`)\n"
    );
    // Empty is unset.
    repo.promote_env(&["status"], &[("PROMOTE_LOCK_WAIT", "")])
        .ok();
}

#[test]
fn log_n_0_shows_no_record_and_says_nothing_else() {
    let repo = example();
    let r = repo.promote(&["log", "-n", "0"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    let r = repo.promote(&["log", "-n", "0", "--output", "json"]).ok();
    assert_eq!(r.stdout, "[]\n");
    let r = repo.promote(&["log", "-n", "1"]).ok();
    assert_eq!(r.stdout.lines().filter(|l| !l.starts_with(' ')).count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Precise messages for an unusual place to run.

#[test]
fn a_missing_directory_is_named_as_missing() {
    let repo = example();
    let r = repo
        .promote(&["-C", "/nonexistent/dir", "status"])
        .expect(1);
    assert_eq!(
        r.stderr,
        "error: `/nonexistent/dir`: no such directory\nhint: `-C` takes the config repository's directory (or one inside it); check the path\n"
    );
    let r = repo.promote(&["-C", "promote.yaml", "status"]).expect(1);
    assert!(
        r.stderr
            .starts_with("error: `promote.yaml` is a file, not a directory\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_empty_repository_says_it_has_no_commits() {
    let repo = example();
    // The same files in a repository with no commit yet.
    std::fs::remove_dir_all(repo.file(".git")).unwrap();
    repo.git(&["init", "-q", "-b", "main"]);
    let r = repo
        .promote(&["set-image", "dev", "--sha", "1234567"])
        .expect(1);
    assert_eq!(
        r.stderr,
        "error: the repository has no commits yet: promote commits its change on top of the committed config repository\nhint: commit the config repository first: `git add -A && git commit -m \"config repository\"`\n"
    );
    assert!(repo
        .git(&["status", "--porcelain"])
        .lines()
        .all(|l| l.starts_with("??")));
    // Render would overwrite files git has never seen: the same reason, said for render.
    let original = repo.read("environments/dev/manifests/api-deployment.yaml");
    repo.write(
        "environments/dev/manifests/api-deployment.yaml",
        "hand edit\n",
    );
    let r = repo.promote(&["render"]).expect(1);
    assert!(
        r.stderr.starts_with("error: the repository has no commits yet: promote overwrites only files whose content git holds\n"),
        "{}",
        r.stderr
    );
    assert_eq!(
        repo.read("environments/dev/manifests/api-deployment.yaml"),
        "hand edit\n"
    );
    repo.write("environments/dev/manifests/api-deployment.yaml", original);
    // Reading works: status, and a dry run.
    repo.promote(&["status"]).ok();
    repo.promote(&["set-image", "dev", "--sha", "1234567", "--dry-run"])
        .ok();
}

#[test]
fn a_detached_head_is_refused_before_anything_is_written() {
    let repo = example();
    let head = repo.head();
    repo.git(&["checkout", "-q", "--detach"]);
    for args in [
        &["to", "staging"][..],
        &["set-image", "dev", "api=1234567"],
        &["hold", "prod", "-m", "x"],
    ] {
        let r = repo.promote(args).expect(1);
        assert_eq!(
            r.stderr,
            format!("error: HEAD is detached (at {}): a commit here would be on no branch, and easily lost\nhint: switch to the branch to commit on (`git switch main`), or make one here (`git switch -c <branch>`)\n", &head[..7]),
            "{args:?}"
        );
    }
    assert_eq!((repo.head(), repo.status()), (head, String::new()));
    // A dry run still shows the change.
    let r = repo.promote(&["to", "staging", "--dry-run"]).ok();
    assert!(
        r.stdout.starts_with("promote dev -> staging"),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Hints that follow the pipeline, path settings, grouped errors.

#[test]
fn hints_follow_the_pipeline() {
    let repo = Repo::new();
    repo.promote(&["init"]).ok();
    repo.commit_all("the bundled example, no version anywhere");
    repo.promote(&["set-image", "dev", "--sha", "1234567"]).ok();

    let r = repo.promote(&["diff", "prod"]).expect(1);
    assert_eq!(
        r.stderr,
        "error: `staging` runs no versions yet: there is nothing to promote from it\nhint: promote into it first: `promote to staging` (it takes from `dev`)\n"
    );
    let r = repo.promote(&["to", "prod", "--only", "api"]).expect(1);
    r.stderr_has("hint: promote into it first: `promote to staging`");

    // The start of the pipeline is set directly.
    let repo = Repo::new();
    repo.promote(&["init"]).ok();
    repo.commit_all("the bundled example");
    let r = repo.promote(&["diff", "staging"]).expect(1);
    assert!(
        r.stderr.ends_with("hint: set them first: `promote set-image dev --sha <sha>` (the start of the pipeline)\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_metadata_path_that_would_nest_an_environment_in_itself_is_refused() {
    let repo = example();
    let config = repo.read("promote.yaml");
    let edited = config.replacen(
        "  dev:\n    values:\n",
        "  dev:\n    metadata: environments/dev/state.json\n    values:\n",
        1,
    );
    assert_ne!(config, edited);
    repo.write("promote.yaml", &edited);
    let line = edited
        .lines()
        .position(|l| l.contains("metadata: environments/dev/state.json"))
        .unwrap()
        + 1;
    let r = repo.promote(&["status"]).expect(1);
    r.stderr_has("`metadata: environments/dev/state.json` is relative to the environment's `dir` (`environments/dev`): it would be `environments/dev/environments/dev/state.json`, inside the environment inside itself; write `metadata: state.json`");
    r.stderr_has(&format!("line {line}"));
    assert!(!repo.exists("environments/dev/environments"));
}

#[test]
fn a_template_error_is_reported_once_naming_the_environments_it_fails_in() {
    let repo = example();
    let t = repo.read("templates/worker/deployment.yaml");
    let broken = t.replacen("{{ image }}", "{{ image }}{{ values.missing }}", 1);
    assert_ne!(t, broken);
    repo.write("templates/worker/deployment.yaml", &broken);
    repo.commit_all("a broken template");

    for args in [&["render"][..], &["check"]] {
        let r = repo.promote(args).expect(1);
        let all = format!("{}{}", r.stdout, r.stderr);
        let hits: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("values.missing"))
            .collect();
        assert_eq!(hits.len(), 1, "{args:?}: {all}");
        assert!(
            hits[0]
                .ends_with("uses undefined value `values.missing` (in `dev`, `staging`, `prod`)"),
            "{args:?}: {all}"
        );
        assert!(
            all.contains("set it under `environments.<env>.values` (or the shared `values`)"),
            "{args:?}: {all}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A repository of many services: a summary, not a line per service.

/// A sed-templated repository of `n` services in dev, staging and prod, rendered and committed.
fn many_services(n: usize) -> Repo {
    let repo = Repo::new();
    for env in ["dev", "staging", "prod"] {
        for i in 0..n {
            let tpl = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}\n  namespace: NAMESPACE_PLACEHOLDER\nspec:\n  template:\n    spec:\n      containers:\n        - name: svc{i}\n          image: reg.example.com/acme/svc{i}:COMMIT_SHA\n"
            );
            repo.write(&format!("{env}/svc{i}-deployment.yaml.tpl"), &tpl);
            repo.write(
                &format!("{env}/svc{i}-deployment.yaml"),
                tpl.replace("NAMESPACE_PLACEHOLDER", &format!("acme-{env}"))
                    .replace("COMMIT_SHA", "a252dcc"),
            );
        }
    }
    repo.commit_all("the sed flow");
    repo
}

#[test]
fn init_and_migrate_summarise_a_thousand_lines_in_a_screen() {
    let repo = many_services(40);
    let dry = repo.promote(&["init", "--dry-run"]).ok();
    assert!(
        lines(&dry.stdout) < 60,
        "{} lines:\n{}",
        lines(&dry.stdout),
        dry.stdout
    );
    dry.stdout_has("  ... and 28 more (`-v` lists them all)\n");
    let json = repo
        .promote(&["init", "--dry-run", "--output", "json"])
        .ok();
    let v: Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(v["services"].as_array().unwrap().len(), 40);
    assert_eq!(v["files"][0], "promote.yaml");
    assert_eq!(v["dry_run"], true);
    let all = repo.promote(&["init", "--dry-run", "-v"]).ok();
    assert!(lines(&all.stdout) > 80, "{}", all.stdout);
    all.stdout_has("  svc39  reg.example.com/acme/svc39\n");

    // With `PROMOTE_PROGRESS=1`, each step of the proof is on stderr.
    let run = repo
        .promote_env(&["init"], &[("PROMOTE_PROGRESS", "1")])
        .ok();
    assert!(
        run.stderr
            .starts_with("progress: init [1/3] proving `dev` renders byte for byte\n"),
        "{}",
        run.stderr
    );
    repo.commit_all("adopt promote");
    // `-q`: nothing but errors and warnings (init's report is not data asked for).
    let q = Repo::new();
    let r = q.promote(&["init", "-q"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    assert!(q.exists("promote.yaml"));
    let r = repo.promote(&["migrate", "--dry-run", "-q"]).ok();
    assert_eq!(
        lines(&r.stdout),
        21,
        "the dry run's list is its data: {}",
        r.stdout
    );

    let dry = repo.promote(&["migrate", "--dry-run"]).ok();
    assert_eq!(lines(&dry.stdout), 21, "{}", dry.stdout);
    let json = repo
        .promote(&["migrate", "--dry-run", "--output", "json"])
        .ok();
    let v: Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(
        (v["manifests"].clone(), v["commit"].clone()),
        (120.into(), Value::Null)
    );
    assert_eq!(v["moved"][0]["to"], "environments/dev/manifests");
    assert!(
        dry.stdout.ends_with(" more (`-v` lists them all)\n"),
        "{}",
        dry.stdout
    );
    let run = repo
        .promote_env(&["migrate"], &[("PROMOTE_PROGRESS", "1")])
        .ok();
    assert_eq!(lines(&run.stdout), 2, "{}", run.stdout);
    run.stdout_has("3 environments, 120 manifests byte-identical");
    let steps: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert_eq!(steps.len(), 6, "{}", run.stderr);
    assert_eq!(
        steps[5],
        "progress: migrate [6/6] proving `prod` renders byte for byte"
    );
}
