//! What `#[micro::handler]` and `#[micro::subscriber]` both read: the `name = "..."` option, the
//! type an `impl` block is for, and the parts of a method's signature.

use heck::ToUpperCamelCase;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, Type};

/// Expands `item` with `expand`; on an error emits the error and keeps the item as written, so
/// the only error the user sees is ours and not a cascade of missing items.
pub(crate) fn expand_or_keep<T: quote::ToTokens>(
    item: &T,
    expanded: syn::Result<proc_macro2::TokenStream>,
) -> proc_macro::TokenStream {
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(quote! { #item });
            tokens.into()
        }
    }
}

/// The attribute's one option, `name = "..."`; `attribute` names the macro in the error.
pub(crate) fn name_option(
    attr: proc_macro2::TokenStream,
    attribute: &str,
) -> syn::Result<Option<String>> {
    let mut name: Option<LitStr> = None;
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown option: {attribute} takes only `name = \"...\"`"
                )))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    Ok(name.map(|l| l.value()))
}

/// The name endpoints are prefixed with: the `name` option, or the type's own name.
pub(crate) fn type_name(
    self_ty: &Type,
    name: Option<String>,
    attribute: &str,
) -> syn::Result<String> {
    match name {
        Some(name) => Ok(name),
        None => last_ident(self_ty).ok_or_else(|| {
            syn::Error::new_spanned(self_ty, format!("{attribute} needs a named type"))
        }),
    }
}

/// A method's part of its endpoint name: `ping_pong` becomes `PingPong`.
pub(crate) fn camel_case(ident: &syn::Ident) -> String {
    ident
        .to_string()
        .trim_start_matches("r#")
        .to_upper_camel_case()
}

/// Fails unless `sig` is `async`.
pub(crate) fn require_async(sig: &syn::Signature, what: &str) -> syn::Result<()> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(sig.fn_token.span(), what));
    }
    Ok(())
}

/// Whether an argument is `&self` (not `&mut self`, not `self`).
pub(crate) fn is_ref_self(arg: Option<&&FnArg>) -> bool {
    matches!(arg, Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none())
}

/// Whether an argument is `&Context` (any path ending in `Context`).
pub(crate) fn is_context(arg: &FnArg) -> bool {
    matches!(typed(arg), Some(Type::Reference(r))
        if r.mutability.is_none() && last_ident(&r.elem).as_deref() == Some("Context"))
}

/// The type of a typed argument; `None` for `self`.
pub(crate) fn typed(arg: &FnArg) -> Option<&Type> {
    match arg {
        FnArg::Typed(t) => Some(&t.ty),
        FnArg::Receiver(_) => None,
    }
}

/// `T` of `Result<T>` (or `Result<T, E>`).
pub(crate) fn first_type_arg(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The last segment of a type's path: `Context` of `micro::Context`.
pub(crate) fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
