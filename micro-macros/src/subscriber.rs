//! `#[micro::subscriber]`: an `async fn` or the methods of an `impl` block become subscribers,
//! each taking the context and one decoded message.

use crate::signature::{
    camel_case, is_context, is_ref_self, last_ident, name_option, require_async, type_name, typed,
};
use quote::{format_ident, quote};
use syn::{FnArg, ImplItem, ItemImpl, ReturnType, Type};

const ATTRIBUTE: &str = "#[micro::subscriber]";

/// Checks `(ctx: &Context, msg: Msg) -> Result<()>` (after `&self` for methods); returns `Msg`.
fn message_type(sig: &syn::Signature, method: bool) -> syn::Result<&Type> {
    let name = &sig.ident;
    let expected = if method {
        "expected `async fn name(&self, ctx: &micro::Context, msg: Message) -> micro::Result<()>`"
    } else {
        "expected `async fn name(ctx: &micro::Context, msg: Message) -> micro::Result<()>`"
    };
    require_async(
        sig,
        &format!("subscriber `{name}` must be `async`: {expected}"),
    )?;
    let mut inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    if method {
        if !is_ref_self(inputs.first()) {
            return Err(syn::Error::new_spanned(
                &sig.inputs,
                format!("subscriber method `{name}` must take `&self`: {expected}"),
            ));
        }
        inputs.remove(0);
    }
    if inputs.len() != 2 {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("subscriber `{name}` takes a context and a message: {expected}"),
        ));
    }
    if !is_context(inputs[0]) {
        return Err(syn::Error::new_spanned(
            inputs[0],
            format!("the first argument of subscriber `{name}` must be `&micro::Context`"),
        ));
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

/// `async fn func(ctx, msg)` into the function plus a unit struct `Func` that subscribes with it.
pub(crate) fn expand_fn(
    attr: proc_macro2::TokenStream,
    f: &syn::ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "#[micro::subscriber] on a function takes no options",
        ));
    }
    let msg = message_type(&f.sig, false)?;
    let fn_name = &f.sig.ident;
    let camel = camel_case(fn_name);
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

/// `impl Type { async fn ... }` into the block as written plus `impl micro::server::Subscriber`.
pub(crate) fn expand_impl(
    attr: proc_macro2::TokenStream,
    item: &ItemImpl,
) -> syn::Result<proc_macro2::TokenStream> {
    let name = name_option(attr, ATTRIBUTE)?;
    let self_ty = &item.self_ty;
    let type_name = type_name(self_ty, name, ATTRIBUTE)?;
    let mut endpoints = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let msg = message_type(&method.sig, true)?;
        let fn_name = &method.sig.ident;
        let endpoint = format!("{type_name}.{}", camel_case(fn_name));
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
