//! Authorization onboarding over HTTP: the browser flows (as the browser's
//! requests), PIN, an existing refresh token, logout, status, and the live
//! switch to new tokens.

use crate::helpers::{
    anonymous_app, assert_problem, location, no_redirects, spawn_app_with, url_param, Options,
    TestApp,
};
use pixgate::fake_imgur::{Consent, Endpoint, Fault, FaultKind};
use serde_json::{json, Value};
use std::time::Duration;

/// Starts a login and returns Imgur's authorize URL the gateway sent us to.
async fn start_login(app: &TestApp, response_type: &str) -> String {
    let response = no_redirects()
        .get(app.url(&format!("/auth/login?response_type={response_type}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 302);
    location(&response)
}

/// Asks the fake's authorize page (consent given in advance) where it sends the browser.
async fn imgur_redirect(authorize_url: &str) -> String {
    let response = no_redirects()
        .get(authorize_url)
        .send()
        .await
        .expect("sent");
    location(&response)
}

fn assert_authorized_page(html: &str) {
    assert!(html.contains("Authorized as demo"), "{html}");
    assert!(html.contains("href=\"/docs/\"") && html.contains("href=\"/v1/favorites\""));
}

#[tokio::test]
async fn the_code_flow_authorizes_a_running_anonymous_gateway() {
    let app = anonymous_app().await;
    assert_eq!(app.get("/v1/account").await.status(), 403);
    app.fake.set_consent(Consent::Allow);

    let authorize = start_login(&app, "code").await;
    assert!(authorize.starts_with(&format!("{}/oauth2/authorize?", app.fake.base_url())));
    assert_eq!(
        url_param(&authorize, "client_id").as_deref(),
        Some("fake-client-id")
    );
    assert_eq!(
        url_param(&authorize, "response_type").as_deref(),
        Some("code")
    );
    let state = url_param(&authorize, "state").expect("a state");
    assert!(state.len() >= 32, "at least 128 bits of state");
    let callback = imgur_redirect(&authorize).await;
    let page = app.http.get(&callback).send().await.expect("sent");

    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("script-src 'self'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_authorized_page(&page.text().await.expect("html"));
    let exchange = app
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == Endpoint::Token)
        .expect("exchange");
    assert_eq!(
        exchange.fields.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    let stored = app.token_file_json();
    assert!(app
        .fake
        .valid_refresh_tokens()
        .iter()
        .any(|t| stored["refresh_token"] == t.as_str()));
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "no restart needed"
    );
    let status: Value = app.get("/auth/status").await.json().await.expect("json");
    assert_eq!(status["authorized"], true);
    assert_eq!(status["account_username"], "demo");
    assert_eq!(status["mode"], "user");
    assert!(status["access_token_expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn a_callback_with_a_wrong_or_reused_state_is_refused_and_stores_nothing() {
    let app = anonymous_app().await;
    app.fake.set_consent(Consent::Allow);
    let callback = imgur_redirect(&start_login(&app, "code").await).await;
    let code = url_param(&callback, "code").expect("a code");
    let cases = [
        (
            "wrong state",
            format!("/auth/callback?code={code}&state=not-a-state-we-issued"),
        ),
        ("no state", format!("/auth/callback?code={code}")),
    ];
    for (case, path) in cases {
        let page = app.get(&path).await;
        let status = page.status();
        let html = page.text().await.expect("html");
        assert_eq!(status, 400, "{case}");
        assert!(html.contains("not valid"), "{case}: {html}");
        assert!(
            !html.contains("/auth/callback.js"),
            "{case}: not the token-flow page"
        );
        assert!(!app.token_file.exists(), "{case}: nothing stored");
    }
    assert_eq!(app.fake.calls(Endpoint::Token), 0, "no code was exchanged");

    assert_eq!(
        app.http.get(&callback).send().await.expect("sent").status(),
        200
    );
    let reused = app.http.get(&callback).send().await.expect("sent");
    assert_eq!(reused.status(), 400, "a state works once");
    assert!(reused.text().await.expect("html").contains("already used"));
}

#[tokio::test]
async fn a_denied_code_flow_says_so_and_stores_nothing() {
    let app = anonymous_app().await;
    app.fake.set_consent(Consent::Deny);

    let callback = imgur_redirect(&start_login(&app, "code").await).await;
    assert_eq!(
        url_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    let page = app.http.get(&callback).send().await.expect("sent");

    assert_eq!(page.status(), 400);
    assert!(page.text().await.expect("html").contains("Access denied"));
    assert!(!app.token_file.exists());
    assert_eq!(app.fake.calls(Endpoint::Token), 0);
}

#[tokio::test]
async fn the_token_flow_posts_the_fragment_and_authorizes() {
    let app = anonymous_app().await;
    app.fake.set_consent(Consent::Allow);

    // A bare /auth/login starts the token flow.
    let authorize = start_login(&app, "token").await;
    let bare = location(
        &no_redirects()
            .get(app.url("/auth/login"))
            .send()
            .await
            .expect("sent"),
    );
    assert_eq!(url_param(&bare, "response_type").as_deref(), Some("token"));
    let callback = imgur_redirect(&authorize).await;
    let (state, refresh_token) = (
        url_param(&callback, "state").expect("state in the fragment"),
        url_param(&callback, "refresh_token").expect("refresh token in the fragment"),
    );
    // What the browser does: load the page (the fragment stays client-side)...
    let page = app.get("/auth/callback").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("<script src=\"/auth/callback.js\"></script>"),
        "{html}"
    );
    let script = app.get("/auth/callback.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "application/javascript; charset=utf-8"
    );
    // ...and its script posts the fragment.
    let finished = app
        .http
        .post(app.url("/auth/token"))
        .json(&json!({"state": state, "refresh_token": refresh_token}))
        .send()
        .await
        .expect("sent");

    assert_eq!(finished.status(), 200);
    let status: Value = finished.json().await.expect("json");
    assert_eq!(status["account_username"], "demo");
    assert!(status.get("refresh_token").is_none() && status.get("access_token").is_none());
    assert_eq!(app.get("/v1/favorites").await.status(), 200);
    let replay = app
        .http
        .post(app.url("/auth/token"))
        .json(&json!({"state": state, "refresh_token": refresh_token}))
        .send()
        .await
        .expect("sent");
    assert_problem(replay, 400, "invalid-input").await;
}

#[tokio::test]
async fn a_state_from_one_flow_does_not_finish_another() {
    let app = anonymous_app().await;
    app.fake.set_consent(Consent::Allow);
    let code_state = url_param(&start_login(&app, "code").await, "state").expect("state");

    let response = app
        .http
        .post(app.url("/auth/token"))
        .json(&json!({"state": code_state, "refresh_token": app.fake.current_refresh_token()}))
        .send()
        .await
        .expect("sent");

    assert_problem(response, 400, "invalid-input").await;
    assert!(!app.token_file.exists());
}

#[tokio::test]
async fn a_pin_authorizes_and_a_wrong_pin_is_refused() {
    let app = anonymous_app().await;

    let wrong = app
        .http
        .post(app.url("/auth/pin"))
        .json(&json!({"pin": "0000"}))
        .send()
        .await
        .expect("sent");
    assert_problem(wrong, 400, "invalid-input").await;
    assert!(!app.token_file.exists());
    let pin = app.fake.issue_pin();
    let right = app
        .http
        .post(app.url("/auth/pin"))
        .json(&json!({"pin": pin}))
        .send()
        .await
        .expect("sent");

    assert_eq!(right.status(), 200);
    assert_eq!(
        right.json::<Value>().await.expect("json")["authorized"],
        true
    );
    let exchange = app
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == Endpoint::Token)
        .expect("exchange");
    assert_eq!(
        exchange.fields.get("grant_type").map(String::as_str),
        Some("pin")
    );
    assert_eq!(exchange.fields.get("pin"), Some(&pin));
    assert_eq!(app.get("/v1/account").await.status(), 200);
}

#[tokio::test]
async fn an_existing_refresh_token_is_checked_with_one_refresh_then_stored() {
    let app = anonymous_app().await;
    let token = app.fake.current_refresh_token();

    let rejected = app
        .http
        .post(app.url("/auth/refresh-token"))
        .json(&json!({"refresh_token": "not-a-token"}))
        .send()
        .await
        .expect("sent");
    assert_problem(rejected, 400, "invalid-input").await;
    assert!(!app.token_file.exists(), "a rejected token is not stored");
    let accepted = app
        .http
        .post(app.url("/auth/refresh-token"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .expect("sent");

    assert_eq!(accepted.status(), 200);
    assert_eq!(app.fake.calls(Endpoint::Token), 2, "one check each");
    assert_eq!(
        app.token_file_json()["refresh_token"],
        app.fake.current_refresh_token().as_str()
    );
    assert_eq!(app.get("/v1/favorites").await.status(), 200);
}

#[tokio::test]
async fn logout_deletes_the_tokens_and_the_gateway_turns_anonymous() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/v1/account").await.status(), 200);

    let response = app
        .http
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json")["authorized"],
        false
    );
    assert!(!app.token_file.exists());
    assert_problem(app.get("/v1/account").await, 403, "authorization-required").await;
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "anonymous mode is ready"
    );
}

#[tokio::test]
async fn a_request_in_flight_during_a_login_completes_and_the_next_uses_the_new_tokens() {
    let app = spawn_app_with(Options::default()).await;
    let image = app.fake.favorite_ids()[0].clone();
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::GetImage),
        kind: FaultKind::Delay(Duration::from_millis(500)),
        times: 1,
    });

    let slow = tokio::spawn({
        let url = app.url(&format!("/v1/images/{image}"));
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    // Wait until the slow request has reached Imgur.
    while app.fake.calls(Endpoint::GetImage) < 2 {
        tokio::task::yield_now().await;
    }
    let pin = app.fake.issue_pin();
    let login = app
        .http
        .post(app.url("/auth/pin"))
        .json(&json!({"pin": pin}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);

    assert_eq!(slow.await.expect("joined").expect("answered"), 200);
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
    let newest_token = app
        .fake
        .issued_access_tokens()
        .last()
        .cloned()
        .expect("tokens");
    let last_call = app
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == Endpoint::GetImage)
        .expect("call");
    assert_eq!(
        last_call.authorization,
        Some(format!("Bearer {newest_token}"))
    );
}

#[tokio::test]
async fn the_api_key_guards_login_pin_refresh_token_and_logout_but_not_the_state_protected_steps() {
    let app = spawn_app_with(Options {
        user: false,
        api_key: Some("k3y".into()),
        ..Options::default()
    })
    .await;
    app.fake.set_consent(Consent::Allow);
    let guarded = [
        ("login", no_redirects().get(app.url("/auth/login"))),
        (
            "pin",
            app.http
                .post(app.url("/auth/pin"))
                .json(&json!({"pin": "1"})),
        ),
        (
            "refresh-token",
            app.http
                .post(app.url("/auth/refresh-token"))
                .json(&json!({"refresh_token": "1"})),
        ),
        ("logout", app.http.post(app.url("/auth/logout"))),
    ];
    for (case, request) in guarded {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 401, "{case}");
    }
    let wrong_key = no_redirects()
        .get(app.url("/auth/login?key=nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong_key.status(), 401);

    let login = no_redirects()
        .get(app.url("/auth/login?response_type=code&key=k3y"))
        .send()
        .await
        .expect("sent");
    let authorize = location(&login);
    assert!(
        !authorize.contains("k3y"),
        "the key is not passed on to Imgur"
    );
    let callback = imgur_redirect(&authorize).await;
    let page = app.http.get(&callback).send().await.expect("sent");
    assert_eq!(
        page.status(),
        200,
        "the callback needs no key: the state protects it"
    );
    assert_eq!(app.fake.calls(Endpoint::Token), 1);
}
