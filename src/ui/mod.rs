//! The only module that prints. The output policy (README, "Output"):
//! - stdout: results: what changed, the commit, tables, diffs, `--output json` (then nothing else);
//! - stderr: progress, status, warnings, hints and errors;
//! - `-q`: only errors, warnings and the data a command exists to show (diffs, tables, JSON);
//! - `-v`: details too (every file written, every row of a long list).
//!
//! Color only when the stream is a terminal and `NO_COLOR` is unset.

pub mod diff;
pub mod escape;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::UserError;

/// How much to say: set once, from `-q`/`-v` and `--output json`, before a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode {
    pub quiet: bool,
    pub verbose: bool,
    pub json: bool,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets how much every later print says.
pub fn configure(mode: Mode) {
    let bits = mode.quiet as u8 | (mode.verbose as u8) << 1 | (mode.json as u8) << 2;
    MODE.store(bits, Ordering::Relaxed);
}

/// The mode set by [`configure`].
pub fn mode() -> Mode {
    let bits = MODE.load(Ordering::Relaxed);
    Mode {
        quiet: bits & 1 != 0,
        verbose: bits & 2 != 0,
        json: bits & 4 != 0,
    }
}

/// `-v`: details are shown.
pub fn verbose() -> bool {
    mode().verbose
}

/// Whether stdout gets color.
pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Data for stdout, printed as is, whatever `-q` says: the diff, table or JSON a command exists to show.
pub fn data(s: &str) {
    progress_clear();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A result line (or lines) for stdout: what changed, the commit. Not with `-q`, and not with
/// `--output json` (the JSON document says it, and is all that stdout holds).
pub fn result(s: &str) {
    let m = mode();
    if m.quiet || m.json {
        return;
    }
    data(&format!("{}\n", crate::ui::escape::escape(s)));
}

/// A status line (or lines) for stderr, in one write. Not with `-q`.
pub fn status(s: &str) {
    if mode().quiet {
        return;
    }
    status_raw(&crate::ui::escape::escape(s));
}

/// [`status`] of text promote made itself (with its own color codes): not escaped.
fn status_raw(s: &str) {
    progress_clear();
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{s}\n").as_bytes());
}

/// A detail for stderr, only with `-v`.
pub fn detail(s: &str) {
    if verbose() && !mode().quiet {
        status(s);
    }
}

/// A `hint:` line for stderr: what to run next. Not with `-q` or `--output json` (read by a program).
pub fn hint(s: &str) {
    if mode().quiet || mode().json {
        return;
    }
    let label = paint("hint:", "36", color_stderr());
    status_raw(&format!("{label} {}", crate::ui::escape::escape(s)));
}

/// A warning line for stderr (also with `-q`: a warning is about safety).
pub fn warn(s: &str) {
    progress_clear();
    let label = paint("warning:", "33", color_stderr());
    let s = crate::ui::escape::escape(s);
    let _ = writeln!(std::io::stderr().lock(), "{label} {s}");
}

/// At most `n` lines of a long list, then `... and N more (-v lists them all)`; all of them with `-v`.
pub fn clip(lines: &[String], n: usize, indent: &str) -> String {
    let mut out = String::new();
    let keep = if verbose() || lines.len() <= n + 1 {
        lines.len()
    } else {
        n
    };
    for l in &lines[..keep] {
        out.push_str(l);
        out.push('\n');
    }
    if keep < lines.len() {
        out.push_str(&format!(
            "{indent}... and {} more (`-v` lists them all)\n",
            lines.len() - keep
        ));
    }
    out
}

/// Progress of work that can take more than a second, on one stderr line redrawn in place: only on
/// a terminal, not with `-q` or `--output json`, and only once the work has run for a quarter of a
/// second (fast runs show nothing). `PROMOTE_PROGRESS=1` draws it anyway (one line per step, for a
/// log), `0` never. Cleared before anything else is printed, and when dropped.
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    start: std::time::Instant,
    last: Option<std::time::Instant>,
    on: Option<Draw>,
}

#[derive(Clone, Copy, PartialEq)]
enum Draw {
    /// Redrawn in place on a terminal.
    Terminal,
    /// `PROMOTE_PROGRESS=1`: one line per step.
    Lines,
}

static DRAWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts a progress line for `total` steps of `label` (e.g. `rendering`).
pub fn progress(label: &str, total: usize) -> Progress {
    let m = mode();
    let on = match std::env::var("PROMOTE_PROGRESS").as_deref() {
        _ if m.quiet || m.json => None,
        Ok("0") => None,
        Ok("1") => Some(Draw::Lines),
        _ if std::io::stderr().is_terminal() => Some(Draw::Terminal),
        _ => None,
    };
    Progress {
        label: label.to_string(),
        total,
        done: 0,
        start: std::time::Instant::now(),
        last: None,
        on,
    }
}

impl Progress {
    /// One step done; `what` names the step about to start next (or just finished).
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        let Some(draw) = self.on else { return };
        let now = std::time::Instant::now();
        if draw == Draw::Terminal {
            let early = now.duration_since(self.start).as_millis() < 250;
            let recent = self
                .last
                .is_some_and(|l| now.duration_since(l).as_millis() < 80);
            if early || (recent && self.done < self.total) {
                return;
            }
        }
        self.last = Some(now);
        let line = format!("{} [{}/{}] {what}", self.label, self.done, self.total);
        let mut e = std::io::stderr().lock();
        match draw {
            Draw::Terminal => {
                // Clear the line, then draw without a newline; cut to fit a narrow terminal.
                let line: String = line.chars().take(100).collect();
                let _ = write!(e, "\r\x1b[2K{line}");
                DRAWN.store(true, Ordering::Relaxed);
            }
            Draw::Lines => {
                let _ = writeln!(e, "progress: {line}");
            }
        }
        let _ = e.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        progress_clear();
    }
}

/// Erases a progress line drawn in place, so that the next print starts on a clean line.
fn progress_clear() {
    if DRAWN.swap(false, Ordering::Relaxed) {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
}
/// Wraps `s` in an ANSI color when `on`.
pub fn paint(s: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Prints an error the way every command reports one, and returns its exit code.
pub fn report(err: &anyhow::Error) -> i32 {
    progress_clear();
    let color = color_stderr();
    let mut e = std::io::stderr().lock();
    let label = paint("error:", "31;1", color);
    if let Some(user) = err.downcast_ref::<UserError>() {
        // Messages carry user-supplied and recorded text: no control characters reach the terminal.
        let _ = writeln!(e, "{label} {}", crate::ui::escape::escape(&user.message));
        for h in &user.hints {
            let h = crate::ui::escape::escape(h);
            let _ = writeln!(e, "{} {h}", paint("hint:", "36", color));
        }
        return user.code;
    }
    let _ = writeln!(e, "{label} {}", crate::ui::escape::escape(&err.to_string()));
    for cause in err.chain().skip(1) {
        let cause = crate::ui::escape::escape(&cause.to_string());
        let _ = writeln!(e, "  caused by: {cause}");
    }
    crate::error::exit::FAILURE
}

/// `PROMOTE_TRACE=1`: where the time goes, one line per step on stderr (milliseconds since start).
pub fn trace(step: &str) {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    let start = START.get_or_init(|| {
        std::env::var_os("PROMOTE_TRACE")
            .is_some_and(|v| !v.is_empty() && v != "0")
            .then(Instant::now)
    });
    if let Some(t) = start {
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let _ = writeln!(std::io::stderr().lock(), "trace: {ms:8.1} ms  {step}");
    }
}
