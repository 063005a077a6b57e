//! The fake Imgur (the tests' upstream) speaks Imgur's wire format and its controls work.

use std::time::Duration;

use pixgate::fake_imgur::{Consent, Endpoint, FakeConfig, FakeImgur, Fault, FaultKind, Gate};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

async fn start_fake() -> FakeImgur {
    FakeImgur::start(FakeConfig::default())
        .await
        .expect("the fake starts")
}

async fn refresh(fake: &FakeImgur, refresh_token: &str) -> reqwest::Response {
    let config = fake.config();
    reqwest::Client::new()
        .post(format!("{}/oauth2/token", fake.base_url()))
        .form(&[
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("token request is sent")
}

async fn access_token(fake: &FakeImgur) -> String {
    let body: Value = refresh(fake, &fake.current_refresh_token())
        .await
        .json()
        .await
        .expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 1, 2, 3, 4]);
    bytes
}

async fn get_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request is sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn refresh_rotates_both_tokens_and_rejects_the_old_refresh_token() {
    let fake = start_fake().await;

    let response = refresh(&fake, "fake-refresh-token-0").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["account_username"], "demo");
    assert!(
        body.get("data").is_none(),
        "the token answer is not enveloped"
    );
    let new_refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(fake.current_refresh_token(), new_refresh);
    assert_eq!(fake.valid_refresh_tokens(), vec![new_refresh.to_owned()]);

    let again = refresh(&fake, "fake-refresh-token-0").await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["data"]["error"], "Invalid refresh token");
    assert_eq!(body["data"]["request"], "/oauth2/token");

    fake.revoke_refresh_tokens();
    assert_eq!(refresh(&fake, new_refresh).await.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_access_tokens_get_the_invalid_token_403() {
    let fake = start_fake().await;
    let client = reqwest::Client::new();
    let url = format!("{}/3/account/me", fake.base_url());
    let token = access_token(&fake).await;
    let (status, body) = get_json(client.get(&url).bearer_auth(&token)).await;
    assert_eq!((status, body["data"]["url"].as_str()), (200, Some("demo")));

    fake.expire_access_tokens();
    let (status, body) = get_json(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["data"]["error"],
        "The access token provided is invalid."
    );

    fake.set_access_token_lifetime(Duration::ZERO);
    let short_lived = access_token(&fake).await;
    let (status, _) = get_json(client.get(&url).bearer_auth(&short_lived)).await;
    assert_eq!(status, 403);
    assert_eq!(fake.issued_access_tokens(), vec![token, short_lived]);
}

#[actix_web::test]
async fn an_uploaded_image_can_be_fetched_updated_and_deleted() {
    let fake = start_fake().await;
    let client = reqwest::Client::new();
    let token = access_token(&fake).await;
    let form = Form::new()
        .part("image", Part::bytes(png(300, 200)).file_name("cat.png"))
        .text("type", "file")
        .text("title", "A cat");

    let response = client
        .post(format!("{}/3/image", fake.base_url()))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .contains_key("x-post-rate-limit-remaining"));
    let body: Value = response.json().await.unwrap();
    let data = &body["data"];
    let id = data["id"].as_str().unwrap();
    assert_eq!(id.len(), 7);
    assert_eq!(
        (data["type"].as_str(), data["width"].as_u64()),
        (Some("image/png"), Some(300))
    );
    assert_eq!(
        (data["name"].as_str(), data["account_url"].as_str()),
        (Some("cat.png"), Some("demo"))
    );
    let stored = fake.image(id).unwrap();
    assert_eq!(stored.size, png(300, 200).len() as u64);
    assert_eq!(stored.owner.as_deref(), Some("demo"));

    let image_url = format!("{}/3/image/{id}", fake.base_url());
    let anonymous = format!("Client-ID {}", fake.config().client_id);
    let (status, body) = get_json(client.get(&image_url).header("Authorization", &anonymous)).await;
    assert_eq!(
        (status, body["data"]["title"].as_str()),
        (200, Some("A cat"))
    );
    assert!(
        body["data"].get("deletehash").is_none(),
        "deletehash is for the owner only"
    );

    let update = client
        .post(&image_url)
        .bearer_auth(&token)
        .form(&[("title", "A dog")]);
    assert_eq!(get_json(update).await.1["data"], true);
    assert_eq!(fake.image(id).unwrap().title.as_deref(), Some("A dog"));

    let (status, _) = get_json(
        client
            .delete(&image_url)
            .header("Authorization", &anonymous),
    )
    .await;
    assert_eq!(status, 403, "Client-ID needs the deletehash");
    let by_hash = format!("{}/3/image/{}", fake.base_url(), stored.deletehash);
    let (status, _) = get_json(client.delete(&by_hash).header("Authorization", &anonymous)).await;
    assert_eq!(status, 200);
    let (status, body) = get_json(client.get(&image_url).bearer_auth(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["data"]["error"],
        format!("Unable to find an image with the id, {id}")
    );
}

#[tokio::test]
async fn uploads_over_the_size_limit_or_without_data_are_refused() {
    let fake = start_fake().await;
    let client = reqwest::Client::new();
    let anonymous = format!("Client-ID {}", fake.config().client_id);
    let big = Form::new().part(
        "image",
        Part::bytes(vec![0u8; 10 * 1024 * 1024 + 1]).file_name("big.jpg"),
    );
    let cases = [
        (big, "File is over the size limit"),
        (
            Form::new().text("title", "no image"),
            "No image data was sent to the upload api",
        ),
    ];
    for (form, message) in cases {
        let request = client
            .post(format!("{}/3/upload", fake.base_url()))
            .header("Authorization", &anonymous)
            .multipart(form);
        let (status, body) = get_json(request).await;
        assert_eq!(
            (status, body["data"]["error"].as_str()),
            (400, Some(message))
        );
    }
}

#[tokio::test]
async fn favorite_toggles_and_favorites_are_paged_newest_first() {
    let fake = start_fake().await;
    let client = reqwest::Client::new();
    let token = access_token(&fake).await;
    let page = |n: u32| {
        client
            .get(format!(
                "{}/3/account/me/favorites/{n}/newest",
                fake.base_url()
            ))
            .bearer_auth(&token)
    };
    assert_eq!(
        get_json(page(0)).await.1["data"].as_array().unwrap().len(),
        10
    );
    assert_eq!(
        get_json(page(1)).await.1["data"].as_array().unwrap().len(),
        2
    );
    assert_eq!(get_json(page(2)).await.1["data"], serde_json::json!([]));

    let oldest = fake.favorite_ids().last().unwrap().clone();
    let toggle_url = format!("{}/3/image/{oldest}/favorite", fake.base_url());
    let (_, body) = get_json(client.post(&toggle_url).bearer_auth(&token)).await;
    assert_eq!(body["data"], "unfavorited");
    assert_eq!(fake.favorite_ids().len(), 11);
    let (_, body) = get_json(client.post(&toggle_url).bearer_auth(&token)).await;
    assert_eq!(body["data"], "favorited");
    assert_eq!(fake.favorite_ids()[0], oldest);
    let first = &get_json(page(0)).await.1["data"][0];
    assert_eq!(
        (first["id"].as_str(), first["favorite"].as_bool()),
        (Some(oldest.as_str()), Some(true))
    );
}

#[tokio::test]
async fn a_fault_is_served_its_number_of_times_then_requests_succeed() {
    let fake = start_fake().await;
    fake.inject(Fault {
        endpoint: Some(Endpoint::Credits),
        kind: FaultKind::OverCapacityJson(403),
        times: 2,
    });
    let client = reqwest::Client::new();
    let credits = || {
        client.get(format!("{}/3/credits", fake.base_url())).header(
            "Authorization",
            format!("Client-ID {}", fake.config().client_id),
        )
    };
    for _ in 0..2 {
        let (status, body) = get_json(credits()).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["data"]["error"],
            "Imgur is temporarily over capacity. Please try again later."
        );
    }
    let (status, body) = get_json(credits()).await;
    assert_eq!(
        (status, body["data"]["UserLimit"].as_u64()),
        (200, Some(2000))
    );

    fake.inject(Fault {
        endpoint: None,
        kind: FaultKind::Empty503,
        times: 1,
    });
    let response = credits().send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.content_length(), Some(0));
}

#[tokio::test]
async fn calls_are_counted_before_auth_and_faults_apply() {
    let fake = start_fake().await;
    fake.inject(Fault {
        endpoint: Some(Endpoint::GetImage),
        kind: FaultKind::ServerError(500),
        times: 1,
    });
    let client = reqwest::Client::new();
    let url = format!("{}/3/image/nope123", fake.base_url());

    assert_eq!(client.get(&url).send().await.unwrap().status(), 500);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let (status, body) = get_json(client.get(&url).bearer_auth("not-a-token")).await;
    assert_eq!((status, body["status"].as_u64()), (403, Some(403)));

    assert_eq!(fake.calls(Endpoint::GetImage), 3);
    assert_eq!(fake.calls(Endpoint::Upload), 0);
    let requests = fake.requests();
    assert_eq!(
        requests[2].authorization.as_deref(),
        Some("Bearer not-a-token")
    );
    assert_eq!(requests[2].path, "/3/image/nope123");

    fake.set_request_log(false);
    assert!(fake.requests().is_empty(), "the log is dropped");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert!(fake.requests().is_empty(), "and no longer kept");
    assert_eq!(fake.calls(Endpoint::GetImage), 4, "but still counted");
    fake.stop().await;
}

#[tokio::test]
async fn held_calls_wait_for_their_gate_and_late_faults_answer_after_their_delay() {
    let fake = start_fake().await;
    let gate = Gate::new();
    fake.inject(Fault {
        endpoint: Some(Endpoint::Credits),
        kind: FaultKind::Held(gate.clone(), Some(Box::new(FaultKind::ServerError(502)))),
        times: 2,
    });
    let client = reqwest::Client::new();
    let credits = {
        let (client, url) = (client.clone(), format!("{}/3/credits", fake.base_url()));
        let header = format!("Client-ID {}", fake.config().client_id);
        move || {
            let request = client.get(&url).header("Authorization", &header).send();
            tokio::spawn(async move { request.await.expect("answered").status().as_u16() })
        }
    };

    let held = [credits(), credits()];
    fake.wait_for_begun(Endpoint::Credits, 2).await;
    assert!(
        held.iter().all(|call| !call.is_finished()),
        "nothing is answered before the gate opens"
    );
    gate.release();
    for call in held {
        assert_eq!(call.await.expect("joined"), 502, "the inner fault");
    }
    assert_eq!(
        credits().await.expect("joined"),
        200,
        "the fault is used up"
    );

    fake.inject(Fault {
        endpoint: Some(Endpoint::Credits),
        kind: FaultKind::Late(
            Duration::from_millis(300),
            Box::new(FaultKind::ServerError(503)),
        ),
        times: 1,
    });
    let started = std::time::Instant::now();
    assert_eq!(credits().await.expect("joined"), 503);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before its delay"
    );
    assert_eq!(fake.calls(Endpoint::Credits), 4);
    fake.stop().await;
}

/// The gateway's callback; never contacted, redirects are not followed.
const CALLBACK: &str = "http://127.0.0.1:9/v1/auth/callback";
/// A `state` with characters that need encoding in a query and a fragment.
const STATE: &str = "s t&a=te#/?é";

async fn start_login_fake() -> FakeImgur {
    let fake = start_fake().await;
    fake.set_redirect_url(CALLBACK);
    fake
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `GET /oauth2/authorize` for `response_type`.
async fn open_authorize(fake: &FakeImgur, response_type: &str) -> reqwest::Response {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/oauth2/authorize", fake.base_url()),
        [
            ("client_id", fake.config().client_id.as_str()),
            ("response_type", response_type),
            ("state", STATE),
        ],
    )
    .expect("a URL");
    no_redirects()
        .get(url)
        .send()
        .await
        .expect("authorize request is sent")
}

/// What the consent page's form posts when the user clicks `decision`.
async fn decide(fake: &FakeImgur, response_type: &str, decision: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/oauth2/authorize", fake.base_url()))
        .form(&[
            ("client_id", fake.config().client_id.as_str()),
            ("response_type", response_type),
            ("state", STATE),
            ("decision", decision),
        ])
        .send()
        .await
        .expect("decision is posted")
}

/// The 302's `Location`, parsed.
fn location(response: &reqwest::Response) -> reqwest::Url {
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("ASCII");
    reqwest::Url::parse(location).expect("an absolute URL")
}

/// Name/value pairs of a URL's query (`fragment == false`) or fragment.
fn params(url: &reqwest::Url, fragment: bool) -> std::collections::HashMap<String, String> {
    let encoded = if fragment {
        url.fragment()
    } else {
        url.query()
    };
    let as_query = format!("http://x/?{}", encoded.unwrap_or_default());
    reqwest::Url::parse(&as_query)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The token endpoint's status for one grant.
async fn exchange(fake: &FakeImgur, grant_type: &str, field: &str, value: &str) -> (u16, Value) {
    let config = fake.config();
    let request = reqwest::Client::new()
        .post(format!("{}/oauth2/token", fake.base_url()))
        .form(&[
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.as_str()),
            ("grant_type", grant_type),
            (field, value),
        ]);
    get_json(request).await
}

#[tokio::test]
async fn the_consent_page_has_allow_and_deny_forms_and_no_script() {
    let fake = start_login_fake().await;

    let response = open_authorize(&fake, "code").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<title>Authorize pixgate-demo</title>"),
        "{html}"
    );
    assert!(
        html.contains("<strong id=\"account\">demo</strong>"),
        "{html}"
    );
    assert!(html.contains("<button id=\"allow\" type=\"submit\">Allow</button>"));
    assert!(html.contains("<button id=\"deny\" type=\"submit\">Deny</button>"));
    assert_eq!(html.matches("action=\"/oauth2/authorize\"").count(), 2);
    assert!(
        html.contains("name=\"state\" value=\"s t&amp;a=te#/?é\""),
        "state is escaped"
    );
    assert!(!html.to_lowercase().contains("<script"), "no script");
    assert_eq!(fake.calls(Endpoint::Authorize), 1);
    assert_eq!(fake.requests()[0].fields["response_type"], "code");
}

#[tokio::test]
async fn the_authorize_page_refuses_bad_requests_with_an_html_400() {
    let fake = start_fake().await;
    let url = format!("{}/oauth2/authorize", fake.base_url());
    let cases = [
        ("client_id=nope&response_type=code", "Invalid client_id"),
        ("client_id=fake-client-id", "Invalid response_type"),
        (
            "client_id=fake-client-id&response_type=magic",
            "Invalid response_type",
        ),
        (
            "client_id=fake-client-id&response_type=code",
            "No redirect URL",
        ),
        (
            "client_id=fake-client-id&response_type=token",
            "No redirect URL",
        ),
    ];
    for (query, title) in cases {
        let response = no_redirects()
            .get(format!("{url}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            response.text().await.unwrap().contains(title),
            "{query}: {title}"
        );
    }
}

#[tokio::test]
async fn allowing_the_code_flow_redirects_with_a_code_the_token_endpoint_accepts_once() {
    let fake = start_login_fake().await;

    let response = decide(&fake, "code", "allow").await;

    let url = location(&response);
    assert!(url.as_str().starts_with(CALLBACK), "{url}");
    let query = params(&url, false);
    assert_eq!(query["state"], STATE);
    let (status, body) = exchange(&fake, "authorization_code", "code", &query["code"]).await;
    assert_eq!(
        (status, body["account_username"].as_str()),
        (200, Some("demo"))
    );
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&fake, refresh_token).await.status(),
        200,
        "its refresh token works"
    );
    let (status, body) = exchange(&fake, "authorization_code", "code", &query["code"]).await;
    assert_eq!(
        (status, body["data"]["error"].as_str()),
        (400, Some("Invalid authorization code"))
    );
}

#[tokio::test]
async fn allowing_the_token_flow_puts_working_tokens_in_the_fragment() {
    let fake = start_login_fake().await;

    let response = decide(&fake, "token", "allow").await;

    let url = location(&response);
    assert_eq!(url.query(), None);
    let fragment = params(&url, true);
    assert_eq!(fragment["token_type"], "bearer");
    assert_eq!(fragment["expires_in"], "3600");
    assert_eq!(
        (
            fragment["account_username"].as_str(),
            fragment["account_id"].as_str()
        ),
        ("demo", "4242")
    );
    assert_eq!(fragment["state"], STATE);
    assert_eq!(
        fake.issued_access_tokens(),
        vec![fragment["access_token"].clone()]
    );
    let response = refresh(&fake, &fragment["refresh_token"]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        refresh(&fake, "fake-refresh-token-0").await.status(),
        200,
        "the old one stays valid"
    );
}

#[tokio::test]
async fn allowing_the_pin_flow_shows_a_pin_that_works_once() {
    let fake = start_fake().await;

    let response = decide(&fake, "pin", "allow").await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter this PIN in the application"), "{html}");
    let pin = html
        .split_once("<code id=\"pin\">")
        .and_then(|(_, rest)| rest.split_once("</code>"))
        .map(|(pin, _)| pin.to_owned())
        .expect("a PIN element");
    let (status, body) = exchange(&fake, "pin", "pin", &pin).await;
    assert!(status == 200 && body["access_token"].is_string(), "{body}");
    assert_eq!(exchange(&fake, "pin", "pin", &pin).await.0, 400);
}

#[tokio::test]
async fn denying_sends_access_denied_in_the_query_or_for_token_the_fragment() {
    let fake = start_login_fake().await;

    let code = location(&decide(&fake, "code", "deny").await);
    let token = location(&decide(&fake, "token", "deny").await);

    assert_eq!(params(&code, false)["error"], "access_denied");
    assert_eq!(params(&code, false)["state"], STATE);
    assert_eq!(code.fragment(), None);
    assert_eq!(token.query(), None);
    assert_eq!(params(&token, true)["error"], "access_denied");
    assert_eq!(params(&token, true)["state"], STATE);
    assert!(fake.issued_access_tokens().is_empty());
    let without_callback = start_fake().await;
    let pin = decide(&without_callback, "pin", "deny").await;
    assert_eq!(pin.status(), 200);
    assert!(pin.text().await.unwrap().contains("Access denied"));
}

#[tokio::test]
async fn consent_allow_skips_the_page_and_deny_answers_at_once() {
    let fake = start_login_fake().await;

    fake.set_consent(Consent::Allow);
    let allowed = location(&open_authorize(&fake, "code").await);
    fake.set_consent(Consent::Deny);
    let denied = location(&open_authorize(&fake, "token").await);

    let code = &params(&allowed, false)["code"];
    assert_eq!(
        exchange(&fake, "authorization_code", "code", code).await.0,
        200
    );
    assert_eq!(params(&denied, true)["error"], "access_denied");
}

#[tokio::test]
async fn a_restarted_fake_refuses_while_down_and_keeps_its_state() {
    let fake = start_fake().await;
    let token = access_token(&fake).await;
    let image = fake.seed_images(None, 1).remove(0);
    let url = format!("{}/3/image/{image}", fake.base_url());
    let client = reqwest::Client::new();
    let restart = fake.restart(Duration::from_millis(300));
    let probe = async {
        // Once the old server is gone, connections are refused until the new one listens.
        loop {
            if client.get(&url).bearer_auth(&token).send().await.is_err() {
                return true;
            }
            tokio::task::yield_now().await;
        }
    };
    let (restarted, refused) = tokio::join!(restart, probe);
    restarted.expect("the fake listens again");
    assert!(refused);
    let (status, body) = get_json(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["id"], image.as_str(), "its images survived");
}
