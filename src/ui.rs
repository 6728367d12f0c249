//! The only module that prints. Status and errors go to stderr; data (diffs, tables, JSON) to stdout.
//! Color only when the stream is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};

use crate::error::UserError;

/// Whether stdout gets color.
pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Data for stdout, printed as is.
pub fn data(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A status line (or lines) for stderr, in one write.
pub fn status(s: &str) {
    let s = crate::trust::escape(s);
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{s}\n").as_bytes());
}

/// A warning line for stderr.
pub fn warn(s: &str) {
    let label = paint("warning:", "33", color_stderr());
    let s = crate::trust::escape(s);
    let _ = writeln!(std::io::stderr().lock(), "{label} {s}");
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
    let color = color_stderr();
    let mut e = std::io::stderr().lock();
    let label = paint("error:", "31;1", color);
    if let Some(user) = err.downcast_ref::<UserError>() {
        // Messages carry user-supplied and recorded text: no control characters reach the terminal.
        let _ = writeln!(e, "{label} {}", crate::trust::escape(&user.message));
        for h in &user.hints {
            let h = crate::trust::escape(h);
            let _ = writeln!(e, "{} {h}", paint("hint:", "36", color));
        }
        return user.code;
    }
    let _ = writeln!(e, "{label} {}", crate::trust::escape(&err.to_string()));
    for cause in err.chain().skip(1) {
        let cause = crate::trust::escape(&cause.to_string());
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
