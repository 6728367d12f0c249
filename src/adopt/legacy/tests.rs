use std::collections::{BTreeSet, HashMap};

use super::*;

fn toks(s: &str) -> Vec<&str> {
    tokens(s.as_bytes())
        .into_iter()
        .map(|(a, b)| &s[a..b])
        .collect()
}

#[test]
fn tokens_are_all_caps_runs() {
    assert_eq!(
        toks("    - host: DOMAIN_PREFIXapi.example.com"),
        ["DOMAIN_PREFIX"]
    );
    assert_eq!(
        toks("image: r.io/api:COMMIT_SHA # A x __TAG__ 8080 2XL"),
        ["COMMIT_SHA", "__TAG__", "XL"]
    );
    assert_eq!(toks("project: {{PROJECT_ID}}"), ["PROJECT_ID"]);
}

fn align(t: &str, o: &str) -> Option<Vec<String>> {
    let toks = tokens(t.as_bytes());
    align_line(t.as_bytes(), o.as_bytes(), &toks, &HashMap::new())
        .map(|r| r.into_iter().map(|(a, b)| o[a..b].to_string()).collect())
}

#[test]
fn lines_align_on_their_literal_text() {
    assert_eq!(
        align(
            "  image: r.io/api:COMMIT_SHA\n",
            "  image: r.io/api:a252dcc\n"
        )
        .unwrap(),
        ["a252dcc"]
    );
    assert_eq!(
        align("- host: DOMAIN_PREFIXapi.x\r\n", "- host: api.x\r\n").unwrap(),
        [""]
    );
    // Tokens left as they are stand for themselves.
    assert_eq!(
        align("- name: PORT # NS_X\n", "- name: PORT # acme\n").unwrap(),
        ["PORT", "acme"]
    );
    // A hand edit outside the tokens.
    assert_eq!(
        align("replicas: 1 # COMMIT_SHA\n", "replicas: 3 # abc\n"),
        None
    );
    assert_eq!(align("a: COMMIT_SHA\n", "a: abc\nb\n"), None);
}

#[test]
fn many_tokens_on_a_line_that_does_not_match_give_up_quickly() {
    let t = format!("{}\n", "AB ".repeat(400));
    let o = format!("{}x\n", "ab ".repeat(400));
    let start = std::time::Instant::now();
    assert_eq!(align(&t, &o), None);
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn pipeline_by_name() {
    let names: Vec<String> = ["prod", "dev", "staging", "qa"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let p = pipeline(&names);
    assert_eq!(
        p,
        vec![
            ("dev".to_string(), None),
            ("qa".to_string(), Some("dev".to_string())),
            ("staging".to_string(), Some("qa".to_string())),
            ("prod".to_string(), Some("staging".to_string())),
        ]
    );
    let names: Vec<String> = ["prod-us", "prod-eu", "dev"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let p = pipeline(&names);
    assert_eq!(p[1], ("prod-eu".to_string(), Some("dev".to_string())));
    assert_eq!(p[2], ("prod-us".to_string(), Some("dev".to_string())));
}

#[test]
fn placeholder_keys() {
    let mut taken = BTreeSet::new();
    assert_eq!(key_for("NAMESPACE_PLACEHOLDER", &mut taken), "namespace");
    assert_eq!(key_for("DOMAIN_PREFIX", &mut taken), "host_prefix");
    assert_eq!(key_for("__PROJECT_ID__", &mut taken), "project_id");
    assert_eq!(key_for("K8S_NS", &mut taken), "namespace_2");
}

#[test]
fn services_and_registry_from_images() {
    let images: BTreeSet<String> = ["r.io/acme/api", "r.io/acme/web", "ghcr.io/x/proxy_v2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (registry, services) = services_of(&images);
    assert_eq!(registry, "r.io/acme");
    assert_eq!(
        services[0],
        ServiceFound {
            name: "api".into(),
            image: "r.io/acme/api".into(),
            image_key: None
        }
    );
    assert_eq!(services[1].name, "proxy-v2");
    assert_eq!(services[1].image_key.as_deref(), Some("ghcr.io/x/proxy_v2"));
}

#[test]
fn old_metadata_best_effort() {
    let text = r#"{"api_sha": "a252dcc", "images": {"web": "r.io/acme/web:b3f1e2d"},
        "api_url": "https://api.dev.example", "database": "postgres://db/acme",
        "kube_context": "gke_dev", "deployed_at": "2024-05-01 10:00:00", "by": "bob"}"#;
    let old = read_old_metadata(text.as_bytes(), &["api".into(), "web".into()]);
    assert_eq!(old.format, "json");
    assert_eq!(old.versions.get("api").unwrap(), "a252dcc");
    assert_eq!(old.versions.get("web").unwrap(), "b3f1e2d");
    assert_eq!(old.urls.get("api").unwrap(), "https://api.dev.example");
    assert_eq!(old.database.unwrap(), "postgres://db/acme");
    assert_eq!(old.kube_context.unwrap(), "gke_dev");
    assert_eq!(old.time.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(old.unused, ["by"]);
    let lines = read_old_metadata(b"API_SHA=a252dcc\nKUBE_CONTEXT=gke\n", &["api".into()]);
    assert_eq!(lines.format, "lines");
    assert_eq!(lines.versions.get("api").unwrap(), "a252dcc");
    assert_eq!(read_old_metadata(b"\x00\x01", &[]).format, "unreadable");
}

#[test]
fn old_metadata_services_named_like_fields_stay_services() {
    let text = r#"{"db": "dev-db.internal", "kube_context": "gke_dev",
        "images": {"catalogue-db": "7a7596b", "user-db": "r.io/acme/user-db:b3f1e2d",
                   "catalogue": "c0ffee1", "session-db-url": "8bad1de"},
        "urls": {"catalogue-db_url": "https://cat.dev.example"}}"#;
    let services: Vec<String> = ["catalogue-db", "user-db", "catalogue", "session-db-url"]
        .map(String::from)
        .to_vec();
    let old = read_old_metadata(text.as_bytes(), &services);
    assert_eq!(old.database.unwrap(), "dev-db.internal");
    assert_eq!(old.versions.get("catalogue-db").unwrap(), "7a7596b");
    assert_eq!(old.versions.get("user-db").unwrap(), "b3f1e2d");
    assert_eq!(old.versions.get("catalogue").unwrap(), "c0ffee1");
    assert_eq!(old.versions.get("session-db-url").unwrap(), "8bad1de");
    assert_eq!(
        old.urls.get("catalogue-db").unwrap(),
        "https://cat.dev.example"
    );
    assert_eq!(old.kube_context.unwrap(), "gke_dev");
    assert!(old.unused.is_empty(), "{:?}", old.unused);
}

#[test]
fn literals_survive_minijinja() {
    assert_eq!(literal("a: b\n"), "a: b\n");
    assert_eq!(
        literal("p: {{PROJECT_ID}}\n"),
        "{% raw %}p: {{PROJECT_ID}}\n{% endraw %}"
    );
    assert_eq!(literal("x{"), "{% raw %}x{{% endraw %}");
    assert_eq!(access("versions", "my-svc"), "versions[\"my-svc\"]");
    assert_eq!(access("values", "a.b"), "values.a.b");
}

#[test]
fn yaml_scalars() {
    assert_eq!(yaml_scalar("acme-dev"), "acme-dev");
    assert_eq!(yaml_scalar("dev."), "dev.");
    assert_eq!(yaml_scalar(""), "\"\"");
    assert_eq!(yaml_scalar("yes"), "\"yes\"");
    assert_eq!(yaml_scalar("0123"), "\"0123\"");
    assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
}
