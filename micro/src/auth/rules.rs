//! [`Rules`]: which endpoints are public, which need a token, and which need a scope.

use super::AuthError;
use serde::Deserialize;
use std::path::Path;

/// What calling an endpoint takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without a token.
    Public,
    /// A valid token, whatever its scopes.
    Account,
    /// A valid token with at least one of these scopes.
    Scopes(Vec<String>),
}

impl Access {
    /// A valid token with at least one of `scopes`.
    pub fn scopes<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Access::Scopes(scopes.into_iter().map(Into::into).collect())
    }
}

/// A name to match: any, a prefix (`Greeter.*`), or exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Prefix(String),
    Exact(String),
}

impl Pattern {
    fn new(text: &str) -> Self {
        match text.trim() {
            "" | "*" => Pattern::Any,
            t => match t.strip_suffix('*') {
                Some(prefix) => Pattern::Prefix(prefix.to_string()),
                None => Pattern::Exact(t.to_string()),
            },
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Pattern::Exact(exact) => name == exact,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    service: Pattern,
    endpoint: Pattern,
    access: Access,
}

/// The endpoints public unless a rule says otherwise: the health checks (micro's own and
/// gRPC's `grpc.health.v1.Health/Check`), so that a load balancer needs no token.
const PUBLIC_BY_DEFAULT: [&str; 2] = ["Debug.Health", "Health.Check"];

/// Rules in order; the first whose service and endpoint patterns match decides. An endpoint no
/// rule matches needs a valid token ([`Access::Account`]), except the health checks, which are
/// public.
///
/// As JSON (`MICRO_AUTH_RULES` names such a file), a list of rules, each with `service` and
/// `endpoint` patterns (`*`, a prefix ending in `*`, or a name; both default to `*`) and either
/// `"scopes": [...]` or `"public": true` (neither: a valid token of any scope):
///
/// ```json
/// [
///   {"service": "go.micro.srv.greeter", "endpoint": "Greeter.*", "scopes": ["greeter"]},
///   {"service": "*", "endpoint": "Debug.Stats", "scopes": ["admin"]},
///   {"service": "go.micro.srv.docs", "public": true}
/// ]
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    #[serde(default)]
    service: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    public: bool,
}

impl Rules {
    /// No rules: every endpoint but the health checks needs a valid token.
    pub fn new() -> Self {
        Rules::default()
    }

    /// With one more rule, after those before it.
    pub fn rule(mut self, service: &str, endpoint: &str, access: Access) -> Self {
        self.rules.push(Rule {
            service: Pattern::new(service),
            endpoint: Pattern::new(endpoint),
            access,
        });
        self
    }

    /// Rules from their JSON text.
    pub fn from_json(text: &str) -> Result<Self, AuthError> {
        let list: Vec<RuleText> = serde_json::from_str(text).map_err(|e| {
            AuthError::Rules(format!(
                "{e}: expected a list of {{\"service\", \"endpoint\", \"scopes\": [...] or \"public\": true}}"
            ))
        })?;
        list.into_iter()
            .enumerate()
            .try_fold(Rules::new(), |rules, (i, rule)| {
                let access = match (rule.public, rule.scopes.is_empty()) {
                    (true, false) => {
                        return Err(AuthError::Rules(format!(
                            "rule {}: public or scopes, not both",
                            i + 1
                        )))
                    }
                    (true, true) => Access::Public,
                    (false, true) => Access::Account,
                    (false, false) => Access::Scopes(rule.scopes),
                };
                Ok(rules.rule(&rule.service, &rule.endpoint, access))
            })
    }

    /// Rules from the JSON file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Rules(format!("reading {}: {e}", path.display())))?;
        Rules::from_json(&text).map_err(|e| match e {
            AuthError::Rules(why) => AuthError::Rules(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// What calling `endpoint` of `service` takes.
    pub fn access(&self, service: &str, endpoint: &str) -> Access {
        let rule = self
            .rules
            .iter()
            .find(|r| r.service.matches(service) && r.endpoint.matches(endpoint));
        match rule {
            Some(rule) => rule.access.clone(),
            None if PUBLIC_BY_DEFAULT.contains(&endpoint) => Access::Public,
            None => Access::Account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_and_the_defaults_are_secure() {
        let rules = Rules::from_json(
            r#"[
                {"service": "greeter", "endpoint": "Greeter.Hello", "public": true},
                {"service": "greeter", "endpoint": "Greeter.*", "scopes": ["greet", "admin"]},
                {"endpoint": "Debug.*", "scopes": ["admin"]},
                {"service": "open*"}
            ]"#,
        )
        .unwrap();
        assert_eq!(rules.access("greeter", "Greeter.Hello"), Access::Public);
        assert_eq!(
            rules.access("greeter", "Greeter.Bye"),
            Access::scopes(["greet", "admin"])
        );
        assert_eq!(
            rules.access("greeter", "Debug.Health"),
            Access::scopes(["admin"])
        );
        assert_eq!(rules.access("openapi", "Any.Thing"), Access::Account);
        assert_eq!(rules.access("other", "Other.Call"), Access::Account);
        assert_eq!(rules.access("other", "Health.Check"), Access::Public);
        assert_eq!(Rules::new().access("x", "Debug.Stats"), Access::Account);
    }

    #[test]
    fn bad_rules_say_why() {
        let both = Rules::from_json(r#"[{"public": true, "scopes": ["a"]}]"#).unwrap_err();
        assert_eq!(
            both.to_string(),
            "auth rules: rule 1: public or scopes, not both"
        );
        let unknown = Rules::from_json(r#"[{"scope": "a"}]"#).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `scope`"),
            "{unknown}"
        );
    }
}
