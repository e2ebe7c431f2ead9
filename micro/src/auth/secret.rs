//! [`Token`]: a bearer token, kept out of `Debug` output and logs.

use std::fmt;

/// A signed token as it travels (`eyJ...`). Its `Debug` shows only that it is there, so a
/// struct holding one can be logged; [`expose`](Self::expose) gives the text itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// The token `text`, without a `Bearer ` prefix (one given is taken off) or surrounding
    /// white space.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let trimmed = text.trim();
        let bare = bearer(trimmed).unwrap_or(trimmed);
        Token(bare.to_string())
    }

    /// The token's text, to send or verify.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Bearer <token>`: the value of the `authorization` metadata.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The token in an `authorization` value of the form `Bearer <token>` (the scheme in any case).
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::new("Bearer abc.def.ghi");
        assert_eq!(token.expose(), "abc.def.ghi");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert_eq!(token.bearer(), "Bearer abc.def.ghi");
        assert_eq!(bearer("bearer x"), Some("x"));
        assert_eq!(bearer("Basic x"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
