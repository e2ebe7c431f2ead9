//! volo-grpc code for the greeter proto, the same file micro and raw tonic are built from.
fn main() {
    volo_build::Builder::protobuf()
        .add_service("../../proto/greeter/greeter.proto")
        .include_dirs(vec!["../../proto".into()])
        .filename("greeter.rs".into())
        .write()
        .expect("generating volo code");
    println!("cargo:rerun-if-changed=../../proto/greeter/greeter.proto");
}
