//! A registry record as read from etcd (go-micro's JSON): anything decodes or is refused, and
//! what decodes survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micro::registry::Service;

fuzz_target!(|data: &[u8]| {
    let Ok(service) = serde_json::from_slice::<Service>(data) else {
        return;
    };
    let again = serde_json::to_vec(&service).expect("a record encodes");
    let back: Service = serde_json::from_slice(&again).expect("an encoded record decodes");
    assert_eq!(back, service);
});
