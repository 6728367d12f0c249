//! The fast path of manifest validation: is a YAML manifest certainly clean?
//!
//! `render::validate_manifest` builds a `serde_yaml::Value` of every document and then walks it
//! twice (string fields, images). For a promotion of 1,000 services that was two thirds of all the
//! instructions, and half of that was building and dropping the values. This walks the same
//! documents once, as the parser produces them, building nothing, and answers one question: would
//! `validate_manifest` report nothing? It only ever answers "yes" when every check passes; at the
//! first doubt -- any problem, a tag, a non-string or repeated key, a parse error -- it answers "no"
//! and the caller runs the full validation, which finds and words the problems. So the messages
//! stay those of the full validation, and a wrong "no" costs time, never a missed problem.

use std::hash::{Hash, Hasher};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::model::imageref::ImageRef;

/// `true` if `validate_manifest` would find no problem in the YAML `text` (for `.yaml` files; JSON
/// is not handled here).
pub fn clean(text: &str) -> bool {
    match block::documents(text) {
        Some(docs) => docs.iter().all(|doc| walk(ROOT, doc).is_ok()),
        None => clean_by_serde(text),
    }
}

const ROOT: Node = Node {
    kind: Kind::Root,
    strings: true,
};

/// The same walk driven by serde_yaml (libyaml), for the documents `block` does not read.
fn clean_by_serde(text: &str) -> bool {
    serde_yaml::Deserializer::from_str(text).all(|doc| ROOT.deserialize(doc).is_ok())
}

/// The walk over a document read by `block`.
fn walk(node: Node, tree: &block::Tree) -> Result<Found, Unclean> {
    use block::Tree;
    match tree {
        Tree::Str(s) => node.string(s),
        // Its text is not kept: only where the text does not matter.
        Tree::Block if !node.typed() => Ok(Found::default()),
        Tree::Block => Err(Unclean),
        Tree::Null => node.null(),
        Tree::Plain(s) => {
            if !node.typed() {
                return Ok(Found::default());
            }
            match block::resolve(s)? {
                block::Scalar::Str => node.string(s),
                block::Scalar::Null => node.null(),
                block::Scalar::Other => node.other_scalar(),
            }
        }
        Tree::Seq(items) => {
            let item = node.sequence()?;
            for i in items {
                walk(item, i)?;
            }
            Ok(Found::default())
        }
        Tree::Map(pairs) => {
            let mut entries = node.mapping()?;
            for (key, value) in pairs {
                let child = entries.key(key)?;
                let found = walk(child, value)?;
                entries.value(key, found);
            }
            entries.end()
        }
    }
}

/// A reader of the block-style YAML that templates produce, much faster than libyaml: nested
/// block mappings and sequences, plain, single-line quoted and block scalars, comments, empty
/// flow collections, `---` between documents. Everything else -- anchors, aliases, tags, flow
/// collections with content, multi-line plain or quoted scalars, escapes, tabs, non-ASCII text,
/// odd keys, anything unusual about indentation -- is `None`, and libyaml reads the file. So it
/// need not know all of YAML: only to never read a document differently from libyaml.
mod block {
    use super::Unclean;

    pub enum Tree<'a> {
        Map(Vec<(&'a str, Tree<'a>)>),
        Seq(Vec<Tree<'a>>),
        /// Certainly a string: quoted (without its quotes; only quotes without escapes are read).
        Str(&'a str),
        /// A block scalar (`|`, `>`): a string; its text is not kept.
        Block,
        /// A plain scalar: a string, a number, a boolean or null, as YAML resolves it.
        Plain(&'a str),
        Null,
    }

    pub enum Scalar {
        Str,
        Null,
        Other,
    }

    /// What a plain scalar is, as serde_yaml resolves it (YAML 1.2 core schema). Only a scalar
    /// starting with a digit, a sign or a dot can be a number; those few are resolved by
    /// serde_yaml itself.
    pub fn resolve(s: &str) -> Result<Scalar, Unclean> {
        match s {
            "" | "~" | "null" | "Null" | "NULL" => return Ok(Scalar::Null),
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Ok(Scalar::Other),
            _ => {}
        }
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return Ok(Scalar::Str);
        }
        match resolved(s) {
            Some(serde_yaml::Value::String(_)) => Ok(Scalar::Str),
            Some(serde_yaml::Value::Null) => Ok(Scalar::Null),
            Some(serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_)) => Ok(Scalar::Other),
            _ => Err(Unclean),
        }
    }

    /// The plain scalar `s` as serde_yaml reads it: as a mapping's value, where the block reader
    /// found it (on a line of its own, `...` would end the document).
    pub fn resolved(s: &str) -> Option<serde_yaml::Value> {
        let doc: serde_yaml::Mapping = serde_yaml::from_str(&format!("k: {s}")).ok()?;
        doc.get("k").cloned()
    }

    struct Line<'a> {
        indent: usize,
        /// After the indentation; empty for a blank line.
        text: &'a str,
    }

    impl Line<'_> {
        /// Blank, or only a comment.
        fn insignificant(&self) -> bool {
            self.text.is_empty() || self.text.starts_with('#')
        }

        fn is_item(&self) -> bool {
            self.text == "-" || self.text.starts_with("- ")
        }
    }

    /// The documents of `text`, or `None` if it is not in the subset.
    pub fn documents(text: &str) -> Option<Vec<Tree<'_>>> {
        if !text
            .bytes()
            .all(|b| b == b'\n' || (b' '..=b'~').contains(&b))
        {
            return None;
        }
        let mut docs = Vec::new();
        let mut lines = Vec::new();
        for raw in text.split('\n') {
            if raw == "---" {
                docs.push(document(&lines)?);
                lines.clear();
                continue;
            }
            if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
                return None;
            }
            let text = raw.trim_start_matches(' ');
            lines.push(Line {
                indent: raw.len() - text.len(),
                text: text.trim_end_matches(' '),
            });
        }
        docs.push(document(&lines)?);
        Some(docs)
    }

    fn document<'a>(lines: &[Line<'a>]) -> Option<Tree<'a>> {
        let mut r = Reader { lines, at: 0 };
        let Some(first) = r.peek() else {
            return Some(Tree::Null);
        };
        let tree = r.node(first.indent)?;
        // Nothing may follow the root node.
        r.peek().is_none().then_some(tree)
    }

    struct Reader<'l, 'a> {
        lines: &'l [Line<'a>],
        at: usize,
    }

    impl<'l, 'a> Reader<'l, 'a> {
        /// The next significant line, not consumed.
        fn peek(&mut self) -> Option<&'l Line<'a>> {
            while let Some(line) = self.lines.get(self.at) {
                if !line.insignificant() {
                    return Some(line);
                }
                self.at += 1;
            }
            None
        }

        /// A node whose first line is the next significant line, at `indent`.
        fn node(&mut self, indent: usize) -> Option<Tree<'a>> {
            let line = self.peek()?;
            if line.indent != indent {
                return None;
            }
            if line.is_item() {
                self.sequence(indent)
            } else if entry(line.text).is_some() {
                self.mapping(indent, None)
            } else {
                // A scalar on a line of its own.
                self.at += 1;
                let tree = inline(line.text)?;
                self.end_of_value(indent)?;
                Some(tree)
            }
        }

        /// A block mapping whose keys are at column `indent`; `first`: its first entry, already
        /// taken from a sequence item's line (`- key: value`).
        fn mapping(&mut self, indent: usize, mut first: Option<&'a str>) -> Option<Tree<'a>> {
            let mut pairs: Vec<(&'a str, Tree<'a>)> = Vec::new();
            // A repeated key is left to libyaml. Past a few keys they are looked up in a set, so a
            // mapping of 66,000 keys is read in linear time.
            let mut keys: Option<std::collections::HashSet<&'a str>> = None;
            loop {
                let text = match first.take() {
                    Some(text) => text,
                    None => match self.peek() {
                        Some(line) if line.indent == indent && !line.is_item() => {
                            self.at += 1;
                            line.text
                        }
                        Some(line) if line.indent > indent => return None,
                        _ => break,
                    },
                };
                let (key, rest) = entry(text)?;
                let repeated = match &mut keys {
                    Some(set) => !set.insert(key),
                    None => {
                        let seen = pairs.iter().any(|(k, _)| *k == key);
                        if pairs.len() >= 32 {
                            let mut set: std::collections::HashSet<&'a str> =
                                pairs.iter().map(|(k, _)| *k).collect();
                            set.insert(key);
                            keys = Some(set);
                        }
                        seen
                    }
                };
                if !matches!(resolve(key), Ok(Scalar::Str)) || repeated {
                    return None;
                }
                let value = self.value(rest, indent)?;
                pairs.push((key, value));
            }
            Some(Tree::Map(pairs))
        }

        /// A block sequence whose `-` are at column `indent`.
        fn sequence(&mut self, indent: usize) -> Option<Tree<'a>> {
            let mut items = Vec::new();
            while let Some(line) = self.peek() {
                if line.indent != indent || !line.is_item() {
                    if line.indent > indent {
                        return None;
                    }
                    break;
                }
                self.at += 1;
                let after = line.text.strip_prefix("- ")?;
                let content = after.trim_start_matches(' ');
                let column = indent + 2 + (after.len() - content.len());
                if content == "-" || content.starts_with("- ") || content.starts_with('#') {
                    return None;
                }
                if entry(content).is_some() {
                    items.push(self.mapping(column, Some(content))?);
                } else {
                    let tree = inline(content)?;
                    if matches!(tree, Tree::Null) {
                        return None;
                    }
                    self.end_of_value(indent)?;
                    items.push(tree);
                }
            }
            Some(Tree::Seq(items))
        }

        /// The value after `key:` (`rest`, possibly empty) of an entry at column `indent`.
        fn value(&mut self, rest: &'a str, indent: usize) -> Option<Tree<'a>> {
            if rest.is_empty() || rest.starts_with('#') {
                return match self.peek() {
                    Some(line) if line.indent > indent => self.node(line.indent),
                    // A sequence may sit at its key's column.
                    Some(line) if line.indent == indent && line.is_item() => self.sequence(indent),
                    _ => Some(Tree::Null),
                };
            }
            if rest.starts_with(['|', '>']) {
                let header = rest.split_once(" #").map_or(rest, |(h, _)| h).trim_end();
                if !matches!(header, "|" | "|-" | "|+" | ">" | ">-" | ">+") {
                    return None;
                }
                return self.block_scalar(indent);
            }
            let tree = inline(rest)?;
            self.end_of_value(indent)?;
            Some(tree)
        }

        /// The lines of a block scalar (`|`, `>`) under an entry at column `indent`.
        fn block_scalar(&mut self, indent: usize) -> Option<Tree<'a>> {
            let mut content: Option<usize> = None;
            while let Some(line) = self.lines.get(self.at) {
                if line.text.is_empty() {
                    // All spaces: only as long as the content's indentation (libyaml refuses
                    // more before the first line, and keeps more as text after it).
                    if line.indent > content.unwrap_or(0) {
                        return None;
                    }
                    self.at += 1;
                    continue;
                }
                if line.indent <= indent {
                    break;
                }
                match content {
                    None => content = Some(line.indent),
                    Some(c) if line.indent < c => return None,
                    Some(_) => {}
                }
                self.at += 1;
            }
            Some(Tree::Block)
        }

        /// After a value on its entry's line: the next line must not be more indented (that
        /// would continue a multi-line scalar).
        fn end_of_value(&mut self, indent: usize) -> Option<()> {
            match self.peek() {
                Some(line) if line.indent > indent => None,
                _ => Some(()),
            }
        }
    }

    /// `key: rest` or `key:`: the key and what follows the colon (without leading spaces).
    fn entry(text: &str) -> Option<(&str, &str)> {
        let end = text.find(':')?;
        let key = &text[..end];
        let rest = &text[end + 1..];
        let plain_key = key
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/')
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
        if !plain_key || !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        Some((key, rest.trim_start_matches(' ')))
    }

    /// A scalar or empty collection written on one line (not empty: that is the caller's).
    fn inline(text: &str) -> Option<Tree<'_>> {
        // What may follow a value: nothing, or a comment.
        let after_ok = |after: &str| {
            let after = after.trim_start_matches(' ');
            after.is_empty() || after.starts_with('#')
        };
        if let Some(rest) = text.strip_prefix('"') {
            let end = rest.find('"')?;
            let (body, after) = (&rest[..end], &rest[end + 1..]);
            return (!body.contains('\\')
                && (after.is_empty() || after.starts_with(' ') && after_ok(after)))
            .then_some(Tree::Str(body));
        }
        if let Some(rest) = text.strip_prefix('\'') {
            let end = rest.find('\'')?;
            let (body, after) = (&rest[..end], &rest[end + 1..]);
            return (!after.starts_with('\'')
                && (after.is_empty() || after.starts_with(' ') && after_ok(after)))
            .then_some(Tree::Str(body));
        }
        for (empty, tree) in [("[]", Tree::Seq(Vec::new())), ("{}", Tree::Map(Vec::new()))] {
            if let Some(after) = text.strip_prefix(empty) {
                return (after.is_empty() || after.starts_with(' ') && after_ok(after))
                    .then_some(tree);
            }
        }
        // A plain scalar: not starting with an indicator, up to a comment.
        let plain = text
            .split_once(" #")
            .map_or(text, |(p, _)| p)
            .trim_end_matches(' ');
        let first = *plain.as_bytes().first()?;
        if b"[]{},#&*!|>'\"%@`?:".contains(&first)
            || plain == "-"
            || plain.starts_with("- ")
            || plain.starts_with("---")
            || plain.contains(": ")
            || plain.ends_with(':')
        {
            return None;
        }
        Some(Tree::Plain(plain))
    }
}

/// What a node is expected to be, from where it is (the key it is under). Mirrors
/// `check_object`, `check_string_fields` and `collect_images` in render.rs.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// A document: a mapping with `apiVersion`, `kind` and `metadata.name` (or `generateName`),
    /// or an empty document.
    Root,
    /// `metadata` of a document.
    Metadata,
    /// Must be a string: `apiVersion`, `kind`, names, label and annotation values, env values.
    Str,
    /// The value of `labels` / `annotations`: a mapping's values must be strings.
    Labels,
    /// The value of `env`: a sequence of items whose `value` must be a string.
    Env,
    EnvItem,
    /// The value of `containers`, `initContainers`, `ephemeralContainers`.
    Containers,
    /// An item of those: its `image`, if a string, must be a valid image reference.
    Container,
    Image,
    /// Anything else: walked for the checks that apply anywhere below.
    Any,
}

/// What a node turned out to be, for its parent's checks.
#[derive(Default)]
struct Found {
    string: bool,
    /// A string naming a kind without `metadata.name` (Kustomize's own files).
    nameless_kind: bool,
    /// A `metadata` mapping with a string `name` or `generateName`.
    named: bool,
}

/// A node and how to check it. `strings`: whether label, annotation and env values are checked
/// below (the full validation does not look inside env items or label values for those).
#[derive(Clone, Copy)]
struct Node {
    kind: Kind,
    strings: bool,
}

/// "Not certainly clean": the full validation decides.
#[derive(Debug)]
struct Unclean;

fn unclean<E: de::Error>(_: Unclean) -> E {
    E::custom("not certainly clean")
}

/// The checks, whatever parsed the document: each kind of node as it arrives.
impl Node {
    fn string(self, v: &str) -> Result<Found, Unclean> {
        match self.kind {
            Kind::Root | Kind::Metadata => Err(Unclean),
            Kind::Image if ImageRef::parse(v).is_err() => Err(Unclean),
            _ => Ok(Found {
                string: true,
                nameless_kind: matches!(v, "Kustomization" | "Component"),
                named: false,
            }),
        }
    }

    fn null(self) -> Result<Found, Unclean> {
        match self.kind {
            // An empty document (`---` at the end).
            Kind::Root => Ok(Found::default()),
            _ => self.other_scalar(),
        }
    }

    /// A scalar that is not a string (number, boolean).
    fn other_scalar(self) -> Result<Found, Unclean> {
        match self.kind {
            Kind::Str | Kind::Metadata | Kind::Root => Err(Unclean),
            _ => Ok(Found::default()),
        }
    }

    /// Does the type of a scalar here matter (is it checked to be a string, or as an image)?
    fn typed(self) -> bool {
        matches!(
            self.kind,
            Kind::Str | Kind::Image | Kind::Root | Kind::Metadata
        )
    }

    /// A sequence starts here: the node for its items.
    fn sequence(self) -> Result<Node, Unclean> {
        match self.kind {
            Kind::Root | Kind::Metadata | Kind::Str => Err(Unclean),
            _ => Ok(self.item()),
        }
    }

    /// A mapping starts here.
    fn mapping(self) -> Result<Entries, Unclean> {
        match self.kind {
            Kind::Str => Err(Unclean),
            _ => Ok(Entries {
                parent: self,
                seen: Vec::new(),
                many: None,
                api_version: false,
                kind: false,
                nameless: false,
                metadata: None,
                named: false,
            }),
        }
    }

    /// The node for the value under `key` in a mapping of this node.
    fn child(self, key: &str) -> Node {
        let strings = self.strings && self.kind != Kind::EnvItem;
        let kind = match (self.kind, key) {
            (Kind::Root, "apiVersion" | "kind") => Kind::Str,
            (Kind::Root, "metadata") => Kind::Metadata,
            (Kind::Metadata, "name" | "generateName") => Kind::Str,
            (Kind::Labels, _) => Kind::Str,
            (Kind::EnvItem, "value") => Kind::Str,
            (Kind::Container, "image") => Kind::Image,
            (_, "labels" | "annotations") if strings => Kind::Labels,
            (_, "env") if strings => Kind::Env,
            (_, "containers" | "initContainers" | "ephemeralContainers") => Kind::Containers,
            _ => Kind::Any,
        };
        Node { kind, strings }
    }

    /// The node for the items of a sequence of this node.
    fn item(self) -> Node {
        match self.kind {
            Kind::Env => Node {
                kind: Kind::EnvItem,
                strings: false,
            },
            Kind::Containers => Node {
                kind: Kind::Container,
                ..self
            },
            // Not a sequence of items: walked like any other node.
            _ => Node {
                kind: Kind::Any,
                strings: self.strings && self.kind != Kind::EnvItem,
            },
        }
    }
}

/// The entries of one mapping, as they arrive.
struct Entries {
    parent: Node,
    /// Keys seen, by hash: a repeated key (or two keys with one hash) is left to the full
    /// validation, which reports duplicates. A short list while the mapping is small, a hash set
    /// once it is not: a ConfigMap of 66,000 keys is checked in linear time.
    seen: Vec<u64>,
    many: Option<std::collections::HashSet<u64>>,
    api_version: bool,
    kind: bool,
    nameless: bool,
    metadata: Option<Found>,
    named: bool,
}

impl Entries {
    /// The node for the value of `key`.
    fn key(&mut self, key: &str) -> Result<Node, Unclean> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let hash = h.finish();
        if let Some(many) = &mut self.many {
            if !many.insert(hash) {
                return Err(Unclean);
            }
        } else {
            if self.seen.contains(&hash) {
                return Err(Unclean);
            }
            self.seen.push(hash);
            if self.seen.len() > 32 {
                self.many = Some(self.seen.drain(..).collect());
            }
        }
        Ok(self.parent.child(key))
    }

    /// What the value of `key` turned out to be.
    fn value(&mut self, key: &str, found: Found) {
        match (self.parent.kind, key) {
            (Kind::Root, "apiVersion") => self.api_version = found.string,
            (Kind::Root, "kind") => {
                self.kind = found.string;
                self.nameless = found.nameless_kind;
            }
            (Kind::Root, "metadata") => self.metadata = Some(found),
            (Kind::Metadata, "name" | "generateName") => self.named |= found.string,
            _ => {}
        }
    }

    fn end(self) -> Result<Found, Unclean> {
        match self.parent.kind {
            Kind::Root => {
                let named = self.metadata.is_some_and(|m| m.named);
                if self.api_version && self.kind && (named || self.nameless) {
                    Ok(Found::default())
                } else {
                    Err(Unclean)
                }
            }
            _ => Ok(Found {
                named: self.named,
                ..Found::default()
            }),
        }
    }
}

// The walk driven by serde_yaml's parser.

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes manifest")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        self.string(v).map_err(unclean)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Found, E> {
        self.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Found, E> {
        self.visit_str(&v)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        self.other_scalar().map_err(unclean)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        self.other_scalar().map_err(unclean)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        self.other_scalar().map_err(unclean)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        self.other_scalar().map_err(unclean)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        self.null().map_err(unclean)
    }

    fn visit_none<E: de::Error>(self) -> Result<Found, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let item = self.sequence().map_err(unclean)?;
        while seq.next_element_seed(item)?.is_some() {}
        Ok(Found::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut entries = self.mapping().map_err(unclean)?;
        while let Some(key) = map.next_key_seed(Key)? {
            let child = entries.key(&key).map_err(unclean)?;
            let found = map.next_value_seed(child)?;
            entries.value(&key, found);
        }
        entries.end().map_err(unclean)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Found, A::Error> {
        // A tagged node (`!something`): left to the full validation.
        Err(unclean(Unclean))
    }
}

/// A mapping key: a string. Any other key is left to the full validation.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::validate_manifest;

    /// The full validation's verdict.
    fn full(text: &str) -> bool {
        let mut problems = Vec::new();
        validate_manifest("x.yaml", text.as_bytes(), &mut problems);
        problems.is_empty()
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    app: api
    version: \"1234567\"
  annotations:
    note: hello
spec:
  template:
    metadata:
      labels:
        app: api
    spec:
      initContainers:
        - name: init
          image: reg.io/acme/init:1.0
      containers:
        - name: api
          image: reg.io/acme/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
          env:
            - name: A
              value: \"1\"
            - name: B
              valueFrom:
                secretKeyRef:
                  name: s
                  key: k
          ports:
            - containerPort: 8080
";

    /// Documents and what the full validation says of them; the fast path must never say clean
    /// where the full validation finds a problem, and should say clean where it finds none.
    fn cases() -> Vec<(String, &'static str)> {
        let d = DEPLOYMENT;
        let swap = |from: &str, to: &str| {
            assert!(d.contains(from), "{from}");
            d.replacen(from, to, 1)
        };
        vec![
            (d.to_string(), "a clean deployment"),
            (format!("---\n{d}---\n"), "with separators and an empty last document"),
            (format!("{d}---\n{d}"), "two documents"),
            (String::new(), "an empty file"),
            ("# only a comment\n".into(), "a comment"),
            (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n".into(),
                "a kustomization without a name",
            ),
            (swap("  name: api\n", "  generateName: api-\n"), "generateName"),
            (swap("version: \"1234567\"", "version: 1234567"), "a numeric label"),
            (swap("note: hello", "note: true"), "a boolean annotation"),
            (swap("note: hello", "note:"), "an empty annotation"),
            (swap("value: \"1\"", "value: 1"), "a numeric env value"),
            (swap("value: \"1\"", "value: {a: b}"), "a mapping env value"),
            (swap("image: reg.io/acme/init:1.0", "image: reg.io/acme/init:"), "a bad init image"),
            (swap("image: reg.io/acme/init:1.0", "image: 42"), "a numeric image (not checked)"),
            (swap("apiVersion: apps/v1\n", ""), "no apiVersion"),
            (swap("kind: Deployment\n", "kind: 3\n"), "a numeric kind"),
            (swap("  name: api\n", "  nam: api\n"), "no name"),
            (swap("  name: api\n", "  name: [api]\n"), "a sequence as the name"),
            (swap("  app: api\n", "  app: api\n  app: web\n"), "a repeated label"),
            (swap("kind: Deployment\n", "kind: Deployment\nkind: Service\n"), "a repeated key"),
            (swap("  labels:\n", "  labels: !custom\n"), "a tag"),
            (swap("note: hello", "note: !!str hello"), "a core tag"),
            (swap("note: hello", "note: !!int 3"), "a core int tag"),
            (swap("spec:\n", "1: one\nspec:\n"), "a numeric key"),
            (swap("key: k\n", "key: {a: b}\n"), "a flow mapping"),
            (swap("spec:\n", "? [a]\n: b\nspec:\n"), "a complex key"),
            (swap("  labels:\n", "  labels: &l\n"), "an anchor"),
            (
                format!("{d}extra:\n  labels: *l\n").replacen("  labels:\n", "  labels: &l\n", 1),
                "an alias",
            ),
            (
                format!("{d}extra:\n  labels: {{x: 1}}\n"),
                "a numeric label anywhere in the document",
            ),
            (
                format!("{d}extra:\n  env: [{{name: x, value: null}}]\n"),
                "a null env value anywhere",
            ),
            (
                format!("{d}extra:\n  env: [{{name: x, containers: [{{image: 'a b'}}]}}]\n"),
                "an image inside an env item",
            ),
            (
                format!("{d}extra:\n  env: [{{name: x, nested: {{labels: {{a: 1}}}}}}]\n"),
                "labels inside an env item are not checked",
            ),
            (
                format!("{d}extra:\n  labels: [1, 2]\n"),
                "labels that are not a mapping",
            ),
            (
                format!("{d}extra:\n  env: {{value: 1}}\n"),
                "env that is not a sequence",
            ),
            (
                format!("{d}extra:\n  containers: {{image: 'a b'}}\n"),
                "containers that are not a sequence",
            ),
            ("- a\n- b\n".into(), "a sequence document"),
            ("just text\n".into(), "a scalar document"),
            ("a: [\n".into(), "a syntax error"),
            ("a: b\n c: d\n".into(), "a bad indentation"),
            (format!("{d}\t\n"), "a tab"),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: '1', b: \"x\\ty\"}\n".into(),
                "flow mappings and escapes",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  script: |\n    echo hi\n    labels: 1\n".into(),
                "a block scalar",
            ),
            ("apiVersion: v1\nkind: List\nmetadata:\n  name: x\nitems: []\n".into(), "empty items"),
        ]
    }

    #[test]
    fn never_clean_where_the_full_validation_finds_a_problem() {
        let mut clean_count = 0;
        for (text, what) in cases() {
            let fast = clean(&text);
            let slow = full(&text);
            assert!(
                !fast || slow,
                "{what}: the fast path says clean, the full validation does not:\n{text}"
            );
            // Where the full validation finds nothing, the fast path should see it too (only
            // tags and odd keys are left to the full validation).
            if slow && !fast {
                assert!(
                    [
                        "a core tag",
                        "a tag",
                        "an anchor",
                        "an alias",
                        "a numeric key",
                        "a complex key"
                    ]
                    .contains(&what),
                    "{what}: clean, but the fast path did not see it"
                );
            }
            clean_count += usize::from(fast);
        }
        // The cases are not all rejected (a fast path that always says "no" would pass the rest).
        assert!(clean_count >= 8, "{clean_count}");
    }

    /// Does `tree` (the block reader's) say what serde_yaml's `value` says?
    fn same(tree: &block::Tree, value: &serde_yaml::Value) -> bool {
        use block::Tree;
        use serde_yaml::Value as Y;
        match (tree, value) {
            (Tree::Map(pairs), Y::Mapping(m)) => {
                pairs.len() == m.len()
                    && pairs
                        .iter()
                        .zip(m)
                        .all(|((k, v), (mk, mv))| mk.as_str() == Some(k) && same(v, mv))
            }
            (Tree::Seq(items), Y::Sequence(s)) => {
                items.len() == s.len() && items.iter().zip(s).all(|(i, v)| same(i, v))
            }
            (Tree::Str(a), Y::String(b)) => a == b,
            (Tree::Block, Y::String(_)) => true,
            (Tree::Plain(p), v) => block::resolved(p).as_ref() == Some(v),
            (Tree::Null, Y::Null) => true,
            _ => false,
        }
    }

    /// If the block reader reads `text`, libyaml reads the same documents.
    #[track_caller]
    fn reads_as_libyaml(text: &str) -> bool {
        let Some(docs) = block::documents(text) else {
            return false;
        };
        let ours: Vec<_> = docs
            .iter()
            .filter(|d| !same(d, &serde_yaml::Value::Null))
            .collect();
        let theirs: Result<Vec<serde_yaml::Value>, _> = serde_yaml::Deserializer::from_str(text)
            .map(serde::Deserialize::deserialize)
            .collect();
        let theirs = match theirs {
            Ok(v) => v.into_iter().filter(|v| !v.is_null()).collect::<Vec<_>>(),
            Err(e) => panic!("the block reader read what libyaml refuses ({e}):\n{text}"),
        };
        assert!(
            ours.len() == theirs.len() && ours.iter().zip(&theirs).all(|(t, v)| same(t, v)),
            "the block reader reads this differently from libyaml:\n{text}"
        );
        true
    }

    #[test]
    fn the_block_reader_reads_what_libyaml_reads() {
        let mut read = 0;
        for (text, _) in cases() {
            read += usize::from(reads_as_libyaml(&text));
            if block::documents(&text).is_some() {
                // And its verdict is the full validation's where it reads the file.
                let fast = block::documents(&text)
                    .unwrap()
                    .iter()
                    .all(|d| walk(ROOT, d).is_ok());
                assert!(!fast || full(&text), "{text}");
            }
        }
        assert!(read >= 15, "{read}");
        assert!(block::documents(DEPLOYMENT).is_some());
        assert!(block::documents(&cases()[5].0).is_none(), "a flow sequence");
        for text in [
            "a:\n- x\n- y\nb: 1\n",
            "a:\n  - k: v\n    l: |\n      text\n        more\n\n      # in the text\n    m: 'q'\n",
            "a: b # comment\n# own line\nc: \"d # not a comment\"\n",
            "a: x#y\nb: 25%\nc: http://h:80/p\nd: -1\ne: .5\nf: 0x1F\ng: 1e3\nh: 012\ni: yes\nj: ~\nk: null\n",
            "  a: 1\n  b: 2\n",
            "a:\nb:\n  c:\n",
            "a: >-\n  folded\n  text\nb: '' \n",
        ] {
            assert!(reads_as_libyaml(text), "{text}");
        }
    }

    /// Random edits of real manifests: wherever the block reader still reads one, libyaml reads
    /// the same thing.
    #[test]
    fn the_block_reader_under_random_edits() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut bases = example_manifests();
        bases.truncate(3);
        bases.extend([
            DEPLOYMENT.to_string(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: |\n    line\n     more\n  b: 'q'\n  c: \"d\"\n---\nk: []\nl: {}\n".to_string(),
        ]);
        let pieces = [
            " ", "  ", "--", "- --x", "---", "...", ":", ": ", "-", "- ", "#", " #", "'", "\"",
            "|", ">", "[", "]", "{", "}", "&a", "*a", "!t", "\n", "\n  ", "---\n", "1", "x", "?",
            ",", "%", "@", ".", "~", "\\",
        ];
        let (mut read, mut tries) = (0, 0);
        for base in &bases {
            for _ in 0..std::env::var("YAMLCHECK_EDITS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4000)
            {
                let mut text = base.clone();
                for _ in 0..1 + next(5) {
                    let at = next(text.len() + 1);
                    let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap();
                    match next(3) {
                        0 => {
                            let end = (at + 1 + next(4)).min(text.len());
                            text.replace_range(at..end, "");
                        }
                        _ => text.insert_str(at, pieces[next(pieces.len())]),
                    }
                }
                tries += 1;
                read += usize::from(reads_as_libyaml(&text));
                // And whatever it calls clean, the full validation finds clean.
                assert!(!clean(&text) || full(&text), "called clean:\n{text}");
            }
        }
        // Many edits leave something the block reader still reads (so this tested it); most
        // of the others put spaces into keys or break the YAML.
        assert!(read > tries / 16, "{read} of {tries}");
    }

    /// Keys of the generated documents: ordinary ones first, then awkward ones.
    const KEYS: &[&str] = &[
        "a",
        "b",
        "c",
        "name",
        "image",
        "value",
        "labels",
        "env",
        "containers",
        "metadata",
        "kind",
        "yes",
        "on",
        "1",
        "~",
        "a b",
        "'q'",
        "\"k\"",
        "x-y",
        "app.kubernetes.io/name",
    ];
    /// Values of the generated documents: ordinary ones first, then awkward ones.
    const SCALARS: &[&str] = &[
        "x",
        "api",
        "r.io/acme/api:1234567",
        "1234567",
        "3f9c2a1",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "~",
        "null",
        "",
        "1e3",
        "0x1F",
        "007",
        "-1",
        ".5",
        ".inf",
        "2026-11-23",
        "true",
        "'q'",
        "\"d\"",
        "\"\"",
        "''",
        "[]",
        "{}",
        "[a, b]",
        "{a: b}",
        "x # c",
        "x#y",
        "a: b",
        "- x",
        "&a x",
        "*a",
        "!t x",
        "|\n  block\n  text",
        ">-\n  folded",
        "'it''s'",
        "\"esc\\\"q\"",
        "http://h:80/p",
        "25%",
        "@x",
        "`x`",
        "%x",
        "? x",
        "-",
        ":",
    ];
    /// A generated block mapping or sequence at `indent`, nested `depth` levels at most.
    fn tree(next: &mut dyn FnMut(usize) -> usize, indent: usize, depth: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        let n = 1 + next(4);
        let seq = next(4) == 0;
        for _ in 0..n {
            if seq {
                out.push_str(&pad);
                out.push('-');
            } else {
                out.push_str(&pad);
                // Mostly ordinary keys and values, so that many documents are read.
                let k = if next(4) == 0 { KEYS.len() } else { 10 };
                out.push_str(KEYS[next(k)]);
                out.push(':');
            }
            if depth > 0 && next(3) == 0 {
                out.push('\n');
                tree(next, indent + 2, depth - 1, out);
            } else {
                let k = if next(3) == 0 { SCALARS.len() } else { 12 };
                let v = SCALARS[next(k)];
                if !v.is_empty() {
                    out.push(' ');
                }
                out.push_str(&v.replace('\n', &format!("\n{pad}")));
                out.push('\n');
            }
        }
    }

    /// Generated documents (a seeded generator: nested block mappings and sequences of keys and
    /// scalars chosen to be awkward -- repeated keys, `yes`, `1e3`, `0x1F`, `~`, quotes, block
    /// scalars, comments, flow collections, `: ` inside values): wherever the block reader reads
    /// one, libyaml reads the same structure, and whatever `clean` accepts, the full validation
    /// accepts. `YAMLCHECK_DOCS` runs more (CI runs the default, a second or two).
    #[test]
    fn generated_documents_differential() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let docs = std::env::var("YAMLCHECK_DOCS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000);
        let (mut read, mut clean_count) = (0, 0);
        for _ in 0..docs {
            let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
            if next(2) == 0 {
                text.push_str("  labels:\n");
                tree(&mut next, 4, 1, &mut text);
            }
            text.push_str(if next(2) == 0 { "data:\n" } else { "spec:\n" });
            tree(&mut next, 2, 3, &mut text);
            if next(8) == 0 {
                text.push_str("---\n");
                tree(&mut next, 0, 2, &mut text);
            }
            if block::documents(&text).is_some() {
                read += 1;
                reads_as_libyaml(&text);
            }
            if clean(&text) {
                clean_count += 1;
                assert!(
                    full(&text),
                    "called clean, but the full validation objects:\n{text}"
                );
            }
        }
        // The generator reaches both sides: documents the block reader reads, and clean ones.
        assert!(read > docs / 10, "{read} of {docs} read");
        assert!(clean_count > docs / 20, "{clean_count} of {docs} clean");
    }

    /// Repeated keys are found however far apart, in mappings of any size.
    #[test]
    fn repeated_keys_in_a_large_mapping() {
        let mut text =
            String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n");
        for i in 0..5000 {
            text.push_str(&format!("  k{i}: v\n"));
        }
        assert!(clean(&text) && full(&text));
        text.push_str("  k1: again\n");
        assert!(!clean(&text) && !full(&text));
        assert!(block::documents(&text).is_none());
    }

    /// The rendered manifests of the example repository, in a stable order.
    fn example_manifests() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        let mut stack = vec![root];
        let mut paths = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                    && path.parent().is_some_and(|d| d.ends_with("manifests"))
                {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    #[test]
    fn every_manifest_of_the_example_repository() {
        let manifests = example_manifests();
        assert!(manifests.len() > 10, "{}", manifests.len());
        for text in &manifests {
            assert_eq!(clean(text), full(text), "{text}");
            reads_as_libyaml(text);
        }
        // Rendered by templates: all in the block reader's subset.
        assert!(manifests.iter().all(|t| block::documents(t).is_some()));
    }
}
