//! No secret in any log line or response, across a full run of the real
//! binary at `RUST_LOG=trace`: refreshes (proactive and reactive), uploads,
//! upstream errors, bad input, a wrong API key.

use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const API_KEY: &str = "api-key-that-must-never-be-logged";

struct Gateway {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

/// Starts the binary and waits for its "listening" log line.
fn start_gateway(fake: &FakeImgur, state: &std::path::Path) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixgate"))
        .current_dir(state)
        .env_clear()
        .env("RUST_LOG", "trace")
        .env("IMGUR_CLIENT_ID", &fake.config().client_id)
        .env("IMGUR_CLIENT_SECRET", &fake.config().client_secret)
        .env("IMGUR_REFRESH_TOKEN", fake.current_refresh_token())
        .env("IMGUR_API_URL", fake.base_url())
        .env("PIXGATE_API_KEY", API_KEY)
        .env("PIXGATE_LISTEN", "127.0.0.1:0")
        .env("PIXGATE_TOKEN_FILE", state.join("tokens.json"))
        .env("PIXGATE_WORKERS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (sender, lines) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let port = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no 'listening' line; output so far:\n{}", seen.join("\n")));
        if line.contains("pixgate is listening") {
            let port = line
                .split("port=")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse().ok())
                .expect("a port in the listening line");
            seen.push(line);
            break port;
        }
        seen.push(line);
    };
    for line in seen {
        let _ = sender.send(line);
    }
    Gateway { child, port, lines }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_logs_or_responses_of_a_full_run() {
    let fake = FakeImgur::start(FakeConfig::default())
        .await
        .expect("fake starts");
    let state = tempfile::tempdir().expect("temp dir");
    let seed_refresh_token = fake.current_refresh_token();
    let mut gateway = start_gateway(&fake, state.path());
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authed = |request: reqwest::RequestBuilder| request.bearer_auth(API_KEY);
    let mut responses = Vec::new();
    let record = |response: reqwest::Response| async move {
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap_or_default();
        format!("{headers}\n{body}")
    };

    let favorite = fake.favorite_ids()[0].clone();
    let image_path = format!("{base}/v1/images/{favorite}");
    let scenario = [
        authed(http.get(format!("{base}/readyz"))),
        authed(http.get(format!("{base}/v1/favorites"))),
        authed(http.get(&image_path)),
        authed(
            http.post(format!("{base}/v1/images"))
                .json(&serde_json::json!({"url": "https://example.com/x.png"})),
        ),
        authed(http.get(format!("{base}/v1/images/bad.id"))),
        http.get(format!("{base}/v1/account"))
            .bearer_auth("wrong-key"),
        authed(http.get(format!("{base}/v1/images/nosuchimage"))),
        // Browser navigation carries the key in the query: it must not be logged.
        http.get(format!(
            "{base}/auth/login?response_type=code&key={API_KEY}"
        )),
        authed(http.get(format!("{base}/auth/status"))),
        authed(
            http.post(format!("{base}/auth/pin"))
                .json(&serde_json::json!({"pin": "wrong-pin"})),
        ),
    ];
    for request in scenario {
        responses.push(record(request.send().await.expect("sent")).await);
    }
    // Reactive refresh: Imgur rejects the token, the gateway refreshes and replays.
    fake.expire_access_tokens();
    responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    for kind in [
        FaultKind::ServerError(500),
        FaultKind::RateLimited {
            retry_after: None,
            user_reset_secs: 60,
        },
        FaultKind::Html(500),
    ] {
        fake.inject(Fault {
            endpoint: Some(Endpoint::GetImage),
            kind,
            times: 1,
        });
        responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    }
    // A rejected refresh token.
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    responses.push(record(authed(http.get(&image_path)).send().await.expect("sent")).await);
    assert!(
        fake.calls(Endpoint::Token) >= 3,
        "the run refreshed several times"
    );

    gateway.child.kill().expect("stopped");
    gateway.child.wait().expect("reaped");
    let logs: Vec<String> = gateway.lines.try_iter().collect();
    assert!(logs.len() > 20, "trace logging produced output");

    let mut secrets = vec![
        fake.config().client_secret.clone(),
        API_KEY.to_owned(),
        seed_refresh_token,
    ];
    secrets.extend(fake.valid_refresh_tokens());
    secrets.extend(fake.issued_access_tokens());
    let stored = std::fs::read_to_string(state.path().join("tokens.json")).expect("token file");
    for secret in &secrets {
        for (i, line) in logs.iter().enumerate() {
            assert!(
                !line.contains(secret.as_str()),
                "log line {i} leaks a secret: {line}"
            );
        }
        for (i, response) in responses.iter().enumerate() {
            assert!(
                !response.contains(secret.as_str()),
                "response {i} leaks a secret"
            );
        }
    }
    assert!(
        stored.contains("refresh_token"),
        "the token file is the one place tokens live"
    );
}
