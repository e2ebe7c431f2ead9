//! Compiles micro's own protos (go.api, go.micro.debug, grpc.health.v1) with micro-build.
fn main() {
    micro_build::compile(
        &[
            "../proto/debug/debug.proto",
            "../proto/grpc/health/v1/health.proto",
            "../proto/api/api.proto",
        ],
        &["../proto"],
    )
    .expect("compiling micro's own protos");
}
