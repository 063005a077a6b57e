//! What an operator sees: request ids, JSON logs, CORS, a stalled client.

use crate::helpers::{spawn_app, spawn_app_with, Options};
use pixgate::fake_imgur::{FakeConfig, FakeImgur};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn every_response_carries_a_request_id_taken_from_the_request_when_given() {
    let app = spawn_app_with(Options {
        api_key: Some("k".into()),
        ..Options::default()
    })
    .await;

    let generated = app.get("/healthz").await;
    let echoed = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-42.a")
        .send()
        .await
        .expect("sent");
    let refused_by_middleware = app.get("/v1/favorites").await;
    let not_found = app.get("/nope").await;
    let unusable = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "has spaces and {braces}")
        .send()
        .await
        .expect("sent");

    let id = |r: &reqwest::Response| {
        r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    assert_eq!(id(&generated).len(), 32);
    assert_ne!(
        id(&generated),
        id(&app.get("/healthz").await),
        "a new id per request"
    );
    assert_eq!(id(&echoed), "trace-42.a");
    assert_eq!(refused_by_middleware.status(), 401);
    assert_eq!(id(&refused_by_middleware).len(), 32);
    assert_eq!(id(&not_found).len(), 32);
    assert_ne!(id(&unusable), "has spaces and {braces}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_and_carry_the_request_id() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixgate"))
        .current_dir(dir.path())
        .env_clear()
        .env("PIXGATE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("IMGUR_CLIENT_ID", &fake.config().client_id)
        .env("IMGUR_CLIENT_SECRET", &fake.config().client_secret)
        .env("IMGUR_REFRESH_TOKEN", fake.current_refresh_token())
        .env("IMGUR_API_URL", fake.base_url())
        .env("PIXGATE_LISTEN", "127.0.0.1:0")
        .env("PIXGATE_TOKEN_FILE", dir.path().join("tokens.json"))
        .env("PIXGATE_DB", dir.path().join("pixgate.db"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let port = loop {
        let line = lines.next().expect("a log line").expect("utf-8");
        let json: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        if json["fields"]["message"] == "pixgate is listening; API docs at /docs/" {
            break json["fields"]["port"].as_u64().expect("port");
        }
    };

    // The first refresh logs a line inside the request's span.
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .header("x-request-id", "ops-test-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    child.kill().expect("stopped");
    child.wait().expect("reaped");

    let rest: Vec<serde_json::Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("every line is JSON"))
        .collect();
    let refresh = rest
        .iter()
        .find(|l| l["fields"]["message"] == "refreshed the Imgur access token")
        .expect("a refresh line");
    assert_eq!(refresh["span"]["request_id"], "ops-test-1", "{refresh}");
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_the_allowlist() {
    let closed = spawn_app().await;
    let open = spawn_app_with(Options {
        cors_origins: vec!["http://app.example".into()],
        ..Options::default()
    })
    .await;
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/v1/favorites"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };

    let allowed = preflight(&open, "http://app.example").await.expect("sent");
    let other = preflight(&open, "http://evil.example").await.expect("sent");
    let default = closed
        .http
        .get(closed.url("/v1/favorites"))
        .header("origin", "http://app.example")
        .send()
        .await
        .expect("sent");

    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert!(!default
        .headers()
        .contains_key("access-control-allow-origin"));
    let simple = open
        .http
        .get(open.url("/v1/favorites"))
        .header("origin", "http://app.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "http://app.example"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stalls_its_upload_gets_408_and_the_next_request_works() {
    let app = spawn_app_with(Options {
        client_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let answer = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(address).expect("connected");
        socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout set");
        let head = "POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n";
        let part = "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n0123456789";
        socket.write_all(head.as_bytes()).expect("head sent");
        socket.write_all(part.as_bytes()).expect("part sent");
        // ...and then nothing more.
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("joined");

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"));
    assert_eq!(app.api_calls(), 0, "nothing was forwarded");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_upstream_calls_refreshes_cache_events_and_rate_limits() {
    let app = spawn_app().await;
    let image = app.fake.favorite_ids()[0].clone();
    app.get("/v1/favorites").await;
    app.get("/v1/favorites").await;
    app.get(&format!("/v1/images/{image}")).await;
    app.get("/v1/images/doesNotExist").await;

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let text = metrics.text().await.expect("text");

    let expected = [
        r#"pixgate_http_requests_total{method="GET",route="/v1/favorites",status="200"} 2"#,
        r#"pixgate_http_requests_total{method="GET",route="/v1/images/{id}",status="404"} 1"#,
        r#"pixgate_upstream_requests_total{endpoint="favorites",status="200"} 1"#,
        r#"pixgate_upstream_requests_total{endpoint="image",status="404"} 1"#,
        r#"pixgate_upstream_requests_total{endpoint="token",status="200"} 1"#,
        r#"pixgate_token_refreshes_total{outcome="ok"} 1"#,
        r#"pixgate_favorites_cache_events_total{event="hit"} 1"#,
        r#"pixgate_favorites_cache_events_total{event="miss"} 1"#,
        r#"pixgate_http_request_duration_seconds_bucket{method="GET",route="/v1/favorites",le="0.001"}"#,
        r#"pixgate_upstream_request_duration_seconds_count{endpoint="image"} 2"#,
        r#"pixgate_imgur_rate_limit_remaining{limit="user"}"#,
        r#"pixgate_imgur_rate_limit_remaining{limit="client"}"#,
    ];
    for line in expected {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_imgur_rate_limit_is_warned_about_and_shown_as_a_gauge() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let refresh_token = fake.current_refresh_token();
    let gateway = crate::helpers::GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[("IMGUR_REFRESH_TOKEN", refresh_token.as_str())],
    );
    let image = fake.favorite_ids()[0].clone();
    fake.inject(pixgate::fake_imgur::Fault {
        endpoint: Some(pixgate::fake_imgur::Endpoint::GetImage),
        kind: pixgate::fake_imgur::FaultKind::RateLimited {
            retry_after: None,
            user_reset_secs: 600,
        },
        times: 1,
    });

    let limited = reqwest::get(gateway.url(&format!("/v1/images/{image}")))
        .await
        .expect("sent");
    let metrics = reqwest::get(gateway.url("/metrics"))
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");

    assert_eq!(limited.status(), 429);
    assert!(
        metrics.contains(r#"pixgate_imgur_rate_limit_remaining{limit="user"} 0"#),
        "{metrics}"
    );
    let warned = std::iter::from_fn(|| gateway.lines.recv_timeout(Duration::from_secs(10)).ok())
        .any(|line| line.contains("WARN") && line.contains("remaining rate limit is under 10 %"));
    assert!(warned, "a warning in the log");
}
