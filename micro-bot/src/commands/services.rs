//! Commands that are services: every service named `<namespace>.<command>` answering micro
//! v2's `Command.Help` is the command `<command>`. Kept current by a registry watch, not by
//! polling; a command leaves with the last node of its service.

use crate::proto::{CommandClient, ExecRequest, HelpRequest};
use crate::Reply;
use futures::StreamExt;
use micro::registry::{Action, Registry, RegistryError, WatchOptions};
use micro::{CallOptions, Client};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long `Command.Help` may take when a command service appears.
const HELP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait before watching again after the registry went away.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The commands the registry holds now.
#[derive(Debug)]
pub(crate) struct ServiceCommands {
    namespace: String,
    client: Client,
    registry: Arc<dyn Registry>,
    /// Command name → its `help` line (`usage - description`).
    known: RwLock<BTreeMap<String, String>>,
}

impl ServiceCommands {
    pub(crate) fn new(namespace: &str, client: Client, registry: Arc<dyn Registry>) -> Self {
        ServiceCommands {
            namespace: namespace.trim_end_matches('.').to_string(),
            client,
            registry,
            known: RwLock::default(),
        }
    }

    /// The service behind the command `name`, if there is one now.
    pub(crate) fn service_of(&self, name: &str) -> Option<String> {
        self.read()
            .contains_key(name)
            .then(|| format!("{}.{name}", self.namespace))
    }

    /// `(command, help line)` of each, sorted by command.
    pub(crate) fn help_lines(&self) -> Vec<(String, String)> {
        self.read()
            .iter()
            .map(|(name, help)| (name.clone(), help.clone()))
            .collect()
    }

    /// Runs the command: `Command.Exec` with every word typed, the command first (as v2).
    pub(crate) async fn exec(&self, service: &str, args: Vec<String>, timeout: Duration) -> Reply {
        let command = CommandClient::new(self.client.clone(), service.to_string());
        let opts = CallOptions::default().timeout(timeout);
        match command.exec_with(ExecRequest { args }, opts).await {
            Err(e) => Reply::failed(e.detail),
            Ok(reply) if !reply.error.is_empty() => Reply::failed(reply.error),
            Ok(reply) => Reply::code(String::from_utf8_lossy(&reply.result).into_owned()),
        }
    }

    /// Follows the registry for as long as the bot runs: watches first, then lists, so that no
    /// change between the two is missed; watches again, with backoff, when the watch ends.
    pub(crate) async fn follow(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.registry.watch(WatchOptions::default()).await {
                Ok(mut changes) => {
                    if let Err(e) = self.resync().await {
                        tracing::warn!(error = %e, "bot: listing command services");
                    } else {
                        backoff = Duration::from_millis(500);
                    }
                    while let Some(change) = changes.next().await {
                        match change {
                            Ok(event) => {
                                let gone = event.action == Action::Delete;
                                self.changed(&event.service.name, gone).await;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "bot: registry watch failed");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bot: watching the registry"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The command a service name stands for, if it is in the namespace.
    fn command_of<'a>(&self, service: &'a str) -> Option<&'a str> {
        let rest = service.strip_prefix(&self.namespace)?.strip_prefix('.')?;
        (!rest.is_empty() && !rest.contains(char::is_whitespace)).then_some(rest)
    }

    /// Every command service now, each asked for its help; those gone since are dropped.
    async fn resync(&self) -> Result<(), RegistryError> {
        let services = self.registry.list_services().await?;
        let mut names: Vec<&str> = services
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| self.command_of(n).is_some())
            .collect();
        names.dedup();
        for name in &names {
            self.changed(name, false).await;
        }
        self.write()
            .retain(|command, _| names.iter().any(|n| self.command_of(n) == Some(command)));
        Ok(())
    }

    /// A node of `service` came, changed or (`gone`) left.
    async fn changed(&self, service: &str, gone: bool) {
        let Some(command) = self.command_of(service) else {
            return;
        };
        if gone {
            // Other nodes may still serve it.
            let left = match self.registry.get_service(service).await {
                Ok(versions) => versions.iter().all(|v| v.nodes.is_empty()),
                Err(RegistryError::NotFound) => true,
                Err(_) => false,
            };
            if left && self.write().remove(command).is_some() {
                tracing::info!(command, "bot: command left");
            }
            return;
        }
        if self.read().contains_key(command) {
            return;
        }
        let client = CommandClient::new(self.client.clone(), service.to_string());
        let opts = CallOptions::default().timeout(HELP_TIMEOUT);
        match client.help_with(HelpRequest {}, opts).await {
            Ok(help) => {
                let line = format!("{} - {}", help.usage, help.description);
                tracing::info!(command, "bot: command found");
                self.write().insert(command.to_string(), line);
            }
            Err(e) => {
                tracing::warn!(service, error = %e.detail, "bot: no Command.Help, so not a command")
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, String>> {
        self.known.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, String>> {
        self.known.write().unwrap_or_else(|e| e.into_inner())
    }
}
