//! promote.yaml for the legacy layout.

use serde_json::Value as Json;

use super::*;

/// What `promote init` proposes for one environment.
#[derive(Debug, Clone)]
pub struct EnvProposal {
    pub name: String,
    /// The directory, when it is not the environment's name.
    pub dir: Option<String>,
    pub from: Option<String>,
    pub values: Vec<(String, Json)>,
}

/// What `promote init` proposes.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub registry: String,
    pub services: Vec<ServiceFound>,
    pub placeholders: Vec<(String, String)>,
    pub envs: Vec<EnvProposal>,
    /// A note on the old flow's previews, written as a comment.
    pub previews: Option<String>,
}

/// promote.yaml for a proposal, commented.
pub fn config_text(p: &Proposal) -> String {
    let version = p
        .placeholders
        .iter()
        .find(|(_, k)| k == "version")
        .map(|(t, _)| t.as_str())
        .unwrap_or("COMMIT_SHA");
    let mut s = String::new();
    s.push_str("# promote.yaml: written by `promote init` from the sed-templated layout it found in this repository.\n");
    s.push_str("# `promote config` prints the effective configuration; `promote check` checks the whole repository.\n\n");
    s.push_str("# The sed layout, as it is: every `<env>/*.yaml.tpl` renders to `<env>/*.yaml`, byte for byte as the\n");
    s.push_str(
        "# old script did. `promote migrate` converts it to shared minijinja templates later.\n",
    );
    s.push_str("layout: legacy\n\n");
    s.push_str("# Images are `<registry>/<service>` unless a service names its own `image:`.\n");
    s.push_str(&format!("registry: {}\n\n", yaml_scalar(&p.registry)));
    s.push_str(&format!(
        "# The services: the images the templates write as `<image>:{version}`.\n"
    ));
    s.push_str("services:\n");
    for svc in &p.services {
        s.push_str(&format!("  {}:\n", svc.name));
        if let Some(i) = &svc.image_key {
            s.push_str(&format!("    image: {}\n", yaml_scalar(i)));
        }
    }
    s.push_str("\n# What each sed placeholder stands for. `version` is the version of the image written right before\n");
    s.push_str(&format!("# it (`<image>:{version}`), or of the service the file is named after (`api-deployment.yaml.tpl`);\n"));
    s.push_str("# any other name is a key of the environment's `values`.\n");
    s.push_str("placeholders:\n");
    for (t, k) in &p.placeholders {
        s.push_str(&format!("  {}: {}\n", yaml_key(t), yaml_scalar(k)));
    }
    s.push_str("\n# The pipeline, from the environments' names (dev, then test/qa, then staging, then prod): each\n");
    s.push_str("# environment takes its versions from the one in `from:`. Edit `from:` if your order differs.\n");
    s.push_str("# `urls`, `database` and `kube_context` are copied into each environment's metadata file.\n");
    s.push_str("environments:\n");
    for e in &p.envs {
        s.push_str(&format!("  {}:\n", e.name));
        if let Some(d) = &e.dir {
            s.push_str(&format!("    dir: {}\n", yaml_scalar(d)));
        }
        if let Some(f) = &e.from {
            s.push_str(&format!("    from: {f}\n"));
        }
        if !e.values.is_empty() {
            s.push_str("    values:\n");
            for (k, v) in &e.values {
                yaml_entry(&mut s, k, v, 6);
            }
        }
    }
    if let Some(note) = &p.previews {
        s.push('\n');
        for line in note.lines() {
            s.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
    }
    s
}

fn yaml_entry(s: &mut String, key: &str, v: &Json, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Json::Object(m) if !m.is_empty() => {
            s.push_str(&format!("{pad}{}:\n", yaml_key(key)));
            for (k, v) in m {
                yaml_entry(s, k, v, indent + 2);
            }
        }
        Json::String(x) => s.push_str(&format!("{pad}{}: {}\n", yaml_key(key), yaml_scalar(x))),
        other => s.push_str(&format!("{pad}{}: {}\n", yaml_key(key), other)),
    }
}

fn yaml_key(k: &str) -> String {
    let simple = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if simple {
        k.to_string()
    } else {
        Json::String(k.to_string()).to_string()
    }
}

/// A string as YAML: plain when YAML reads it back as the same string, else double-quoted.
pub fn yaml_scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        Json::String(s.to_string()).to_string()
    }
}
