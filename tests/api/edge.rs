//! The edge checks against the real server: the `Host` check (DNS
//! rebinding), the cross-origin protection (CSRF), framing headers, and
//! what the API key guards. Each refusal is asserted by what did not
//! happen: nothing reached the fake, the token file is byte for byte the
//! same.

use crate::helpers::{
    anonymous_app, assert_problem, png, spawn_app, spawn_app_with, GatewayProcess, Options, TestApp,
};
use pixgate::fake_imgur::Endpoint;
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::Value;
use std::time::Duration;

/// A user-mode gateway whose token file exists (the first refresh wrote it).
async fn authorized_app(options: Options) -> TestApp {
    let app = spawn_app_with(options).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert!(
        app.token_file.exists(),
        "the first refresh stored the tokens"
    );
    app
}

fn some_image(app: &TestApp) -> String {
    app.fake.favorite_ids()[0].clone()
}

/// Every unsafe route, as a browser page would call it: the method, the
/// path, and a body of the kind a form or a `no-cors` fetch can send.
fn unsafe_requests(app: &TestApp) -> Vec<(&'static str, RequestBuilder)> {
    let id = some_image(app);
    let url = |path: &str| app.url(path);
    let form = || {
        Form::new().part(
            "image",
            Part::bytes(png(100))
                .file_name("x.png")
                .mime_str("image/png")
                .expect("mime"),
        )
    };
    vec![
        (
            "logout",
            app.http.post(url("/auth/logout")).form(&[("x", "1")]),
        ),
        ("upload", app.http.post(url("/v1/images")).multipart(form())),
        (
            "toggle favorite",
            app.http
                .post(url(&format!("/v1/images/{id}/favorite")))
                .header("content-type", "text/plain")
                .body("x"),
        ),
        (
            "add favorite",
            app.http.put(url(&format!("/v1/images/{id}/favorite"))),
        ),
        (
            "remove favorite",
            app.http.delete(url(&format!("/v1/images/{id}/favorite"))),
        ),
        (
            "update",
            app.http
                .patch(url(&format!("/v1/images/{id}")))
                .header("content-type", "text/plain")
                .body(r#"{"title":"owned"}"#),
        ),
        ("delete", app.http.delete(url(&format!("/v1/images/{id}")))),
        (
            "pin",
            app.http
                .post(url("/auth/pin"))
                .header("content-type", "text/plain")
                .body(r#"{"pin":"1"}"#),
        ),
        (
            "refresh token",
            app.http
                .post(url("/auth/refresh-token"))
                .header("content-type", "text/plain")
                .body(r#"{"refresh_token":"attacker's"}"#),
        ),
        (
            "token flow",
            app.http
                .post(url("/auth/token"))
                .header("content-type", "text/plain")
                .body(r#"{"state":"s","refresh_token":"attacker's"}"#),
        ),
    ]
}

/// The headers Chromium sends with a request from a page of `origin`.
fn from_page(request: RequestBuilder, origin: &str, site: &str) -> RequestBuilder {
    request
        .header("origin", origin)
        .header("sec-fetch-site", site)
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "empty")
}

#[tokio::test]
async fn unsafe_requests_from_another_site_or_port_are_refused_before_any_handler() {
    // Arrange
    let app = authorized_app(Options::default()).await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    let tokens = app.token_file_bytes();
    let begun = app.upstream_requests_begun();
    let favorites = app.fake.favorite_ids();
    let pages = [
        (
            "another site",
            "https://evil.example".to_owned(),
            "cross-site",
        ),
        (
            "localhost against 127.0.0.1",
            format!("http://localhost:{port}"),
            "cross-site",
        ),
        (
            "another port of this host",
            "http://127.0.0.1:1".to_owned(),
            "same-site",
        ),
    ];

    for (page, origin, site) in &pages {
        for (case, request) in unsafe_requests(&app) {
            // Act
            let response = from_page(request, origin, site).send().await.expect("sent");

            // Assert
            assert!(
                response.headers().contains_key("x-request-id"),
                "{page}, {case}"
            );
            assert!(
                !response
                    .headers()
                    .contains_key("access-control-allow-origin"),
                "{page}, {case}: the page may not read the refusal"
            );
            let problem = assert_problem(response, 403, "cross-origin-refused").await;
            assert_eq!(problem["type"], "urn:pixgate:problem:cross-origin-refused");
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("PIXGATE_CORS_ORIGINS"),
                "{problem}"
            );
        }
    }

    assert_eq!(
        app.upstream_requests_begun(),
        begun,
        "nothing reached Imgur"
    );
    assert_eq!(
        app.token_file_bytes(),
        tokens,
        "the token file is unchanged"
    );
    assert_eq!(app.fake.favorite_ids(), favorites);
    let status: Value = app.get("/auth/status").await.json().await.expect("JSON");
    assert_eq!(status["authorized"], true, "still logged in: {status}");
}

#[tokio::test]
async fn the_gateways_own_pages_curl_and_trusted_origins_may_make_unsafe_requests() {
    let app = authorized_app(Options {
        cors_origins: vec!["http://localhost:3000".into()],
        ..Options::default()
    })
    .await;
    let id = some_image(&app);
    let toggle = || app.http.post(app.url(&format!("/v1/images/{id}/favorite")));
    let cases = [
        ("no browser headers (curl)", toggle()),
        (
            "same-origin",
            toggle().header("sec-fetch-site", "same-origin"),
        ),
        (
            "the user's own navigation",
            toggle().header("sec-fetch-site", "none"),
        ),
        (
            "Origin equal to Host, no Sec-Fetch-Site",
            toggle().header("origin", app.address.as_str()),
        ),
        (
            "a trusted origin, cross-site",
            from_page(toggle(), "http://localhost:3000", "cross-site"),
        ),
    ];
    for (expected_toggles, (case, request)) in (1..).zip(cases) {
        let response = request.send().await.expect("sent");

        assert_eq!(response.status(), 200, "{case}");
        assert_eq!(
            app.fake.calls(Endpoint::Favorite),
            expected_toggles,
            "{case}"
        );
    }
}

#[tokio::test]
async fn requests_for_a_host_name_the_gateway_does_not_answer_to_are_refused() {
    // Arrange: what a page of a rebinding name would send, same-origin to it.
    let app = authorized_app(Options::default()).await;
    let begun = app.upstream_requests_begun();
    let paths = [
        "/v1/account",
        "/v1/favorites",
        "/auth/status",
        "/metrics",
        "/docs/",
        "/openapi.json",
        "/",
        "/nope",
    ];

    for path in paths {
        for host in [
            "evil.example:8080",
            "evil.example",
            "EVIL.example.",
            "localhost.evil.example",
        ] {
            // Act
            let response = app
                .http
                .get(app.url(path))
                .header("host", host)
                .header("sec-fetch-site", "same-origin")
                .send()
                .await
                .expect("sent");

            // Assert
            assert!(
                response.headers().contains_key("x-request-id"),
                "{path} {host}"
            );
            let problem = assert_problem(response, 403, "host-not-allowed").await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("PIXGATE_ALLOWED_HOSTS"),
                "{problem}"
            );
        }
    }
    assert_eq!(
        app.upstream_requests_begun(),
        begun,
        "nothing reached Imgur"
    );
}

#[tokio::test]
async fn ip_addresses_localhost_and_configured_names_are_answered_and_probes_answer_any_host() {
    let app = authorized_app(Options {
        allowed_hosts: vec!["pixgate.internal".into()],
        ..Options::default()
    })
    .await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("10.1.2.3:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST.:{port}"),
        "pixgate.internal".to_owned(),
        format!("Pixgate.Internal:{port}"),
    ] {
        let response = app
            .http
            .get(app.url("/v1/account"))
            .header("host", &host)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{host}");
    }
    for probe in ["/healthz", "/readyz"] {
        let response = app
            .http
            .get(app.url(probe))
            .header("host", "evil.example")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{probe} answers whatever the Host");
    }
}

#[tokio::test]
async fn a_star_in_allowed_hosts_turns_the_host_check_off_with_a_warning() {
    let fake = pixgate::fake_imgur::FakeImgur::start(Default::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[("PIXGATE_ALLOWED_HOSTS", "*")],
    );

    let response = reqwest::Client::new()
        .get(gateway.url("/openapi.json"))
        .header("host", "anything.example")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 200);
    let logs = gateway.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("WARN") && l.contains("PIXGATE_ALLOWED_HOSTS=*")),
        "{logs:#?}"
    );
}

#[tokio::test]
async fn the_edge_checks_run_before_the_api_key_and_cors() {
    let app = authorized_app(Options {
        api_key: Some("k3y".into()),
        cors_origins: vec!["http://localhost:3000".into()],
        ..Options::default()
    })
    .await;
    let rebinding = app
        .http
        .get(app.url("/v1/account"))
        .header("host", "evil.example");
    assert_problem(
        rebinding.send().await.expect("sent"),
        403,
        "host-not-allowed",
    )
    .await;
    let forged = from_page(
        app.http.post(app.url("/auth/logout")),
        "https://evil.example",
        "cross-site",
    );
    assert_problem(
        forged.send().await.expect("sent"),
        403,
        "cross-origin-refused",
    )
    .await;
    // The trusted origin passes the edge, and then needs the key like anyone.
    let trusted = from_page(
        app.http.post(app.url("/auth/logout")),
        "http://localhost:3000",
        "cross-site",
    );
    let response = trusted.send().await.expect("sent");
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:3000")
    );
    assert_problem(response, 401, "unauthorized").await;
    assert!(app.token_file.exists());
}

#[tokio::test]
async fn metrics_and_auth_status_need_the_api_key_but_the_probes_do_not() {
    let app = authorized_app(Options {
        api_key: Some("k3y".into()),
        ..Options::default()
    })
    .await;

    for path in ["/metrics", "/auth/status"] {
        let refused = app.get(path).await;
        assert_problem(refused, 401, "unauthorized").await;
        let served = app
            .http
            .get(app.url(path))
            .bearer_auth("k3y")
            .send()
            .await
            .expect("sent");
        assert_eq!(served.status(), 200, "{path} with the key");
        let body = served.text().await.expect("text");
        assert!(
            body.contains("demo") || body.contains("pixgate_"),
            "{path}: {body}"
        );
    }
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(app.get(probe).await.status(), 200, "{probe}");
    }
}

#[tokio::test]
async fn the_openapi_document_says_which_operations_need_the_key_and_the_edge_refusals() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");
    let operation = |path: &str, method: &str| doc["paths"][path][method].clone();

    for (path, method) in [
        ("/metrics", "get"),
        ("/auth/status", "get"),
        ("/auth/login", "get"),
        ("/auth/logout", "post"),
    ] {
        let op = operation(path, method);
        assert_eq!(
            op["security"][0]["api_key"],
            serde_json::json!([]),
            "{method} {path}"
        );
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
    }
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/auth/callback", "get"),
        ("/auth/token", "post"),
    ] {
        assert!(
            operation(path, method)["security"].is_null(),
            "{method} {path} is open"
        );
    }
    let callback_403 = &operation("/auth/callback", "get")["responses"]["403"]["content"];
    assert!(
        callback_403["application/problem+json"].is_object()
            && callback_403["text/html"].is_object()
    );
    assert!(
        operation("/healthz", "get")["responses"]["403"].is_null(),
        "no Host check there"
    );
}

#[tokio::test]
async fn every_page_and_answer_forbids_framing_and_sniffing() {
    let app = anonymous_app().await;
    let pages = [
        ("Swagger UI", "/docs/"),
        ("Swagger UI's script", "/docs/swagger-initializer.js"),
        ("the token-flow page", "/auth/callback"),
        ("a failed login page", "/auth/callback?error=access_denied"),
        ("a JSON answer", "/auth/status"),
        ("a problem", "/v1/account"),
        ("a redirect", "/docs"),
    ];
    for (case, path) in pages {
        let response = crate::helpers::no_redirects()
            .get(app.url(path))
            .send()
            .await
            .expect("sent");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{case}"
        );
        assert_eq!(header("x-frame-options"), "DENY", "{case}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{case}");
    }
    let docs = app.get("/docs/").await;
    let policy = docs.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
}

#[tokio::test]
async fn anonymous_favorite_changes_are_refused_without_calling_imgur() {
    let app = anonymous_app().await;
    let id = some_image(&app);
    for (case, request) in [
        (
            "PUT",
            app.http.put(app.url(&format!("/v1/images/{id}/favorite"))),
        ),
        (
            "DELETE",
            app.http
                .delete(app.url(&format!("/v1/images/{id}/favorite"))),
        ),
        (
            "POST",
            app.http.post(app.url(&format!("/v1/images/{id}/favorite"))),
        ),
    ] {
        let response = request.send().await.expect("sent");
        assert_problem(response, 403, "authorization-required").await;
        assert_eq!(
            app.upstream_requests_begun(),
            0,
            "{case}: nothing reached Imgur"
        );
    }
}

#[tokio::test]
async fn a_callback_with_an_empty_error_is_a_clear_400_page() {
    let app = anonymous_app().await;
    for path in ["/auth/callback?code=&error=", "/auth/callback?error="] {
        let page = app.get(path).await;
        assert_eq!(page.status(), 400, "{path}");
        let html = page.text().await.expect("html");
        assert!(html.contains("did not say which"), "{path}: {html}");
        assert!(!html.contains("Imgur answered: ."), "{path}");
    }
    let unparsable = app.get("/auth/callback?code=a&code=b&state=s").await;
    assert_eq!(unparsable.status(), 400);
    assert!(unparsable.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    assert_eq!(app.upstream_requests_begun(), 0);
    assert!(!app.token_file.exists());
}

/// `GET /3/credits` on the demo's own fake: every `/3` request it receives
/// spends one client credit, so the count tells how many it received.
async fn demo_fake_client_credits(fake_url: &str) -> i64 {
    let credits: Value = reqwest::Client::new()
        .get(format!("{fake_url}/3/credits"))
        .header("authorization", "Client-ID fake-client-id")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    credits["data"]["ClientRemaining"]
        .as_i64()
        .expect("ClientRemaining")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_four_attacks_fail_against_a_default_demo() {
    // Arrange: `pixgate --demo`, warmed up by a legitimate client.
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = GatewayProcess::demo(dir.path());
    let fake_url = {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let line = demo
                .lines
                .recv_timeout(deadline - std::time::Instant::now())
                .expect("the demo banner");
            if let Some(rest) = line.split("built-in fake Imgur at ").nth(1) {
                break rest.split_whitespace().next().expect("a URL").to_owned();
            }
        }
    };
    let http = reqwest::Client::new();
    let favorites: Value = http
        .get(demo.url("/v1/favorites"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let id = favorites[0]["id"].as_str().expect("a favorite").to_owned();
    let token_file = std::fs::read_dir(dir.path())
        .expect("the demo's TMPDIR")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("tokens.json"))
        .find(|path| path.exists())
        .expect("the demo's token file");
    let tokens = std::fs::read(&token_file).expect("readable");
    let credits = demo_fake_client_credits(&fake_url).await;
    let evil = "https://evil.example";

    // Act: the four requests as Chromium sends them from evil.example.
    let logout = http
        .post(demo.url("/auth/logout"))
        .header("origin", evil)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("confirm=1");
    let upload = http
        .post(demo.url("/v1/images"))
        .header("origin", evil)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .multipart(Form::new().part("image", Part::bytes(png(2048)).file_name("owned.png")));
    let favorite = http
        .post(demo.url(&format!("/v1/images/{id}/favorite")))
        .header("origin", evil)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "empty")
        .header("content-type", "text/plain;charset=UTF-8")
        .body("x");
    let rebinding = http
        .get(demo.url("/v1/account"))
        .header("host", format!("evil.example:{}", demo.port))
        .header("sec-fetch-site", "same-origin")
        .header("sec-fetch-mode", "cors")
        .header("sec-fetch-dest", "empty");
    let answers = [
        (
            "logout",
            logout.send().await.expect("sent"),
            "cross-origin-refused",
        ),
        (
            "upload",
            upload.send().await.expect("sent"),
            "cross-origin-refused",
        ),
        (
            "favorite",
            favorite.send().await.expect("sent"),
            "cross-origin-refused",
        ),
        (
            "rebinding",
            rebinding.send().await.expect("sent"),
            "host-not-allowed",
        ),
    ];

    // Assert
    for (case, response, slug) in answers {
        let problem = assert_problem(response, 403, slug).await;
        assert!(
            !problem.to_string().contains("demo\""),
            "{case}: nothing of the account: {problem}"
        );
    }
    assert_eq!(
        std::fs::read(&token_file).expect("still there"),
        tokens,
        "the token file is unchanged"
    );
    assert_eq!(
        demo_fake_client_credits(&fake_url).await,
        credits - 1,
        "the fake received only this credits call"
    );
    let status: Value = http
        .get(demo.url("/auth/status"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(status["authorized"], true, "{status}");
    let after: Value = http
        .get(demo.url("/v1/favorites"))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(after, favorites, "the favorites are unchanged");
}
