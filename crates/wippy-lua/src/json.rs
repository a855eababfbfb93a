//! The `json` module's conversions between payloads and JSON.

use serde_json::{Map, Number, Value};
use wippy_process::Payload;

/// A payload as JSON: maps with non-string keys use the key's text; bytes
/// that are not UTF-8 become strings with replacement characters; pids
/// become their string form.
pub fn to_json(p: &Payload) -> Value {
    match p {
        Payload::Nil => Value::Null,
        Payload::Bool(b) => Value::Bool(*b),
        Payload::Int(i) => Value::Number((*i).into()),
        Payload::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Payload::Str(s) => Value::String(s.to_string()),
        Payload::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Payload::Pid(pid) => Value::String(pid.to_string()),
        Payload::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Payload::Map(pairs) if pairs.is_empty() => Value::Object(Map::new()),
        Payload::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Payload::Str(s) => s.to_string(),
                        Payload::Int(i) => i.to_string(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}

/// JSON as a payload (integers stay integers).
pub fn from_json(v: Value) -> Payload {
    match v {
        Value::Null => Payload::Nil,
        Value::Bool(b) => Payload::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Payload::Int(i),
            None => Payload::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Payload::Str(s.into()),
        Value::Array(items) => Payload::Array(items.into_iter().map(from_json).collect()),
        Value::Object(map) => Payload::Map(
            map.into_iter()
                .map(|(k, v)| (Payload::Str(k.into()), from_json(v)))
                .collect(),
        ),
    }
}

/// The message of a parse error without serde_json's position suffix (the
/// caller adds line and column).
pub fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(ix) => text[..ix].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keep_integers() {
        let v: Value = serde_json::from_str(r#"{"a":[1,2.5,"x",null,true]}"#).unwrap();
        let p = from_json(v.clone());
        assert_eq!(
            p.get("a"),
            Some(&Payload::Array(vec![
                Payload::Int(1),
                Payload::Float(2.5),
                Payload::Str("x".into()),
                Payload::Nil,
                Payload::Bool(true)
            ]))
        );
        assert_eq!(to_json(&p), v);
    }

    #[test]
    fn errors_are_described_without_position() {
        let e = serde_json::from_str::<Value>("{\"a\": }").unwrap_err();
        assert_eq!(describe(&e), "expected value");
        assert_eq!((e.line(), e.column()), (1, 7));
    }
}
