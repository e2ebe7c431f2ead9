//! Tokens: JWTs signed with ES256 ([`Signer`]), verified with the public key alone
//! ([`Verifier`]), on jsonwebtoken (its ring backend, the crypto rustls here uses).

use super::{Account, AuthError, Token, LEEWAY};
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The one algorithm tokens are signed and verified with.
pub const ALGORITHM: &str = "ES256";

/// What a token says (RFC 7519 claim names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: who the token is for.
    pub sub: String,
    /// The scopes it grants.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// When it was issued, in seconds since the Unix epoch.
    #[serde(default)]
    pub iat: u64,
}

/// Mints tokens with a private key (PKCS#8 PEM, as `micro auth keys` writes it).
pub struct Signer {
    key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(ES256)")
    }
}

impl Signer {
    /// A signer with the P-256 private key in `pem` (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, AuthError> {
        let key = EncodingKey::from_ec_pem(pem).map_err(|_| {
            AuthError::Key(
                "not a P-256 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)".into(),
            )
        })?;
        Ok(Signer { key })
    }

    /// A signer with the private key in the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        Signer::from_pem(&read(path)?)
    }

    /// A token for `subject` with `scopes`, valid for `valid_for` from now.
    pub fn sign(
        &self,
        subject: &str,
        scopes: &[String],
        valid_for: Duration,
    ) -> Result<Token, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.sign_claims(&Claims {
            sub: subject.to_string(),
            scopes: scopes.to_vec(),
            exp: now.saturating_add(valid_for.as_secs()),
            iat: now,
        })
    }

    /// A token saying exactly `claims`.
    pub fn sign_claims(&self, claims: &Claims) -> Result<Token, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &self.key)
            .map(Token::new)
            .map_err(|e| AuthError::Key(format!("cannot sign: {e}")))
    }
}

/// Checks tokens with a public key (SubjectPublicKeyInfo PEM): the signature, ES256 and
/// nothing else, the expiry (with [`LEEWAY`]), and that a subject is named.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(ES256)")
    }
}

impl Verifier {
    /// A verifier with the P-256 public key in `pem` (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, AuthError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|_| {
            AuthError::Key("not a P-256 public key in PEM (-----BEGIN PUBLIC KEY-----)".into())
        })?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Verifier { key, validation })
    }

    /// A verifier with the public key in the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        Verifier::from_pem(&read(path)?)
    }

    /// A verifier from a setting such as `MICRO_AUTH_PUBLIC_KEY`: the PEM text itself, or the
    /// path of a file holding it.
    pub fn from_setting(setting: &str) -> Result<Self, AuthError> {
        if setting.contains("-----BEGIN") {
            Verifier::from_pem(setting.as_bytes())
        } else {
            Verifier::from_file(Path::new(setting.trim()))
        }
    }

    /// The account `token` stands for, once its signature, algorithm and expiry check out.
    pub fn verify(&self, token: &str) -> Result<Account, AuthError> {
        // The header's algorithm is read only to name it in the refusal: verification below
        // takes ES256 alone, whatever the token says.
        let (alg, _) = unverified(token)?;
        if alg != ALGORITHM {
            return Err(AuthError::Algorithm(alg));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Signature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::Algorithm(alg.clone())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("it has no {claim} claim"))
                }
                ErrorKind::ImmatureSignature => AuthError::Malformed("it is not valid yet".into()),
                ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
                    AuthError::Key("the public key cannot verify ES256".into())
                }
                ErrorKind::Json(_) => AuthError::Malformed(
                    "its claims are not sub (a string), scopes (strings), exp and iat (numbers)"
                        .into(),
                ),
                _ => AuthError::Malformed("it is not a signed JWT".into()),
            },
        )?;
        let claims = data.claims;
        Ok(Account {
            subject: claims.sub,
            scopes: claims.scopes,
            expires: UNIX_EPOCH + Duration::from_secs(claims.exp),
        })
    }
}

/// What a token says, without checking its signature or expiry (`micro auth inspect`): the
/// algorithm its header names, and its claims.
pub fn inspect(token: &str) -> Result<(String, Claims), AuthError> {
    let (alg, payload) = unverified(token)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| {
        AuthError::Malformed(
            "its claims are not sub (a string), scopes (strings), exp and iat (numbers)".into(),
        )
    })?;
    Ok((alg, claims))
}

/// The algorithm a token's header names (letters and digits only, at most 16), and its payload
/// decoded: nothing verified.
fn unverified(token: &str) -> Result<(String, Vec<u8>), AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "a JWT is three base64url parts joined by dots".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| AuthError::Malformed(format!("its {what} is not base64url")))
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|_| AuthError::Malformed("its header is not JSON".into()))?;
    let alg: String = header
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or_else(|| AuthError::Malformed("its header names no alg".into()))?
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    Ok((alg, decode(payload, "payload")?))
}

fn read(path: &Path) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|e| AuthError::Key(format!("reading {}: {e}", path.display())))
}
