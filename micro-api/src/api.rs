//! The api handler: the whole HTTP request as a `go.api.Request` ([`micro::api::Request`]), and
//! the service's `go.api.Response` as the HTTP response.

use crate::gateway::{call_options, check_endpoint, content_type, read_body, Gateway, API_ID};
use crate::{query, resolve};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use micro::api::Pair;
use micro::Error;
use std::collections::HashMap;

/// Repeated keys gathered into go-micro's `Pair`s, one per key.
fn pairs<'a>(items: impl Iterator<Item = (&'a str, String)>) -> HashMap<String, Pair> {
    let mut map: HashMap<String, Pair> = HashMap::new();
    for (k, v) in items {
        map.entry(k.to_string())
            .or_insert_with(|| Pair {
                key: k.to_string(),
                values: Vec::new(),
            })
            .values
            .push(v);
    }
    map
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (query::decode_query(k), query::decode_query(v))
        })
        .collect()
}

/// The api handler: the HTTP request as a `go.api.Request`, the service's `go.api.Response` as
/// the HTTP response.
pub(crate) async fn api(
    gw: &Gateway,
    request: Request,
    target: Option<resolve::Route>,
) -> Result<Response, Error> {
    let path = request.uri().path().to_string();
    let route = match target {
        Some(r) => r,
        None => resolve::rpc_route(&path, &gw.options.namespace)
            .ok_or_else(|| Error::not_found(API_ID, "no service in the path"))?,
    };
    check_endpoint(
        &gw.options,
        request.headers(),
        &route.service,
        &route.endpoint,
    )?;
    let method = request.method().to_string();
    let url = request.uri().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let (parts, body) = read_body(request, &gw.options).await?;
    let headers = pairs(
        parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?.to_string()))),
    );
    let get_pairs = form_pairs(&query);
    let get = pairs(get_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let is_form = content_type(&parts.headers).starts_with("application/x-www-form-urlencoded");
    let post_pairs = if is_form {
        form_pairs(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let post = pairs(post_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let api_request = micro::api::Request {
        method,
        path,
        header: headers,
        get,
        post,
        body: String::from_utf8_lossy(&body).into_owned(),
        url,
    };
    let reply: micro::api::Response = gw
        .client
        .call(
            &route.service,
            &route.endpoint,
            &api_request,
            call_options(&parts.headers),
        )
        .await?;
    let status = u16::try_from(reply.status_code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|_| reply.status_code != 0)
        .unwrap_or(StatusCode::OK);
    let mut response = (status, reply.body).into_response();
    for pair in reply.header.values() {
        for value in &pair.values {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::try_from(pair.key.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().append(k, v);
            }
        }
    }
    Ok(response)
}
