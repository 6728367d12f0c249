//! `promote preview list`: the previews on disk, as a table or JSON.

use std::path::Path;

use serde_json::json;

use crate::error::{exit, Outcome};
use crate::model::version::Version;
use crate::plan::Ctx;
use crate::ui;

use super::state::*;

/// `promote preview list`.
pub fn list(dir: &Path, json_out: bool) -> Outcome {
    let ctx = Ctx::open(dir)?;
    let previews = settings(&ctx.config)?;
    let (mut found, skipped) = scan(&ctx.config, previews)?;
    for (dir, why) in &skipped {
        ui::warn(&format!("`{dir}` is not a preview: {why}"));
    }
    found.sort_by(|a, b| a.meta.branch.cmp(&b.meta.branch).then(a.slug.cmp(&b.slug)));
    if json_out {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                let versions: serde_json::Map<String, serde_json::Value> = f
                    .meta
                    .services
                    .iter()
                    .map(|(s, st)| (s.clone(), json!(st.version.to_string())))
                    .collect();
                json!({
                    "branch": f.meta.branch,
                    "slug": f.slug,
                    "namespace": f.meta.namespace,
                    "host_prefix": f.meta.host_prefix,
                    "urls": f.meta.urls,
                    "dir": f.dir,
                    "version": common_version(&f.meta).map(|v| v.to_string()),
                    "versions": versions,
                    "created": f.meta.created,
                    "updated": f.meta.updated,
                })
            })
            .collect();
        ui::data(&(serde_json::to_string_pretty(&json!({ "previews": items }))? + "\n"));
        return Ok(exit::OK);
    }
    if found.is_empty() {
        ui::status(&format!("no previews in `{}`", previews.dir));
        return Ok(exit::OK);
    }
    let mut rows = vec![["BRANCH", "SLUG", "VERSION", "CREATED", "UPDATED"].map(String::from)];
    for f in &found {
        let version = match common_version(&f.meta) {
            Some(v) => v.short(),
            None if f.meta.services.is_empty() => "-".into(),
            None => "mixed".into(),
        };
        rows.push([
            f.meta.branch.clone(),
            f.slug.clone(),
            version,
            f.meta.created.clone(),
            f.meta.updated.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    ui::data(&crate::ui::escape::escape(&out));
    Ok(exit::OK)
}

/// The one version every service of a preview runs, if they all run the same.
pub(super) fn common_version(meta: &PreviewMeta) -> Option<&Version> {
    let mut it = meta.services.values().map(|s| &s.version);
    let first = it.next()?;
    it.all(|v| v == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::metadata::ServiceState;

    #[test]
    fn common_version_of_a_preview() {
        let mut meta = PreviewMeta {
            branch: "b".into(),
            slug: "b".into(),
            namespace: "pr-b".into(),
            host_prefix: "b.".into(),
            urls: None,
            created: "t".into(),
            updated: "t".into(),
            services: BTreeMap::new(),
            audit_head: None,
        };
        assert_eq!(common_version(&meta), None);
        let state = |v: &str| ServiceState {
            version: Version::parse(v).unwrap(),
            image: String::new(),
            from: None,
            commit: None,
            updated: String::new(),
        };
        meta.services.insert("a".into(), state("1234567"));
        meta.services.insert("b".into(), state("1234567"));
        assert_eq!(
            common_version(&meta).map(Version::short),
            Some("1234567".into())
        );
        meta.services.insert("c".into(), state("89abcde"));
        assert_eq!(common_version(&meta), None);
    }
}
