use minijinja::value::Value;
use serde_json::json;

use super::*;

fn problems_of(path: &str, text: &str) -> Vec<String> {
    let mut p = Vec::new();
    validate_manifest(path, text.as_bytes(), &mut p);
    p.into_iter().map(|p| p.to_string()).collect()
}

#[test]
fn yaml_fragments_keep_structure() {
    let f = |s: &str| yaml_fragment(&Value::from(s));
    assert_eq!(f("a/b&c|d\\e"), "a/b&c|d\\e");
    assert_eq!(f("line1\nkind: Secret"), "\"line1\\nkind: Secret\"");
    assert_eq!(f("*.example.com"), "\"*.example.com\"");
    assert_eq!(
        f(""),
        crate::render::yamltype::mark(""),
        "resolved by its place"
    );
    assert_eq!(f("a: b"), "\"a: b\"");
    assert_eq!(yaml_fragment(&Value::from(3)), "3");
    assert_eq!(
        yaml_fragment(&Value::from_serialize(json!({"cpu": "100m"}))),
        "{\"cpu\":\"100m\"}"
    );
}

#[test]
fn manifests_need_kind_and_name() {
    assert!(problems_of(
        "a.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n"
    )
    .is_empty());
    let p = problems_of(
        "a.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n---\nkind: Service\nmetadata: {}\n",
    );
    assert_eq!(
        p,
        vec![
            "`a.yaml` (line 5): a document has no `apiVersion`".to_string(),
            "`a.yaml` (line 5): a `Service` has no `metadata.name`".to_string()
        ]
    );
    let p = problems_of("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: [\n");
    assert!(p[0].starts_with("`a.yaml` (line 4): invalid YAML"), "{p:?}");
}

#[test]
fn container_images_must_be_valid_references() {
    let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: \"reg.io/api:\"\n";
    let p = problems_of("d.yaml", doc);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("reg.io/api:"), "{p:?}");
}

#[test]
fn labels_and_env_values_must_be_strings() {
    let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n    version: 1234567\n    ok: \"1234567\"\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: r.io/api:1\n          env:\n            - name: DEBUG\n              value: true\n";
    let p = problems_of("d.yaml", doc);
    assert_eq!(
        p,
        vec![
            "`d.yaml` (line 1): `metadata.labels.version` is the number `1234567`, but Kubernetes wants a string".to_string(),
            "`d.yaml` (line 1): env `DEBUG` in `spec.template.spec.containers[0].env` is the boolean `true`, but Kubernetes wants a string".to_string(),
        ]
    );
}

#[test]
fn glob() {
    assert!(glob_match("api/*", "api/hpa.yaml"));
    assert!(glob_match("*/hpa.yaml", "api/hpa.yaml"));
    assert!(!glob_match("api/*", "web/hpa.yaml"));
    assert!(glob_match("api/hpa.yaml", "api/hpa.yaml"));
}

#[test]
fn fill_creates_paths() {
    let mut c = json!({"values": {"a": 1}});
    assert!(fill(&mut c, "values.b.c"));
    assert_eq!(c, json!({"values": {"a": 1, "b": {"c": ""}}}));
    assert!(!fill(&mut c, "values.a.x"));
}
