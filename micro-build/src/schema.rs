//! Endpoint schemas: each message's fields and their types, nested to depth 3, emitted as a
//! `micro::schema::Schema` impl (what go-micro's reflection extractor publishes).

use crate::names;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Deepest level listed: the message (0), its fields (1), theirs (2), theirs (3).
const MAX_DEPTH: usize = 3;

/// Every message of the descriptor set by full name (`.pkg.Outer.Inner`).
pub(crate) struct Index<'a> {
    messages: HashMap<String, &'a DescriptorProto>,
}

impl<'a> Index<'a> {
    pub(crate) fn new(fds: &'a FileDescriptorSet) -> Self {
        let mut messages = HashMap::new();
        for file in &fds.file {
            let prefix = if file.package().is_empty() {
                String::new()
            } else {
                format!(".{}", file.package())
            };
            for msg in &file.message_type {
                index_message(&mut messages, &prefix, msg);
            }
        }
        Index { messages }
    }

    /// Writes `impl Schema for <msg>` and for its nested messages.
    pub(crate) fn write_schema_impls(
        &self,
        code: &mut String,
        package: &str,
        msg: &DescriptorProto,
        parents: &[&str],
        micro: &str,
    ) {
        if msg.options.as_ref().is_some_and(|o| o.map_entry()) {
            return;
        }
        let mut full = String::new();
        if !package.is_empty() {
            full.push('.');
            full.push_str(package);
        }
        for p in parents {
            full.push('.');
            full.push_str(p);
        }
        full.push('.');
        full.push_str(msg.name());
        let path = names::type_path(&full, package, package, micro);
        let value = self.value_expr(msg.name(), msg.name(), Some(msg), 0, micro);
        let _ = write!(
            code,
            "\nimpl {micro}::schema::Schema for {path} {{\n    fn schema() -> {micro}::schema::Value {{\n        {value}\n    }}\n}}\n"
        );
        let mut nested_parents = parents.to_vec();
        nested_parents.push(msg.name());
        for nested in &msg.nested_type {
            self.write_schema_impls(code, package, nested, &nested_parents, micro);
        }
    }

    fn value_expr(
        &self,
        name: &str,
        ty: &str,
        msg: Option<&DescriptorProto>,
        depth: usize,
        micro: &str,
    ) -> String {
        let fields: Vec<String> = match msg {
            Some(m) if depth < MAX_DEPTH => m
                .field
                .iter()
                .map(|f| {
                    let (ty, nested) = self.field_type(f);
                    self.value_expr(f.name(), &ty, nested, depth + 1, micro)
                })
                .collect(),
            _ => Vec::new(),
        };
        format!(
            "{micro}::schema::Value::new({name:?}, {ty:?}, vec![{}])",
            fields.join(", ")
        )
    }

    /// The type name shown for a field, and its message when it has one to descend into.
    fn field_type(&self, f: &FieldDescriptorProto) -> (String, Option<&DescriptorProto>) {
        let nested = self.messages.get(f.type_name()).copied();
        if let Some(entry) = nested.filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry())) {
            let key = entry
                .field
                .first()
                .map(|k| self.field_type(k).0)
                .unwrap_or_default();
            let value = entry
                .field
                .get(1)
                .map(|v| self.field_type(v).0)
                .unwrap_or_default();
            return (format!("map<{key},{value}>"), None);
        }
        let base = match f.r#type() {
            Type::Double => "double".to_string(),
            Type::Float => "float".into(),
            Type::Int64 => "int64".into(),
            Type::Uint64 => "uint64".into(),
            Type::Int32 => "int32".into(),
            Type::Fixed64 => "fixed64".into(),
            Type::Fixed32 => "fixed32".into(),
            Type::Bool => "bool".into(),
            Type::String => "string".into(),
            Type::Bytes => "bytes".into(),
            Type::Uint32 => "uint32".into(),
            Type::Sfixed32 => "sfixed32".into(),
            Type::Sfixed64 => "sfixed64".into(),
            Type::Sint32 => "sint32".into(),
            Type::Sint64 => "sint64".into(),
            Type::Enum | Type::Message | Type::Group => f
                .type_name()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let ty = if f.label() == Label::Repeated {
            format!("[]{base}")
        } else {
            base
        };
        (ty, nested)
    }
}

fn index_message<'a>(
    out: &mut HashMap<String, &'a DescriptorProto>,
    prefix: &str,
    msg: &'a DescriptorProto,
) {
    let full = format!("{prefix}.{}", msg.name());
    for nested in &msg.nested_type {
        index_message(out, &full, nested);
    }
    out.insert(full, msg);
}
