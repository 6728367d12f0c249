//! What a `--pr` run or `pr refresh` tells: the branch, the pull request, and what to do next.

use super::open::{Opened, State};
use crate::commands::apply_change;
use crate::ui;
use anyhow::Result;
use serde_json::json;

pub(super) fn report(o: &Opened, json: bool) -> Result<()> {
    let plan = &o.plan;
    if json {
        let mut s = apply_change::summary(plan, o.commit.as_deref(), false);
        s["pushed"] = json!(matches!(o.state, State::Created | State::Updated));
        s["branch"] = json!(o.branch);
        s["base"] = json!(o.base);
        s["state"] = json!(o.state.word());
        s["pr"] = json!(o.pr.as_ref().map(|p| json!({
            "url": p.url,
            "via": p.via,
            "opened": p.opened,
        })));
        if o.state == State::InEffect {
            s["record"] = json!(null);
        }
        ui::data(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let env = &plan.request.env;
    if o.state == State::InEffect {
        ui::result(&format!(
            "nothing to change: `{env}` already runs what was asked on `{}` ({}); no pull request was opened or updated",
            o.base,
            &o.upstream[..7.min(o.upstream.len())]
        ));
        return Ok(());
    }
    let commit = o.commit.as_deref().unwrap_or("");
    let mut text = format!(
        "[{} on {}] {}",
        &commit[..7.min(commit.len())],
        o.branch,
        plan.commit_message.lines().next().unwrap_or("")
    );
    for c in &plan.versions {
        text.push_str(&format!("\n  {}", apply_change::version_line(c)));
    }
    ui::result(&text);
    let pushed = match o.state {
        State::Created => format!("pushed the new branch `{}`", o.branch),
        State::Updated => format!(
            "rebuilt `{}` on `{}` and pushed it ({})",
            o.branch,
            o.base,
            o.why.as_deref().unwrap_or("updated")
        ),
        _ => format!(
            "`{}` already holds this change on a valid base: nothing pushed",
            o.branch
        ),
    };
    ui::result(&pushed);
    if let Some(p) = &o.pr {
        match (&p.url, p.opened, p.via) {
            (Some(url), true, via) => {
                ui::result(&format!("opened the pull request ({via}): {url}"))
            }
            (Some(url), false, via) => ui::result(&format!("pull request ({via}): {url}")),
            (None, _, _) => {}
        }
        if let Some(todo) = &p.todo {
            ui::status(todo);
        }
    }
    Ok(())
}
