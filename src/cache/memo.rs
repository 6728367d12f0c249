//! Which templates a promotion need not render: those that do not use versions.
//!
//! A promotion changes nothing but versions. A legacy (`*.tpl`) template without a version
//! placeholder renders to the same bytes whatever the versions, so its manifest cannot change;
//! what a promotion must still know is that the manifest is what the template renders (no drift).
//! Once promote has rendered such a template, it knows the blob id of the output from the blob id
//! of the template (and the rest of what a render depends on: promote itself and `promote.yaml`,
//! the memo's key). `<git dir>/promote/render-memo/<env>` keeps those pairs: a pure function's
//! results, true whatever the files hold now.
//!
//! After a dirty check found the environment's directories clean, git's index tells each file's
//! blob id without reading it. A template whose id is in the memo and whose manifest's id is the
//! memo's output is settled: neither is read, nothing is rendered. Every other template is read
//! and rendered as before. A memo that is missing, unreadable or for another key only means that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::git::ObjectId as Oid;

use crate::model::config::Environment;
use crate::render::{legacy_output, OutFile};

const HEADER: &str = "promote render-memo 1";

/// One environment's memo: template path -> (template blob, output blob).
pub struct Memo {
    path: PathBuf,
    key: String,
    loaded: BTreeMap<String, (Oid, Oid)>,
    /// What this run settled or learned: what the memo is worth keeping.
    kept: BTreeMap<String, (Oid, Oid)>,
}

impl Memo {
    /// `env`'s memo, if it was written with `key` (otherwise an empty one).
    pub fn load(git_dir: &Path, env: &Environment, key: String) -> Memo {
        let path = git_dir.join("promote").join("render-memo").join(&env.name);
        let loaded = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| parse(&t, &key))
            .unwrap_or_default();
        Memo {
            path,
            key,
            loaded,
            kept: BTreeMap::new(),
        }
    }

    /// The templates of `env` that need no render: the index (sorted by path, as git keeps it)
    /// holds the memo's blob for the template and the memo's output blob for its manifest. Only
    /// meaningful when the index is known to match the work tree (a clean dirty check).
    pub fn settled(
        &mut self,
        env: &Environment,
        index: &crate::git::Index,
    ) -> std::collections::HashSet<String> {
        let blob = |path: &str| index.blob(path);
        let mut settled = std::collections::HashSet::new();
        for (template, &(t, m)) in &self.loaded {
            let Some(name) = template
                .strip_prefix(env.dir.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .filter(|n| !n.contains('/'))
            else {
                continue;
            };
            if blob(template) == Some(t) && blob(&legacy_output(env, name)) == Some(m) {
                settled.insert(template.clone());
                self.kept.insert(template.clone(), (t, m));
            }
        }
        settled
    }

    /// Learns from a render that asked to (`render_legacy_except` with `learn`).
    pub fn learn(&mut self, files: &[OutFile]) {
        for f in files {
            if f.template.contains(['\t', '\n', '\r']) {
                continue;
            }
            if let Some(t) = f.version_free {
                self.kept
                    .insert(f.template.clone(), (t, crate::git::blob_id(&f.bytes)));
            }
        }
    }

    /// Writes what was settled and learned, if that differs from what was loaded (temporary file
    /// and rename). A memo that cannot be written is only a lost shortcut: errors are ignored.
    pub fn save(&self) {
        if self.kept == self.loaded {
            return;
        }
        let mut out = format!("{HEADER}\n{}\n", self.key);
        for (template, (t, m)) in &self.kept {
            out.push_str(&format!("{template}\t{t}\t{m}\n"));
        }
        super::save(&self.path, out);
    }
}

fn parse(text: &str, key: &str) -> Option<BTreeMap<String, (Oid, Oid)>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER || lines.next()? != key {
        return None;
    }
    lines
        .map(|line| {
            let mut f = line.split('\t');
            let (path, t, m) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() {
                return None;
            }
            Some((path.to_string(), (Oid::from_hex(t)?, Oid::from_hex(m)?)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_is_read_back_only_with_its_key() {
        let t = Oid::from_hex("1111111111111111111111111111111111111111").unwrap();
        let m = Oid::from_hex("2222222222222222222222222222222222222222").unwrap();
        let text = format!("{HEADER}\nk1\nstaging/a.yaml.tpl\t{t}\t{m}\n");
        let got = parse(&text, "k1").unwrap();
        assert_eq!(got.get("staging/a.yaml.tpl"), Some(&(t, m)));
        assert!(parse(&text, "k2").is_none(), "another key voids the memo");
        assert!(parse(&format!("{HEADER}\nk1\nbroken line\n"), "k1").is_none());
        assert!(parse("promote render-memo 0\nk1\n", "k1").is_none());
    }
}
