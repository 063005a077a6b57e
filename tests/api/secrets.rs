//! No secret in any log line or response, across a full run of the real
//! binary at `RUST_LOG=trace`: refreshes (proactive and reactive), uploads,
//! upstream errors, bad input, a wrong API key.

use crate::helpers::GatewayProcess;
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind};

const API_KEY: &str = "api-key-that-must-never-be-logged";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_logs_or_responses_of_a_full_run() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let state = tempfile::tempdir().expect("temp dir");
    let seed_refresh_token = fake.current_refresh_token();
    let gateway = GatewayProcess::start(
        &fake,
        state.path(),
        &state.path().join("tokens.json"),
        &[
            ("RUST_LOG", "trace"),
            ("IMGUR_REFRESH_TOKEN", &seed_refresh_token),
            ("PIXGATE_API_KEY", API_KEY),
        ],
    );
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authed = |request: reqwest::RequestBuilder| request.bearer_auth(API_KEY);
    let mut responses = Vec::new();
    let record = |response: reqwest::Response| async move {
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap_or_default();
        format!("{headers}\n{body}")
    };

    let favorite = fake.favorite_ids()[0].clone();
    let image_path = format!("{base}/v1/images/{favorite}");
    let scenario = [
        authed(http.get(format!("{base}/readyz"))),
        authed(http.get(format!("{base}/v1/favorites"))),
        authed(http.get(&image_path)),
        authed(
            http.post(format!("{base}/v1/images"))
                .json(&serde_json::json!({"url": "https://example.com/x.png"})),
        ),
        authed(http.get(format!("{base}/v1/images/bad.id"))),
        http.get(format!("{base}/v1/account"))
            .bearer_auth("wrong-key"),
        authed(http.get(format!("{base}/v1/images/nosuchimage"))),
        // Browser navigation carries the key in the query: it must not be logged.
        http.get(format!(
            "{base}/auth/login?response_type=code&key={API_KEY}"
        )),
        authed(http.get(format!("{base}/auth/status"))),
        authed(
            http.post(format!("{base}/auth/pin"))
                .json(&serde_json::json!({"pin": "wrong-pin"})),
        ),
    ];
    for request in scenario {
        responses.push(record(request.send().await.expect("sent")).await);
    }
    // Reactive refresh: Imgur rejects the token, the gateway refreshes and replays.
    fake.expire_access_tokens();
    responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    for kind in [
        FaultKind::ServerError(500),
        FaultKind::RateLimited {
            retry_after: None,
            user_reset_secs: 60,
        },
        FaultKind::Html(500),
    ] {
        fake.inject(Fault {
            endpoint: Some(Endpoint::GetImage),
            kind,
            times: 1,
        });
        responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    }
    // A rejected refresh token.
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    assert!(
        fake.calls(Endpoint::Token) >= 3,
        "the run refreshed several times"
    );

    let mut gateway = gateway;
    gateway.terminate();
    gateway.child.wait().expect("stopped");
    let logs = gateway.logs();
    assert!(logs.len() > 20, "trace logging produced output");

    let mut secrets = vec![
        fake.config().client_secret.clone(),
        API_KEY.to_owned(),
        seed_refresh_token,
    ];
    secrets.extend(fake.valid_refresh_tokens());
    secrets.extend(fake.issued_access_tokens());
    let stored = std::fs::read_to_string(state.path().join("tokens.json")).expect("token file");
    for secret in &secrets {
        for (i, line) in logs.iter().enumerate() {
            assert!(
                !line.contains(secret.as_str()),
                "log line {i} leaks a secret: {line}"
            );
        }
        for (i, response) in responses.iter().enumerate() {
            assert!(
                !response.contains(secret.as_str()),
                "response {i} leaks a secret"
            );
        }
    }
    assert!(
        stored.contains("refresh_token"),
        "the token file is the one place tokens live"
    );
}
