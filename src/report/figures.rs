//! DORA-style figures from the deploy logs, over a window of time.
//!
//! - Deployment frequency, per environment: `promote` and `set-image` records that changed a version.
//! - Lead time, from dev to prod, per version: from the first time a version of a service ran in an
//!   environment that takes from none (dev) to the first time it was promoted or set into an
//!   environment nothing takes from (prod), for the versions that reached prod inside the window.
//! - Rollback rate, per environment: rollbacks / deployments.
//! - Time to restore, per rollback: from the first change the rollback undid (when the bad state
//!   began) to the rollback.
//!
//! Records whose time does not parse are left out of the figures (the timeline still shows them).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::audit::Record;
use crate::model::gates::parse_time;

/// One environment's log, for the figures.
#[derive(Debug, Clone, Copy)]
pub struct EnvLog<'a> {
    pub name: &'a str,
    pub from: Option<&'a str>,
    /// Oldest first.
    pub records: &'a [Record],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Days in the window.
    pub days: f64,
    pub environments: Vec<EnvFigures>,
    /// Lead time per version that reached prod in the window, oldest first.
    pub lead_times: Vec<LeadTime>,
    pub lead_time_median_seconds: Option<i64>,
    /// Every rollback in the window, oldest first.
    pub restores: Vec<Restore>,
    pub restore_median_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvFigures {
    pub env: String,
    /// Promotions and set-images that changed at least one version.
    pub deployments: usize,
    pub per_day: f64,
    pub per_week: f64,
    /// Days of the window with at least one deployment.
    pub deploy_days: usize,
    pub rollbacks: usize,
    /// rollbacks / deployments (none without deployments).
    pub rollback_rate: Option<f64>,
    pub restore_median_seconds: Option<i64>,
    /// `promote hold` records.
    pub holds: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadTime {
    /// The prod environment it reached.
    pub env: String,
    pub version: String,
    /// The services of that version that reached `env` in the window.
    pub services: Vec<String>,
    /// The dev environment it ran in first, and when.
    pub dev_env: String,
    pub dev_at: String,
    pub prod_at: String,
    pub seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restore {
    pub env: String,
    /// The rollback's record id.
    pub record: String,
    pub time: String,
    /// When the state it undid began: the first change it undid.
    pub failed_at: String,
    /// The record of that change.
    pub failed_record: String,
    pub seconds: i64,
}

fn is_deployment(r: &Record) -> bool {
    matches!(r.action.as_str(), "promote" | "set-image") && !r.changes.is_empty()
}

/// The median of some seconds (the mean of the two middle ones for an even count).
pub fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

/// The figures over `[start, end]`.
pub fn compute(logs: &[EnvLog], start: DateTime<Utc>, end: DateTime<Utc>) -> Figures {
    let days = ((end - start).num_seconds() as f64 / 86_400.0).max(0.0);
    let within = |t: &DateTime<Utc>| *t >= start && *t <= end;
    let mut environments = Vec::with_capacity(logs.len());
    let mut restores: Vec<Restore> = Vec::new();
    for log in logs {
        let times: Vec<Option<DateTime<Utc>>> = log
            .records
            .iter()
            .map(|r| parse_time(&r.time).ok())
            .collect();
        let mut deployments = 0;
        let mut deploy_days: HashSet<chrono::NaiveDate> = HashSet::new();
        let mut rollbacks = 0;
        let mut holds = 0;
        let mut env_restores = Vec::new();
        for (k, r) in log.records.iter().enumerate() {
            let Some(t) = times[k].filter(within) else {
                continue;
            };
            if is_deployment(r) {
                deployments += 1;
                deploy_days.insert(t.date_naive());
            }
            match r.action.as_str() {
                "hold" => holds += 1,
                "rollback" => {
                    rollbacks += 1;
                    // The changes it undid: those after its target (the state it returned to), or
                    // every change before it when it names none.
                    let begin = r
                        .target
                        .as_ref()
                        .and_then(|id| log.records[..k].iter().rposition(|x| &x.id == id))
                        .map_or(0, |i| i + 1);
                    let first = (begin..k)
                        .find(|&j| !log.records[j].changes.is_empty() && times[j].is_some());
                    if let Some(j) = first {
                        let failed = times[j].unwrap_or(t);
                        let seconds = (t - failed).num_seconds().max(0);
                        env_restores.push(seconds);
                        restores.push(Restore {
                            env: log.name.to_string(),
                            record: r.id.clone(),
                            time: r.time.clone(),
                            failed_at: log.records[j].time.clone(),
                            failed_record: log.records[j].id.clone(),
                            seconds,
                        });
                    }
                }
                _ => {}
            }
        }
        let per_day = if days > 0.0 {
            deployments as f64 / days
        } else {
            0.0
        };
        environments.push(EnvFigures {
            env: log.name.to_string(),
            deployments,
            per_day,
            per_week: per_day * 7.0,
            deploy_days: deploy_days.len(),
            rollbacks,
            rollback_rate: (deployments > 0).then(|| rollbacks as f64 / deployments as f64),
            restore_median_seconds: median(env_restores),
            holds,
        });
    }
    restores.sort_by(|a, b| a.time.cmp(&b.time));
    crate::ui::trace("report: per env");
    let lead_times = lead_times(logs, start, end);
    Figures {
        days,
        environments,
        lead_time_median_seconds: median(lead_times.iter().map(|l| l.seconds).collect()),
        lead_times,
        restore_median_seconds: median(restores.iter().map(|r| r.seconds).collect()),
        restores,
    }
}

/// Lead times from the environments that take from none to those nothing takes from.
fn lead_times(logs: &[EnvLog], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<LeadTime> {
    let names: HashSet<&str> = logs.iter().map(|l| l.name).collect();
    let is_root = |l: &EnvLog| l.from.is_none_or(|f| !names.contains(f));
    let taken_from: HashSet<&str> = logs.iter().filter_map(|l| l.from).collect();
    // When each (service, version) first ran in a root environment, and which.
    let mut in_dev: HashMap<(&str, &str), (DateTime<Utc>, &str)> = HashMap::new();
    for log in logs.iter().filter(|l| is_root(l)) {
        for r in log.records {
            let Ok(t) = parse_time(&r.time) else { continue };
            for c in &r.changes {
                if let Some(v) = &c.after {
                    let e = in_dev
                        .entry((c.service.as_str(), v.as_str()))
                        .or_insert((t, log.name));
                    if t < e.0 {
                        *e = (t, log.name);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for log in logs
        .iter()
        .filter(|l| !is_root(l) && !taken_from.contains(l.name))
    {
        // version -> (first arrival in prod, services, earliest dev arrival among them)
        let mut arrived: HashSet<(&str, &str)> = HashSet::new();
        type Group<'a> = (DateTime<Utc>, Vec<String>, Option<(DateTime<Utc>, &'a str)>);
        let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
        for r in log.records {
            let Ok(t) = parse_time(&r.time) else { continue };
            let forward = matches!(r.action.as_str(), "promote" | "set-image");
            for c in &r.changes {
                let Some(v) = &c.after else { continue };
                // Only a version's first arrival counts: a re-promotion after a rollback is no new lead time.
                if !arrived.insert((c.service.as_str(), v.as_str())) {
                    continue;
                }
                if !forward || t < start || t > end {
                    continue;
                }
                let Some(&dev) = in_dev.get(&(c.service.as_str(), v.as_str())) else {
                    continue;
                };
                let g = groups.entry(v.as_str()).or_insert((t, Vec::new(), None));
                g.0 = g.0.min(t);
                g.1.push(c.service.clone());
                g.2 = Some(match g.2 {
                    Some(old) if old.0 <= dev.0 => old,
                    _ => dev,
                });
            }
        }
        for (version, (prod_at, mut services, dev)) in groups {
            let Some((dev_at, dev_env)) = dev else {
                continue;
            };
            services.sort();
            services.dedup();
            out.push(LeadTime {
                env: log.name.to_string(),
                version: version.to_string(),
                services,
                dev_env: dev_env.to_string(),
                dev_at: crate::model::audit::timestamp(dev_at),
                prod_at: crate::model::audit::timestamp(prod_at),
                seconds: (prod_at - dev_at).num_seconds().max(0),
            });
        }
    }
    out.sort_by(|a, b| a.prod_at.cmp(&b.prod_at).then(a.env.cmp(&b.env)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::{Actor, ServiceChange};

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    /// A record: `changes` is `service:before>after` (`-` for none), space-separated.
    fn rec(id: &str, time: &str, action: &str, changes: &str, target: Option<&str>) -> Record {
        let v = |s: &str| (s != "-").then(|| s.to_string());
        Record {
            id: id.into(),
            time: time.into(),
            env: String::new(),
            action: action.into(),
            from: None,
            changes: changes
                .split_whitespace()
                .map(|c| {
                    let (svc, rest) = c.split_once(':').unwrap();
                    let (b, a) = rest.split_once('>').unwrap();
                    ServiceChange {
                        service: svc.into(),
                        before: v(b),
                        after: v(a),
                    }
                })
                .collect(),
            actor: Actor {
                name: "A".into(),
                email: "a@x".into(),
                ci: None,
            },
            message: None,
            target: target.map(str::to_string),
            gates_overridden: None,
            audit_repaired: None,
            commit: None,
            prev: String::new(),
        }
    }

    /// Three logs of a dev -> staging -> prod pipeline (dev, staging, prod). Longer than 100 lines
    /// by its data alone: one record a few lines, each with the comment that says what it tests.
    fn pipeline() -> (Vec<Record>, Vec<Record>, Vec<Record>) {
        let dev = vec![
            rec(
                "d1",
                "2026-11-01T09:00:00Z",
                "set-image",
                "api:->aaa1111 web:->aaa1111",
                None,
            ),
            rec(
                "d2",
                "2026-11-03T09:00:00Z",
                "set-image",
                "api:aaa1111>bbb2222",
                None,
            ),
            rec(
                "d3",
                "2026-11-03T12:00:00Z",
                "set-image",
                "web:aaa1111>bbb2222",
                None,
            ),
            rec(
                "d4",
                "2026-11-10T09:00:00Z",
                "set-image",
                "api:bbb2222>ccc3333",
                None,
            ),
        ];
        let staging = vec![
            rec(
                "s1",
                "2026-11-02T09:00:00Z",
                "promote",
                "api:->aaa1111 web:->aaa1111",
                None,
            ),
            rec(
                "s2",
                "2026-11-04T09:00:00Z",
                "promote",
                "api:aaa1111>bbb2222 web:aaa1111>bbb2222",
                None,
            ),
            rec(
                "s3",
                "2026-11-11T09:00:00Z",
                "promote",
                "api:bbb2222>ccc3333",
                None,
            ),
        ];
        let prod = vec![
            // before the window: no lead time for aaa1111
            rec(
                "p1",
                "2026-11-02T12:00:00Z",
                "promote",
                "api:->aaa1111 web:->aaa1111",
                None,
            ),
            // bbb2222: api in dev 11-03 09:00, prod 11-05 09:00 (48h); web in dev 11-03 12:00
            rec(
                "p2",
                "2026-11-05T09:00:00Z",
                "promote",
                "api:aaa1111>bbb2222",
                None,
            ),
            rec(
                "p3",
                "2026-11-06T09:00:00Z",
                "promote",
                "web:aaa1111>bbb2222",
                None,
            ),
            rec("h1", "2026-11-06T10:00:00Z", "hold", "", None),
            // rolled back 6 hours after p3: the bad state began at p3
            rec(
                "r1",
                "2026-11-06T15:00:00Z",
                "rollback",
                "web:bbb2222>aaa1111",
                Some("p2"),
            ),
            // re-promoted: not a new lead time
            rec(
                "p4",
                "2026-11-07T09:00:00Z",
                "promote",
                "web:aaa1111>bbb2222",
                None,
            ),
            // ccc3333: dev 11-10 09:00, prod 11-12 21:00 (2d12h)
            rec(
                "p5",
                "2026-11-12T21:00:00Z",
                "promote",
                "api:bbb2222>ccc3333",
                None,
            ),
            // default rollback (target = the change before the last): undoes p5 only, 3h later
            rec(
                "r2",
                "2026-11-13T00:00:00Z",
                "rollback",
                "api:ccc3333>bbb2222",
                Some("p4"),
            ),
        ];
        (dev, staging, prod)
    }

    fn logs<'a>(dev: &'a [Record], staging: &'a [Record], prod: &'a [Record]) -> Vec<EnvLog<'a>> {
        vec![
            EnvLog {
                name: "dev",
                from: None,
                records: dev,
            },
            EnvLog {
                name: "staging",
                from: Some("dev"),
                records: staging,
            },
            EnvLog {
                name: "prod",
                from: Some("staging"),
                records: prod,
            },
        ]
    }

    #[test]
    fn known_answers_over_a_window() {
        let (dev, staging, prod) = pipeline();
        let f = compute(
            &logs(&dev, &staging, &prod),
            t("2026-11-03T00:00:00Z"),
            t("2026-11-17T00:00:00Z"),
        );
        assert_eq!(f.days, 14.0);
        let p = &f.environments[2];
        assert_eq!(p.env, "prod");
        // p2, p3, p4, p5 (p1 is before the window; rollbacks and holds are not deployments)
        assert_eq!(p.deployments, 4);
        assert_eq!(p.deploy_days, 4);
        assert_eq!(p.per_week, 2.0);
        assert_eq!(p.rollbacks, 2);
        assert_eq!(p.rollback_rate, Some(0.5));
        assert_eq!(p.holds, 1);
        // dev: d2, d3, d4 in the window (2 days with deployments on 11-03 and 11-10)
        assert_eq!(f.environments[0].deployments, 3);
        assert_eq!(f.environments[0].deploy_days, 2);
        assert_eq!(f.environments[0].rollback_rate, Some(0.0));

        let restores: Vec<(&str, &str, i64)> = f
            .restores
            .iter()
            .map(|r| (r.record.as_str(), r.failed_record.as_str(), r.seconds))
            .collect();
        assert_eq!(
            restores,
            vec![("r1", "p3", 6 * 3600), ("r2", "p5", 3 * 3600)]
        );
        assert_eq!(f.restore_median_seconds, Some(4 * 3600 + 1800));
        assert_eq!(p.restore_median_seconds, Some(4 * 3600 + 1800));

        let leads: Vec<(&str, Vec<String>, &str, i64)> = f
            .lead_times
            .iter()
            .map(|l| {
                (
                    l.version.as_str(),
                    l.services.clone(),
                    l.dev_at.as_str(),
                    l.seconds,
                )
            })
            .collect();
        assert_eq!(
            leads,
            vec![
                // first in dev (api, 11-03 09:00) to first in prod (api, 11-05 09:00)
                (
                    "bbb2222",
                    vec!["api".to_string(), "web".to_string()],
                    "2026-11-03T09:00:00Z",
                    48 * 3600
                ),
                (
                    "ccc3333",
                    vec!["api".to_string()],
                    "2026-11-10T09:00:00Z",
                    60 * 3600
                ),
            ]
        );
        assert_eq!(f.lead_time_median_seconds, Some(54 * 3600));
        assert_eq!(f.lead_times[0].dev_env, "dev");
        assert_eq!(f.lead_times[0].env, "prod");
    }

    #[test]
    fn a_narrow_window_and_an_empty_one() {
        let (dev, staging, prod) = pipeline();
        let f = compute(
            &logs(&dev, &staging, &prod),
            t("2026-11-12T00:00:00Z"),
            t("2026-11-13T12:00:00Z"),
        );
        let p = &f.environments[2];
        assert_eq!((p.deployments, p.rollbacks), (1, 1));
        assert_eq!(f.lead_times.len(), 1);
        assert_eq!(f.restores.len(), 1);

        let f = compute(
            &logs(&dev, &staging, &prod),
            t("2026-12-01T00:00:00Z"),
            t("2026-12-02T00:00:00Z"),
        );
        assert_eq!(f.environments[2].deployments, 0);
        assert_eq!(f.environments[2].rollback_rate, None);
        assert_eq!(f.lead_time_median_seconds, None);
        assert_eq!(f.restore_median_seconds, None);
    }

    #[test]
    fn multi_region_prods_each_get_lead_times_and_bad_times_are_skipped() {
        let dev = vec![rec(
            "d1",
            "2026-11-01T00:00:00Z",
            "set-image",
            "api:->v1",
            None,
        )];
        let us = vec![rec(
            "u1",
            "2026-11-02T00:00:00Z",
            "promote",
            "api:->v1",
            None,
        )];
        let eu = vec![
            rec("e0", "not a time", "promote", "api:->v0", None),
            rec("e1", "2026-11-03T00:00:00Z", "promote", "api:->v1", None),
        ];
        let me = vec![rec(
            "m1",
            "2026-11-04T00:00:00Z",
            "promote",
            "api:->v1",
            None,
        )];
        let logs = vec![
            EnvLog {
                name: "dev",
                from: None,
                records: &dev,
            },
            EnvLog {
                name: "prod-us",
                from: Some("dev"),
                records: &us,
            },
            EnvLog {
                name: "prod-eu",
                from: Some("prod-us"),
                records: &eu,
            },
            EnvLog {
                name: "prod-me",
                from: Some("prod-us"),
                records: &me,
            },
        ];
        let f = compute(&logs, t("2026-10-01T00:00:00Z"), t("2026-11-30T00:00:00Z"));
        let leads: Vec<(&str, i64)> = f
            .lead_times
            .iter()
            .map(|l| (l.env.as_str(), l.seconds / 86_400))
            .collect();
        assert_eq!(leads, vec![("prod-eu", 2), ("prod-me", 3)]);
        assert_eq!(f.environments[2].deployments, 1);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
