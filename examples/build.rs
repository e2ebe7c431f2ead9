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
