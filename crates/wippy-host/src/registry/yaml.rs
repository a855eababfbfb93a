//! Reading marked YAML nodes (saphyr's `MarkedYaml`, which keeps the source
//! position of every node) into typed values. Every reader reports what is
//! wrong with the line of the node at fault and the field path, and returns
//! `None` exactly when it reported something.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use saphyr::{MarkedYaml, Scalar, YamlData};
use wippy_process::Payload;

use super::LoadError;
use crate::units::{parse_duration, parse_size};

/// A YAML node with its position.
pub(super) type Node<'i> = MarkedYaml<'i>;

/// Where errors go and what they are about: one index file, and the entry
/// being read when there is one.
pub(super) struct Report<'a> {
    /// The index file.
    pub file: &'a Path,
    /// The entry id, once known.
    pub entry: Option<String>,
    /// Every error so far.
    pub errors: &'a mut Vec<LoadError>,
}

impl Report<'_> {
    /// Reports a problem at `line`; an empty `path` means "the whole file".
    pub fn error(
        &mut self,
        line: usize,
        path: &str,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        self.errors.push(LoadError {
            file: self.file.to_path_buf(),
            line,
            entry: self.entry.clone(),
            path: (!path.is_empty()).then(|| path.to_string()),
            message: message.into(),
            suggestion,
        });
    }

    /// Reports a node of the wrong type.
    pub fn mismatch(&mut self, node: &Node, path: &str, expected: &str) {
        let message = format!("expected {expected}, found {}", describe(node));
        self.error(line(node), path, message, None);
    }

    /// Reports a required field that is absent (or null) in the map at `line`.
    pub fn missing(&mut self, line: usize, path: &str, field: &str) {
        let path = join(path, field);
        self.error(line, &path, "missing required field", None);
    }

    /// Reports a field a strict map does not have, suggesting the closest
    /// known field or listing them all.
    pub fn unknown_field(&mut self, field: &Field, known: &[&str]) {
        let suggestion = match closest(field.key, known.iter().copied()) {
            Some(k) => format!("did you mean {k}?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        self.error(field.line, &field.path, "unknown field", Some(suggestion));
    }
}

/// One `key: value` pair of a map whose key is a string.
pub(super) struct Field<'n, 'i> {
    /// The key.
    pub key: &'n str,
    /// Line of the key.
    pub line: usize,
    /// The value.
    pub value: &'n Node<'i>,
    /// Path of the value, e.g. `entries[2].lifecycle.restart`.
    pub path: String,
}

/// `path.key`, or `key` at the top.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The node under any tags (`!foo value` reads as `value`).
pub(super) fn untag<'n, 'i>(mut node: &'n Node<'i>) -> &'n Node<'i> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

/// 1-based line where the node starts.
pub(super) fn line(node: &Node) -> usize {
    node.span.start.line()
}

/// Whether the node is `null` or empty (`key:` with no value), which every
/// reader treats as "not given".
pub(super) fn is_null(node: &Node) -> bool {
    matches!(untag(node).data, YamlData::Value(Scalar::Null))
}

fn scalar<'n, 'i>(node: &'n Node<'i>) -> Option<&'n Scalar<'i>> {
    match &untag(node).data {
        YamlData::Value(s) => Some(s),
        _ => None,
    }
}

/// The node's text if it is a string.
pub(super) fn as_str<'n>(node: &'n Node) -> Option<&'n str> {
    match scalar(node) {
        Some(Scalar::String(s)) => Some(s),
        _ => None,
    }
}

/// How a node looks in a type error: `string "two"`, `integer 3`, `a list`.
pub(super) fn describe(node: &Node) -> String {
    match &untag(node).data {
        YamlData::Value(Scalar::Null) => "null".into(),
        YamlData::Value(Scalar::Boolean(b)) => format!("boolean {b}"),
        YamlData::Value(Scalar::Integer(i)) => format!("integer {i}"),
        YamlData::Value(Scalar::FloatingPoint(f)) => format!("number {}", f.0),
        YamlData::Value(Scalar::String(s)) => {
            let mut short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                short.push_str("...");
            }
            format!("string {short:?}")
        }
        YamlData::Representation(s, ..) => format!("{s:?}"),
        YamlData::Sequence(_) => "a list".into(),
        YamlData::Mapping(_) => "a map".into(),
        YamlData::Tagged(..) | YamlData::Alias(_) | YamlData::BadValue => "an invalid value".into(),
    }
}

/// The string-keyed pairs of a map, in document order, or `None` (reported)
/// if the node is not a map. Keys that are not strings are reported and
/// skipped.
pub(super) fn fields<'n, 'i>(
    node: &'n Node<'i>,
    path: &str,
    r: &mut Report,
) -> Option<Vec<Field<'n, 'i>>> {
    let YamlData::Mapping(map) = &untag(node).data else {
        r.mismatch(node, path, "a map");
        return None;
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        match as_str(key) {
            Some(k) => out.push(Field {
                key: k,
                line: line(key),
                value,
                path: join(path, k),
            }),
            None => r.error(
                line(key),
                path,
                format!("map keys must be strings, found {}", describe(key)),
                None,
            ),
        }
    }
    Some(out)
}

/// The items of a list with their paths (`path[i]`), or `None` (reported).
pub(super) fn list<'n, 'i>(
    node: &'n Node<'i>,
    path: &str,
    r: &mut Report,
) -> Option<Vec<(&'n Node<'i>, String)>> {
    match &untag(node).data {
        YamlData::Sequence(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, format!("{path}[{i}]")))
                .collect(),
        ),
        _ => {
            r.mismatch(node, path, "a list");
            None
        }
    }
}

/// A string.
pub(super) fn string(node: &Node, path: &str, r: &mut Report) -> Option<String> {
    match as_str(node) {
        Some(s) => Some(s.to_string()),
        None => {
            r.mismatch(node, path, "a string");
            None
        }
    }
}

/// A list of strings; every bad item is reported.
pub(super) fn strings(node: &Node, path: &str, r: &mut Report) -> Option<Vec<String>> {
    let items = list(node, path, r)?;
    let before = r.errors.len();
    let out: Vec<String> = items
        .iter()
        .filter_map(|(item, p)| string(item, p, r))
        .collect();
    (r.errors.len() == before).then_some(out)
}

/// A string or a list of strings (`actions: "*"` or `actions: [a, b]`).
pub(super) fn string_or_list(node: &Node, path: &str, r: &mut Report) -> Option<Vec<String>> {
    match as_str(node) {
        Some(s) => Some(vec![s.to_string()]),
        None if matches!(untag(node).data, YamlData::Sequence(_)) => strings(node, path, r),
        None => {
            r.mismatch(node, path, "a string or a list of strings");
            None
        }
    }
}

/// `true` or `false`.
pub(super) fn boolean(node: &Node, path: &str, r: &mut Report) -> Option<bool> {
    match scalar(node) {
        Some(Scalar::Boolean(b)) => Some(*b),
        _ => {
            r.mismatch(node, path, "true or false");
            None
        }
    }
}

/// An integer of at least `min`.
pub(super) fn uint(node: &Node, path: &str, min: u64, r: &mut Report) -> Option<u64> {
    match scalar(node) {
        Some(Scalar::Integer(i)) if *i >= 0 && *i as u64 >= min => Some(*i as u64),
        Some(Scalar::Integer(i)) => {
            let message = format!("must be at least {min}, found {i}");
            r.error(line(node), path, message, None);
            None
        }
        _ => {
            let expected = if min == 0 {
                "a non-negative integer".to_string()
            } else {
                format!("an integer of at least {min}")
            };
            r.mismatch(node, path, &expected);
            None
        }
    }
}

/// A number (integer or float) within `range`.
pub(super) fn number(
    node: &Node,
    path: &str,
    range: std::ops::RangeInclusive<f64>,
    r: &mut Report,
) -> Option<f64> {
    let n = match scalar(node) {
        Some(Scalar::Integer(i)) => *i as f64,
        Some(Scalar::FloatingPoint(f)) => f.0,
        _ => {
            r.mismatch(node, path, "a number");
            return None;
        }
    };
    if range.contains(&n) {
        Some(n)
    } else {
        let message = format!(
            "must be between {} and {}, found {n}",
            range.start(),
            range.end()
        );
        r.error(line(node), path, message, None);
        None
    }
}

/// A duration: a Go duration string (`"1.5s"`, `"1h30m"`) or an integer
/// number of **milliseconds**.
pub(super) fn duration(node: &Node, path: &str, r: &mut Report) -> Option<Duration> {
    match scalar(node) {
        Some(Scalar::String(s)) => match parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                r.error(line(node), path, e.to_string(), None);
                None
            }
        },
        Some(Scalar::Integer(ms)) if *ms >= 0 => Some(Duration::from_millis(*ms as u64)),
        _ => {
            let expected = "a duration (e.g. 250ms, 1.5s, 1h30m, or integer milliseconds)";
            r.mismatch(node, path, expected);
            None
        }
    }
}

/// A size: a string like `"64MB"` (1024-based) or an integer number of bytes.
pub(super) fn size(node: &Node, path: &str, r: &mut Report) -> Option<u64> {
    match scalar(node) {
        Some(Scalar::String(s)) => match parse_size(s) {
            Ok(n) => Some(n),
            Err(e) => {
                r.error(line(node), path, e.to_string(), None);
                None
            }
        },
        Some(Scalar::Integer(n)) if *n >= 0 => Some(*n as u64),
        _ => {
            r.mismatch(node, path, "a size (e.g. 64MB, or integer bytes)");
            None
        }
    }
}

/// A string-keyed map of free-form data (`meta:`).
pub(super) fn data_map(
    node: &Node,
    path: &str,
    r: &mut Report,
) -> Option<BTreeMap<String, Payload>> {
    let before = r.errors.len();
    let out = fields(node, path, r)?
        .into_iter()
        .map(|f| (f.key.to_string(), payload(f.value)))
        .collect();
    (r.errors.len() == before).then_some(out)
}

/// The node as data: integers stay `Int`, floats `Float`, sequences
/// `Array`, maps `Map` (in document order), null `Nil`.
pub(super) fn payload(node: &Node) -> Payload {
    match &untag(node).data {
        YamlData::Value(Scalar::Null) => Payload::Nil,
        YamlData::Value(Scalar::Boolean(b)) => Payload::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Payload::Int(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => Payload::Float(f.0),
        YamlData::Value(Scalar::String(s)) => Payload::from(s.as_ref()),
        YamlData::Representation(s, ..) => Payload::from(s.as_ref()),
        YamlData::Sequence(items) => Payload::Array(items.iter().map(payload).collect()),
        YamlData::Mapping(map) => {
            Payload::Map(map.iter().map(|(k, v)| (payload(k), payload(v))).collect())
        }
        YamlData::Tagged(..) | YamlData::Alias(_) | YamlData::BadValue => Payload::Nil,
    }
}

/// Whether `word` is probably a typo of `known`: at most one edit away for
/// names of up to four letters, two for longer ones (transpositions count
/// as one edit, case is ignored). Short names get the tighter bound so that
/// e.g. `data` is not taken for a misspelt `meta`.
pub(super) fn is_typo_of(word: &str, known: &str) -> bool {
    let limit = if known.chars().count() <= 4 { 1 } else { 2 };
    strsim::osa_distance(&word.to_lowercase(), &known.to_lowercase()) <= limit
}

/// The candidate `word` is most probably a typo of.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| is_typo_of(&word, c))
        .min_by_key(|c| strsim::osa_distance(&word, &c.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use saphyr::LoadableYamlNode;

    fn doc(text: &str) -> Node<'_> {
        Node::load_from_str(text).unwrap().remove(0)
    }

    #[test]
    fn payload_keeps_scalar_types() {
        let node = doc("a: 1\nb: 1.5\nc: true\nd: hi\ne: ~\nf: [1, x]\n");
        let p = payload(&node);
        assert_eq!(p.get("a"), Some(&Payload::Int(1)));
        assert_eq!(p.get("b"), Some(&Payload::Float(1.5)));
        assert_eq!(p.get("c"), Some(&Payload::Bool(true)));
        assert_eq!(p.get("d"), Some(&Payload::from("hi")));
        assert_eq!(p.get("e"), Some(&Payload::Nil));
        assert_eq!(
            p.get("f"),
            Some(&Payload::Array(vec![Payload::Int(1), Payload::from("x")]))
        );
    }

    #[test]
    fn typos_are_close_but_other_words_are_not() {
        assert!(is_typo_of("lifecycel", "lifecycle"));
        assert!(is_typo_of("sorce", "source"));
        assert!(is_typo_of("Method", "method"));
        assert!(!is_typo_of("data", "meta"));
        assert!(!is_typo_of("comment", "method"));
        assert_eq!(closest("delya", ["delay", "max_delay"]), Some("delay"));
        assert_eq!(closest("zzz", ["delay"]), None);
    }

    #[test]
    fn integers_are_milliseconds_and_strings_are_go_durations() {
        let node = doc("a: 250\nb: 1.5s\nc: 1.5\nd: -3\n");
        let mut errors = Vec::new();
        let mut r = Report {
            file: Path::new("x.yaml"),
            entry: None,
            errors: &mut errors,
        };
        let f = fields(&node, "", &mut r).unwrap();
        assert_eq!(
            duration(f[0].value, "a", &mut r),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            duration(f[1].value, "b", &mut r),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(duration(f[2].value, "c", &mut r), None);
        assert_eq!(duration(f[3].value, "d", &mut r), None);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].message.contains("found number 1.5"),
            "{}",
            errors[0]
        );
    }
}
