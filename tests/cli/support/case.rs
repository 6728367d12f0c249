//! A test case, fluently: the repository (generated, or the bundled example), its config, the
//! commands that set the scene, then the command under test and what it must do.
//!
//! ```ignore
//! let repo = Case::native(&["api", "web"]).commit().then(&["set-image", "dev", "--sha", "a252dcc"]).repo();
//! repo.run(&["to", "staging"]).succeeds().stderr_has("promoted");
//! repo.refused(&["to", "prod"]).stderr_has("skip");
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Repo, Run};

/// The repository of a test case, built step by step; [`Case::repo`] hands it over.
pub struct Case {
    repo: Repo,
}

/// The generated config's pipeline: dev -> staging -> prod, each with its `namespace` value.
fn native_config(registry: &str, services: &[&str]) -> String {
    let mut cfg = format!("registry: {registry}\nservices:\n");
    for svc in services {
        cfg.push_str(&format!("  {svc}:\n"));
    }
    cfg.push_str("environments:\n  dev:\n    values: {namespace: dev}\n");
    cfg.push_str("  staging:\n    from: dev\n    values: {namespace: staging}\n");
    cfg.push_str("  prod:\n    from: staging\n    values: {namespace: prod}\n");
    cfg
}

/// The generated template: one Deployment running the service's image in the environment's namespace.
fn deployment(svc: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {svc}\n  namespace: {{{{ values.namespace }}}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {svc}\n          image: {{{{ image }}}}\n"
    )
}

/// A Pod template, the smallest manifest that runs the service's image.
pub fn pod(svc: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {svc}\n  namespace: {{{{ values.namespace }}}}\nspec:\n  containers:\n    - name: c\n      image: {{{{ image }}}}\n"
    )
}

impl Case {
    /// An empty repository (one empty commit) with a bare origin it tracks.
    pub fn empty() -> Case {
        Case { repo: Repo::new() }
    }

    /// A generated native repository, not committed yet: `services` at `r.example.com/acme`, each
    /// with a [`deployment`] template, and dev -> staging -> prod with a `namespace` value each.
    pub fn native(services: &[&str]) -> Case {
        Case::empty()
            .config(&native_config("r.example.com/acme", services))
            .templates(services, "deployment.yaml", deployment)
    }

    /// Writes `promote.yaml`.
    pub fn config(self, yaml: &str) -> Case {
        self.file("promote.yaml", yaml)
    }

    /// Appends lines to `promote.yaml` (under the last environment, prod, when indented by four).
    pub fn config_append(self, yaml: &str) -> Case {
        let cfg = self.repo.read("promote.yaml");
        self.config(&format!("{cfg}{yaml}"))
    }

    /// Writes `templates/<svc>/<name>` for each service, from `text(svc)`, in place of the
    /// generated Deployment.
    pub fn templates(self, services: &[&str], name: &str, text: impl Fn(&str) -> String) -> Case {
        for svc in services {
            let generated = self.repo.file(&format!("templates/{svc}/deployment.yaml"));
            if name != "deployment.yaml" && generated.exists() {
                std::fs::remove_file(generated).unwrap();
            }
            self.repo
                .write(&format!("templates/{svc}/{name}"), text(svc));
        }
        self
    }

    /// Writes a file of the work tree.
    pub fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Case {
        self.repo.write(rel, contents);
        self
    }

    /// Commits everything as `config`.
    pub fn commit(self) -> Case {
        self.repo.commit_all("config");
        self
    }

    /// Pushes the current branch to origin.
    pub fn push(self) -> Case {
        self.repo.git(&["push", "-q"]);
        self
    }

    /// Runs `promote args`, which must succeed (setting the scene).
    pub fn then(self, args: &[&str]) -> Case {
        self.repo.promote(args).ok();
        self
    }

    /// Runs `promote args` at the pinned time `now`, which must succeed.
    pub fn then_at(self, now: &str, args: &[&str]) -> Case {
        self.repo.at(now, args).ok();
        self
    }

    /// The repository, for the command under test.
    pub fn repo(self) -> Repo {
        self.repo
    }
}

impl Run {
    /// Exit 0.
    pub fn succeeds(self) -> Run {
        self.expect(0)
    }

    /// Exit 1, with an `error: ` first.
    pub fn fails(self) -> Run {
        let run = self.expect(1);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        run
    }

    /// Asserts that stdout contains `text` (and shows it if not).
    pub fn stdout_has(&self, text: &str) -> &Run {
        self.holds("stdout", text, true)
    }

    pub fn stdout_lacks(&self, text: &str) -> &Run {
        self.holds("stdout", text, false)
    }

    /// Asserts that stderr contains `text` (and shows it if not).
    pub fn stderr_has(&self, text: &str) -> &Run {
        self.holds("stderr", text, true)
    }

    pub fn stderr_lacks(&self, text: &str) -> &Run {
        self.holds("stderr", text, false)
    }

    fn holds(&self, stream: &str, text: &str, wanted: bool) -> &Run {
        let out = if stream == "stdout" {
            &self.stdout
        } else {
            &self.stderr
        };
        let verb = if wanted { "lacks" } else { "has" };
        assert_eq!(
            out.contains(text),
            wanted,
            "{stream} {verb} {text:?}:\n{out}"
        );
        self
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Everything a refused or failed command must leave as it was.
pub struct State {
    head: String,
    status: String,
    index: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl State {
    pub fn of(repo: &Repo) -> State {
        State {
            head: repo.head(),
            status: repo.status(),
            index: repo.git(&["ls-files", "--stage"]),
            files: repo.tree(),
        }
    }

    /// Panics naming what changed since `self` (HEAD, status, index, each file), if anything did.
    pub fn assert_unchanged(&self, repo: &Repo, what: &str) {
        let now = State::of(repo);
        let mut changed = Vec::new();
        if now.head != self.head {
            changed.push("HEAD moved".to_string());
        }
        if now.status != self.status {
            changed.push(format!(
                "git status:\n{}--- became\n{}",
                self.status, now.status
            ));
        }
        if now.index != self.index {
            changed.push("the index".to_string());
        }
        for path in self.files.keys().chain(now.files.keys()) {
            if self.files.get(path) != now.files.get(path) && !changed.contains(path) {
                changed.push(path.clone());
            }
        }
        assert!(
            changed.is_empty(),
            "{what} changed:\n{}",
            changed.join("\n")
        );
    }
}

impl Repo {
    /// Runs the real `promote` binary in the work tree (the command under test).
    pub fn run(&self, args: &[&str]) -> Run {
        self.promote(args)
    }

    /// Runs `promote` at the pinned time `now`.
    pub fn at(&self, now: &str, args: &[&str]) -> Run {
        self.promote_env(args, &[("PROMOTE_NOW", now)])
    }

    /// Runs a command that must fail with exit 1 and change nothing: HEAD, status, index, files.
    pub fn refused(&self, args: &[&str]) -> Run {
        let before = State::of(self);
        let run = self.promote(args).fails();
        before.assert_unchanged(
            self,
            &format!("`promote {}` ({})", args.join(" "), run.stderr.trim()),
        );
        run
    }

    /// Runs a command that must change nothing and say so: exit 0, no commit, no write.
    pub fn no_op(&self, args: &[&str]) -> Run {
        let before = State::of(self);
        let run = self.promote(args).ok();
        before.assert_unchanged(self, &format!("`promote {}`", args.join(" ")));
        run
    }

    /// Every entry of the work tree outside `.git`: files with their bytes, links with their target
    /// (never followed), directories ending in `/`. Comparing two of these shows any write, leftover
    /// temp file or leftover directory.
    pub fn tree(&self) -> BTreeMap<String, Vec<u8>> {
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
        walk(&self.path, "", &mut out);
        out
    }

    /// `environments/<env>/metadata.json`, parsed.
    pub fn metadata(&self, env: &str) -> Value {
        serde_json::from_str(&self.read(&format!("environments/{env}/metadata.json"))).unwrap()
    }

    /// The version `env` runs of `svc` (empty when it runs none).
    pub fn version(&self, env: &str, svc: &str) -> String {
        self.metadata(env)["services"][svc]["version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The records of `environments/<env>/deploy.log`, parsed.
    pub fn records(&self, env: &str) -> Vec<Value> {
        self.read(&format!("environments/{env}/deploy.log"))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The paths the last commit touched.
    pub fn last_commit_paths(&self) -> Vec<String> {
        self.git(&["diff", "--name-only", "HEAD~1", "HEAD"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}
