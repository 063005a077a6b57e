//! The terminal commands, run as a person would: the real binary, a PIN on
//! standard input, the token file checked afterwards; and a running gateway
//! picking up what another process did to the token file.

use crate::helpers::{assert_problem, run_pixgate, spawn_app_with, Options, TestApp};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use serde_json::Value;
use std::process::Output;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn fake() -> (FakeImgur, tempfile::TempDir) {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    (fake, tempfile::tempdir().expect("temp dir"))
}

#[tokio::test(flavor = "multi_thread")]
async fn login_reads_a_pin_and_stores_the_tokens() {
    let (fake, dir) = fake().await;
    let token_file = dir.path().join("tokens.json");
    let pin = fake.issue_pin();

    let output = run_pixgate(
        &fake,
        &token_file,
        &["login", "--no-browser"],
        &format!("{pin}\n"),
        &[],
    );

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = stdout(&output);
    assert!(
        printed.contains(&format!(
            "{}/oauth2/authorize?client_id=fake-client-id&response_type=pin",
            fake.base_url()
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "authorized as demo; token stored in {}",
            token_file.display()
        )),
        "{printed}"
    );
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("file")).expect("json");
    assert_eq!(
        stored["refresh_token"],
        fake.current_refresh_token().as_str()
    );
    assert!(
        !printed.contains(&fake.current_refresh_token()),
        "the token is not printed"
    );
    let exchange = fake
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == Endpoint::Token)
        .expect("exchange");
    assert_eq!(exchange.fields.get("pin"), Some(&pin));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_a_wrong_pin_fails_and_stores_nothing() {
    let (fake, dir) = fake().await;
    let token_file = dir.path().join("tokens.json");

    let output = run_pixgate(
        &fake,
        &token_file,
        &["login", "--no-browser", "--pin", "nope"],
        "",
        &[],
    );

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Imgur rejected the PIN"));
    assert!(!token_file.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_an_existing_refresh_token_checks_and_stores_it() {
    let (fake, dir) = fake().await;
    let token_file = dir.path().join("tokens.json");
    let token = fake.current_refresh_token();

    let output = run_pixgate(
        &fake,
        &token_file,
        &["login", "--refresh-token", &token],
        "",
        &[],
    );

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fake.calls(Endpoint::Token), 1, "checked with one refresh");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("file")).expect("json");
    assert_eq!(
        stored["refresh_token"],
        fake.current_refresh_token().as_str()
    );
    let status = run_pixgate(&fake, &token_file, &["status"], "", &[]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["authorized"], true);
    assert_eq!(status["account_username"], "demo");
    assert_eq!(status["mode"], "user");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_takes_sharex_credentials_and_refuses_encrypted_ones() {
    let (fake, dir) = fake().await;
    let token_file = dir.path().join("tokens.json");
    let sharex = dir.path().join("UploadersConfig.json");
    let encrypted = dir.path().join("Encrypted.json");
    let settings = |token: &str| {
        serde_json::json!({"ImgurOAuth2Info": {
            "Client_ID": fake.config().client_id,
            "Client_Secret": fake.config().client_secret,
            "Token": {"access_token": "a", "refresh_token": token, "expires_in": 3600}
        }})
        .to_string()
    };
    std::fs::write(&sharex, settings(&fake.current_refresh_token())).expect("written");
    std::fs::write(&encrypted, settings("$DPAPIEncrypted$AQAAANCMnd8")).expect("written");

    let refused = run_pixgate(
        &fake,
        &token_file,
        &["import", "--sharex", encrypted.to_str().expect("utf-8")],
        "",
        &[],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("DPAPI"));
    assert!(!token_file.exists());
    let imported = run_pixgate(
        &fake,
        &token_file,
        &["import", "--sharex", sharex.to_str().expect("utf-8")],
        "",
        &[],
    );

    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(stdout(&imported).contains("authorized as demo"));
    assert!(
        !stdout(&imported).contains(&fake.config().client_secret),
        "the secret is not printed"
    );
    assert!(token_file.exists());
}

async fn gateway_on(fake_user: bool) -> TestApp {
    spawn_app_with(Options {
        user: fake_user,
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_gateway_uses_a_login_and_a_logout_done_in_another_terminal() {
    let app = gateway_on(false).await;
    assert_problem(app.get("/v1/account").await, 403, "authorization-required").await;
    let pin = app.fake.issue_pin();

    let login = run_pixgate(
        &app.fake,
        &app.token_file,
        &["login", "--no-browser", "--pin", &pin],
        "",
        &[],
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    // The gateway learns of the login through its watch on the token file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while app.get("/v1/account").await.status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the login in another process is used within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling an effect, bounded
    }
    assert_eq!(
        app.get("/auth/status")
            .await
            .json::<Value>()
            .await
            .expect("json")["authorized"],
        true
    );

    let logout = run_pixgate(&app.fake, &app.token_file, &["logout"], "", &[]);
    assert!(logout.status.success());
    assert!(stdout(&logout).contains("logged out"));
    assert!(!app.token_file.exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while app.get("/v1/account").await.status() != 403 {
        assert!(
            std::time::Instant::now() < deadline,
            "the logout in another process is noticed within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling an effect, bounded
    }
    assert_problem(app.get("/v1/account").await, 403, "authorization-required").await;
    let status = run_pixgate(&app.fake, &app.token_file, &["status"], "", &[]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["authorized"], false);
    assert_eq!(status["mode"], "anonymous");
}
