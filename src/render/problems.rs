//! Problems found environment by environment, reported once each: a shared template that fails the
//! same way in dev, staging and prod is one problem naming the three, not three identical lines.

use crate::render::Problem;

/// Groups `(environment, problem)` pairs: problems with the same file, line and message become one,
/// with ` (in `dev`, `staging`)` after the message when the file is not the environment's own.
/// A hint that names the environment (`environments.dev.values`) names `<env>` instead when the
/// problem is in several. First-seen order is kept.
pub fn group(found: Vec<(String, Problem)>) -> Vec<Problem> {
    let mut groups: Vec<(Problem, Vec<String>)> = Vec::new();
    for (env, p) in found {
        match groups
            .iter_mut()
            .find(|(g, _)| g.file == p.file && g.line == p.line && g.message == p.message)
        {
            Some((g, envs)) => {
                if !envs.contains(&env) {
                    envs.push(env);
                }
                if g.hint.is_none() {
                    g.hint = p.hint;
                }
            }
            None => groups.push((p, vec![env])),
        }
    }
    groups
        .into_iter()
        .map(|(mut p, envs)| {
            let own = envs.len() == 1 && names_env(&p.file, &envs[0]);
            if !own {
                let list: Vec<String> = envs.iter().map(|e| format!("`{e}`")).collect();
                p.message = format!("{} (in {})", p.message, list.join(", "));
            }
            if envs.len() > 1 {
                p.hint = p.hint.map(|h| {
                    envs.iter().fold(h, |h, e| {
                        h.replace(&format!("environments.{e}."), "environments.<env>.")
                    })
                });
            }
            p
        })
        .collect()
}

/// Whether `file` is already the environment's own (its path names the environment).
fn names_env(file: &str, env: &str) -> bool {
    file.split('/').any(|part| part == env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undefined(env: &str) -> (String, Problem) {
        (
            env.to_string(),
            Problem::new("templates/api/note.yaml", Some(4), "uses undefined value `values.nope`")
                .hint(format!("set it under `environments.{env}.values` (or the shared `values`) in `promote.yaml`")),
        )
    }

    #[test]
    fn one_problem_per_template_naming_its_environments() {
        let own = (
            "prod".to_string(),
            Problem::new(
                "environments/prod/manifests/x.yaml",
                None,
                "is not rendered yet",
            ),
        );
        let got = group(vec![
            undefined("dev"),
            undefined("staging"),
            own,
            undefined("prod"),
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].to_string(),
            "`templates/api/note.yaml` (line 4): uses undefined value `values.nope` (in `dev`, `staging`, `prod`)"
        );
        assert_eq!(
            got[0].hint.as_deref(),
            Some("set it under `environments.<env>.values` (or the shared `values`) in `promote.yaml`")
        );
        assert_eq!(
            got[1].message, "is not rendered yet",
            "its path names prod already"
        );
    }

    #[test]
    fn a_shared_template_failing_in_one_environment_names_it() {
        let got = group(vec![undefined("staging")]);
        assert!(
            got[0].message.ends_with("(in `staging`)"),
            "{}",
            got[0].message
        );
        assert!(got[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("environments.staging.values"));
    }
}
