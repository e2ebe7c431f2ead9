//! Encode and decode the greeter's messages in protobuf and JSON.

use criterion::{criterion_group, criterion_main, Criterion};
use examples::greeter::proto::Request;
use micro::codec::Codec;
use std::hint::black_box;

fn codecs(c: &mut Criterion) {
    let request = Request {
        name: "John".repeat(8),
    };
    for codec in [Codec::Proto, Codec::Json] {
        let encoded = codec.encode(&request).unwrap();
        c.bench_function(&format!("{codec:?}/encode"), |b| {
            b.iter(|| codec.encode(black_box(&request)).unwrap())
        });
        c.bench_function(&format!("{codec:?}/decode"), |b| {
            b.iter(|| codec.decode::<Request>(black_box(&encoded)).unwrap())
        });
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
