//! The upload ledger: what the SQLite file holds after uploads, deletes and
//! restarts, failed writes, and a damaged or newer file at start.

use crate::helpers::{config, png, run_pixgate, spawn_app, spawn_app_with, Options, TestApp};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use pixgate::startup::Application;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn upload(app: &TestApp, title: &str) -> reqwest::Response {
    let form = Form::new()
        .part(
            "image",
            Part::bytes(png(300))
                .file_name("cat.png")
                .mime_str("image/png")
                .expect("mime"),
        )
        .text("title", title.to_owned());
    app.http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent")
}

async fn uploaded(app: &TestApp, title: &str) -> Value {
    let response = upload(app, title).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-pixgate-ledger"], "recorded");
    response.json().await.expect("JSON")
}

/// One ledger row: kind, id, deletehash, account, deleted.
type Row = (String, String, Option<String>, Option<String>, bool);

/// The ledger's rows, newest first.
fn rows(app: &TestApp) -> Vec<Row> {
    let db = rusqlite::Connection::open(&app.db).expect("the ledger opens");
    let mut statement = db
        .prepare("SELECT kind, id, deletehash, account, deleted_at IS NOT NULL FROM items ORDER BY created_at DESC, rowid DESC")
        .expect("query");
    statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("readable")
}

#[tokio::test]
async fn uploads_are_recorded_with_their_deletehash_and_survive_a_restart() {
    let mut app = spawn_app().await;
    let first = uploaded(&app, "first").await;
    let second = uploaded(&app, "second").await;

    app.restart(app.seed_refresh_token.clone()).await;
    let listed: Vec<Value> = app.get("/v1/uploads").await.json().await.expect("JSON");

    let ids: Vec<&str> = listed
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().expect("id"),
            first["id"].as_str().expect("id")
        ]
    );
    assert_eq!(listed[0]["deletehash"], second["deletehash"]);
    assert_eq!(listed[0]["account"], "demo");
    assert_eq!(listed[0]["type"], "image/png");
    assert_eq!(listed[0]["size"], 300);
    assert_eq!(listed[0]["link"], second["link"]);
    let rows = rows(&app);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        (
            "image".into(),
            first["id"].as_str().expect("id").into(),
            first["deletehash"].as_str().map(Into::into),
            Some("demo".into()),
            false
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app.db)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the ledger is private");
    }
}

#[tokio::test]
async fn an_anonymous_upload_is_deleted_by_id_after_a_restart_with_the_ledgers_deletehash() {
    let mut app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;
    let image = uploaded(&app, "anonymous").await;
    let id = image["id"].as_str().expect("id");
    let deletehash = image["deletehash"].as_str().expect("deletehash");

    app.restart(None).await;
    let deleted = app
        .http
        .delete(app.url(&format!("/v1/images/{id}")))
        .send()
        .await
        .expect("sent");

    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.headers()["x-pixgate-ledger"], "recorded");
    assert!(app.fake.image(id).is_none(), "Imgur deleted it");
    let delete = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::DeleteImage)
        .expect("a delete");
    assert_eq!(delete.path, format!("/3/image/{deletehash}"));
    assert!(delete
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Client-ID ")));
    assert_eq!(
        rows(&app),
        [(
            "image".into(),
            id.into(),
            Some(deletehash.into()),
            None,
            true
        )]
    );
    let listed: Vec<Value> = app
        .get("/v1/uploads?anonymous=true")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed[0]["anonymous"], true);
    assert!(listed[0]["deleted_at"].is_i64());
}

#[tokio::test]
async fn the_ledger_lists_filter_and_page_with_a_link() {
    let app = spawn_app().await;
    for title in ["a", "b", "c"] {
        uploaded(&app, title).await;
    }

    let page = app.get("/v1/uploads?anonymous=false&per_page=2").await;
    assert_eq!(
        page.headers()["link"],
        r#"</v1/uploads?anonymous=false&page=1&per_page=2>; rel="next""#
    );
    let first: Vec<Value> = page.json().await.expect("JSON");
    let last = app
        .get("/v1/uploads?anonymous=false&page=1&per_page=2")
        .await;
    assert!(last.headers().get("link").is_none());
    let last: Vec<Value> = last.json().await.expect("JSON");
    assert_eq!((first.len(), last.len()), (2, 1));
    let none: Vec<Value> = app
        .get("/v1/uploads?anonymous=true")
        .await
        .json()
        .await
        .expect("JSON");
    assert!(none.is_empty());
    let bad = app.get("/v1/uploads?anonymous=maybe").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_failed_ledger_write_still_answers_the_upload_and_is_written_once_it_can_be() {
    let app = spawn_app().await;
    uploaded(&app, "warm up").await;
    // Another process holds the database's write lock.
    let blocker = rusqlite::Connection::open(&app.db).expect("opens");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("locked");

    let response = upload(&app, "while locked").await;

    assert_eq!(
        response.status(),
        201,
        "Imgur accepted it: the upload succeeds"
    );
    assert_eq!(response.headers()["x-pixgate-ledger"], "unrecorded");
    let image: Value = response.json().await.expect("JSON");
    let id = image["id"].as_str().expect("id").to_owned();
    assert!(app.fake.image(&id).is_some());
    blocker.execute_batch("COMMIT").expect("unlocked");
    drop(blocker);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rows(&app).iter().any(|row| row.1 == id) {
        assert!(
            Instant::now() < deadline,
            "the queued record was never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_with_db(contents: &[u8]) -> (String, Vec<u8>) {
    let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let db = dir.path().join("pixgate.db");
    std::fs::write(&db, contents).expect("written");
    let mut config = config(&fake, &Options::default(), &token_file, None);
    config.db = db.clone();
    let error = Application::build(config)
        .await
        .err()
        .expect("the start is refused");
    (error.to_string(), std::fs::read(&db).expect("still there"))
}

#[tokio::test]
async fn a_damaged_ledger_stops_the_start_naming_the_file_and_is_left_as_it_was() {
    let garbage =
        b"this is not an SQLite database, it only looks like one to a careless program".repeat(100);

    let (message, after) = start_with_db(&garbage).await;

    assert!(message.contains("pixgate.db"), "{message}");
    assert!(message.contains("damaged"), "{message}");
    assert_eq!(after, garbage, "never reset");
}

#[tokio::test]
async fn a_ledger_with_a_newer_schema_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("newer.db");
    let newer = rusqlite::Connection::open(&path).expect("opens");
    newer
        .execute_batch("PRAGMA application_id = 1886938996; PRAGMA user_version = 99; CREATE TABLE items (id TEXT);")
        .expect("written");
    drop(newer);
    let bytes = std::fs::read(&path).expect("read");

    let (message, after) = start_with_db(&bytes).await;

    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains("pixgate.db"), "{message}");
    assert_eq!(after, bytes);
}

#[tokio::test]
async fn the_binary_refuses_a_damaged_ledger_with_a_message_and_no_panic() {
    let fake = FakeImgur::start(FakeConfig::default()).await.expect("fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("broken.db");
    std::fs::write(&db, b"\0garbage".repeat(512)).expect("written");

    let output = run_pixgate(
        &fake,
        &dir.path().join("tokens.json"),
        &["--listen", "127.0.0.1:0"],
        "",
        &[("PIXGATE_DB", db.to_str().expect("utf-8"))],
    );

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(db.to_str().expect("utf-8")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn pixgate_uploads_prints_the_ledger() {
    let app = spawn_app().await;
    let image = uploaded(&app, "listed").await;
    let db = app.db.to_str().expect("utf-8").to_owned();

    let json = run_pixgate(
        &app.fake,
        &app.token_file,
        &["uploads", "--json"],
        "",
        &[("PIXGATE_DB", &db)],
    );
    let table = run_pixgate(
        &app.fake,
        &app.token_file,
        &["uploads"],
        "",
        &[("PIXGATE_DB", &db)],
    );

    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let entries: Vec<Value> = serde_json::from_slice(&json.stdout).expect("a JSON array");
    assert_eq!(entries[0]["id"], image["id"]);
    assert_eq!(entries[0]["deletehash"], image["deletehash"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(image["deletehash"].as_str().expect("deletehash")),
        "{table}"
    );
}
