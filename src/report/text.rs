//! `promote report` as text: the figures, and what waits.

use super::{clean, human_secs, Figures, Report};

/// Rows listed per table (the newest); `--output json` has every one.
pub const ROWS_MAX: usize = 20;

fn more(n: usize) -> String {
    if n > ROWS_MAX {
        format!(
            "  ... and {} older (`--output json` lists every one)\n",
            n - ROWS_MAX
        )
    } else {
        String::new()
    }
}

/// Lays out rows as columns separated by two spaces (the first row is the header).
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.0}%", x * 100.0))
}

fn secs(x: Option<i64>) -> String {
    x.map_or("-".into(), human_secs)
}

/// The report as text: the window, the figures in tables, and what waits to be promoted.
pub fn render(r: &Report) -> String {
    let mut out = header(r);
    out.push_str(&deployments(&r.figures));
    out.push_str(&lead_times(&r.figures));
    out.push_str(&restores(&r.figures));
    out.push_str(&waiting(r));
    out
}

fn header(r: &Report) -> String {
    let mut out = format!(
        "promote report: {} to {} (--since {})\n",
        r.window.from,
        r.window.to,
        clean(&r.window.since)
    );
    for e in &r.environments {
        if let Some(p) = &e.log_problem {
            out.push_str(&format!("warning: `{}`: {}\n", e.name, clean(p)));
        }
    }
    out
}

fn deployments(f: &Figures) -> String {
    let mut out = String::new();
    out.push_str("\ndeployments (promotions and set-images that changed a version), rollbacks, time to restore\n");
    let mut rows = vec![[
        "ENV",
        "DEPLOYS",
        "PER WEEK",
        "DAYS",
        "ROLLBACKS",
        "ROLLBACK RATE",
        "RESTORE (MEDIAN)",
        "HOLDS",
    ]
    .map(String::from)
    .to_vec()];
    for e in &f.environments {
        rows.push(vec![
            e.env.clone(),
            e.deployments.to_string(),
            format!("{:.1}", e.per_week),
            e.deploy_days.to_string(),
            e.rollbacks.to_string(),
            pct(e.rollback_rate),
            secs(e.restore_median_seconds),
            e.holds.to_string(),
        ]);
    }
    out.push_str(&table(&rows, "  "));
    out
}

fn lead_times(f: &Figures) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\nlead time from dev to prod: median {} over {} version{}\n",
        secs(f.lead_time_median_seconds),
        f.lead_times.len(),
        if f.lead_times.len() == 1 { "" } else { "s" }
    ));
    if !f.lead_times.is_empty() {
        let mut rows = vec![[
            "VERSION",
            "ENV",
            "IN DEV",
            "IN PROD",
            "LEAD TIME",
            "SERVICES",
        ]
        .map(String::from)
        .to_vec()];
        for l in f.lead_times.iter().rev().take(ROWS_MAX) {
            rows.push(vec![
                clean(&l.version).into_owned(),
                l.env.clone(),
                l.dev_at.clone(),
                l.prod_at.clone(),
                human_secs(l.seconds),
                clean(&services(&l.services)).into_owned(),
            ]);
        }
        out.push_str(&table(&rows, "  "));
        out.push_str(&more(f.lead_times.len()));
    }
    out
}

fn restores(f: &Figures) -> String {
    let mut out = String::new();
    if !f.restores.is_empty() {
        out.push_str(&format!(
            "\nrollbacks: median time to restore {}\n",
            secs(f.restore_median_seconds)
        ));
        let mut rows = vec![
            ["ENV", "ROLLBACK", "AT", "UNDID", "FROM", "TIME TO RESTORE"]
                .map(String::from)
                .to_vec(),
        ];
        for x in f.restores.iter().rev().take(ROWS_MAX) {
            rows.push(vec![
                x.env.clone(),
                clean(&x.record).into_owned(),
                clean(&x.time).into_owned(),
                clean(&x.failed_record).into_owned(),
                clean(&x.failed_at).into_owned(),
                human_secs(x.seconds),
            ]);
        }
        out.push_str(&table(&rows, "  "));
        out.push_str(&more(f.restores.len()));
    }
    out
}

/// What waits to be promoted, and what holds it.
fn waiting(r: &Report) -> String {
    let mut out = String::new();
    let mut waiting = String::new();
    for e in &r.environments {
        if let Some(h) = &e.hold {
            waiting.push_str(&format!(
                "  {}: on hold since {} by {}: {}\n",
                e.name,
                clean(&h.since),
                clean(&h.by),
                clean(&h.reason)
            ));
        }
        if e.waiting == 0 {
            continue;
        }
        let from = e.from.as_deref().unwrap_or("?");
        let mut held: Vec<String> = e
            .held
            .iter()
            .map(|g| clean(&g.to_string()).into_owned())
            .collect();
        if e.command_gate {
            held.push("the command gate runs at promotion".into());
        }
        waiting.push_str(&format!(
            "  {}: {} service{} wait{} for `promote to {}` (from {from}){}\n",
            e.name,
            e.waiting,
            if e.waiting == 1 { "" } else { "s" },
            if e.waiting == 1 { "s" } else { "" },
            e.name,
            if held.is_empty() {
                String::new()
            } else {
                format!("; {}", held.join("; "))
            }
        ));
        for c in e
            .services
            .iter()
            .filter(|c| c.waiting.is_some())
            .take(ROWS_MAX)
        {
            let mut line = format!(
                "    {} {} -> {}",
                clean(&c.service),
                clean(c.version.as_deref().unwrap_or("(none)")),
                clean(c.waiting.as_deref().unwrap_or_default())
            );
            for g in &c.held {
                line.push_str(&format!("; {}", clean(&g.to_string())));
            }
            waiting.push_str(&line);
            waiting.push('\n');
        }
        if e.waiting > ROWS_MAX {
            waiting.push_str(&format!(
                "    ... and {} more (`promote status` lists every one)\n",
                e.waiting - ROWS_MAX
            ));
        }
    }
    if !waiting.is_empty() {
        out.push_str("\nwaiting:\n");
        out.push_str(&waiting);
    }
    out
}

/// `api, web` (the first 8, then how many more).
pub fn services(s: &[String]) -> String {
    if s.len() <= 8 {
        return s.join(", ");
    }
    format!("{}, and {} more", s[..8].join(", "), s.len() - 8)
}
