//! Configuration: command-line flags, each also readable from its environment
//! variable (and so from `.env`, which `main` loads first).

use crate::api::edge::rules::{AllowedHosts, BadAllowedHost};
use crate::flickr::FlickrConfig;
use crate::imgur::Reserve;
use crate::secret::Secret;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

/// The `pixgate` command line.
#[derive(Parser)]
#[command(
    name = "pixgate",
    version,
    about = "A local REST gateway to Imgur: tokens held and refreshed server-side, favorites cached, OpenAPI docs at /docs/."
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The environment variables the command line reads.
    pub fn env_vars() -> Vec<String> {
        Self::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|name| name.to_string_lossy().into_owned())
            .collect()
    }

    /// Removes those set to an empty string, so `PIXGATE_WORKERS=` in a
    /// `.env` file means "unset" rather than an unparsable value. Call
    /// before any thread exists (it changes the environment).
    pub fn unset_empty_env_vars() {
        for name in Self::env_vars() {
            if std::env::var_os(&name).is_some_and(|v| v.is_empty()) {
                std::env::remove_var(&name);
            }
        }
    }
}

/// What to do; serving the gateway is the default.
#[derive(Subcommand)]
pub enum Command {
    /// Authorize an Imgur account in the terminal (PIN), or check and store
    /// an existing refresh token. Needs IMGUR_CLIENT_ID and IMGUR_CLIENT_SECRET.
    /// With `--provider flickr`, a Flickr account (needs FLICKR_API_KEY and
    /// FLICKR_API_SECRET).
    Login(LoginArgs),
    /// Delete the stored tokens.
    Logout,
    /// Print the authorization state stored in the token file (never a token).
    Status,
    /// Take the client id, secret and refresh token from another tool's settings.
    Import(ImportArgs),
    /// Print the OpenAPI document the server serves at /openapi.json.
    Openapi(OpenapiArgs),
    /// Print the upload ledger: every image and album made through pixgate,
    /// newest first, with its deletehash.
    Uploads(UploadsArgs),
    /// Run only the demo's fake Imgur, so several replicas on one Redis can
    /// be tried without an Imgur account (docs/scale-out.md): prints the
    /// settings the replicas need as `NAME=value` lines, then serves until
    /// stopped. Nothing reaches Imgur.
    DemoUpstream(DemoUpstreamArgs),
}

/// `pixgate demo-upstream`.
#[derive(Args)]
pub struct DemoUpstreamArgs {
    /// Where the fake Imgur listens.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// Where the fake's consent page sends a browser login back to (the
    /// replicas' `/auth/callback` behind their load balancer).
    #[arg(long)]
    pub callback: Option<String>,
}

/// `pixgate uploads`.
#[derive(Args)]
pub struct UploadsArgs {
    /// One JSON array (the items of GET /v1/uploads) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `pixgate openapi`.
#[derive(Args)]
pub struct OpenapiArgs {
    /// Write the document to this file (atomically) instead of printing it.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Which provider a terminal command is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    #[default]
    Imgur,
    Flickr,
}

/// `pixgate login`.
#[derive(Args)]
pub struct LoginArgs {
    /// Which account to authorize: `imgur` (PIN, or --refresh-token) or
    /// `flickr` (the verifier Flickr shows, or --token with --token-secret).
    #[arg(long, value_enum, default_value_t = Provider::Imgur)]
    pub provider: Provider,
    /// With `--provider flickr`: an existing Flickr access token to check
    /// (flickr.auth.oauth.checkToken) and store.
    #[arg(long, requires = "token_secret", conflicts_with_all = ["pin", "refresh_token"])]
    pub token: Option<Secret>,
    /// The secret of `--token`.
    #[arg(long = "token-secret", requires = "token")]
    pub token_secret: Option<Secret>,
    /// The PIN Imgur showed (otherwise it is read from standard input).
    #[arg(long, conflicts_with = "refresh_token")]
    pub pin: Option<Secret>,
    /// Check an existing refresh token with one refresh and store it, instead
    /// of the PIN flow (for when Imgur's authorize page is failing).
    #[arg(long = "refresh-token")]
    pub refresh_token: Option<Secret>,
    /// Do not try to open the authorize page in a browser.
    #[arg(long)]
    pub no_browser: bool,
}

/// `pixgate import`.
#[derive(Args)]
pub struct ImportArgs {
    /// ShareX's UploadersConfig.json (its Imgur account settings).
    #[arg(long, value_name = "UploadersConfig.json")]
    pub sharex: PathBuf,
}

/// Flags of the server. Every one can also be set through its environment variable.
#[derive(Args)]
pub struct ServerArgs {
    /// Imgur application client id.
    #[arg(long, env = "IMGUR_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Imgur application client secret (needed for user calls and token refresh).
    #[arg(long, env = "IMGUR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<Secret>,
    /// Initial refresh token; without one only anonymous upload and delete-by-deletehash work.
    #[arg(long, env = "IMGUR_REFRESH_TOKEN", hide_env_values = true)]
    pub refresh_token: Option<Secret>,
    /// Base URL of both Imgur's /3/ API and its /oauth2/ endpoints.
    #[arg(long, env = "IMGUR_API_URL", default_value = "https://api.imgur.com")]
    pub imgur_api_url: String,
    /// RapidAPI key for Imgur's commercial endpoint: /3/ calls then go to
    /// IMGUR_RAPIDAPI_URL with x-rapidapi-host and x-rapidapi-key.
    #[arg(long, env = "IMGUR_RAPIDAPI_KEY", hide_env_values = true)]
    pub rapidapi_key: Option<Secret>,
    /// Base URL of Imgur's commercial /3/ API (used with IMGUR_RAPIDAPI_KEY).
    #[arg(
        long,
        env = "IMGUR_RAPIDAPI_URL",
        default_value = "https://imgur-apiv3.p.rapidapi.com"
    )]
    pub rapidapi_url: String,
    /// Share of each Imgur limit never spent (`5%`), or a number of credits; 0 turns the guard off.
    #[arg(long, env = "PIXGATE_CREDIT_RESERVE", default_value = "5%")]
    pub credit_reserve: Reserve,
    /// The upload ledger (SQLite) [default: $XDG_STATE_HOME/pixgate/pixgate.db, else ~/.local/state/pixgate/pixgate.db].
    #[arg(long, env = "PIXGATE_DB")]
    pub db: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "PIXGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// When set, every /v1/ request must send `Authorization: Bearer <key>`.
    #[arg(long, env = "PIXGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// Allow listening on a non-loopback address without an API key.
    #[arg(long, env = "PIXGATE_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// Durable token store [default: $XDG_STATE_HOME/pixgate/tokens.json, else ~/.local/state/pixgate/tokens.json].
    #[arg(long, env = "PIXGATE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Favorites cache lifetime, in seconds.
    #[arg(long, env = "PIXGATE_FAVORITES_TTL", default_value_t = 60)]
    pub favorites_ttl: u64,
    /// How long an expired favorites page may still be served when Imgur fails, in seconds.
    #[arg(long, env = "PIXGATE_FAVORITES_STALE_GRACE", default_value_t = 3600)]
    pub favorites_stale_grace: u64,
    /// Favorites cache capacity, in bytes.
    #[arg(long, env = "PIXGATE_CACHE_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_max_bytes: u64,
    /// Limit for one upstream call, in seconds (an upload's limit grows with its size).
    #[arg(long, env = "PIXGATE_UPSTREAM_TIMEOUT", default_value_t = 30)]
    pub upstream_timeout: u64,
    /// Limit for connecting to Imgur, in seconds.
    #[arg(long, env = "PIXGATE_UPSTREAM_CONNECT_TIMEOUT", default_value_t = 10)]
    pub upstream_connect_timeout: u64,
    /// Limit for Imgur's first byte and for any pause in its answer, in seconds.
    #[arg(long, env = "PIXGATE_UPSTREAM_READ_TIMEOUT", default_value_t = 30)]
    pub upstream_read_timeout: u64,
    /// Limit for a client's request head, and for any pause in its body, in seconds (then 408).
    #[arg(long, env = "PIXGATE_CLIENT_TIMEOUT", default_value_t = 60)]
    pub client_timeout: u64,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds.
    #[arg(long, env = "PIXGATE_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// Browser origins allowed to call the API (comma-separated); CORS is off when empty.
    #[arg(long, env = "PIXGATE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Host names the gateway answers to besides IP addresses, localhost and the listen host (comma-separated; `*`: any, e.g. behind a proxy that rewrites Host).
    #[arg(long, env = "PIXGATE_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Bytes that uploads in progress may hold in memory and spool files together; past it, 503 busy.
    #[arg(long, env = "PIXGATE_UPLOAD_BUDGET_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub upload_budget_bytes: u64,
    /// Directory for the spool files of large uploads [default: the system temp dir].
    #[arg(long, env = "PIXGATE_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Redis shared by several replicas (`redis://` or `rediss://`): the
    /// tokens, logins, ledger, credit budget and favorites cache live there
    /// instead of in this process and its files (docs/scale-out.md).
    #[arg(long, env = "PIXGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// Seconds the shared token lock is held without a renewal (renewed every
    /// third of it while a refresh runs).
    #[arg(long, env = "PIXGATE_REDIS_LOCK_LEASE", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_lock_lease: u64,
    /// Log format: `text` or `json` (one object per line).
    #[arg(long, env = "PIXGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "PIXGATE_WORKERS")]
    pub workers: Option<usize>,
    /// Run against a built-in fake Imgur (and fake Flickr) with seeded demo accounts: nothing reaches Imgur or Flickr.
    #[arg(long, env = "PIXGATE_DEMO")]
    pub demo: bool,
    /// Flickr app key (OAuth consumer key); without it every /flickr/ route answers 404 `provider-not-configured`.
    #[arg(long, env = "FLICKR_API_KEY", hide_env_values = true)]
    pub flickr_api_key: Option<Secret>,
    /// Flickr app secret (OAuth consumer secret).
    #[arg(long, env = "FLICKR_API_SECRET", hide_env_values = true)]
    pub flickr_api_secret: Option<Secret>,
    /// Base URL of Flickr's REST API (`/services/rest`).
    #[arg(long, env = "FLICKR_API_URL", default_value = FlickrConfig::DEFAULT_API_URL)]
    pub flickr_api_url: String,
    /// Base URL of Flickr's upload endpoint (`/services/upload/`).
    #[arg(long, env = "FLICKR_UPLOAD_URL", default_value = FlickrConfig::DEFAULT_UPLOAD_URL)]
    pub flickr_upload_url: String,
    /// Base URL of Flickr's OAuth endpoints (`/services/oauth/...`).
    #[arg(long, env = "FLICKR_OAUTH_URL", default_value = FlickrConfig::DEFAULT_OAUTH_URL)]
    pub flickr_oauth_url: String,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration error, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "PIXGATE_REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0"
    )]
    BadRedisUrl,
    #[error("IMGUR_CLIENT_ID (or --client-id) is required; register an app at https://api.imgur.com/oauth2/addclient, or try `pixgate --demo`")]
    MissingClientId,
    #[error("IMGUR_REFRESH_TOKEN is set but IMGUR_CLIENT_SECRET is not: refreshing tokens needs the client secret")]
    MissingClientSecret,
    #[error("cannot resolve listen address {0:?}")]
    BadListenAddress(String),
    #[error("refusing to listen on non-loopback address {0} without PIXGATE_API_KEY; set an API key or pass --allow-unauthenticated")]
    UnauthenticatedNonLoopback(String),
    #[error("IMGUR_API_URL must be an http(s) URL, got {0:?}")]
    BadApiUrl(String),
    #[error(
        "cannot find a home for the token file: set PIXGATE_TOKEN_FILE, XDG_STATE_HOME or HOME"
    )]
    NoTokenFileLocation,
    #[error("IMGUR_CLIENT_SECRET (or --client-secret) is required to authorize an account")]
    ClientSecretRequired,
    #[error(transparent)]
    BadAllowedHost(#[from] BadAllowedHost),
    #[error("IMGUR_RAPIDAPI_URL must be an http(s) URL, got {0:?}")]
    BadRapidApiUrl(String),
    #[error("cannot find a home for the upload ledger: set PIXGATE_DB, XDG_STATE_HOME or HOME")]
    NoDbLocation,
    #[error("FLICKR_API_KEY is set but FLICKR_API_SECRET is not: every Flickr call is signed with the secret")]
    MissingFlickrSecret,
    #[error("{name} must be an http(s) URL, got {url:?}")]
    BadFlickrUrl { name: &'static str, url: String },
    #[error("FLICKR_API_KEY (or --flickr-api-key) is required for `--provider flickr`; see README, \"Flickr\"")]
    FlickrNotConfigured,
}

/// Imgur connection settings.
#[derive(Clone, Debug)]
pub struct ImgurConfig {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Without a trailing slash.
    pub api_url: String,
    /// Limit for one whole call.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Limit for the first byte and for each pause in an answer.
    pub read_timeout: Duration,
    /// Imgur's commercial endpoint, when `IMGUR_RAPIDAPI_KEY` is set.
    pub rapidapi: Option<RapidApi>,
    /// `PIXGATE_CREDIT_RESERVE`.
    pub credit_reserve: Reserve,
}

/// Imgur's commercial endpoint on RapidAPI: `/3/` calls go to `url` with
/// `x-rapidapi-host` and `x-rapidapi-key` (and `Authorization` as usual).
#[derive(Clone, Debug)]
pub struct RapidApi {
    /// Without a trailing slash.
    pub url: String,
    pub key: Secret,
}

impl RapidApi {
    /// The `x-rapidapi-host` value: the URL's host (and port, if given).
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|url| {
                let host = url.host_str()?.to_owned();
                Some(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_default()
    }
}

/// The validated configuration the application is built from.
#[derive(Clone, Debug)]
pub struct Config {
    pub imgur: ImgurConfig,
    /// `None` without `FLICKR_API_KEY`: the `/flickr/` routes then answer
    /// 404 `provider-not-configured`.
    pub flickr: Option<FlickrConfig>,
    pub listen: String,
    pub api_key: Option<Secret>,
    pub token_file: PathBuf,
    /// The upload ledger's SQLite file.
    pub db: PathBuf,
    pub favorites_ttl: Duration,
    pub favorites_stale_grace: Duration,
    pub cache_max_bytes: u64,
    pub workers: Option<usize>,
    pub client_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Browser origins allowed by CORS (and so to make unsafe requests);
    /// empty: CORS off.
    pub cors_origins: Vec<String>,
    /// The host names the `Host` check lets through.
    pub allowed_hosts: AllowedHosts,
    /// The most bytes uploads in progress may hold.
    pub upload_budget_bytes: u64,
    /// Where large uploads are spooled.
    pub spool_dir: PathBuf,
    /// Redis for state shared by replicas; `None`: this process and its files.
    pub redis: Option<RedisConfig>,
}

/// `PIXGATE_REDIS_URL` and its settings.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub url: Secret,
    /// How long the shared token lock lives without a renewal.
    pub lock_lease: Duration,
}

impl ServerArgs {
    /// The Imgur settings alone (for the terminal commands).
    pub fn imgur_config(&self) -> Result<ImgurConfig, ConfigError> {
        self.imgur_config_for(
            self.client_id.clone(),
            self.client_secret.clone(),
            self.refresh_token.clone(),
        )
    }

    /// The Imgur settings with the given app credentials and refresh token
    /// (`pixgate import` brings another tool's).
    pub fn imgur_config_for(
        &self,
        client_id: Option<String>,
        client_secret: Option<Secret>,
        refresh_token: Option<Secret>,
    ) -> Result<ImgurConfig, ConfigError> {
        let client_id = non_empty(client_id).ok_or(ConfigError::MissingClientId)?;
        let client_secret = client_secret.filter(|s| !s.expose().is_empty());
        let refresh_token = refresh_token.filter(|s| !s.expose().is_empty());
        if refresh_token.is_some() && client_secret.is_none() {
            return Err(ConfigError::MissingClientSecret);
        }
        let api_url = self.imgur_api_url.trim_end_matches('/').to_owned();
        if !is_http_url(&api_url) {
            return Err(ConfigError::BadApiUrl(api_url));
        }
        let rapidapi = match self.rapidapi_key.clone().filter(|k| !k.expose().is_empty()) {
            Some(key) => {
                let url = self.rapidapi_url.trim_end_matches('/').to_owned();
                if !is_http_url(&url) {
                    return Err(ConfigError::BadRapidApiUrl(url));
                }
                Some(RapidApi { url, key })
            }
            None => None,
        };
        Ok(ImgurConfig {
            client_id,
            client_secret,
            refresh_token,
            api_url,
            timeout: Duration::from_secs(self.upstream_timeout.max(1)),
            connect_timeout: Duration::from_secs(self.upstream_connect_timeout.max(1)),
            read_timeout: Duration::from_secs(self.upstream_read_timeout.max(1)),
            rapidapi,
            credit_reserve: self.credit_reserve.clone(),
        })
    }

    /// The Flickr settings; `None` when no `FLICKR_API_KEY` is set.
    pub fn flickr_config(&self) -> Result<Option<FlickrConfig>, ConfigError> {
        let Some(key) = self
            .flickr_api_key
            .clone()
            .filter(|k| !k.expose().is_empty())
        else {
            return Ok(None);
        };
        let secret = self
            .flickr_api_secret
            .clone()
            .filter(|s| !s.expose().is_empty())
            .ok_or(ConfigError::MissingFlickrSecret)?;
        let url = |name: &'static str, raw: &str| {
            let url = raw.trim_end_matches('/').to_owned();
            if is_http_url(&url) {
                Ok(url)
            } else {
                Err(ConfigError::BadFlickrUrl { name, url })
            }
        };
        let mut config = FlickrConfig::new(key, secret);
        config.api_url = url("FLICKR_API_URL", &self.flickr_api_url)?;
        config.upload_url = url("FLICKR_UPLOAD_URL", &self.flickr_upload_url)?;
        config.oauth_url = url("FLICKR_OAUTH_URL", &self.flickr_oauth_url)?;
        config.timeout = Duration::from_secs(self.upstream_timeout.max(1));
        Ok(Some(config))
    }

    /// `IMGUR_REFRESH_TOKEN`, the seed of the token file, if set.
    pub fn seed_refresh_token(&self) -> Option<Secret> {
        self.refresh_token.clone()
    }

    /// The upload ledger: `--db`, else the XDG default.
    pub fn db(&self) -> Result<PathBuf, ConfigError> {
        match &self.db {
            Some(path) => Ok(path.clone()),
            None => default_db().ok_or(ConfigError::NoDbLocation),
        }
    }

    /// The token file: `--token-file`, else the XDG default.
    pub fn token_file(&self) -> Result<PathBuf, ConfigError> {
        match &self.token_file {
            Some(path) => Ok(path.clone()),
            None => default_token_file().ok_or(ConfigError::NoTokenFileLocation),
        }
    }

    /// `PIXGATE_REDIS_URL` and its settings; `None` without a URL.
    pub fn redis_config(&self) -> Result<Option<RedisConfig>, ConfigError> {
        match self
            .redis_url
            .clone()
            .filter(|u| !u.expose().trim().is_empty())
        {
            Some(url) if is_redis_url(url.expose()) => Ok(Some(RedisConfig {
                url,
                lock_lease: Duration::from_secs(self.redis_lock_lease),
            })),
            Some(_) => Err(ConfigError::BadRedisUrl),
            None => Ok(None),
        }
    }

    /// Validates the flags into a [`Config`] (for a non-demo run).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let imgur = self.imgur_config()?;
        let flickr = self.flickr_config()?;
        let token_file = self.token_file()?;
        let db = self.db()?;
        let redis = self.redis_config()?;
        let api_key = self.api_key.filter(|s| !s.expose().is_empty());
        if api_key.is_none() && !self.allow_unauthenticated && !is_loopback(&self.listen)? {
            return Err(ConfigError::UnauthenticatedNonLoopback(self.listen));
        }
        let allowed_hosts = AllowedHosts::new(&self.listen, &self.allowed_hosts)?;
        Ok(Config {
            redis,
            imgur,
            flickr,
            allowed_hosts,
            upload_budget_bytes: self.upload_budget_bytes,
            spool_dir: self.spool_dir.unwrap_or_else(std::env::temp_dir),
            listen: self.listen,
            api_key,
            token_file,
            db,
            favorites_ttl: Duration::from_secs(self.favorites_ttl),
            favorites_stale_grace: Duration::from_secs(self.favorites_stale_grace),
            cache_max_bytes: self.cache_max_bytes,
            workers: self.workers.filter(|n| *n > 0),
            client_timeout: Duration::from_secs(self.client_timeout.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            cors_origins: self
                .cors_origins
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        })
    }
}

fn is_redis_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss"))
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// True when every address `listen` resolves to is a loopback address.
fn is_loopback(listen: &str) -> Result<bool, ConfigError> {
    let addrs: Vec<_> = listen
        .to_socket_addrs()
        .map_err(|_| ConfigError::BadListenAddress(listen.to_owned()))?
        .collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

/// `$XDG_STATE_HOME/pixgate/tokens.json`, falling back to `~/.local/state/pixgate/tokens.json`.
pub fn default_token_file() -> Option<PathBuf> {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state_home.join("pixgate").join("tokens.json"))
}

/// `pixgate.db` beside the default token file.
pub fn default_db() -> Option<PathBuf> {
    Some(default_token_file()?.with_file_name("pixgate.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ServerArgs {
        let mut argv = vec![
            "pixgate",
            "--client-id",
            "abc",
            "--token-file",
            "/tmp/t.json",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("valid arguments").server
    }

    #[test]
    fn loopback_listen_needs_no_api_key() {
        assert!(args(&["--listen", "127.0.0.1:0"]).into_config().is_ok());
        assert!(args(&["--listen", "[::1]:0"]).into_config().is_ok());
    }

    #[test]
    fn non_loopback_listen_is_refused_without_api_key() {
        let err = args(&["--listen", "0.0.0.0:0"]).into_config().unwrap_err();
        assert!(matches!(err, ConfigError::UnauthenticatedNonLoopback(_)));
        assert!(args(&["--listen", "0.0.0.0:0", "--allow-unauthenticated"])
            .into_config()
            .is_ok());
        assert!(args(&["--listen", "0.0.0.0:0", "--api-key", "k"])
            .into_config()
            .is_ok());
    }

    #[test]
    fn rapidapi_is_used_only_with_a_key_and_the_reserve_is_parsed() {
        let plain = args(&[]).imgur_config().expect("valid");
        assert!(plain.rapidapi.is_none());
        assert_eq!(plain.credit_reserve, Reserve::Percent(5.0));
        let rapid = args(&["--rapidapi-key", "k", "--credit-reserve", "100"])
            .imgur_config()
            .expect("valid");
        let rapidapi = rapid.rapidapi.expect("RapidAPI configured");
        assert_eq!(rapidapi.url, "https://imgur-apiv3.p.rapidapi.com");
        assert_eq!(rapidapi.host(), "imgur-apiv3.p.rapidapi.com");
        assert_eq!(rapid.credit_reserve, Reserve::Credits(100));
        assert!(Cli::try_parse_from(["pixgate", "--credit-reserve", "lots"]).is_err());
        let debug = format!(
            "{:?}",
            args(&["--rapidapi-key", "rapid-secret"]).imgur_config()
        );
        assert!(!debug.contains("rapid-secret"), "{debug}");
    }

    #[test]
    fn refresh_token_without_client_secret_is_refused() {
        let err = args(&["--refresh-token", "r"]).into_config().unwrap_err();
        assert!(matches!(err, ConfigError::MissingClientSecret));
    }

    #[test]
    fn env_example_lists_every_variable_with_a_value_clap_accepts() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
        let entries: Vec<(String, String)> = dotenvy::from_path_iter(path)
            .expect(".env.example exists")
            .collect::<Result<_, _>>()
            .expect(".env.example parses");
        for name in Cli::env_vars().into_iter().chain(["RUST_LOG".to_owned()]) {
            assert!(
                entries.iter().any(|(n, _)| *n == name),
                "{name} is missing from .env.example"
            );
        }
        let mut argv = vec!["pixgate".to_owned()];
        for arg in Cli::command().get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let value = entries
                .iter()
                .find(|(n, _)| env == n.as_str())
                .map(|(_, v)| v.clone());
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            let long = arg.get_long().expect("every option has a long flag");
            if arg.get_num_args().is_some_and(|n| n.takes_values()) {
                argv.extend([format!("--{long}"), value]);
            } else if value == "true" {
                argv.push(format!("--{long}"));
            }
        }
        assert!(Cli::try_parse_from(&argv).is_ok(), "{argv:?}");
    }

    #[test]
    fn allowed_hosts_must_be_host_names() {
        let err = args(&["--allowed-hosts", "pixgate.lan,http://x.example"])
            .into_config()
            .unwrap_err();
        assert!(err.to_string().contains("http://x.example"), "{err}");
        let config = args(&["--allowed-hosts", "*"])
            .into_config()
            .expect("valid");
        assert!(config.allowed_hosts.allows_any());
    }

    #[test]
    fn uploads_spool_to_the_temp_dir_within_1_gib_by_default() {
        let config = args(&[]).into_config().expect("valid");
        assert_eq!(config.spool_dir, std::env::temp_dir());
        assert_eq!(config.upload_budget_bytes, 1 << 30);
    }

    #[test]
    fn flickr_is_configured_only_with_a_key_and_needs_its_secret() {
        assert!(args(&[]).into_config().expect("valid").flickr.is_none());
        let err = args(&["--flickr-api-key", "k"]).into_config().unwrap_err();
        assert!(matches!(err, ConfigError::MissingFlickrSecret), "{err}");
        let config = args(&[
            "--flickr-api-key",
            "k",
            "--flickr-api-secret",
            "flickr-secret",
            "--flickr-api-url",
            "http://127.0.0.1:9/",
        ])
        .into_config()
        .expect("valid");
        let flickr = config.flickr.expect("configured");
        assert_eq!(flickr.api_url, "http://127.0.0.1:9");
        assert_eq!(flickr.upload_url, FlickrConfig::DEFAULT_UPLOAD_URL);
        assert_eq!(flickr.oauth_url, FlickrConfig::DEFAULT_OAUTH_URL);
        assert!(!format!("{flickr:?}").contains("flickr-secret"));
        let err = args(&[
            "--flickr-api-key",
            "k",
            "--flickr-api-secret",
            "s",
            "--flickr-oauth-url",
            "ftp://x",
        ])
        .into_config()
        .unwrap_err();
        assert!(err.to_string().contains("FLICKR_OAUTH_URL"), "{err}");
    }

    #[test]
    fn api_url_loses_its_trailing_slash() {
        let config = args(&["--imgur-api-url", "http://127.0.0.1:9/"])
            .into_config()
            .expect("valid");
        assert_eq!(config.imgur.api_url, "http://127.0.0.1:9");
    }
}
