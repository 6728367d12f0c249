//! Text from a record, a user or a repository made safe before it reaches a terminal.

/// Text from a record, a user or a repository, made safe for a terminal: every control character
/// but newline and tab is shown as an escape (`\u{1b}`), so an ESC or BEL in a message, a branch
/// name, a reason or an actor's name cannot move the cursor, retitle the window or ring the bell.
pub fn escape(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`escape`], on one line: newlines too.
pub fn escape_line(s: &str) -> String {
    escape(s).replace('\n', "\\n")
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Unicode's bidirectional overrides can reorder what a reader sees.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(escape("a\x1b[2Jb\x07"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(escape("\r\u{9b}"), "\\u{d}\\u{9b}");
        assert_eq!(escape_line("a\nb"), "a\\nb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }
}
