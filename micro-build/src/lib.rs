//! `micro-build`: compile `.proto` files for micro services from a `build.rs`.
//!
//! For every proto package it writes `$OUT_DIR/<package>.rs` holding:
//!
//! - the prost message types;
//! - serde impls in the proto3 JSON mapping (by `pbjson-build`), so every message can travel as
//!   protobuf or JSON;
//! - a `micro::schema::Schema` impl per message: its fields and their types, nested to depth 3,
//!   which the server publishes as endpoint request/response descriptions;
//! - a typed client per proto service, e.g. `GreeterClient::new(client, "go.micro.srv.greeter")`.
//!
//! No system `protoc` is needed: `protox` parses the files in pure Rust.
//!
//! In `build.rs`:
//!
//! ```no_run
//! micro_build::compile(&["proto/greeter.proto"], &["proto"]).unwrap();
//! ```
//! and in the crate: `micro::include_proto!("go.micro.srv.greeter");`.
//!
//! Generated code only names `::micro`, so a service crate needs no direct dependency on prost,
//! serde or pbjson.

mod client;
mod names;
mod schema;

use prost::Message as _;
use prost_types::FileDescriptorSet;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A build failed: the proto did not parse or code could not be written.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error(format!("micro-build: {context}: {e}"))
}

/// Compiles `protos` (searching imports in `includes`) into `$OUT_DIR`.
pub fn compile(protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
    Builder::new().compile(protos, includes)
}

/// Options for [`compile`]; the defaults suit a service crate.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    crate_path: Option<String>,
}

impl Builder {
    /// A builder with defaults: output to `$OUT_DIR`, generated code naming `::micro`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes to `dir` instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The path of the micro crate in generated code (default `::micro`); for crates that
    /// rename the dependency.
    pub fn micro_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = Some(path.into());
        self
    }

    /// Compiles `protos`, searching imports in `includes`.
    pub fn compile(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        for p in protos {
            println!("cargo:rerun-if-changed={}", p.as_ref().display());
        }
        let fds = protox::compile(protos, includes).map_err(|e| err("parsing protos", e))?;
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => {
                PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| err("OUT_DIR", "not set"))?)
            }
        };
        let micro = self.crate_path.clone().unwrap_or_else(|| "::micro".into());
        self.generate(&fds, &out_dir, &micro)
    }

    fn generate(&self, fds: &FileDescriptorSet, out_dir: &Path, micro: &str) -> Result<(), Error> {
        let private = format!("{micro}::__private");

        // 1. prost types, one file per package.
        let mut config = prost_build::Config::new();
        config
            .out_dir(out_dir)
            .prost_path(format!("{private}::prost"))
            .compile_well_known_types()
            .extern_path(".google.protobuf", format!("{private}::pbjson_types"));
        config
            .compile_fds(fds.clone())
            .map_err(|e| err("generating prost types", e))?;

        // 2. serde impls (proto3 JSON), with paths rewritten to go through micro.
        let packages: Vec<String> = fds
            .file
            .iter()
            .filter(|f| !f.package().starts_with("google.protobuf"))
            .map(|f| f.package().to_string())
            .collect();
        let mut serde_code: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let prefixes: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
        let generated = pbjson_build::Builder::new()
            .register_descriptors(&fds.encode_to_vec())
            .map_err(|e| err("reading descriptors", e))?
            .preserve_proto_field_names()
            // Old servers accept requests from newer clients, as go-micro does.
            .ignore_unknown_fields()
            .extern_path(".google.protobuf", format!("{private}::pbjson_types"))
            .generate(&prefixes, |_| Ok(Vec::new()))
            .map_err(|e| err("generating JSON impls", e))?;
        for (package, code) in generated {
            serde_code.insert(package.to_string(), code);
        }

        // 3. schemas and typed clients, appended to each package's file.
        let index = schema::Index::new(fds);
        let mut done = std::collections::HashSet::new();
        for file in &fds.file {
            let package = file.package();
            if package.starts_with("google.protobuf") {
                continue;
            }
            let path = out_dir.join(format!(
                "{}.rs",
                if package.is_empty() { "_" } else { package }
            ));
            let mut code = std::fs::read_to_string(&path)
                .map_err(|e| err(&format!("reading {}", path.display()), e))?;
            if done.insert(package.to_string()) {
                if let Some(serde) = serde_code.get(package) {
                    code.push_str("\n// proto3 JSON (pbjson-build)\n");
                    code.push_str(&rewrite_serde_paths(
                        &String::from_utf8_lossy(serde),
                        &private,
                    ));
                }
            }
            for msg in &file.message_type {
                index.write_schema_impls(&mut code, package, msg, &[], micro);
            }
            for service in &file.service {
                client::write(&mut code, service, package, micro);
            }
            let _ = writeln!(code);
            std::fs::write(&path, code)
                .map_err(|e| err(&format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// pbjson-build names `serde` and `pbjson` as crate roots; route them through micro so the
/// service crate needs neither as a dependency.
fn rewrite_serde_paths(code: &str, private: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 8);
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        // A crate root starts a path: nothing path-like stands right before it.
        let at_path_start = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let hit = ["::serde::", "::pbjson::", "serde::", "pbjson::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        match hit {
            Some(p) if at_path_start => {
                out.push_str(private);
                out.push_str("::");
                out.push_str(p.trim_start_matches(':'));
                i += p.len();
            }
            _ => {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_crate_roots() {
        let code = "impl serde::Serialize for X { fn f() { pbjson::private::x(); a::serde::b; <::pbjson::Y>::z(); } }";
        assert_eq!(
            rewrite_serde_paths(code, "::m::__private"),
            "impl ::m::__private::serde::Serialize for X { fn f() { ::m::__private::pbjson::private::x(); a::serde::b; <::m::__private::pbjson::Y>::z(); } }"
        );
    }
}
