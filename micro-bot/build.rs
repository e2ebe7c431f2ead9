//! Compiles the bot's `Command` service (micro v2's `proto/bot/command.proto`) with micro-build.
fn main() {
    micro_build::compile(&["../proto/bot/command.proto"], &["../proto"])
        .expect("compiling the bot's command proto");
}
