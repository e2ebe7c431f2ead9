//! Rust names for proto names, the same way prost-build makes them.

use heck::{ToSnakeCase, ToUpperCamelCase};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct",
    "trait", "true", "type", "unsafe", "use", "where", "while", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "async",
    "await", "try", "gen",
];

/// `ping_pong` for `PingPong`, escaped when it is a keyword.
pub(crate) fn snake(s: &str) -> String {
    let ident = s.to_snake_case();
    match ident.as_str() {
        "self" | "super" | "crate" | "Self" => format!("{ident}_"),
        k if KEYWORDS.contains(&k) => format!("r#{ident}"),
        _ => ident,
    }
}

/// `PingPong` for `ping_pong`.
pub(crate) fn camel(s: &str) -> String {
    let ident = s.to_upper_camel_case();
    if ident == "Self" {
        "Self_".into()
    } else {
        ident
    }
}

/// The Rust path, relative to the module of `from_package`, of the proto type `full_name`
/// (`.pkg.Outer.Inner`), given the package that declares it.
pub(crate) fn type_path(
    full_name: &str,
    type_package: &str,
    from_package: &str,
    micro: &str,
) -> String {
    if type_package == "google.protobuf" {
        let name = full_name.trim_start_matches(".google.protobuf.");
        return format!("{micro}::__private::pbjson_types::{name}");
    }
    let local = full_name
        .trim_start_matches('.')
        .strip_prefix(type_package)
        .unwrap_or(full_name)
        .trim_start_matches('.');
    let mut parts: Vec<&str> = local.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut path: Vec<String> = Vec::new();
    if type_package != from_package {
        // prost mirrors packages as nested modules: climb out of ours, descend into theirs.
        let ours = from_package.split('.').filter(|s| !s.is_empty()).count();
        path.extend(std::iter::repeat_n("super".to_string(), ours));
        path.extend(type_package.split('.').filter(|s| !s.is_empty()).map(snake));
    }
    path.extend(parts.iter().map(|p| snake(p)));
    path.push(camel(last));
    path.join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(type_path(".a.b.Req", "a.b", "a.b", "::micro"), "Req");
        assert_eq!(
            type_path(".a.b.Outer.Inner", "a.b", "a.b", "::micro"),
            "outer::Inner"
        );
        assert_eq!(
            type_path(".c.Req", "c", "a.b", "::micro"),
            "super::super::c::Req"
        );
        assert_eq!(
            type_path(".google.protobuf.Empty", "google.protobuf", "a", "::micro"),
            "::micro::__private::pbjson_types::Empty"
        );
        assert_eq!(snake("PingPong"), "ping_pong");
        assert_eq!(snake("Type"), "r#type");
    }
}
