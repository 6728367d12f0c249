//! `promote init` and `promote migrate`: adopting promote in a sed-templated repository, and leaving
//! the sed layout for the native one, on legacy repositories generated here (rendered with the real
//! `sed`, as the old script did) and on templates made from the real manifests of the corpus.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::snapshot;
use crate::support::{corpus_dir, redact, Repo};

/// What the old script did for one file: `sed -e 's/A/a/g' -e ... template > output`, with the real sed.
pub(crate) fn sed(repo: &Repo, template: &str, output: &str, subs: &[(&str, &str)]) {
    let mut cmd = Command::new("sed");
    for (from, to) in subs {
        cmd.arg("-e").arg(format!("s/{from}/{to}/g"));
    }
    let out = cmd.arg(repo.file(template)).output().expect("run sed");
    assert!(
        out.status.success(),
        "sed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(repo.file(output), out.stdout).unwrap();
}

/// Every file under the given top-level directories: path -> bytes.
fn tree(repo: &Repo, dirs: &[&str]) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    for d in dirs {
        walk(&repo.path, &repo.file(d), &mut out);
    }
    out
}

/// The manifests ArgoCD reads in a directory (`*.yaml`, `*.yml`, `*.json`, not recursive): name -> bytes.
pub(crate) fn synced(repo: &Repo, dir: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(repo.file(dir)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_file() && [".yaml", ".yml", ".json"].iter().any(|x| name.ends_with(x)) {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn output(run: &crate::support::Run, repo: &Repo) -> String {
    let text = redact(
        repo,
        &format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr),
    );
    // `[1a2b3c4] promote migrate: ...`: the short commit id.
    match (text.find("\n["), text.find("] promote migrate")) {
        (Some(a), Some(b)) if b == a + 9 => format!("{}[COMMIT]{}", &text[..a + 1], &text[b + 1..]),
        _ => text,
    }
}

// ---------------------------------------------------------------------------------------------
// The classic layout: dev, staging, prod; COMMIT_SHA, NAMESPACE_PLACEHOLDER, DOMAIN_PREFIX.

const API_TPL: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: NAMESPACE_PLACEHOLDER
  labels:
    app: api
    version: \"COMMIT_SHA\"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: api
          image: reg.example.com/acme/api:COMMIT_SHA
          env:
            - name: LOG_LEVEL
              value: INFO
            - name: PUBLIC_HOST
              value: DOMAIN_PREFIXapi.acme.example
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api-public
  namespace: NAMESPACE_PLACEHOLDER
spec:
  rules:
    - host: DOMAIN_PREFIXapi.acme.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: api
                port:
                  number: 80
";

const WEB_TPL: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NAMESPACE_PLACEHOLDER
spec:
  template:
    spec:
      containers:
        - name: web
          image: \"reg.example.com/acme/web:COMMIT_SHA\"
          args: [\"--api=https://DOMAIN_PREFIXapi.acme.example\"]
";

fn api_service(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  selector:\n    app: api\n  ports:\n    - port: 80\n")
}

fn api_prometheus(ns: &str) -> String {
    format!("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels:\n      app: api\n  endpoints:\n    - port: http\n")
}

fn api_ingress(ns: &str) -> String {
    format!("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: api-internal\n  namespace: {ns}\nspec:\n  rules:\n    - host: api.internal\n")
}

/// (env, namespace, domain prefix, api version, web version: None where the environment has no web)
const CLASSIC: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("dev", "acme-dev", "dev.", "a252dcc", Some("b3f1e2d")),
    ("staging", "acme-staging", "staging.", "a252dcc", None),
    ("prod", "acme-prod", "", "1d2c3b4", Some("9f8e7d6")),
];

const OLD_SCRIPT: &str = "\
#!/bin/sh
# usage: scripts/promote.sh ENV SHA
set -e
for f in \"$1\"/*.yaml.tpl; do
  sed -e \"s/COMMIT_SHA/$2/g\" -e \"s/NAMESPACE_PLACEHOLDER/acme-$1/g\" -e \"s/DOMAIN_PREFIX/$1./g\" \"$f\" > \"${f%.tpl}\"
done
echo \"$(date -u '+%Y-%m-%d %H:%M') $(git config user.name) promoted $1 to $2\" >> \"$1/deploy.log\"
git commit -am \"promote $1 $2\"
";

/// A repository as the sed flow leaves it, committed.
fn classic_repo() -> Repo {
    let repo = Repo::new();
    for (env, ns, prefix, api, web) in CLASSIC {
        repo.write(&format!("{env}/api-deployment.yaml.tpl"), API_TPL);
        sed(
            &repo,
            &format!("{env}/api-deployment.yaml.tpl"),
            &format!("{env}/api-deployment.yaml"),
            &[
                ("COMMIT_SHA", api),
                ("NAMESPACE_PLACEHOLDER", ns),
                ("DOMAIN_PREFIX", prefix),
            ],
        );
        if let Some(web) = web {
            repo.write(&format!("{env}/web-deployment.yaml.tpl"), WEB_TPL);
            sed(
                &repo,
                &format!("{env}/web-deployment.yaml.tpl"),
                &format!("{env}/web-deployment.yaml"),
                &[
                    ("COMMIT_SHA", web),
                    ("NAMESPACE_PLACEHOLDER", ns),
                    ("DOMAIN_PREFIX", prefix),
                ],
            );
        }
        repo.write(&format!("{env}/api-service.yaml"), api_service(ns));
        repo.write(&format!("{env}/api-ingress.yaml"), api_ingress(ns));
        repo.write(&format!("{env}/api-prometheus.yaml"), api_prometheus(ns));
        // The old metadata: image SHAs, URLs, database, kube context, a timestamp, in a format of its own.
        let mut meta = format!(
            "{{\n  \"environment\": \"{env}\",\n  \"api_sha\": \"{api}\",\n  \"urls\": {{\"api\": \"https://api.{prefix}acme.example\"}},\n  \"database\": \"postgres://{ns}-db:5432/acme\",\n  \"kube_context\": \"gke_{ns}\",\n  \"updated_at\": \"2026-11-20 09:30:00\",\n  \"deployed_by\": \"bob\""
        );
        if let Some(web) = web {
            meta.push_str(&format!(
                ",\n  \"web_image\": \"reg.example.com/acme/web:{web}\""
            ));
        }
        meta.push_str("\n}\n");
        repo.write(&format!("{env}/metadata.json.noargo"), meta);
    }
    repo.write("dev/deploy.log", "2026-11-01 10:00 bob promoted dev to a252dcc\n2026-11-02 11:30 alice promoted dev to a252dcc (web b3f1e2d)\n");
    repo.write(
        "prod/deploy.log",
        "2026-10-30 16:00 bob promoted prod to 1d2c3b4\n",
    );
    // Previews of the old flow, and the flow itself.
    repo.write(
        "template/api-deployment.yaml.tpl",
        API_TPL.replace("NAMESPACE_PLACEHOLDER", "pr-BRANCH"),
    );
    repo.write(
        "prs/feature-login/api-deployment.yaml",
        API_TPL
            .replace("NAMESPACE_PLACEHOLDER", "pr-feature-login")
            .replace("COMMIT_SHA", "c0ffee1")
            .replace("DOMAIN_PREFIX", "feature-login."),
    );
    repo.write("scripts/promote.sh", OLD_SCRIPT);
    repo.write("Makefile", "promote:\n\tscripts/promote.sh $(ENV) $(SHA)\n");
    repo.commit_all("the sed flow");
    repo
}

#[test]
fn init_adopts_a_sed_repository_without_changing_a_rendered_byte() {
    let repo = classic_repo();
    let before = tree(&repo, &["dev", "staging", "prod", "template", "prs"]);

    // A dry run says the same and writes nothing.
    let dry = repo.promote(&["init", "--dry-run"]).ok();
    dry.stdout_has("dry run: nothing was written");
    assert!(!repo.exists("promote.yaml"));
    assert_eq!(repo.status(), "");

    let run = repo.promote(&["init"]).ok();
    // The same explanation; only the last line differs (what was, or would be, written).
    let explained = |s: &str| s.trim_end().rsplit_once('\n').unwrap().0.to_string();
    assert_eq!(explained(&dry.stdout), explained(&run.stdout));
    snapshot!("init/classic.txt", &output(&run, &repo));
    snapshot!("init/classic-promote.yaml", &repo.read("promote.yaml"));
    snapshot!(
        "init/classic-dev-metadata.json",
        &redact(&repo, &repo.read("dev/metadata.json.noargo")),
    );

    // Only promote.yaml and the metadata files changed; every template, manifest and log is as it was.
    let after = tree(&repo, &["dev", "staging", "prod", "template", "prs"]);
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        changed,
        [
            "dev/metadata.json.noargo",
            "prod/metadata.json.noargo",
            "staging/metadata.json.noargo"
        ]
    );
    assert_eq!(before.len(), after.len());

    // The proof, by promote itself: nothing to render, nothing to report.
    let check = repo.promote(&["render", "--check"]).ok();
    check.stdout_has("up to date");
    repo.promote(&["check"]).ok();
    let status = repo.promote(&["status"]).ok();
    status.stdout_has("1d2c3b4");

    // A new record goes after the old free-text lines, chained to them.
    repo.commit_all("adopt promote");
    repo.promote(&["set-image", "dev", "api=e4f5a6b"]).ok();
    let log = repo.read("dev/deploy.log");
    assert!(log.starts_with("2026-11-01 10:00 bob promoted dev to a252dcc\n2026-11-02 11:30 alice promoted dev to a252dcc (web b3f1e2d)\n{"), "{log}");
    assert_eq!(log.lines().count(), 3);
    repo.promote(&["log", "--verify"]).ok();
    assert!(repo
        .read("dev/api-deployment.yaml")
        .contains("image: reg.example.com/acme/api:e4f5a6b\n"));
    repo.promote(&["check"]).ok();

    // Editing the old line the first record is chained to is caught like editing a record.
    repo.write("dev/deploy.log", log.replacen("alice", "eve", 1));
    let verify = repo.promote(&["log", "--verify"]);
    assert_eq!(verify.code, 1, "{}\n{}", verify.stdout, verify.stderr);
}

#[test]
fn init_refuses_a_hand_edited_rendered_file_naming_it() {
    let repo = classic_repo();
    let edited = repo
        .read("prod/api-deployment.yaml")
        .replace("  replicas: 1\n", "  replicas: 3\n");
    repo.write("prod/api-deployment.yaml", &edited);
    repo.commit_all("a quick fix in prod");

    let run = repo.promote(&["init"]).expect(1);
    snapshot!("init/hand-edit.txt", &output(&run, &repo));
    run.stderr_has("`prod/api-deployment.yaml` (line 10): differs from its template `prod/api-deployment.yaml.tpl`");
    assert!(!repo.exists("promote.yaml"));
    assert_eq!(repo.read("prod/api-deployment.yaml"), edited);
    assert_eq!(repo.status(), "");
}

#[test]
fn init_refuses_a_placeholder_with_two_values_in_one_environment() {
    let repo = classic_repo();
    // The web manifest of dev was rendered with another namespace than its api manifest.
    sed(
        &repo,
        "dev/web-deployment.yaml.tpl",
        "dev/web-deployment.yaml",
        &[
            ("COMMIT_SHA", "b3f1e2d"),
            ("NAMESPACE_PLACEHOLDER", "acme-dv"),
            ("DOMAIN_PREFIX", "dev."),
        ],
    );
    // ... and prod's api image was bumped by hand in one place only.
    let api = repo
        .read("prod/api-deployment.yaml")
        .replace("version: \"1d2c3b4\"", "version: \"2e3f4a5\"");
    repo.write("prod/api-deployment.yaml", api);
    repo.commit_all("drift");

    let run = repo.promote(&["init"]).expect(1);
    snapshot!("init/conflicts.txt", &output(&run, &repo));
    run.stderr_has("`dev/web-deployment.yaml` (line 5): placeholder `NAMESPACE_PLACEHOLDER` stands for `acme-dv` here, but `acme-dev`");
    run.stderr_has(
        "`prod/api-deployment.yaml` (line 8): service `api` runs `2e3f4a5` here, but `1d2c3b4`",
    );
    assert!(!repo.exists("promote.yaml"));
}

#[test]
fn init_refuses_when_promote_yaml_exists_or_a_template_is_not_rendered() {
    let repo = classic_repo();
    std::fs::remove_file(repo.file("staging/api-deployment.yaml")).unwrap();
    repo.commit_all("never rendered");
    let run = repo.promote(&["init"]).expect(1);
    run.stderr_has(
        "`staging/api-deployment.yaml.tpl`: has no rendered file `staging/api-deployment.yaml`",
    );

    let repo = Repo::example();
    let run = repo.promote(&["init"]).expect(1);
    assert_eq!(
        run.stderr,
        "error: `promote.yaml` already exists: this repository is set up for promote\nhint: `promote check` checks it; `promote config` prints its effective configuration\n"
    );
    assert_eq!(repo.status(), "");
}

#[test]
fn init_refuses_to_rewrite_uncommitted_metadata() {
    let repo = classic_repo();
    repo.write("dev/metadata.json.noargo", "{\"api_sha\": \"a252dcc\"}\n");
    let run = repo.promote(&["init"]).expect(1);
    run.stderr_has("these files have uncommitted changes, and `promote init` would rewrite them:\n  dev/metadata.json.noargo");
    assert!(!repo.exists("promote.yaml"));
}

#[test]
fn migrate_moves_to_the_native_layout_in_one_commit_byte_for_byte() {
    let repo = classic_repo();
    repo.promote(&["init"]).ok();
    // The ArgoCD Application of prod, kept in the same repository.
    repo.write("argocd/prod.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: acme-prod\nspec:\n  source:\n    repoURL: https://github.com/acme/deploy.git\n    path: prod\n");
    repo.commit_all("adopt promote");
    let envs = ["dev", "staging", "prod"];
    let before: Vec<BTreeMap<String, Vec<u8>>> = envs.iter().map(|e| synced(&repo, e)).collect();
    let logs: Vec<Vec<u8>> = ["dev", "prod"]
        .iter()
        .map(|e| repo.read_bytes(&format!("{e}/deploy.log")))
        .collect();
    let head = repo.head();

    // A dry run lists the change and writes nothing.
    let dry = repo.promote(&["migrate", "--dry-run", "-v"]).ok();
    dry.stdout_has("create templates/api/deployment.yaml\n");
    dry.stdout_has("delete dev/api-deployment.yaml.tpl\n");
    assert_eq!(repo.status(), "");
    assert_eq!(repo.head(), head);

    let run = repo.promote(&["migrate"]).ok();
    snapshot!("init/migrate.txt", &output(&run, &repo));
    assert_eq!(repo.status(), "", "everything is in the commit");
    assert_eq!(
        repo.git(&["rev-list", "--count", &format!("{head}..HEAD")])
            .trim(),
        "1"
    );

    // Every byte ArgoCD reads is the same, at the new paths.
    for (env, files) in envs.iter().zip(&before) {
        assert_eq!(
            &synced(&repo, &format!("environments/{env}/manifests")),
            files,
            "{env}"
        );
        assert!(!repo.exists(env), "`{env}/` is gone");
    }
    for (env, log) in ["dev", "prod"].iter().zip(&logs) {
        assert_eq!(
            &repo.read_bytes(&format!("environments/{env}/deploy.log")),
            log
        );
    }
    let config = repo.read("promote.yaml");
    assert!(
        !config.contains("layout:") && !config.contains("placeholders:"),
        "{config}"
    );
    snapshot!("init/migrated-promote.yaml", &config);
    snapshot!(
        "init/migrated-api-deployment.yaml",
        &repo.read("templates/api/deployment.yaml"),
    );
    // The previews of the old flow are not touched.
    assert!(
        repo.exists("prs/feature-login/api-deployment.yaml")
            && repo.exists("template/api-deployment.yaml.tpl")
    );

    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    repo.promote(&["log", "--verify"]).ok();

    // And it keeps working: a promotion renders from the shared templates.
    repo.promote(&["to", "staging"]).ok();
    let staging = repo.read("environments/staging/manifests/api-deployment.yaml");
    assert!(
        staging.contains("image: reg.example.com/acme/api:a252dcc\n"),
        "{staging}"
    );
    assert!(
        staging.contains("namespace: acme-staging\n")
            && staging.contains("value: staging.api.acme.example\n"),
        "{staging}"
    );
    // staging had no web template in the sed layout, and has none now: web stays out of it.
    assert!(!repo.exists("environments/staging/manifests/web-deployment.yaml"));
    assert!(
        repo.exists("environments/dev/templates/web/deployment.yaml")
            && repo.exists("environments/prod/templates/web/deployment.yaml")
    );
    repo.promote(&["check"]).ok();

    // Migrating twice is refused.
    let again = repo.promote(&["migrate"]).expect(1);
    again.stderr_has("already uses the native layout");
}

#[test]
fn migrate_refuses_drift_and_writes_nothing() {
    let repo = classic_repo();
    repo.promote(&["init"]).ok();
    repo.commit_all("adopt promote");
    let edited = repo
        .read("dev/web-deployment.yaml")
        .replace("containers:", "containers: # edited");
    repo.write("dev/web-deployment.yaml", edited);
    repo.commit_all("a hand edit after adopting");
    let head = repo.head();
    let run = repo.promote(&["migrate"]).expect(1);
    run.stderr_has(
        "`dev/web-deployment.yaml`: differs from what `dev/web-deployment.yaml.tpl` renders now",
    );
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
}

// ---------------------------------------------------------------------------------------------
// Other names, CRLF, a service with no template, environments named otherwise.

const WORKER_TPL: &str = "apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: worker\r\n  namespace: K8S_NAMESPACE\r\nspec:\r\n  replicas: REPLICA_COUNT\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: worker\r\n          image: ghcr.io/acme/worker:__TAG__\r\n          env:\r\n            - name: CALLBACK\r\n              value: https://HOSTNAME_PREFIXhooks.acme.example/__TAG__\r\n        - name: sidecar\r\n          image: ghcr.io/acme/sidecar-agent:__TAG__\r\n";

#[test]
fn init_and_migrate_other_placeholder_names_crlf_and_untemplated_services() {
    let repo = Repo::new();
    // (dir, namespace, replicas, host prefix, tag)
    let envs = [
        ("develop", "wk-dev", "1", "dev-", "a252dcc"),
        ("QA", "wk-qa", "2", "qa-", "a252dcc"),
        ("production", "wk", "5", "", "b3f1e2d4c5a6"),
    ];
    for (dir, ns, replicas, prefix, tag) in envs {
        repo.write(&format!("{dir}/worker.yaml.tpl"), WORKER_TPL);
        sed(
            &repo,
            &format!("{dir}/worker.yaml.tpl"),
            &format!("{dir}/worker.yaml"),
            &[
                ("__TAG__", tag),
                ("K8S_NAMESPACE", ns),
                ("REPLICA_COUNT", replicas),
                ("HOSTNAME_PREFIX", prefix),
            ],
        );
        // redis has no template: a plain manifest, its image pinned, left as it is.
        repo.write(&format!("{dir}/redis-deployment.yaml"), format!("apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: redis\r\n  namespace: {ns}\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: redis\r\n          image: redis:7.2\r\n"));
        repo.write(
            &format!("{dir}/metadata.json.noargo"),
            format!("WORKER_TAG={tag}\nKUBE_CONTEXT=k3s-{ns}\n"),
        );
    }
    repo.commit_all("sed flow");
    let before: BTreeMap<String, Vec<u8>> = tree(&repo, &["develop", "QA", "production"]);

    let run = repo.promote(&["init"]).ok();
    snapshot!("init/other-names.txt", &output(&run, &repo));
    let config = repo.read("promote.yaml");
    for needle in [
        "  __TAG__: version\n",
        "  K8S_NAMESPACE: namespace\n",
        "  HOSTNAME_PREFIX: host_prefix\n",
        "  REPLICA_COUNT: replica_count\n",
        "  qa:\n    dir: QA\n    from: develop\n",
        "  production:\n    from: qa\n",
        "      replica_count: \"5\"\n",
        "      host_prefix: \"\"\n",
        "      kube_context: k3s-wk\n",
    ] {
        assert!(config.contains(needle), "`{needle}` not in:\n{config}");
    }
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    let after = tree(&repo, &["develop", "QA", "production"]);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (k, v) in &before {
        if !k.ends_with("metadata.json.noargo") {
            assert_eq!(v, &after[k], "{k}");
        }
    }

    repo.commit_all("adopt promote");
    repo.promote(&["set-image", "develop", "--sha", "c0ffee1"])
        .ok();
    let worker = repo.read("develop/worker.yaml");
    assert!(
        worker.contains("image: ghcr.io/acme/worker:c0ffee1\r\n")
            && worker.contains("/c0ffee1\r\n"),
        "{worker}"
    );
    assert!(
        worker.contains("image: ghcr.io/acme/sidecar-agent:c0ffee1\r\n"),
        "{worker}"
    );

    let synced_before: Vec<_> = envs.iter().map(|(d, ..)| synced(&repo, d)).collect();
    repo.promote(&["migrate"]).ok();
    for ((dir, ..), files) in envs.iter().zip(&synced_before) {
        let name = dir.to_ascii_lowercase();
        assert_eq!(
            &synced(&repo, &format!("environments/{name}/manifests")),
            files,
            "{dir}"
        );
    }
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    repo.promote(&["log", "--verify"]).ok();
    // CRLF survives in the shared template, and the replica count stays a value. It is the string
    // `"3"` in the config, which would now print quoted: `|safe` keeps sed's bytes (an int).
    let tpl = repo.read_bytes("templates/worker.yaml");
    assert!(String::from_utf8(tpl)
        .unwrap()
        .contains("  replicas: {{ values.replica_count|safe }}\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Templates made from the real manifests of the corpus.

pub(crate) fn corpus(rel: &str) -> String {
    let path = corpus_dir().join("manifests").join(rel);
    String::from_utf8(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// `text` with `from` replaced by `to`, which must occur in it (so a changed corpus fails loudly).
pub(crate) fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is not in the corpus file");
    text.replace(from, to)
}

/// Puts `namespace: NAMESPACE_PLACEHOLDER` under every top-level `metadata:` (line endings kept).
pub(crate) fn add_namespace(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        if bare == "metadata:" {
            let eol = &line[bare.len()..];
            out.push_str("  namespace: NAMESPACE_PLACEHOLDER");
            out.push_str(if eol.is_empty() { "\n" } else { eol });
        }
    }
    out
}

#[test]
fn corpus_templates_adopt_and_migrate_byte_for_byte() {
    let boutique = "GoogleCloudPlatform-microservices-demo/release/kubernetes-manifests.yaml";
    let templates: Vec<(&str, String)> = vec![
        ("guestbook.yaml.tpl", add_namespace(&replace(&corpus("kubernetes-examples/web/guestbook/all-in-one/guestbook-all-in-one.yaml"), "gcr.io/google-samples/gb-frontend:v5", "reg.example.com/acme/web:COMMIT_SHA"))),
        // 35 documents, 11 services by their full image names, under another registry.
        ("boutique.yaml.tpl", add_namespace(&replace(&corpus(boutique), ":v0.10.6", ":COMMIT_SHA"))),
        // No final newline.
        ("hpa.yaml.tpl", add_namespace(&corpus("kubernetes-examples/AI/vllm-deployment/hpa/horizontal-pod-autoscaler.yaml"))),
        // A COMMIT_SHA that follows no image belongs to `api`, the service the file is named after.
        (
            "api-deployment.yaml.tpl",
            add_namespace(&replace(
                &replace(&corpus("stefanprodan-podinfo/kustomize/deployment.yaml"), "ghcr.io/stefanprodan/podinfo:6.14.1", "reg.example.com/acme/api:COMMIT_SHA"),
                "--grpc-service-name=podinfo",
                "--grpc-service-name=podinfo-COMMIT_SHA",
            )),
        ),
        // CRLF, and a host under a per-environment prefix.
        ("ingress.yaml.tpl", add_namespace(&replace(&corpus("kubernetes-examples/AI/model-serving-tensorflow/ingress.yaml"), "    - http:\n", "    - host: DOMAIN_PREFIXapi.example.com\n      http:\n").replace('\n', "\r\n"))),
        // Trailing whitespace, and `{{PROJECT_ID}}`, text that minijinja must not read as its own.
        ("cassandra.yaml.tpl", add_namespace(&corpus("kubernetes-examples/databases/cassandra/cassandra-statefulset.yaml"))),
        ("otel.yaml.tpl", add_namespace(&corpus("GoogleCloudPlatform-microservices-demo/kustomize/components/google-cloud-operations/otel-collector.yaml"))),
    ];
    assert!(templates.iter().any(|(_, t)| t.contains("{{PROJECT_ID}}")));

    let repo = Repo::new();
    let envs = [
        ("staging", "a252dcc", "acme-staging", "staging."),
        ("prod", "b3f1e2d4c5a6", "acme-prod", ""),
    ];
    for (env, sha, ns, prefix) in envs {
        for (name, text) in &templates {
            let t = format!("{env}/{name}");
            repo.write(&t, text);
            sed(
                &repo,
                &t,
                t.trim_end_matches(".tpl"),
                &[
                    ("COMMIT_SHA", sha),
                    ("NAMESPACE_PLACEHOLDER", ns),
                    ("DOMAIN_PREFIX", prefix),
                ],
            );
        }
        repo.write(
            &format!("{env}/deploy.log"),
            format!("deployed {env} {sha}\n"),
        );
    }
    repo.commit_all("sed flow");
    let rendered: Vec<BTreeMap<String, Vec<u8>>> =
        envs.iter().map(|(e, ..)| synced(&repo, e)).collect();
    assert!(String::from_utf8_lossy(&rendered[1]["otel.yaml"]).contains("project: {{PROJECT_ID}}"));

    let run = repo.promote(&["init"]).ok();
    snapshot!("init/corpus.txt", &output(&run, &repo));
    let config = repo.read("promote.yaml");
    assert!(
        config.contains(
            "registry: us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo\n"
        ),
        "{config}"
    );
    assert!(
        config.contains("  api:\n    image: reg.example.com/acme/api\n"),
        "{config}"
    );
    assert!(
        config.contains(
            "  staging:\n    values:\n      host_prefix: staging.\n      namespace: acme-staging\n"
        ),
        "{config}"
    );
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    for ((env, ..), files) in envs.iter().zip(&rendered) {
        assert_eq!(&synced(&repo, env), files);
    }

    repo.commit_all("adopt promote");
    let head = repo.head();
    repo.promote(&["migrate"]).ok();
    assert_eq!(
        repo.git(&["rev-list", "--count", &format!("{head}..HEAD")])
            .trim(),
        "1"
    );
    assert_eq!(repo.status(), "");
    for ((env, ..), files) in envs.iter().zip(&rendered) {
        let after = synced(&repo, &format!("environments/{env}/manifests"));
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in files {
            assert!(
                after[name] == *bytes,
                "environments/{env}/manifests/{name} is not byte-identical"
            );
        }
    }
    // The shared template keeps `{{PROJECT_ID}}` as text.
    let otel = repo.read("templates/otel.yaml");
    assert!(
        otel.contains("{% raw %}") && otel.contains("{{ values.namespace }}"),
        "{otel}"
    );
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    repo.promote(&["log", "--verify"]).ok();
    // A promotion after the migration: every boutique image follows.
    repo.promote(&["set-image", "staging", "--sha", "c0ffee1"])
        .ok();
    let b = repo.read("environments/staging/manifests/boutique.yaml");
    assert_eq!(b.matches(":c0ffee1\n").count(), 11, "{b}");
    repo.promote(&["to", "prod"]).ok();
    repo.promote(&["check"]).ok();
}

// ---------------------------------------------------------------------------------------------
// An empty repository: the bundled example.

#[test]
fn init_in_an_empty_repository_scaffolds_a_working_example() {
    let repo = Repo::new();
    let run = repo.promote(&["init"]).ok();
    snapshot!("init/empty.txt", &output(&run, &repo));
    assert_eq!(
        repo.read("promote.yaml"),
        std::fs::read_to_string(crate::support::crate_dir().join("promote.yaml")).unwrap()
    );
    assert!(
        repo.exists("templates/api/deployment.yaml")
            && repo.exists("environments/prod/templates/api/proxy.yaml")
    );
    assert!(
        !repo.exists("environments/dev/metadata.json"),
        "a new repository has no history"
    );
    repo.promote(&["check"]).ok();
    repo.promote(&["render", "--check"]).ok();

    // The flow works from there.
    repo.commit_all("promote init");
    repo.promote(&["set-image", "dev", "--sha", "a252dcc"]).ok();
    repo.promote(&["to", "staging"]).ok();
    assert!(repo
        .read("environments/staging/manifests/api-deployment.yaml")
        .contains("/api:a252dcc"));
    repo.promote(&["check"]).ok();
    repo.promote(&["log", "--verify"]).ok();

    // Once is enough.
    repo.promote(&["init"]).expect(1);
}
