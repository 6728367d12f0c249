//! Promotion gates, declared per environment and checked before anything is written: soak time in
//! the source environment, freeze windows, a hold, and a command that must exit 0.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// The `gates:` of an environment, as written in `promote.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// A version must have run in the source environment at least this long (`24h`, `2d`, `90m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
    /// Windows in which nothing is promoted into this environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<Freeze>,
    /// A shell command that must exit 0 (run from the repository root with `sh -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// A freeze window: weekly days (UTC), or a range of time, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Days of the week, e.g. `[sat, sun]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Start of a range: RFC 3339 time or a date (`2026-12-20`, midnight UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End of a range (exclusive): RFC 3339 time or a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Parses `90m`, `36h`, `14d`, `2w` (and combinations like `1d12h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (e.g. `90m`, `24h`, `14d`)");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::zero();
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => Duration::seconds(n),
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            'w' => Duration::weeks(n),
            _ => return Err(bad()),
        };
        total += unit;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// A duration for people: `3h12m`, `2d4h`, `45s`.
pub fn human(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// A time in the config: RFC 3339, or a date meaning midnight UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{s}` is not a time (RFC 3339, e.g. `2026-12-20T00:00:00Z`, or a date `2026-12-20`)"))
}

fn weekday(s: &str) -> Result<Weekday, String> {
    let lower = s.to_ascii_lowercase();
    let w = match lower.get(..3).unwrap_or("") {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return Err(format!("`{s}` is not a day of the week (mon, tue, …, sun)")),
    };
    Ok(w)
}

impl Gates {
    /// Checks the syntax of every gate, so mistakes show up when the config loads.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = &self.soak {
            parse_duration(s)?;
        }
        for f in &self.freeze {
            for d in &f.days {
                weekday(d)?;
            }
            let from = f.from.as_deref().map(parse_time).transpose()?;
            let until = f.until.as_deref().map(parse_time).transpose()?;
            if f.days.is_empty() && from.is_none() && until.is_none() {
                return Err("a freeze window needs `days`, or `from` and `until`".into());
            }
            if f.from.is_some() != f.until.is_some() {
                return Err("a freeze range needs both `from` and `until`".into());
            }
            if let (Some(a), Some(b)) = (from, until) {
                if b <= a {
                    return Err(format!("freeze `until` ({b}) is not after `from` ({a})"));
                }
            }
        }
        Ok(())
    }
}

impl Freeze {
    /// If `now` is inside this window: when the window ends.
    pub fn active_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let range = match (
            self.from.as_deref().map(parse_time),
            self.until.as_deref().map(parse_time),
        ) {
            (Some(Ok(a)), Some(Ok(b))) => Some((a, b)),
            _ => None,
        };
        let days: Vec<Weekday> = self.days.iter().filter_map(|d| weekday(d).ok()).collect();
        let in_range = range.is_none_or(|(a, b)| a <= now && now < b);
        let in_days = days.is_empty() || days.contains(&now.weekday());
        if !(in_range && in_days) {
            return None;
        }
        // The end: the end of the run of frozen days, or of the range, whichever comes first.
        let mut end = range.map(|(_, b)| b);
        if !days.is_empty() {
            let mut day = now.date_naive();
            while days.contains(&day.weekday()) {
                day = day.succ_opt()?;
            }
            let day_end = day.and_hms_opt(0, 0, 0)?.and_utc();
            end = Some(end.map_or(day_end, |e| e.min(day_end)));
        }
        end
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.days.is_empty() {
            parts.push(self.days.join(", "));
        }
        if let (Some(a), Some(b)) = (&self.from, &self.until) {
            parts.push(format!("{a} to {b}"));
        }
        let mut s = parts.join(", ");
        if let Some(r) = &self.reason {
            s.push_str(&format!(" ({r})"));
        }
        s
    }
}

/// Why a gate refuses, and when it would pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub gate: String,
    /// The service held back, when the gate is per service.
    pub service: Option<String>,
    pub reason: String,
    /// When it would pass, if that is known.
    pub until: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gate `{}`", self.gate)?;
        if let Some(s) = &self.service {
            write!(f, " holds `{s}`")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(u) = &self.until {
            write!(f, "; it passes at {u}")?;
        }
        Ok(())
    }
}

/// The time-based gates (freeze windows) at `now`.
pub fn check_freeze(gates: &Gates, env: &str, now: DateTime<Utc>) -> Vec<Refusal> {
    gates
        .freeze
        .iter()
        .filter_map(|f| {
            f.active_until(now).map(|end| Refusal {
                gate: "freeze".into(),
                service: None,
                reason: format!("`{env}` is frozen ({})", f.describe()),
                until: Some(crate::model::audit::timestamp(end)),
            })
        })
        .collect()
}

/// The soak gate for one service: `since` is when the source environment got the version.
pub fn check_soak(
    gates: &Gates,
    service: &str,
    source: &str,
    since: &str,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let soak = parse_duration(gates.soak.as_deref()?).ok()?;
    let since = parse_time(since).ok()?;
    let ran = now - since;
    if ran >= soak {
        return None;
    }
    Some(Refusal {
        gate: "soak".into(),
        service: Some(service.to_string()),
        reason: format!(
            "it has run in `{source}` for {} of the {} required",
            human(ran),
            human(soak)
        ),
        until: Some(crate::model::audit::timestamp(since + soak)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::hours(36));
        assert_eq!(parse_duration("14d").unwrap(), Duration::days(14));
        for bad in ["", "h", "12", "3x", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human(Duration::minutes(192)), "3h12m");
        assert_eq!(human(Duration::hours(52)), "2d4h");
    }

    #[test]
    fn weekend_freeze_ends_monday_midnight() {
        let f = Freeze {
            days: vec!["sat".into(), "sun".into()],
            ..Default::default()
        };
        // 2026-11-28 is a Saturday.
        assert_eq!(
            f.active_until(t("2026-11-28T15:00:00Z")),
            Some(t("2026-11-30T00:00:00Z"))
        );
        assert_eq!(f.active_until(t("2026-11-27T23:59:00Z")), None);
    }

    #[test]
    fn range_freeze() {
        let f = Freeze {
            from: Some("2026-12-20".into()),
            until: Some("2027-01-04".into()),
            ..Default::default()
        };
        assert_eq!(
            f.active_until(t("2026-12-24T12:00:00Z")),
            Some(t("2027-01-04T00:00:00Z"))
        );
        assert_eq!(f.active_until(t("2027-01-04T00:00:00Z")), None);
        assert!(Gates {
            freeze: vec![Freeze {
                from: Some("2026-12-20".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn soak_says_when_it_passes() {
        let g = Gates {
            soak: Some("24h".into()),
            ..Default::default()
        };
        let r = check_soak(
            &g,
            "api",
            "staging",
            "2026-11-23T08:00:00Z",
            t("2026-11-23T11:12:00Z"),
        )
        .unwrap();
        assert_eq!(
            r.to_string(),
            "gate `soak` holds `api`: it has run in `staging` for 3h12m of the 1d0h required; it passes at 2026-11-24T08:00:00Z"
        );
        assert!(check_soak(
            &g,
            "api",
            "staging",
            "2026-11-22T08:00:00Z",
            t("2026-11-23T11:12:00Z")
        )
        .is_none());
    }
}
