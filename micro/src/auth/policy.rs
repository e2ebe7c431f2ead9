//! [`Policy`]: a verifier and rules, deciding one call; [`AuthSettings`], where they come from.

use super::secret::bearer;
use super::{Access, Account, AuthError, Rules, Token, Verifier, LEEWAY};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Auth settings: `MICRO_AUTH` (`jwt` turns it on), `MICRO_AUTH_PUBLIC_KEY` (a PEM file, or the
/// PEM text), `MICRO_AUTH_RULES` (a JSON file of [`Rules`]), and `MICRO_AUTH_TOKEN`, the token
/// a client sends when its call carries none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    /// `MICRO_AUTH`: `jwt`, or unset (off).
    pub kind: Option<String>,
    /// `MICRO_AUTH_PUBLIC_KEY`: the key tokens are verified with.
    pub public_key: Option<String>,
    /// `MICRO_AUTH_RULES`: the rules file.
    pub rules: Option<PathBuf>,
    /// `MICRO_AUTH_TOKEN`: the client's own token.
    pub token: Option<Token>,
}

/// Verified tokens kept, so a caller's next calls cost a lookup instead of an ECDSA
/// verification; past this many the cache starts over.
const VERIFIED_CACHE: usize = 4096;

/// Decides calls: whose token, and whether the rules let it call the endpoint.
#[derive(Debug)]
pub struct Policy {
    verifier: Verifier,
    rules: Rules,
    verified: Mutex<HashMap<String, Arc<Account>>>,
}

impl Policy {
    /// Tokens checked by `verifier`, calls by `rules`.
    pub fn new(verifier: Verifier, rules: Rules) -> Self {
        Policy {
            verifier,
            rules,
            verified: Mutex::default(),
        }
    }

    /// The policy `settings` describe; `None` when auth is off.
    pub fn from_settings(settings: &AuthSettings) -> Result<Option<Policy>, AuthError> {
        match settings.kind.as_deref().map(str::trim) {
            None | Some("") | Some("none") => return Ok(None),
            Some("jwt") => {}
            Some(other) => {
                return Err(AuthError::Key(format!(
                    "unknown auth {other:?} (MICRO_AUTH): jwt, or none"
                )))
            }
        }
        let key = settings.public_key.as_deref().ok_or_else(|| {
            AuthError::Key(
                "MICRO_AUTH=jwt needs MICRO_AUTH_PUBLIC_KEY: the PEM file of the key tokens are signed for (micro auth keys writes one)".into(),
            )
        })?;
        let rules = match &settings.rules {
            Some(path) => Rules::from_file(path)?,
            None => Rules::new(),
        };
        Ok(Some(Policy::new(Verifier::from_setting(key)?, rules)))
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether `authorization` (the call's `authorization` metadata, `Bearer <token>`) may call
    /// `endpoint` of `service`: the caller's account when it has a valid token, `None` for a
    /// public endpoint called without one.
    pub fn check(
        &self,
        service: &str,
        endpoint: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Arc<Account>>, AuthError> {
        let access = self.rules.access(service, endpoint);
        let token = match authorization {
            None => None,
            Some(value) => Some(bearer(value).ok_or_else(|| {
                AuthError::Malformed("authorization is not of the form Bearer <token>".into())
            })?),
        };
        if access == Access::Public {
            // A public endpoint still learns who calls, when the token is good.
            return Ok(token.and_then(|t| self.verify(t).ok()));
        }
        let token = token.ok_or_else(|| AuthError::Missing {
            endpoint: format!("{endpoint} of {service}"),
        })?;
        let account = self.verify(token)?;
        if let Access::Scopes(needs) = access {
            if !needs.iter().any(|scope| account.has_scope(scope)) {
                return Err(AuthError::Forbidden {
                    endpoint: format!("{endpoint} of {service}"),
                    needs,
                    subject: account.subject.clone(),
                    have: account.scopes.clone(),
                });
            }
        }
        Ok(Some(account))
    }

    /// The account of `token`, verified now or earlier (and not expired since).
    fn verify(&self, token: &str) -> Result<Arc<Account>, AuthError> {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(account) = verified.get(token) {
            if SystemTime::now() < account.expires + LEEWAY {
                return Ok(Arc::clone(account));
            }
            verified.remove(token);
        }
        drop(verified);
        let account = Arc::new(self.verifier.verify(token)?);
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(token.to_string(), Arc::clone(&account));
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Claims, Signer};
    use base64::Engine;
    use std::time::{Duration, UNIX_EPOCH};

    /// A signer and the verifier of its public key.
    fn keys() -> (Signer, Verifier, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public = pair.public_key_pem();
        (
            Signer::from_pem(pair.serialize_pem().as_bytes()).unwrap(),
            Verifier::from_pem(public.as_bytes()).unwrap(),
            public,
        )
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn tokens_verify_with_their_key_only_and_in_es256_only() {
        let (signer, verifier, public) = keys();
        let scopes = vec!["greeter".to_string()];
        let token = signer
            .sign("john", &scopes, Duration::from_secs(60))
            .unwrap();
        let account = verifier.verify(token.expose()).unwrap();
        assert_eq!((account.subject.as_str(), account.scopes), ("john", scopes));

        let (other, _, _) = keys();
        let forged = other.sign("john", &[], Duration::from_secs(60)).unwrap();
        assert_eq!(verifier.verify(forged.expose()), Err(AuthError::Signature));

        let expired = signer
            .sign_claims(&Claims {
                sub: "john".into(),
                scopes: vec![],
                exp: now() - 60,
                iat: now() - 120,
            })
            .unwrap();
        assert_eq!(verifier.verify(expired.expose()), Err(AuthError::Expired));

        // The payload altered: another subject under the same signature.
        let parts: Vec<&str> = token.expose().split('.').collect();
        let payload = format!(
            r#"{{"sub":"admin","scopes":["admin"],"exp":{}}}"#,
            now() + 60
        );
        let altered = format!("{}.{}.{}", parts[0], b64(payload.as_bytes()), parts[2]);
        assert_eq!(verifier.verify(&altered), Err(AuthError::Signature));

        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(
            verifier.verify(&none),
            Err(AuthError::Algorithm("none".into()))
        );

        // HS256 keyed with the public key: the classic confusion, refused on the algorithm.
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &Claims {
                sub: "admin".into(),
                scopes: vec!["admin".into()],
                exp: now() + 60,
                iat: now(),
            },
            &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&hs256),
            Err(AuthError::Algorithm("HS256".into()))
        );
        assert!(matches!(
            verifier.verify("not-a-token"),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn the_policy_answers_401_or_403_and_never_quotes_the_token() {
        let (signer, verifier, _) = keys();
        let rules = Rules::new().rule("greeter", "Greeter.*", Access::scopes(["greeter"]));
        let policy = Policy::new(verifier, rules);
        let other = signer
            .sign("jane", &["billing".into()], Duration::from_secs(60))
            .unwrap();
        let right = signer
            .sign("john", &["greeter".into()], Duration::from_secs(60))
            .unwrap();

        let missing = policy.check("greeter", "Greeter.Hello", None).unwrap_err();
        assert_eq!(missing.code(), 401);
        let forbidden = policy
            .check("greeter", "Greeter.Hello", Some(&other.bearer()))
            .unwrap_err();
        assert_eq!(forbidden.code(), 403);
        assert_eq!(
            forbidden.to_string(),
            "Greeter.Hello of greeter needs scope greeter; the token of jane has scopes billing"
        );
        let malformed = policy
            .check("greeter", "Greeter.Hello", Some(right.expose()))
            .unwrap_err();
        assert!(matches!(malformed, AuthError::Malformed(_)), "{malformed}");
        for error in [missing, forbidden, malformed] {
            assert!(!error.to_string().contains(right.expose()));
            assert!(!error.to_string().contains(other.expose()));
        }

        let account = policy
            .check("greeter", "Greeter.Hello", Some(&right.bearer()))
            .unwrap()
            .unwrap();
        assert_eq!(account.subject, "john");
        // Again, from the cache of verified tokens.
        assert!(policy
            .check("greeter", "Greeter.Hello", Some(&right.bearer()))
            .is_ok());
        assert_eq!(policy.check("greeter", "Debug.Health", None), Ok(None));
        assert!(policy
            .check("billing", "Billing.Pay", Some(&other.bearer()))
            .is_ok());
    }

    #[test]
    fn settings_turn_auth_on_and_say_what_is_missing() {
        assert!(Policy::from_settings(&AuthSettings::default())
            .unwrap()
            .is_none());
        let no_key = AuthSettings {
            kind: Some("jwt".into()),
            ..Default::default()
        };
        let err = Policy::from_settings(&no_key).unwrap_err();
        assert!(err.to_string().contains("MICRO_AUTH_PUBLIC_KEY"), "{err}");
        let (_, _, public) = keys();
        let with_key = AuthSettings {
            public_key: Some(public),
            ..no_key
        };
        assert!(Policy::from_settings(&with_key).unwrap().is_some());
    }
}
