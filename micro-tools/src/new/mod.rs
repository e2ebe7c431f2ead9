//! `micro new`: a new service crate from a template — the Rust form of micro's `micro new`.

use crate::failure::Failure;
use std::path::{Path, PathBuf};

/// `micro new` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NewArgs {
    /// Where to create the crate; its last component is the alias.
    pub path: PathBuf,
    /// Namespace of the service.
    #[arg(long, default_value = "go.micro")]
    pub namespace: String,
    /// Type: service, function, api or web.
    #[arg(long = "type", default_value = "service")]
    pub kind: String,
    /// Fully qualified name (default `<namespace>.srv.<alias>`).
    #[arg(long)]
    pub fqdn: Option<String>,
    /// Alias (default: the last path component).
    #[arg(long)]
    pub alias: Option<String>,
    /// Default registry and broker of the generated service, e.g. `registry=etcd:broker=nats`
    /// (every one is compiled in; flags and `MICRO_*` variables still choose at run time).
    #[arg(long)]
    pub plugin: Option<String>,
    /// A local micro checkout to depend on (default: the one this binary was built from).
    #[arg(long = "micro_path", alias = "micro-path")]
    pub micro_path: Option<PathBuf>,
    /// Overwrite an existing directory.
    #[arg(long)]
    pub force: bool,
}

const COMMON: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("service/Cargo.toml.tmpl")),
    ("Dockerfile", include_str!("service/Dockerfile.tmpl")),
    ("README.md", include_str!("service/README.md.tmpl")),
    (".gitignore", include_str!("service/gitignore.tmpl")),
];

const SERVICE: &[(&str, &str)] = &[
    ("build.rs", include_str!("service/build.rs.tmpl")),
    ("proto/{{alias}}.proto", include_str!("service/proto.tmpl")),
    ("src/main.rs", include_str!("service/main.rs.tmpl")),
    ("src/handler.rs", include_str!("service/handler.rs.tmpl")),
    (
        "src/subscriber.rs",
        include_str!("service/subscriber.rs.tmpl"),
    ),
];

const FUNCTION: &[(&str, &str)] = &[
    ("build.rs", include_str!("service/build.rs.tmpl")),
    ("proto/{{alias}}.proto", include_str!("function/proto.tmpl")),
    ("src/main.rs", include_str!("function/main.rs.tmpl")),
];

const API: &[(&str, &str)] = &[("src/main.rs", include_str!("api/main.rs.tmpl"))];

const WEB: &[(&str, &str)] = &[("src/main.rs", include_str!("web/main.rs.tmpl"))];

type Files = &'static [(&'static str, &'static str)];

/// The files of a type, the infix of its default FQDN, and its extra dependencies.
fn kind(name: &str) -> Option<(Files, &'static str, &'static str)> {
    const LOG: &str = "tracing-subscriber = { version = \"0.3\", features = [\"env-filter\"] }";
    const SERVICE_DEPS: &str =
        "futures = \"0.3\"\ntracing-subscriber = { version = \"0.3\", features = [\"env-filter\"] }";
    match name {
        "service" => Some((SERVICE, "srv", SERVICE_DEPS)),
        "function" => Some((FUNCTION, "fnc", LOG)),
        "api" => Some((API, "api", "serde_json = \"1\"")),
        "web" => Some((WEB, "web", "serde_json = \"1\"\naxum = \"0.8\"")),
        _ => None,
    }
}

/// The generated `main`'s defaults: the registry and broker `--plugin` chose.
fn defaults(registry: Option<&str>, broker: Option<&str>) -> String {
    let fields: Vec<String> = [("registry", registry), ("broker", broker)]
        .into_iter()
        .filter_map(|(field, name)| Some(format!("{field}: \"{}\".into()", name?)))
        .collect();
    if fields.is_empty() {
        return "micro::config::Config::default()".into();
    }
    format!(
        "micro::config::Config {{ {}, ..Default::default() }}",
        fields.join(", ")
    )
}

fn valid_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `example` -> `Example`, `my_thing` -> `MyThing`.
fn camel(alias: &str) -> String {
    alias
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn default_micro_path() -> Option<PathBuf> {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    checkout
        .join("micro/Cargo.toml")
        .exists()
        .then_some(checkout)
}

/// Writes the crate; returns the lines to print, or the error and exit code.
pub(crate) fn run(args: &NewArgs) -> Result<String, Failure> {
    let Some((files, infix, extra_deps)) = kind(&args.kind) else {
        return Err(Failure::new(format!(
            "unknown type {:?}: service, function, api or web",
            args.kind
        )));
    };
    let alias = match &args.alias {
        Some(a) => a.clone(),
        None => args
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_alias(&alias) {
        return Err(Failure::new(format!(
            "invalid alias {alias:?}: use lower-case letters, digits and _, starting with a letter"
        )));
    }
    if args.path.exists() && !args.force {
        return Err(Failure::new(format!(
            "{} already exists: choose another path, or --force to overwrite",
            args.path.display()
        )));
    }
    let fqdn = args
        .fqdn
        .clone()
        .unwrap_or_else(|| format!("{}.{infix}.{alias}", args.namespace));
    let backend = format!("{}.srv.{alias}", args.namespace);
    let (micro_dep, build_dep) = match args.micro_path.clone().or_else(default_micro_path) {
        Some(p) => {
            let p = std::fs::canonicalize(&p).unwrap_or(p);
            (
                format!("path = {:?}", p.join("micro").display().to_string()),
                format!("path = {:?}", p.join("micro-build").display().to_string()),
            )
        }
        None => (
            "version = \"0.1\"".to_string(),
            "version = \"0.1\"".to_string(),
        ),
    };
    // Every generated crate compiles in etcd and NATS, so `--registry=etcd` and `--broker=nats`
    // work without a rebuild, as in go-micro; `--plugin` only changes the defaults.
    let (mut registry, mut broker) = (None, None);
    for plugin in args.plugin.iter().flat_map(|p| p.split(':')) {
        match plugin.split_once('=') {
            Some(("registry", name @ ("etcd" | "mdns" | "memory"))) => registry = Some(name),
            Some(("broker", name @ ("nats" | "http" | "memory"))) => broker = Some(name),
            _ => {
                return Err(Failure::usage(format!(
                "unknown plugin {plugin:?} (registry=etcd|mdns|memory, broker=nats|http|memory)"
            )))
            }
        }
    }
    let defaults = defaults(registry, broker);
    let render = |text: &str| {
        text.replace("{{alias}}", &alias)
            .replace("{{Alias}}", &camel(&alias))
            .replace("{{fqdn}}", &fqdn)
            .replace("{{micro_dep}}", &micro_dep)
            .replace("{{micro_build_dep}}", &build_dep)
            .replace("{{defaults}}", &defaults)
            .replace("{{extra_deps}}", extra_deps)
            .replace("{{backend}}", &backend)
            .replace("{{type}}", &args.kind)
    };
    let mut tree = vec![format!("{}/", args.path.display())];
    for (name, template) in COMMON.iter().chain(files) {
        let name = render(name);
        let path = args.path.join(&name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, render(template))
            .map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))?;
        tree.push(format!("  {name}"));
    }
    let dir = args.path.display();
    Ok(format!(
        "creating {} {fqdn}\n\n{}\n\nNext:\n  cd {dir} && cargo run\n  micro call {fqdn} {}.Call '{{\"name\": \"John\"}}'\n",
        args.kind,
        tree.join("\n"),
        camel(&alias)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_names() {
        assert!(valid_alias("example") && valid_alias("my_svc2"));
        assert!(
            !valid_alias("Example")
                && !valid_alias("1x")
                && !valid_alias("a-b")
                && !valid_alias("")
        );
        assert_eq!(camel("my_thing"), "MyThing");
    }

    #[test]
    fn plugins_become_the_generated_defaults() {
        assert_eq!(defaults(None, None), "micro::config::Config::default()");
        assert_eq!(
            defaults(Some("etcd"), Some("nats")),
            "micro::config::Config { registry: \"etcd\".into(), broker: \"nats\".into(), ..Default::default() }"
        );
    }
}
