//! The record in TXT data: JSON, zlib, base64, cut in strings keyed `0`, `1`, ... (one TXT
//! string holds at most 255 bytes); and the DNS-SD instance name of a node.

use crate::registry::{RegistryError, Service};
use base64::Engine as _;
use std::collections::HashMap;
use std::io::{Read, Write};

/// Bytes of encoded record per TXT string (key and `=` take the rest of 255).
const CHUNK: usize = 240;
/// Largest record accepted from the network, decompressed.
const MAX_RECORD: u64 = 1 << 20;

fn backend(e: impl std::fmt::Display) -> RegistryError {
    super::backend(e)
}

/// The record as TXT chunks: JSON, zlib, base64, cut in pieces keyed by index.
pub(super) fn encode(service: &Service) -> Result<HashMap<String, String>, RegistryError> {
    let json = serde_json::to_vec(service).map_err(backend)?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&json).map_err(backend)?;
    let text =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(z.finish().map_err(backend)?);
    Ok(text
        .as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| (i.to_string(), String::from_utf8_lossy(c).into_owned()))
        .collect())
}

/// The record in TXT strings keyed by index, as a node announces it over mDNS: base64 of zlib of
/// the JSON record, decompressed to at most 1 MiB.
pub fn decode(mut chunks: Vec<(usize, String)>) -> Result<Service, RegistryError> {
    if chunks.is_empty() {
        return Err(backend("no record in TXT"));
    }
    chunks.sort_by_key(|(i, _)| *i);
    let text: String = chunks.into_iter().map(|(_, c)| c).collect();
    let compressed = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.as_bytes())
        .map_err(backend)?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_RECORD)
        .read_to_end(&mut json)
        .map_err(backend)?;
    serde_json::from_slice(&json).map_err(backend)
}

/// The DNS-SD instance name of a node: its id without the service name (labels are at most 63
/// bytes), which is the uuid for nodes micro registers.
pub(super) fn instance_name(service: &str, node_id: &str) -> String {
    let short = node_id
        .strip_prefix(service)
        .map(|s| s.trim_start_matches('-'))
        .unwrap_or(node_id);
    let short: String = short
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    short.chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Endpoint, Node};

    #[test]
    fn large_records_round_trip_through_txt_chunks() {
        let service = Service {
            name: "go.micro.srv.big".into(),
            version: "latest".into(),
            endpoints: (0..50)
                .map(|i| Endpoint {
                    name: format!("Big.Method{i}"),
                    ..Default::default()
                })
                .collect(),
            nodes: vec![Node {
                id: "n".into(),
                address: "127.0.0.1:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let chunks = encode(&service).unwrap();
        assert!(
            chunks.len() > 1,
            "50 endpoints need more than one TXT string"
        );
        assert!(chunks.iter().all(|(k, v)| k.len() + 1 + v.len() <= 255));
        let back = decode(
            chunks
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap(), v))
                .collect(),
        )
        .unwrap();
        assert_eq!(back, service);
    }

    #[test]
    fn instance_names_fit_a_dns_label() {
        assert_eq!(
            instance_name("go.micro.srv.greeter", "go.micro.srv.greeter-1234"),
            "1234"
        );
        assert!(instance_name("x", &"y".repeat(100)).len() <= 63);
    }
}
