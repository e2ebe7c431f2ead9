//! Raw tonic code for the greeter proto: the baseline the benches compare micro against.
fn main() {
    let fds = protox::compile(["../proto/greeter/greeter.proto"], ["../proto"])
        .expect("parsing greeter.proto");
    tonic_prost_build::configure()
        .compile_fds(fds)
        .expect("generating tonic code");
    println!("cargo:rerun-if-changed=../proto/greeter/greeter.proto");
}
