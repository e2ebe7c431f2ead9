//! A request line's path and query as the gateway reads them: micro v2 path resolution, percent
//! decoding, and query parameters merged into a JSON request typed by an endpoint's schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micro::registry::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let _ = micro_api::resolve::rpc_route(path, "go.micro.api");
    let _ = micro_api::resolve::service_of(path, "go.micro.api");
    let _ = micro_api::query::decode_path(path);
    let _ = micro_api::query::decode_query(query);
    let schema = Value::new(
        "Request",
        "Request",
        vec![
            Value::new("name", "string", vec![]),
            Value::new("count", "int64", vec![]),
            Value::new("ok", "bool", vec![]),
            Value::new("tags", "[]string", vec![]),
            Value::new("inner", "Inner", vec![Value::new("n", "int32", vec![])]),
        ],
    );
    let mut body = serde_json::Map::new();
    micro_api::query::merge(&mut body, query, Some(&schema));
    let mut untyped = serde_json::Map::new();
    micro_api::query::merge(&mut untyped, query, None);
});
