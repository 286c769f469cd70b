//! What the server needs to run ([`ApiDeps`] → [`ApiState`]), how it is configured
//! ([`ServerConfig`]), where it may listen ([`ListenPolicy`]), and its error ([`ServerError`]).
//!
//! The server never reads environment variables or binds ports itself (STYLE rule 7): the CLI
//! builds an [`ApiDeps`], binds the listener after checking it with [`ListenPolicy::check`],
//! and hands both to [`crate::run`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use vigil_bitvavo::ReadOnlyClient;
use vigil_core::Clock;
use vigil_engine::Executor;
use vigil_store::Store;

use crate::metrics::Metrics;

/// Where the API may listen. Loopback is the default: the API can turn kill switches off and
/// change caps, so exposing it to a network must be a deliberate, visible choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenPolicy {
    /// Allow an address other than 127.0.0.0/8 or `::1` (including `0.0.0.0` and `::`).
    pub allow_non_loopback: bool,
}

impl ListenPolicy {
    /// Checks an address before binding it (and [`crate::run`] checks the bound listener again).
    ///
    /// # Errors
    /// [`ServerError::NonLoopbackRefused`] for a non-loopback address without
    /// [`ListenPolicy::allow_non_loopback`].
    pub fn check(&self, address: SocketAddr) -> Result<(), ServerError> {
        if address.ip().is_loopback() || self.allow_non_loopback {
            Ok(())
        } else {
            Err(ServerError::NonLoopbackRefused { address })
        }
    }
}

/// When `/readyz` reports the process not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadinessConfig {
    /// The reconciler is "behind" when an execution's outcome has been unknown for longer than
    /// this since its order was signed. Bitvavo's access window is at most 60 s and the
    /// reconciler needs the window plus a margin before it may conclude, so the default leaves
    /// room for that and a few reconciler passes.
    pub unknown_outcome_age_max: Duration,
    /// How long the exchange check (`GET /time`) may take before it counts as down.
    pub exchange_timeout: Duration,
    /// How long the database check may take before it counts as down.
    pub database_timeout: Duration,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            unknown_outcome_age_max: Duration::from_secs(300),
            exchange_timeout: Duration::from_secs(5),
            database_timeout: Duration::from_secs(5),
        }
    }
}

/// The server's settings. Every bound is explicit (STYLE rule 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where the server may listen.
    pub listen: ListenPolicy,
    /// Serve `/metrics` to any client address, not only loopback ones. Off by default: the
    /// series name users and reveal trading activity, and `/metrics` has no authentication
    /// (scrapers rarely carry tokens), so by default only a local scraper (or a local proxy)
    /// can read it.
    pub metrics_from_any_address: bool,
    /// When `/readyz` says not ready.
    pub readiness: ReadinessConfig,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// After shutdown is requested, how long in-flight requests may take to finish before
    /// [`crate::run`] stops waiting for them.
    pub shutdown_grace: Duration,
    /// The deployment's ceilings on a user's own policy (an admin caller is not bound by them).
    pub ceilings: vigil_store::PolicyCeilings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: ListenPolicy::default(),
            metrics_from_any_address: false,
            readiness: ReadinessConfig::default(),
            body_limit_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
            ceilings: vigil_store::PolicyCeilings::default(),
        }
    }
}

/// Everything the server is built from. Start with [`ApiDeps::new`] and set the optional parts.
#[derive(Debug, Clone)]
pub struct ApiDeps {
    /// The durable store.
    pub store: Store,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: ServerConfig,
    /// The read-only exchange client: when set, `/readyz` checks the exchange with `GET /time`.
    pub exchange: Option<ReadOnlyClient>,
    /// The engine's executor, which `POST /api/v1/proposals/{id}/execute` hands proposals to;
    /// without one that route answers 503 `executor_unavailable`.
    pub executor: Option<Executor>,
    /// The metrics registry and the handle other parts report into.
    pub metrics: Metrics,
}

impl ApiDeps {
    /// The store and clock with default settings, no exchange check, no executor and fresh
    /// metrics.
    #[must_use]
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> ApiDeps {
        ApiDeps {
            store,
            clock,
            config: ServerConfig::default(),
            exchange: None,
            executor: None,
            metrics: Metrics::new(),
        }
    }
}

/// The state every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<ApiDeps>,
}

impl ApiState {
    /// Builds the state from its dependencies.
    #[must_use]
    pub fn new(deps: ApiDeps) -> ApiState {
        ApiState {
            inner: Arc::new(deps),
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The operations the API shares with the CLI (`vigil_ops::Operations`), over this state's
    /// store and clock.
    #[must_use]
    pub fn operations(&self) -> vigil_ops::Operations {
        vigil_ops::Operations::new(self.store().clone(), self.clock_handle())
    }

    /// The clock, shared (for engine parts built per request).
    #[must_use]
    pub fn clock_handle(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> vigil_core::Timestamp {
        self.inner.clock.now()
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The exchange client, if one is configured.
    #[must_use]
    pub fn exchange(&self) -> Option<&ReadOnlyClient> {
        self.inner.exchange.as_ref()
    }

    /// The executor, if one is configured.
    #[must_use]
    pub fn executor(&self) -> Option<&Executor> {
        self.inner.executor.as_ref()
    }

    /// The metrics handle.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is not a loopback address and non-loopback listening was not allowed.
    #[error(
        "refusing to listen on {address}: it is not a loopback address; the API can change caps and kill switches, so listen on 127.0.0.1 or allow non-loopback addresses explicitly (server.allow_non_loopback = true) behind a TLS proxy"
    )]
    NonLoopbackRefused {
        /// The address.
        address: SocketAddr,
    },
    /// The listener's address could not be read.
    #[error("cannot read the listener's address: {0}")]
    ListenerAddress(#[source] std::io::Error),
    /// Serving failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// In-flight requests did not finish within the grace period after shutdown was requested.
    #[error(
        "in-flight requests did not finish within {grace:?} after shutdown was requested; they were dropped (executions they started are resolved by the reconciler)"
    )]
    ShutdownGraceExceeded {
        /// The grace period.
        grace: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_allowed_and_anything_else_needs_the_flag() {
        let strict = ListenPolicy::default();
        for ok in ["127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080"] {
            strict.check(ok.parse().unwrap()).unwrap();
        }
        for refused in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.168.1.10:8080",
            "10.0.0.1:80",
        ] {
            let error = strict.check(refused.parse().unwrap()).unwrap_err();
            assert!(matches!(error, ServerError::NonLoopbackRefused { .. }));
            assert!(error.to_string().contains("allow_non_loopback"));
        }
        let open = ListenPolicy {
            allow_non_loopback: true,
        };
        open.check("0.0.0.0:8080".parse().unwrap()).unwrap();
    }
}
