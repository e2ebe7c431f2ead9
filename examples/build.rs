//! Compiles the examples' protos with micro-build.
fn main() {
    micro_build::compile(
        &[
            "../proto/greeter/greeter.proto",
            "../proto/pubsub/pubsub.proto",
        ],
        &["../proto"],
    )
    .expect("compiling the example protos");
}
