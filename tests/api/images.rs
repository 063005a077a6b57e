//! Upload, get, update, delete, favorite: each endpoint's success path, and
//! what Imgur received.

use crate::helpers::{png, spawn_app, spawn_app_with, Options};
use base64::Engine;
use pixgate::fake_imgur::{Endpoint, Fault, FaultKind, StoredImage};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Uploads a small PNG through the gateway; returns its id.
async fn upload_a_png(app: &crate::helpers::TestApp) -> String {
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(image_form(png(100)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    created["id"].as_str().expect("an id").to_owned()
}

fn image_form(bytes: Vec<u8>) -> Form {
    Form::new()
        .part(
            "image",
            Part::bytes(bytes)
                .file_name("cat.png")
                .mime_str("image/png")
                .expect("mime"),
        )
        .text("title", "A cat")
        .text("description", "on a mat")
}

#[tokio::test]
async fn multipart_image_upload_answers_201_with_location_and_reaches_imgur_intact() {
    let app = spawn_app().await;
    let bytes = png(4096);

    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(image_form(bytes.clone()))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(response
        .headers()
        .contains_key("x-post-rate-limit-remaining"));
    let body: Value = response.json().await.expect("json");
    let id = body["id"].as_str().expect("an id");
    assert_eq!(location, format!("/v1/images/{id}"));
    assert_eq!(body["title"], "A cat");
    assert!(body.get("success").is_none(), "the envelope is unwrapped");
    let stored = app.fake.image(id).expect("Imgur has the image");
    assert_eq!(stored.sha256, sha256(&bytes));
    assert_eq!(stored.owner.as_deref(), Some("demo"));
    assert_eq!(stored.description.as_deref(), Some("on a mat"));
    let upload = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Upload)
        .expect("an upload request");
    assert!(upload
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer ")));
    assert_eq!(upload.fields.get("type").map(String::as_str), Some("file"));
}

/// A multipart form with a video of `len` bytes, then a title after it.
fn video_form(len: usize) -> (Form, Vec<u8>) {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    bytes[4..12].copy_from_slice(b"ftypisom");
    let form = Form::new()
        .part(
            "video",
            Part::bytes(bytes.clone())
                .file_name("clip \"1\".mp4")
                .mime_str("video/mp4")
                .expect("mime"),
        )
        .text("title", "After the file");
    (form, bytes)
}

/// Uploads `form` through the gateway, expects 201, and returns what
/// Imgur stored for the new image.
async fn upload_and_read_back(app: &crate::helpers::TestApp, form: Form) -> StoredImage {
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    app.fake
        .image(body["id"].as_str().expect("id"))
        .expect("stored")
}

#[tokio::test]
async fn a_large_video_is_spooled_and_forwarded_in_the_video_field() {
    let app = spawn_app().await;
    // Larger than the in-memory spool, so it goes through a temp file and
    // starts going upstream (chunked) while it still arrives.
    let (form, bytes) = video_form(5 * 1024 * 1024 + 17);

    let stored = upload_and_read_back(&app, form).await;

    assert!(stored.is_video);
    assert_eq!(
        (stored.size, stored.sha256),
        (bytes.len() as u64, sha256(&bytes))
    );
    assert_eq!(stored.title.as_deref(), Some("After the file"));
    let uploads = app.uploads_received();
    assert_eq!(uploads.len(), 1);
    let upload = &uploads[0];
    assert_eq!(upload.content_length, None, "streamed, so chunked");
    assert_eq!(
        upload.fields.get("video").map(String::as_str),
        Some("<file: 5242897 bytes>")
    );
    assert_eq!(upload.fields.get("type").map(String::as_str), Some("file"));
    assert!(
        upload
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ")),
        "{:?}",
        upload.authorization
    );
}

#[tokio::test]
async fn an_unused_image_field_before_a_large_video_does_not_stop_it_streaming() {
    let app = spawn_app().await;
    // Swagger UI and HTML forms send every file field, the unused ones empty.
    let bytes = vec![9u8; 3 * 1024 * 1024];
    let form = Form::new()
        .part("image", Part::bytes(Vec::new()))
        .part("video", Part::bytes(bytes.clone()).file_name("clip.mp4"));

    let stored = upload_and_read_back(&app, form).await;

    assert_eq!(stored.sha256, sha256(&bytes));
    let uploads = app.uploads_received();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].content_length, None, "streamed");
}

#[tokio::test]
async fn a_small_file_goes_upstream_with_a_length_after_it_arrived_whole() {
    let app = spawn_app().await;

    upload_a_png(&app).await;

    let uploads = app.uploads_received();
    assert_eq!(uploads.len(), 1);
    assert!(
        uploads[0].content_length.is_some(),
        "sent from the memory spool"
    );
}

#[tokio::test]
async fn a_large_upload_refused_after_its_file_never_completes_at_imgur() {
    let app = spawn_app().await;
    let second_file = Part::bytes(vec![1u8; 3 * 1024 * 1024]).file_name("b.png");
    for (case, form) in [
        (
            "unknown field",
            video_form(3 * 1024 * 1024).0.text("colour", "red"),
        ),
        (
            "invalid album",
            video_form(3 * 1024 * 1024).0.text("album", "not/an/album"),
        ),
        (
            "second file",
            video_form(3 * 1024 * 1024).0.part("image", second_file),
        ),
    ] {
        let response = app
            .http
            .post(app.url("/v1/images"))
            .multipart(form)
            .send()
            .await
            .expect("sent");

        assert_eq!(response.status(), 400, "{case}");
        assert_eq!(
            app.fake.calls(Endpoint::Upload),
            0,
            "{case}: the streamed request was aborted, so Imgur got no upload"
        );
    }
}

#[tokio::test]
async fn a_large_upload_that_imgur_fails_is_answered_502_and_not_sent_again() {
    let app = spawn_app().await;
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::ServerError(500),
        times: 1,
    });
    let (form, _) = video_form(3 * 1024 * 1024);

    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 502);
    assert_eq!(app.fake.calls(Endpoint::Upload), 1, "no second upload");
}

#[tokio::test]
async fn an_upstream_that_wants_a_length_gets_uploads_from_the_spool_from_then_on() {
    let app = spawn_app().await;
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::ServerError(411),
        times: 1,
    });

    for _ in 0..2 {
        let (form, bytes) = video_form(3 * 1024 * 1024);
        let stored = upload_and_read_back(&app, form).await;
        assert_eq!(stored.sha256, sha256(&bytes));
    }

    let lengths: Vec<Option<u64>> = app
        .uploads_received()
        .iter()
        .map(|r| r.content_length)
        .collect();
    assert_eq!(lengths.len(), 3, "411, its replay, the next upload");
    assert_eq!(lengths[0], None, "the first went chunked");
    assert!(
        lengths[1..].iter().all(Option::is_some),
        "then every upload carries a Content-Length: {lengths:?}"
    );
}

#[tokio::test]
async fn url_uploads_are_forwarded_as_urls_and_base64_as_the_decoded_file() {
    let app = spawn_app().await;
    let bytes = png(300);
    let cases = [
        (
            "multipart url",
            None,
            Some(Form::new().text("url", "https://example.com/cat.png")),
            "url",
        ),
        (
            "json url",
            Some(json!({"url": "https://example.com/cat.png", "title": "t"})),
            None,
            "url",
        ),
        (
            "json base64",
            Some(json!({"base64": base64::engine::general_purpose::STANDARD.encode(&bytes)})),
            None,
            "file",
        ),
    ];
    for (case, json_body, form, expected_type) in cases {
        let request = app.http.post(app.url("/v1/images"));
        let request = match (json_body, form) {
            (Some(body), _) => request.json(&body),
            (_, Some(form)) => request.multipart(form),
            _ => unreachable!(),
        };
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 201, "{case}");
        let body: Value = response.json().await.expect("json");
        let stored = app
            .fake
            .image(body["id"].as_str().expect("id"))
            .expect("stored");
        if expected_type == "file" {
            assert_eq!(
                stored.sha256,
                sha256(&bytes),
                "{case}: decoded bytes reach Imgur"
            );
        } else {
            assert_eq!(
                stored.source_url.as_deref(),
                Some("https://example.com/cat.png"),
                "{case}"
            );
        }
        let last_upload = app
            .fake
            .requests()
            .into_iter()
            .rfind(|r| r.endpoint == Endpoint::Upload)
            .expect("upload");
        assert_eq!(
            last_upload.fields.get("type").map(String::as_str),
            Some(expected_type),
            "{case}"
        );
    }
}

#[tokio::test]
async fn get_patch_and_delete_act_on_the_image() {
    let app = spawn_app().await;
    let id = upload_a_png(&app).await;
    let path = format!("/v1/images/{id}");

    let fetched = app.get(&path).await;
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(fetched["id"], id.as_str());

    let patched = app
        .http
        .patch(app.url(&path))
        .json(&json!({"title": "Renamed"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(
        patched["title"], "Renamed",
        "the answer is the image after the update"
    );
    assert_eq!(patched["description"], "on a mat", "untouched fields stay");
    assert_eq!(
        app.fake.image(&id).expect("stored").title.as_deref(),
        Some("Renamed")
    );

    let deleted = app.http.delete(app.url(&path)).send().await.expect("sent");
    assert_eq!(deleted.status(), 204);
    assert!(app.fake.image(&id).is_none(), "Imgur no longer has it");
    assert_eq!(app.get(&path).await.status(), 404);
}

#[tokio::test]
async fn anonymous_uploads_use_the_client_id_and_are_deleted_by_deletehash() {
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;

    let created = app
        .http
        .post(app.url("/v1/images"))
        .multipart(image_form(png(100)))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let (id, deletehash) = (
        created["id"].as_str().expect("id").to_owned(),
        created["deletehash"]
            .as_str()
            .expect("deletehash")
            .to_owned(),
    );
    assert_eq!(app.fake.image(&id).expect("stored").owner, None);

    let patched = app
        .http
        .patch(app.url(&format!("/v1/images/{deletehash}")))
        .json(&json!({"description": "anonymous"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(
        patched["id"],
        id.as_str(),
        "the gateway knows its own upload's id"
    );
    assert_eq!(patched["description"], "anonymous");
    let deleted = app
        .http
        .delete(app.url(&format!("/v1/images/{deletehash}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert!(app.fake.image(&id).is_none());
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        0,
        "anonymous mode never asks for a token"
    );
    assert!(app
        .fake
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref()
            == Some(&format!("Client-ID {}", app.fake.config().client_id))));
}

#[tokio::test]
async fn put_and_delete_favorite_are_idempotent_and_post_toggles() {
    let app = spawn_app().await;
    let id = upload_a_png(&app).await;
    let favorite = app.url(&format!("/v1/images/{id}/favorite"));
    let state = |v: Value| {
        (
            v["id"].as_str().map(str::to_owned),
            v["favorited"].as_bool(),
        )
    };

    for attempt in 0..2 {
        let response = app.http.put(&favorite).send().await.expect("sent");
        assert_eq!(response.status(), 200, "PUT #{attempt}");
        assert_eq!(
            state(response.json().await.expect("json")),
            (Some(id.clone()), Some(true))
        );
        assert!(
            app.fake.image(&id).expect("stored").favorite,
            "PUT #{attempt} leaves it favorited"
        );
    }
    for attempt in 0..2 {
        let response = app.http.delete(&favorite).send().await.expect("sent");
        assert_eq!(response.status(), 200, "DELETE #{attempt}");
        assert_eq!(
            state(response.json().await.expect("json")),
            (Some(id.clone()), Some(false))
        );
        assert!(!app.fake.image(&id).expect("stored").favorite);
    }
    let toggled = app.http.post(&favorite).send().await.expect("sent");
    assert_eq!(state(toggled.json().await.expect("json")).1, Some(true));
    let toggled = app.http.post(&favorite).send().await.expect("sent");
    assert_eq!(state(toggled.json().await.expect("json")).1, Some(false));
    assert_eq!(
        app.fake.calls(Endpoint::Favorite),
        4,
        "one toggle per state change, none for the repeats"
    );
}

#[tokio::test]
async fn the_account_is_imgurs_data_unwrapped_and_rate_limits_pixgates_view() {
    let app = spawn_app().await;

    let account = app.get("/v1/account").await;
    assert_eq!(account.status(), 200);
    assert!(account.headers().contains_key("x-ratelimit-userremaining"));
    let account: Value = account.json().await.expect("json");
    assert_eq!(account["url"], "demo");
    assert_eq!(account["id"], 4242);

    let limits: Value = app.get("/v1/rate-limits").await.json().await.expect("json");
    assert_eq!(limits["imgur"]["limits"]["client"]["limit"], 12500);
    assert!(limits["imgur"]["limits"]["user"]["remaining"].is_number());
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.expect("json")["mode"], "user");
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        1,
        "readiness got a real access token"
    );
}

#[tokio::test]
async fn empty_form_fields_are_ignored_as_an_html_form_sends_them() {
    let app = spawn_app().await;
    let form = Form::new()
        .part("image", Part::bytes(png(200)).file_name("a.png"))
        .part("video", Part::bytes(Vec::new()))
        .text("url", "")
        .text("title", "")
        .text("disable_audio", "");

    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 201);
    let upload = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Upload)
        .expect("upload");
    assert!(!upload.fields.contains_key("title") && !upload.fields.contains_key("video"));
    let empty_file = Form::new().part("image", Part::bytes(Vec::new()).file_name("empty.png"));
    let refused = app
        .http
        .post(app.url("/v1/images"))
        .multipart(empty_file)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 400, "a chosen but empty file is an error");
}
