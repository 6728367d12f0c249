//! Nothing to adopt: the bundled example.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::{json_report, table};
use crate::apply::files::{self, Target};
use crate::error::{exit, Failure, Outcome};
use crate::model::config::Config;
use crate::ui;

macro_rules! example {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../../", $path)) as &[u8])),*]
    };
}

/// The bundled example: its config, shared templates and prod's own templates (its rendered
/// manifests, metadata and history are the demo's, not a new repository's).
const EXAMPLE: &[(&str, &[u8])] = example!(
    "promote.yaml",
    "templates/api/_deployment.yaml",
    "templates/api/_service.yaml",
    "templates/api/deployment.yaml",
    "templates/api/ingress.yaml",
    "templates/api/service.yaml",
    "templates/api/servicemonitor.yaml",
    "templates/gateway/deployment.yaml",
    "templates/gateway/ingress.yaml",
    "templates/gateway/service.yaml",
    "templates/gateway/servicemonitor.yaml",
    "templates/scribe/deployment.yaml",
    "templates/scribe/service.yaml",
    "templates/scribe/servicemonitor.yaml",
    "templates/web/deployment.yaml",
    "templates/web/ingress.yaml",
    "templates/web/service.yaml",
    "templates/web/servicemonitor.yaml",
    "templates/worker/deployment.yaml",
    "templates/worker/service.yaml",
    "templates/worker/servicemonitor.yaml",
    "environments/prod/templates/api/deployment.yaml",
    "environments/prod/templates/api/proxy.yaml",
    "environments/prod/templates/api/read.yaml",
    "environments/prod/templates/api/write.yaml",
    "environments/prod/templates/web/hpa.yaml",
    "argocd/previews-applicationset.yaml",
);

pub(super) fn scaffold(root: &Path, dry_run: bool) -> Outcome {
    // STEP 3: nothing of the example may be here already.
    refuse_existing(root)?;

    // STEP 4: the example's files; its config must load where it is written.
    let text =
        std::str::from_utf8(EXAMPLE[0].1).context("the bundled promote.yaml is not UTF-8")?;
    let config = Config::parse(root, text)?;
    let targets: BTreeMap<String, Target> = EXAMPLE
        .iter()
        .map(|(p, b)| (p.to_string(), Target::Write(b.to_vec())))
        .collect();
    let changes = files::plan(root, targets)?;
    if !dry_run {
        files::apply(root, &changes)?;
    }
    if ui::mode().json {
        let written: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        return json_report("example", &config, &written, dry_run);
    }

    // STEP 5: say what it is and what to do next.
    ui::result(describe(&config, dry_run).trim_end());
    if dry_run {
        ui::status("dry run: nothing was written");
        return Ok(exit::OK);
    }
    next_steps(&config);
    Ok(exit::OK)
}

/// Refuses where any of the example's files or directories is here already.
fn refuse_existing(root: &Path) -> anyhow::Result<()> {
    for dir in ["templates", "environments"] {
        if root.join(dir).exists() {
            return Err(Failure::ExampleDirExists {
                dir: dir.to_string(),
            }
            .into());
        }
    }
    if let Some((path, _)) = EXAMPLE.iter().find(|(p, _)| root.join(p).exists()) {
        return Err(Failure::ExampleFileExists {
            path: path.to_string(),
        }
        .into());
    }
    Ok(())
}

/// What the example is, for the person who runs init.
fn describe(config: &Config, dry_run: bool) -> String {
    let mut s = String::from("found no sed layout to adopt (no `<env>/*.yaml.tpl`): ");
    s.push_str(if dry_run {
        "would write the bundled example\n\n"
    } else {
        "wrote the bundled example\n\n"
    });
    let envs: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let services: Vec<String> = config.services.iter().map(|x| x.name.clone()).collect();
    s.push_str(&table(
        &[
            (
                "promote.yaml".into(),
                format!(
                    "registry `{}`; services {}; pipeline {}",
                    config.registry,
                    services.join(", "),
                    envs.join(" -> ")
                ),
            ),
            (
                "templates/<service>/".into(),
                format!(
                    "{} shared minijinja templates",
                    EXAMPLE
                        .iter()
                        .filter(|(p, _)| p.starts_with("templates/"))
                        .count()
                ),
            ),
            (
                "environments/prod/templates/".into(),
                "prod's own templates: api as four Deployments, web autoscaled".into(),
            ),
            (
                "argocd/".into(),
                "the ApplicationSet for preview environments".into(),
            ),
        ],
        "  ",
    ));
    s.push_str(
        "\nNo environment runs a version yet, so nothing is rendered; nothing is committed.\n",
    );
    s
}

/// What to run next, after the example is written.
fn next_steps(config: &Config) {
    let first = config
        .environments
        .iter()
        .find(|e| e.from.is_none())
        .map(|e| e.name.clone())
        .unwrap_or_default();
    let second = config
        .environments
        .iter()
        .find(|e| e.from.as_deref() == Some(first.as_str()))
        .map(|e| e.name.clone());
    let mut next = vec![
        (
            "promote.yaml".to_string(),
            "set your registry, services and environments".to_string(),
        ),
        (
            "promote check".to_string(),
            "the whole repository".to_string(),
        ),
        (
            "git add -A && git commit -m \"promote\"".to_string(),
            String::new(),
        ),
        (
            format!("promote set-image {first} --sha <sha>"),
            "in CI, right after the image build".to_string(),
        ),
    ];
    if let Some(s) = second {
        next.push((
            format!("promote to {s}"),
            format!("{s} takes what {first} runs"),
        ));
    }
    ui::status(&format!("next:\n{}", table(&next, "  ")));
    if let Some(advice) = crate::commands::pr::approval_advice(config) {
        ui::status(&advice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn the_embedded_example_is_the_one_at_the_crate_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = vec![
            "promote.yaml".to_string(),
            "argocd/previews-applicationset.yaml".to_string(),
        ];
        for dir in [
            "templates",
            "environments/prod/templates",
            "environments/staging/templates",
            "environments/dev/templates",
        ] {
            for f in render::list_files(root, dir).unwrap() {
                on_disk.push(format!("{dir}/{f}"));
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = EXAMPLE.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update EXAMPLE in src/commands/init/scaffold.rs to the bundled example's files"
        );
    }
}
