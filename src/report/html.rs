//! `promote report --html DIR`: one self-contained page (inline CSS, inline SVG, no script, no font or
//! file from elsewhere), light and dark, made of real tables with captions and headers, where every
//! colour has a text twin. Every string from a log or metadata file is cleaned of control characters
//! and HTML-escaped ([`esc`]); nothing from them reaches a URL but `http(s)` links to a CI run.

use std::fmt::Write as _;

use super::{actor, clean, human_secs, text::services, Age, Cell, EnvState, Input, Report};
use crate::model::audit::Record;
use crate::model::gates::parse_time;

/// Timeline rows per environment (the newest); `promote log ENV` has every record.
pub const TIMELINE_MAX: usize = 100;
/// Service changes listed per timeline row.
const CHANGES_MAX: usize = 6;
/// Lead times and rollbacks listed (the newest); `--output json` has every one.
const FIGURE_ROWS_MAX: usize = 20;
/// Waiting services listed per environment card (the matrix has them all).
const WAITING_MAX: usize = 25;

/// Text for HTML (content and quoted attributes): control characters made visible, then escaped.
pub fn esc(s: &str) -> String {
    let s = clean(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A version as a cell shows it: the tag, or the start of a digest (the whole one in `title`).
fn short_version(v: &str) -> String {
    match v.split_once('@') {
        Some((tag, _)) if !tag.is_empty() => format!("{tag}@…"),
        Some((_, digest)) => format!("@{}…", digest.chars().take(14).collect::<String>()),
        None if v.chars().count() > 20 => format!("{}…", v.chars().take(20).collect::<String>()),
        None => v.to_string(),
    }
}

/// A time as `<time>`, when it is one (a log's text that is not a time is shown as text).
fn time(s: &str) -> String {
    match parse_time(s) {
        Ok(t) => format!(
            "<time datetime=\"{}\">{}</time>",
            crate::model::audit::timestamp(t),
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        Err(_) => esc(s),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.0}%", x * 100.0))
}

fn dur(x: Option<i64>) -> String {
    x.map_or("–".into(), human_secs)
}

/// ` (the latest N of M shown: ...)` when a table is cut.
fn shown_note(n: usize) -> String {
    if n > FIGURE_ROWS_MAX {
        format!(
            " (the latest {FIGURE_ROWS_MAX} of {n}; <code>--output json</code> lists every one)"
        )
    } else {
        String::new()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An id for an environment's elements (names are checked by the config, escaped all the same).
fn anchor(env: &str) -> String {
    env.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const CSS: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--fg:#16191d;--muted:#525b66;--line:#cfd5dc;
--accent:#0a58ca;--bad:#a8201a;--good:#146c2e;--d:#d3f2da;--w:#dcebff;--m:#fdeebb;--o:#fbd5cf;--diff:#a8201a}
@media (prefers-color-scheme:dark){:root{--bg:#0e1013;--card:#171a1f;--fg:#e8ebef;--muted:#a7b0bb;--line:#2e343c;
--accent:#8ab4ff;--bad:#ff8f86;--good:#7fdc98;--d:#143823;--w:#13304f;--m:#463708;--o:#54201b;--diff:#ff8f86}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:1400px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.25em;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:1.05em;margin:0 0 6px}
p{margin:4px 0}
.muted,caption,.sub{color:var(--muted)}
code,.v{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
a{color:var(--accent)}
.alert{border:2px solid var(--bad);background:var(--card);padding:8px 12px;margin:12px 0;border-radius:6px}
.alert strong,.bad{color:var(--bad)}
.good{color:var(--good)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;margin:0}
.cards div{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.cards dt{color:var(--muted);font-size:.9em}
.cards dd{margin:2px 0 0;font-size:1.7em;font-weight:600}
.cards dd span{display:block;font-size:.5em;font-weight:400;color:var(--muted)}
.scroll{overflow-x:auto;margin:10px 0}
table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);min-width:50%}
caption{text-align:left;padding:4px 0;font-weight:600}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:var(--bg);position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.pipeline svg{max-width:100%;height:auto}
.pipeline .node rect{fill:var(--card);stroke:var(--line);stroke-width:1.5}
.pipeline .node.hold rect{stroke:var(--bad);stroke-width:3}
.pipeline .node .name{font-weight:700;font-size:15px;fill:var(--fg)}
.pipeline .node .sub{font-size:12px;fill:var(--muted)}
.pipeline .node .warn{font-size:12px;font-weight:700;fill:var(--bad)}
.pipeline .edge{fill:none;stroke:var(--muted);stroke-width:1.5}
.pipeline .arrow{fill:var(--muted)}
.envs{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.env{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.env.hold{border:2px solid var(--bad)}
.env table{width:100%;margin-top:6px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;list-style:none;padding:0;margin:6px 0}
.legend li span.sw{display:inline-block;width:1.1em;height:1.1em;border:1px solid var(--line);vertical-align:-.2em;margin-right:4px}
.age-d{background:var(--d)}.age-w{background:var(--w)}.age-m{background:var(--m)}.age-o{background:var(--o)}
#matrix td{white-space:nowrap}
#matrix td .age{color:var(--muted);font-size:.85em;margin-left:4px}
#matrix td.diff{outline:3px solid var(--diff);outline-offset:-3px}
#matrix td .wait{display:block;font-size:.85em;color:var(--diff);font-weight:600}
#matrix td .held{display:block;font-size:.85em;color:var(--muted)}
#matrix td.none{color:var(--muted)}
.act{display:inline-block;padding:0 6px;border-radius:4px;border:1px solid var(--line);font-weight:600;font-size:.9em}
.act-rollback,.act-hold{color:var(--bad);border-color:var(--bad)}
.act-promote,.act-set-image{color:var(--good);border-color:var(--good)}
.timeline td{font-size:.93em}
.timeline ul{margin:0;padding-left:1.1em;min-width:13em}
.timeline li{white-space:nowrap}
footer{margin-top:30px;padding-bottom:30px;color:var(--muted);font-size:.9em}
"#;

/// The page.
pub fn render(input: &Input, r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024 + input.services.len() * 600);
    let repo = esc(&input.repo);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"promote {}\">\n\
         <title>{repo}: what runs where</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION")
    );
    let head = r
        .head
        .as_deref()
        .map(|h| {
            format!(
                " at commit <code title=\"{}\">{}</code>",
                esc(h),
                esc(&h.chars().take(12).collect::<String>())
            )
        })
        .unwrap_or_default();
    let _ = write!(
        o,
        "<header>\n<h1>{repo}: what runs where</h1>\n<p class=\"muted\">Made {}{head} from \
         <code>promote.yaml</code>, each environment's metadata and deploy.log. Figures and timeline \
         over the last {} ({} to {}).</p>\n</header>\n<main>\n",
        time(&r.generated),
        esc(&r.window.since),
        time(&r.window.from),
        time(&r.window.to),
    );

    for e in &r.environments {
        if let Some(p) = &e.log_problem {
            let _ = writeln!(
                o,
                "<section class=\"alert\" role=\"alert\"><p><strong>{}: the audit log is not \
                 intact.</strong> {} The figures and timeline show the records that parse; \
                 <code>promote log --verify</code> says more.</p></section>",
                esc(&e.name),
                esc(p)
            );
        }
    }

    figures(&mut o, r);
    pipeline(&mut o, r);
    matrix(&mut o, r);
    details(&mut o, r);
    timeline(&mut o, input, r);

    let _ = write!(
        o,
        "</main>\n<footer><p>Made by <code>promote report --html</code>{head}. \
         <code>promote status</code> shows the same state in a terminal, <code>promote log ENV</code> \
         every record, <code>promote report --output json</code> the figures as data.</p></footer>\n\
         </body>\n</html>\n"
    );
    o
}

/// Environments nothing takes from (prod), or the only one.
fn sinks(r: &Report) -> Vec<&EnvState> {
    let taken: Vec<&str> = r
        .environments
        .iter()
        .filter_map(|e| e.from.as_deref())
        .collect();
    r.environments
        .iter()
        .filter(|e| !taken.contains(&e.name.as_str()) && (e.depth > 0 || r.environments.len() == 1))
        .collect()
}

fn figures(o: &mut String, r: &Report) {
    let f = &r.figures;
    o.push_str("<section id=\"figures\" aria-labelledby=\"h-figures\">\n<h2 id=\"h-figures\">Delivery figures</h2>\n<dl class=\"cards\">\n");
    let sinks = sinks(r);
    for s in &sinks {
        if let Some(ef) = f.environments.iter().find(|x| x.env == s.name) {
            let _ = writeln!(
                o,
                "<div id=\"fig-frequency-{}\"><dt>Deployments to {}</dt><dd>{:.1} / week<span>{} in {:.0} days, on {}</span></dd></div>",
                anchor(&s.name),
                esc(&s.name),
                ef.per_week,
                plural(ef.deployments, "deployment", "deployments"),
                f.days,
                plural(ef.deploy_days, "day", "days"),
            );
        }
    }
    let _ = writeln!(
        o,
        "<div id=\"fig-lead-time\"><dt>Lead time, dev to prod (median)</dt><dd>{}<span>over {}</span></dd></div>",
        dur(f.lead_time_median_seconds),
        plural(f.lead_times.len(), "version", "versions")
    );
    let (dep, rb) = f
        .environments
        .iter()
        .filter(|x| sinks.iter().any(|s| s.name == x.env))
        .fold((0, 0), |(d, b), x| (d + x.deployments, b + x.rollbacks));
    let names: Vec<String> = sinks.iter().map(|s| esc(&s.name)).collect();
    let _ = writeln!(
        o,
        "<div id=\"fig-rollback-rate\"><dt>Rollback rate in {}</dt><dd>{}<span>{} per {}</span></dd></div>",
        names.join(", "),
        pct((dep > 0).then(|| rb as f64 / dep as f64)),
        plural(rb, "rollback", "rollbacks"),
        plural(dep, "deployment", "deployments"),
    );
    let _ = write!(
        o,
        "<div id=\"fig-restore\"><dt>Time to restore (median)</dt><dd>{}<span>over {} in all environments</span></dd></div>\n</dl>\n",
        dur(f.restore_median_seconds),
        plural(f.restores.len(), "rollback", "rollbacks"),
    );

    o.push_str("<div class=\"scroll\"><table id=\"figures-env\">\n<caption>Per environment, over the window</caption>\n<thead><tr><th scope=\"col\">Environment</th><th scope=\"col\">Deployments</th><th scope=\"col\">Per week</th><th scope=\"col\">Days with one</th><th scope=\"col\">Rollbacks</th><th scope=\"col\">Rollback rate</th><th scope=\"col\">Time to restore (median)</th><th scope=\"col\">Holds</th></tr></thead>\n<tbody>\n");
    for e in &f.environments {
        let _ = writeln!(
            o,
            "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&e.env),
            e.deployments,
            e.per_week,
            e.deploy_days,
            e.rollbacks,
            pct(e.rollback_rate),
            dur(e.restore_median_seconds),
            e.holds
        );
    }
    o.push_str("</tbody>\n</table></div>\n</section>\n");
}

/// The lead time of each version and the time to restore of each rollback, newest first.
fn details(o: &mut String, r: &Report) {
    let f = &r.figures;
    o.push_str("<section id=\"details\" aria-labelledby=\"h-details\">\n<h2 id=\"h-details\">Lead times and rollbacks</h2>\n");
    if f.lead_times.is_empty() {
        o.push_str("<p class=\"muted\" id=\"lead-times-none\">No version reached prod from dev in the window.</p>\n");
    } else {
        let _ = write!(
            o,
            "<div class=\"scroll\"><table id=\"lead-times\">\n<caption>Lead time per version: from its first run in dev to its first run in prod{}</caption>\n<thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Reached</th><th scope=\"col\">Services</th><th scope=\"col\">In dev</th><th scope=\"col\">In prod</th><th scope=\"col\">Lead time</th></tr></thead>\n<tbody>\n",
            shown_note(f.lead_times.len())
        );
        for l in f.lead_times.iter().rev().take(FIGURE_ROWS_MAX) {
            let _ = writeln!(
                o,
                "<tr><th scope=\"row\" class=\"v\" title=\"{}\">{}</th><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&l.version),
                esc(&short_version(&l.version)),
                esc(&l.env),
                esc(&services(&l.services)),
                time(&l.dev_at),
                esc(&l.dev_env),
                time(&l.prod_at),
                human_secs(l.seconds)
            );
        }
        o.push_str("</tbody>\n</table></div>\n");
    }

    if !f.restores.is_empty() {
        let _ = write!(
            o,
            "<div class=\"scroll\"><table id=\"restores\">\n<caption>Rollbacks: time from the first change undone to the rollback{}</caption>\n<thead><tr><th scope=\"col\">Environment</th><th scope=\"col\">Rollback</th><th scope=\"col\">Undid</th><th scope=\"col\">Time to restore</th></tr></thead>\n<tbody>\n",
            shown_note(f.restores.len())
        );
        for x in f.restores.iter().rev().take(FIGURE_ROWS_MAX) {
            let _ = writeln!(
                o,
                "<tr><th scope=\"row\">{}</th><td>{} <code>{}</code></td><td>{} <code>{}</code></td><td class=\"n\">{}</td></tr>",
                esc(&x.env),
                time(&x.time),
                esc(&x.record),
                time(&x.failed_at),
                esc(&x.failed_record),
                human_secs(x.seconds)
            );
        }
        o.push_str("</tbody>\n</table></div>\n");
    } else {
        o.push_str("<p class=\"muted\" id=\"restores-none\">No rollback in the window.</p>\n");
    }
    o.push_str("</section>\n");
}

fn pipeline(o: &mut String, r: &Report) {
    const W: usize = 200;
    const H: usize = 74;
    const GX: usize = 60;
    const GY: usize = 18;
    let envs = &r.environments;
    let mut rows_at_depth: Vec<usize> = Vec::new();
    let mut pos: Vec<(usize, usize)> = Vec::with_capacity(envs.len());
    for e in envs {
        if rows_at_depth.len() <= e.depth {
            rows_at_depth.resize(e.depth + 1, 0);
        }
        pos.push((
            10 + e.depth * (W + GX),
            10 + rows_at_depth[e.depth] * (H + GY),
        ));
        rows_at_depth[e.depth] += 1;
    }
    let width = 20 + rows_at_depth.len().max(1) * (W + GX) - GX;
    let height = 20 + rows_at_depth.iter().copied().max().unwrap_or(1) * (H + GY) - GY;

    let said = pipeline_said(envs);
    let _ = write!(
        o,
        "<section id=\"pipeline\" class=\"pipeline\" aria-labelledby=\"h-pipeline\">\n<h2 id=\"h-pipeline\">Pipeline</h2>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"pipe-title pipe-desc\">\n\
         <title id=\"pipe-title\">The pipeline: each environment and the one it takes its versions from</title>\n\
         <desc id=\"pipe-desc\">{}.</desc>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path class=\"arrow\" d=\"M0 0L10 5L0 10z\"/></marker></defs>\n",
        esc(&said.join("; "))
    );
    for (i, e) in envs.iter().enumerate() {
        if let Some(s) = e
            .from
            .as_deref()
            .and_then(|f| envs.iter().position(|x| x.name == f))
        {
            let (x1, y1) = (pos[s].0 + W, pos[s].1 + H / 2);
            let (x2, y2) = (pos[i].0, pos[i].1 + H / 2);
            let mx = (x1 + x2) / 2;
            let _ = writeln!(
                o,
                "<path class=\"edge\" d=\"M{x1} {y1}C{mx} {y1} {mx} {y2} {x2} {y2}\" marker-end=\"url(#arrow)\"/>"
            );
        }
    }
    for (i, e) in envs.iter().enumerate() {
        let (x, y) = pos[i];
        let deployed = e.services.iter().filter(|c| c.version.is_some()).count();
        let line2 = if e.waiting > 0 {
            format!(
                "{} · {} waiting",
                plural(deployed, "service", "services"),
                e.waiting
            )
        } else {
            format!("{} · up to date", plural(deployed, "service", "services"))
        };
        let line3 = node_status(e);
        let _ = writeln!(
            o,
            "<g class=\"node{}\" id=\"node-{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"8\"/>\
             <text x=\"{}\" y=\"{}\" class=\"name\">{}</text><text x=\"{}\" y=\"{}\" class=\"sub\">{}</text><text x=\"{}\" y=\"{}\">{line3}</text></g>",
            if e.hold.is_some() { " hold" } else { "" },
            anchor(&e.name),
            x + 12,
            y + 22,
            esc(&e.name),
            x + 12,
            y + 42,
            esc(&line2),
            x + 12,
            y + 61,
        );
    }
    o.push_str("</svg>\n<div class=\"envs\">\n");
    for e in envs {
        env_card(o, e);
    }
    o.push_str("</div>\n</section>\n");
}

/// The pipeline in words, for the figure's description (what a screen reader says).
fn pipeline_said(envs: &[EnvState]) -> Vec<String> {
    let mut said: Vec<String> = Vec::new();
    for e in envs {
        let mut s = match &e.from {
            Some(f) => format!("{} takes from {}", e.name, f),
            None => format!("{} is the start", e.name),
        };
        if e.hold.is_some() {
            s.push_str(" (on hold)");
        }
        if e.waiting > 0 {
            s.push_str(&format!(", {} waiting", e.waiting));
        }
        said.push(s);
    }
    said
}

/// The third line of an environment's node: on hold, held by gates, or its last change.
fn node_status(e: &EnvState) -> String {
    if e.hold.is_some() {
        "<tspan class=\"warn\">ON HOLD</tspan>".to_string()
    } else if !e.held.is_empty() {
        format!(
            "<tspan class=\"warn\">held: {}</tspan>",
            esc(&e
                .held
                .iter()
                .map(|h| h.gate.as_str())
                .collect::<Vec<_>>()
                .join(", "))
        )
    } else {
        match &e.last_change {
            Some(l) => format!(
                "<tspan class=\"sub\">{} {}</tspan>",
                esc(&l.action),
                esc(&parse_time(&l.time)
                    .map_or(l.time.clone(), |t| t.format("%Y-%m-%d %H:%M").to_string()))
            ),
            None => "<tspan class=\"sub\">no changes yet</tspan>".into(),
        }
    }
}

fn env_card(o: &mut String, e: &EnvState) {
    let id = anchor(&e.name);
    let _ = write!(
        o,
        "<article class=\"env{}\" id=\"env-{id}\" aria-labelledby=\"env-h-{id}\">\n<h3 id=\"env-h-{id}\">{}</h3>\n<p>{}</p>\n",
        if e.hold.is_some() { " hold" } else { "" },
        esc(&e.name),
        match &e.from {
            Some(f) => format!("Takes its versions from <strong>{}</strong>.", esc(f)),
            None => "The start of the pipeline: versions are set here.".into(),
        }
    );
    if !e.gates.is_empty() {
        let _ = writeln!(o, "<p>Gates: {}.</p>", esc(&e.gates.join("; ")));
    }
    if let Some(h) = &e.hold {
        let _ = writeln!(
            o,
            "<p class=\"bad\"><strong>On hold</strong> since {} by {}: {}. Nothing is promoted into it until <code>promote unhold {}</code>.</p>",
            time(&h.since),
            esc(&h.by),
            esc(&h.reason),
            esc(&e.name)
        );
    }
    match &e.last_change {
        Some(l) => {
            let _ = writeln!(
                o,
                "<p class=\"muted\">Last change: {} {} by {} (record <code>{}</code>).</p>",
                esc(&l.action),
                time(&l.time),
                esc(&l.actor),
                esc(&l.id)
            );
        }
        None => o.push_str("<p class=\"muted\">No recorded change yet.</p>\n"),
    }
    for h in &e.held {
        let _ = writeln!(
            o,
            "<p class=\"bad\">Held by gate <strong>{}</strong>: {}{}</p>",
            esc(&h.gate),
            esc(&h.reason),
            h.until
                .as_ref()
                .map(|u| format!("; it passes at {}", time(u)))
                .unwrap_or_default()
        );
    }
    let waiting: Vec<&Cell> = e.services.iter().filter(|c| c.waiting.is_some()).collect();
    if waiting.is_empty() {
        if let Some(f) = &e.from {
            let _ = writeln!(
                o,
                "<p class=\"good\">Nothing waits: it runs what {} runs.</p>",
                esc(f)
            );
        }
    } else {
        let _ = write!(
            o,
            "<table id=\"waiting-{id}\">\n<caption>{} waiting for <code>promote to {}</code></caption>\n<thead><tr><th scope=\"col\">Service</th><th scope=\"col\">Runs</th><th scope=\"col\">Waiting</th><th scope=\"col\">Held by</th></tr></thead>\n<tbody>\n",
            plural(waiting.len(), "service", "services"),
            esc(&e.name)
        );
        for c in waiting.iter().take(WAITING_MAX) {
            let held = held_text(c, e);
            let _ = writeln!(
                o,
                "<tr><th scope=\"row\">{}</th><td class=\"v\">{}</td><td class=\"v\">{}</td><td>{}</td></tr>",
                esc(&c.service),
                esc(&c.version.as_deref().map_or("–".into(), short_version)),
                esc(&c.waiting.as_deref().map(short_version).unwrap_or_default()),
                held
            );
        }
        o.push_str("</tbody>\n</table>\n");
        if waiting.len() > WAITING_MAX {
            let _ = writeln!(
                o,
                "<p class=\"muted\">And {} more: the matrix below shows every one.</p>",
                waiting.len() - WAITING_MAX
            );
        }
    }
    o.push_str("</article>\n");
}

/// Which gates hold a waiting version, and when each passes; or that it is ready.
fn held_text(c: &Cell, e: &EnvState) -> String {
    let gates: Vec<String> = e
        .held
        .iter()
        .chain(&c.held)
        .map(|g| {
            let mut s = esc(&g.gate);
            if let Some(u) = &g.until {
                s.push_str(&format!(" until {}", time(u)));
            }
            s
        })
        .collect();
    if gates.is_empty() && e.command_gate {
        "ready, but for the command gate (it runs at promotion)".into()
    } else if gates.is_empty() {
        "ready".into()
    } else {
        gates.join(", ")
    }
}

fn matrix(o: &mut String, r: &Report) {
    let envs = &r.environments;
    o.push_str("<section id=\"versions\" aria-labelledby=\"h-versions\">\n<h2 id=\"h-versions\">Versions</h2>\n<p>Each cell is the version a service runs in an environment, coloured by its age (since it first ran anywhere in the pipeline). A cell with a red frame runs another version than the environment it takes from: that version waits for promotion.</p>\n<p>Colours by age:</p>\n<ul class=\"legend\">\n");
    for a in [Age::Day, Age::Week, Age::Month, Age::Older] {
        let _ = writeln!(
            o,
            "<li><span class=\"sw {}\"></span>{}</li>",
            a.class(),
            a.label()
        );
    }
    o.push_str("</ul>\n<div class=\"scroll\"><table id=\"matrix\">\n<caption>Services × environments: version, age, and what waits</caption>\n<thead><tr><th scope=\"col\">Service</th>");
    for e in envs {
        let _ = write!(
            o,
            "<th scope=\"col\">{}{}</th>",
            esc(&e.name),
            if e.hold.is_some() { " (on hold)" } else { "" }
        );
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    let n = envs.first().map_or(0, |e| e.services.len());
    for k in 0..n {
        let svc = &envs[0].services[k].service;
        let _ = write!(o, "<tr><th scope=\"row\">{}</th>", esc(svc));
        for e in envs {
            let c = &e.services[k];
            let Some(v) = &c.version else {
                match &c.waiting {
                    Some(w) => {
                        let _ = write!(
                            o,
                            "<td class=\"none diff\">not deployed<span class=\"wait\">waits: {}</span><span class=\"held\">{}</span></td>",
                            esc(&short_version(w)),
                            held_text(c, e)
                        );
                    }
                    None => o.push_str("<td class=\"none\">not deployed</td>"),
                }
                continue;
            };
            let class = c.age_seconds.map(|a| Age::of(a).class()).unwrap_or("");
            let mut title = format!("{} in {}: {}", c.service, e.name, v);
            if let Some(s) = &c.since {
                title.push_str(&format!(", here since {s}"));
            }
            if let Some(s) = &c.first_seen {
                title.push_str(&format!(", first ran {s}"));
            }
            let _ = write!(
                o,
                "<td class=\"{class}{}\" title=\"{}\"><span class=\"v\">{}</span>",
                if c.waiting.is_some() { " diff" } else { "" },
                esc(&title),
                esc(&short_version(v))
            );
            if let Some(a) = c.age_seconds {
                let _ = write!(o, "<span class=\"age\">{}</span>", human_secs(a));
            }
            if let Some(w) = &c.waiting {
                let _ = write!(
                    o,
                    "<span class=\"wait\">waits: {}</span><span class=\"held\">{}</span>",
                    esc(&short_version(w)),
                    held_text(c, e)
                );
            }
            o.push_str("</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n</section>\n");
}

fn timeline(o: &mut String, input: &Input, r: &Report) {
    o.push_str("<section id=\"timeline\" class=\"timeline\" aria-labelledby=\"h-timeline\">\n<h2 id=\"h-timeline\">Timeline</h2>\n");
    let start = parse_time(&r.window.from).ok();
    for e in &input.envs {
        let recent: Vec<&Record> = e
            .records
            .iter()
            .rev()
            .filter(|x| match (parse_time(&x.time), start) {
                (Ok(t), Some(s)) => t >= s,
                _ => true, // a record whose time does not parse is shown, not hidden
            })
            .collect();
        let id = anchor(&e.name);
        if recent.is_empty() {
            let _ = writeln!(
                o,
                "<p id=\"timeline-{id}\"><strong>{}</strong>: no change in the window.</p>",
                esc(&e.name)
            );
            continue;
        }
        let shown = recent.len().min(TIMELINE_MAX);
        let _ = write!(
            o,
            "<div class=\"scroll\"><table id=\"timeline-{id}\">\n<caption>{}: {} in the window{}, newest first</caption>\n<thead><tr><th scope=\"col\">When</th><th scope=\"col\">Action</th><th scope=\"col\">What</th><th scope=\"col\">Who</th><th scope=\"col\">Why</th><th scope=\"col\">Commit</th><th scope=\"col\">Record</th></tr></thead>\n<tbody>\n",
            esc(&e.name),
            plural(recent.len(), "change", "changes"),
            if shown < recent.len() {
                format!(" (the latest {shown} shown: <code>promote log {}</code> has every one)", esc(&e.name))
            } else {
                String::new()
            }
        );
        for x in recent.iter().take(shown) {
            timeline_row(o, x);
        }
        o.push_str("</tbody>\n</table></div>\n");
    }
    o.push_str("</section>\n");
}

fn timeline_row(o: &mut String, x: &Record) {
    let action = esc(&x.action);
    let class = anchor(&x.action);
    let mut what = String::new();
    if let Some(f) = &x.from {
        let _ = write!(what, "from {}", esc(f));
    }
    if !x.changes.is_empty() {
        what.push_str("<ul>");
        for c in x.changes.iter().take(CHANGES_MAX) {
            let v = |s: &Option<String>| {
                s.as_deref()
                    .map_or("(none)".into(), |s| esc(&short_version(s)))
            };
            let _ = write!(
                what,
                "<li>{} <span class=\"v\">{}</span> → <span class=\"v\">{}</span></li>",
                esc(&c.service),
                v(&c.before),
                v(&c.after)
            );
        }
        if x.changes.len() > CHANGES_MAX {
            let _ = write!(what, "<li>and {} more</li>", x.changes.len() - CHANGES_MAX);
        }
        what.push_str("</ul>");
    }
    let mut who = esc(&actor(x));
    if let Some(ci) = &x.actor.ci {
        if let Some(b) = &ci.build {
            let b = esc(b);
            match ci.url.as_deref().filter(|u| {
                (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.contains(char::is_whitespace)
            }) {
                Some(u) => {
                    let _ = write!(
                        who,
                        ", build <a href=\"{}\" rel=\"noopener\">{b}</a>",
                        esc(u)
                    );
                }
                None => {
                    let _ = write!(who, ", build {b}");
                }
            }
        }
    }
    let mut why = x.message.as_deref().map(esc).unwrap_or_default();
    if let Some(g) = &x.gates_overridden {
        if !why.is_empty() {
            why.push_str("<br>");
        }
        let _ = write!(why, "<strong>gates overridden:</strong> {}", esc(g));
    }
    if let Some(t) = &x.target {
        if !why.is_empty() {
            why.push_str("<br>");
        }
        let _ = write!(why, "back to record <code>{}</code>", esc(t));
    }
    let commit = x
        .commit
        .as_deref()
        .map(|c| {
            format!(
                "<code title=\"{}\">{}</code>",
                esc(c),
                esc(&c.chars().take(12).collect::<String>())
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "<tr class=\"entry\"><td>{}</td><td><span class=\"act act-{class}\">{action}</span></td><td>{what}</td><td>{who}</td><td>{why}</td><td>{commit}</td><td><code>{}</code></td></tr>",
        time(&x.time),
        esc(&x.id)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_shows_control_characters() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{1b}[31mred\u{7}"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(esc("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
        assert_eq!(esc("line\nbreak\0"), "line\\u{a}break\\u{0}");
        assert_eq!(esc("plain é ✓"), "plain é ✓");
    }

    #[test]
    fn versions_are_shortened_for_cells() {
        assert_eq!(short_version("a252dcc"), "a252dcc");
        assert_eq!(
            short_version(
                "a252dcc@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            "a252dcc@…"
        );
        assert_eq!(
            short_version(
                "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            "@sha256:0123456…"
        );
    }

    #[test]
    fn a_command_gate_is_never_called_passed() {
        use crate::model::metadata::{Metadata, ServiceState};
        use crate::report::{build, EnvInput};
        let meta = |env: &str, v: &str| {
            let mut m = Metadata {
                environment: env.into(),
                ..Default::default()
            };
            m.services.insert(
                "api".into(),
                ServiceState {
                    version: crate::model::version::Version::parse(v).unwrap(),
                    image: format!("r/api:{v}"),
                    from: None,
                    commit: None,
                    updated: "2026-11-20T00:00:00Z".into(),
                },
            );
            m
        };
        let env = |name: &str, from: Option<&str>, v: &str, command_gate: bool| EnvInput {
            name: name.into(),
            from: from.map(str::to_string),
            meta: meta(name, v),
            records: Vec::new(),
            log_problem: None,
            refusals: Vec::new(),
            gates: Vec::new(),
            command_gate,
        };
        let mut input = Input {
            now: parse_time("2026-11-23T10:00:00Z").unwrap(),
            since: "30d".into(),
            window: chrono::Duration::days(30),
            repo: "<config>".into(),
            head: None,
            services: vec!["api".into()],
            envs: vec![
                env("dev", None, "bbb2222", false),
                env("prod", Some("dev"), "aaa1111", true),
            ],
        };
        let page = render(&input, &build(&input));
        assert!(page.contains("<title>&lt;config&gt;: what runs where</title>"));
        assert!(page.contains("<span class=\"wait\">waits: bbb2222</span><span class=\"held\">ready, but for the command gate (it runs at promotion)</span>"), "{page}");
        input.envs[1].command_gate = false;
        let page = render(&input, &build(&input));
        assert!(page.contains("<span class=\"held\">ready</span>"), "{page}");
    }

    #[test]
    fn untrusted_times_stay_text() {
        assert_eq!(
            time("2026-11-23T10:00:00Z"),
            "<time datetime=\"2026-11-23T10:00:00Z\">2026-11-23 10:00 UTC</time>"
        );
        assert_eq!(time("<b>soon</b>"), "&lt;b&gt;soon&lt;/b&gt;");
    }
}
