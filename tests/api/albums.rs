//! Albums, your images and your albums: every route against the fake, and
//! what the fake holds afterwards.

use crate::helpers::{assert_problem, png, spawn_app, spawn_app_with, Options, TestApp};
use pixgate::fake_imgur::Endpoint;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const SOMEONE: &str = "someone";

async fn send_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .json(&body)
        .send()
        .await
        .expect("sent")
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Uploads a small PNG; returns Imgur's image object.
async fn upload_png(app: &TestApp) -> Value {
    let form = Form::new().part(
        "image",
        Part::bytes(png(100))
            .file_name("cat.png")
            .mime_str("image/png")
            .expect("mime"),
    );
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    json_of(response).await
}

#[tokio::test]
async fn an_album_is_created_with_your_images_and_reports_the_ones_imgur_skipped() {
    let app = spawn_app().await;
    let mine = app.fake.seed_images(Some("demo"), 2);
    let theirs = app.fake.seed_images(Some(SOMEONE), 1);

    let response = send_json(
        &app,
        reqwest::Method::POST,
        "/v1/albums",
        json!({"title": "Cats", "privacy": "secret", "image_ids": [mine[0], theirs[0], mine[1]]}),
    )
    .await;

    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, "x-pixgate-skipped-images"),
        Some(theirs[0].clone())
    );
    assert_eq!(
        header(&response, "x-pixgate-ledger").as_deref(),
        Some("recorded")
    );
    let location = header(&response, "location").expect("a Location");
    let album = json_of(response).await;
    let id = album["id"].as_str().expect("an id");
    assert_eq!(location, format!("/v1/albums/{id}"));
    assert!(album["deletehash"].is_string(), "{album}");
    assert_eq!(album["images"].as_array().map(Vec::len), Some(2));
    let stored = app.fake.album(id).expect("Imgur has the album");
    assert_eq!(stored.images, mine);
    assert_eq!(stored.owner.as_deref(), Some("demo"));
    assert_eq!(
        (stored.title.as_deref(), stored.privacy.as_str()),
        (Some("Cats"), "secret")
    );
    let created = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::CreateAlbum)
        .expect("a create request");
    assert!(created
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer ")));
}

#[tokio::test]
async fn an_album_is_read_with_its_images_and_an_unknown_or_bad_id_is_refused() {
    let app = spawn_app().await;
    let mine = app.fake.seed_images(Some("demo"), 1);
    let album = app.fake.seed_album(Some("demo"), "Mine", &mine);

    let found = app.get(&format!("/v1/albums/{}", album.id)).await;
    assert_eq!(found.status(), 200);
    let body = json_of(found).await;
    assert_eq!(body["images"][0]["id"], mine[0].as_str());
    assert_eq!(body["link"], format!("https://imgur.com/a/{}", album.id));

    assert_problem(app.get("/v1/albums/NoSuchAlbum").await, 404, "not-found").await;
    let calls = app.api_calls();
    assert_problem(app.get("/v1/albums/a.b").await, 400, "invalid-input").await;
    assert_eq!(app.api_calls(), calls, "a bad id never reaches Imgur");
}

#[tokio::test]
async fn an_update_changes_only_the_fields_sent_and_image_ids_set_the_images() {
    let app = spawn_app().await;
    let mine = app.fake.seed_images(Some("demo"), 3);
    let album = app.fake.seed_album(Some("demo"), "Before", &mine[..2]);
    let path = format!("/v1/albums/{}", album.id);

    let response = send_json(
        &app,
        reqwest::Method::PATCH,
        &path,
        json!({"description": "now described"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["description"], "now described");
    let stored = app.fake.album(&album.id).expect("album");
    assert_eq!(stored.title.as_deref(), Some("Before"), "the title stays");
    assert_eq!(stored.images, &mine[..2]);

    let response = send_json(
        &app,
        reqwest::Method::PATCH,
        &path,
        json!({"image_ids": [mine[2], mine[1]]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "x-pixgate-skipped-images").is_none());
    let stored = app.fake.album(&album.id).expect("album");
    assert_eq!(stored.images, [mine[1].clone(), mine[2].clone()]);

    let bad = send_json(
        &app,
        reqwest::Method::PATCH,
        &path,
        json!({"privacy": "everyone"}),
    )
    .await;
    assert_problem(bad, 400, "invalid-input").await;
}

#[tokio::test]
async fn someone_elses_album_cannot_be_changed_or_deleted() {
    let app = spawn_app().await;
    let theirs = app.fake.seed_images(Some(SOMEONE), 1);
    let album = app.fake.seed_album(Some(SOMEONE), "Theirs", &theirs);
    let path = format!("/v1/albums/{}", album.id);

    let update = send_json(
        &app,
        reqwest::Method::PATCH,
        &path,
        json!({"title": "Mine now"}),
    )
    .await;
    assert_problem(update, 403, "forbidden").await;
    let delete = app.http.delete(app.url(&path)).send().await.expect("sent");
    assert_problem(delete, 403, "forbidden").await;
    let more = app.fake.seed_images(Some(SOMEONE), 1);
    let add = send_json(
        &app,
        reqwest::Method::POST,
        &format!("{path}/images"),
        json!({"image_ids": [more[0]]}),
    )
    .await;
    assert_problem(add, 403, "forbidden").await;

    assert_eq!(app.fake.album(&album.id), Some(album), "unchanged");
}

#[tokio::test]
async fn adding_images_is_idempotent_and_reports_what_imgur_skipped() {
    let app = spawn_app().await;
    let mine = app.fake.seed_images(Some("demo"), 2);
    let theirs = app.fake.seed_images(Some(SOMEONE), 1);
    let album = app.fake.seed_album(Some("demo"), "Growing", &mine[..1]);
    let path = format!("/v1/albums/{}/images", album.id);

    let first = send_json(
        &app,
        reqwest::Method::POST,
        &path,
        json!({"image_ids": [mine[0], mine[1], theirs[0]]}),
    )
    .await;
    assert_eq!(first.status(), 200, "Imgur skipped one: reported");
    assert_eq!(
        header(&first, "x-pixgate-skipped-images"),
        Some(theirs[0].clone())
    );
    let first = json_of(first).await;
    assert_eq!(first["added"], json!([mine[1]]));
    assert_eq!(first["already_present"], json!([mine[0]]));
    assert_eq!(first["skipped"], json!([theirs[0]]));
    assert_eq!(app.fake.album(&album.id).expect("album").images, mine);

    let adds = app.fake.calls(Endpoint::AddAlbumImages);
    let again = send_json(
        &app,
        reqwest::Method::POST,
        &path,
        json!({"image_ids": [mine[1], mine[0]]}),
    )
    .await;
    assert_eq!(again.status(), 204, "every image is in the album");
    assert_eq!(
        app.fake.calls(Endpoint::AddAlbumImages),
        adds,
        "nothing to add: no add call"
    );
    assert_eq!(
        app.fake.album(&album.id).expect("album").images,
        mine,
        "each image once"
    );

    let empty = send_json(&app, reqwest::Method::POST, &path, json!({"image_ids": []})).await;
    assert_problem(empty, 400, "invalid-input").await;
}

#[tokio::test]
async fn removing_an_image_twice_answers_204_and_leaves_it_out() {
    let app = spawn_app().await;
    let mine = app.fake.seed_images(Some("demo"), 2);
    let album = app.fake.seed_album(Some("demo"), "Shrinking", &mine);
    let path = format!("/v1/albums/{}/images/{}", album.id, mine[0]);

    for attempt in ["first", "second"] {
        let response = app.http.delete(app.url(&path)).send().await.expect("sent");
        assert_eq!(response.status(), 204, "{attempt}");
    }

    assert_eq!(app.fake.album(&album.id).expect("album").images, &mine[1..]);
    assert!(app.fake.image(&mine[0]).is_some(), "the image itself stays");
}

#[tokio::test]
async fn favoriting_an_album_is_idempotent_on_top_of_imgurs_toggle() {
    let app = spawn_app().await;
    let album = app.fake.seed_album(Some(SOMEONE), "Nice", &[]);
    let path = format!("/v1/albums/{}/favorite", album.id);

    for (method, expected, toggles) in [
        (reqwest::Method::PUT, true, 1),
        (reqwest::Method::PUT, true, 1),
        (reqwest::Method::DELETE, false, 2),
        (reqwest::Method::DELETE, false, 2),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(
            json_of(response).await,
            json!({"id": album.id, "favorited": expected})
        );
        assert_eq!(
            app.fake.album(&album.id).expect("album").favorite,
            expected,
            "{method}"
        );
        assert_eq!(app.fake.calls(Endpoint::AlbumFavorite), toggles, "{method}");
    }
}

#[tokio::test]
async fn an_anonymous_album_is_made_with_client_id_and_changed_and_deleted_by_id_through_the_ledger(
) {
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;
    let image = upload_png(&app).await;
    let image_id = image["id"].as_str().expect("id");

    let created = send_json(
        &app,
        reqwest::Method::POST,
        "/v1/albums",
        json!({"title": "Anon", "image_ids": [image_id]}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let deletehash = created["deletehash"]
        .as_str()
        .expect("the deletehash")
        .to_owned();
    let stored = app.fake.album(&id).expect("album");
    assert_eq!(stored.owner, None, "anonymous");
    assert_eq!(
        stored.images,
        [image_id],
        "the image went in by its deletehash"
    );
    let create = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::CreateAlbum)
        .expect("create");
    assert!(create
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Client-ID ")));
    assert_eq!(
        create.fields.get("deletehashes[]").map(String::as_str),
        image["deletehash"].as_str()
    );

    let renamed = send_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/v1/albums/{id}"),
        json!({"title": "Renamed"}),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        app.fake.album(&id).and_then(|a| a.title).as_deref(),
        Some("Renamed")
    );
    let by_deletehash = app.get(&format!("/v1/albums/{deletehash}")).await;
    assert_eq!(
        json_of(by_deletehash).await["id"],
        id.as_str(),
        "the ledger knows the deletehash"
    );

    let deleted = app
        .http
        .delete(app.url(&format!("/v1/albums/{id}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        header(&deleted, "x-pixgate-ledger").as_deref(),
        Some("recorded")
    );
    assert!(app.fake.album(&id).is_none());
    let delete = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::DeleteAlbum)
        .expect("delete");
    assert_eq!(delete.path, format!("/3/album/{deletehash}"));
    let deleted_at: Option<i64> = rusqlite::Connection::open(&app.db)
        .expect("ledger opens")
        .query_row(
            "SELECT deleted_at FROM items WHERE kind = 'album' AND id = ?1",
            [&id],
            |row| row.get(0),
        )
        .expect("the album is in the ledger");
    assert!(deleted_at.is_some());
}

fn mp4() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypmp42".to_vec();
    bytes.resize(2048, 0);
    bytes
}

async fn upload_video_into(app: &TestApp, album: &str) -> String {
    let form = Form::new()
        .part(
            "video",
            Part::bytes(mp4())
                .file_name("clip.mp4")
                .mime_str("video/mp4")
                .expect("mime"),
        )
        .text("album", album.to_owned());
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    json_of(response).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn a_video_imgur_left_out_of_its_album_is_added_by_pixgate() {
    let app = spawn_app().await;
    let album = app.fake.seed_album(Some("demo"), "Clips", &[]);
    app.fake.set_video_album_bug(true);

    let video = upload_video_into(&app, &album.id).await;

    assert_eq!(app.fake.album(&album.id).expect("album").images, [video]);
    assert_eq!(app.fake.calls(Endpoint::AddAlbumImages), 1);
}

#[tokio::test]
async fn a_video_imgur_put_in_its_album_is_not_added_again() {
    let app = spawn_app().await;
    let album = app.fake.seed_album(Some("demo"), "Clips", &[]);

    let video = upload_video_into(&app, &album.id).await;

    assert_eq!(app.fake.album(&album.id).expect("album").images, [video]);
    assert_eq!(app.fake.calls(Endpoint::AddAlbumImages), 0);
}

/// Follows `Link: <...>; rel="next"` from `first`; returns every page's ids.
async fn follow_pages(app: &TestApp, first: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        next = header(&response, "link").map(|link| {
            assert!(link.ends_with(r#">; rel="next""#), "{link}");
            link.trim_start_matches('<')
                .split('>')
                .next()
                .expect("a target")
                .to_owned()
        });
        let items: Vec<Value> = response.json().await.expect("a JSON list");
        pages.push(
            items
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned())
                .collect(),
        );
        assert!(pages.len() < 10, "no end to the pages");
    }
    pages
}

#[tokio::test]
async fn your_images_page_through_link_headers_over_three_pages() {
    let app = spawn_app().await;
    let mut mine = app.fake.seed_images(Some("demo"), 25);
    app.fake.seed_images(Some(SOMEONE), 3);
    mine.reverse(); // newest first

    let pages = follow_pages(&app, "/v1/account/images?per_page=10").await;

    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(pages.concat(), mine);
    assert_eq!(app.fake.calls(Endpoint::AccountImages), 3);

    let count = json_of(app.get("/v1/account/images/count").await).await;
    assert_eq!(count, json!({"count": 25}));
    let bad = app.get("/v1/account/images?per_page=101").await;
    assert_problem(bad, 400, "invalid-input").await;
}

#[tokio::test]
async fn your_albums_page_through_link_headers() {
    let app = spawn_app().await;
    let ids: Vec<String> = (0..5)
        .map(|i| app.fake.seed_album(Some("demo"), &format!("A{i}"), &[]).id)
        .collect();
    app.fake.seed_album(Some(SOMEONE), "not mine", &[]);

    let pages = follow_pages(&app, "/v1/account/albums?per_page=2").await;

    let mut all = pages.concat();
    all.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(pages.len(), 3);
}

#[tokio::test]
async fn your_lists_and_album_favorites_need_an_authorized_account() {
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;
    for path in [
        "/v1/account/images",
        "/v1/account/images/count",
        "/v1/account/albums",
    ] {
        assert_problem(app.get(path).await, 403, "authorization-required").await;
    }
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let favorite = app
            .http
            .request(method, app.url("/v1/albums/AbC1234/favorite"))
            .send()
            .await
            .expect("sent");
        assert_problem(favorite, 403, "authorization-required").await;
    }
    assert_eq!(app.api_calls(), 0, "nothing reached Imgur");
}
