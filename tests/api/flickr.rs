//! The `/flickr/` routes of the real gateway against the fake Flickr, which
//! verifies every signature: each test asserts what the fake received,
//! verified and holds, and what the token file holds.

use crate::helpers::{
    assert_problem, location, no_redirects, png, spawn_app_with, Options, TestApp,
};
use pixgate::fake_flickr::{Consent, Endpoint, FakeFlickr, Fault, FaultKind, Verification};
use pixgate::flickr::Perms;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A gateway with Flickr configured, not yet authorized.
async fn flickr_app() -> TestApp {
    flickr_app_with(Options::default()).await
}

async fn flickr_app_with(options: Options) -> TestApp {
    spawn_app_with(Options {
        flickr: Some(options.flickr.clone().unwrap_or_default()),
        ..options
    })
    .await
}

fn fake(app: &TestApp) -> &FakeFlickr {
    app.flickr.as_ref().expect("a fake Flickr")
}

/// Brings `token` and `secret` through `POST /flickr/auth/token`.
async fn bring_token(app: &TestApp, token: &str, secret: &str) -> reqwest::Response {
    app.http
        .post(app.url("/flickr/auth/token"))
        .json(&serde_json::json!({"token": token, "token_secret": secret}))
        .send()
        .await
        .expect("sent")
}

/// A gateway authorized with the fake's seeded token (perms delete).
async fn authorized_app() -> TestApp {
    let app = flickr_app().await;
    authorize(&app).await;
    app
}

async fn authorize(app: &TestApp) {
    let config = fake(app).config().clone();
    let response = bring_token(app, &config.access_token, &config.access_token_secret).await;
    assert_eq!(response.status(), 200);
}

/// Every signed request the fake received was verified.
fn assert_all_verified(fake: &FakeFlickr) {
    for request in fake.requests() {
        if request.verification != Verification::NotSigned {
            assert_eq!(
                request.verification,
                Verification::Verified,
                "{} {} {:?}",
                request.http_method,
                request.path,
                request.flickr_method
            );
        }
    }
}

/// Waits (bounded) until `/flickr/auth/status` shows `field` = `value`:
/// a change another process stored reaches the gateway through its watch.
async fn flickr_status_becomes(app: &TestApp, field: &str, value: Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while json(app.get("/flickr/auth/status").await).await[field] != value {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never showed {field} = {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling an effect, bounded
    }
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn without_a_key_every_flickr_route_is_404_provider_not_configured() {
    let app = spawn_app_with(Options::default()).await;
    let routes = [
        ("GET", "/flickr/auth/login"),
        (
            "GET",
            "/flickr/auth/callback?oauth_token=a&oauth_verifier=b",
        ),
        ("GET", "/flickr/auth/status"),
        ("POST", "/flickr/auth/logout"),
        ("POST", "/flickr/auth/token"),
        ("POST", "/flickr/v1/photos"),
        ("GET", "/flickr/v1/photos/123"),
        ("PATCH", "/flickr/v1/photos/123"),
        ("DELETE", "/flickr/v1/photos/123"),
        ("PUT", "/flickr/v1/photos/123/favorite"),
        ("DELETE", "/flickr/v1/photos/123/favorite"),
        ("GET", "/flickr/v1/favorites"),
    ];
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = app.http.request(method.clone(), app.url(path));
        if path == "/flickr/auth/token" {
            request = request.json(&serde_json::json!({"token": "t", "token_secret": "s"}));
        }
        if path.starts_with("/flickr/v1/photos/123") && method == reqwest::Method::PATCH {
            request = request.json(&serde_json::json!({"title": "t"}));
        }
        let response = no_redirects()
            .execute(request.build().expect("a request"))
            .await
            .expect("sent");
        let body = assert_problem(response, 404, "provider-not-configured").await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("FLICKR_API_KEY"),
            "{method} {path}: {body}"
        );
    }
    let limits = json(app.get("/v1/rate-limits").await).await;
    assert!(limits.get("flickr").is_none(), "{limits}");
}

#[tokio::test]
async fn an_existing_token_is_checked_stored_and_never_shown() {
    let app = flickr_app().await;
    let status = json(app.get("/flickr/auth/status").await).await;
    assert_eq!(status["authorized"], false);
    let config = fake(&app).config().clone();

    let response = bring_token(&app, &config.access_token, &config.access_token_secret).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("a body");
    assert!(!body.contains(&config.access_token), "{body}");
    let status: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["authorized"], true);
    assert_eq!(status["username"], config.username.as_str());
    assert_eq!(status["user_nsid"], config.user_nsid.as_str());
    assert_eq!(status["perms"], "delete");
    assert_eq!(fake(&app).method_calls("flickr.auth.oauth.checkToken"), 1);
    assert_all_verified(fake(&app));

    let file = app.token_file_json();
    assert_eq!(file["flickr"]["token"], config.access_token.as_str());
    assert_eq!(
        file["flickr"]["token_secret"],
        config.access_token_secret.as_str()
    );
    let status_text = app
        .get("/flickr/auth/status")
        .await
        .text()
        .await
        .expect("a body");
    assert!(!status_text.contains(&config.access_token_secret));
    assert_eq!(
        serde_json::from_str::<Value>(&status_text).expect("JSON"),
        status
    );

    // Imgur's token survives, and Imgur's logout keeps Flickr's.
    assert!(app.token_file_json()["refresh_token"].is_string());
    let out = app
        .http
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), 200);
    assert_eq!(
        app.token_file_json()["flickr"]["token"],
        config.access_token.as_str()
    );

    let out = app
        .http
        .post(app.url("/flickr/auth/logout"))
        .send()
        .await
        .expect("sent");
    assert_eq!(json(out).await["authorized"], false);
    assert!(
        !app.token_file.exists() || app.token_file_json().get("flickr").is_none(),
        "nothing is left of the Flickr token"
    );
    let after = app.get("/flickr/v1/favorites").await;
    assert_problem(after, 403, "authorization-required").await;
}

#[tokio::test]
async fn a_token_flickr_does_not_know_is_refused_and_not_stored() {
    let app = flickr_app().await;
    let response = bring_token(&app, "72157-unknown", "whatever").await;
    assert_problem(response, 403, "authorization-required").await;
    assert!(!app.token_file.exists() || app.token_file_json().get("flickr").is_none());
    let empty = bring_token(&app, " ", "s").await;
    assert_problem(empty, 400, "invalid-input").await;
}

#[tokio::test]
async fn an_upload_reaches_flickr_signed_with_its_fields_and_intact() {
    let app = authorized_app().await;
    let photo = png(300_000);
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(photo.clone())
                .file_name("harbour.png")
                .mime_str("image/png")
                .expect("a MIME type"),
        )
        .text("title", "Harbour at dusk")
        .text("description", "From the pier & the <b>boats</b>")
        .text("tags", "harbour \"blue hour\"")
        .text("is_public", "0")
        .text("is_friend", "true")
        .text("safety_level", "2")
        .text("hidden", "true");
    let response = app
        .http
        .post(app.url("/flickr/v1/photos"))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let at = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = json(response).await;
    let id = body["id"].as_str().expect("an id").to_owned();
    assert_eq!(at, format!("/flickr/v1/photos/{id}"));
    assert_eq!(body["title"], "Harbour at dusk");
    assert_eq!(body["is_public"], false);
    assert!(body["image_url"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://live.staticflickr.com/"));

    let stored = fake(&app).photo(&id).expect("the fake has the photo");
    assert_eq!(stored.title, "Harbour at dusk");
    assert_eq!(stored.description, "From the pier & the <b>boats</b>");
    assert_eq!(stored.tags, "harbour \"blue hour\"");
    assert!(!stored.is_public && stored.is_friend);
    assert_eq!((stored.safety_level, stored.hidden), (2, 2));
    assert_eq!(stored.size, photo.len() as u64);
    assert_eq!(stored.sha256, format!("{:x}", Sha256::digest(&photo)));
    assert_eq!(stored.file_name.as_deref(), Some("harbour.png"));
    assert_eq!(fake(&app).calls(Endpoint::Upload), 1);
    assert_all_verified(fake(&app));
}

#[tokio::test]
async fn a_bad_upload_never_reaches_flickr() {
    let app = authorized_app().await;
    let cases: Vec<(&str, reqwest::multipart::Form)> = vec![
        (
            "no photo",
            reqwest::multipart::Form::new().text("title", "t"),
        ),
        (
            "bad flag",
            reqwest::multipart::Form::new()
                .part(
                    "photo",
                    reqwest::multipart::Part::bytes(png(100)).file_name("a.png"),
                )
                .text("is_public", "maybe"),
        ),
        (
            "unknown field",
            reqwest::multipart::Form::new()
                .part(
                    "photo",
                    reqwest::multipart::Part::bytes(png(100)).file_name("a.png"),
                )
                .text("album", "x"),
        ),
        (
            "bad safety level",
            reqwest::multipart::Form::new()
                .part(
                    "photo",
                    reqwest::multipart::Part::bytes(png(100)).file_name("a.png"),
                )
                .text("safety_level", "4"),
        ),
    ];
    for (case, form) in cases {
        let response = app
            .http
            .post(app.url("/flickr/v1/photos"))
            .multipart(form)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{case}");
    }
    let json_body = app
        .http
        .post(app.url("/flickr/v1/photos"))
        .json(&serde_json::json!({"photo": "x"}))
        .send()
        .await
        .expect("sent");
    assert_problem(json_body, 415, "unsupported-media-type").await;
    assert_eq!(fake(&app).calls(Endpoint::Upload), 0);
}

#[tokio::test]
async fn a_photo_is_read_updated_and_deleted() {
    let app = authorized_app().await;
    let id = fake(&app).own_photo_ids()[0].clone();
    let before = fake(&app).photo(&id).expect("seeded");

    let got = json(app.get(&format!("/flickr/v1/photos/{id}")).await).await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["owner"], fake(&app).config().user_nsid.as_str());

    let patched = app
        .http
        .patch(app.url(&format!("/flickr/v1/photos/{id}")))
        .json(&serde_json::json!({"title": "A better title"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(patched.status(), 200);
    let patched = json(patched).await;
    assert_eq!(patched["title"], "A better title");
    let stored = fake(&app).photo(&id).expect("still there");
    assert_eq!(stored.title, "A better title");
    assert_eq!(stored.description, before.description, "left out, kept");
    let set_meta = fake(&app)
        .requests()
        .into_iter()
        .find(|r| r.flickr_method.as_deref() == Some("flickr.photos.setMeta"))
        .expect("setMeta was called");
    assert_eq!(set_meta.http_method, "POST");
    assert_eq!(set_meta.param("description"), None, "not sent");

    let neither = app
        .http
        .patch(app.url(&format!("/flickr/v1/photos/{id}")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("sent");
    assert_problem(neither, 400, "invalid-input").await;

    let deleted = app
        .http
        .delete(app.url(&format!("/flickr/v1/photos/{id}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert!(fake(&app).photo(&id).is_none());
    let gone = app.get(&format!("/flickr/v1/photos/{id}")).await;
    assert_problem(gone, 404, "not-found").await;
    let bad = app.get("/flickr/v1/photos/12ab").await;
    assert_problem(bad, 400, "invalid-input").await;
    assert_all_verified(fake(&app));
}

#[tokio::test]
async fn favoriting_is_idempotent_and_invalidates_the_cached_list() {
    let app = authorized_app().await;
    let first = app.get("/flickr/v1/favorites?per_page=5").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-cache"], "MISS");
    let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
    let page = json(first).await;
    assert_eq!(page["per_page"], 5);
    assert_eq!(page["photos"].as_array().map(Vec::len), Some(5));
    let id = page["photos"][0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(id, fake(&app).favorite_ids()[0]);

    let hit = app.get("/flickr/v1/favorites?per_page=5").await;
    assert_eq!(hit.headers()["x-cache"], "HIT");
    let not_modified = app
        .http
        .get(app.url("/flickr/v1/favorites?per_page=5"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(not_modified.status(), 304);
    assert_eq!(
        fake(&app).method_calls("flickr.favorites.getList"),
        1,
        "coalesced"
    );

    for _ in 0..2 {
        let removed = app
            .http
            .delete(app.url(&format!("/flickr/v1/photos/{id}/favorite")))
            .send()
            .await
            .expect("sent");
        assert_eq!(removed.status(), 200);
        assert_eq!(json(removed).await["favorited"], false);
    }
    assert!(!fake(&app).favorite_ids().contains(&id));
    let after = app.get("/flickr/v1/favorites?per_page=5").await;
    assert_eq!(after.headers()["x-cache"], "MISS", "invalidated");
    assert_ne!(json(after).await["photos"][0]["id"], id.as_str());

    for _ in 0..2 {
        let added = app
            .http
            .put(app.url(&format!("/flickr/v1/photos/{id}/favorite")))
            .send()
            .await
            .expect("sent");
        assert_eq!(added.status(), 200);
        assert_eq!(json(added).await["favorited"], true);
    }
    assert_eq!(fake(&app).favorite_ids()[0], id);
    assert_eq!(fake(&app).method_calls("flickr.favorites.add"), 2);
    assert_all_verified(fake(&app));

    let own = fake(&app).own_photo_ids()[0].clone();
    let refused = app
        .http
        .put(app.url(&format!("/flickr/v1/photos/{own}/favorite")))
        .send()
        .await
        .expect("sent");
    let body = assert_problem(refused, 403, "forbidden").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("owned by you"),
        "{body}"
    );

    let bad = app.get("/flickr/v1/favorites?per_page=501").await;
    assert_problem(bad, 400, "invalid-input").await;
    let bad = app.get("/flickr/v1/favorites?page=0").await;
    assert_problem(bad, 400, "invalid-input").await;
}

#[tokio::test]
async fn an_expired_favorites_page_is_served_stale_while_flickr_fails() {
    let app = flickr_app_with(Options {
        favorites_ttl: std::time::Duration::ZERO,
        ..Options::default()
    })
    .await;
    authorize(&app).await;
    let fresh = app.get("/flickr/v1/favorites").await;
    assert_eq!(fresh.headers()["x-cache"], "MISS");
    fake(&app).inject(Fault {
        endpoint: Some(Endpoint::Rest),
        flickr_method: Some("flickr.favorites.getList".into()),
        kind: FaultKind::Stat {
            code: 105,
            message: "Service currently unavailable".into(),
        },
        times: 1,
    });
    let stale = app.get("/flickr/v1/favorites").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["x-cache"], "STALE");
    fake(&app).inject(Fault {
        endpoint: Some(Endpoint::Rest),
        flickr_method: Some("flickr.favorites.getList".into()),
        kind: FaultKind::Stat {
            code: 105,
            message: "Service currently unavailable".into(),
        },
        times: 1,
    });
    let other_page = app.get("/flickr/v1/favorites?page=2").await;
    assert_problem(other_page, 503, "upstream-over-capacity").await;
}

#[tokio::test]
async fn a_wrong_signer_is_refused_by_flickr_and_told_as_a_502() {
    let app = flickr_app_with(Options {
        flickr_api_secret: Some("not-the-apps-secret".into()),
        ..Options::default()
    })
    .await;
    let config = fake(&app).config().clone();
    let response = bring_token(&app, &config.access_token, &config.access_token_secret).await;
    let body = assert_problem(response, 502, "upstream-error").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("signature_invalid"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("oauth_nonce"),
        "no base string in answers"
    );
    let requests = fake(&app).requests();
    assert_eq!(
        requests.last().map(|r| r.verification.clone()),
        Some(Verification::Refused("signature_invalid".into()))
    );
    assert!(!app.token_file.exists() || app.token_file_json().get("flickr").is_none());
}

#[tokio::test]
async fn a_token_without_delete_perms_cannot_delete() {
    let app = flickr_app().await;
    let (token, secret) = fake(&app).issue_access_token(Perms::Write);
    let status = json(bring_token(&app, &token, &secret).await).await;
    assert_eq!(status["perms"], "write");
    let id = fake(&app).own_photo_ids()[0].clone();

    // Known perms: refused without asking Flickr.
    let refused = app
        .http
        .delete(app.url(&format!("/flickr/v1/photos/{id}")))
        .send()
        .await
        .expect("sent");
    let body = assert_problem(refused, 403, "forbidden").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("perms=delete"),
        "{body}"
    );
    assert_eq!(fake(&app).method_calls("flickr.photos.delete"), 0);

    // Perms the store claims wrongly (written by another process): Flickr's
    // 99 says the same.
    let store = pixgate::imgur::FileStore::new(&app.token_file);
    let claimed = pixgate::imgur::FlickrTokens {
        token: pixgate::secret::Secret::new(&token),
        token_secret: pixgate::secret::Secret::new(&secret),
        username: Some("demo".into()),
        user_nsid: Some(fake(&app).config().user_nsid.clone()),
        perms: Some("delete".into()),
    };
    pixgate::imgur::save_flickr_stored(&store, claimed).expect("stored");
    flickr_status_becomes(&app, "perms", "delete".into()).await;
    let refused = app
        .http
        .delete(app.url(&format!("/flickr/v1/photos/{id}")))
        .send()
        .await
        .expect("sent");
    let body = assert_problem(refused, 403, "forbidden").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("perms=delete"),
        "{body}"
    );
    assert_eq!(fake(&app).method_calls("flickr.photos.delete"), 1);
    assert!(fake(&app).photo(&id).is_some(), "not deleted");
}

#[tokio::test]
async fn a_revoked_token_asks_for_authorization_again() {
    let app = authorized_app().await;
    fake(&app).revoke_access_token(&fake(&app).config().access_token.clone());
    let id = fake(&app).own_photo_ids()[0].clone();
    let response = app.get(&format!("/flickr/v1/photos/{id}")).await;
    let body = assert_problem(response, 403, "authorization-required").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("/flickr/auth/login"),
        "{body}"
    );
    assert!(
        body["title"].as_str().unwrap_or("").contains("Flickr"),
        "{body}"
    );
}

#[tokio::test]
async fn flickrs_failures_map_to_their_problems() {
    let app = authorized_app().await;
    let cases = [
        (
            FaultKind::Stat {
                code: 100,
                message: "Invalid API Key (Key has expired)".into(),
            },
            502,
            "client-credentials-rejected",
        ),
        (
            FaultKind::Stat {
                code: 106,
                message: "Write operation failed".into(),
            },
            503,
            "upstream-over-capacity",
        ),
        (
            FaultKind::OAuthProblem("timestamp_refused".into()),
            502,
            "upstream-error",
        ),
        (
            FaultKind::RateLimited {
                retry_after: Some(7),
            },
            429,
            "rate-limited",
        ),
    ];
    let id = fake(&app).own_photo_ids()[0].clone();
    for (kind, status, slug) in cases {
        fake(&app).inject(Fault::once(Endpoint::Rest, kind));
        let response = app.get(&format!("/flickr/v1/photos/{id}")).await;
        let body = assert_problem(response, status, slug).await;
        if slug == "upstream-error" {
            assert!(
                body["detail"].as_str().unwrap_or("").contains("clock"),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn the_browser_login_exchanges_a_single_use_request_token() {
    let app = flickr_app().await;
    fake(&app).set_consent(Consent::Allow);
    let client = no_redirects();
    let login = client
        .get(app.url("/flickr/auth/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 302);
    let authorize = location(&login);
    assert!(authorize.starts_with(&format!(
        "{}/services/oauth/authorize?",
        fake(&app).base_url()
    )));
    assert!(authorize.contains("perms=delete"), "{authorize}");
    let request_token = fake(&app)
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::RequestToken)
        .expect("a request token was asked for");
    let callback_param = format!(
        "oauth_callback=\"{}\"",
        pixgate::flickr::signing::encode(&app.url("/flickr/auth/callback"))
    );
    let header = request_token.authorization.unwrap_or_default();
    assert!(header.contains(&callback_param), "{header}");
    assert!(
        !app.token_file.exists() || app.token_file_json().get("flickr").is_none(),
        "nothing stored yet"
    );

    let consented = client.get(&authorize).send().await.expect("sent");
    assert_eq!(consented.status(), 302);
    let callback = location(&consented);
    assert!(
        callback.starts_with(&app.url("/flickr/auth/callback?")),
        "{callback}"
    );
    let page = client.get(&callback).send().await.expect("sent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains("Authorized as demo on Flickr"), "{html}");
    let status = json(app.get("/flickr/auth/status").await).await;
    assert_eq!(
        (status["authorized"].clone(), status["perms"].clone()),
        (true.into(), "delete".into())
    );
    assert!(app.token_file_json()["flickr"]["token"].is_string());

    let replayed = client.get(&callback).send().await.expect("sent");
    assert_eq!(replayed.status(), 400, "a request token is used once");
    assert_eq!(fake(&app).calls(Endpoint::AccessToken), 1, "never retried");
    let made_up = client
        .get(app.url("/flickr/auth/callback?oauth_token=made-up&oauth_verifier=1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(made_up.status(), 400);
    assert_all_verified(fake(&app));
}

#[tokio::test]
async fn the_flickr_routes_need_the_api_key_except_the_callback() {
    let app = flickr_app_with(Options {
        api_key: Some("gateway-key".into()),
        ..Options::default()
    })
    .await;
    for path in [
        "/flickr/auth/status",
        "/flickr/v1/favorites",
        "/flickr/auth/login",
    ] {
        let response = no_redirects()
            .get(app.url(path))
            .send()
            .await
            .expect("sent");
        assert_problem(response, 401, "unauthorized").await;
    }
    let with_query_key = no_redirects()
        .get(app.url("/flickr/auth/login?key=gateway-key"))
        .send()
        .await
        .expect("sent");
    assert_eq!(with_query_key.status(), 302);
    let callback = no_redirects()
        .get(app.url("/flickr/auth/callback?oauth_token=x&oauth_verifier=y"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        callback.status(),
        400,
        "open, and refused by its request token"
    );
}

#[tokio::test]
async fn the_keys_call_budget_is_shown_in_rate_limits() {
    let app = authorized_app().await;
    let _ = app.get("/flickr/v1/favorites").await;
    let limits = json(app.get("/v1/rate-limits").await).await;
    assert_eq!(limits["flickr"]["limit"], 3600);
    let used = limits["flickr"]["used"].as_u64().expect("a count");
    let received = fake(&app).calls(Endpoint::Rest) as u64;
    assert_eq!(used, received, "every call the fake received is counted");
    assert_eq!(limits["flickr"]["remaining"], 3600 - used);
}

/// `FLICKR_*` for a `pixgate` process talking to `fake`.
fn flickr_env(fake: &FakeFlickr) -> Vec<(&'static str, String)> {
    let base = fake.base_url();
    vec![
        ("FLICKR_API_KEY", fake.config().api_key.clone()),
        ("FLICKR_API_SECRET", fake.config().api_secret.clone()),
        ("FLICKR_API_URL", base.clone()),
        ("FLICKR_UPLOAD_URL", base.clone()),
        ("FLICKR_OAUTH_URL", base),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_login_reads_flickrs_verifier_dashes_included() {
    use std::io::{BufRead, BufReader, Read, Write};
    let app = flickr_app().await;
    let flickr = fake(&app);
    flickr.set_consent(Consent::Allow);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pixgate"));
    let dir = tempfile::tempdir().expect("temp dir");
    command
        .args(["login", "--provider", "flickr", "--no-browser"])
        .current_dir(dir.path())
        .env_clear()
        .env("PIXGATE_TOKEN_FILE", &app.token_file)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in flickr_env(flickr) {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let authorize = loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).expect("a line");
        assert!(read > 0, "no authorize URL printed");
        if let Some(url) = line.trim().strip_prefix(&format!("{}/", flickr.base_url())) {
            break format!("{}/{url}", flickr.base_url());
        }
    };
    assert!(
        authorize.contains("/services/oauth/authorize?oauth_token="),
        "{authorize}"
    );
    assert!(authorize.contains("perms=delete"), "{authorize}");
    // What the user sees on Flickr's page: the verifier to copy.
    let page = app.http.get(&authorize).send().await.expect("sent");
    let html = page.text().await.expect("a page");
    let verifier = html
        .split("<code id=\"verifier\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a verifier on the page")
        .to_owned();
    assert_eq!(verifier.matches('-').count(), 2, "{verifier}");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{verifier}\n").as_bytes())
        .expect("written");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("the rest");
    let status = child.wait().expect("it ends");
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains("authorized as demo (12345678@N00), perms delete on Flickr"),
        "{rest}"
    );
    let exchange = flickr
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::AccessToken)
        .expect("an exchange");
    assert_eq!(exchange.verification, Verification::Verified);
    assert!(
        exchange
            .authorization
            .unwrap_or_default()
            .contains(&format!("oauth_verifier=\"{verifier}\"")),
        "sent verbatim"
    );
    assert!(app.token_file_json()["flickr"]["token"].is_string());
    // The running gateway learns of it through the token owner's watch.
    flickr_status_becomes(&app, "authorized", true.into()).await;
    assert_eq!(app.get("/flickr/v1/favorites").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_login_checks_and_stores_an_existing_token() {
    let app = flickr_app().await;
    let flickr = fake(&app);
    let (token, secret) = flickr.issue_access_token(Perms::Write);
    let env = flickr_env(flickr);
    let extra: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let output = crate::helpers::run_pixgate(
        &app.fake,
        &app.token_file,
        &[
            "login",
            "--provider",
            "flickr",
            "--token",
            &token,
            "--token-secret",
            &secret,
        ],
        "",
        &extra,
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("perms write on Flickr"), "{printed}");
    assert!(!printed.contains(&token) && !printed.contains(&secret));
    assert_eq!(app.token_file_json()["flickr"]["token"], token.as_str());
    assert_eq!(app.token_file_json()["flickr"]["perms"], "write");
    assert!(
        app.token_file_json()["refresh_token"].is_string(),
        "Imgur's token kept"
    );
    assert_eq!(flickr.method_calls("flickr.auth.oauth.checkToken"), 1);

    let revoked = flickr.issue_access_token(Perms::Delete);
    flickr.revoke_access_token(&revoked.0);
    let output = crate::helpers::run_pixgate(
        &app.fake,
        &app.token_file,
        &[
            "login",
            "--provider",
            "flickr",
            "--token",
            &revoked.0,
            "--token-secret",
            &revoked.1,
        ],
        "",
        &extra,
    );
    assert!(!output.status.success());
    assert_eq!(
        app.token_file_json()["flickr"]["token"],
        token.as_str(),
        "unchanged"
    );
    let without_key = crate::helpers::run_pixgate(
        &app.fake,
        &app.token_file,
        &["login", "--provider", "flickr"],
        "",
        &[],
    );
    assert!(String::from_utf8_lossy(&without_key.stderr).contains("FLICKR_API_KEY"));
}

#[tokio::test]
async fn every_caller_waiting_on_a_failing_fill_gets_flickrs_problem() {
    let app = authorized_app().await;
    fake(&app).inject(Fault {
        endpoint: Some(Endpoint::Rest),
        flickr_method: Some("flickr.favorites.getList".into()),
        kind: FaultKind::Stat {
            code: 105,
            message: "Service currently unavailable".into(),
        },
        times: 1,
    });
    let calls = (0..10).map(|_| app.get("/flickr/v1/favorites"));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 503 || *s == 200),
        "a waiter got another problem: {statuses:?}"
    );
}

#[tokio::test]
async fn a_photo_past_the_upload_budget_is_busy_and_never_reaches_flickr() {
    let app = flickr_app_with(Options {
        upload_budget_bytes: 256 * 1024,
        ..Options::default()
    })
    .await;
    authorize(&app).await;
    // Streamed without a length: the budget stops it as the bytes arrive.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 64 * 1024])));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let form = reqwest::multipart::Form::new()
        .text("title", "too big")
        .part(
            "photo",
            reqwest::multipart::Part::stream(body).file_name("big.png"),
        );
    let response = app
        .http
        .post(app.url("/flickr/v1/photos"))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_problem(response, 503, "busy").await;
    assert_eq!(fake(&app).calls(Endpoint::Upload), 0);

    let small = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(png(100_000)).file_name("ok.png"),
    );
    let response = app
        .http
        .post(app.url("/flickr/v1/photos"))
        .multipart(small)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201, "the budget was given back");
}
