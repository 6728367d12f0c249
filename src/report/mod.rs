//! `promote report`: what runs where, how it got there, and how fast.
//!
//! Everything comes from the repository: each environment's metadata (what runs), its deploy.log (how it
//! got there) and its gates (what waits, and until when). The orchestrator (`commands::report`) gathers
//! an [`Input`]; [`build`] turns it into a [`Report`] (plain data, the `--output json` document);
//! [`text`] and [`html`] present it. Every string that comes from a log or a metadata file is untrusted:
//! [`clean`] makes control characters visible before anything prints it, and the page escapes it too.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::model::audit::Record;
use crate::model::gates::{parse_time, Refusal};
use crate::model::metadata::{Hold, Metadata};

pub mod figures;
pub mod html;
pub mod text;

pub use figures::Figures;

/// What the report is made from.
#[derive(Debug, Clone)]
pub struct Input {
    pub now: DateTime<Utc>,
    /// The window of the figures and the timeline, as the user wrote it (`30d`).
    pub since: String,
    pub window: Duration,
    /// The repository's name (its directory), for the page's title.
    pub repo: String,
    /// The commit the report describes (HEAD), if there is one.
    pub head: Option<String>,
    /// Service names, in `promote.yaml` order.
    pub services: Vec<String>,
    /// Environments, in `promote.yaml` order.
    pub envs: Vec<EnvInput>,
}

#[derive(Debug, Clone)]
pub struct EnvInput {
    pub name: String,
    pub from: Option<String>,
    pub meta: Metadata,
    /// The records of its deploy.log, oldest first (every record that parses).
    pub records: Vec<Record>,
    /// What is wrong with the log, if anything (a broken chain): shown, not hidden.
    pub log_problem: Option<String>,
    /// What its gates say about the versions waiting for it (from `plan::gate_refusals`).
    pub refusals: Vec<Refusal>,
    /// Its gates, described for people (`soak 24h`, `freeze sat, sun`).
    pub gates: Vec<String>,
    /// It has a command gate: the report does not run it, so a version it shows ready may still be
    /// refused by it.
    pub command_gate: bool,
}

/// The report: the `--output json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated: String,
    pub head: Option<String>,
    pub window: Window,
    pub environments: Vec<EnvState>,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub since: String,
    pub from: String,
    pub to: String,
}

/// One environment now.
#[derive(Debug, Clone, Serialize)]
pub struct EnvState {
    pub name: String,
    pub from: Option<String>,
    /// Steps from the start of the pipeline (0 for an environment that takes from none).
    pub depth: usize,
    pub gates: Vec<String>,
    /// A command gate runs at promotion only: "ready" means every other gate passes.
    pub command_gate: bool,
    pub hold: Option<Hold>,
    pub updated: Option<String>,
    pub last_change: Option<LastChange>,
    /// A problem with its deploy.log (the figures and timeline may then be incomplete).
    pub log_problem: Option<String>,
    /// One entry per service in `promote.yaml` order.
    pub services: Vec<Cell>,
    /// How many services wait for a promotion into it.
    pub waiting: usize,
    /// Gates that refuse now, for the whole environment (hold, freeze, command).
    pub held: Vec<Refusal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastChange {
    pub id: String,
    pub time: String,
    pub action: String,
    pub actor: String,
}

/// A service in an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub service: String,
    /// The version it runs (none: not deployed there).
    pub version: Option<String>,
    /// When it changed here.
    pub since: Option<String>,
    /// When this version of the service first ran anywhere in the pipeline (its age).
    pub first_seen: Option<String>,
    pub age_seconds: Option<i64>,
    /// The version the environment it takes from runs, when that differs: waiting to be promoted.
    pub waiting: Option<String>,
    /// Gates that hold this service's waiting version (per-service gates such as soak).
    pub held: Vec<Refusal>,
}

/// How old a version is, for the matrix's colours (and their text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Day,
    Week,
    Month,
    Older,
}

impl Age {
    pub fn of(seconds: i64) -> Age {
        match seconds {
            s if s < 86_400 => Age::Day,
            s if s < 7 * 86_400 => Age::Week,
            s if s < 30 * 86_400 => Age::Month,
            _ => Age::Older,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Age::Day => "age-d",
            Age::Week => "age-w",
            Age::Month => "age-m",
            Age::Older => "age-o",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Age::Day => "under a day",
            Age::Week => "under a week",
            Age::Month => "under 30 days",
            Age::Older => "30 days or more",
        }
    }
}

/// Control characters (C0, DEL, C1) and the bidirectional controls that can make text read as
/// something else, made visible as `\u{..}`. Everything from a log or metadata file goes through this
/// before it reaches a terminal or a page.
pub fn clean(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A duration for people (`3h12m`, `2d4h`), for seconds.
pub fn human_secs(secs: i64) -> String {
    crate::model::gates::human(Duration::seconds(secs))
}

/// Builds the report.
pub fn build(input: &Input) -> Report {
    let now = input.now;
    let start = now - input.window;
    let index: HashMap<&str, usize> = input
        .envs
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    let source = |i: usize| {
        input.envs[i]
            .from
            .as_deref()
            .and_then(|f| index.get(f).copied())
    };
    let first_seen = first_seen(input);
    crate::ui::trace("report: first seen");

    let mut environments = Vec::with_capacity(input.envs.len());
    for (i, e) in input.envs.iter().enumerate() {
        // Depth: steps back to an environment that takes from none (bounded: config forbids cycles).
        let mut depth = 0;
        let mut at = i;
        while let Some(s) = source(at) {
            depth += 1;
            at = s;
            if depth > input.envs.len() {
                break;
            }
        }
        let upstream = source(i).map(|s| &input.envs[s].meta);
        let services = cells(input, e, upstream, &first_seen);
        let waiting = services.iter().filter(|c| c.waiting.is_some()).count();
        environments.push(EnvState {
            name: e.name.clone(),
            from: e.from.clone(),
            depth,
            gates: e.gates.clone(),
            command_gate: e.command_gate,
            hold: e.meta.hold.clone(),
            updated: e.meta.updated.clone(),
            last_change: e.records.last().map(|r| LastChange {
                id: r.id.clone(),
                time: r.time.clone(),
                action: r.action.clone(),
                actor: actor(r),
            }),
            log_problem: e.log_problem.clone(),
            services,
            waiting,
            held: e
                .refusals
                .iter()
                .filter(|r| r.service.is_none())
                .cloned()
                .collect(),
        });
    }

    crate::ui::trace("report: cells");
    let logs: Vec<figures::EnvLog> = input
        .envs
        .iter()
        .map(|e| figures::EnvLog {
            name: &e.name,
            from: e.from.as_deref(),
            records: &e.records,
        })
        .collect();
    Report {
        generated: crate::model::audit::timestamp(now),
        head: input.head.clone(),
        window: Window {
            since: input.since.clone(),
            from: crate::model::audit::timestamp(start),
            to: crate::model::audit::timestamp(now),
        },
        environments,
        figures: figures::compute(&logs, start, now),
    }
}

/// What `e` runs of each service, and what waits for it in `upstream`, where it takes from.
fn cells(
    input: &Input,
    e: &EnvInput,
    upstream: Option<&Metadata>,
    first_seen: &FirstSeen,
) -> Vec<Cell> {
    input
        .services
        .iter()
        .map(|svc| {
            let here = e.meta.services.get(svc);
            let version = here.map(|s| s.version.to_string());
            let wait = upstream
                .and_then(|u| u.services.get(svc))
                .map(|s| s.version.to_string())
                .filter(|v| Some(v) != version.as_ref());
            let seen = version.as_ref().and_then(|v| first_seen.get(svc, v));
            Cell {
                service: svc.clone(),
                since: here.map(|s| s.updated.clone()),
                first_seen: seen.map(crate::model::audit::timestamp),
                age_seconds: seen.map(|t| (input.now - t).num_seconds().max(0)),
                held: if wait.is_some() {
                    e.refusals
                        .iter()
                        .filter(|r| r.service.as_deref() == Some(svc.as_str()))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                },
                version,
                waiting: wait,
            }
        })
        .collect()
}

/// `Name <email>`, and the CI system when there was one.
pub fn actor(r: &Record) -> String {
    match &r.actor.ci {
        Some(ci) => format!("{} <{}> via {}", r.actor.name, r.actor.email, ci.system),
        None => format!("{} <{}>", r.actor.name, r.actor.email),
    }
}

/// When each version of each service first ran in any environment: the earliest record that set it,
/// or, for a version no record shows (set before the logs began), the earliest metadata time.
struct FirstSeen<'a> {
    logged: HashMap<(&'a str, &'a str), DateTime<Utc>>,
    unlogged: HashMap<(String, String), DateTime<Utc>>,
}

impl FirstSeen<'_> {
    fn get(&self, svc: &str, v: &str) -> Option<DateTime<Utc>> {
        self.logged
            .get(&(svc, v))
            .or_else(|| self.unlogged.get(&(svc.to_string(), v.to_string())))
            .copied()
    }
}

fn first_seen(input: &Input) -> FirstSeen<'_> {
    let mut logged: HashMap<(&str, &str), DateTime<Utc>> = HashMap::new();
    for e in &input.envs {
        for r in &e.records {
            let Ok(t) = parse_time(&r.time) else { continue };
            for c in &r.changes {
                if let Some(after) = &c.after {
                    earliest(&mut logged, (c.service.as_str(), after.as_str()), t);
                }
            }
        }
    }
    let mut unlogged: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    for e in &input.envs {
        for (svc, s) in &e.meta.services {
            let v = s.version.to_string();
            if logged.contains_key(&(svc.as_str(), v.as_str())) {
                continue;
            }
            if let Ok(t) = parse_time(&s.updated) {
                earliest(&mut unlogged, (svc.clone(), v), t);
            }
        }
    }
    FirstSeen { logged, unlogged }
}

fn earliest<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, DateTime<Utc>>,
    key: K,
    t: DateTime<Utc>,
) {
    map.entry(key)
        .and_modify(|old| *old = (*old).min(t))
        .or_insert(t);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::Actor;
    use crate::model::metadata::ServiceState;
    use crate::model::version::Version;

    fn meta(env: &str, services: &[(&str, &str, &str)]) -> Metadata {
        let mut m = Metadata {
            environment: env.into(),
            ..Default::default()
        };
        for (svc, v, updated) in services {
            m.services.insert(
                svc.to_string(),
                ServiceState {
                    version: Version::parse(v).unwrap(),
                    image: format!("r/{svc}:{v}"),
                    from: None,
                    commit: None,
                    updated: updated.to_string(),
                },
            );
        }
        m
    }

    fn set(time: &str, svc: &str, after: &str) -> Record {
        Record {
            id: format!("id-{time}"),
            actor: Actor {
                name: "CI".into(),
                email: "ci@x".into(),
                ci: None,
            },
            ..crate::model::audit::sample(time, svc, after, "")
        }
    }

    fn env(name: &str, from: Option<&str>, meta: Metadata, records: Vec<Record>) -> EnvInput {
        EnvInput {
            name: name.into(),
            from: from.map(str::to_string),
            meta,
            records,
            log_problem: None,
            refusals: Vec::new(),
            gates: Vec::new(),
            command_gate: false,
        }
    }

    fn refusal(gate: &str, service: Option<&str>) -> Refusal {
        Refusal {
            gate: gate.into(),
            service: service.map(str::to_string),
            reason: "r".into(),
            until: Some("2026-11-24T09:00:00Z".into()),
        }
    }

    #[test]
    fn waiting_versions_their_gates_and_ages() {
        let dev = meta(
            "dev",
            &[
                ("api", "bbb2222", "2026-11-22T10:00:00Z"),
                ("web", "aaa1111", "2026-11-01T10:00:00Z"),
            ],
        );
        // api came through the logs on 11-20; web's version predates them (the metadata's time counts).
        let mut prod = env(
            "prod",
            Some("dev"),
            meta(
                "prod",
                &[
                    ("api", "aaa1111", "2026-11-21T10:00:00Z"),
                    ("web", "aaa1111", "2026-11-10T10:00:00Z"),
                ],
            ),
            Vec::new(),
        );
        prod.refusals = vec![refusal("soak", Some("api")), refusal("freeze", None)];
        let input = Input {
            now: parse_time("2026-11-23T10:00:00Z").unwrap(),
            since: "30d".into(),
            window: Duration::days(30),
            repo: "config".into(),
            head: None,
            services: vec!["api".into(), "web".into(), "db".into()],
            envs: vec![
                env(
                    "dev",
                    None,
                    dev,
                    vec![
                        set("2026-11-20T10:00:00Z", "api", "aaa1111"),
                        set("2026-11-22T10:00:00Z", "api", "bbb2222"),
                    ],
                ),
                prod,
            ],
        };
        let r = build(&input);
        assert_eq!(r.window.from, "2026-10-24T10:00:00Z");
        let (dev, prod) = (&r.environments[0], &r.environments[1]);
        assert_eq!((dev.depth, prod.depth), (0, 1));
        assert_eq!((dev.waiting, prod.waiting), (0, 1));
        let api = &prod.services[0];
        assert_eq!(api.waiting.as_deref(), Some("bbb2222"));
        assert_eq!(api.held, vec![refusal("soak", Some("api"))]);
        assert_eq!(prod.held, vec![refusal("freeze", None)]);
        assert_eq!(api.first_seen.as_deref(), Some("2026-11-20T10:00:00Z"));
        assert_eq!(api.age_seconds, Some(3 * 86_400));
        let web = &prod.services[1];
        assert_eq!(web.waiting, None);
        assert!(web.held.is_empty());
        assert_eq!(web.first_seen.as_deref(), Some("2026-11-01T10:00:00Z"));
        assert_eq!(Age::of(web.age_seconds.unwrap()), Age::Month);
        // A service no environment runs is a row of its own, with nothing in it.
        assert_eq!(prod.services[2].version, None);
        assert_eq!(prod.services[2].waiting, None);
        assert_eq!(
            dev.last_change.as_ref().unwrap().time,
            "2026-11-22T10:00:00Z"
        );
    }

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(clean("plain"), Cow::Borrowed("plain"));
        assert_eq!(clean("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\u{a}");
        assert_eq!(clean("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(clean("x\u{2067}y\u{200f}"), "x\\u{2067}y\\u{200f}");
    }

    #[test]
    fn ages() {
        assert_eq!(Age::of(0), Age::Day);
        assert_eq!(Age::of(86_399), Age::Day);
        assert_eq!(Age::of(86_400), Age::Week);
        assert_eq!(Age::of(30 * 86_400 - 1), Age::Month);
        assert_eq!(Age::of(30 * 86_400), Age::Older);
    }
}
