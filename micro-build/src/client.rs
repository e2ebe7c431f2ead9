//! Typed clients: one struct per proto service, one method per unary RPC.

use crate::names;
use prost_types::ServiceDescriptorProto;
use std::fmt::Write as _;

/// Writes `<Service>Client` for `service` into `code`.
pub(crate) fn write(
    code: &mut String,
    service: &ServiceDescriptorProto,
    package: &str,
    micro: &str,
) {
    let handler = service.name();
    let client = format!("{}Client", names::camel(handler));
    let _ = write!(
        code,
        r#"
/// Typed micro client for the `{handler}` handler.
///
/// Calls go through the [`{micro}::Client`] given, so they get discovery, load balancing,
/// retries and timeouts.
#[derive(Debug, Clone)]
pub struct {client} {{
    client: {micro}::Client,
    service: ::std::string::String,
}}

impl {client} {{
    /// A client of `{handler}` on the service named `service` (e.g. `go.micro.srv.greeter`).
    pub fn new(client: {micro}::Client, service: impl ::std::convert::Into<::std::string::String>) -> Self {{
        Self {{ client, service: service.into() }}
    }}

    /// The name of the service this client calls.
    pub fn service(&self) -> &str {{
        &self.service
    }}
"#
    );
    for method in &service.method {
        let endpoint = format!("{handler}.{}", method.name());
        let fn_name = names::snake(method.name());
        let with = format!("{}_with", fn_name.trim_start_matches("r#"));
        let input = rust_type(method.input_type(), package, micro);
        let output = rust_type(method.output_type(), package, micro);
        let requests = format!("impl {micro}::__private::futures::Stream<Item = {input}> + ::std::marker::Send + 'static");
        let (arg, reply, call, what) = match (method.client_streaming(), method.server_streaming())
        {
            (false, false) => (
                format!("request: {input}"),
                output.clone(),
                "call(&self.service, ENDPOINT, &request, options)",
                "Calls",
            ),
            (false, true) => (
                format!("request: {input}"),
                format!("{micro}::Streaming<{output}>"),
                "server_stream(&self.service, ENDPOINT, &request, options)",
                "Opens the server stream",
            ),
            (true, false) => (
                format!("requests: {requests}"),
                output.clone(),
                "client_stream(&self.service, ENDPOINT, requests, options)",
                "Streams requests to",
            ),
            (true, true) => (
                format!("requests: {requests}"),
                format!("{micro}::Streaming<{output}>"),
                "stream(&self.service, ENDPOINT, requests, options)",
                "Opens the bidirectional stream",
            ),
        };
        let param = arg.split(':').next().unwrap_or_default();
        let call = call.replace("ENDPOINT", &format!("{endpoint:?}"));
        let _ = write!(
            code,
            r#"
    /// {what} `{endpoint}` with the default call options.
    pub async fn {fn_name}(&self, {arg}) -> {micro}::Result<{reply}> {{
        self.{with}({param}, {micro}::CallOptions::default()).await
    }}

    /// {what} `{endpoint}` with `options` (timeout, address, metadata, ...).
    pub async fn {with}(&self, {arg}, options: {micro}::CallOptions) -> {micro}::Result<{reply}> {{
        self.client.{call}.await
    }}
"#
        );
    }
    code.push_str("}\n");
}

fn rust_type(full_name: &str, package: &str, micro: &str) -> String {
    // The declaring package is the longest dotted prefix naming a package; proto types start
    // with an upper-case letter by convention, which is what separates the two.
    let trimmed = full_name.trim_start_matches('.');
    let type_package: Vec<&str> = trimmed
        .split('.')
        .take_while(|s| s.chars().next().is_some_and(|c| !c.is_ascii_uppercase()))
        .collect();
    names::type_path(full_name, &type_package.join("."), package, micro)
}
