//! A node's record from mDNS TXT strings, as any host on the network may announce them: the
//! first byte says how many strings, the rest is cut among them; anything decodes or is
//! refused, within the 1 MiB bound, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 8) + 1;
    let text = String::from_utf8_lossy(rest);
    let size = text.len().div_ceil(count).max(1);
    let chunks: Vec<(usize, String)> = text
        .as_bytes()
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (count - i, String::from_utf8_lossy(c).into_owned()))
        .collect();
    let _ = micro::registry::decode_txt(chunks);
});
