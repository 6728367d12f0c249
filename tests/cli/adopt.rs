//! `promote init` on two kinds of sed-templated repository it once refused or misread: services
//! whose names end like a metadata field (`catalogue-db`) beside the old metadata's own database
//! field, and images of the team's own on Docker Hub (`vllm/vllm-openai`, no registry host) mixed
//! with images under a registry host. Each repository goes init -> `render --check` -> `to staging`
//! (compared byte for byte with what the sed flow makes) -> migrate.

use std::collections::BTreeMap;

use crate::init::{add_namespace, corpus, replace, sed, synced};
use crate::support::Repo;

/// One service of a generated repository: its name in `promote.yaml`, the template's text with
/// `COMMIT_SHA` after its image, and its version in dev and staging.
struct Svc {
    name: &'static str,
    template: String,
    dev: &'static str,
    staging: &'static str,
}

/// A Deployment of `image:COMMIT_SHA`, as the sed repositories write them.
fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: NAMESPACE_PLACEHOLDER\n  labels:\n    app: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: {name}\n          image: {image}:COMMIT_SHA\n"
    )
}

const ENVS: [(&str, &str); 2] = [("dev", "shop-dev"), ("staging", "shop-staging")];

/// The repository as the sed flow leaves it: per environment, every template rendered with the real
/// sed, and an old metadata file with a `db` field and an `images` map.
fn sed_repo(services: &[Svc]) -> Repo {
    let repo = Repo::new();
    for (env, ns) in ENVS {
        let mut images = Vec::new();
        for s in services {
            let sha = if env == "dev" { s.dev } else { s.staging };
            let tpl = format!("{env}/{}-deployment.yaml.tpl", s.name);
            repo.write(&tpl, &s.template);
            sed(
                &repo,
                &tpl,
                tpl.trim_end_matches(".tpl"),
                &[("COMMIT_SHA", sha), ("NAMESPACE_PLACEHOLDER", ns)],
            );
            images.push(format!("\"{}\": \"{sha}\"", s.name));
        }
        // The service map before the database field in dev, after it in staging.
        let images = format!("\"images\": {{{}}}", images.join(", "));
        let db = format!("\"db\": \"{env}-db.internal\"");
        let (first, last) = if env == "dev" {
            (&images, &db)
        } else {
            (&db, &images)
        };
        repo.write(
            &format!("{env}/metadata.json.noargo"),
            format!("{{\n  {first},\n  \"kube_context\": \"gke_{ns}\",\n  {last}\n}}\n"),
        );
        repo.write(
            &format!("{env}/deploy.log"),
            format!("deployed {env} by the sed script\n"),
        );
    }
    repo.commit_all("the sed flow");
    repo
}

/// What the sed flow's `promote staging` makes: staging's templates with dev's versions.
fn sed_promotion(repo: &Repo, services: &[Svc]) -> BTreeMap<String, Vec<u8>> {
    let scratch = Repo::new();
    for s in services {
        let tpl = format!("staging/{}-deployment.yaml.tpl", s.name);
        scratch.write(&tpl, repo.read_bytes(&tpl));
        sed(
            &scratch,
            &tpl,
            tpl.trim_end_matches(".tpl"),
            &[
                ("COMMIT_SHA", s.dev),
                ("NAMESPACE_PLACEHOLDER", "shop-staging"),
            ],
        );
    }
    synced(&scratch, "staging")
}

/// init, render --check, to staging (against the sed flow), migrate; returns promote.yaml.
fn adopt(services: &[Svc]) -> (Repo, String) {
    let repo = sed_repo(services);
    let rendered: Vec<_> = ENVS.iter().map(|(e, _)| synced(&repo, e)).collect();

    let init = repo.promote(&["init"]).ok();
    let config = repo.read("promote.yaml");
    // Every service is a service, whatever its name.
    for s in services {
        assert!(
            config.contains(&format!("\n  {}:\n", s.name)),
            "service `{}` is missing from promote.yaml\n{config}\n{}",
            s.name,
            init.stderr
        );
    }
    // The old metadata's own database field is the environment's database, not a version.
    for (env, _) in ENVS {
        let meta: serde_json::Value =
            serde_json::from_str(&repo.read(&format!("{env}/metadata.json.noargo"))).unwrap();
        assert_eq!(meta["database"], format!("{env}-db.internal"), "{meta}");
        for s in services {
            let want = if env == "dev" { s.dev } else { s.staging };
            assert_eq!(
                meta["services"][s.name]["version"], want,
                "{env}: `{}`\n{meta}",
                s.name
            );
        }
    }
    assert!(
        config.contains("database: dev-db.internal"),
        "dev's database is not in promote.yaml\n{config}"
    );

    // Not a rendered byte changes: render has nothing to do.
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    for ((env, _), files) in ENVS.iter().zip(&rendered) {
        assert_eq!(&synced(&repo, env), files, "{env} changed on init");
    }
    repo.commit_all("adopt promote");

    // A promotion is the sed flow's promotion, byte for byte.
    repo.promote(&["to", "staging"]).ok();
    assert_eq!(repo.status(), "");
    let want = sed_promotion(&repo, services);
    let got = synced(&repo, "staging");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "staging/{name} differs from the sed flow:\n{}\n---\n{}",
            String::from_utf8_lossy(&got[name]),
            String::from_utf8_lossy(bytes)
        );
    }
    repo.promote(&["log", "--verify"]).ok();

    // Migration keeps every byte.
    let before: Vec<_> = ENVS.iter().map(|(e, _)| synced(&repo, e)).collect();
    repo.promote(&["migrate"]).ok();
    assert_eq!(repo.status(), "");
    for ((env, _), files) in ENVS.iter().zip(&before) {
        let after = synced(&repo, &format!("environments/{env}/manifests"));
        assert_eq!(&after, files, "{env} changed on migrate");
    }
    repo.promote(&["render", "--check"]).ok();
    repo.promote(&["check"]).ok();
    (repo, config)
}

fn svc(name: &'static str, image: &str, dev: &'static str, staging: &'static str) -> Svc {
    Svc {
        name,
        template: deployment(name, image),
        dev,
        staging,
    }
}

#[test]
fn init_keeps_services_named_like_metadata_fields_apart_from_the_database() {
    let services = [
        svc(
            "catalogue",
            "reg.example.com/shop/catalogue",
            "a252dcc",
            "1d2c3b4",
        ),
        svc(
            "catalogue-db",
            "reg.example.com/shop/catalogue-db",
            "7a7596b",
            "0c0ffee",
        ),
        svc(
            "user-db",
            "reg.example.com/shop/user-db",
            "b3f1e2d",
            "2d3c4b5",
        ),
        svc(
            "orders-db",
            "reg.example.com/shop/orders-db",
            "c4d5e6f",
            "3e4d5c6",
        ),
    ];
    let (_, config) = adopt(&services);
    assert!(
        config.contains("registry: reg.example.com/shop\n"),
        "{config}"
    );
}

/// A real manifest of the corpus (`rel`) as a sed template: its image `real` becomes `templated`.
fn corpus_svc(
    name: &'static str,
    rel: &str,
    real: &str,
    templated: &str,
    versions: [&'static str; 2],
) -> Svc {
    Svc {
        name,
        template: add_namespace(&replace(&corpus(rel), real, templated)),
        dev: versions[0],
        staging: versions[1],
    }
}

/// The real vLLM Deployment (Docker Hub `vllm/vllm-openai`), with `COMMIT_SHA` for its version.
fn vllm() -> Svc {
    corpus_svc(
        "vllm-openai",
        "kubernetes-examples/AI/vllm-deployment/vllm-deployment.yaml",
        "vllm/vllm-openai:v0.11.0",
        "vllm/vllm-openai:COMMIT_SHA",
        ["e4f5a6b", "9a8b7c6"],
    )
}

/// The real OpenTelemetry collector of the microservices demo (Docker Hub `otel/...`).
fn otel() -> Svc {
    corpus_svc(
        "opentelemetry-collector-contrib",
        "GoogleCloudPlatform-microservices-demo/kustomize/components/google-cloud-operations/otel-collector.yaml",
        "otel/opentelemetry-collector-contrib:0.157.0@sha256:f2f01157055a9b2aab9df7118e1f1c9abf345e99b23bc7a2bc791db374a7d0f6",
        "otel/opentelemetry-collector-contrib:COMMIT_SHA",
        ["0157aaa", "0156bbb"],
    )
}

/// The real podinfo Deployment, under a registry host.
fn podinfo() -> Svc {
    corpus_svc(
        "podinfo",
        "stefanprodan-podinfo/kustomize/deployment.yaml",
        "ghcr.io/stefanprodan/podinfo:6.14.1",
        "reg.example.com/acme/podinfo:COMMIT_SHA",
        ["6141aaa", "6140bbb"],
    )
}

#[test]
fn init_adopts_one_docker_hub_namespace_beside_a_registry_host() {
    let (repo, config) = adopt(&[vllm(), podinfo()]);
    assert!(
        config.contains("registry: reg.example.com/acme\n"),
        "{config}"
    );
    assert!(
        config.contains("  vllm-openai:\n    image: docker.io/vllm/vllm-openai\n"),
        "{config}"
    );
    // A version given as a reference in any Docker Hub spelling is the service's own image, and
    // the manifest keeps the template's spelling.
    for (reference, tag) in [
        ("vllm/vllm-openai:c0ffee1", "c0ffee1"),
        ("docker.io/vllm/vllm-openai:c0ffee2", "c0ffee2"),
        ("index.docker.io/vllm/vllm-openai:c0ffee3", "c0ffee3"),
    ] {
        repo.promote(&["set-image", "dev", &format!("vllm-openai={reference}")])
            .ok();
        let m = repo.read("environments/dev/manifests/vllm-openai-deployment.yaml");
        assert!(
            m.contains(&format!("        image: vllm/vllm-openai:{tag}\n")),
            "{m}"
        );
    }
    let other = repo.promote(&[
        "set-image",
        "dev",
        "vllm-openai=ghcr.io/vllm/vllm-openai:c0ffee4",
    ]);
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("this service's image is `docker.io/vllm/vllm-openai`"),
        "{}",
        other.stderr
    );
}

#[test]
fn init_adopts_two_docker_hub_namespaces_beside_a_registry_host() {
    let (_, config) = adopt(&[vllm(), otel(), podinfo()]);
    assert!(
        config.contains("    image: docker.io/otel/opentelemetry-collector-contrib\n"),
        "{config}"
    );
}

#[test]
fn init_adopts_three_docker_hub_namespaces_and_db_services() {
    let (_, config) = adopt(&[
        vllm(),
        otel(),
        podinfo(),
        svc("carts", "weaveworksdemos/carts", "a1b2c3d", "d4c3b2a"),
        svc(
            "catalogue-db",
            "weaveworksdemos/catalogue-db",
            "7a7596b",
            "0c0ffee",
        ),
        svc("user-db", "weaveworksdemos/user-db", "b3f1e2d", "2d3c4b5"),
    ]);
    // The most used namespace is the registry, in Docker Hub's spelling.
    assert!(
        config.contains("registry: docker.io/weaveworksdemos\n"),
        "{config}"
    );
    assert!(
        config.contains("    image: reg.example.com/acme/podinfo\n"),
        "{config}"
    );
}
