//! `commerce-server`: the shop in one command.
//!
//! ```text
//! commerce-server [OPTIONS] [serve]        # the default: serve the API
//! commerce-server [OPTIONS] migrate        # bring the database schema up to date, then exit
//! commerce-server [OPTIONS] create-admin --email E   # password read from standard input
//! ```
//!
//! Every option is also an environment variable (see `--help` and
//! `docs/http.md`). With no configuration at all it runs the embedded shop:
//! SQLite in `./commerce.db`, jobs in-process, mails as `.eml` files under
//! `./mail`, and a demo catalog in an empty database.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use commerce_core::clock::{Clock, SystemClock};
use commerce_core::storage::DynStore;
use commerce_http::auth::password::{self, Passwords};
use commerce_http::config::Config;
use commerce_http::{AppState, admin, demo, server, telemetry};
use commerce_sqlx::{PgStore, SqliteStore};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "commerce-server",
    version,
    about = "The commerce-rs HTTP server"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Create an admin (or make an account one); the password is read from
    /// the first line of standard input.
    CreateAdmin {
        /// The admin's email.
        #[arg(long)]
        email: String,
    },
}

fn main() -> ExitCode {
    // Before anything else: this process may be a password worker.
    password::serve_if_worker();
    telemetry::init_tracing();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("commerce-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "commerce-server stopped");
            eprintln!("commerce-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Opens (and migrates) the database the URL names.
async fn open_store(config: &Config) -> Result<DynStore, String> {
    let url = config.database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(url, config.db_connections)
            .await
            .map_err(|e| format!("DATABASE_URL (PostgreSQL): {e}"))?;
        Ok(DynStore::new(store))
    } else if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url)
            .await
            .map_err(|e| format!("DATABASE_URL (SQLite): {e}"))?;
        Ok(DynStore::new(store))
    } else {
        Err("DATABASE_URL must start with sqlite: or postgres://".into())
    }
}

fn read_password() -> Result<SecretString, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(SecretString::from(password))
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.config;
    config.check()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            open_store(&config).await?;
            println!("database schema is up to date");
            Ok(())
        }
        Command::CreateAdmin { email } => {
            let password = read_password()?;
            let store = Arc::new(open_store(&config).await?);
            let settings = server::engine_config(&config)?;
            let commerce = server::engine(store, clock, &config, settings);
            let passwords = Passwords::owasp(1);
            let account = admin::ensure_admin(&commerce, &passwords, &email, password)
                .await
                .map_err(|e| format!("create-admin: {e}"))?;
            println!("{} is an admin", account.email);
            Ok(())
        }
        Command::Serve => serve(config, clock).await,
    }
}

async fn serve(config: Config, clock: Arc<dyn Clock>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let store = Arc::new(open_store(&config).await?);
    let tokens = server::token_keys(&config)?;
    let settings = server::engine_config(&config)?;
    let commerce = server::engine(Arc::clone(&store), Arc::clone(&clock), &config, settings);
    let passwords = config
        .auth
        .passwords(std::thread::available_parallelism().map_or(2, usize::from));

    if config.demo_enabled() {
        match demo::seed(&commerce).await {
            Ok(Some(report)) => println!("seeded the demo catalog: {report}"),
            Ok(None) => {}
            Err(e) => return Err(format!("seeding the demo catalog: {e}")),
        }
    }
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        admin::ensure_admin(&commerce, &passwords, email, password.clone())
            .await
            .map_err(|e| format!("COMMERCE_ADMIN_EMAIL: {e}"))?;
        tracing::info!(email = %email, "admin account ready");
    }

    let queue = Arc::new(server::queue(&config, Arc::clone(&clock)).await?);
    let mail = server::mail_settings(&config);
    let mailer = server::mailer(&config, &mail.from)?;
    let background = server::Background::start(
        &commerce,
        Arc::clone(&store),
        Arc::clone(&queue),
        mailer,
        mail,
        Arc::clone(&clock),
    );

    let mut state = AppState::new(commerce, config.clone(), tokens, passwords, queue);
    state.relay_nudge = Some(background.nudger());
    state.metrics = Some(telemetry::install_prometheus()?);
    state.limiter = commerce_http::ratelimit::from_config(&config).await?;

    println!("API documentation (Swagger UI): http://{addr}/api/docs/");
    println!("commerce-server listening on http://{addr}");
    tracing::info!(%addr, database = if config.is_sqlite() { "sqlite" } else { "postgres" },
        redis = config.redis_url.is_some(), "listening");

    server::serve(
        commerce_http::router(state),
        listener,
        server::shutdown_signal(),
        config.shutdown_grace,
    )
    .await;
    background.stop().await;
    tracing::info!("stopped");
    Ok(())
}
