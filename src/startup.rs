//! Building and running the server: the same path for `main`, `--demo` and
//! the tests (which listen on port 0 and read the port back).

use crate::api::edge::rules::TrustedOrigins;
use crate::api::edge::{self, EdgeRules};
use crate::api::middleware::{self, RequestId};
use crate::api::{self, api_key, ApiKey};
use crate::cache::FavoritesCache;
use crate::config::Config;
use crate::fleet::{Fleet, FleetError, RedisLedger, RedisStore, SharedBudget};
use crate::flickr::FlickrClient;
use crate::gateway::{Flickr, Gateway};
use crate::imgur::{FileStore, ImgurClient, StoreError, TokenStore};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::upload::{UploadBudget, UploadStorage};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::HttpMessage;
use actix_web::{http::header, web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    TokenStore(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Redis(#[from] FleetError),
    #[error("cannot set up the Flickr client: {0}")]
    Flickr(crate::flickr::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("the spool directory {} (PIXGATE_SPOOL_DIR) is not a writable directory: {source}", path.display())]
    SpoolDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// How long a replica waits at start for Redis (its tokens are there).
const REDIS_AT_START: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a client may pause while sending a body (handlers read it).
#[derive(Clone, Copy, Debug)]
pub struct ClientTimeout(pub std::time::Duration);

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the token store and the upload ledger, binds the listener and
    /// builds the server.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let metrics = Arc::new(Metrics::new());
        let fleet = config
            .redis
            .as_ref()
            .map(|redis| Fleet::connect(&redis.url, Arc::clone(&metrics)))
            .transpose()?;
        let token_store: Arc<dyn TokenStore> = match (&fleet, &config.redis) {
            (Some(fleet), Some(redis)) => {
                fleet.wait_until_reachable(REDIS_AT_START).await?;
                Arc::new(RedisStore::new(fleet.clone(), redis.lock_lease))
            }
            _ => Arc::new(FileStore::new(&config.token_file)),
        };
        let imgur = ImgurClient::new(&config.imgur, token_store, Arc::clone(&metrics))?;
        let imgur = match &fleet {
            Some(fleet) => imgur.with_credit_budget(Arc::new(SharedBudget::new(fleet.clone()))),
            None => imgur,
        };
        let ledger = match &fleet {
            Some(fleet) => {
                let store = RedisLedger::new(fleet.clone());
                let location = std::path::PathBuf::from(store.location());
                Ledger::start(Box::new(store), &location)?
            }
            None => Ledger::open(&config.db)?,
        };
        let mut favorites = FavoritesCache::new(
            config.favorites_ttl,
            config.favorites_stale_grace,
            config.cache_max_bytes,
            Arc::clone(&metrics),
        );
        if let Some(fleet) = &fleet {
            favorites = favorites.with_fleet(fleet.clone());
        }
        check_spool_dir(&config.spool_dir)?;
        let uploads = web::Data::new(UploadStorage {
            budget: UploadBudget::new(config.upload_budget_bytes),
            spool_dir: config.spool_dir.clone(),
        });
        if config.allowed_hosts.allows_any() {
            tracing::warn!("PIXGATE_ALLOWED_HOSTS=*: the Host check is off, so a web page can reach this gateway through DNS rebinding; use it only behind a proxy that checks Host itself");
        }
        let edge_rules = web::Data::new(EdgeRules {
            hosts: config.allowed_hosts.clone(),
            origins: TrustedOrigins::new(&config.cors_origins),
        });
        let metrics = web::Data::from(metrics);
        let mut gateway = Gateway::new(imgur, favorites, ledger);
        if let Some(fleet) = &fleet {
            gateway = gateway.with_fleet(fleet.clone());
        }
        if let Some(flickr) = &config.flickr {
            let client = FlickrClient::new(flickr.clone()).map_err(StartupError::Flickr)?;
            gateway = gateway.with_flickr(Flickr::new(client));
        }
        let gateway = web::Data::new(gateway);
        let api_key = web::Data::new(ApiKey::new(config.api_key.as_ref()));
        let openapi = api::openapi();
        let routes = web::Data::new(api::RouteTable::from_openapi(&openapi));

        let listen_error = |source| StartupError::Listen {
            address: config.listen.clone(),
            source,
        };
        let cors_origins = config.cors_origins.clone();
        let client_timeout = web::Data::new(ClientTimeout(config.client_timeout));
        let listener = TcpListener::bind(&config.listen).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        let mut server = HttpServer::new(move || {
            // The last `wrap` is the outermost: a request passes request id,
            // frame protection, panics, tracing, metrics, then the edge
            // checks (Host, cross-origin), CORS and the API key before any
            // route sees it.
            App::new()
                .wrap(from_fn(middleware::head_as_get))
                .wrap(from_fn(api_key::require_api_key))
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    middleware::cors(&cors_origins),
                ))
                .wrap(from_fn(edge::check_edge))
                .wrap(from_fn(middleware::record_metrics))
                .wrap(TracingLogger::<PathOnlySpan>::new())
                .wrap(from_fn(middleware::catch_panics))
                .wrap(from_fn(edge::frame_protection))
                .wrap(from_fn(middleware::request_id))
                .app_data(edge_rules.clone())
                .app_data(uploads.clone())
                .app_data(gateway.clone())
                .app_data(routes.clone())
                .app_data(client_timeout.clone())
                .app_data(metrics.clone())
                .app_data(api_key.clone())
                .configure(api::extractor_config)
                .into_utoipa_app()
                .configure(api::configure)
                .into_app()
                .configure(api::configure_static)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
                .route("/", web::get().to(redirect_to_docs))
                .route("/docs", web::get().to(redirect_to_docs))
                .default_service(web::to(api::not_found))
        })
        .client_request_timeout(config.client_timeout)
        .shutdown_timeout(config.shutdown_grace.as_secs());
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(listen_error)?.run();
        tracing::info!(port, "pixgate is listening; API docs at /docs/");
        Ok(Self { port, server })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM stop it gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The request span, like tracing-actix-web's default but with the path
/// instead of path and query: `/auth/login?key=...` must not reach a log.
pub(crate) struct PathOnlySpan;

impl RootSpanBuilder for PathOnlySpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            request_id = %request_id,
            http.method = %request.method(),
            // Recorded at the end: before routing it would cost a regex match.
            http.route = tracing::field::Empty,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        if let Ok(response) = outcome {
            let route = response.request().match_pattern();
            span.record("http.route", route.as_deref().unwrap_or("default"));
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Refuses to start with a spool directory that cannot take a file, rather
/// than fail the first large upload.
fn check_spool_dir(dir: &std::path::Path) -> Result<(), StartupError> {
    tempfile::Builder::new()
        .prefix("pixgate-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|source| StartupError::SpoolDir {
            path: dir.to_owned(),
            source,
        })
}

async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}
