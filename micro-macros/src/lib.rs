//! Procedural macros of micro; use them through the `micro` crate (`#[micro::handler]`).

use heck::ToUpperCamelCase;
use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{parse_macro_input, FnArg, ImplItem, ItemImpl, LitStr, ReturnType, Type};

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
    match expand_handler(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the block, so the only error is ours and not a cascade of unused items.
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(quote::ToTokens::into_token_stream(item));
            tokens.into()
        }
    }
}

fn expand_handler(
    attr: proc_macro2::TokenStream,
    mut item: ItemImpl,
) -> syn::Result<proc_macro2::TokenStream> {
    let mut name_override: Option<LitStr> = None;
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name_override = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown option: #[micro::handler] takes only `name = \"...\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[micro::handler] goes on an inherent `impl Type` block, not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "#[micro::handler] does not support generic handler types",
        ));
    }
    let self_ty = item.self_ty.clone();
    let type_name = match &*self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
    .ok_or_else(|| syn::Error::new_spanned(&self_ty, "#[micro::handler] needs a named type"))?;
    let handler_name = name_override.map(|l| l.value()).unwrap_or(type_name);

    // `#[api(...)]` on a method declares HTTP routes; take them off the emitted methods.
    let mut routes: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut kept = Vec::new();
        for a in std::mem::take(&mut method.attrs) {
            if a.path().is_ident("api") {
                let pairs = api_metadata(&a)?;
                routes
                    .entry(method.sig.ident.to_string())
                    .or_default()
                    .extend(pairs);
            } else {
                kept.push(a);
            }
        }
        method.attrs = kept;
    }

    let mut endpoints = Vec::new();
    let mut checks = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let sig = &method.sig;
        let fn_name = &sig.ident;
        let expected = "expected `async fn name(&self, ctx: &micro::Context, req: Request) -> micro::Result<Response>`";
        if sig.asyncness.is_none() {
            return Err(syn::Error::new(
                sig.fn_token.span(),
                format!("handler method `{fn_name}` must be `async`: {expected}"),
            ));
        }
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new_spanned(
                &sig.generics,
                format!("handler method `{fn_name}` must not be generic"),
            ));
        }
        let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
        match inputs.first() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            Some(other) => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("the first argument of handler method `{fn_name}` must be `&self`"),
                ))
            }
            None => {
                return Err(syn::Error::new_spanned(
                    sig,
                    format!("handler method `{fn_name}` takes no `&self`: {expected}"),
                ))
            }
        }
        if inputs.len() != 3 {
            return Err(syn::Error::new_spanned(
                &sig.inputs,
                format!("handler method `{fn_name}` takes {} argument(s) after `&self`, not 2: {expected}", inputs.len() - 1),
            ));
        }
        let ctx_ty = typed(inputs[1]);
        match ctx_ty {
            Some(Type::Reference(r))
                if r.mutability.is_none() && last_ident(&r.elem).as_deref() == Some("Context") => {}
            _ => {
                return Err(syn::Error::new_spanned(
                    inputs[1],
                    format!(
                    "the second argument of handler method `{fn_name}` must be `&micro::Context`"
                ),
                ))
            }
        }
        let Some(req_ty) = typed(inputs[2]) else {
            return Err(syn::Error::new_spanned(
                inputs[2],
                "expected a typed request argument",
            ));
        };
        if matches!(req_ty, Type::Reference(_)) {
            return Err(syn::Error::new_spanned(
                req_ty,
                format!(
                    "the request of handler method `{fn_name}` is taken by value, not by reference"
                ),
            ));
        }
        let ok_ty = match &sig.output {
            ReturnType::Type(_, ty) if last_ident(ty).as_deref() == Some("Result") => {
                first_type_arg(ty)
            }
            ReturnType::Type(_, ty) => {
                return Err(syn::Error::new_spanned(
                    ty,
                    format!("handler method `{fn_name}` must return `micro::Result<Response>`"),
                ))
            }
            ReturnType::Default => {
                return Err(syn::Error::new_spanned(
                    sig,
                    format!("handler method `{fn_name}` must return `micro::Result<Response>`"),
                ))
            }
        };
        let streams_in = last_ident(req_ty).as_deref() == Some("Streaming");
        let streams_out = match ok_ty {
            Some(Type::ImplTrait(it)) => {
                let bounds: Vec<String> = it
                    .bounds
                    .iter()
                    .map(|b| match b {
                        syn::TypeParamBound::Trait(t) => t
                            .path
                            .segments
                            .last()
                            .map(|s| s.ident.to_string())
                            .unwrap_or_default(),
                        syn::TypeParamBound::Lifetime(l) => format!("'{}", l.ident),
                        _ => String::new(),
                    })
                    .collect();
                if !bounds.iter().any(|b| b == "Stream") {
                    return Err(syn::Error::new_spanned(it, format!("handler method `{fn_name}` returns `impl` of something other than a `Stream`")));
                }
                if !(bounds.iter().any(|b| b == "Send") && bounds.iter().any(|b| b == "'static")) {
                    return Err(syn::Error::new_spanned(
                        it,
                        format!("the reply stream of handler method `{fn_name}` must be `+ Send + 'static`: it outlives the call to the method"),
                    ));
                }
                true
            }
            Some(ty) => matches!(
                last_ident(ty).as_deref(),
                Some("ResponseStream" | "BoxStream")
            ),
            None => false,
        };
        let method_name = fn_name
            .to_string()
            .trim_start_matches("r#")
            .to_upper_camel_case();
        let endpoint = format!("{handler_name}.{method_name}");
        let this = format_ident!("this");
        if !streams_in {
            // Spanned on the request type, so a type that is no message is reported there.
            checks.push(quote::quote_spanned! {req_ty.span()=>
                const _: fn() = || {
                    fn request_must_be_a_micro_message<T: ::micro::codec::Message>() {}
                    request_must_be_a_micro_message::<#req_ty>();
                };
            });
        }
        let constructor = match (streams_in, streams_out) {
            (false, false) => format_ident!("unary"),
            (false, true) => format_ident!("server_stream"),
            (true, false) => format_ident!("client_stream"),
            (true, true) => format_ident!("bidi_stream"),
        };
        let route_metadata: Vec<proc_macro2::TokenStream> = routes
            .get(&fn_name.to_string())
            .map(|pairs| {
                std::iter::once(("endpoint".to_string(), endpoint.clone()))
                    .chain(pairs.iter().cloned())
                    .map(|(k, v)| quote! { .with_metadata(#k, #v) })
                    .collect()
            })
            .unwrap_or_default();
        endpoints.push(quote! {
            {
                let #this = ::std::sync::Arc::clone(&self);
                ::micro::server::Endpoint::#constructor(#endpoint, move |ctx: ::micro::Context, req: #req_ty| {
                    let #this = ::std::sync::Arc::clone(&#this);
                    async move { <#self_ty>::#fn_name(&#this, &ctx, req).await }
                })
                #(#route_metadata)*
            }
        });
    }

    Ok(quote! {
        #item

        #(#checks)*

        impl ::micro::server::Handler for #self_ty {
            fn endpoints(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<::micro::server::Endpoint> {
                ::std::vec![#(#endpoints),*]
            }
        }
    })
}

fn typed(arg: &FnArg) -> Option<&Type> {
    match arg {
        FnArg::Typed(t) => Some(&t.ty),
        FnArg::Receiver(_) => None,
    }
}

/// `#[api(path = "/greeter/{name}", method = "GET,POST", host = "...", handler = "rpc")]`: the
/// go-micro api metadata of an endpoint, for the gateway's declared routes.
fn api_metadata(attr: &syn::Attribute) -> syn::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if !matches!(key.as_str(), "path" | "method" | "host" | "handler") {
            return Err(meta.error("#[api] takes path, method, host and handler"));
        }
        let value: LitStr = meta.value()?.parse()?;
        pairs.push((key, value.value()));
        Ok(())
    })?;
    if !pairs.iter().any(|(k, _)| k == "path") {
        return Err(syn::Error::new_spanned(
            attr,
            "#[api] needs a path, e.g. path = \"/greeter/{name}\"",
        ));
    }
    Ok(pairs)
}

/// `T` of `Result<T>` (or `Result<T, E>`).
fn first_type_arg(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
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
    let result = match &item {
        syn::Item::Fn(f) => expand_subscriber_fn(attr.into(), f),
        syn::Item::Impl(i) => expand_subscriber_impl(attr.into(), i),
        other => Err(syn::Error::new_spanned(
            other,
            "#[micro::subscriber] goes on an `async fn` or an `impl` block",
        )),
    };
    match result {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(quote::ToTokens::into_token_stream(item));
            tokens.into()
        }
    }
}

/// Checks `(ctx: &Context, msg: Msg) -> Result<()>` (after `&self` for methods); returns `Msg`.
fn subscriber_message(sig: &syn::Signature, method: bool) -> syn::Result<&Type> {
    let name = &sig.ident;
    let expected = if method {
        "expected `async fn name(&self, ctx: &micro::Context, msg: Message) -> micro::Result<()>`"
    } else {
        "expected `async fn name(ctx: &micro::Context, msg: Message) -> micro::Result<()>`"
    };
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("subscriber `{name}` must be `async`: {expected}"),
        ));
    }
    let mut inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    if method {
        match inputs.first() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {
                inputs.remove(0);
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &sig.inputs,
                    format!("subscriber method `{name}` must take `&self`: {expected}"),
                ))
            }
        }
    }
    if inputs.len() != 2 {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("subscriber `{name}` takes a context and a message: {expected}"),
        ));
    }
    match typed(inputs[0]) {
        Some(Type::Reference(r)) if last_ident(&r.elem).as_deref() == Some("Context") => {}
        _ => {
            return Err(syn::Error::new_spanned(
                inputs[0],
                format!("the first argument of subscriber `{name}` must be `&micro::Context`"),
            ))
        }
    }
    let msg = typed(inputs[1]).ok_or_else(|| syn::Error::new_spanned(inputs[1], expected))?;
    match &sig.output {
        ReturnType::Type(_, ty) if last_ident(ty).as_deref() == Some("Result") => Ok(msg),
        _ => Err(syn::Error::new_spanned(
            sig,
            format!("subscriber `{name}` must return `micro::Result<()>`"),
        )),
    }
}

fn expand_subscriber_fn(
    attr: proc_macro2::TokenStream,
    f: &syn::ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "#[micro::subscriber] on a function takes no options",
        ));
    }
    let msg = subscriber_message(&f.sig, false)?;
    let fn_name = &f.sig.ident;
    let camel = fn_name
        .to_string()
        .trim_start_matches("r#")
        .to_upper_camel_case();
    let ty = format_ident!("{}", camel);
    let vis = &f.vis;
    let doc = format!("The subscriber made of [`{fn_name}`]: register it with `Service::builder().subscriber(topic, {camel})`.");
    Ok(quote! {
        #f

        #[doc = #doc]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ty;

        impl ::micro::server::Subscriber for #ty {
            fn endpoints(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<::micro::server::SubscriberEndpoint> {
                ::std::vec![::micro::server::SubscriberEndpoint::new(#camel, |ctx: ::micro::Context, msg: #msg| async move {
                    #fn_name(&ctx, msg).await
                })]
            }
        }
    })
}

fn expand_subscriber_impl(
    attr: proc_macro2::TokenStream,
    item: &ItemImpl,
) -> syn::Result<proc_macro2::TokenStream> {
    let mut name_override: Option<LitStr> = None;
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name_override = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown option: #[micro::subscriber] takes only `name = \"...\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    let self_ty = &item.self_ty;
    let type_name = last_ident(self_ty).ok_or_else(|| {
        syn::Error::new_spanned(self_ty, "#[micro::subscriber] needs a named type")
    })?;
    let type_name = name_override.map(|l| l.value()).unwrap_or(type_name);
    let mut endpoints = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let msg = subscriber_message(&method.sig, true)?;
        let fn_name = &method.sig.ident;
        let endpoint = format!(
            "{type_name}.{}",
            fn_name
                .to_string()
                .trim_start_matches("r#")
                .to_upper_camel_case()
        );
        endpoints.push(quote! {
            {
                let this = ::std::sync::Arc::clone(&self);
                ::micro::server::SubscriberEndpoint::new(#endpoint, move |ctx: ::micro::Context, msg: #msg| {
                    let this = ::std::sync::Arc::clone(&this);
                    async move { <#self_ty>::#fn_name(&this, &ctx, msg).await }
                })
            }
        });
    }
    Ok(quote! {
        #item

        impl ::micro::server::Subscriber for #self_ty {
            fn endpoints(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<::micro::server::SubscriberEndpoint> {
                ::std::vec![#(#endpoints),*]
            }
        }
    })
}
