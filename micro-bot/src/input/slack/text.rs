//! Slack's text, both ways: what a person typed, from the text Slack delivers (links unwrapped,
//! the bot's mention dropped, HTML entities and phone quotes undone); and text to send, with
//! the three characters Slack wants escaped.

/// What the person typed, from an event's `text`, without the mention of the bot `me`.
pub(crate) fn typed(raw: &str, me: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        out.push_str(&unwrap(&after[..close], me));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let out = unescape(&out);
    out.chars()
        .map(|c| match c {
            // What phones type for straight quotes, and their spaces.
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => '"',
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => '\'',
            '\u{00a0}' | '\u{2007}' | '\u{202f}' => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// One `<...>` of Slack's markup: a link becomes its label (or its address), the bot's own
/// mention disappears, other mentions stay as Slack wrote them.
fn unwrap(inner: &str, me: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if target.strip_prefix('@') == Some(me) {
        return String::new();
    }
    if target.starts_with(['@', '#', '!']) {
        return format!("<{inner}>");
    }
    label.unwrap_or(target).to_string()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `text` as Slack wants it sent: `&`, `<` and `>` escaped, nothing else.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_typed_comes_back() {
        assert_eq!(
            typed(
                "<@UBOT> call go.micro.srv.greeter Greeter.Call {\u{201c}name\u{201d}: \u{201c}John\u{201d}}",
                "UBOT"
            ),
            "call go.micro.srv.greeter Greeter.Call {\"name\": \"John\"}"
        );
        assert_eq!(
            typed("echo &lt;b&gt; &amp;amp; it\u{2019}s", "UBOT"),
            "echo <b> &amp; it's"
        );
        assert_eq!(
            typed(
                "get service <http://go.micro.srv.greeter|go.micro.srv.greeter>",
                "UBOT"
            ),
            "get service go.micro.srv.greeter"
        );
        assert_eq!(
            typed("open <https://example.com>", "UBOT"),
            "open https://example.com"
        );
        assert_eq!(typed("echo hi <@UOTHER>", "UBOT"), "echo hi <@UOTHER>");
        assert_eq!(typed("echo a < b", "UBOT"), "echo a < b");
    }

    #[test]
    fn sent_text_escapes_only_what_slack_reads_as_markup() {
        assert_eq!(escape("a <b> & \"c\""), "a &lt;b&gt; &amp; \"c\"");
    }
}
