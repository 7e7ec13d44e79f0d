//! Assembling a running shop from a [`Config`]: the engine's settings, the
//! payment gateways, token keys, the job queue, the mailer, and the
//! background work (job worker, outbox relay, periodic sweeps), and serving
//! the router until a shutdown signal.
//!
//! Everything here is generic over core's [`Store`]: the binary opens the
//! database it is told to and hands the store in.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use commerce_core::clock::Clock;
use commerce_core::payment::sandbox::SandboxGateway;
use commerce_core::service::Commerce;
use commerce_core::storage::Store;
use commerce_core::tax::SingleRateTax;
use commerce_jobs::handlers::Handlers;
use commerce_jobs::mail::{FileMailer, MailSettings, Mailer, SMTP_CONNECTIONS, SmtpMailer};
use commerce_jobs::relay::{OutboxRelay, RelayConfig};
use commerce_jobs::schedule::{
    LeaseLock, LocalLocks, RedisLocks, Scheduler, SweepConfig, Task, TaskError, builtin_tasks,
};
use commerce_jobs::{
    AnyQueue, InProcessQueue, RedisConfig, RedisQueue, Worker, WorkerConfig, WorkerHandle,
};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::auth::jwt::TokenKeys;
use crate::config::{Config, Switch};

/// The sandbox webhook secret outside production.
pub const DEV_SANDBOX_SECRET: &str = "whsec_sandbox";

/// The engine's settings from the server's.
///
/// # Errors
/// A message for the operator (a bad tax rate).
pub fn engine_config(config: &Config) -> Result<commerce_core::service::Config, String> {
    let tax = SingleRateTax::new(config.tax_rate, config.prices_include_tax)
        .map_err(|e| format!("COMMERCE_TAX_RATE: {e}"))?;
    let ttl = chrono::Duration::from_std(config.reservation_ttl)
        .map_err(|_| "COMMERCE_RESERVATION_TTL is too long".to_owned())?;
    Ok(commerce_core::service::Config {
        currency: config.currency,
        reservation_ttl: ttl,
        low_stock_threshold: config.low_stock_threshold,
        tax: Arc::new(tax),
        return_base: format!("{}/api/v1", config.public_url()),
        rules_cache_ttl: config.rules_cache_ttl,
        ..commerce_core::service::Config::default()
    })
}

/// The engine over `store`, with the sandbox gateway unless it is off.
pub fn engine<S: Store>(
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    config: &Config,
    settings: commerce_core::service::Config,
) -> Commerce<S> {
    let mut commerce = Commerce::new(store, clock, settings);
    if config.sandbox == Switch::On {
        let secret = config.sandbox_webhook_secret.as_ref().map_or_else(
            || DEV_SANDBOX_SECRET.to_owned(),
            |s| s.expose_secret().to_owned(),
        );
        commerce = commerce.with_gateway(Arc::new(SandboxGateway::new(
            secret.into_bytes(),
            config.public_url(),
        )));
    }
    commerce
}

/// Access-token keys: from `COMMERCE_JWT_SECRET`, or random (with a warning)
/// outside production.
///
/// # Errors
/// Production without a secret, or a secret too short.
pub fn token_keys(config: &Config) -> Result<TokenKeys, String> {
    match &config.jwt_secret {
        Some(secret) => TokenKeys::new(secret.expose_secret().as_bytes(), config.access_token_ttl)
            .map_err(|e| format!("COMMERCE_JWT_SECRET: {e}")),
        None if config.is_production() => {
            Err("COMMERCE_ENV=production needs COMMERCE_JWT_SECRET".into())
        }
        None => {
            tracing::warn!(
                "COMMERCE_JWT_SECRET is not set: using a random secret; tokens will not \
                 survive a restart or work across servers"
            );
            Ok(TokenKeys::random(config.access_token_ttl))
        }
    }
}

/// The job queue: Redis when `REDIS_URL` is set, otherwise in-process.
///
/// # Errors
/// Redis cannot be reached.
pub async fn queue(config: &Config, clock: Arc<dyn Clock>) -> Result<AnyQueue, String> {
    match config
        .redis_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(url) => RedisQueue::connect_with_clock(
            &RedisConfig::new(url).with_prefix(&config.redis_prefix),
            clock,
        )
        .await
        .map(AnyQueue::Redis)
        .map_err(|e| format!("REDIS_URL: {e}")),
        None => Ok(AnyQueue::InProcess(InProcessQueue::new(clock))),
    }
}

/// Mail settings from the configuration (`COMMERCE_MAIL_FROM` and
/// `COMMERCE_SHOP_NAME` are read from the environment, as commerce-jobs does).
pub fn mail_settings(config: &Config) -> MailSettings {
    let env = MailSettings::from_env();
    MailSettings::new(&config.public_url(), &env.from, &env.shop_name)
}

/// The mailer: SMTP when `SMTP_URL` is set, otherwise `.eml` files.
///
/// # Errors
/// A malformed `SMTP_URL`, or a mail folder that cannot be created.
pub fn mailer(config: &Config, from: &str) -> Result<Arc<dyn Mailer>, String> {
    match config
        .smtp_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(url) => SmtpMailer::from_url(url, from)
            .map(|m| Arc::new(m) as Arc<dyn Mailer>)
            .map_err(|e| format!("SMTP_URL: {e}")),
        None => FileMailer::new(&config.mail_dir, from)
            .map(|m| Arc::new(m) as Arc<dyn Mailer>)
            .map_err(|e| format!("COMMERCE_MAIL_DIR {}: {e}", config.mail_dir.display())),
    }
}

/// The periodic sweeps' settings for the engine's: the expiry sweep runs
/// at least twice per reservation TTL (so an unpaid order outlives its
/// reservation by at most half of it), never more often than every second,
/// and at most every 10 s.
pub fn sweep_config(engine: &commerce_core::service::Config) -> SweepConfig {
    let defaults = SweepConfig::default();
    let half_ttl = engine
        .reservation_ttl
        .to_std()
        .map_or(defaults.expire_every, |ttl| ttl / 2);
    SweepConfig {
        expire_every: half_ttl.clamp(Duration::from_secs(1), defaults.expire_every),
        ..defaults
    }
}

/// The background work of one server: the job worker, the outbox relay and
/// the periodic sweeps.
#[derive(Debug)]
pub struct Background {
    worker: WorkerHandle,
    stop_relay: watch::Sender<bool>,
    stop_sweeps: watch::Sender<bool>,
    relay: tokio::task::JoinHandle<()>,
    sweeps: tokio::task::JoinHandle<()>,
    nudge: Arc<Notify>,
}

impl Background {
    /// Starts the worker (mail and refund handlers), the relay and the sweeps.
    pub fn start<S: Store + 'static>(
        commerce: &Commerce<S>,
        store: Arc<S>,
        queue: Arc<AnyQueue>,
        mailer: Arc<dyn Mailer>,
        settings: MailSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // Mails spend most of their time waiting on the SMTP server (see
        // `SMTP_CONNECTIONS`): as many jobs at once as the mailer has
        // connections, so that one mail per order keeps up with checkouts.
        let config = WorkerConfig {
            concurrency: SMTP_CONNECTIONS as usize,
            ..WorkerConfig::default()
        };
        let worker = Handlers::new(commerce.clone(), mailer, settings)
            .register(Worker::new(Arc::clone(&queue), config))
            .spawn();
        let relay = OutboxRelay::new(
            Arc::clone(&store),
            Arc::clone(&queue),
            RelayConfig::default(),
        )
        .with_clock(Arc::clone(&clock));
        let nudge = relay.nudger();
        let (stop_relay, relay) = relay.spawn();
        let lock: Arc<dyn LeaseLock> = match queue.as_ref() {
            AnyQueue::Redis(q) => Arc::new(RedisLocks::for_queue(q)),
            _ => Arc::new(LocalLocks::new(Arc::clone(&clock))),
        };
        let prune_store = Arc::clone(&store);
        let prune_clock = Arc::clone(&clock);
        let prune = Task::new("prune_credentials", Duration::from_secs(3600), move || {
            let store = Arc::clone(&prune_store);
            let now = prune_clock.now();
            async move {
                store
                    .prune_credentials(now)
                    .await
                    .map(|n| format!("{n} expired credentials pruned"))
                    .map_err(|e| TaskError(e.to_string()))
            }
        });
        let (stop_sweeps, sweeps) = Scheduler::new(lock, clock)
            .register_all(builtin_tasks(commerce, &sweep_config(commerce.config())))
            .register(prune)
            .spawn();
        Background {
            worker,
            stop_relay,
            stop_sweeps,
            relay,
            sweeps,
            nudge,
        }
    }

    /// Wakes the relay early (after a change that announces something).
    pub fn nudger(&self) -> Arc<Notify> {
        Arc::clone(&self.nudge)
    }

    /// Stops reserving jobs, lets running ones finish (or hands them back),
    /// and stops the relay and the sweeps.
    pub async fn stop(self) {
        let _ = self.stop_relay.send(true);
        let _ = self.stop_sweeps.send(true);
        let report = self.worker.shutdown().await;
        tracing::info!(?report, "job worker stopped");
        let _ = self.relay.await;
        let _ = self.sweeps.await;
    }
}

/// Serves `filter` on `listener` until `shutdown` resolves, then stops
/// accepting and waits for requests in flight to finish (at most `grace`).
pub async fn serve(
    filter: BoxedFilter<(Response,)>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = tx.send(());
    };
    let server = warp::serve(filter)
        .incoming(listener)
        .graceful(signal)
        .run();
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        Ok(()) = rx => {
            tracing::info!("shutting down: draining requests");
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!(?grace, "requests still running after the grace period; stopping");
            }
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_sweep_follows_the_reservation_ttl() {
        let every = |ttl: chrono::Duration| {
            let engine = commerce_core::service::Config {
                reservation_ttl: ttl,
                ..commerce_core::service::Config::default()
            };
            sweep_config(&engine).expire_every
        };
        assert_eq!(
            every(chrono::Duration::minutes(15)),
            Duration::from_secs(10)
        );
        assert_eq!(every(chrono::Duration::seconds(4)), Duration::from_secs(2));
        assert_eq!(every(chrono::Duration::seconds(2)), Duration::from_secs(1));
        assert_eq!(
            every(chrono::Duration::milliseconds(100)),
            Duration::from_secs(1)
        );
    }
}
