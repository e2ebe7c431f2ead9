//! The gateway's settings: `micro api`'s flags, and which handler serves resolved paths.

/// Which handler serves paths that are not `/` or `/rpc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HandlerKind {
    /// The endpoint's declared handler, rpc otherwise (the default).
    #[default]
    Meta,
    /// JSON (or protobuf) calls to `Handler.Method` of the resolved service.
    Rpc,
    /// Publishes the request as an event to topic `<namespace>.<first segment>`.
    Event,
    /// Calls `Handler.Method` with the whole HTTP request as a `go.api.Request`; the service's
    /// `go.api.Response` becomes the HTTP response.
    Api,
    /// Reverse proxy to the HTTP service of the first segment, path unchanged.
    Http,
    /// Reverse proxy to the web service of the first segment, that segment stripped.
    Web,
}

impl std::str::FromStr for HandlerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "meta" => Ok(HandlerKind::Meta),
            "rpc" => Ok(HandlerKind::Rpc),
            "event" => Ok(HandlerKind::Event),
            "api" => Ok(HandlerKind::Api),
            "http" => Ok(HandlerKind::Http),
            "web" => Ok(HandlerKind::Web),
            other => Err(format!(
                "unknown handler {other:?} (meta, rpc, api, http, web, event)"
            )),
        }
    }
}

/// Gateway settings, `micro api`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Prefixed to resolved service names (`go.micro.api` by default).
    pub namespace: String,
    /// The handler for resolved paths.
    pub handler: HandlerKind,
    /// Serve `POST /rpc` with `{service, endpoint, request, address?}`: calls to services
    /// within `namespace`, at a node of the named service when `address` is given.
    pub enable_rpc: bool,
    /// Let `POST /rpc` call services outside `namespace` too.
    pub rpc_any_service: bool,
    /// Route to the framework's own `Debug.*` endpoints (memory, request counts, logs); off
    /// (the default), they are 404 from outside.
    pub enable_debug: bool,
    /// Origins whose pages may call through the gateway (CORS), e.g. `https://app.example`;
    /// empty (the default): no CORS headers at all. Listed origins may send credentials; `*`
    /// allows any origin, without credentials.
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body in bytes (10 MiB by default); larger is 413 before reading it.
    pub max_body: usize,
    /// How long a request body may take to arrive in full; slower is 408.
    pub body_timeout: std::time::Duration,
    /// Tokens checked at the edge (`--auth`), before any call: the caller's `Authorization:
    /// Bearer` against the rules, 401 or 403 otherwise. A call is checked as its service and
    /// endpoint, a request the http or web handler forwards as its service and path, an event
    /// as its topic and name. Off (`None`, the default), the caller's `Authorization` is passed
    /// on for the services to check.
    pub auth: Option<std::sync::Arc<micro::auth::Policy>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "go.micro.api".into(),
            handler: HandlerKind::Meta,
            enable_rpc: false,
            rpc_any_service: false,
            enable_debug: false,
            cors_allowed_origins: Vec::new(),
            max_body: 10 << 20,
            body_timeout: micro::server::limits::DEFAULT_BODY_TIMEOUT,
            auth: None,
        }
    }
}
