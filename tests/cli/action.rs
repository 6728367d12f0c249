//! The GitHub Action's scripts (`action/*.sh`), run for real with the action's inputs as GitHub
//! passes them (environment variables), against a real repository with a bare origin.

use crate::support::{crate_dir, Repo, Run};

/// The identity variables the hermetic environment pins: unset, so the action's inputs decide.
const IDENTITY: [&str; 4] = [
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
];

fn action_run(repo: &Repo, inputs: &[(&str, &str)]) -> Run {
    let script = crate_dir().join("action/run.sh");
    repo.run_with_promote_on_path("bash", &[script.to_str().unwrap()], &IDENTITY, inputs)
}

/// A message a workflow takes from an untrusted event (a commit message, a PR title): every shell
/// metacharacter, a leading dash and a newline.
const HOSTILE: &str = "-x $(touch pwned) `touch pwned2` \"; touch pwned3 #\n'second line' $HOME *";

#[test]
fn set_image_with_push_records_an_untrusted_message_verbatim_under_the_inputs_identity() {
    let repo = Repo::example();
    let run = action_run(
        &repo,
        &[
            ("INPUT_COMMAND", "set-image"),
            ("INPUT_ENVIRONMENT", "dev"),
            ("INPUT_SHA", "c0ffee1"),
            ("INPUT_MESSAGE", HOSTILE),
            ("INPUT_PUSH", "true"),
            ("INPUT_GIT_USER_NAME", "ci bot"),
            ("INPUT_GIT_USER_EMAIL", "ci-bot@example.com"),
        ],
    )
    .ok();
    assert!(
        run.stdout.starts_with(
            "promote -C . set-image --sha=c0ffee1 $'--message=-x $(touch pwned) `touch"
        ),
        "{}",
        run.stdout
    );
    // Nothing the message holds ran, anywhere.
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !repo.exists(f) && !repo.base.join(f).exists(),
            "{f} was created"
        );
    }
    // Pushed, by the identity from the inputs, with the message as it was given.
    let origin = repo.git(&["log", "-1", "--format=%an <%ae>%n%B", "origin/main"]);
    assert!(
        origin.starts_with("ci bot <ci-bot@example.com>\n"),
        "{origin}"
    );
    assert_eq!(repo.head(), repo.git(&["rev-parse", "origin/main"]).trim());
    let log = repo
        .promote(&["log", "dev", "-n", "1", "--output", "json"])
        .ok();
    let records: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
    let record = &records.as_array().unwrap()[0];
    assert_eq!(record["message"], HOSTILE, "{record}");
    assert_eq!(repo.git(&["config", "user.name"]).trim(), "ci bot");
}

#[test]
fn images_are_one_argument_per_word_and_extra_args_one_per_line() {
    let repo = Repo::example();
    let run = action_run(
        &repo,
        &[
            ("INPUT_COMMAND", "set-image"),
            ("INPUT_ENVIRONMENT", "dev"),
            ("INPUT_IMAGES", "api=a252dcc\n  web=b3f1e2d "),
            ("INPUT_ARGS", "--dry-run\n\n--output\njson\n"),
            ("INPUT_GIT_USER_NAME", "github-actions[bot]"),
            ("INPUT_GIT_USER_EMAIL", "bot@example.com"),
        ],
    )
    .ok();
    let first = run.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "promote -C . set-image --dry-run --output json -- dev api=a252dcc web=b3f1e2d"
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout[first.len()..]).unwrap();
    assert!(json.to_string().contains("a252dcc"), "{json}");
    // A dry run: nothing committed, nothing pushed.
    assert_eq!(repo.status(), "");
    assert_eq!(repo.head(), repo.git(&["rev-parse", "origin/main"]).trim());
}

#[test]
fn an_environment_that_looks_like_an_option_stays_an_environment() {
    let repo = Repo::example();
    let head = repo.head();
    let run = action_run(
        &repo,
        &[
            ("INPUT_COMMAND", "to"),
            ("INPUT_ENVIRONMENT", "--push"),
            ("INPUT_GIT_USER_NAME", ""),
        ],
    )
    .expect(1);
    run.stderr_has("`--push`");
    assert_eq!(repo.head(), head);
}

#[test]
fn a_push_input_other_than_true_or_false_is_refused_before_promote_runs() {
    let repo = Repo::example();
    let run = action_run(
        &repo,
        &[
            ("INPUT_COMMAND", "to"),
            ("INPUT_ENVIRONMENT", "staging"),
            ("INPUT_PUSH", "yes"),
        ],
    )
    .expect(2);
    assert_eq!(
        run.stderr,
        "::error::promote action: push must be `true` or `false`, not `yes`\n"
    );
    assert_eq!(run.stdout, "");
}

/// The action passes every input through `env:`: no `${{ }}` expression may reach a `run:` script,
/// where GitHub would paste it into the shell's source.
#[test]
fn no_expression_is_spliced_into_a_run_script() {
    let text = std::fs::read_to_string(crate_dir().join("action.yml")).unwrap();
    let action: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let scripts: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert_eq!(scripts.len(), 3, "{steps:?}");
    for run in scripts {
        assert!(!run.contains("${{"), "an expression in `run: {run}`");
    }
    // And every input the scripts read is one the action declares.
    let inputs = action["inputs"].as_mapping().unwrap();
    let run_sh = std::fs::read_to_string(crate_dir().join("action/run.sh")).unwrap();
    for (name, _) in inputs {
        let name = name.as_str().unwrap();
        let var = format!("INPUT_{}", name.to_uppercase().replace('-', "_"));
        let passed = text.contains(&format!("{var}: ${{{{ inputs.{name} }}}}"));
        let install = name.starts_with("release-");
        assert!(passed || install, "input `{name}` is not passed as {var}");
        assert!(!passed || run_sh.contains(&var), "run.sh never reads {var}");
    }
}

#[test]
fn the_pr_input_becomes_the_pr_option() {
    let repo = Repo::example();
    let inputs = |pr| {
        vec![
            ("INPUT_COMMAND", "to"),
            ("INPUT_ENVIRONMENT", "staging"),
            ("INPUT_PR", pr),
            ("INPUT_ARGS", "--dry-run"),
            ("INPUT_GIT_USER_NAME", "github-actions[bot]"),
            ("INPUT_GIT_USER_EMAIL", "bot@example.com"),
        ]
    };
    let run = action_run(&repo, &inputs("auto")).ok();
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        "promote -C . to --pr=auto --dry-run -- staging"
    );
    let run = action_run(&repo, &inputs("maybe")).expect(2);
    assert_eq!(
        run.stderr,
        "::error::promote action: pr must be `true`, `auto` or `false`, not `maybe`\n"
    );
}
