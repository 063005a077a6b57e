//! Starting the real gateway against the fake Imgur, both on loopback port 0.

use pixgate::api::edge::rules::AllowedHosts;
use pixgate::config::{Config, ImgurConfig, RapidApi};
use pixgate::fake_flickr::{FakeFlickr, FakeFlickrConfig};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use pixgate::flickr::FlickrConfig;
use pixgate::imgur::Reserve;
use pixgate::secret::Secret;
use pixgate::startup::Application;
use std::path::PathBuf;
use std::time::Duration;

/// How to start a gateway for one test.
pub struct Options {
    /// Give the gateway the fake's refresh token (user mode).
    pub user: bool,
    pub api_key: Option<String>,
    pub favorites_ttl: Duration,
    pub stale_grace: Duration,
    pub upstream_timeout: Duration,
    pub cache_max_bytes: u64,
    pub client_timeout: Duration,
    pub cors_origins: Vec<String>,
    /// `PIXGATE_ALLOWED_HOSTS`.
    pub allowed_hosts: Vec<String>,
    pub upload_budget_bytes: u64,
    pub fake: FakeConfig,
    /// `PIXGATE_CREDIT_RESERVE`.
    pub credit_reserve: Reserve,
    /// `IMGUR_RAPIDAPI_URL` (the fake's when `Some`) and `IMGUR_RAPIDAPI_KEY`.
    pub rapidapi: Option<RapidApiAt>,
    /// Start a fake Flickr too and give the gateway its app key (`FLICKR_*`).
    pub flickr: Option<FakeFlickrConfig>,
    /// A `FLICKR_API_SECRET` other than the fake's (a wrong signer).
    pub flickr_api_secret: Option<String>,
}

/// Where the test's RapidAPI endpoint is: the fake, reached by another
/// host name than `IMGUR_API_URL`'s, so the fake's log tells them apart.
#[derive(Clone)]
pub struct RapidApiAt {
    pub host: String,
    pub key: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            user: true,
            api_key: None,
            favorites_ttl: Duration::from_secs(60),
            stale_grace: Duration::from_secs(3600),
            upstream_timeout: Duration::from_secs(10),
            cache_max_bytes: 64 * 1024 * 1024,
            client_timeout: Duration::from_secs(60),
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            upload_budget_bytes: 1 << 30,
            fake: FakeConfig::default(),
            credit_reserve: Reserve::default(),
            rapidapi: None,
            flickr: None,
            flickr_api_secret: None,
        }
    }
}

/// A running gateway, its fake upstream and its token file.
pub struct TestApp {
    pub address: String,
    pub fake: FakeImgur,
    /// The fake Flickr, when [`Options::flickr`] asked for one.
    pub flickr: Option<FakeFlickr>,
    pub http: reqwest::Client,
    pub token_file: PathBuf,
    /// The upload ledger (`PIXGATE_DB`).
    pub db: PathBuf,
    /// The `IMGUR_REFRESH_TOKEN` the gateway was started with.
    pub seed_refresh_token: Option<String>,
    options: Options,
    handle: actix_web::dev::ServerHandle,
    _state_dir: tempfile::TempDir,
}

/// A user-mode gateway with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// An anonymous-mode gateway (no refresh token) with default options.
pub async fn anonymous_app() -> TestApp {
    spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let fake = FakeImgur::start(options.fake.clone())
        .await
        .expect("the fake Imgur starts");
    let state_dir = tempfile::tempdir().expect("a temp dir");
    let token_file = state_dir.path().join("state/tokens.json");
    let db = state_dir.path().join("state/pixgate.db");
    let seed = options.user.then(|| fake.current_refresh_token());
    let flickr = match &options.flickr {
        Some(config) => Some(
            FakeFlickr::start(config.clone())
                .await
                .expect("the fake Flickr starts"),
        ),
        None => None,
    };
    let (address, handle) = start_gateway(
        &fake,
        flickr.as_ref(),
        &options,
        &token_file,
        seed.as_deref(),
    )
    .await;
    TestApp {
        address,
        fake,
        flickr,
        http: reqwest::Client::new(),
        token_file,
        db,
        seed_refresh_token: seed,
        options,
        handle,
        _state_dir: state_dir,
    }
}

/// The configuration a test gateway runs with.
pub fn config(
    fake: &FakeImgur,
    options: &Options,
    token_file: &std::path::Path,
    seed: Option<&str>,
) -> Config {
    let fake_config = fake.config();
    Config {
        imgur: ImgurConfig {
            client_id: fake_config.client_id.clone(),
            client_secret: Some(Secret::new(fake_config.client_secret.clone())),
            refresh_token: seed.map(Secret::new),
            api_url: fake.base_url(),
            timeout: options.upstream_timeout,
            connect_timeout: options.upstream_timeout,
            read_timeout: options.upstream_timeout,
            rapidapi: options.rapidapi.as_ref().map(|at| RapidApi {
                url: fake.base_url().replace("127.0.0.1", &at.host),
                key: Secret::new(at.key.clone()),
            }),
            credit_reserve: options.credit_reserve.clone(),
        },
        flickr: None,
        listen: "127.0.0.1:0".into(),
        api_key: options.api_key.as_deref().map(Secret::new),
        token_file: token_file.to_owned(),
        db: token_file.with_file_name("pixgate.db"),
        favorites_ttl: options.favorites_ttl,
        favorites_stale_grace: options.stale_grace,
        cache_max_bytes: options.cache_max_bytes,
        workers: Some(2),
        client_timeout: options.client_timeout,
        shutdown_grace: Duration::from_secs(5),
        cors_origins: options.cors_origins.clone(),
        allowed_hosts: AllowedHosts::new("127.0.0.1:0", &options.allowed_hosts)
            .expect("valid allowed hosts"),
        upload_budget_bytes: options.upload_budget_bytes,
        spool_dir: std::env::temp_dir(),
        redis: None,
    }
}

/// The gateway's Flickr settings for `fake`.
pub fn flickr_config(fake: &FakeFlickr) -> FlickrConfig {
    let mut config = FlickrConfig::new(
        Secret::new(&fake.config().api_key),
        Secret::new(&fake.config().api_secret),
    )
    .with_base_url(&fake.base_url());
    config.timeout = Duration::from_secs(10);
    config
}

async fn start_gateway(
    fake: &FakeImgur,
    flickr: Option<&FakeFlickr>,
    options: &Options,
    token_file: &std::path::Path,
    seed: Option<&str>,
) -> (String, actix_web::dev::ServerHandle) {
    let mut config = config(fake, options, token_file, seed);
    config.flickr = flickr.map(|fake| {
        let mut config = flickr_config(fake);
        if let Some(secret) = &options.flickr_api_secret {
            config.api_secret = Secret::new(secret);
        }
        config
    });
    let app = Application::build(config)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    fake.set_redirect_url(&format!("{address}/auth/callback"));
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, handle)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request is sent")
    }

    /// Stops the gateway and starts a new one on the same token file, with
    /// `seed` as `IMGUR_REFRESH_TOKEN`.
    pub async fn restart(&mut self, seed: Option<String>) {
        self.handle.stop(true).await;
        let (address, handle) = start_gateway(
            &self.fake,
            self.flickr.as_ref(),
            &self.options,
            &self.token_file,
            seed.as_deref(),
        )
        .await;
        self.address = address;
        self.handle = handle;
        self.seed_refresh_token = seed;
    }

    /// The token file as JSON.
    pub fn token_file_json(&self) -> serde_json::Value {
        let bytes = std::fs::read(&self.token_file).expect("the token file exists");
        serde_json::from_slice(&bytes).expect("the token file is JSON")
    }

    /// Edits the token file in place (for a gateway about to restart).
    pub fn edit_token_file(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut json = self.token_file_json();
        edit(&mut json);
        std::fs::write(&self.token_file, serde_json::to_vec(&json).expect("JSON"))
            .expect("written");
    }

    /// Requests the fake saw begin, of every kind (token endpoint included),
    /// their bodies complete or not.
    pub fn upstream_requests_begun(&self) -> usize {
        ALL_ENDPOINTS.iter().map(|e| self.fake.begun(*e)).sum()
    }

    /// The token file's bytes (it must exist).
    pub fn token_file_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.token_file).expect("the token file exists")
    }

    /// Upstream calls of every kind except the token endpoint (and the
    /// authorize page, which the browser calls, not the gateway).
    pub fn api_calls(&self) -> usize {
        ALL_ENDPOINTS
            .iter()
            .filter(|e| !matches!(e, Endpoint::Token | Endpoint::Authorize))
            .map(|e| self.fake.calls(*e))
            .sum()
    }

    /// The upload requests the fake received whole.
    pub fn uploads_received(&self) -> Vec<pixgate::fake_imgur::RecordedRequest> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.endpoint == Endpoint::Upload)
            .collect()
    }
}

/// Every endpoint of the fake.
pub const ALL_ENDPOINTS: [Endpoint; 20] = [
    Endpoint::Token,
    Endpoint::Authorize,
    Endpoint::Account,
    Endpoint::Favorites,
    Endpoint::Upload,
    Endpoint::GetImage,
    Endpoint::UpdateImage,
    Endpoint::DeleteImage,
    Endpoint::Favorite,
    Endpoint::Credits,
    Endpoint::CreateAlbum,
    Endpoint::GetAlbum,
    Endpoint::UpdateAlbum,
    Endpoint::DeleteAlbum,
    Endpoint::AddAlbumImages,
    Endpoint::RemoveAlbumImages,
    Endpoint::AlbumFavorite,
    Endpoint::AccountImages,
    Endpoint::AccountAlbums,
    Endpoint::Other,
];

/// A client that does not follow redirects.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// The `Location` of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// A query or fragment parameter of a URL.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).expect("a URL");
    let from_query = parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    from_query.or_else(|| {
        let fragment = parsed.fragment()?;
        reqwest::Url::parse(&format!("http://x/?{fragment}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the process is running")
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// A small valid PNG of `size` bytes (the IHDR says 2x3).
pub fn png(size: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x03\x08\x06\0\0\0".to_vec();
    bytes.resize(size.max(bytes.len()), 0x42);
    bytes
}

/// Asserts a problem+json answer and returns its body.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    slug: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status);
    let problem_type = body["type"].as_str().expect("a type");
    assert!(
        problem_type.ends_with(slug),
        "type {problem_type} should end in {slug}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Runs `pixgate <args>` once against `fake` with `stdin`, in an empty
/// directory (no `.env`), with only the variables a user would set plus
/// `extra`, and waits for it to end.
pub fn run_pixgate(
    fake: &FakeImgur,
    token_file: &std::path::Path,
    args: &[&str],
    stdin: &str,
    extra: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pixgate"));
    command
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("IMGUR_CLIENT_ID", &fake.config().client_id)
        .env("IMGUR_CLIENT_SECRET", &fake.config().client_secret)
        .env("IMGUR_API_URL", fake.base_url())
        .env("PIXGATE_TOKEN_FILE", token_file)
        .env("PIXGATE_DB", token_file.with_file_name("pixgate.db"))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("written");
    child.wait_with_output().expect("it ends")
}

/// The real `pixgate` binary, started against a fake, with its log lines.
pub struct GatewayProcess {
    pub child: std::process::Child,
    pub port: u16,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl GatewayProcess {
    /// Starts `pixgate` in `dir` (no `.env` there) with the fake's app
    /// credentials, `token_file`, `RUST_LOG`, and `extra` variables, and
    /// waits for its "listening" log line.
    pub fn start(
        fake: &FakeImgur,
        dir: &std::path::Path,
        token_file: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Self {
        let mut command = Self::command();
        command
            .env("IMGUR_CLIENT_ID", &fake.config().client_id)
            .env("IMGUR_CLIENT_SECRET", &fake.config().client_secret)
            .env("IMGUR_API_URL", fake.base_url())
            .env("PIXGATE_TOKEN_FILE", token_file)
            .env("PIXGATE_DB", token_file.with_file_name("pixgate.db"));
        Self::spawn(command, dir, extra)
    }

    /// Starts `pixgate --demo` in `dir` (which is also its `TMPDIR`, where
    /// the demo keeps its token file), on a free port.
    pub fn demo(dir: &std::path::Path) -> Self {
        let mut command = Self::command();
        command.arg("--demo").env("TMPDIR", dir);
        Self::spawn(command, dir, &[])
    }

    /// The binary, with none of this machine's environment.
    fn command() -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pixgate"));
        command.env_clear();
        command
    }

    fn spawn(
        mut command: std::process::Command,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Self {
        use std::io::{BufRead, BufReader};
        command
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .env("PIXGATE_LISTEN", "127.0.0.1:0")
            .env("PIXGATE_WORKERS", "2")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let (sender, lines) = std::sync::mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let port = loop {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) else {
                panic!("no 'listening' line; output so far:\n{}", seen.join("\n"));
            };
            let port = line
                .contains("pixgate is listening")
                .then(|| line.split("port=").nth(1))
                .flatten()
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse().ok());
            seen.push(line);
            if let Some(port) = port {
                break port;
            }
        };
        for line in seen {
            let _ = sender.send(line);
        }
        Self { child, port, lines }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
