fn main() {
    micro_build::compile(&["../proto/greeter/greeter.proto"], &["../proto"])
        .expect("compiling greeter.proto");
}
