//! The benchmark's properties that are not timings, checked on every
//! `cargo test` (bench/run.sh measures the timings): a refresh storm makes
//! exactly one token request and answers every request, and a 200 MiB
//! video upload keeps the gateway's peak RSS under 64 MiB.

use crate::helpers::{peak_rss_kib, spawn_app_with, GatewayProcess, Options};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The storm of the benchmark: this many requests at once.
const STORM_REQUESTS: usize = 1000;
/// Open files the storm needs in this process: the client's, the
/// gateway's, its upstream connections and the fake's, per request.
const FILES_PER_STORM_REQUEST: u64 = 4;

/// The soft limit on open files (`ulimit -n`).
fn open_files_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|line| line.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_storm_makes_one_token_request_and_answers_every_request() {
    // Arrange: a gateway with a valid access token, connections warm, and a
    // slow token endpoint so that the whole storm piles up behind one refresh.
    let limit = open_files_limit().unwrap_or(1024);
    assert!(
        limit >= STORM_REQUESTS as u64 * FILES_PER_STORM_REQUEST + 256,
        "the storm needs `ulimit -n` of at least {} (it is {limit})",
        STORM_REQUESTS as u64 * FILES_PER_STORM_REQUEST + 256
    );
    // Two storms and their replays spend more than the fake's 2,000 credits
    // an hour, so the credit guard is off.
    let app = spawn_app_with(Options {
        credit_reserve: "0".parse().expect("valid"),
        ..Options::default()
    })
    .await;
    let id = app.fake.favorite_ids()[0].clone();
    let url = app.url(&format!("/v1/images/{id}"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let storm = || {
        futures_util::future::join_all((0..STORM_REQUESTS).map(|_| {
            let request = client.get(&url).send();
            async move {
                match request.await {
                    Ok(response) => response.status().as_u16(),
                    Err(e) => panic!("a storm request failed: {e}"),
                }
            }
        }))
    };
    let warm_up = storm().await;
    assert!(warm_up.iter().all(|status| *status == 200), "warm-up");
    app.fake.set_token_delay(Duration::from_millis(50));
    let token_requests_before = app.fake.calls(Endpoint::Token);
    let requests_before = app.fake.requests().len();

    // Act: every access token becomes invalid, then the storm.
    app.fake.expire_access_tokens();
    let statuses = storm().await;

    // Assert: one refresh, every request answered, every replay with the new token.
    assert_eq!(
        app.fake.calls(Endpoint::Token) - token_requests_before,
        1,
        "exactly one token request for the whole storm"
    );
    let not_ok: Vec<u16> = statuses.iter().copied().filter(|s| *s != 200).collect();
    assert!(
        not_ok.is_empty(),
        "{} of {STORM_REQUESTS} answers were not 200: {not_ok:?}",
        not_ok.len()
    );
    let new_token = app
        .fake
        .issued_access_tokens()
        .last()
        .cloned()
        .expect("a token was issued");
    let replays_with_new_token = app.fake.requests()[requests_before..]
        .iter()
        .filter(|r| r.endpoint == Endpoint::GetImage)
        .filter(|r| r.authorization.as_deref() == Some(&format!("Bearer {new_token}")))
        .count();
    assert_eq!(
        replays_with_new_token, STORM_REQUESTS,
        "every request reached the fake once with the refreshed token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_video_upload_keeps_the_gateway_under_64_mib_of_rss() {
    // Arrange: the real binary (its own process, so its RSS is its own),
    // and a 200 MiB video in this process.
    const VIDEO_BYTES: usize = 200 * 1024 * 1024;
    const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let spool_dir = dir.path().join("tmp");
    std::fs::create_dir(&spool_dir).expect("a spool dir");
    let refresh_token = fake.current_refresh_token();
    let spool = spool_dir.to_str().expect("a UTF-8 path");
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[("IMGUR_REFRESH_TOKEN", &refresh_token), ("TMPDIR", spool)],
    );
    let video: bytes::Bytes = (0..VIDEO_BYTES)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into();
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::from(video.clone()),
        VIDEO_BYTES as u64,
    )
    .file_name("clip.mp4")
    .mime_str("video/mp4")
    .expect("a mime type");

    // Act
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("a client")
        .post(gateway.url("/v1/images"))
        .multipart(reqwest::multipart::Form::new().part("video", part))
        .send()
        .await
        .expect("the upload is sent");

    // Assert: stored whole upstream, spool removed, peak RSS under the bound.
    assert_eq!(response.status().as_u16(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    let stored = fake
        .image(body["id"].as_str().expect("an id"))
        .expect("the fake has the video");
    assert_eq!(stored.size, VIDEO_BYTES as u64);
    assert_eq!(stored.sha256, format!("{:x}", Sha256::digest(&video)));
    assert_eq!(
        std::fs::read_dir(&spool_dir).expect("spool dir").count(),
        0,
        "the spool file is removed"
    );
    let peak_kib = peak_rss_kib(gateway.child.id());
    assert!(
        peak_kib <= PEAK_RSS_LIMIT_KIB,
        "the gateway's peak RSS was {:.1} MiB (limit 64 MiB)",
        peak_kib as f64 / 1024.0
    );
}
