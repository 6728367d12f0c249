//! The pull request's description: what changes, where, and what the reviewer should check.

use crate::model::config::Config;
use crate::plan::Plan;

/// The pull request's description: the environment, every version before -> after, the gates and
/// their state, the audit record, and a summary of the rendered diff (the full diff is the PR's files).
pub(super) fn body(
    config: &Config,
    plan: &Plan,
    base: &str,
    upstream: &str,
    commit: &str,
) -> String {
    let req = &plan.request;
    let short = |s: &str| s[..7.min(s.len())].to_string();
    let mut b = match &req.from {
        Some(from) => format!("Promotes **{}** to what **{from}** runs", req.env),
        None => format!("`{}` in **{}**", req.action, req.env),
    };
    b.push_str(&format!(
        ", made by promote on `{base}` at `{}` (commit `{}`). Merging this pull request is the promotion: the manifests, metadata and deploy.log record are in its commit.\n\n",
        short(upstream),
        short(commit)
    ));
    if !plan.versions.is_empty() {
        b.push_str(&format!(
            "| service | {} now | after |\n| --- | --- | --- |\n",
            req.env
        ));
        let v = |x: &Option<crate::model::version::Version>| {
            x.as_ref()
                .map(|v| format!("`{v}`"))
                .unwrap_or_else(|| "(none)".into())
        };
        for c in &plan.versions {
            b.push_str(&format!(
                "| {} | {} | {} |\n",
                c.service,
                v(&c.before),
                v(&c.after)
            ));
        }
        b.push('\n');
    }
    if let Some(Some(reason)) = &req.hold {
        b.push_str(&format!("Holds `{}`: {reason}\n\n", req.env));
    }
    b.push_str("**Gates**");
    let gated = matches!(req.action.as_str(), "promote" | "set-image");
    let gates = config
        .env(&req.env)
        .map(|e| e.gates.clone())
        .unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(s) = &gates.soak {
        lines.push(format!("soak `{s}`"));
    }
    for f in &gates.freeze {
        let mut w = Vec::new();
        if !f.days.is_empty() {
            w.push(f.days.join(", "));
        }
        if let (Some(a), Some(u)) = (&f.from, &f.until) {
            w.push(format!("{a} to {u}"));
        }
        lines.push(format!("freeze ({})", w.join("; ")));
    }
    if let Some(c) = &gates.command {
        lines.push(format!("command `{c}`"));
    }
    match (&req.gates_overridden, gated, lines.is_empty()) {
        (Some(why), _, _) => b.push_str(&format!(": **overridden**: {why}\n")),
        (None, false, _) => b.push_str(&format!(": a {} is not gated\n", req.action)),
        (None, true, true) => b.push_str(": none declared for this environment\n"),
        (None, true, false) => {
            b.push_str(" (checked on the base when this branch was made; `promote check --base` checks them again on the merge result):\n");
            for l in lines {
                b.push_str(&format!("- {l}: passed\n"));
            }
        }
    }
    b.push('\n');
    if let Some(r) = &plan.record {
        let env = config.env(&req.env).ok();
        b.push_str(&format!(
            "**Audit record** `{}` in `{}`, by {} <{}>:\n\n```json\n{}\n```\n\n",
            &r.id[..12.min(r.id.len())],
            env.map(|e| e.deploy_log.as_str()).unwrap_or("deploy.log"),
            r.actor.name,
            r.actor.email,
            serde_json::to_string(r).unwrap_or_default()
        ));
    }
    let stats: Vec<(String, usize, usize)> = plan
        .files
        .iter()
        .map(|c| {
            let (added, removed) = line_counts(c.before.as_deref(), c.after.as_deref());
            (c.path.clone(), added, removed)
        })
        .collect();
    let (added, removed) = stats.iter().fold((0, 0), |(a, r), s| (a + s.1, r + s.2));
    b.push_str(&format!(
        "**Rendered changes**: {} file{}, +{added} -{removed}\n",
        stats.len(),
        if stats.len() == 1 { "" } else { "s" }
    ));
    const LISTED: usize = 40;
    for (path, a, r) in stats.iter().take(LISTED) {
        b.push_str(&format!("- `{path}` (+{a} -{r})\n"));
    }
    if stats.len() > LISTED {
        b.push_str(&format!("- and {} more\n", stats.len() - LISTED));
    }
    b.push_str(&format!(
        "\nIf `{base}` changes `{}` before this is merged, `promote pr refresh {}` rebuilds this branch on it.\n",
        req.env, req.env
    ));
    b
}

/// Lines added and removed, counted as multisets of lines: linear in the file's size (a minimal
/// diff of a 1,000-service metadata file takes seconds), and equal to the diff's counts wherever
/// lines change in place, as a promotion changes them; a moved line is not counted.
pub(super) fn line_counts(before: Option<&[u8]>, after: Option<&[u8]>) -> (usize, usize) {
    let mut count: std::collections::HashMap<&[u8], isize> = std::collections::HashMap::new();
    for l in before.unwrap_or_default().split_inclusive(|b| *b == b'\n') {
        *count.entry(l.strip_suffix(b"\n").unwrap_or(l)).or_default() -= 1;
    }
    for l in after.unwrap_or_default().split_inclusive(|b| *b == b'\n') {
        *count.entry(l.strip_suffix(b"\n").unwrap_or(l)).or_default() += 1;
    }
    count.values().fold((0, 0), |(a, r), &n| {
        if n > 0 {
            (a + n as usize, r)
        } else {
            (a, r + n.unsigned_abs())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_added_and_removed() {
        assert_eq!(line_counts(Some(b"a\nb\nc\n"), Some(b"a\nB\nc\n")), (1, 1));
        assert_eq!(line_counts(None, Some(b"a\nb")), (2, 0));
        assert_eq!(line_counts(Some(b"a\n"), None), (0, 1));
        assert_eq!(line_counts(Some(b"x\nx\n"), Some(b"x\n")), (0, 1));
        assert_eq!(line_counts(Some(b"same\n"), Some(b"same\n")), (0, 0));
    }
}
