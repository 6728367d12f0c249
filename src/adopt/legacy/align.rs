//! Lining templates up with their rendered files.

use std::collections::{HashMap, HashSet};

use crate::render::Problem;

/// The ALL-CAPS tokens of a line (`COMMIT_SHA`, `NAMESPACE_PLACEHOLDER`, `__TAG__`), as byte ranges:
/// runs of `A-Z`, `0-9` and `_` of two characters or more, with a letter, not starting with a digit.
pub(super) fn tokens(line: &[u8]) -> Vec<(usize, usize)> {
    let in_token = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if !in_token(line[i]) {
            i += 1;
            continue;
        }
        let mut start = i;
        while i < line.len() && in_token(line[i]) {
            i += 1;
        }
        while start < i && line[start].is_ascii_digit() {
            start += 1;
        }
        if i - start >= 2 && line[start..i].iter().any(u8::is_ascii_uppercase) {
            out.push((start, i));
        }
    }
    out
}

/// Finds what each token of a template line stands for in the rendered line: the template's literal
/// text must match exactly, and each token is either itself or a value (on one line). Known values
/// of a token are tried first, then the token itself, then the shortest value that fits. Returns the
/// value's byte range in `out` per token, or None when the lines differ beyond the tokens.
struct Aligner<'a> {
    lits: Vec<&'a [u8]>,
    toks: Vec<&'a [u8]>,
    prefs: Vec<Option<&'a [u8]>>,
    out: &'a [u8],
    failed: HashSet<(usize, usize)>,
    chosen: Vec<(usize, usize)>,
    /// Steps left: a line with many tokens that does not match gives up instead of searching long.
    budget: usize,
}

impl Aligner<'_> {
    fn go(&mut self, i: usize, pos: usize) -> bool {
        let lit = self.lits[i];
        if !self.out[pos..].starts_with(lit) {
            return false;
        }
        let p = pos + lit.len();
        if i == self.toks.len() {
            return p == self.out.len();
        }
        if self.failed.contains(&(i, p)) || self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let rest = &self.out[p..];
        let mut tried: Vec<usize> = Vec::new();
        for cand in [self.prefs[i], Some(self.toks[i])].into_iter().flatten() {
            if rest.starts_with(cand) && !tried.contains(&cand.len()) {
                tried.push(cand.len());
                self.chosen[i] = (p, p + cand.len());
                if self.go(i + 1, p + cand.len()) {
                    return true;
                }
            }
        }
        let next = self.lits[i + 1];
        // A value never holds a line break (sed replaces within a line).
        let max = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        for n in 0..=max {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            if tried.contains(&n) || !rest[n..].starts_with(next) {
                continue;
            }
            self.chosen[i] = (p, p + n);
            if self.go(i + 1, p + n) {
                return true;
            }
        }
        self.failed.insert((i, p));
        false
    }
}

pub(super) fn align_line(
    tpl: &[u8],
    out: &[u8],
    toks: &[(usize, usize)],
    prefs: &HashMap<Vec<u8>, Vec<u8>>,
) -> Option<Vec<(usize, usize)>> {
    let mut lits = Vec::with_capacity(toks.len() + 1);
    let mut at = 0;
    for &(s, e) in toks {
        lits.push(&tpl[at..s]);
        at = e;
    }
    lits.push(&tpl[at..]);
    let toks_b: Vec<&[u8]> = toks.iter().map(|&(s, e)| &tpl[s..e]).collect();
    let mut a = Aligner {
        lits,
        prefs: toks_b
            .iter()
            .map(|t| prefs.get(*t).map(Vec::as_slice))
            .collect(),
        toks: toks_b,
        out,
        failed: HashSet::new(),
        chosen: vec![(0, 0); toks.len()],
        budget: 200_000,
    };
    a.go(0, 0).then_some(a.chosen)
}

/// One place where a token of a template stands in its rendered file.
#[derive(Debug, Clone)]
pub(super) struct Occurrence {
    pub(super) env: usize,
    /// The template's file name.
    pub(super) template: String,
    /// The rendered file (repository-relative).
    pub(super) output: String,
    pub(super) line: usize,
    pub(super) token: String,
    pub(super) value: Vec<u8>,
    /// The image written right before the value (`<image>:`), as promote's renderer reads it.
    pub(super) image_before: Option<String>,
}

impl Occurrence {
    pub(super) fn at(&self) -> String {
        format!("`{}` (line {})", self.output, self.line)
    }
}

/// The service a file is named after (`api-deployment.yaml.tpl` -> `api`), the longest that fits.
pub fn file_service<'a>(
    file_name: &str,
    services: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    services
        .filter(|s| {
            file_name
                .strip_prefix(*s)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('.'))
        })
        .max_by_key(|s| s.len())
}

fn shown(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let s = s.trim_end_matches(['\n', '\r']);
    let trimmed = s.trim_start();
    if trimmed.chars().count() > 72 {
        format!("{}…", trimmed.chars().take(72).collect::<String>())
    } else {
        trimmed.to_string()
    }
}

pub(super) const HAND_EDIT_HINT: &str = "a hand edit? make the template say what the file should say (or undo the edit), render with the old script, commit, and run `promote init` again";

/// Lines one template up with its rendered file: the occurrences of its tokens, the first line where
/// the identity of a token that is left as it is (`first_identity`), or the problem that stops it.
#[allow(clippy::too_many_arguments)]
pub(super) fn align_file(
    env: usize,
    template: &str,
    tpl_path: &str,
    output: &str,
    tpl: &[u8],
    out: &[u8],
    prefs: &mut HashMap<Vec<u8>, Vec<u8>>,
    identity: &mut HashMap<(usize, String), (String, usize)>,
) -> std::result::Result<Vec<Occurrence>, Problem> {
    let tl: Vec<&[u8]> = tpl.split_inclusive(|&b| b == b'\n').collect();
    let ol: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    let mut occs = Vec::new();
    let mut same: Vec<(String, usize)> = Vec::new();
    for i in 0..tl.len().max(ol.len()) {
        let n = i + 1;
        let (t, o) = match (tl.get(i), ol.get(i)) {
            (Some(t), Some(o)) => (*t, *o),
            (Some(t), None) => {
                return Err(Problem::new(
                    output,
                    Some(n),
                    format!(
                    "ends before its template `{tpl_path}` does (the template goes on with `{}`)",
                    shown(t)
                ),
                )
                .hint(HAND_EDIT_HINT))
            }
            (None, Some(o)) => {
                return Err(Problem::new(
                    output,
                    Some(n),
                    format!(
                        "goes on after its template `{tpl_path}` ends (with `{}`)",
                        shown(o)
                    ),
                )
                .hint(HAND_EDIT_HINT))
            }
            (None, None) => break,
        };
        let toks = tokens(t);
        if t == o {
            for (s, e) in toks {
                same.push((String::from_utf8_lossy(&t[s..e]).to_string(), n));
            }
            continue;
        }
        let Some(ranges) = align_line(t, o, &toks, prefs) else {
            return Err(Problem::new(
                output,
                Some(n),
                format!(
                    "differs from its template `{tpl_path}` beyond placeholders: the template has `{}`, the file `{}`",
                    shown(t),
                    shown(o)
                ),
            )
            .hint(HAND_EDIT_HINT));
        };
        for (&(s, e), &(vs, ve)) in toks.iter().zip(&ranges) {
            let token = &t[s..e];
            let value = &o[vs..ve];
            let name = String::from_utf8_lossy(token).to_string();
            if token == value {
                same.push((name, n));
                continue;
            }
            prefs.insert(token.to_vec(), value.to_vec());
            occs.push(Occurrence {
                env,
                template: template.to_string(),
                output: output.to_string(),
                line: n,
                token: name,
                value: value.to_vec(),
                image_before: crate::render::image_before(&o[..vs]).map(str::to_string),
            });
        }
    }
    for (token, line) in same {
        identity
            .entry((env, token))
            .or_insert_with(|| (output.to_string(), line));
    }
    Ok(occs)
}
