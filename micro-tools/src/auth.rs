//! `micro auth keys|token|inspect`: the key pair tokens are signed with, tokens minted with its
//! private key, and what a token says. Thin over `micro::auth`; keys are made with rcgen.

use crate::failure::Failure;
use micro::auth::{inspect, Signer, Token};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `micro auth ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum AuthCommand {
    /// Write a new key pair: private.pem (readable by its owner only) and public.pem.
    #[command(after_help = "Example:\n  micro auth keys --out /etc/micro")]
    Keys {
        /// The directory to write them in.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Print a token signed with the private key.
    #[command(
        after_help = "Example:\n  micro auth token --subject john --scope greeter --expiry 1h --private_key private.pem"
    )]
    Token {
        /// Who the token is for.
        #[arg(long)]
        subject: String,
        /// A scope it grants (repeat, or separate with commas).
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
        /// How long it is valid: 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        expiry: String,
        /// The private key (PEM) to sign with.
        #[arg(
            long = "private_key",
            alias = "private-key",
            env = "MICRO_AUTH_PRIVATE_KEY"
        )]
        private_key: PathBuf,
    },
    /// Print what a token says (its signature is not checked here).
    #[command(after_help = "Example:\n  micro auth inspect \"$MICRO_AUTH_TOKEN\"")]
    Inspect {
        /// The token (`-`: read it from stdin).
        token: String,
    },
}

/// Runs one `micro auth` command, writing its output to `out`.
pub(crate) fn run(command: &AuthCommand, out: &mut dyn Write) -> Result<(), Failure> {
    match command {
        AuthCommand::Keys { out: dir } => {
            let written = keys(dir)?;
            writeln!(out, "{}\n{}", written.0.display(), written.1.display())
        }
        AuthCommand::Token {
            subject,
            scopes,
            expiry,
            private_key,
        } => {
            let valid_for = crate::cli::commands::parse_duration(expiry)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--expiry {expiry:?} is not a duration such as 90s, 30m, 1h or 7d"
                    ))
                })?;
            let signer = Signer::from_file(private_key).map_err(|e| Failure::new(e.to_string()))?;
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let token = signer
                .sign(subject, &scopes, valid_for)
                .map_err(|e| Failure::new(e.to_string()))?;
            writeln!(out, "{}", token.expose())
        }
        AuthCommand::Inspect { token } => {
            let text = if token == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_line(&mut text)
                    .map_err(|e| Failure::new(format!("reading the token from stdin: {e}")))?;
                text
            } else {
                token.clone()
            };
            let (alg, claims) =
                inspect(Token::new(text).expose()).map_err(|e| Failure::new(e.to_string()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs();
            let shown = serde_json::json!({
                "alg": alg,
                "sub": claims.sub,
                "scopes": claims.scopes,
                "iat": claims.iat,
                "exp": claims.exp,
                "expired": claims.exp <= now,
                "verified": false,
            });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&shown).unwrap_or_default()
            )
        }
    }
    .map_err(Failure::output)
}

/// Writes a new P-256 key pair in `dir`; refuses to overwrite either file.
fn keys(dir: &Path) -> Result<(PathBuf, PathBuf), Failure> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Failure::new(format!("making a key pair: {e}")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
    let (private, public) = (dir.join("private.pem"), dir.join("public.pem"));
    write_new(&private, &pair.serialize_pem(), 0o600)?;
    write_new(&public, &pair.public_key_pem(), 0o644)?;
    Ok((private, public))
}

/// Writes `text` to a file that must not exist yet, created with `mode`.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::new(format!(
                "{} exists already: not overwritten (remove it, or give another --out)",
                path.display()
            )),
            _ => Failure::new(format!("writing {}: {e}", path.display())),
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))
}

/// `--auth` and its settings, for the tools that are edges (`micro api`, `micro proxy`): tokens
/// checked there, before any call reaches a service.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EdgeAuthArgs {
    /// Check every caller's token at the edge: jwt (off by default: services check).
    #[arg(long, env = "MICRO_AUTH", value_name = "KIND")]
    pub auth: Option<String>,
    /// The public key (PEM) tokens are verified with.
    #[arg(
        long = "auth_public_key",
        alias = "auth-public-key",
        env = "MICRO_AUTH_PUBLIC_KEY",
        value_name = "FILE"
    )]
    pub auth_public_key: Option<String>,
    /// The rules (JSON): which endpoints need which scopes.
    #[arg(
        long = "auth_rules",
        alias = "auth-rules",
        env = "MICRO_AUTH_RULES",
        value_name = "FILE"
    )]
    pub auth_rules: Option<PathBuf>,
}

impl EdgeAuthArgs {
    /// The policy these flags describe; `None` without `--auth`.
    pub(crate) fn policy(&self) -> Result<Option<std::sync::Arc<micro::auth::Policy>>, Failure> {
        let settings = micro::auth::AuthSettings {
            kind: self.auth.clone(),
            public_key: self.auth_public_key.clone(),
            rules: self.auth_rules.clone(),
            token: None,
        };
        micro::auth::Policy::from_settings(&settings)
            .map(|p| p.map(std::sync::Arc::new))
            .map_err(|e| Failure::usage(e.to_string()))
    }
}
