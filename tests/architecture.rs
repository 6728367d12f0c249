//! The architecture of `src/` (ARCHITECTURE.md), checked: this test reads the source and fails,
//! naming the file and line, where a rule is broken.
//!
//! Rules (test code, `#[cfg(test)]` items, is exempt from all of them; comments and string
//! contents never count):
//! - `cycle`: no cycle between the folders of `src/` (the top-level modules), nor between modules
//!   (files). A module's use of its own parent or child (`git/cli.rs` and `git/mod.rs`) is one
//!   unit, not a cycle.
//! - `git2`: the `git2` crate is named only under `src/git/`.
//! - `git-process`: `Command::new("git")` only under `src/git/`.
//! - `print`: `print!`, `println!`, `eprint!`, `eprintln!`, `stdout()`, `stderr()` only under
//!   `src/ui/` (main.rs too hands its output to ui/).
//! - `clap`: the `clap` crates (`clap`, `clap_complete`, `clap_mangen`) only under `src/cli/` and in
//!   `src/main.rs`.
//! - `long fn NAME`: no function longer than 100 lines (from its `fn` line to its closing brace)
//!   unless a `// long: <why>` comment is among the lines right above it (its doc comment and
//!   attributes included).
//!
//! Today's known breaks are listed in `KNOWN` below, one "path: rule" a line; the test also fails
//! when a listed break no longer occurs, so the list only ever shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Breaks that exist on purpose, until the work that removes them lands. One "path: rule" a line;
/// remove a line when its break is gone (the test says which).
const KNOWN: &str = "
# Functions over 100 lines, being split into named steps (#18): commands/ (cmds) ...
src/commands/check.rs: long fn run
src/commands/init.rs: long fn adopt
src/commands/init.rs: long fn explain
src/commands/init.rs: long fn scaffold
src/commands/migrate.rs: long fn convert
src/commands/pr/body.rs: long fn body
src/commands/pr/check_base.rs: long fn check_base
src/commands/pr/open.rs: long fn open
src/commands/preview/apply.rs: long fn report
src/commands/preview/up.rs: long fn plan_up
src/commands/render.rs: long fn run
src/commands/report.rs: long fn run
src/commands/status.rs: long fn run
# ... and two nobody has taken yet.
src/apply/journal.rs: long fn repair
src/cli/mod.rs: long fn into_request
";

/// The longest a function may be without a `// long: <why>` comment above it.
const LONG: usize = 100;

#[test]
fn the_source_follows_the_architecture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = source_files(&root.join("src"));
    assert!(files.len() > 20, "src/ holds the crate: {}", files.len());
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut graph = Graph::default();
    for file in &files {
        let text = std::fs::read_to_string(root.join(&file.path)).unwrap();
        let source = Source::new(&text);
        for (key, at) in file_rules(file, &source) {
            found.entry(key).or_default().push(at);
        }
        graph.add(file, &source, &files);
    }
    for (key, at) in graph.cycles() {
        found.entry(key).or_default().push(at);
    }
    let known: BTreeSet<&str> = KNOWN
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut problems = Vec::new();
    for (key, places) in &found {
        if !known.contains(key.as_str()) {
            problems.push(format!("{key}\n    {}", places.join("\n    ")));
        }
    }
    for key in &known {
        if !found.contains_key(*key) {
            problems.push(format!(
                "{key}\n    no longer occurs: remove it from KNOWN in tests/architecture.rs"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the source breaks the architecture (ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

/// A file of the crate: its path (`src/git/cli.rs`) and module path (`git::cli`; `` for lib.rs).
struct File {
    path: String,
    module: String,
}

fn source_files(src: &Path) -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    let base = src.parent().unwrap();
    let mut files: Vec<File> = paths
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(src)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            let stem = rel.trim_end_matches(".rs");
            let module = match stem {
                "lib" | "main" => String::new(),
                _ => stem.trim_end_matches("/mod").replace('/', "::"),
            };
            let path = p
                .strip_prefix(base)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            File { path, module }
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The rules that look at one file: the key of each break ("path: rule") and where it is.
fn file_rules(file: &File, source: &Source) -> Vec<(String, String)> {
    let path = file.path.as_str();
    let under = |folder: &str| path.starts_with(&format!("src/{folder}/"));
    let main = path == "src/main.rs";
    let mut out = Vec::new();
    let mut hit = |rule: &str, offset: usize| {
        let line = source.line_of(offset);
        out.push((
            format!("{path}: {rule}"),
            format!("{path}:{line}: {}", source.lines[line - 1].trim()),
        ));
    };
    let tokens = source.tokens();
    for (i, &(start, ref word)) in tokens.iter().enumerate() {
        let next = source.code[start + word.len()..].trim_start();
        let before = source.code[..start].trim_end();
        match word.as_str() {
            "git2" if !under("git") => hit("git2", start),
            "print" | "println" | "eprint" | "eprintln"
                if !under("ui") && next.starts_with('!') =>
            {
                hit("print", start)
            }
            "stdout" | "stderr"
                if !under("ui")
                    && next.starts_with('(')
                    && !before.ends_with('.')
                    && !before.ends_with("fn") =>
            {
                hit("print", start)
            }
            "clap" | "clap_complete" | "clap_mangen" if !under("cli") && !main => {
                hit("clap", start)
            }
            "Command" if !under("git") && next.starts_with("::") => {
                let call = tokens.get(i + 1).is_some_and(|(_, w)| w == "new");
                let args = source.strings[start..].trim_start_matches(|c: char| c != '(');
                let program = args[1..].trim_start();
                if call && program.starts_with("\"git\"") {
                    hit("git-process", start);
                }
            }
            _ => {}
        }
    }
    for (name, start, lines) in source.functions() {
        let line = source.line_of(start);
        if lines > LONG && !source.excused(line) {
            out.push((
                format!("{path}: long fn {name}"),
                format!(
                    "{path}:{line}: `{name}` is {lines} lines: split it into steps, or say why \
                     in a `// long: <why>` line above it"
                ),
            ));
        }
    }
    out
}

/// A source file, three ways: its lines as written; `strings`, with comments and test items
/// blanked; and `code`, with string and character contents blanked too. Blanking keeps every byte
/// offset and line.
struct Source {
    lines: Vec<String>,
    strings: String,
    code: String,
}

impl Source {
    fn new(text: &str) -> Source {
        let (strings, code) = blank(text);
        let (mut strings, mut code) = (strings.into_bytes(), code.into_bytes());
        for (from, to) in test_items(&code) {
            for b in from..to {
                if code[b] != b'\n' {
                    code[b] = b' ';
                    strings[b] = b' ';
                }
            }
        }
        Source {
            lines: text.lines().map(String::from).collect(),
            strings: String::from_utf8(strings).unwrap(),
            code: String::from_utf8(code).unwrap(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.code[..offset].bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// Identifiers (and keywords) of the code, with their offsets.
    fn tokens(&self) -> Vec<(usize, String)> {
        let bytes = self.code.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if is_ident_start(bytes[i]) {
                let start = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                out.push((start, self.code[start..i].to_string()));
            } else if bytes[i].is_ascii_digit() {
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// Each function with a body: its name, the offset of its `fn`, and its length in lines.
    fn functions(&self) -> Vec<(String, usize, usize)> {
        let tokens = self.tokens();
        let bytes = self.code.as_bytes();
        let mut out = Vec::new();
        for pair in tokens.windows(2) {
            let ((start, kw), (name_at, name)) = (&pair[0], &pair[1]);
            let between = &self.code[start + 2..*name_at];
            if kw != "fn" || !between.trim().is_empty() {
                continue; // `fn(u8) -> u8`, a function pointer type
            }
            // The body is the first `{` outside parentheses, brackets and angle brackets.
            let mut depth = 0i32;
            let mut i = name_at + name.len();
            let open = loop {
                match bytes.get(i) {
                    None | Some(b';') if depth == 0 => break None,
                    None => break None,
                    Some(b'(' | b'[' | b'<') => depth += 1,
                    Some(b')' | b']') => depth -= 1,
                    Some(b'>') if bytes[i - 1] != b'-' && bytes[i - 1] != b'=' => depth -= 1,
                    Some(b'{') if depth == 0 => break Some(i),
                    _ => {}
                }
                i += 1;
            };
            let Some(open) = open else { continue };
            let close = matching(bytes, open);
            let lines = self.line_of(close) - self.line_of(*start) + 1;
            out.push((name.clone(), *start, lines));
        }
        out
    }

    /// Whether a `// long: <why>` line is among the comments and attributes right above `line`.
    fn excused(&self, line: usize) -> bool {
        let mut l = line - 1;
        while l > 0 {
            let text = self.lines[l - 1].trim();
            if text.starts_with("// long:") {
                return true;
            }
            let above = text.starts_with("//") || text.starts_with("#[") || text.ends_with(")]");
            if !above {
                return false;
            }
            l -= 1;
        }
        false
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The offset of the `}` that closes the `{` at `open` (or the end).
fn matching(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    bytes.len() - 1
}

/// The byte ranges of the items under `#[cfg(test)]` or `#[cfg(all(test, ...))]` (in code with
/// comments and strings blanked).
fn test_items(code: &[u8]) -> Vec<(usize, usize)> {
    let marker = b"#[cfg(";
    let mut out = Vec::new();
    let mut i = 0;
    while i + marker.len() <= code.len() {
        if &code[i..i + marker.len()] != marker {
            i += 1;
            continue;
        }
        let close = (i..code.len())
            .find(|&j| code[j] == b']')
            .unwrap_or(code.len());
        let condition = String::from_utf8_lossy(&code[i + marker.len()..close]);
        let words: Vec<&str> = condition
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .collect();
        if !words.contains(&"test") || words.contains(&"not") {
            i = close;
            continue;
        }
        let mut j = close;
        while j < code.len() && code[j] != b'{' && code[j] != b';' {
            j += 1;
        }
        let end = if j < code.len() && code[j] == b'{' {
            matching(code, j) + 1
        } else {
            (j + 1).min(code.len())
        };
        out.push((i, end));
        i = end;
    }
    out
}

/// The text with comments blanked, and with comments, string and character contents blanked
/// (their quotes kept). Every byte that is blanked becomes a space, except newlines.
fn blank(text: &str) -> (String, String) {
    let b = text.as_bytes();
    let mut strings = b.to_vec();
    let mut code = b.to_vec();
    let blank_in = |buf: &mut Vec<u8>, from: usize, to: usize| {
        for x in &mut buf[from..to] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && is_ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank_in(&mut strings, i, end);
            blank_in(&mut code, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank_in(&mut strings, i, j);
            blank_in(&mut code, i, j);
            i = j;
        } else if !prev_ident && raw_string_at(b, i).is_some() {
            let (open, hashes) = raw_string_at(b, i).unwrap();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = (open + 1..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .unwrap_or(b.len());
            blank_in(&mut code, open + 1, end);
            i = (end + close.len()).min(b.len());
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank_in(&mut code, i + 1, j.min(b.len()));
            i = j + 1;
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '\u{1F600}', 'é'), or else a lifetime or label.
            let len = text[i + 1..].chars().next().map_or(0, char::len_utf8);
            let end = if b.get(i + 1) == Some(&b'\\') {
                (i + 3..b.len()).find(|&j| b[j] == b'\'')
            } else if b.get(i + 1 + len) == Some(&b'\'') {
                Some(i + 1 + len)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank_in(&mut code, i + 1, end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    (
        String::from_utf8(strings).unwrap(),
        String::from_utf8(code).unwrap(),
    )
}

/// At a raw string (`r"`, `r#"`, `br"`, `cr#"`): the offset of its opening quote and its `#`s.
fn raw_string_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b.get(j).is_some_and(|&c| c == b'b' || c == b'c') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    (b.get(j + hashes) == Some(&b'"')).then_some((j + hashes, hashes))
}

/// Which module uses which, and where first.
#[derive(Default)]
struct Graph {
    edges: BTreeMap<(String, String), String>,
}

impl Graph {
    /// The modules `file` names through paths (`crate::a::b`, `super::x`, a child `x::`), at the
    /// deepest module each path reaches. main.rs is the binary, outside the library's graph.
    fn add(&mut self, file: &File, source: &Source, files: &[File]) {
        if file.path == "src/main.rs" {
            return;
        }
        let known: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
        let here: Vec<&str> = file.module.split("::").filter(|s| !s.is_empty()).collect();
        for (offset, path) in paths(&source.code) {
            let mut segments: Vec<&str> = Vec::new();
            let mut rest = path.iter().map(String::as_str).peekable();
            match rest.peek().copied() {
                Some("crate") => {
                    rest.next();
                }
                Some("self") => {
                    rest.next();
                    segments.extend(&here);
                }
                Some("super") => {
                    segments.extend(&here);
                    while rest.peek() == Some(&"super") {
                        rest.next();
                        segments.pop();
                    }
                }
                Some(first) => {
                    let child = [here.as_slice(), &[first]].concat().join("::");
                    if !known.contains(child.as_str()) {
                        continue;
                    }
                    segments.extend(&here);
                }
                None => continue,
            }
            segments.extend(rest);
            let target = (0..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| known.contains(m.as_str()))
                .unwrap_or_default();
            if target != file.module {
                let line = source.line_of(offset);
                self.edges
                    .entry((file.module.clone(), target))
                    .or_insert_with(|| format!("{}:{line}", file.path));
            }
        }
    }

    /// Each cycle (strongly connected component), between folders and between modules: its key
    /// ("a <-> b: cycle") and the uses that make it.
    fn cycles(&self) -> Vec<(String, String)> {
        let folder = |m: &str| m.split("::").next().unwrap_or("").to_string();
        let nested = |a: &str, b: &str| {
            let inside = |x: &str, y: &str| y.is_empty() || x.starts_with(&format!("{y}::"));
            inside(a, b) || inside(b, a)
        };
        let mut folders: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut modules: BTreeMap<(String, String), String> = BTreeMap::new();
        for ((from, to), at) in &self.edges {
            let (f, t) = (folder(from), folder(to));
            if f != t {
                folders
                    .entry((name(&f), name(&t)))
                    .or_insert_with(|| at.clone());
            }
            if !nested(from, to) {
                modules.insert((name(from), name(to)), at.clone());
            }
        }
        let mut out = Vec::new();
        for edges in [folders, modules] {
            for component in components(&edges) {
                let members: BTreeSet<&String> = component.iter().collect();
                let uses: Vec<String> = edges
                    .iter()
                    .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                    .map(|((a, b), at)| format!("{at}: {a} uses {b}"))
                    .collect();
                let key = component.join(" <-> ");
                out.push((format!("{key}: cycle"), uses.join("\n    ")));
            }
        }
        out
    }
}

/// A module's name in messages: `crate` for the root.
fn name(module: &str) -> String {
    let name = if module.is_empty() { "crate" } else { module };
    name.to_string()
}

/// The strongly connected components of more than one node (Tarjan), each sorted.
fn components(edges: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, next: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in &next[v] {
            if !s.index.contains_key(w) {
                visit(w, next, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in next.keys() {
        if !state.index.contains_key(v) {
            visit(v, &next, &mut state);
        }
    }
    state.out.sort();
    state.out
}

/// Every path in the code (`a::b::c`, and each leaf of a `use a::{b, c::d}` tree), with its offset.
fn paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident_start(bytes[i]) || (i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':'))
        {
            i += 1;
            continue;
        }
        let (prefix, end) = path_at(code, i);
        if prefix.len() > 1 || code[end..].trim_start().starts_with("::{") {
            let brace = code[end..].trim_start().starts_with("::{");
            if brace {
                let open = end + code[end..].find('{').unwrap();
                let close = matching(bytes, open);
                for tail in use_tree(&code[open + 1..close]) {
                    out.push((i, [prefix.clone(), tail].concat()));
                }
                i = close + 1;
                continue;
            }
            out.push((i, prefix));
        }
        i = end.max(i + 1);
    }
    out
}

/// The path starting at `i` (`a :: b :: c`, stopping before `::{`), and where it ends.
fn path_at(code: &str, i: usize) -> (Vec<String>, usize) {
    let bytes = code.as_bytes();
    let mut segments = Vec::new();
    let mut j = i;
    loop {
        let start = j;
        while j < bytes.len() && is_ident(bytes[j]) {
            j += 1;
        }
        segments.push(code[start..j].to_string());
        let rest = &code[j..];
        let after = rest.trim_start();
        if !after.starts_with("::") {
            return (segments, j);
        }
        let next = after[2..].trim_start();
        if !next.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return (segments, j);
        }
        j = code.len() - next.len();
    }
}

/// The leaves of a `use` tree's braces: `b, c::{d, e}` gives `[b], [c, d], [c, e]`.
fn use_tree(inside: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let bytes = inside.as_bytes();
    let mut parts = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&inside[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inside[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() || !part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        let (prefix, end) = path_at(part, 0);
        let rest = part[end..].trim_start();
        if let Some(group) = rest.strip_prefix("::").map(str::trim_start) {
            if let Some(group) = group.strip_prefix('{') {
                let group = group.trim_end().trim_end_matches('}');
                for tail in use_tree(group) {
                    out.push([prefix.clone(), tail].concat());
                }
                continue;
            }
        }
        out.push(prefix);
    }
    out
}

// The checks themselves must be able to fail: each rule against a small source that breaks it.

fn check(path: &str, text: &str) -> Vec<String> {
    let module = path
        .trim_start_matches("src/")
        .trim_end_matches(".rs")
        .trim_end_matches("/mod")
        .replace('/', "::");
    let file = File {
        path: path.to_string(),
        module,
    };
    file_rules(&file, &Source::new(text))
        .into_iter()
        .map(|(key, at)| format!("{key} @ {}", at.split(": ").next().unwrap()))
        .collect()
}

#[test]
fn each_rule_finds_its_break_and_ignores_comments_strings_and_tests() {
    let text = r#"//! println!("in a doc comment") and git2::Repository
use std::process::Command;
fn a() {
    println!("x");
    let _ = std::io::stdout();
    let _ = git2::Repository::open(".");
    let _ = Command::new("git").arg("status");
    let _ = Command::new("sh").stdout(std::process::Stdio::null());
    let s = "eprintln!(\"in a string\") clap::Parser";
    let c = '"';
    let _ = clap::Command::new("promote");
}
#[cfg(test)]
mod tests {
    fn t() { println!("in a test"); let _ = git2::Oid::zero(); }
}
#[cfg(all(test, unix))]
fn u() { println!("in a test"); }
#[cfg(not(test))]
fn v() { println!("not in a test"); }
"#;
    assert_eq!(
        check("src/model/x.rs", text),
        [
            "src/model/x.rs: print @ src/model/x.rs:4",
            "src/model/x.rs: print @ src/model/x.rs:5",
            "src/model/x.rs: git2 @ src/model/x.rs:6",
            "src/model/x.rs: git-process @ src/model/x.rs:7",
            "src/model/x.rs: clap @ src/model/x.rs:11",
            "src/model/x.rs: print @ src/model/x.rs:20",
        ]
    );
    // The same lines are allowed where they belong.
    let allowed = |path| {
        check(path, text)
            .into_iter()
            .filter(|k| !k.contains("git"))
            .count()
    };
    assert_eq!(allowed("src/ui/mod.rs"), 1, "ui/ prints, but knows no clap");
    assert_eq!(
        check("src/main.rs", text).len(),
        5,
        "main.rs: knows clap, nothing else"
    );
    assert_eq!(
        check("src/git/x.rs", text).len(),
        4,
        "git/: no print, no clap"
    );
}

#[test]
fn a_long_function_needs_its_reason() {
    let body = |n: usize| "    let x = 1;\n".repeat(n);
    let text = format!(
        "fn short() {{\n{}}}\n\nfn long() {{\n{}}}\n\n/// Doc.\n// long: one table\n#[inline]\nfn excused() {{\n{}}}\n\
         type F = fn(u8) -> u8;\ntrait T {{ fn declared(&self); }}\n",
        body(98),
        body(99),
        body(120)
    );
    assert_eq!(
        check("src/model/x.rs", &text),
        ["src/model/x.rs: long fn long @ src/model/x.rs:102"]
    );
}

#[test]
fn cycles_are_found_between_folders_and_between_modules() {
    let files: Vec<File> = ["", "a", "a::x", "a::y", "b", "c"]
        .iter()
        .map(|m| File {
            path: format!("src/{}.rs", m.replace("::", "/")),
            module: m.to_string(),
        })
        .collect();
    let uses = [
        ("a::x", "use super::y;\nfn f() { crate::b::g(); }"),
        ("a::y", "use crate::a::{x::{self}, z};"),
        ("a", "pub mod x; pub mod y; fn f() { x::f(); }"),
        ("b", "use crate::{c, a::x as _};"),
        ("c", "// crate::a::f()\nfn f() { let _ = \"crate::a\"; }"),
    ];
    let mut graph = Graph::default();
    for (module, text) in uses {
        let file = files.iter().find(|f| f.module == module).unwrap();
        graph.add(file, &Source::new(text), &files);
    }
    let keys: Vec<String> = graph.cycles().into_iter().map(|(k, _)| k).collect();
    // A cycle is reported as its strongly connected component: every module on a loop with another.
    assert_eq!(keys, ["a <-> b: cycle", "a::x <-> a::y <-> b: cycle"]);
}
