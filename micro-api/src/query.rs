//! Query parameters into the JSON request, typed by the endpoint's schema from the registry, so
//! `?count=3` is a number for an int field and a string for a string field.

use micro::registry::Value;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Merges `query` (`a=1&b.c=x&tags=a&tags=b`) into `body`; query values win.
pub fn merge(body: &mut Map<String, Json>, query: &str, schema: Option<&Value>) {
    let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    });
    merge_pairs(body, pairs, schema);
}

/// Merges decoded `key=value` pairs (dotted keys for nested fields, repeated keys for lists)
/// into `body`, typed by `schema`; the pairs win.
pub fn merge_pairs(
    body: &mut Map<String, Json>,
    pairs: impl IntoIterator<Item = (String, String)>,
    schema: Option<&Value>,
) {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        grouped.entry(k).or_default().push(v);
    }
    for (key, values) in grouped {
        let path: Vec<&str> = key.split('.').filter(|p| !p.is_empty()).collect();
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let ty = field_type(schema, &path);
        let value = convert(ty.as_deref(), &values);
        let mut target = &mut *body;
        for parent in parents {
            let entry = target
                .entry(parent.to_string())
                .or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            target = match entry {
                Json::Object(m) => m,
                _ => unreachable!("made an object just above"),
            };
        }
        target.insert(last.to_string(), value);
    }
}

/// The schema type of the field at `path`, if the schema knows it.
fn field_type(schema: Option<&Value>, path: &[&str]) -> Option<String> {
    let mut current = schema?;
    for name in path {
        current = current.values.iter().find(|v| v.name == *name)?;
    }
    Some(current.r#type.clone())
}

fn convert(ty: Option<&str>, values: &[String]) -> Json {
    match ty {
        Some(t) if t.starts_with("[]") => {
            Json::Array(values.iter().map(|v| scalar(Some(&t[2..]), v)).collect())
        }
        // Unknown to the schema: several values make a list, one a string.
        None if values.len() > 1 => {
            Json::Array(values.iter().map(|v| Json::String(v.clone())).collect())
        }
        ty => scalar(ty, values.last().map(String::as_str).unwrap_or("")),
    }
}

fn scalar(ty: Option<&str>, v: &str) -> Json {
    match ty {
        Some("int32" | "int64" | "sint32" | "sint64" | "sfixed32" | "sfixed64") => v
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(v.into())),
        Some("uint32" | "uint64" | "fixed32" | "fixed64") => v
            .parse::<u64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(v.into())),
        Some("double" | "float") => v
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Json::Number))
            .unwrap_or_else(|| Json::String(v.into())),
        Some("bool") => match v {
            "true" | "1" => Json::Bool(true),
            "false" | "0" => Json::Bool(false),
            _ => Json::String(v.into()),
        },
        _ => Json::String(v.into()),
    }
}

/// Percent-decoding of a query or form component, `+` as space.
pub fn decode_query(s: &str) -> String {
    decode(s)
}

/// Percent-decoding of a path segment (`+` stays `+`).
pub fn decode_path(s: &str) -> String {
    decode(&s.replace('+', "%2B"))
}

/// Percent-decoding of a query component, `+` as space.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            // Hex digits read as bytes: what follows `%` may be any character.
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hex digit.
fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_before_any_character_decodes_without_panicking() {
        // Found by fuzzing (fuzz/corpus/gateway_request): `%` then a two-byte character.
        assert_eq!(decode_path("/%/\u{645}z#41"), "/%/\u{645}z#41");
        assert_eq!(decode_query("%\u{645}"), "%\u{645}");
        assert_eq!(decode_query("%41%zz%4"), "A%zz%4");
    }

    #[test]
    fn converts_by_schema() {
        let schema = Value::new(
            "Req",
            "Req",
            vec![
                Value::new("name", "string", vec![]),
                Value::new("count", "int64", vec![]),
                Value::new("ok", "bool", vec![]),
                Value::new("tags", "[]string", vec![]),
                Value::new("inner", "Inner", vec![Value::new("n", "int32", vec![])]),
            ],
        );
        let mut body = Map::new();
        body.insert("name".into(), Json::from("body"));
        merge(
            &mut body,
            "name=123&count=3&ok=true&tags=a&tags=b&inner.n=7&other=x%20y",
            Some(&schema),
        );
        assert_eq!(
            Json::Object(body),
            serde_json::json!({"name": "123", "count": 3, "ok": true, "tags": ["a", "b"], "inner": {"n": 7}, "other": "x y"})
        );
    }
}
