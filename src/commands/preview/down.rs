//! `promote preview down BRANCH`, and the removal of previews that `gc` shares.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::apply::files::{self, Target};
use crate::model::audit::{self, Record};
use crate::model::config::Previews;
use crate::model::slug;
use crate::plan::Ctx;

use super::{plan::*, state::*};

/// The targets that remove a preview: every committed file in its directory.
pub(super) fn removal(ctx: &Ctx, dir: &str, targets: &mut BTreeMap<String, Target>) -> Result<()> {
    for path in walk(&ctx.config, dir)? {
        if ctx.repo.read_at_head(&path).is_some() {
            targets.insert(path, Target::Delete);
        }
    }
    Ok(())
}

pub(super) fn plan_down(
    ctx: &Ctx,
    previews: &Previews,
    branch: &str,
    message: Option<String>,
) -> Result<Plan> {
    // Only the branch's own preview is ever removed; whatever else is there stays as it is.
    let mut own = None;
    for s in slug::candidates(branch)? {
        if let Slot::Own(meta) = slot(&ctx.config, &format!("{}/{s}", previews.dir))? {
            if meta.branch == branch {
                own = Some((s, *meta));
                break;
            }
        }
    }
    let Some((slug, meta)) = own else {
        return Ok(Plan::empty("preview-down"));
    };
    let found = Found {
        dir: format!("{}/{slug}", previews.dir),
        slug,
        meta,
    };
    remove(ctx, previews, "preview-down", vec![(found, None)], message)
}

/// Removes previews in one change: their files, and one `preview-down` record each in the
/// previews-level log (the preview's own log goes with its directory).
pub(super) fn remove(
    ctx: &Ctx,
    previews: &Previews,
    action: &'static str,
    gone: Vec<(Found, Option<String>)>,
    message: Option<String>,
) -> Result<Plan> {
    if gone.is_empty() {
        return Ok(Plan::empty(action));
    }
    let config = &ctx.config;
    let who = who(ctx)?;
    let log_path = format!("{}/deploy.log", previews.dir);
    let mut log = std::fs::read(config.abs(&log_path)).unwrap_or_default();
    if !log.is_empty() && !log.ends_with(b"\n") {
        log.push(b'\n'); // as `files::plan` will, before the first appended line
    }
    let start = log.len();
    let mut targets = BTreeMap::new();
    let mut items = Vec::new();
    let mut records = Vec::new();
    for (f, reason) in gone {
        removal(ctx, &f.dir, &mut targets)?;
        let changes = version_changes(&f.meta.versions(), &BTreeMap::new());
        let why = match (&reason, &message) {
            (Some(r), Some(m)) => Some(format!("gc: {r}; {m}")),
            (Some(r), None) => Some(format!("gc: {r}")),
            (None, m) => m.clone(),
        };
        let mut rec = record(
            &who,
            &f.meta.namespace,
            "preview-down",
            &changes,
            why,
            audit::tail_hash(&log),
        );
        log.extend_from_slice(rec.seal().as_bytes());
        records.push((f.meta.namespace.clone(), f.meta.branch.clone(), rec.clone()));
        items.push(Item {
            branch: f.meta.branch,
            slug: f.slug,
            namespace: f.meta.namespace,
            host_prefix: f.meta.host_prefix,
            urls: f.meta.urls,
            dir: f.dir,
            changes,
            record: Some(rec.id),
            reason,
        });
    }
    targets.insert(log_path, Target::Append(log[start..].to_vec()));

    let (subject, mut body) = if action == "preview-gc" {
        let first = &items[0].namespace;
        let more = match items.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        (format!("preview gc: remove {first}{more}"), String::new())
    } else {
        (
            format!("preview down {}", items[0].namespace),
            String::new(),
        )
    };
    for it in &items {
        body.push_str(&format!(
            "{}  branch {}  {}\n",
            it.namespace, it.branch, it.dir
        ));
        if let Some(r) = &it.reason {
            body.push_str(&format!("  {r}\n"));
        }
    }
    let trailers: Vec<(&str, &str, &Record)> = records
        .iter()
        .map(|(ns, b, r)| (ns.as_str(), b.as_str(), r))
        .collect();
    let commit_message = commit_message(&subject, &body, message.as_deref(), action, &trailers);
    Ok(Plan {
        action,
        items,
        files: files::plan(&config.root, targets)?,
        commit_message,
    })
}
