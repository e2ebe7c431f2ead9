//! Procedural macros of micro; use them through the `micro` crate (`#[micro::handler]`).

mod handler;
mod signature;
mod subscriber;

use proc_macro::TokenStream;
use signature::expand_or_keep;
use syn::{parse_macro_input, ItemImpl};

/// Turns the methods of an `impl` block into endpoints of a micro handler.
///
/// Each method must read `async fn name(&self, ctx: &micro::Context, req: Req) ->
/// micro::Result<Rsp>`; it becomes endpoint `<Type>.<CamelCaseName>` (`ping_pong` becomes
/// `PingPong`).
///
/// HTTP routes for the gateway: `#[api(path = "/greeter/{name}", method = "GET")]` on a method
/// (paths are templates whose `{captures}` become request fields, or `^regexes$` with named
/// groups; `method`, `host` and `handler` are optional).
///
/// Streams: a request of type `micro::Streaming<Req>` makes a client stream, a reply of type
/// `impl Stream<Item = micro::Result<Rsp>> + Send + 'static` (or `micro::ResponseStream<Rsp>`)
/// a server stream, and both together a bidirectional stream. `#[micro::handler(name = "Example")]` names the handler `Example` instead of
/// after the type. Helper methods belong in another `impl` block.
///
/// ```ignore
/// struct Greeter;
///
/// #[micro::handler]
/// impl Greeter {
///     async fn call(&self, _ctx: &micro::Context, req: Request) -> micro::Result<Response> {
///         Ok(Response { msg: format!("Hello {}", req.name) })
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemImpl);
    expand_or_keep(&item, handler::expand(attr.into(), item.clone()))
}

/// Turns an `async fn` or the methods of an `impl` block into subscribers.
///
/// On a function `async fn func(ctx: &micro::Context, msg: Msg) -> micro::Result<()>` it adds a
/// unit struct named after the function in CamelCase (`Func`), whose one subscriber endpoint is
/// `Func`; register it with `Service::builder().subscriber(topic, Func)`. On an `impl Example`
/// block, each `async fn handle(&self, ctx: &micro::Context, msg: Msg) -> micro::Result<()>`
/// becomes subscriber endpoint `Example.Handle` (`name = "..."` renames the type part).
#[proc_macro_attribute]
pub fn subscriber(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::Item);
    let expanded = match &item {
        syn::Item::Fn(f) => subscriber::expand_fn(attr.into(), f),
        syn::Item::Impl(i) => subscriber::expand_impl(attr.into(), i),
        other => Err(syn::Error::new_spanned(
            other,
            "#[micro::subscriber] goes on an `async fn` or an `impl` block",
        )),
    };
    expand_or_keep(&item, expanded)
}
