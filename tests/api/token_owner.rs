//! Issue 11, problems 1 to 9 (problem 7, the panicking flight, is a unit
//! test in `src/imgur/tokens.rs`): each test names the problem it covers and
//! failed on the code before the token owner.

use crate::helpers::{
    assert_problem, run_pixgate, spawn_app_with, GatewayProcess, Options, TestApp,
};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn some_image(app: &TestApp) -> String {
    app.fake.favorite_ids()[0].clone()
}

/// Makes a directory immutable (even for root) until dropped.
struct Frozen(std::path::PathBuf);

impl Frozen {
    fn new(dir: &std::path::Path) -> Option<Self> {
        let frozen = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status();
        frozen.ok()?.success().then(|| Self(dir.to_owned()))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// Waits (bounded) until `done` holds; panics with `what` at the deadline.
async fn eventually(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling an effect, bounded
    }
}

fn stored_refresh_token(app: &TestApp) -> Option<String> {
    std::fs::read(&app.token_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["refresh_token"].as_str().map(str::to_owned))
}

fn last_bearer(app: &TestApp, endpoint: Endpoint) -> Option<String> {
    app.fake
        .requests()
        .iter()
        .rev()
        .find(|r| r.endpoint == endpoint)
        .and_then(|r| r.authorization.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_1_a_retried_token_write_waits_for_the_file_lock() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let dir = app.token_file.parent().expect("a directory").to_owned();
    let before = std::fs::read(&app.token_file).expect("token file");
    let Some(frozen) = Frozen::new(&dir) else {
        eprintln!("skipped: chattr +i is not available on this filesystem");
        return;
    };
    app.fake.expire_access_tokens();
    assert_eq!(
        app.get(&format!("/v1/images/{}", some_image(&app)))
            .await
            .status(),
        200
    );

    // Another process holds the lock (a login in another terminal, a refresh
    // in a second gateway) while the disk recovers.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("tokens.json.lock"))
        .expect("the lock file exists");
    lock.lock().expect("locked");
    drop(frozen);
    // Longer than the first retries' pauses (0.5 s, 1 s): a write that
    // ignored the lock would land now and could put an older record back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        std::fs::read(&app.token_file).expect("token file"),
        before,
        "nothing is written while another process holds the lock"
    );

    lock.unlock().expect("unlocked");
    let current = app.fake.current_refresh_token();
    eventually(
        Duration::from_secs(40),
        "the rotated token is stored once the lock is free",
        || stored_refresh_token(&app).as_deref() == Some(current.as_str()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_2_a_login_whose_write_fails_is_used_reported_as_not_stored_and_retried() {
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let dir = app.token_file.parent().expect("a directory").to_owned();
    std::fs::create_dir_all(&dir).expect("dir");
    let Some(frozen) = Frozen::new(&dir) else {
        eprintln!("skipped: chattr +i is not available on this filesystem");
        return;
    };
    let only_token = app.fake.current_refresh_token();

    let login = app
        .http
        .post(app.url("/auth/refresh-token"))
        .json(&serde_json::json!({ "refresh_token": only_token }))
        .send()
        .await
        .expect("sent");

    let problem = assert_problem(login, 500, "login-not-stored").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("uses it now") && detail.contains("not stored yet"),
        "{detail}"
    );
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "the login is in use"
    );
    let issued = app
        .fake
        .issued_access_tokens()
        .last()
        .cloned()
        .expect("issued");
    assert_eq!(
        last_bearer(&app, Endpoint::Account),
        Some(format!("Bearer {issued}"))
    );
    assert!(!app.token_file.exists(), "nothing was written yet");
    drop(frozen);
    let rotated = app.fake.current_refresh_token();
    eventually(
        Duration::from_secs(40),
        "the login is stored by a retry",
        || stored_refresh_token(&app).as_deref() == Some(rotated.as_str()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_3_a_logout_in_another_terminal_waits_for_a_running_refresh_and_stays() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.set_token_delay(Duration::from_millis(1500));
    app.fake.expire_access_tokens();
    let begun = app.fake.begun(Endpoint::Token);
    let image = some_image(&app);
    let request = {
        let http = app.http.clone();
        let url = app.url(&format!("/v1/images/{image}"));
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    app.fake.wait_for_begun(Endpoint::Token, begun + 1).await;

    let fake_url = app.fake.base_url();
    let token_file = app.token_file.clone();
    let config = app.fake.config().clone();
    let logout = tokio::task::spawn_blocking(move || {
        let fake = FakeCli {
            url: fake_url,
            config,
        };
        fake.run(&token_file, &["logout"])
    })
    .await
    .expect("joined");
    let _ = request.await;

    assert!(
        logout.status.success(),
        "{}",
        String::from_utf8_lossy(&logout.stderr)
    );
    assert!(
        stored_refresh_token(&app).is_none(),
        "the refresh that ran during the logout did not write the tokens back"
    );
    let http = app.http.clone();
    let url = app.url("/auth/status");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status: serde_json::Value = http
            .get(&url)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if status["authorized"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway noticed the logout within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling an effect, bounded
    }
}

/// `run_pixgate` needs a `FakeImgur`; this carries what it reads from one
/// into a blocking task.
struct FakeCli {
    url: String,
    config: FakeConfig,
}

impl FakeCli {
    fn run(&self, token_file: &std::path::Path, args: &[&str]) -> std::process::Output {
        let dir = tempfile::tempdir().expect("temp dir");
        std::process::Command::new(env!("CARGO_BIN_EXE_pixgate"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("IMGUR_CLIENT_ID", &self.config.client_id)
            .env("IMGUR_CLIENT_SECRET", &self.config.client_secret)
            .env("IMGUR_API_URL", &self.url)
            .env("PIXGATE_TOKEN_FILE", token_file)
            .env("PIXGATE_DB", token_file.with_file_name("pixgate.db"))
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the binary runs")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_4_an_import_is_kept_when_the_environment_still_holds_the_older_seed() {
    let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let seed = fake.current_refresh_token();
    let sharex = dir.path().join("UploadersConfig.json");
    let settings = serde_json::json!({"ImgurOAuth2Info": {
        "Client_ID": fake.config().client_id,
        "Client_Secret": fake.config().client_secret,
        "Token": {"refresh_token": seed, "expires_in": 3600}
    }});
    std::fs::write(&sharex, settings.to_string()).expect("written");
    let env = [("IMGUR_REFRESH_TOKEN", seed.as_str())];

    // The import checks the token with one refresh: Imgur rotates it, so the
    // seed still in the environment is dead from here on.
    let imported = run_pixgate(
        &fake,
        &token_file,
        &["import", "--sharex", sharex.to_str().expect("utf-8")],
        "",
        &env,
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let gateway = GatewayProcess::start(&fake, dir.path(), &token_file, &env);

    let account = reqwest::get(gateway.url("/v1/account"))
        .await
        .expect("sent");

    assert_eq!(account.status(), 200, "the imported, rotated token is used");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("file")).expect("json");
    assert_ne!(
        stored["refresh_token"],
        seed.as_str(),
        "the stale seed did not overwrite the import"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_5_no_early_refresh_rotates_a_token_that_is_not_stored() {
    let app = spawn_app_with(Options {
        fake: FakeConfig {
            access_token_lifetime: Duration::from_secs(6),
            ..FakeConfig::default()
        },
        ..Options::default()
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let Some(frozen) = Frozen::new(app.token_file.parent().expect("a directory")) else {
        eprintln!("skipped: chattr +i is not available on this filesystem");
        return;
    };
    app.fake.expire_access_tokens();
    let image = some_image(&app);
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    let token_calls = app.fake.calls(Endpoint::Token);

    // Past the early-refresh point (3 s before expiry), before the expiry.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let during = app.get(&format!("/v1/images/{image}")).await;

    assert_eq!(during.status(), 200);
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls,
        "the unsaved refresh token was not rotated further"
    );
    drop(frozen);
    let current = app.fake.current_refresh_token();
    eventually(
        Duration::from_secs(40),
        "the unsaved token is stored",
        || stored_refresh_token(&app).as_deref() == Some(current.as_str()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_6_a_failed_early_refresh_keeps_the_working_token_and_retries() {
    let mut app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("now")
        .as_secs() as i64;
    app.edit_token_file(|json| json["access_token_expires_at"] = (now + 30).into());
    let old = app.token_file_json()["access_token"]
        .as_str()
        .expect("stored")
        .to_owned();
    let seed = app.seed_refresh_token.clone();
    app.restart(seed).await;
    let token_calls = app.fake.calls(Endpoint::Token);
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Token),
        kind: FaultKind::ServerError(500),
        times: 1,
    });
    let image = some_image(&app);

    let first = app.get(&format!("/v1/images/{image}")).await;

    assert_eq!(first.status(), 200, "the still valid token is used");
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls + 1,
        "the early refresh was tried"
    );
    assert_eq!(
        last_bearer(&app, Endpoint::GetImage),
        Some(format!("Bearer {old}"))
    );
    let second = app.get(&format!("/v1/images/{image}")).await;
    assert_eq!(second.status(), 200);
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls + 1,
        "backing off"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.fake.calls(Endpoint::Token) == token_calls + 1 {
        assert!(
            Instant::now() < deadline,
            "the early refresh is retried after its backoff"
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // polling for the retry, bounded
        assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    }
    let issued = app
        .fake
        .issued_access_tokens()
        .last()
        .cloned()
        .expect("issued");
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    assert_eq!(
        last_bearer(&app, Endpoint::GetImage),
        Some(format!("Bearer {issued}"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_8_wrong_client_credentials_are_their_own_problem_and_readyz_says_so() {
    let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let seed = fake.current_refresh_token();
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &token_file,
        &[
            ("IMGUR_REFRESH_TOKEN", seed.as_str()),
            ("IMGUR_CLIENT_SECRET", "not-the-secret"),
        ],
    );

    let account = reqwest::get(gateway.url("/v1/account"))
        .await
        .expect("sent");
    let ready = reqwest::get(gateway.url("/readyz")).await.expect("sent");

    let problem = assert_problem(account, 502, "client-credentials-rejected").await;
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains("IMGUR_CLIENT_ID") && detail.contains("IMGUR_CLIENT_SECRET"),
        "{detail}"
    );
    assert!(
        !detail.to_lowercase().contains("authorize again"),
        "{detail}"
    );
    let not_ready = assert_problem(ready, 503, "not-ready").await;
    assert!(not_ready["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("IMGUR_CLIENT_SECRET"));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("file")).expect("json");
    assert_eq!(
        stored["refresh_token"],
        seed.as_str(),
        "the refresh token is kept"
    );
}

#[tokio::test]
async fn problem_8_the_token_endpoint_retry_after_is_honoured() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.expire_access_tokens();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Token),
        kind: FaultKind::RateLimited {
            retry_after: Some(42),
            user_reset_secs: 42,
        },
        times: 1,
    });
    let image = some_image(&app);
    let token_calls = app.fake.calls(Endpoint::Token);

    let first = app.get(&format!("/v1/images/{image}")).await;
    let retry_after = first
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_problem(first, 429, "rate-limited").await;
    let second = app.get(&format!("/v1/images/{image}")).await;

    assert_eq!(retry_after.as_deref(), Some("42"));
    assert_eq!(second.status(), 429, "still backing off");
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls + 1,
        "one token request in the wait"
    );
}

#[tokio::test]
async fn problem_8_a_block_at_the_token_endpoint_is_not_a_rejected_token() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.expire_access_tokens();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Token),
        kind: FaultKind::Blocked {
            status: 403,
            cdn_error: false,
        },
        times: 1,
    });

    let blocked = app.get(&format!("/v1/images/{}", some_image(&app))).await;

    assert_problem(blocked, 403, "blocked-by-imgur").await;
}

#[tokio::test]
async fn problem_9_a_401_right_after_a_refresh_is_answered_without_another_refresh() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.expire_access_tokens();
    let image = some_image(&app);
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    let token_calls = app.fake.calls(Endpoint::Token);
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::GetImage),
        kind: FaultKind::ServerError(401),
        times: 3,
    });

    let refused = app.get(&format!("/v1/images/{image}")).await;

    let problem = assert_problem(refused, 502, "upstream-error").await;
    assert_eq!(problem["upstream_status"], 401, "{problem}");
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls,
        "no refresh within 10 s"
    );
}

/// The favorites cache is emptied by the token owner's report of a new
/// authorization, outside any request: so also for a login whose client went
/// away, and for a login in another terminal, which the old code never saw.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_in_another_terminal_empties_the_favorites_cache() {
    let app = spawn_app_with(Options::default()).await;
    let x_cache = |r: &reqwest::Response| {
        r.headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "HIT");

    let token = app.fake.current_refresh_token();
    let login = run_pixgate(
        &app.fake,
        &app.token_file,
        &["login", "--refresh-token", &token],
        "",
        &[],
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );

    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let cache = x_cache(&app.get("/v1/favorites").await);
        if cache == "MISS" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cached page is dropped within 1 s ({cache})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling an effect, bounded
    }
}
