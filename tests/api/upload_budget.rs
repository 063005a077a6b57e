//! What uploads in progress may hold: the upload budget (memory and spool
//! files together), the spool directory, the one decoded copy of a base64
//! upload, and images that never start upstream before they are whole.

use crate::helpers::{
    assert_problem, config, peak_rss_kib, png, spawn_app_with, GatewayProcess, Options, TestApp,
};
use base64::Engine;
use bytes::Bytes;
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use pixgate::startup::{Application, StartupError};
use reqwest::multipart::{Form, Part};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// A chunked file part fed by the test, one chunk at a time.
fn streamed_part(file_name: &str) -> (tokio::sync::mpsc::Sender<Bytes>, Part) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), receiver))
    });
    let part = Part::stream(reqwest::Body::wrap_stream(stream)).file_name(file_name.to_owned());
    (sender, part)
}

/// Sends `bytes` in chunks, until the request stops reading them.
async fn send_chunks(sender: &tokio::sync::mpsc::Sender<Bytes>, bytes: usize) {
    for _ in 0..bytes / (256 * 1024) {
        if sender
            .send(Bytes::from(vec![7u8; 256 * 1024]))
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn with_budget(bytes: u64) -> TestApp {
    spawn_app_with(Options {
        upload_budget_bytes: bytes,
        ..Options::default()
    })
    .await
}

fn image_of(len: usize) -> Form {
    Form::new().part("image", Part::bytes(png(len)).file_name("a.png"))
}

async fn post(app: &TestApp, form: Form) -> reqwest::Response {
    app.http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn an_upload_whose_length_passes_the_budget_is_busy_before_anything_is_read() {
    // Arrange
    let app = with_budget(2 * MIB as u64).await;

    // Act
    let response = post(&app, image_of(3 * MIB)).await;

    // Assert
    assert!(
        response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    let problem = assert_problem(response, 503, "busy").await;
    assert!(problem["detail"]
        .as_str()
        .unwrap_or("")
        .contains("PIXGATE_UPLOAD_BUDGET_BYTES"));
    assert_eq!(app.upstream_requests_begun(), 0, "nothing was forwarded");
    assert_eq!(
        post(&app, image_of(MIB)).await.status(),
        201,
        "the budget was given back"
    );
}

#[tokio::test]
async fn a_streamed_video_that_passes_the_budget_is_busy_and_never_completes_at_imgur() {
    // Arrange: no Content-Length, so the budget is taken as the file arrives;
    // past 2 MiB the video already goes to Imgur.
    let app = with_budget(3 * MIB as u64).await;
    let (sender, part) = streamed_part("clip.mp4");
    let upload = tokio::spawn(
        app.http
            .post(app.url("/v1/images"))
            .multipart(Form::new().part("video", part))
            .send(),
    );
    send_chunks(&sender, 5 * MIB / 2).await;
    app.fake.wait_for_begun(Endpoint::Upload, 1).await;

    // Act: the next megabyte passes the budget.
    send_chunks(&sender, MIB).await;
    drop(sender);
    let response = upload.await.expect("joined");

    // Assert
    let response = response.expect("answered");
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "busy").await;
    assert_eq!(
        app.fake.begun(Endpoint::Upload),
        1,
        "the live upload had started"
    );
    assert_eq!(
        app.fake.calls(Endpoint::Upload),
        0,
        "and was aborted: Imgur got no complete body"
    );
    assert_eq!(
        post(&app, image_of(MIB)).await.status(),
        201,
        "the budget was given back"
    );
}

#[tokio::test]
async fn bytes_held_by_an_upload_in_progress_count_against_the_next_one() {
    // Arrange: a video upload holding more than 2 MiB, still arriving.
    let app = with_budget(4 * MIB as u64).await;
    let (sender, part) = streamed_part("clip.mp4");
    let first = tokio::spawn({
        let request = app
            .http
            .post(app.url("/v1/images"))
            .multipart(Form::new().part("video", part));
        async move { request.send().await.expect("answered").status() }
    });
    send_chunks(&sender, 3 * MIB).await;
    app.fake.wait_for_begun(Endpoint::Upload, 1).await;

    // Act: 2.5 MiB more would pass 4 MiB while the first holds over 2 MiB.
    let second = post(&app, image_of(5 * MIB / 2)).await;
    send_chunks(&sender, MIB / 2).await;
    drop(sender);
    let first = first.await.expect("joined");
    let again = post(&app, image_of(5 * MIB / 2)).await;

    // Assert
    assert_problem(second, 503, "busy").await;
    assert_eq!(first, 201);
    assert_eq!(again.status(), 201, "after the first upload ended");
    assert_eq!(
        app.fake.calls(Endpoint::Upload),
        2,
        "the video and the second try"
    );
}

#[tokio::test]
async fn an_image_is_spooled_whole_and_an_oversized_one_never_begins_upstream() {
    let app = spawn_app_with(Options::default()).await;

    let large = post(&app, image_of(5 * MIB)).await;
    let oversized = post(&app, image_of(10 * MIB + 1)).await;

    assert_eq!(large.status(), 201);
    let uploads = app.uploads_received();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0].content_length.map(|n| n > 5 * MIB as u64),
        Some(true),
        "sent whole, with its length, after it arrived"
    );
    assert_problem(oversized, 413, "payload-too-large").await;
    assert_eq!(
        app.fake.begun(Endpoint::Upload),
        1,
        "no request began for the oversized one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spool_files_go_to_the_spool_dir_and_are_removed() {
    // Arrange
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let (spool, tmp) = (dir.path().join("spool"), dir.path().join("tmp"));
    std::fs::create_dir(&spool).expect("spool dir");
    std::fs::create_dir(&tmp).expect("tmp dir");
    let refresh_token = fake.current_refresh_token();
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[
            ("IMGUR_REFRESH_TOKEN", &refresh_token),
            ("PIXGATE_SPOOL_DIR", spool.to_str().expect("UTF-8")),
            ("TMPDIR", tmp.to_str().expect("UTF-8")),
        ],
    );
    let count = |dir: &std::path::Path| std::fs::read_dir(dir).expect("readable").count();
    let (sender, part) = streamed_part("clip.mp4");
    let upload = tokio::spawn({
        let request = reqwest::Client::new()
            .post(gateway.url("/v1/images"))
            .multipart(Form::new().part("video", part));
        async move { request.send().await.expect("answered").status() }
    });

    // Act: past the in-memory spool, the video goes to disk (and to Imgur).
    send_chunks(&sender, 3 * MIB).await;
    fake.wait_for_begun(Endpoint::Upload, 1).await;
    let while_uploading = (count(&spool), count(&tmp));
    drop(sender);
    let status = upload.await.expect("joined");

    // Assert
    assert_eq!(status, 201);
    assert_eq!(
        while_uploading,
        (1, 0),
        "the spool file is in PIXGATE_SPOOL_DIR only"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&spool) > 0 && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(count(&spool), 0, "removed after the answer");
}

#[tokio::test]
async fn a_spool_dir_that_cannot_take_a_file_stops_startup_with_its_path() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(
        &fake,
        &Options::default(),
        &dir.path().join("tokens.json"),
        None,
    );
    config.spool_dir = dir.path().join("missing");

    let error = Application::build(config).await.err().expect("refused");

    assert!(matches!(error, StartupError::SpoolDir { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("PIXGATE_SPOOL_DIR") && message.contains("missing"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base64_upload_holds_the_raw_body_and_one_decoded_copy() {
    // Arrange: the real binary (its own process, so its RSS is its own),
    // warmed up by a small base64 upload.
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = GatewayProcess::start(&fake, dir.path(), &dir.path().join("tokens.json"), &[]);
    let http = reqwest::Client::new();
    let upload = |image: &[u8]| {
        let data = base64::engine::general_purpose::STANDARD.encode(image);
        let body = format!("{{\"base64\":\"{data}\",\"title\":\"big\"}}");
        http.post(gateway.url("/v1/images"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(upload(&png(1000)).await.expect("sent").status(), 201);
    let image = png(10 * MIB);
    let raw_len = (image.len().div_ceil(3) * 4) as u64;
    let before_kib = peak_rss_kib(gateway.child.id());

    // Act
    let response = upload(&image).await.expect("sent");

    // Assert
    assert_eq!(response.status(), 201);
    let growth_kib = peak_rss_kib(gateway.child.id()).saturating_sub(before_kib);
    let bound_kib = (raw_len + image.len() as u64) / 1024 + 4 * 1024;
    assert!(
        growth_kib <= bound_kib,
        "the peak grew by {:.1} MiB for a {:.1} MiB body of a {:.1} MiB image (bound {:.1} MiB)",
        growth_kib as f64 / 1024.0,
        raw_len as f64 / MIB as f64,
        image.len() as f64 / MIB as f64,
        bound_kib as f64 / 1024.0
    );
    let body: serde_json::Value = response.json().await.expect("JSON");
    let stored = fake
        .image(body["id"].as_str().expect("an id"))
        .expect("stored");
    assert_eq!(
        stored.size,
        image.len() as u64,
        "the decoded image reached Imgur"
    );
}
