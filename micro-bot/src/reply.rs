//! A reply: the text a command produced and how it is shown.

/// What the bot answers to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The output; empty when there is only an error.
    pub text: String,
    /// Shown as code (a Slack code block) where the input renders one: tables and JSON.
    pub code: bool,
    /// What went wrong, shown after the output as `error executing cmd: ...`.
    pub error: Option<String>,
}

impl Reply {
    /// A line of prose.
    pub fn plain(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            code: false,
            error: None,
        }
    }

    /// Output to show as code.
    pub fn code(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            code: true,
            error: None,
        }
    }

    /// A command that failed.
    pub fn failed(error: impl Into<String>) -> Self {
        Reply {
            text: String::new(),
            code: false,
            error: Some(error.into()),
        }
    }

    /// The error line, as micro v2's bot wrote it.
    pub fn error_line(&self) -> Option<String> {
        self.error
            .as_ref()
            .map(|e| format!("error executing cmd: {e}"))
    }

    /// The reply as plain text (Telegram): the output, then the error line.
    pub fn to_plain_text(&self) -> String {
        let text = self.text.trim_end();
        match (text.is_empty(), self.error_line()) {
            (_, None) => text.to_string(),
            (true, Some(error)) => error,
            (false, Some(error)) => format!("{text}\n{error}"),
        }
    }
}

/// `text` in pieces of at most `max` bytes, cut at line ends where there are any: chat
/// services refuse or truncate longer messages.
pub(crate) fn pieces(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line;
        while current.len() + line.len() > max {
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            // One line longer than a piece: cut it at a character boundary.
            let mut cut = max;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            pieces.push(line[..cut].to_string());
            line = &line[cut..];
        }
        current.push_str(line);
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_line_ends_and_nothing_is_lost() {
        let text = "aaaa\nbbbb\ncccc\n";
        assert_eq!(pieces(text, 10), ["aaaa\nbbbb\n", "cccc\n"]);
        let long = "x".repeat(25);
        let cut = pieces(&long, 10);
        assert_eq!(cut.concat(), long);
        assert!(cut.iter().all(|p| p.len() <= 10));
        assert_eq!(pieces("", 10), [""]);
        assert_eq!(pieces("ééééé", 3).concat(), "ééééé");
    }

    #[test]
    fn errors_read_as_micro_v2_wrote_them() {
        let failed = Reply::failed("service not found");
        assert_eq!(
            failed.to_plain_text(),
            "error executing cmd: service not found"
        );
        let partial = Reply {
            error: Some("1 node(s) of x unhealthy".into()),
            ..Reply::code("x-1  127.0.0.1:1  error: refused\n")
        };
        assert_eq!(
            partial.to_plain_text(),
            "x-1  127.0.0.1:1  error: refused\nerror executing cmd: 1 node(s) of x unhealthy"
        );
    }
}
