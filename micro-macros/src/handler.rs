//! `#[micro::handler]`: the methods of an `impl` block become the endpoints of a handler, each a
//! unary call or a stream by its request and reply types, with the HTTP routes `#[api]` declares.

use crate::signature::{
    camel_case, first_type_arg, is_context, is_ref_self, last_ident, name_option, require_async,
    type_name, typed,
};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, LitStr, ReturnType, Type};

const ATTRIBUTE: &str = "#[micro::handler]";

/// `impl Type { async fn ... }` into the block as written plus `impl micro::server::Handler`.
pub(crate) fn expand(
    attr: proc_macro2::TokenStream,
    mut item: ItemImpl,
) -> syn::Result<proc_macro2::TokenStream> {
    let name = name_option(attr, ATTRIBUTE)?;
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
    let handler_name = type_name(&self_ty, name, ATTRIBUTE)?;

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
        require_async(
            sig,
            &format!("handler method `{fn_name}` must be `async`: {expected}"),
        )?;
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new_spanned(
                &sig.generics,
                format!("handler method `{fn_name}` must not be generic"),
            ));
        }
        let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
        match inputs.first() {
            first if is_ref_self(first) => {}
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
        if !is_context(inputs[1]) {
            return Err(syn::Error::new_spanned(
                inputs[1],
                format!(
                    "the second argument of handler method `{fn_name}` must be `&micro::Context`"
                ),
            ));
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
        let endpoint = format!("{handler_name}.{}", camel_case(fn_name));
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
                ::micro::server::HandlerEndpoint::#constructor(#endpoint, move |ctx: ::micro::Context, req: #req_ty| {
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
            fn endpoints(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<::micro::server::HandlerEndpoint> {
                ::std::vec![#(#endpoints),*]
            }
        }
    })
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
