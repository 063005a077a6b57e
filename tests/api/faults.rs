//! Faults the gateway survives: a misbehaving upstream, hostile or broken
//! clients, disk trouble, a second process on the same token file, SIGTERM.

use crate::helpers::{assert_problem, png, run_pixgate, spawn_app_with, GatewayProcess, Options};
use futures_util::future::join_all;
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind};
use std::io::{Read, Write};
use std::time::Duration;

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn a_misbehaving_upstream_gives_502_or_504_never_a_hang() {
    let app = spawn_app_with(Options {
        upstream_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let image = app.fake.favorite_ids()[0].clone();
    let path = format!("/v1/images/{image}");
    assert_eq!(app.get(&path).await.status(), 200);
    let cases = [
        (
            "a 50 MiB body",
            FaultKind::HugeBody(50 * 1024 * 1024),
            502,
            "upstream-error",
        ),
        (
            "a connection cut mid-body",
            FaultKind::TruncatedBody,
            502,
            "upstream-error",
        ),
        (
            "a body that never comes",
            FaultKind::StallBody,
            504,
            "upstream-timeout",
        ),
        (
            "invalid JSON",
            FaultKind::InvalidJson,
            502,
            "upstream-error",
        ),
    ];
    for (case, kind, status, slug) in cases {
        app.fake.inject(Fault {
            endpoint: Some(Endpoint::GetImage),
            kind,
            times: 1,
        });

        let problem = assert_problem(app.get(&path).await, status, slug).await;

        assert!(problem["detail"].is_string(), "{case}");
        assert_eq!(
            app.get(&path).await.status(),
            200,
            "{case}: the next call works"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_sharing_a_token_file_refresh_once_per_expiry_and_keep_working() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    // Widens the window in which both processes want to refresh.
    fake.set_token_delay(Duration::from_millis(150));
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let seed = fake.current_refresh_token();
    let env = [("IMGUR_REFRESH_TOKEN", seed.as_str())];
    let first = GatewayProcess::start(&fake, dir.path(), &token_file, &env);
    let second = GatewayProcess::start(&fake, dir.path(), &token_file, &env);
    let image = fake.favorite_ids()[0].clone();
    let http = reqwest::Client::new();
    let get =
        |gateway: &GatewayProcess| http.get(gateway.url(&format!("/v1/images/{image}"))).send();
    assert_eq!(get(&first).await.expect("sent").status(), 200);
    assert_eq!(
        get(&second).await.expect("sent").status(),
        200,
        "uses the first one's token"
    );
    assert_eq!(fake.calls(Endpoint::Token), 1);

    for round in 1..=5 {
        fake.expire_access_tokens();
        let answers = join_all([get(&first), get(&second), get(&first), get(&second)]).await;
        for answer in answers {
            assert_eq!(answer.expect("sent").status(), 200, "round {round}");
        }
        assert_eq!(
            fake.calls(Endpoint::Token),
            1 + round,
            "one refresh per expiry, round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_token_file_stops_startup_and_is_left_untouched() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let garbage = b"{\"refresh_token\": \"half-written";
    std::fs::write(&token_file, garbage).expect("written");

    let output = run_pixgate(
        &fake,
        &token_file,
        &[],
        "",
        &[("PIXGATE_LISTEN", "127.0.0.1:0")],
    );

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&token_file.display().to_string()) && stderr.contains("corrupted"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("half-written"),
        "the message does not quote the file"
    );
    assert!(!stderr.contains("panicked"));
    assert_eq!(std::fs::read(&token_file).expect("still there"), garbage);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_token_directory_stops_startup_with_the_path_and_the_fix() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the directory should be: no user can create the token file there.
    let blocker = dir.path().join("state");
    std::fs::write(&blocker, b"").expect("written");
    let token_file = blocker.join("tokens.json");

    let refresh_token = fake.current_refresh_token();
    let output = run_pixgate(
        &fake,
        &token_file,
        &[],
        "",
        &[
            ("IMGUR_REFRESH_TOKEN", &refresh_token),
            ("PIXGATE_LISTEN", "127.0.0.1:0"),
        ],
    );

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&token_file.display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains("PIXGATE_TOKEN_FILE"),
        "says how to fix it: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_and_exits_cleanly() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let spools = tempfile::tempdir().expect("spool dir");
    let refresh_token = fake.current_refresh_token();
    let mut gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[
            ("IMGUR_REFRESH_TOKEN", refresh_token.as_str()),
            ("TMPDIR", spools.path().to_str().expect("utf-8")),
            ("PIXGATE_SHUTDOWN_GRACE", "10"),
        ],
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(gateway.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::Delay(Duration::from_millis(1500)),
        times: 1,
    });
    // An upload large enough to be spooled to disk, in flight during SIGTERM.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(png(3 * 1024 * 1024)).file_name("big.png"),
    );
    let upload = tokio::spawn(http.post(gateway.url("/v1/images")).multipart(form).send());
    while fake.calls(Endpoint::Upload) == 0 {
        tokio::task::yield_now().await;
    }

    gateway.terminate();
    let refused_at = std::time::Instant::now();
    // New connections are refused while the upload finishes.
    let mut refused = false;
    while refused_at.elapsed() < Duration::from_secs(1) {
        if std::net::TcpStream::connect(("127.0.0.1", gateway.port)).is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    let finished = upload.await.expect("joined").expect("answered");
    let status = tokio::task::spawn_blocking(move || gateway.child.wait())
        .await
        .expect("joined")
        .expect("exited");

    assert!(refused, "the listener closed at once");
    assert_eq!(finished.status(), 201, "the in-flight upload finished");
    assert!(status.success(), "exit code 0, got {status}");
    assert_eq!(count_files(spools.path()), 0, "no temp file left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_mid_upload_leaves_no_spool_and_forwards_nothing() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let spools = tempfile::tempdir().expect("spool dir");
    let refresh_token = fake.current_refresh_token();
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[
            ("IMGUR_REFRESH_TOKEN", refresh_token.as_str()),
            ("TMPDIR", spools.path().to_str().expect("utf-8")),
        ],
    );
    let port = gateway.port;

    tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connected");
        let head = "POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 9000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n";
        socket.write_all(head.as_bytes()).expect("head sent");
        // 3 MiB: past the in-memory spool, so a temp file exists.
        socket.write_all(&vec![7u8; 3 * 1024 * 1024]).expect("part sent");
        socket.flush().expect("flushed");
        // The client goes away.
    })
    .await
    .expect("joined");
    // Wait (bounded) for the gateway to notice and drop the spool.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count_files(spools.path()) > 0 && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }

    assert_eq!(count_files(spools.path()), 0, "the spool file was removed");
    assert_eq!(fake.calls(Endpoint::Upload), 0, "nothing was forwarded");
    let next = reqwest::get(gateway.url("/healthz")).await.expect("sent");
    assert_eq!(next.status(), 200);
}

#[tokio::test]
async fn hostile_requests_are_refused_without_reaching_imgur() {
    let app = spawn_app_with(Options::default()).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // 10,000 multipart fields: refused after the first few.
    let body: String = (0..10_000)
        .map(|i| format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n"))
        .chain(["--b--\r\n".to_owned()])
        .collect();
    let many_fields = app
        .http
        .post(app.url("/v1/images"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_problem(many_fields, 400, "invalid-input").await;

    // A 100 MiB JSON body: refused from its Content-Length, before it is read.
    let answer = tokio::task::spawn_blocking({
        let address = address.clone();
        move || {
            let mut socket = std::net::TcpStream::connect(address).expect("connected");
            socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout set");
            let head = "POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{\"base64\":\"";
            socket.write_all(head.as_bytes()).expect("sent");
            let mut answer = [0u8; 512];
            let n = socket.read(&mut answer).unwrap_or(0);
            String::from_utf8_lossy(&answer[..n]).into_owned()
        }
    })
    .await
    .expect("joined");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // 1 MiB of headers (past actix's bound on a request head): refused,
    // and the server keeps serving.
    let huge = app
        .http
        .get(app.url("/v1/favorites"))
        .header("x-padding", "a".repeat(1024 * 1024))
        .send()
        .await;
    if let Ok(response) = huge {
        assert!(response.status().is_client_error(), "{}", response.status());
    }

    assert_eq!(app.api_calls(), 0);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Makes a directory immutable (even for root) until dropped.
struct Frozen(std::path::PathBuf);

impl Frozen {
    fn new(dir: &std::path::Path) -> Option<Self> {
        let frozen = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status();
        frozen.ok()?.success().then(|| Self(dir.to_owned()))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_failed_token_write_keeps_the_new_token_in_memory_and_is_retried() {
    let app = spawn_app_with(Options::default()).await;
    let image = app.fake.favorite_ids()[0].clone();
    assert_eq!(app.get("/readyz").await.status(), 200);
    let before = std::fs::read(&app.token_file).expect("token file");
    let Some(frozen) = Frozen::new(app.token_file.parent().expect("a directory")) else {
        eprintln!("skipped: chattr +i is not available on this filesystem");
        return;
    };

    // The next call refreshes; Imgur rotates the refresh token; the write fails.
    app.fake.expire_access_tokens();
    let during = app.get(&format!("/v1/images/{image}")).await;

    assert_eq!(during.status(), 200, "the new token is used from memory");
    assert_eq!(
        std::fs::read(&app.token_file).expect("token file"),
        before,
        "the old file is intact"
    );
    drop(frozen);
    // The retry stores the rotated token once the directory is writable again.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let current = app.fake.current_refresh_token();
    while app.token_file_json()["refresh_token"] != current.as_str() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated token was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // polling for the retry's effect
    }
    assert_eq!(app.get(&format!("/v1/images/{image}")).await.status(), 200);
}
