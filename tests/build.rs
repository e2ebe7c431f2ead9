fn main() {
    micro_build::compile(&["proto/test.proto"], &["proto"]).expect("compiling test.proto");
}
