//! What every handler shares: the engine over a store, the configuration,
//! token keys, the password hasher, the job queue, the rate limiter, and the
//! metrics registry.

use std::sync::Arc;

use commerce_core::service::Commerce;
use commerce_core::storage::Store;
use commerce_jobs::AnyQueue;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use crate::auth::credentials::Credentials;
use crate::auth::jwt::TokenKeys;
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::limits::RateLimiter;
use crate::ratelimit::LocalLimiter;

/// The server's shared state; cheap to clone (every field is shared).
pub struct AppState<S> {
    /// The engine: every rule lives there.
    pub commerce: Commerce<S>,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// Access-token keys.
    pub tokens: Arc<TokenKeys>,
    /// Password hashing (argon2id, bounded).
    pub passwords: Arc<Passwords>,
    /// The credential rules' keys and lifetimes.
    pub credentials: Arc<Credentials>,
    /// The job queue (account mails go straight into it).
    pub queue: Arc<AnyQueue>,
    /// Wakes the outbox relay right after a change that announces something.
    pub relay_nudge: Option<Arc<Notify>>,
    /// Rate limits (login, OTP, password reset, per IP).
    pub limiter: Arc<dyn RateLimiter>,
    /// The Prometheus registry `/metrics` renders; `None`: `/metrics` is 404.
    pub metrics: Option<PrometheusHandle>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            commerce: self.commerce.clone(),
            config: Arc::clone(&self.config),
            tokens: Arc::clone(&self.tokens),
            passwords: Arc::clone(&self.passwords),
            credentials: Arc::clone(&self.credentials),
            queue: Arc::clone(&self.queue),
            relay_nudge: self.relay_nudge.clone(),
            limiter: Arc::clone(&self.limiter),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<S: Store + 'static> AppState<S> {
    /// State with the configured rate limits held in this process (set
    /// `limiter` to share them through Redis), the credential settings of
    /// the configuration, and no metrics registry.
    pub fn new(
        commerce: Commerce<S>,
        config: Config,
        tokens: TokenKeys,
        passwords: Passwords,
        queue: Arc<AnyQueue>,
    ) -> Self {
        let credentials = Arc::new(crate::auth::settings::credentials(&config));
        let limiter = Arc::new(LocalLimiter::new(config.auth.rate_limits.clone()));
        AppState {
            commerce,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            passwords: Arc::new(passwords),
            credentials,
            queue,
            relay_nudge: None,
            limiter,
            metrics: None,
        }
    }

    /// Wakes the outbox relay, if one is attached.
    pub fn nudge_relay(&self) {
        if let Some(n) = &self.relay_nudge {
            n.notify_one();
        }
    }
}
