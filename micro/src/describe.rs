//! Describing services for people: the text the CLI, the web dashboard and the bot show, in the
//! layout of micro's `get service` (one implementation, shared by every tool).

use crate::registry::{Endpoint, Registry, RegistryError, Service, Value};
use std::fmt::Write as _;

/// Every service name in the registry, sorted, each once (subscriptions such as
/// `topic:go.micro.srv.example` included).
pub async fn service_names(registry: &dyn Registry) -> Result<Vec<String>, RegistryError> {
    let mut names: Vec<String> = registry
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// `service  NAME`, each version with its node table, then each endpoint with its request and
/// response fields, as micro's `get service` prints it.
///
/// ```
/// use micro::registry::{Service, Node, Endpoint, Value};
/// let service = Service {
///     name: "go.micro.srv.greeter".into(),
///     version: "latest".into(),
///     nodes: vec![Node { id: "n1".into(), address: "127.0.0.1:5000".into(), ..Default::default() }],
///     endpoints: vec![Endpoint {
///         name: "Greeter.Call".into(),
///         request: Some(Value::new("Request", "Request", vec![Value::new("name", "string", vec![])])),
///         response: None,
///         metadata: [("stream".to_string(), "false".to_string())].into(),
///     }],
///     ..Default::default()
/// };
/// let text = micro::describe::service(&[service]);
/// assert!(text.starts_with("service  go.micro.srv.greeter\n\nversion latest\n\nID\tAddress\tPort\tMetadata\nn1\t127.0.0.1\t5000\t\n"));
/// assert!(text.contains("Endpoint: Greeter.Call\nMetadata: stream=false\n\nRequest: {\n\tname string\n}\n\nResponse: {}\n"));
/// ```
pub fn service(versions: &[Service]) -> String {
    let Some(first) = versions.first() else {
        return String::new();
    };
    let mut parts = vec![format!("service  {}", first.name)];
    for version in versions {
        if !version.version.is_empty() {
            parts.push(format!("\nversion {}", version.version));
        }
        parts.push("\nID\tAddress\tPort\tMetadata".to_string());
        for node in &version.nodes {
            let (host, port) = match node.address.rsplit_once(':') {
                Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
                None => (node.address.as_str(), ""),
            };
            parts.push(format!(
                "{}\t{host}\t{port}\t{}",
                node.id,
                pairs(&node.metadata)
            ));
        }
    }
    // Endpoints are the same in every version as far as the registry knows: show the first's.
    for endpoint in &first.endpoints {
        parts.push(endpoint_text(endpoint));
    }
    parts.join("\n")
}

fn pairs(metadata: &crate::metadata::Metadata) -> String {
    metadata
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One endpoint: name, metadata, request and response blocks.
pub fn endpoint_text(endpoint: &Endpoint) -> String {
    format!(
        "\nEndpoint: {}\nMetadata: {}\n\nRequest: {}\n\nResponse: {}\n",
        endpoint.name,
        pairs(&endpoint.metadata),
        fields(endpoint.request.as_ref()),
        fields(endpoint.response.as_ref()),
    )
}

/// `{}` for no fields, else one line per field, nested messages indented one tab deeper.
pub fn fields(value: Option<&Value>) -> String {
    match value {
        Some(v) if !v.values.is_empty() => {
            let mut out = String::from("{\n");
            for field in &v.values {
                field_text(&mut out, field, 1);
            }
            out.push('}');
            out
        }
        _ => "{}".to_string(),
    }
}

fn field_text(out: &mut String, value: &Value, depth: usize) {
    let indent = "\t".repeat(depth);
    if value.values.is_empty() {
        let _ = writeln!(out, "{indent}{} {}", value.name, value.r#type);
        return;
    }
    let _ = writeln!(out, "{indent}{} {} {{", value.name, value.r#type);
    for field in &value.values {
        field_text(out, field, depth + 1);
    }
    let _ = writeln!(out, "{indent}}}");
}

/// A request to start from, built from a message's fields: each field with an empty value of
/// its type (`""`, `0`, `false`, `[]`, `{}` for maps, nested messages filled the same way);
/// what the dashboard's call form is pre-filled with.
///
/// ```
/// use micro::registry::Value;
/// let request = Value::new("Request", "Request", vec![Value::new("name", "string", vec![])]);
/// assert_eq!(micro::describe::skeleton(Some(&request)), serde_json::json!({"name": ""}));
/// ```
pub fn skeleton(value: Option<&Value>) -> serde_json::Value {
    match value {
        Some(v) => message_skeleton(v, 0),
        None => serde_json::json!({}),
    }
}

/// Messages nest at most this deep in a skeleton (a recursive type would not end).
const SKELETON_DEPTH: usize = 8;

fn message_skeleton(value: &Value, depth: usize) -> serde_json::Value {
    let fields = value
        .values
        .iter()
        .map(|field| (field.name.clone(), field_skeleton(field, depth + 1)))
        .collect();
    serde_json::Value::Object(fields)
}

fn field_skeleton(field: &Value, depth: usize) -> serde_json::Value {
    use serde_json::json;
    let kind = field.r#type.as_str();
    if kind.starts_with("[]") {
        return json!([]);
    }
    if kind.starts_with("map[") {
        return json!({});
    }
    if !field.values.is_empty() {
        return match depth < SKELETON_DEPTH {
            true => message_skeleton(field, depth),
            false => json!({}),
        };
    }
    match kind {
        "string" | "bytes" => json!(""),
        "bool" => json!(false),
        "double" | "float" | "int32" | "int64" | "uint32" | "uint64" | "sint32" | "sint64"
        | "fixed32" | "fixed64" | "sfixed32" | "sfixed64" => json!(0),
        // An enum or a message without fields: nothing to suggest.
        _ => serde_json::Value::Null,
    }
}

/// A JSON value the way micro prints replies: indented with tabs.
pub fn json(value: &serde_json::Value) -> String {
    use serde::Serialize as _;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    match value.serialize(&mut serializer) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_indent_by_depth() {
        let v = Value::new(
            "Req",
            "Req",
            vec![
                Value::new("name", "string", vec![]),
                Value::new("inner", "Inner", vec![Value::new("flag", "bool", vec![])]),
            ],
        );
        assert_eq!(
            fields(Some(&v)),
            "{\n\tname string\n\tinner Inner {\n\t\tflag bool\n\t}\n}"
        );
        assert_eq!(
            json(&serde_json::json!({"msg": "Hello John"})),
            "{\n\t\"msg\": \"Hello John\"\n}"
        );
    }
}
