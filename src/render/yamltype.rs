//! Values keep the type their author meant. A string value such as `yes`, `off`, `007`, `1e3`,
//! `0x1F`, `~` or `2026-01-01`, printed bare where it makes a whole YAML scalar, is read back by a
//! YAML 1.1 reader (Kubernetes' own) or a 1.2 reader as a bool, a number, null or a timestamp. Such a
//! string is printed in double quotes there; inside a larger scalar (`repo/api:{{ tag }}`, or a
//! template's own `"{{ tag }}"`) it is printed as it is, which is already a string.
//!
//! The formatter cannot see where it prints, so it wraps such a value in two private-use
//! characters, and [`resolve_quotes`] decides for each, from the line around it, once the
//! template has rendered.

const OPEN: char = '\u{e000}';
const CLOSE: char = '\u{e001}';

/// Would a YAML 1.1 or 1.2 reader take this plain scalar for something other than a string?
pub fn ambiguous(s: &str) -> bool {
    if s.is_empty() {
        return true; // `key: ` is null
    }
    const WORDS: &[&str] = &[
        // YAML 1.1 booleans (1.2's are the true/false subset).
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", // null
        "~", "null", "Null", "NULL", // the merge key and 1.1's value key
        "<<", "=",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    number(s) || timestamp(s)
}

/// Integers (decimal, `0x`, `0o`, `0b`, 1.1's leading-zero octal and `1:20` base 60, `_`
/// separators), floats (`1.5`, `.5`, `1e3`, `1_000.0`, `.inf`, `.nan`), with a sign.
fn number(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if matches!(t, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let all = |x: &str, ok: fn(u8) -> bool| !x.is_empty() && x.bytes().all(|b| ok(b) || b == b'_');
    if let Some(h) = t.strip_prefix("0x") {
        return all(h, |b| b.is_ascii_hexdigit());
    }
    if let Some(o) = t.strip_prefix("0o") {
        return all(o, |b| (b'0'..=b'7').contains(&b));
    }
    if let Some(b) = t.strip_prefix("0b") {
        return all(b, |b| b == b'0' || b == b'1');
    }
    // Base 60 (1.1): `1:20`, `190:20:30.15`.
    if t.contains(':') {
        let mut parts = t.split(':');
        let first = parts.next().unwrap_or("");
        return all(first, |b| b.is_ascii_digit())
            && parts.all(|p| {
                let (int, frac) = p.split_once('.').unwrap_or((p, ""));
                !int.is_empty()
                    && int.len() <= 2
                    && int.bytes().all(|b| b.is_ascii_digit())
                    && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
            });
    }
    // Decimal integers and floats: digits, at most one `.`, an optional exponent.
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let has_digit = mant.bytes().any(|b| b.is_ascii_digit());
    let mant_ok = has_digit && digits(int) && digits(frac) && !int.starts_with('_');
    match exp {
        None => mant_ok,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            mant_ok && !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// `2026-01-01`, `2026-1-1T10:00:00Z` and the like: a YAML 1.1 timestamp starts `YYYY-M-D`.
fn timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(3, '-');
    let month = parts.next().unwrap_or("");
    let day_rest = parts.next().unwrap_or("");
    let day: String = day_rest.chars().take_while(char::is_ascii_digit).collect();
    (1..=2).contains(&month.len())
        && month.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

/// The value wrapped for [`resolve_quotes`].
pub fn mark(s: &str) -> String {
    format!("{OPEN}{s}{CLOSE}")
}

/// Resolves every marked value of a rendered template: quoted where it is a whole scalar (after
/// `key: `, `- `, at the start of a line, or between flow indicators), as it is elsewhere.
pub fn resolve_quotes(text: String) -> String {
    if !text.contains(OPEN) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text.as_str();
    while let Some(i) = rest.find(OPEN) {
        let before = &rest[..i];
        let Some(len) = rest[i + OPEN.len_utf8()..].find(CLOSE) else {
            break;
        };
        let value = &rest[i + OPEN.len_utf8()..i + OPEN.len_utf8() + len];
        let after = &rest[i + OPEN.len_utf8() + len + CLOSE.len_utf8()..];
        out.push_str(before);
        let line_before = out.rsplit('\n').next().unwrap_or("");
        let line_after = after.split('\n').next().unwrap_or("");
        if whole_scalar(line_before, line_after) {
            out.push('"');
            out.push_str(value);
            out.push('"');
        } else {
            out.push_str(value);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn whole_scalar(before: &str, after: &str) -> bool {
    let b = before.trim_end();
    let starts = b.trim_start().is_empty()
        || ((b.ends_with(':') || b.ends_with('-') || b.ends_with('?')) && before.len() > b.len())
        || b.ends_with('[')
        || b.ends_with('{')
        || b.ends_with(',');
    let a = after.trim_start();
    let ends = a.is_empty()
        || (a.starts_with('#') && after.len() > a.len())
        || a.starts_with(',')
        || a.starts_with(']')
        || a.starts_with('}')
        || a == ":"
        || a.starts_with(": ");
    starts && ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_a_reader_would_retype() {
        for s in [
            "",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "~",
            "null",
            "true",
            "007",
            "1e3",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "+12",
            "-3.5",
            ".5",
            "1.",
            "6.02e+23",
            ".inf",
            "-.Inf",
            ".nan",
            "1:20",
            "190:20:30.15",
            "2026-01-01",
            "2026-1-1T10:00:00Z",
            "<<",
            "1234567",
            "1e34567",
        ] {
            assert!(ambiguous(s), "{s:?}");
        }
        for s in [
            "3f9c2a1",
            "a252dcc",
            "v1.2.3",
            "1.2.3",
            "api",
            "yes-please",
            "0x",
            "1e",
            "e3",
            "12:345",
            "abc:1",
            "2026-01",
            "info",
            "debug",
            "1-2-3",
            "_1",
        ] {
            assert!(!ambiguous(s), "{s:?}");
        }
    }

    #[test]
    fn quoted_only_where_a_whole_scalar() {
        let m = |s: &str| mark(s);
        let text = format!(
            "a: {}\nb: \"{}\"\nimage: r/api:{}\n- {}\nc: [{}, {}]\nd: {} # note\n{}: x\n",
            m("yes"),
            m("1234567"),
            m("1234567"),
            m("off"),
            m("on"),
            m("007"),
            m("1e3"),
            m("no")
        );
        assert_eq!(
            resolve_quotes(text),
            "a: \"yes\"\nb: \"1234567\"\nimage: r/api:1234567\n- \"off\"\nc: [\"on\", \"007\"]\nd: \"1e3\" # note\n\"no\": x\n"
        );
    }
}
