//! Auth at a service: tokens minted by PyJWT (and by micro's own signer) from keys made with
//! openssl, checked by the service's auth layer. A stock grpcio client and a micro client see
//! 401 (Unauthenticated) for no token, an expired, altered or forged one, `alg: none` and
//! HS256 keyed with the public key; 403 (PermissionDenied) naming the scope for a token of
//! another scope; the right token reaches the handler, which sees the caller's subject, and
//! passes the caller's token on when told to.

use micro::auth::{Access, Policy, Rules, Signer, Token, Verifier};
use micro::registry::{MemoryRegistry, Registry};
use micro::{CallOptions, Client, Context, Result};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::{pyjwt_tokens, python_client, AuthKeys, TestHandler, SERVICE};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const RELAY: &str = "go.micro.relay";

/// A fresh directory for one test's keys.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("micro-auth-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Tokens with `keys.public`; the test service's endpoints and the relay's need scope `test`.
fn policy(keys: &AuthKeys) -> Arc<Policy> {
    let rules = Rules::new()
        .rule(SERVICE, "Test.*", Access::scopes(["test"]))
        .rule(RELAY, "Relay.*", Access::scopes(["test"]));
    Arc::new(Policy::new(
        Verifier::from_file(&keys.public).unwrap(),
        rules,
    ))
}

fn client(registry: &Arc<dyn Registry>) -> Client {
    Client::builder()
        .registry(Arc::clone(registry))
        .no_proxy()
        .no_token()
        .retries(0)
        .build()
}

async fn echo(client: &Client, token: Option<&str>) -> Result<EchoResponse> {
    let mut opts = CallOptions::default().timeout(Duration::from_secs(5));
    if let Some(token) = token {
        opts = opts.token(&Token::new(token));
    }
    let request = EchoRequest {
        message: "hi".into(),
        ..Default::default()
    };
    client.call(SERVICE, "Test.Echo", &request, opts).await
}

/// The grpcio client's Test.Echo with `authorization: Bearer token` (none without a token):
/// the reply's JSON, or the status code's name and details.
async fn grpcio_echo(address: String, token: Option<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["echo".to_string(), address, "hi".into()];
        if let Some(token) = token {
            args.push(format!("authorization=Bearer {token}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = python_client(&args);
        assert!(ok, "grpc_client.py: {err}");
        out
    })
    .await
    .unwrap()
}

fn tokens(dir: &std::path::Path) -> (AuthKeys, HashMap<String, String>) {
    let keys = AuthKeys::new(dir, "service");
    let other = AuthKeys::new(dir, "other");
    let tokens = pyjwt_tokens(&keys, &other, "john", "test");
    (keys, tokens)
}

/// The test service in `registry`, checking tokens against [`policy`].
async fn checking(registry: &Arc<dyn Registry>, keys: &AuthKeys) -> micro::service::RunningService {
    micro_tests::builder(Arc::clone(registry), TestHandler::default())
        .auth(policy(keys))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_checks_every_token_against_its_rules() {
    let dir = scratch("service");
    let (keys, tokens) = tokens(&dir);
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let service = checking(&registry, &keys).await;
    let address = service.local_addr().to_string();

    // The stock grpcio client: the status code, and the reason in the details.
    let refused = [
        (
            None,
            "UNAUTHENTICATED",
            "Test.Echo of go.micro.test needs a token",
        ),
        (
            Some("other_scope"),
            "PERMISSION_DENIED",
            "needs scope test; the token of john has scopes other",
        ),
        (Some("expired"), "UNAUTHENTICATED", "the token has expired"),
        (
            Some("altered"),
            "UNAUTHENTICATED",
            "signature does not verify",
        ),
        (
            Some("other_key"),
            "UNAUTHENTICATED",
            "signature does not verify",
        ),
        (
            Some("none"),
            "UNAUTHENTICATED",
            "signed with none; only ES256",
        ),
        (
            Some("hs256"),
            "UNAUTHENTICATED",
            "signed with HS256; only ES256",
        ),
    ];
    for (name, code, reason) in refused {
        let token = name.map(|n| tokens[n].clone());
        let out = grpcio_echo(address.clone(), token.clone()).await;
        assert!(out.starts_with(code), "{name:?}: {out}");
        assert!(out.contains(reason), "{name:?}: {out}");
        if let Some(token) = token {
            assert!(!out.contains(&token), "the refusal quotes the token: {out}");
        }
    }
    let out = grpcio_echo(address.clone(), Some(tokens["right"].clone())).await;
    let reply: serde_json::Value = serde_json::from_str(&out).expect(&out);
    assert_eq!(
        (&reply["message"], &reply["subject"]),
        (&"hi".into(), &"john".into()),
        "{out}"
    );

    // A micro client: the same codes, and the handler sees who called.
    let client = client(&registry);
    for (name, code) in [
        (None, 401),
        (Some("other_scope"), 403),
        (Some("expired"), 401),
        (Some("none"), 401),
        (Some("hs256"), 401),
    ] {
        let err = echo(&client, name.map(|n| tokens[n].as_str()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code, err.id.as_str()),
            (code, SERVICE),
            "{name:?}: {err}"
        );
    }
    let reply = echo(&client, Some(&tokens["right"])).await.unwrap();
    assert_eq!(reply.subject, "john");
    // A token of micro's own signer, from the same openssl key.
    let signer = Signer::from_file(&keys.private).unwrap();
    let own = signer
        .sign("jane", &["test".into()], Duration::from_secs(60))
        .unwrap();
    let reply = echo(&client, Some(own.expose())).await.unwrap();
    assert_eq!(reply.subject, "jane");

    // The health checks stay public; Debug.Stats needs a token (of any scope, no rule names
    // it), and says nothing of the tokens it saw.
    let (ok, out, err) = tokio::task::spawn_blocking({
        let address = address.clone();
        move || python_client(&["health", &address])
    })
    .await
    .unwrap();
    assert!(ok && out == "SERVING", "{out} {err}");
    let health: micro::Result<serde_json::Value> = client
        .call_json(
            SERVICE,
            "Debug.Health",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await;
    assert!(health.is_ok(), "{health:?}");
    let stats: micro::Result<serde_json::Value> = client
        .call_json(
            SERVICE,
            "Debug.Stats",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await;
    assert_eq!(stats.unwrap_err().code, 401);
    let stats: serde_json::Value = client
        .call_json(
            SERVICE,
            "Debug.Stats",
            &serde_json::json!({}),
            CallOptions::default().token(&Token::new(tokens["other_scope"].as_str())),
        )
        .await
        .unwrap();
    let stats = stats.to_string();
    for token in tokens.values() {
        assert!(
            !stats.contains(token.as_str()),
            "Debug.Stats shows a token: {stats}"
        );
    }
    service.stop().await.unwrap();
}

/// Calls the test service while serving `Relay.Echo`: on the caller's behalf when the message
/// says so, else as itself (with its own token).
struct Relay {
    client: Client,
}

#[micro::handler(name = "Relay")]
impl Relay {
    async fn echo(&self, ctx: &Context, req: EchoRequest) -> Result<EchoResponse> {
        let opts = if req.message == "on behalf" {
            CallOptions::on_behalf_of(ctx)
        } else {
            CallOptions::from(ctx)
        };
        self.client.call(SERVICE, "Test.Echo", &req, opts).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_passes_the_callers_token_on_when_told_to() {
    let dir = scratch("relay");
    let (keys, tokens) = tokens(&dir);
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let test = checking(&registry, &keys).await;
    // The relay's own token has scope relay only: as itself it may not call the test service.
    let own = Signer::from_file(&keys.private)
        .unwrap()
        .sign(RELAY, &["relay".into()], Duration::from_secs(60))
        .unwrap();
    let relay_client = Client::builder()
        .registry(Arc::clone(&registry))
        .no_proxy()
        .token(own)
        .retries(0)
        .build();
    let relay = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(RELAY)
        .address("127.0.0.1:0")
        .registry(Arc::clone(&registry))
        .handler(Relay {
            client: relay_client,
        })
        .auth(policy(&keys))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    let client = client(&registry);
    let via_relay = |message: &str| {
        let request = EchoRequest {
            message: message.into(),
            ..Default::default()
        };
        let opts = CallOptions::default().token(&Token::new(tokens["right"].as_str()));
        let client = client.clone();
        async move {
            client
                .call::<_, EchoResponse>(RELAY, "Relay.Echo", &request, opts)
                .await
        }
    };
    let passed_on = via_relay("on behalf").await.unwrap();
    assert_eq!(passed_on.subject, "john");
    let err = via_relay("as itself").await.unwrap_err();
    assert_eq!(err.code, 403, "{err}");
    assert!(
        err.detail
            .contains("the token of go.micro.relay has scopes relay"),
        "{err}"
    );
    relay.stop().await.unwrap();
    test.stop().await.unwrap();
}
