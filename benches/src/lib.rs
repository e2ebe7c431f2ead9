//! Benchmarks of micro. `cargo bench -p micro-benches` runs them:
//!
//! - `codec`: protobuf and JSON encode/decode of the greeter's messages;
//! - `call`: one call round trip, client to server over loopback, in one process.
