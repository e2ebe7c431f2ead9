//! One-shot lookups (RFC 6762 §6.7, legacy unicast): a query sent from a port other than 5353
//! is answered by every responder at once, by unicast to that port, outside the once-a-second
//! multicast rate limit. Answers stop when none has come for a short quiet period, so a fresh
//! process (the CLI) sees every node without waiting out a fixed settle time.

use super::{txt, SERVICE_TYPE};
use crate::registry::{RegistryError, Service};
use simple_dns::rdata::{RData, PTR};
use simple_dns::{Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, QCLASS, QTYPE, TYPE};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::time::Instant;

const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
/// No new answer for this long (after the query or the last answer): the round is over.
/// Loopback answers come within a few milliseconds.
const QUIET: Duration = Duration::from_millis(50);
/// The longest a lookup takes, however many answers keep coming.
const LIMIT: Duration = Duration::from_secs(2);
/// Rounds at most. Each round after the first lists what we know (known-answer suppression,
/// RFC 6762 §7.1), so only responders we missed (a lost or late datagram) answer it; a round
/// that brings nothing new ends the lookup.
const ROUNDS: usize = 4;
/// The TTL our known answers carry: RFC 6762's 75 minutes for PTR records, so that responders
/// treat them as fresh and stay quiet.
const KNOWN_ANSWER_TTL: u32 = 4500;
/// Largest datagram read; mDNS answers fit 9000 bytes.
const DATAGRAM: usize = 65_536;

fn backend(e: impl std::fmt::Display) -> RegistryError {
    super::backend(format!("one-shot query: {e}"))
}

/// Every micro instance answering on the interface with address `interface`: DNS-SD full name
/// (as mdns-sd spells it, with the final dot) -> the record it carries.
pub(super) async fn instances(
    interface: Ipv4Addr,
) -> Result<BTreeMap<String, Service>, RegistryError> {
    let socket = socket(interface)?;
    let id: u16 = rand::random();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut found: BTreeMap<String, Service> = BTreeMap::new();
    let deadline = Instant::now() + LIMIT;
    let mut buf = vec![0u8; DATAGRAM];
    for round in 1..=ROUNDS {
        let before = (named.len(), found.len());
        let query = query(id, &named, &found)?;
        socket.send_to(&query, GROUP).await.map_err(backend)?;
        loop {
            let wait = QUIET.min(deadline.saturating_duration_since(Instant::now()));
            let Ok(received) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await else {
                break;
            };
            let (len, _) = received.map_err(backend)?;
            read_answer(&buf[..len], id, &mut named, &mut found);
        }
        let new = (named.len(), found.len()) != before;
        let complete = named.iter().all(|n| found.contains_key(n));
        // An empty first round may be a lost query: one more before saying there is nothing.
        let settled = !new && complete && (round > 1 || !named.is_empty());
        if settled || Instant::now() >= deadline {
            break;
        }
    }
    Ok(found)
}

/// A UDP socket on an ephemeral port of `interface` whose multicast goes out there alone.
fn socket(interface: Ipv4Addr) -> Result<tokio::net::UdpSocket, RegistryError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(backend)?;
    socket.set_multicast_if_v4(&interface).map_err(backend)?;
    socket.set_multicast_loop_v4(true).map_err(backend)?;
    socket.set_multicast_ttl_v4(255).map_err(backend)?;
    socket.set_nonblocking(true).map_err(backend)?;
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(interface, 0)).into())
        .map_err(backend)?;
    tokio::net::UdpSocket::from_std(socket.into()).map_err(backend)
}

/// A query for every instance of micro's service type, listing the instances already `found`
/// as known answers, and asking for the TXT record of each instance `named` without one.
fn query(
    id: u16,
    named: &BTreeSet<String>,
    found: &BTreeMap<String, Service>,
) -> Result<Vec<u8>, RegistryError> {
    let service_type = Name::new(SERVICE_TYPE.trim_end_matches('.')).map_err(backend)?;
    let mut packet = Packet::new_query(id);
    packet.questions.push(Question::new(
        service_type.clone(),
        QTYPE::TYPE(TYPE::PTR),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    for instance in found.keys() {
        let name = Name::new(instance.trim_end_matches('.')).map_err(backend)?;
        packet.answers.push(ResourceRecord::new(
            service_type.clone(),
            CLASS::IN,
            KNOWN_ANSWER_TTL,
            RData::PTR(PTR(name)),
        ));
    }
    for instance in named.iter().filter(|n| !found.contains_key(*n)) {
        let name = Name::new(instance.trim_end_matches('.')).map_err(backend)?;
        packet.questions.push(Question::new(
            name,
            QTYPE::TYPE(TYPE::TXT),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
    }
    packet.build_bytes_vec_compressed().map_err(backend)
}

/// Reads one answer to query `id`: the instances its PTR records name, and the records their
/// TXT records carry. Anything else (another query, a stranger's packet) is ignored.
fn read_answer(
    datagram: &[u8],
    id: u16,
    named: &mut BTreeSet<String>,
    found: &mut BTreeMap<String, Service>,
) {
    let Ok(packet) = Packet::parse(datagram) else {
        return;
    };
    if packet.id() != id || !packet.has_flags(PacketFlag::RESPONSE) {
        return;
    }
    let service_type = SERVICE_TYPE.trim_end_matches('.');
    for record in packet.answers.iter().chain(&packet.additional_records) {
        match &record.rdata {
            RData::PTR(ptr) if record.name.to_string().eq_ignore_ascii_case(service_type) => {
                named.insert(format!("{}.", ptr.0));
            }
            RData::TXT(text) if record.name.to_string().ends_with(service_type) => {
                let chunks: Vec<(usize, String)> = text
                    .attributes()
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v?)))
                    .collect();
                let fullname = format!("{}.", record.name);
                match txt::decode(chunks) {
                    Ok(service) => {
                        found.insert(fullname, service);
                    }
                    Err(e) => {
                        tracing::debug!(instance = %fullname, error = %e, "not a micro record")
                    }
                }
            }
            _ => {}
        }
    }
}
