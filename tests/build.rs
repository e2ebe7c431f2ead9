//! Compiles the test service's proto with micro-build.
fn main() {
    micro_build::compile(&["proto/test.proto"], &["proto"]).expect("compiling test.proto");
}
