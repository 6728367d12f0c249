//! The renderer: `promote render`, `render --check` and the drift part of `promote check`, run through
//! the real binary on small config repositories written by hand in each test.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::snapshot;
use crate::support::{corpus_dir, redact, Repo, Run};

const REGISTRY: &str = "reg.example.com/acme";

/// A metadata file that runs `versions` (service, tag) from the registry above.
fn metadata(env: &str, versions: &[(&str, &str)]) -> String {
    metadata_with_images(
        env,
        &versions
            .iter()
            .map(|(svc, v)| (*svc, format!("{REGISTRY}/{svc}"), *v))
            .collect::<Vec<_>>(),
    )
}

/// A metadata file that runs `versions` (service, image repository, tag).
fn metadata_with_images(env: &str, versions: &[(&str, String, &str)]) -> String {
    let mut services = serde_json::Map::new();
    for (svc, image, v) in versions {
        services.insert(
            svc.to_string(),
            serde_json::json!({
                "version": v,
                "image": format!("{image}:{v}"),
                "updated": "2026-11-01T00:00:00Z",
            }),
        );
    }
    let meta = serde_json::json!({ "environment": env, "services": services });
    format!("{}\n", serde_json::to_string_pretty(&meta).unwrap())
}

/// The file names in a directory of the work tree, sorted (empty when it does not exist).
fn files_in(repo: &Repo, dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(repo.file(dir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// (mtime, inode) of a file: a rewrite through a temp file and a rename changes the inode.
fn stamp(repo: &Repo, rel: &str) -> (std::time::SystemTime, u64) {
    let m = std::fs::metadata(repo.file(rel)).unwrap();
    (m.modified().unwrap(), m.ino())
}

// ---------------------------------------------------------------------------------------------
// A small native repository: two services, two environments.

const NATIVE_CONFIG: &str = "\
registry: reg.example.com/acme
services:
  api:
  web:
values:
  replicas: 1
environments:
  dev:
    exclude:
      - web/hpa.yaml
    values:
      host: dev.example.com
  prod:
    from: dev
    values:
      replicas: 3
      host: www.example.com
";

const API_TEMPLATE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: acme-{{ env }}
spec:
  replicas: {{ values.replicas }}
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
          image: {{ image }}
";

const WEB_TEMPLATE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: acme-{{ env }}
  labels:
    version: \"{{ version }}\"
spec:
  replicas: {{ values.replicas }}
  template:
    spec:
      containers:
        - name: web
          image: {{ image }}
          env:
            - name: API_IMAGE
              value: {{ images.api }}
";

const HPA_TEMPLATE: &str = "\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: {{ values.replicas }}
  maxReplicas: 10
";

const INGRESS_TEMPLATE: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: acme
spec:
  rules:
    - host: {{ values.host }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port:
                  number: 80
";

/// prod's own copy of the api template: a priority class only prod has.
fn prod_api_override() -> String {
    let with = "    spec:\n      priorityClassName: production-critical\n      containers:";
    let out = API_TEMPLATE.replace("    spec:\n      containers:", with);
    assert_ne!(out, API_TEMPLATE);
    out
}

/// The native repository, committed and pushed (nothing rendered yet).
fn native_repo() -> Repo {
    let repo = Repo::new();
    repo.write("promote.yaml", NATIVE_CONFIG);
    repo.write("templates/api/deployment.yaml", API_TEMPLATE);
    repo.write("templates/web/deployment.yaml", WEB_TEMPLATE);
    repo.write("templates/web/hpa.yaml", HPA_TEMPLATE);
    repo.write("templates/ingress.yaml", INGRESS_TEMPLATE);
    repo.write(
        "environments/prod/templates/api/deployment.yaml",
        prod_api_override(),
    );
    repo.write(
        "environments/dev/metadata.json",
        metadata("dev", &[("api", "a252dcc"), ("web", "b3f1e2d")]),
    );
    repo.write(
        "environments/prod/metadata.json",
        metadata("prod", &[("api", "1d2c3b4"), ("web", "9f8e7d6")]),
    );
    repo.commit_all("config, templates, metadata");
    repo.git(&["push", "-q"]);
    repo
}

/// The native repository with its manifests rendered and committed.
fn rendered_native_repo() -> Repo {
    let repo = native_repo();
    repo.promote(&["render"]).ok();
    repo.commit_all("render");
    assert_eq!(repo.status(), "");
    repo
}

#[test]
fn native_layout_renders_shared_templates_values_overrides_and_excludes() {
    let repo = native_repo();
    let run = repo.promote(&["render"]).ok();
    assert_eq!(
        run.stderr, "",
        "render's results (what it wrote) go to stdout"
    );
    snapshot!("render/native-render.txt", &redact(&repo, &run.stdout));

    // dev excludes web/hpa.yaml; prod renders it. Shared templates under a service's directory are
    // flattened to `<service>-<file>`.
    assert_eq!(
        files_in(&repo, "environments/dev/manifests"),
        ["api-deployment.yaml", "ingress.yaml", "web-deployment.yaml"]
    );
    assert_eq!(
        files_in(&repo, "environments/prod/manifests"),
        [
            "api-deployment.yaml",
            "ingress.yaml",
            "web-deployment.yaml",
            "web-hpa.yaml"
        ]
    );

    // dev: the shared api template, the shared default `replicas: 1`, dev's own version.
    assert_eq!(
        repo.read("environments/dev/manifests/api-deployment.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: acme-dev
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
          image: reg.example.com/acme/api:a252dcc
"
    );
    assert_eq!(
        repo.read("environments/dev/manifests/web-deployment.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: acme-dev
  labels:
    version: \"b3f1e2d\"
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: reg.example.com/acme/web:b3f1e2d
          env:
            - name: API_IMAGE
              value: reg.example.com/acme/api:a252dcc
"
    );
    assert_eq!(
        repo.read("environments/dev/manifests/ingress.yaml"),
        INGRESS_TEMPLATE.replace("{{ values.host }}", "dev.example.com")
    );

    // prod: its own api template (the override), its own values over the shared ones.
    assert_eq!(
        repo.read("environments/prod/manifests/api-deployment.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: acme-prod
spec:
  replicas: 3
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      priorityClassName: production-critical
      containers:
        - name: api
          image: reg.example.com/acme/api:1d2c3b4
"
    );
    assert_eq!(
        repo.read("environments/prod/manifests/web-hpa.yaml"),
        HPA_TEMPLATE.replace("{{ values.replicas }}", "3")
    );
    assert_eq!(
        repo.read("environments/prod/manifests/web-deployment.yaml"),
        WEB_TEMPLATE
            .replace("{{ env }}", "prod")
            .replace("{{ version }}", "9f8e7d6")
            .replace("{{ values.replicas }}", "3")
            .replace("{{ image }}", "reg.example.com/acme/web:9f8e7d6")
            .replace("{{ images.api }}", "reg.example.com/acme/api:1d2c3b4")
    );
    assert_eq!(
        repo.read("environments/prod/manifests/ingress.yaml"),
        INGRESS_TEMPLATE.replace("{{ values.host }}", "www.example.com")
    );

    // Rendering writes files; it does not commit, and touches nothing outside the manifests.
    let status = repo.status();
    let changed: Vec<&str> = status.lines().collect();
    assert!(
        changed
            .iter()
            .all(|l| l.starts_with("?? environments/") && l.contains("/manifests/")),
        "{status}"
    );
    assert_eq!(changed.len(), 7, "{status}");

    // Same inputs, same bytes: a fresh repository renders the identical tree.
    let again = native_repo();
    again.promote(&["render"]).ok();
    for env in ["dev", "prod"] {
        let dir = format!("environments/{env}/manifests");
        for f in files_in(&repo, &dir) {
            let rel = format!("{dir}/{f}");
            assert_eq!(repo.read_bytes(&rel), again.read_bytes(&rel), "{rel}");
        }
    }
}

/// A repository whose one template uses `template` as its body, and `config` as promote.yaml.
fn one_template_repo(config: &str, template: &str) -> Repo {
    let repo = Repo::new();
    repo.write("promote.yaml", config);
    repo.write("templates/api/deployment.yaml", template);
    repo.write(
        "environments/dev/metadata.json",
        metadata("dev", &[("api", "a252dcc")]),
    );
    repo.commit_all("config");
    repo
}

const NO_VALUES_CONFIG: &str =
    "registry: reg.example.com/acme\nservices:\n  api:\nenvironments:\n  dev:\n";

/// Renders a template whose `api` container has `api_extra` after its image, beside a sidecar with an
/// undefined tag: exit 1 with every undefined value named (`needles`), and nothing written.
fn undefined_values(api_extra: &str, name: &str, needles: [&str; 3]) -> Repo {
    let template = format!(
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: {{{{ values.replicas }}}}
  template:
    spec:
      containers:
        - name: api
          image: {{{{ image }}}}
{api_extra}        - name: sidecar
          image: reg.example.com/acme/sidecar:{{{{ image_tag }}}}
"
    );
    let repo = one_template_repo(NO_VALUES_CONFIG, &template);
    let run = repo.promote(&["render"]).expect(1);
    snapshot!(format!("render/{name}"), &redact(&repo, &run.stderr));
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in\n{}",
            run.stderr
        );
    }
    assert!(
        !repo.exists("environments/dev/manifests"),
        "nothing is written"
    );
    assert_eq!(repo.status(), "");
    repo
}

#[test]
fn undefined_values_are_errors_naming_template_line_and_every_variable() {
    undefined_values(
        "          resources:\n            requests:\n              cpu: {{ values.resources.cpu }}\n",
        "strict-undefined.txt",
        [
            "`templates/api/deployment.yaml` (line 6): uses undefined value `values.replicas`",
            "`templates/api/deployment.yaml` (line 14): uses undefined value `values.resources.cpu`",
            "`templates/api/deployment.yaml` (line 16): uses undefined value `image_tag`",
        ],
    );
}

/// The same promise for names at most two deep, which works today.
#[test]
fn undefined_values_two_names_deep_are_all_reported_at_once() {
    let repo = undefined_values(
        "          args: [--cpu={{ values.cpu }}]\n",
        "strict-undefined-shallow.txt",
        [
            "`templates/api/deployment.yaml` (line 6): uses undefined value `values.replicas`",
            "`templates/api/deployment.yaml` (line 12): uses undefined value `values.cpu`",
            "`templates/api/deployment.yaml` (line 14): uses undefined value `image_tag`",
        ],
    );

    // `check` and `render --check` see the same problems and write nothing either.
    let run = repo.promote(&["check"]).expect(1);
    run.stdout_has("uses undefined value `image_tag`");
    repo.promote(&["render", "--check"]).expect(1);
    assert!(!repo.exists("environments/dev/manifests"));
}

/// An empty value is as wrong as a missing one where it would leave an image without its tag.
#[test]
fn an_image_left_without_its_tag_is_an_error() {
    let repo = one_template_repo(
        "registry: reg.example.com/acme\nservices:\n  api:\nenvironments:\n  dev:\n    values:\n      sidecar_tag: \"\"\n",
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: {{ image }}
        - name: sidecar
          image: reg.example.com/acme/sidecar:{{ values.sidecar_tag }}
",
    );
    let run = repo.promote(&["render"]).expect(1);
    // `image: reg.example.com/acme/sidecar:` does not even parse as YAML (a key without a value).
    run.stderr_has("`environments/dev/manifests/api-deployment.yaml` (line 12)");
    run.stderr_has("`templates/api/deployment.yaml`");
    assert!(!repo.exists("environments/dev/manifests"));
}

#[test]
fn values_with_sed_metacharacters_and_newlines_render_as_data() {
    let repo = Repo::new();
    // Each value would break `sed "s/X/$value/g"` or inject into the manifest if pasted as text.
    repo.write(
        "promote.yaml",
        r#"registry: reg.example.com/acme
services:
  api:
environments:
  dev:
    values:
      path: /srv/data/a/b
      amp: R&D
      lead_amp: "&anchor"
      pipe: a|b
      lead_pipe: "| rm -rf /"
      backslash: 'C:\temp\new'
      newline: "first line\nstolen: true"
      document: "x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen"
"#,
    );
    repo.write(
        "templates/config.yaml",
        "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
data:
  path: {{ values.path }}
  amp: {{ values.amp }}
  lead_amp: {{ values.lead_amp }}
  pipe: {{ values.pipe }}
  lead_pipe: {{ values.lead_pipe }}
  backslash: {{ values.backslash }}
  newline: {{ values.newline }}
  document: {{ values.document }}
",
    );
    repo.write(
        "environments/dev/metadata.json",
        metadata("dev", &[("api", "a252dcc")]),
    );
    repo.commit_all("config");

    repo.promote(&["render"]).ok();
    let text = repo.read("environments/dev/manifests/config.yaml");
    assert_eq!(
        text,
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: config
data:
  path: /srv/data/a/b
  amp: R&D
  lead_amp: "&anchor"
  pipe: a|b
  lead_pipe: "| rm -rf /"
  backslash: C:\temp\new
  newline: "first line\nstolen: true"
  document: "x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen"
"#
    );

    // Exactly one document, with exactly the keys the template wrote, holding the values verbatim.
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 1, "{text}");
    let doc = docs[0].as_mapping().unwrap();
    let top: Vec<&str> = doc.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(top, ["apiVersion", "kind", "metadata", "data"]);
    assert_eq!(docs[0]["kind"].as_str(), Some("ConfigMap"));
    let data = docs[0]["data"].as_mapping().unwrap();
    let keys: Vec<&str> = data.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "path",
            "amp",
            "lead_amp",
            "pipe",
            "lead_pipe",
            "backslash",
            "newline",
            "document"
        ]
    );
    let get = |k: &str| docs[0]["data"][k].as_str().unwrap().to_string();
    assert_eq!(get("path"), "/srv/data/a/b");
    assert_eq!(get("amp"), "R&D");
    assert_eq!(get("lead_amp"), "&anchor");
    assert_eq!(get("pipe"), "a|b");
    assert_eq!(get("lead_pipe"), "| rm -rf /");
    assert_eq!(get("backslash"), "C:\\temp\\new");
    assert_eq!(get("newline"), "first line\nstolen: true");
    assert_eq!(
        get("document"),
        "x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen"
    );
}

// ---------------------------------------------------------------------------------------------
// Legacy layout: byte-identical to the sed script it replaces.

/// The bytes of a corpus manifest.
fn corpus(rel: &str) -> String {
    let path = corpus_dir().join("manifests").join(rel);
    String::from_utf8(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// The features INDEX.json records for a corpus manifest.
fn corpus_features(rel: &str) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus_dir().join("manifests/INDEX.json")).unwrap())
            .unwrap();
    let entry = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == rel)
        .unwrap_or_else(|| panic!("{rel} is not in INDEX.json"));
    entry["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// `text` with `from` replaced by `to`, which must occur in it (so a changed corpus fails loudly).
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is not in the corpus file");
    text.replace(from, to)
}

/// Puts `namespace: NAMESPACE_PLACEHOLDER` under every top-level `metadata:` (line endings kept).
fn add_namespace(text: &str) -> String {
    let mut out = String::new();
    let mut added = 0;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        let bare = line.trim_end_matches('\n');
        if bare.trim_end_matches('\r') == "metadata:" {
            let eol = &line[bare.trim_end_matches('\r').len()..];
            out.push_str("  namespace: NAMESPACE_PLACEHOLDER");
            out.push_str(if eol.is_empty() { "\n" } else { eol });
            added += 1;
        }
    }
    assert!(added > 0, "no top-level `metadata:` in the corpus file");
    out
}

/// What the old script did for one file: `sed -e ... template > output`, with the real sed.
fn sed(template: &std::path::Path, sha: &str, namespace: &str, prefix: &str) -> Vec<u8> {
    let out = Command::new("sed")
        .arg("-e")
        .arg(format!("s/COMMIT_SHA/{sha}/g"))
        .arg("-e")
        .arg(format!("s/NAMESPACE_PLACEHOLDER/{namespace}/g"))
        .arg("-e")
        .arg(format!("s/DOMAIN_PREFIX/{prefix}/g"))
        .arg(template)
        .output()
        .expect("run sed");
    assert!(
        out.status.success(),
        "sed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const BOUTIQUE: &str = "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo";
const BOUTIQUE_SERVICES: &[&str] = &[
    "frontend",
    "adservice",
    "currencyservice",
    "cartservice",
    "loadgenerator",
    "recommendationservice",
    "checkoutservice",
    "emailservice",
    "paymentservice",
    "shippingservice",
    "productcatalogservice",
];

/// The legacy config: three placeholders, prod's domain prefix explicitly empty.
fn legacy_config() -> String {
    let mut c = String::from(
        "\
layout: legacy
registry: reg.example.com/acme
placeholders:
  COMMIT_SHA: version
  NAMESPACE_PLACEHOLDER: namespace
  DOMAIN_PREFIX: host_prefix
services:
  api:
  web:
",
    );
    for s in BOUTIQUE_SERVICES {
        c.push_str(&format!("  {s}:\n    image: {BOUTIQUE}/{s}\n"));
    }
    c.push_str(
        "\
environments:
  staging:
    values:
      namespace: acme-staging
      host_prefix: staging.
  prod:
    from: staging
    values:
      namespace: acme-prod
      host_prefix: \"\"
",
    );
    c
}

/// The legacy templates, made from real manifests: (file name, bytes).
fn legacy_templates() -> Vec<(&'static str, String)> {
    let guestbook = "kubernetes-examples/web/guestbook/all-in-one/guestbook-all-in-one.yaml";
    let boutique = "GoogleCloudPlatform-microservices-demo/release/kubernetes-manifests.yaml";
    let hpa = "kubernetes-examples/AI/vllm-deployment/hpa/horizontal-pod-autoscaler.yaml";
    let podinfo = "stefanprodan-podinfo/kustomize/deployment.yaml";
    let ingress = "kubernetes-examples/AI/model-serving-tensorflow/ingress.yaml";
    let cassandra = "kubernetes-examples/databases/cassandra/cassandra-statefulset.yaml";

    // Why each file is here, as INDEX.json records it.
    assert!(corpus_features(guestbook).contains(&"multi-doc".to_string()));
    assert!(corpus_features(guestbook).contains(&"comments".to_string()));
    assert!(corpus_features(boutique).contains(&"multi-doc".to_string()));
    assert!(corpus_features(hpa).contains(&"no-final-newline".to_string()));
    assert!(corpus_features(cassandra).contains(&"trailing-whitespace".to_string()));
    assert!(!corpus(hpa).ends_with('\n'));

    // guestbook: the frontend image becomes our `web` service at COMMIT_SHA (the version belongs to
    // the image right before it), in a namespace per environment.
    let guestbook = add_namespace(&replace(
        &corpus(guestbook),
        "gcr.io/google-samples/gb-frontend:v5",
        "reg.example.com/acme/web:COMMIT_SHA",
    ));
    // Online Boutique: 35 documents, 11 of our services by their full image names.
    let boutique = add_namespace(&replace(&corpus(boutique), ":v0.10.6", ":COMMIT_SHA"));
    // No final newline: sed keeps it that way, so must we.
    let hpa = add_namespace(&corpus(hpa));
    // podinfo as `api-deployment.yaml.tpl`: a COMMIT_SHA that follows no image belongs to `api`,
    // whose name prefixes the file name.
    let podinfo = add_namespace(&replace(
        &replace(
            &corpus(podinfo),
            "ghcr.io/stefanprodan/podinfo:6.14.1",
            "reg.example.com/acme/api:COMMIT_SHA",
        ),
        "--grpc-service-name=podinfo",
        "--grpc-service-name=podinfo-COMMIT_SHA",
    ));
    // The ingress with CRLF line endings and a host under a per-environment domain prefix.
    let ingress = add_namespace(
        &replace(
            &corpus(ingress),
            "    - http:\n",
            "    - host: DOMAIN_PREFIXapi.example.com\n      http:\n",
        )
        .replace('\n', "\r\n"),
    );
    assert!(ingress.contains("\r\n  namespace: NAMESPACE_PLACEHOLDER\r\n"));
    let cassandra = add_namespace(&corpus(cassandra));

    vec![
        ("guestbook.yaml.tpl", guestbook),
        ("boutique.yaml.tpl", boutique),
        ("hpa.yaml.tpl", hpa),
        ("api-deployment.yaml.tpl", podinfo),
        ("ingress.yaml.tpl", ingress),
        ("cassandra.yaml.tpl", cassandra),
    ]
}

fn all_services() -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("api", format!("{REGISTRY}/api")),
        ("web", format!("{REGISTRY}/web")),
    ];
    out.extend(
        BOUTIQUE_SERVICES
            .iter()
            .map(|s| (*s, format!("{BOUTIQUE}/{s}"))),
    );
    out
}

/// The legacy templates in `env`'s directory, with every service at `sha` in its metadata.
fn write_legacy_env(repo: &Repo, env: &str, sha: &str) {
    for (name, text) in legacy_templates() {
        repo.write(&format!("{env}/{name}"), text);
    }
    let versions: Vec<(&str, String, &str)> = all_services()
        .into_iter()
        .map(|(s, image)| (s, image, sha))
        .collect();
    repo.write(
        &format!("{env}/metadata.json.noargo"),
        metadata_with_images(env, &versions),
    );
}

#[test]
fn legacy_layout_is_byte_identical_to_sed() {
    let repo = Repo::new();
    repo.write("promote.yaml", legacy_config());
    let envs = [
        ("staging", "a252dcc", "acme-staging", "staging."),
        // prod's domain prefix is set, to the empty string: valid, and sed agrees.
        ("prod", "b3f1e2d4c5a6", "acme-prod", ""),
    ];
    let templates = legacy_templates();
    for (env, sha, _, _) in envs {
        write_legacy_env(&repo, env, sha);
    }
    repo.commit_all("legacy templates");

    let run = repo.promote(&["render"]).ok();
    run.stdout_has("rendered 12 files: 12 changed, 0 unchanged");

    for (env, sha, namespace, prefix) in envs {
        for (name, _) in &templates {
            let template = repo.file(&format!("{env}/{name}"));
            let output = format!("{env}/{}", name.trim_end_matches(".tpl"));
            let expected = sed(&template, sha, namespace, prefix);
            let actual = repo.read_bytes(&output);
            assert!(
                actual == expected,
                "`{output}` differs from sed's output:\n{}",
                similar::TextDiff::from_lines(
                    &String::from_utf8_lossy(&expected),
                    &String::from_utf8_lossy(&actual)
                )
                .unified_diff()
                .header("sed", "promote")
            );
        }
    }

    // Spot checks that the substitutions happened (sed and promote could both be doing nothing).
    let hpa = repo.read("prod/hpa.yaml");
    assert!(hpa.contains("  namespace: acme-prod\n") && hpa.ends_with("periodSeconds: 15"));
    let ingress = repo.read("prod/ingress.yaml");
    assert!(
        ingress.contains("    - host: api.example.com\r\n"),
        "{ingress}"
    );
    assert!(repo
        .read("staging/ingress.yaml")
        .contains("- host: staging.api.example.com\r\n"));
    let boutique = repo.read("staging/boutique.yaml");
    assert_eq!(boutique.matches(":a252dcc").count(), 11);
    assert_eq!(boutique.matches("namespace: acme-staging").count(), 35);
    let api = repo.read("prod/api-deployment.yaml");
    assert!(
        api.contains("--grpc-service-name=podinfo-b3f1e2d4c5a6\n"),
        "{api}"
    );
    for (env, _, _, _) in envs {
        for f in files_in(&repo, env) {
            assert!(
                !repo.read(&format!("{env}/{f}")).contains("PLACEHOLDER") || f.ends_with(".tpl"),
                "{env}/{f}"
            );
        }
    }

    // What was rendered is what the templates render: `check` is clean, `render --check` too.
    repo.commit_all("render");
    repo.promote(&["check"]).ok();
    repo.promote(&["render", "--check"]).ok();
}

#[test]
fn legacy_promotions_skip_templates_without_versions_only_while_git_proves_them_unchanged() {
    crate::support::in_process_path_only();
    // A promotion remembers which templates have no version placeholder and what they render to
    // (`.git/promote/render-memo/<env>`); later promotions neither read nor render those while
    // git's index holds the same blobs. Any committed change to one of them is still drift.
    let repo = Repo::new();
    repo.write("promote.yaml", legacy_config());
    for (env, sha) in [("staging", "a252dcc"), ("prod", "b3f1e2d")] {
        write_legacy_env(&repo, env, sha);
    }
    repo.commit_all("legacy templates");
    repo.promote(&["render"]).ok();
    repo.commit_all("render");

    let memo = ".git/promote/render-memo/prod";
    assert!(!repo.exists(memo));
    repo.promote(&["to", "prod"]).ok();
    let remembered: Vec<String> = repo
        .read(memo)
        .lines()
        .skip(2)
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    // The three templates without COMMIT_SHA, and none of those with it.
    assert_eq!(
        remembered,
        [
            "prod/cassandra.yaml.tpl",
            "prod/hpa.yaml.tpl",
            "prod/ingress.yaml.tpl"
        ]
    );
    repo.promote(&["render", "--check"]).ok();

    // With the memo in use: a new version arrives in prod, and every manifest is what its template
    // renders (the skipped ones included).
    let set = |sha: &str| {
        repo.promote(&["set-image", "staging", "--sha", sha]).ok();
    };
    set("c4a2f3e");
    repo.promote(&["to", "prod"]).ok();
    assert!(repo.read("prod/api-deployment.yaml").contains(":c4a2f3e"));
    assert!(repo.read("prod/hpa.yaml").contains("namespace: acme-prod"));
    repo.promote(&["render", "--check"]).ok();

    // Each kind of committed change to a remembered template or its manifest is drift.
    let head = repo.head();
    let hpa = repo.read("prod/hpa.yaml");
    let cassandra = repo.read("prod/cassandra.yaml.tpl");
    let config = legacy_config();
    // (what, the file written, its new bytes, the manifest reported)
    let changes = [
        (
            "a hand edit of a manifest",
            "prod/hpa.yaml",
            hpa.replace("minReplicas", "minReplicas: 9\n  # minReplicas"),
            "prod/hpa.yaml",
        ),
        (
            "a template edited but not rendered",
            "prod/cassandra.yaml.tpl",
            format!("# new\n{cassandra}"),
            "prod/cassandra.yaml",
        ),
        (
            "a value changed but not rendered",
            "promote.yaml",
            config.replace("acme-prod", "acme-live"),
            "prod/hpa.yaml",
        ),
    ];
    for (i, (what, path, bytes, file)) in changes.iter().enumerate() {
        repo.write(path, bytes);
        repo.commit_all(what);
        set(["d5b3a4f", "e6c4b5a", "f7d5c6b"][i]);
        let run = repo.promote(&["to", "prod"]).expect(1);
        assert!(
            run.stderr
                .contains("differ from what its templates render now")
                && run.stderr.contains(&format!("  {file}\n")),
            "{what}: {}",
            run.stderr
        );
        repo.git(&["reset", "-q", "--hard", &head]);
    }
    repo.promote(&["to", "prod"]).ok();
}

#[test]
fn legacy_version_placeholder_belongs_to_the_image_before_it_or_the_file_name() {
    let repo = Repo::new();
    repo.write(
        "promote.yaml",
        "\
layout: legacy
registry: reg.example.com/acme
placeholders:
  COMMIT_SHA: version
services:
  api:
  web:
environments:
  dev:
",
    );
    // A file named after `api` that also runs `web`'s image.
    let template = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    version: COMMIT_SHA
spec:
  template:
    spec:
      containers:
        - name: api
          image: reg.example.com/acme/api:COMMIT_SHA
        - name: web
          image: \"reg.example.com/acme/web:COMMIT_SHA\"
";
    repo.write("dev/api-deployment.yaml.tpl", template);
    repo.write(
        "dev/metadata.json.noargo",
        metadata("dev", &[("api", "a252dcc"), ("web", "b3f1e2d")]),
    );
    repo.commit_all("legacy");
    repo.promote(&["render"]).ok();
    assert_eq!(
        repo.read("dev/api-deployment.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    version: a252dcc
spec:
  template:
    spec:
      containers:
        - name: api
          image: reg.example.com/acme/api:a252dcc
        - name: web
          image: \"reg.example.com/acme/web:b3f1e2d\"
"
    );

    // A COMMIT_SHA that follows no service image, in a file no service name prefixes: an error.
    repo.write(
        "dev/shared.yaml.tpl",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  sha: COMMIT_SHA\n",
    );
    let run = repo.promote(&["render"]).expect(1);
    run.stderr_has("`dev/shared.yaml.tpl` (line 6): cannot tell which service's version `COMMIT_SHA` stands for");
    assert!(!repo.exists("dev/shared.yaml"));
}

#[test]
fn legacy_values_are_data_not_sed_syntax() {
    let repo = Repo::new();
    repo.write(
        "promote.yaml",
        r#"layout: legacy
registry: reg.example.com/acme
placeholders:
  COMMIT_SHA: version
  URL_PLACEHOLDER: url
  TEAM_PLACEHOLDER: team
  PATH_PLACEHOLDER: path
services:
  api:
environments:
  dev:
    values:
      url: https://api.example.com/v1?a=1&b=2
      team: R&D|ops
      path: 'C:\data\new'
"#,
    );
    repo.write(
        "dev/api-config.yaml.tpl",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  url: URL_PLACEHOLDER\n  team: TEAM_PLACEHOLDER\n  path: PATH_PLACEHOLDER\n  version: COMMIT_SHA\n",
    );
    repo.write(
        "dev/metadata.json.noargo",
        metadata("dev", &[("api", "a252dcc")]),
    );
    repo.commit_all("legacy");
    repo.promote(&["render"]).ok();
    // sed would have failed on `/`, put the match where `&` is and eaten the backslashes.
    assert_eq!(
        repo.read("dev/api-config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  url: https://api.example.com/v1?a=1&b=2\n  team: R&D|ops\n  path: C:\\data\\new\n  version: a252dcc\n"
    );
}

#[test]
fn legacy_value_with_a_newline_cannot_inject_a_key() {
    let repo = Repo::new();
    repo.write(
        "promote.yaml",
        r#"layout: legacy
registry: reg.example.com/acme
placeholders:
  COMMIT_SHA: version
  NOTE_PLACEHOLDER: note
services:
  api:
environments:
  dev:
    values:
      note: "hello\n  stolen: true"
"#,
    );
    repo.write(
        "dev/api-config.yaml.tpl",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  note: NOTE_PLACEHOLDER\n  version: COMMIT_SHA\n",
    );
    repo.write(
        "dev/metadata.json.noargo",
        metadata("dev", &[("api", "a252dcc")]),
    );
    repo.commit_all("legacy");
    let run = repo.promote(&["render"]);
    // Either refused (sed itself cannot take a newline in a replacement), or rendered as data.
    if run.code == 0 {
        let text = repo.read("dev/api-config.yaml");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let keys: Vec<&str> = doc["data"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, ["note", "version"], "a value injected a key:\n{text}");
    } else {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("dev/api-config.yaml.tpl") || run.stderr.contains("`note`"),
            "the error should name the template or the value:\n{}",
            run.stderr
        );
        assert!(!repo.exists("dev/api-config.yaml"));
    }
}

// ---------------------------------------------------------------------------------------------
// render --check, drift, and what render refuses to do.

#[test]
fn render_check_exits_3_listing_pending_files_and_writes_nothing() {
    let repo = rendered_native_repo();
    let run = repo.promote(&["render", "--check"]).ok();
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "all 7 rendered files are up to date\n");

    // A new api version in prod (its web manifest names the api image too), a template edit that reaches both environments, a new template.
    repo.write(
        "environments/prod/metadata.json",
        metadata("prod", &[("api", "7777777"), ("web", "9f8e7d6")]),
    );
    repo.write(
        "templates/ingress.yaml",
        INGRESS_TEMPLATE.replace("number: 80", "number: 8080"),
    );
    repo.write(
        "templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  env: {{ env }}\n",
    );
    repo.commit_all("changes not rendered yet");
    let before: Vec<(String, Vec<u8>)> = ["dev", "prod"]
        .iter()
        .flat_map(|env| {
            let dir = format!("environments/{env}/manifests");
            files_in(&repo, &dir)
                .into_iter()
                .map(move |f| format!("{dir}/{f}"))
        })
        .map(|rel| {
            let bytes = repo.read_bytes(&rel);
            (rel, bytes)
        })
        .collect();

    let run = repo.promote(&["render", "--check"]).expect(3);
    assert_eq!(
        run.stdout,
        "\
environments/dev/manifests/config.yaml
environments/dev/manifests/ingress.yaml
environments/prod/manifests/api-deployment.yaml
environments/prod/manifests/config.yaml
environments/prod/manifests/ingress.yaml
environments/prod/manifests/web-deployment.yaml
"
    );
    assert_eq!(
        run.stderr,
        "6 of 9 files would change; run `promote render` to update them\n"
    );
    for (rel, bytes) in &before {
        assert_eq!(&repo.read_bytes(rel), bytes, "{rel} was rewritten");
    }
    assert!(!repo.exists("environments/dev/manifests/config.yaml"));
    assert_eq!(repo.status(), "");

    // Only some environments.
    let run = repo.promote(&["render", "--check", "dev"]).expect(3);
    assert_eq!(
        run.stdout,
        "environments/dev/manifests/config.yaml\nenvironments/dev/manifests/ingress.yaml\n"
    );

    // After rendering, nothing is pending.
    repo.promote(&["render"]).ok();
    repo.promote(&["render", "--check"]).ok();
}

#[test]
fn hand_edited_manifest_is_reported_as_drift() {
    let repo = rendered_native_repo();
    let rel = "environments/prod/manifests/api-deployment.yaml";
    let edited = repo.read(rel).replace("replicas: 3", "replicas: 5");
    repo.write(rel, &edited);
    repo.commit_all("hotfix: scale api by hand");

    let run = repo.promote(&["check"]).expect(1);
    snapshot!(
        "render/drift-check.txt",
        &redact(
            &repo,
            &format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr),
        ),
    );
    run.stdout_has(rel);
    // The diff goes from what the template renders to what the file holds.
    run.stdout_has("-  replicas: 3\n+  replicas: 5\n");

    let run = repo.promote(&["render", "--check"]).expect(3);
    assert_eq!(run.stdout, format!("{rel}\n"));
    assert_eq!(repo.read(rel), edited);
}

/// `rel` rewritten as `text` and committed (as `why`): `render` fails and writes nothing.
fn render_refuses(repo: &Repo, rel: &str, text: &str, why: &str) -> Run {
    repo.write(rel, text);
    repo.commit_all(why);
    let run = repo.promote(&["render"]).expect(1);
    assert!(!repo.exists("environments/dev/manifests"));
    assert!(!repo.exists("environments/prod/manifests"));
    assert_eq!(repo.status(), "");
    run
}

/// The api template with `:extra` after its image.
fn api_with_a_broken_image() -> String {
    API_TEMPLATE.replace("image: {{ image }}", "image: {{ image }}:extra")
}

#[test]
fn invalid_image_reference_is_an_error_naming_the_file() {
    let repo = native_repo();
    let api = api_with_a_broken_image();
    let run = render_refuses(
        &repo,
        "templates/api/deployment.yaml",
        &api,
        "a broken image line",
    );
    snapshot!("render/invalid-image.txt", &redact(&repo, &run.stderr));
    run.stderr_has("`environments/dev/manifests/api-deployment.yaml`");
    run.stderr_has("reg.example.com/acme/api:a252dcc:extra");
    run.stderr_has("`templates/api/deployment.yaml`");
}

#[test]
fn invalid_image_reference_names_its_line() {
    let repo = native_repo();
    let api = api_with_a_broken_image();
    let run = render_refuses(
        &repo,
        "templates/api/deployment.yaml",
        &api,
        "a broken image line",
    );
    // The template's `image:` is on line 18, and so is the rendered file's.
    run.stderr_has("`environments/dev/manifests/api-deployment.yaml` (line 18): `reg.example.com/acme/api:a252dcc:extra` is not a valid image reference");
}

#[test]
fn invalid_version_in_metadata_is_an_error_naming_the_file() {
    let repo = native_repo();
    let metadata = metadata("dev", &[("api", "a252dcc"), ("web", "b3f1e2d")]).replace(
        "\"version\": \"a252dcc\"",
        "\"version\": \"A252DCC:latest\"",
    );
    let run = render_refuses(
        &repo,
        "environments/dev/metadata.json",
        &metadata,
        "a bad version",
    );
    run.stderr_has("`environments/dev/metadata.json`");
    run.stderr_has("A252DCC:latest");
}

#[test]
fn a_failure_in_one_environment_writes_nothing_in_any() {
    let repo = rendered_native_repo();
    // A change that reaches both environments (a new template, an edited one), and a template error
    // in prod only, which is rendered after dev.
    repo.write(
        "templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  env: {{ env }}\n",
    );
    repo.write(
        "templates/ingress.yaml",
        INGRESS_TEMPLATE.replace("number: 80", "number: 8080"),
    );
    repo.write(
        "environments/prod/templates/api/deployment.yaml",
        prod_api_override().replace("{{ image }}", "{{ image }}\n          {% if %}"),
    );
    repo.commit_all("changes, and a broken prod template");
    let dev_ingress = repo.read_bytes("environments/dev/manifests/ingress.yaml");
    let stamp_before = stamp(&repo, "environments/dev/manifests/ingress.yaml");

    let run = repo.promote(&["render"]).expect(1);
    run.stderr_has("`environments/prod/templates/api/deployment.yaml`");
    run.stderr_has("nothing was written");
    assert_eq!(
        repo.read_bytes("environments/dev/manifests/ingress.yaml"),
        dev_ingress
    );
    assert_eq!(
        stamp(&repo, "environments/dev/manifests/ingress.yaml"),
        stamp_before
    );
    assert!(!repo.exists("environments/dev/manifests/config.yaml"));
    assert_eq!(repo.status(), "", "the tree is as it was");

    // Rendering dev alone works: the failure was prod's.
    repo.promote(&["render", "dev"]).ok();
    assert!(repo.exists("environments/dev/manifests/config.yaml"));
    assert!(!repo.exists("environments/prod/manifests/config.yaml"));
}

#[test]
fn unchanged_files_are_not_rewritten() {
    let repo = native_repo();
    repo.promote(&["render"]).ok();
    let all: Vec<String> = ["dev", "prod"]
        .iter()
        .flat_map(|env| {
            let dir = format!("environments/{env}/manifests");
            files_in(&repo, &dir)
                .into_iter()
                .map(move |f| format!("{dir}/{f}"))
        })
        .collect();
    assert_eq!(all.len(), 7);
    let first: Vec<_> = all.iter().map(|rel| stamp(&repo, rel)).collect();

    let run = repo.promote(&["render"]).ok();
    assert_eq!(run.stdout, "rendered 7 files: 0 changed, 7 unchanged\n");
    let second: Vec<_> = all.iter().map(|rel| stamp(&repo, rel)).collect();
    assert_eq!(
        first, second,
        "a render with nothing to change rewrote files"
    );
    repo.commit_all("render");

    // One new version: only the files that use it are rewritten.
    repo.write(
        "environments/dev/metadata.json",
        metadata("dev", &[("api", "a252dcc"), ("web", "c0ffee1")]),
    );
    let run = repo.promote(&["render"]).ok();
    assert_eq!(
        run.stdout,
        "updated environments/dev/manifests/web-deployment.yaml\nrendered 7 files: 1 changed, 6 unchanged\n"
    );
    for (rel, before) in all.iter().zip(&first) {
        let now = stamp(&repo, rel);
        if rel == "environments/dev/manifests/web-deployment.yaml" {
            assert_ne!(now.1, before.1, "{rel} should have been replaced");
        } else {
            assert_eq!(&now, before, "{rel} was rewritten");
        }
    }
    // No temporary files are left beside the manifests.
    assert_eq!(
        files_in(&repo, "environments/dev/manifests"),
        ["api-deployment.yaml", "ingress.yaml", "web-deployment.yaml"]
    );
}

#[test]
fn check_reports_non_manifest_files_in_synced_directories() {
    // Native: a metadata file and a values file dropped into the directory ArgoCD syncs.
    let repo = rendered_native_repo();
    repo.write(
        "environments/dev/manifests/metadata.json",
        metadata("dev", &[("api", "a252dcc"), ("web", "b3f1e2d")]),
    );
    repo.write("environments/dev/manifests/values.yaml", "replicas: 3\n");
    repo.commit_all("stray files");
    let run = repo.promote(&["check"]).expect(1);
    snapshot!(
        "render/check-non-manifest.txt",
        &redact(
            &repo,
            &format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr),
        ),
    );
    for f in ["metadata.json", "values.yaml"] {
        let needle = format!("`environments/dev/manifests/{f}`: is not a manifest");
        assert!(
            run.stdout.contains(&needle),
            "missing {needle:?} in\n{}",
            run.stdout
        );
    }

    // Legacy: the old `metadata.json` beside the manifests, where the script should have written
    // `metadata.json.noargo`.
    let repo = Repo::new();
    repo.write(
        "promote.yaml",
        "layout: legacy\nregistry: reg.example.com/acme\nplaceholders:\n  COMMIT_SHA: version\nservices:\n  api:\nenvironments:\n  dev:\n",
    );
    repo.write(
        "dev/api.yaml.tpl",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  containers:\n    - name: api\n      image: reg.example.com/acme/api:COMMIT_SHA\n",
    );
    let meta = metadata("dev", &[("api", "a252dcc")]);
    repo.write("dev/metadata.json.noargo", &meta);
    repo.commit_all("legacy");
    repo.promote(&["render"]).ok();
    repo.commit_all("render");
    repo.promote(&["check"]).ok();
    repo.write("dev/metadata.json", &meta);
    repo.commit_all("a metadata file ArgoCD reads");
    let run = repo.promote(&["check"]).expect(1);
    run.stdout_has("`dev/metadata.json`: is not a manifest, but ArgoCD syncs `dev`");
}

#[test]
fn render_refuses_to_overwrite_uncommitted_hand_edits() {
    let repo = rendered_native_repo();
    let rel = "environments/dev/manifests/api-deployment.yaml";
    let edited = repo.read(rel).replace("replicas: 1", "replicas: 2");
    repo.write(rel, &edited);
    let stamp_before = stamp(&repo, rel);

    let run = repo.promote(&["render"]).expect(1);
    run.stderr_has(rel);
    run.stderr_has("uncommitted changes");
    assert_eq!(repo.read(rel), edited);
    assert_eq!(stamp(&repo, rel), stamp_before);
    assert_eq!(repo.status(), format!(" M {rel}\n"));
}

#[test]
fn config_errors_name_the_line() {
    let mut out = String::new();
    for (what, config) in [
        (
            "a misspelt key of an environment",
            "registry: reg.example.com/acme\nservices:\n  api:\nenvironments:\n  dev:\n    valeus:\n      replicas: 1\n",
        ),
        (
            "a misspelt top-level key",
            "registry: reg.example.com/acme\nservices:\n  api:\nenviroments:\n  dev:\n",
        ),
    ] {
        let repo = Repo::new();
        repo.write("promote.yaml", config);
        repo.commit_all("config");
        let run = repo.promote(&["render"]).expect(1);
        run.stderr_has("promote.yaml");
        run.stderr_has("expected one of");
        // The list of allowed keys grows with the config; the snapshot keeps the rest exact.
        let stderr = redact(&repo, &run.stderr)
            .lines()
            .map(|l| match l.find(", expected one of ") {
                Some(at) => format!("{}, expected one of [KEYS]\n", &l[..at]),
                None => format!("{l}\n"),
            })
            .collect::<String>();
        out.push_str(&format!("--- {what}\n{stderr}"));
        assert!(!repo.exists("environments"));
    }
    assert!(out.contains("`promote.yaml` (line 6, column 5)"), "{out}");
    assert!(out.contains("`promote.yaml` (line 4, column 1)"), "{out}");
    snapshot!("render/config-unknown-key.txt", &out);
}

// ---------------------------------------------------------------------------------------------
// The render state: what a render found clean, so the next one need not read every file.

/// Rewrites a file in place (same inode) and puts its modification time back, as a careless
/// tool could: only its ctime tells that it changed.
fn edit_in_place_keeping_mtime(repo: &Repo, rel: &str, from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "the edit keeps the size");
    let path = repo.file(rel);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// `promote render` skips an environment whose files are all as the last render found them (a stat
/// cache in the git directory, as git's index is), and sees every change: a template or partial
/// edited in place with its size and mtime kept, a hand-edited manifest, a new template, a new
/// version, a state file that is garbage.
/// `promote render` with its trace (stderr).
fn traced(repo: &Repo) -> String {
    let run = repo
        .promote_env(&["render"], &[("PROMOTE_TRACE", "1")])
        .ok();
    run.stderr + &run.stdout
}

/// Did the render skip `env` (its render state held)?
fn skipped(out: &str, env: &str) -> bool {
    out.contains(&format!("{env}: as rendered last time"))
}

#[test]
fn render_skips_files_rewritten_with_the_same_bytes_when_git_vouches_for_them() {
    crate::support::in_process_path_only();
    // `git checkout`, `git reset --hard`, `sed -i` and copies give files a new inode and ctime
    // even when the bytes are the same. Once git's index has seen them (`update-index --refresh`,
    // as `git status` does), the render state trusts git's word, as `git status` does.
    let repo = Repo::example();
    // git's index vouches only for entries older than itself (not racily clean).
    let refresh = |repo: &Repo| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        repo.git_run(&["update-index", "-q", "--refresh"]);
    };
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refresh(&repo);
    traced(&repo);
    let dir = repo.file("environments/staging/manifests");
    let rewrite_all = || {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let tmp = path.with_extension("tmp");
            std::fs::copy(&path, &tmp).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
    };
    rewrite_all();
    // Before git has looked: the stat data changed and nothing vouches for the files.
    let out = traced(&repo);
    assert!(skipped(&out, "dev") && !skipped(&out, "staging"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refresh(&repo);
    traced(&repo);
    rewrite_all();
    refresh(&repo);
    let out = traced(&repo);
    assert!(skipped(&out, "staging"), "{out}");
    // A file with other bytes (same size, same mtime) is not vouched for: git sees the change.
    let manifest = "environments/staging/manifests/api-deployment.yaml";
    edit_in_place_keeping_mtime(
        &repo,
        manifest,
        "containerPort: 8080",
        "containerPort: 8081",
    );
    refresh(&repo);
    let out = repo
        .promote_env(&["render"], &[("PROMOTE_TRACE", "1")])
        .expect(1)
        .stderr;
    assert!(!skipped(&out, "staging"), "{out}");
    assert!(out.contains(manifest), "{out}");
}

#[test]
fn a_render_right_after_a_change_trusts_only_what_git_vouches_for() {
    crate::support::in_process_path_only();
    // Files written less than 2 s before a render have stat data a later edit could keep. The
    // render records them anyway, as "unknown": the next render takes them as unchanged only on
    // git's index's word (an entry as old as the file, with the same blob), never on their stamps.
    let repo = Repo::example();
    std::thread::sleep(std::time::Duration::from_millis(50));
    repo.git_run(&["update-index", "-q", "--refresh"]);
    let first = traced(&repo);
    assert!(!skipped(&first, "staging"), "{first}");
    let second = traced(&repo);
    for env in ["dev", "staging", "prod"] {
        assert!(skipped(&second, env), "{env} was rendered again:\n{second}");
    }
    // An edit within the same instant, keeping size and mtime: git's index no longer vouches.
    let manifest = "environments/staging/manifests/api-deployment.yaml";
    edit_and_see_render_refuse(
        &repo,
        manifest,
        "containerPort: 8080",
        "containerPort: 8081",
    );
}

/// Edits a staging manifest in place (size and mtime kept); `render` must see it: dev is skipped,
/// staging is not, and the edit is not overwritten. Returns render's stderr.
fn edit_and_see_render_refuse(repo: &Repo, manifest: &str, from: &str, to: &str) -> String {
    edit_in_place_keeping_mtime(repo, manifest, from, to);
    let out = repo
        .promote_env(&["render"], &[("PROMOTE_TRACE", "1")])
        .expect(1)
        .stderr;
    assert!(skipped(&out, "dev") && !skipped(&out, "staging"), "{out}");
    assert!(
        out.contains(&format!(
            "uncommitted changes that rendering would overwrite:\n  {manifest}"
        )),
        "{out}"
    );
    out
}

#[test]
fn render_skips_only_environments_that_provably_did_not_change() {
    let repo = Repo::example();
    // Files changed less than 2 s before a render are not trusted (a later change could keep
    // their time stamps): the first render after they age records them.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = traced(&repo);
    assert!(!skipped(&first, "dev"), "{first}");
    assert!(repo.file(".git/promote/render-state").exists());
    let second = traced(&repo);
    for env in ["dev", "staging", "prod"] {
        assert!(skipped(&second, env), "{env} was rendered again:\n{second}");
    }
    let summary = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("rendered "))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(summary(&first), summary(&second));
    assert!(summary(&second).contains(": 0 changed"), "{second}");
    assert_eq!(repo.status(), "", "the state is not in the work tree");

    // A partial every environment includes, edited in place, same size, same mtime.
    edit_in_place_keeping_mtime(
        &repo,
        "templates/api/_deployment.yaml",
        "containerPort: 8080",
        "containerPort: 8081",
    );
    let out = traced(&repo);
    for env in ["dev", "staging", "prod"] {
        assert!(!skipped(&out, env), "{env} was skipped:\n{out}");
    }
    assert!(repo
        .read("environments/dev/manifests/api-deployment.yaml")
        .contains("containerPort: 8081"));
    repo.commit_all("port 8081");

    // A manifest edited by hand the same way is seen: render refuses to overwrite the edit.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    traced(&repo);
    let manifest = "environments/staging/manifests/api-deployment.yaml";
    edit_and_see_render_refuse(
        &repo,
        manifest,
        "containerPort: 8081",
        "containerPort: 9999",
    );
    repo.git(&["checkout", "--", manifest]);
    let out = traced(&repo);
    assert!(
        !skipped(&out, "staging") && summary(&out).contains(": 0 changed"),
        "{out}"
    );

    // A new template: its directory's time stamps change.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    traced(&repo);
    repo.write(
        "environments/prod/templates/web/pdb.yaml",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: web\n",
    );
    let out = traced(&repo);
    assert!(!skipped(&out, "prod"), "{out}");
    assert!(repo.exists("environments/prod/manifests/web-pdb.yaml"));

    // A new version (a commit that changes only the metadata): the environment is rendered.
    let meta = "environments/dev/metadata.json";
    let text = repo.read(meta);
    let old = serde_json::from_str::<serde_json::Value>(&text).unwrap()["services"]["api"]
        ["version"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    traced(&repo);
    repo.write(meta, text.replace(&old, "abcdef1"));
    let out = traced(&repo);
    assert!(!skipped(&out, "dev"), "{out}");
    assert!(repo
        .read("environments/dev/manifests/api-deployment.yaml")
        .contains(":abcdef1"));

    // A state that is garbage is no state.
    repo.write(
        ".git/promote/render-state",
        "promote render-state 1\nenv\tdev\tzz\tx\n\u{0}",
    );
    let out = traced(&repo);
    assert!(
        !skipped(&out, "dev") && summary(&out).contains(": 0 changed"),
        "{out}"
    );
}
