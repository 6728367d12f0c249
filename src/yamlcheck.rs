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

use crate::imageref::ImageRef;

/// `true` if `validate_manifest` would find no problem in the YAML `text` (for `.yaml` files; JSON
/// is not handled here).
pub fn clean(text: &str) -> bool {
    serde_yaml::Deserializer::from_str(text).all(|doc| {
        Node {
            kind: Kind::Root,
            strings: true,
        }
        .deserialize(doc)
        .is_ok()
    })
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

fn unclean<E: de::Error>() -> E {
    E::custom("not certainly clean")
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl Node {
    /// A scalar that is not a string (number, boolean, null).
    fn other_scalar<E: de::Error>(self) -> Result<Found, E> {
        match self.kind {
            Kind::Str | Kind::Metadata => Err(unclean()),
            Kind::Root => Err(unclean()),
            _ => Ok(Found::default()),
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

impl<'de> Visitor<'de> for Node {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes manifest")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        match self.kind {
            Kind::Root | Kind::Metadata => Err(unclean()),
            Kind::Image if ImageRef::parse(v).is_err() => Err(unclean()),
            _ => Ok(Found {
                string: true,
                nameless_kind: matches!(v, "Kustomization" | "Component"),
                named: false,
            }),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Found, E> {
        self.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Found, E> {
        self.visit_str(&v)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        self.other_scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        self.other_scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        self.other_scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        self.other_scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        match self.kind {
            // An empty document (`---` at the end).
            Kind::Root => Ok(Found::default()),
            _ => self.other_scalar(),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Found, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        if matches!(self.kind, Kind::Root | Kind::Metadata | Kind::Str) {
            return Err(unclean());
        }
        let item = self.item();
        while seq.next_element_seed(item)?.is_some() {}
        Ok(Found::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        if self.kind == Kind::Str {
            return Err(unclean());
        }
        // Keys seen, by hash: a repeated key (or two keys with one hash) is left to the full
        // validation, which reports duplicates.
        let mut seen: Vec<u64> = Vec::new();
        let (mut api_version, mut kind, mut metadata) = (false, false, None::<Found>);
        let (mut nameless, mut named) = (false, false);
        while let Some(key) = map.next_key_seed(Key)? {
            if seen.contains(&key.hash) {
                return Err(unclean());
            }
            seen.push(key.hash);
            let child = self.child(&key.name);
            let found = map.next_value_seed(child)?;
            match (self.kind, key.name.as_str()) {
                (Kind::Root, "apiVersion") => api_version = found.string,
                (Kind::Root, "kind") => {
                    kind = found.string;
                    nameless = found.nameless_kind;
                }
                (Kind::Root, "metadata") => metadata = Some(found),
                (Kind::Metadata, "name" | "generateName") => named |= found.string,
                _ => {}
            }
        }
        match self.kind {
            Kind::Root => {
                let named = metadata.is_some_and(|m| m.named);
                if api_version && kind && (named || nameless) {
                    Ok(Found::default())
                } else {
                    Err(unclean())
                }
            }
            _ => Ok(Found {
                named,
                ..Found::default()
            }),
        }
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Found, A::Error> {
        // A tagged node (`!something`): left to the full validation.
        Err(unclean())
    }
}

/// A mapping key: a string, and its hash for the duplicate check. Any other key is unclean.
struct Key;

struct KeyName {
    name: String,
    hash: u64,
}

impl<'de> DeserializeSeed<'de> for Key {
    type Value = KeyName;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyName, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = KeyName;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyName, E> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        v.hash(&mut h);
        Ok(KeyName {
            name: v.to_string(),
            hash: h.finish(),
        })
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<KeyName, E> {
        self.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<KeyName, E> {
        self.visit_str(&v)
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
                secretKeyRef: {name: s, key: k}
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

    #[test]
    fn every_manifest_of_the_example_repository() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert_eq!(clean(&text), full(&text), "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen > 10, "{seen}");
    }
}
