//! Validation of rendered output.

use crate::model::config::is_manifest_name;
use crate::model::imageref::ImageRef;

use super::*;

/// Checks that every document parses as YAML and is a Kubernetes object with `apiVersion`, `kind` and
/// `metadata.name`, and that every container image is a valid reference.
pub fn validate_manifest(path: &str, bytes: &[u8], problems: &mut Vec<Problem>) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push(Problem::new(path, None, "is not valid UTF-8"));
        return;
    };
    if path.ends_with(".json") {
        match serde_json::from_str::<serde_yaml::Value>(text) {
            Ok(v) => check_object(path, text, None, &v, problems),
            Err(e) => problems.push(Problem::new(
                path,
                Some(e.line()),
                format!("invalid JSON: {e}"),
            )),
        }
        return;
    }
    // Almost every manifest is clean: a walk that builds nothing says so, and only the others are
    // looked at closely (which also words their problems).
    if crate::render::yamlcheck::clean(text) {
        return;
    }
    let starts = doc_start_lines(text);
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let line = starts.get(i).copied();
        let value = match serde_yaml::Value::deserialize_from(doc) {
            Ok(v) => v,
            Err(e) => {
                let l = e.location().map(|l| l.line()).or(line);
                let msg = e.to_string();
                let msg = msg.rfind(" at line ").map(|i| &msg[..i]).unwrap_or(&msg);
                problems.push(Problem::new(path, l, format!("invalid YAML: {msg}")));
                return;
            }
        };
        check_object(path, text, line, &value, problems);
    }
}

trait DeserializeFrom: Sized {
    fn deserialize_from(
        d: serde_yaml::Deserializer,
    ) -> std::result::Result<Self, serde_yaml::Error>;
}

impl DeserializeFrom for serde_yaml::Value {
    fn deserialize_from(
        d: serde_yaml::Deserializer,
    ) -> std::result::Result<Self, serde_yaml::Error> {
        serde::Deserialize::deserialize(d)
    }
}

fn doc_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    let mut first_content = true;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            if first_content {
                // A leading `---` opens the first document rather than a second one.
                starts[0] = i + 1;
            } else {
                starts.push(i + 1);
            }
        }
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') && !line.starts_with("---") {
            first_content = false;
        }
    }
    starts
}

fn check_object(
    path: &str,
    text: &str,
    line: Option<usize>,
    v: &serde_yaml::Value,
    problems: &mut Vec<Problem>,
) {
    use serde_yaml::Value as Y;
    if v.is_null() {
        return; // an empty document (`---` at the end)
    }
    let str_at = |keys: &[&str]| -> Option<&str> {
        keys.iter()
            .try_fold(v, |cur, k| cur.get(*k))
            .and_then(Y::as_str)
    };
    if !v.is_mapping() {
        problems.push(Problem::new(
            path,
            line,
            "a document is not a mapping (expected a Kubernetes object)",
        ));
        return;
    }
    let kind = str_at(&["kind"]);
    for (key, present) in [
        ("apiVersion", str_at(&["apiVersion"]).is_some()),
        ("kind", kind.is_some()),
    ] {
        if !present {
            problems.push(Problem::new(
                path,
                line,
                format!("a document has no `{key}`"),
            ));
        }
    }
    // Kustomize's own files carry no name; `generateName` stands in for one.
    let kustomize = matches!(kind, Some("Kustomization" | "Component"));
    if !kustomize
        && str_at(&["metadata", "name"]).is_none()
        && str_at(&["metadata", "generateName"]).is_none()
    {
        problems.push(Problem::new(
            path,
            line,
            format!("a `{}` has no `metadata.name`", kind.unwrap_or("document")),
        ));
    }
    check_string_fields(path, line, v, &mut Vec::new(), problems);
    let mut images = Vec::new();
    collect_images(v, &mut images);
    for image in images {
        if let Err(e) = ImageRef::parse(&image) {
            problems.push(Problem::new(
                path,
                find_line(text, line, &image),
                e.to_string(),
            ));
        }
    }
}

/// The first line at or after the document's start that holds `needle`.
fn find_line(text: &str, doc_line: Option<usize>, needle: &str) -> Option<usize> {
    let start = doc_line.unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .or(doc_line)
}

/// Labels, annotations and container `env` values must be strings. A value such as a git SHA made
/// only of digits (`1234567`), `true` or an empty value printed bare is read by YAML as a number,
/// a boolean or null, and the API server rejects the manifest.
fn check_string_fields<'a>(
    path: &str,
    line: Option<usize>,
    v: &'a serde_yaml::Value,
    at: &mut Vec<Seg<'a>>,
    problems: &mut Vec<Problem>,
) {
    use serde_yaml::Value as Y;
    let not_string = |val: &Y| -> Option<String> {
        match val {
            Y::String(_) => None,
            Y::Null => Some("empty (null)".into()),
            Y::Bool(b) => Some(format!("the boolean `{b}`")),
            Y::Number(n) => Some(format!("the number `{n}`")),
            _ => Some("not a string".into()),
        }
    };
    let hint = "quote it in the template, e.g. `\"{{ tag }}\"`, or print it with `| tojson`";
    match v {
        Y::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().unwrap_or("");
                // The path is only spelled out when there is a problem to report.
                let here = |at: &[Seg]| {
                    let mut s = seg_path(at);
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(key);
                    s
                };
                match (key, val) {
                    ("labels" | "annotations", Y::Mapping(items)) => {
                        for (lk, lv) in items {
                            if let Some(what) = not_string(lv) {
                                let name = lk.as_str().unwrap_or("?");
                                let here = here(at);
                                problems.push(
                                    Problem::new(path, line, format!("`{here}.{name}` is {what}, but Kubernetes wants a string"))
                                        .hint(hint),
                                );
                            }
                        }
                    }
                    ("env", Y::Sequence(items)) => {
                        for item in items {
                            if let Some(what) = item.get("value").and_then(not_string) {
                                let name = item.get("name").and_then(Y::as_str).unwrap_or("?");
                                let here = here(at);
                                problems.push(
                                    Problem::new(path, line, format!("env `{name}` in `{here}` is {what}, but Kubernetes wants a string"))
                                        .hint(hint),
                                );
                            }
                        }
                    }
                    _ => {
                        at.push(Seg::Key(key));
                        check_string_fields(path, line, val, at, problems);
                        at.pop();
                    }
                }
            }
        }
        Y::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                check_string_fields(path, line, item, at, problems);
                at.pop();
            }
        }
        _ => {}
    }
}

/// One step of a path into a document: `spec`, `[0]`.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn seg_path(at: &[Seg]) -> String {
    let mut s = String::new();
    for seg in at {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn collect_images(v: &serde_yaml::Value, out: &mut Vec<String>) {
    use serde_yaml::Value as Y;
    match v {
        Y::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().unwrap_or("");
                if matches!(key, "containers" | "initContainers" | "ephemeralContainers") {
                    if let Y::Sequence(items) = val {
                        for item in items {
                            if let Some(img) = item.get("image").and_then(Y::as_str) {
                                out.push(img.to_string());
                            }
                        }
                    }
                }
                collect_images(val, out);
            }
        }
        Y::Sequence(items) => items.iter().for_each(|i| collect_images(i, out)),
        _ => {}
    }
}

/// Would ArgoCD read this file as a manifest? (Used by `check` on synced directories.)
pub fn is_manifest_file(path: &str) -> bool {
    is_manifest_name(path)
}

/// The image right before a value, the way the legacy renderer finds it: the text after the last
/// space, quote, `=` or `,`, up to a `:` that ends it.
pub fn image_before(out: &[u8]) -> Option<&str> {
    let before = out.strip_suffix(b":")?;
    let start = before
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'=' | b','))
        .map(|p| p + 1)
        .unwrap_or(0);
    std::str::from_utf8(&before[start..]).ok()
}
