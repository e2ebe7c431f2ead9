//! `#[micro::handler]`: signatures it accepts, and the errors it gives for those it does not.

#[test]
fn handler_macro() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
