//! What a preview run changes: the operation, the items and files it plans, audit records and the commit message.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;

use crate::apply::files::Change;
use crate::git;
use crate::model::audit::{self, Actor, Record};
use crate::model::config::Previews;
use crate::model::slug;
use crate::model::version::Version;
use crate::plan::{Ctx, VersionChange};

pub(super) enum Op<'a> {
    Up {
        branch: &'a str,
        version: Version,
        message: Option<String>,
    },
    Down {
        branch: &'a str,
        message: Option<String>,
    },
    Gc {
        older_than: Option<chrono::Duration>,
        keep: Option<BTreeSet<String>>,
        message: Option<String>,
    },
}

/// One preview a plan creates, changes or removes.
#[derive(Debug, Serialize)]
pub(super) struct Item {
    pub(super) branch: String,
    pub(super) slug: String,
    pub(super) namespace: String,
    pub(super) host_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) urls: Option<serde_json::Value>,
    pub(super) dir: String,
    pub(super) changes: Vec<VersionChange>,
    pub(super) record: Option<String>,
    /// Why `gc` removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
}

pub(super) struct Plan {
    pub(super) action: &'static str,
    pub(super) items: Vec<Item>,
    pub(super) files: Vec<Change>,
    pub(super) commit_message: String,
}

impl Plan {
    pub(super) fn empty(action: &'static str) -> Plan {
        Plan {
            action,
            items: Vec::new(),
            files: Vec::new(),
            commit_message: String::new(),
        }
    }
}

/// Who makes the change, and on top of which commit.
pub(super) struct Who {
    pub(super) actor: Actor,
    pub(super) head: Option<String>,
    pub(super) time: String,
}

pub(super) fn who(ctx: &Ctx) -> Result<Who> {
    let (name, email) = git::identity(&ctx.config.root)?;
    let now = audit::now()?;
    Ok(Who {
        actor: Actor {
            name,
            email,
            ci: audit::ci_from_env(|k| std::env::var(k).ok()),
        },
        head: ctx.repo.head(),
        time: audit::timestamp(now),
    })
}

pub(super) fn record(
    who: &Who,
    env: &str,
    action: &str,
    changes: &[VersionChange],
    message: Option<String>,
    prev: String,
) -> Record {
    Record {
        id: String::new(),
        time: who.time.clone(),
        env: env.to_string(),
        action: action.to_string(),
        from: None,
        changes: changes.iter().map(VersionChange::recorded).collect(),
        actor: who.actor.clone(),
        message,
        target: None,
        gates_overridden: None,
        audit_repaired: None,
        commit: who.head.clone(),
        prev,
    }
}

pub(super) fn version_changes(
    old: &BTreeMap<String, Version>,
    new: &BTreeMap<String, Version>,
) -> Vec<VersionChange> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|s| old.get(*s) != new.get(*s))
        .map(|s| VersionChange {
            service: s.clone(),
            before: old.get(s).cloned(),
            after: new.get(s).cloned(),
        })
        .collect()
}

/// The directories a run may touch: checked for uncommitted changes before anything is planned.
pub(super) fn guarded(previews: &Previews, op: &Op) -> Result<Vec<String>> {
    let log = format!("{}/deploy.log", previews.dir);
    Ok(match op {
        Op::Up { branch, .. } | Op::Down { branch, .. } => {
            let mut v: Vec<String> = slug::candidates(branch)?
                .iter()
                .map(|s| format!("{}/{s}", previews.dir))
                .collect();
            v.push(log);
            v
        }
        Op::Gc { .. } => vec![previews.dir.clone()],
    })
}

/// Subject, body, the reason, and trailers (one `Promote-Env`/`Promote-Branch`/`Promote-Record`
/// group per preview).
pub(super) fn commit_message(
    subject: &str,
    body: &str,
    message: Option<&str>,
    action: &str,
    previews: &[(&str, &str, &Record)],
) -> String {
    let mut msg = format!("{subject}\n\n{body}");
    if let Some(m) = message {
        msg.push_str(&format!("\n{}\n", m.trim_end()));
    }
    msg.push_str(&format!("\nPromote-Action: {action}\n"));
    for (env, branch, rec) in previews {
        msg.push_str(&format!(
            "Promote-Env: {env}\nPromote-Branch: {branch}\nPromote-Record: {}\n",
            rec.id
        ));
    }
    if let Some(ci) = previews.first().and_then(|(_, _, r)| r.actor.ci.as_ref()) {
        if let Some(url) = ci.url.as_ref().or(ci.build.as_ref()) {
            msg.push_str(&format!("Promote-CI: {} {url}\n", ci.system));
        }
    }
    msg
}
