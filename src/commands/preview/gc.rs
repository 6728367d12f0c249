//! `promote preview gc`: remove the previews whose branch is gone or that are idle.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::error::Failure;
use crate::model::audit;
use crate::model::config::Previews;
use crate::model::gates;
use crate::plan::Ctx;
use crate::ui;

use super::{down::*, plan::*, state::*};

/// The branches `--keep` and `--keep-file` name; `None` when neither was given.
pub(super) fn keep_list(
    keep: &[String],
    keep_file: Option<&str>,
) -> Result<Option<BTreeSet<String>>> {
    if keep.is_empty() && keep_file.is_none() {
        return Ok(None);
    }
    let mut set: BTreeSet<String> = keep.iter().map(|b| normalize_branch(b)).collect();
    if let Some(file) = keep_file {
        let text = if file == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("cannot read the kept branches from stdin")?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| Failure::KeepFileUnreadable {
                file: file.to_string(),
                error: e.to_string(),
            })?
        };
        let before = set.len();
        // One branch per line; a `git ls-remote --heads` line (`<sha>\trefs/heads/<branch>`) works too.
        set.extend(
            text.lines()
                .filter_map(|l| l.split_whitespace().last())
                .map(normalize_branch),
        );
        if set.len() == before && keep.is_empty() {
            return Err(Failure::KeepFileEmpty {
                file: file.to_string(),
            }
            .into());
        }
    }
    Ok(Some(set))
}

pub(super) fn normalize_branch(b: &str) -> String {
    let b = b.trim();
    b.strip_prefix("refs/heads/").unwrap_or(b).to_string()
}

pub(super) fn plan_gc(
    ctx: &Ctx,
    previews: &Previews,
    older_than: Option<chrono::Duration>,
    keep: Option<&BTreeSet<String>>,
    message: Option<String>,
) -> Result<Plan> {
    let config = &ctx.config;
    let (found, skipped) = scan(config, previews)?;
    for (dir, why) in &skipped {
        ui::warn(&format!("`{dir}` is not a preview ({why}): left alone"));
    }
    let now = audit::now()?;
    let mut stale = Vec::new();
    for f in found {
        let mut reasons = Vec::new();
        if keep.is_some_and(|k| !k.contains(&f.meta.branch)) {
            reasons.push("its branch is not in the keep list".to_string());
        }
        if let Some(limit) = older_than {
            match DateTime::parse_from_rfc3339(&f.meta.updated) {
                Ok(t) => {
                    let idle = now - t.with_timezone(&Utc);
                    if idle >= limit {
                        reasons.push(format!(
                            "not updated for {} (since {})",
                            gates::human(idle),
                            f.meta.updated
                        ));
                    }
                }
                Err(_) => ui::warn(&format!(
                    "`{}`: `updated` is not an RFC 3339 time; its age is unknown",
                    meta_path(&f.dir)
                )),
            }
        }
        if !reasons.is_empty() {
            stale.push((f, Some(reasons.join("; "))));
        }
    }
    remove(ctx, previews, "preview-gc", stale, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_lists_accept_ls_remote_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("heads");
        std::fs::write(
            &file,
            "1111111111111111111111111111111111111111\trefs/heads/main\n\
             2222222222222222222222222222222222222222\trefs/heads/feature/a\n\
             feature/b\n\n",
        )
        .unwrap();
        let set = keep_list(&["refs/heads/x".into()], Some(file.to_str().unwrap()))
            .unwrap()
            .unwrap();
        let want: BTreeSet<String> = ["main", "feature/a", "feature/b", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(set, want);
        assert_eq!(keep_list(&[], None).unwrap(), None);
    }

    #[test]
    fn an_empty_keep_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty");
        std::fs::write(&file, "\n").unwrap();
        let e = keep_list(&[], Some(file.to_str().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("every preview would be removed"), "{e}");
    }
}
