//! The command table: the built-ins and the commands that are services. A typed line becomes
//! one of them.

pub(crate) mod builtin;
pub(crate) mod services;

pub(crate) use builtin::Builtin;
pub(crate) use services::ServiceCommands;

/// A typed line, split into words on white space (as micro v2 split it), keeping where each
/// word starts so that a JSON argument can be taken as typed, spaces and all.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    text: &'a str,
    words: Vec<(usize, &'a str)>,
}

impl<'a> Line<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    words.push((s, &text[s..i]));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push((s, &text[s..]));
        }
        Line { text, words }
    }

    /// The `i`th word.
    pub(crate) fn word(&self, i: usize) -> Option<&'a str> {
        self.words.get(i).map(|(_, w)| *w)
    }

    /// Every word.
    pub(crate) fn words(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.words.iter().map(|(_, w)| *w)
    }

    /// How many words.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// Everything from word `i` on, as typed; `None` when there is no such word.
    pub(crate) fn rest(&self, i: usize) -> Option<&'a str> {
        self.words
            .get(i)
            .map(|(start, _)| self.text[*start..].trim_end())
    }

    /// The command word, lower case: phones capitalise the first letter.
    pub(crate) fn command(&self) -> Option<String> {
        self.word(0).map(str::to_lowercase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_the_rest_as_typed() {
        let line = Line::new("call  go.micro.srv.greeter Greeter.Call {\"name\": \"John\"} ");
        assert_eq!(line.len(), 5);
        assert_eq!(line.word(1), Some("go.micro.srv.greeter"));
        assert_eq!(line.rest(3), Some("{\"name\": \"John\"}"));
        assert_eq!(line.rest(5), None);
        assert_eq!(Line::new("  ").len(), 0);
        assert_eq!(Line::new("Ping").command().as_deref(), Some("ping"));
    }
}
