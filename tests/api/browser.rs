//! The browser logins, Swagger UI, and attacks from other origins in a real
//! headless Chromium (Debian's `chromium` and `chromium-driver`, installed
//! by `.ci/run`): the token flow's fragment is only readable by a real
//! browser, and only a real browser sends what a web page can make it
//! send. Without chromedriver the tests are skipped locally and fail in CI
//! (`CI` set).

use crate::helpers::{anonymous_app, spawn_app_with, Options, TestApp};
use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pixgate::fake_imgur::Endpoint;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Flags for a closed network: no background fetches, no first-run UI.
/// `rebind.test` is a name that resolves to 127.0.0.1: the last step of a
/// DNS rebinding attack.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1100,900",
    "--host-resolver-rules=MAP rebind.test 127.0.0.1",
];

/// A chromedriver process and a browser session on it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends chromedriver and the Chromium it started (its own process
    /// group), also when a test failed before closing the session.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Starts chromedriver and a headless Chromium, or `None` (skip) when they
/// are not installed outside CI.
async fn browser() -> Option<Browser> {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver"
        );
        eprintln!(
            "skipped: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let mut driver = Command::new(driver_path)
        .arg("--port=0")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // chromedriver says which port it took once it is ready.
    let stdout = driver.stdout.take().expect("stdout");
    let port = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let (_, rest) = line.split_once("started successfully on port ")?;
                rest.trim_end_matches('.').parse::<u16>().ok()
            })
    })
    .await
    .expect("joined")
    .expect("chromedriver reported its port");
    let profile = tempfile::tempdir().expect("profile dir");
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

/// Waits (by WebDriver polling, bounded) until `#status` reads `expected`.
async fn wait_for_status(browser: &Client, expected: &str) -> String {
    let status = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!(
            "//h1[@id='status'][starts-with(normalize-space(.), '{expected}')]"
        )))
        .await
        .unwrap_or_else(|_| panic!("the page never said {expected:?}"));
    status.text().await.expect("text")
}

/// Waits (by WebDriver polling, bounded) for an element matching `css`.
async fn find(page: &Client, css: &str) -> fantoccini::elements::Element {
    page.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css} on the page"))
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    std::fs::write(&path, png).expect("saved");
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_authorizes_with_the_code_flow() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = anonymous_app().await;
    let page = &browser.client;

    page.goto(&app.url("/auth/login?response_type=code"))
        .await
        .expect("opened");
    page.find(Locator::Id("allow"))
        .await
        .expect("the consent page")
        .click()
        .await
        .expect("clicked");
    let status = wait_for_status(page, "Authorized as").await;

    assert_eq!(status, "Authorized as demo");
    screenshot(page, "authorized-code-flow").await;
    assert_eq!(app.get("/v1/account").await.status(), 200);
    assert!(app.token_file.exists());
    browser.client.clone().close().await.expect("closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_authorizes_with_the_token_flow() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = anonymous_app().await;
    let page = &browser.client;

    page.goto(&app.url("/auth/login")).await.expect("opened");
    page.find(Locator::Id("allow"))
        .await
        .expect("the consent page")
        .click()
        .await
        .expect("clicked");
    let status = wait_for_status(page, "Authorized as").await;

    assert_eq!(status, "Authorized as demo");
    screenshot(page, "authorized-token-flow").await;
    let address = page.current_url().await.expect("url");
    assert_eq!(
        address.fragment(),
        None,
        "the tokens were removed from the address bar"
    );
    assert_eq!(app.get("/v1/account").await.status(), 200);
    let finished = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .count();
    assert_eq!(finished, 1, "the fragment's refresh token was checked once");
    browser.client.clone().close().await.expect("closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_denial_in_the_token_flow_is_reported() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = anonymous_app().await;
    let page = &browser.client;

    page.goto(&app.url("/auth/login")).await.expect("opened");
    page.find(Locator::Id("deny"))
        .await
        .expect("the consent page")
        .click()
        .await
        .expect("clicked");
    let status = wait_for_status(page, "Access denied").await;

    assert_eq!(status, "Access denied");
    assert!(!app.token_file.exists());
    assert_eq!(app.get("/v1/account").await.status(), 403);
    browser.client.clone().close().await.expect("closed");
}

/// Opens Swagger UI and authorizes with `key`.
async fn swagger_authorize(page: &Client, app: &TestApp, key: &str) {
    page.goto(&app.url("/docs/")).await.expect("opened");
    find(page, "button.authorize")
        .await
        .click()
        .await
        .expect("clicked");
    find(page, ".modal-ux input")
        .await
        .send_keys(key)
        .await
        .expect("typed");
    find(page, ".modal-ux button.authorize")
        .await
        .click()
        .await
        .expect("authorized");
    find(page, ".modal-ux button.btn-done")
        .await
        .click()
        .await
        .expect("closed");
}

/// "Try it out" on `operation`, filled by `fill`, executed: the status and
/// the body Swagger UI shows.
async fn swagger_try_out<F, Fut>(page: &Client, operation: &str, fill: F) -> (String, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let block = format!("#operations-{operation}");
    find(page, &format!("{block} .opblock-summary"))
        .await
        .click()
        .await
        .expect("expanded");
    find(page, &format!("{block} button.try-out__btn"))
        .await
        .click()
        .await
        .expect("try it out");
    fill().await;
    find(page, &format!("{block} button.execute"))
        .await
        .click()
        .await
        .expect("executed");
    let response = format!("{block} .live-responses-table tr.response");
    let status = find(page, &format!("{response} .response-col_status")).await;
    let body = find(
        page,
        &format!("{response} .response-col_description .highlight-code pre"),
    )
    .await;
    let element = serde_json::to_value(&status).expect("element reference");
    page.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![element],
    )
    .await
    .expect("scrolled");
    (
        status.text().await.expect("text").trim().to_owned(),
        body.text().await.expect("text"),
    )
}

/// Swagger UI on the gateway's own origin: authorizes with the API key,
/// lists favorites, and uploads a file through "Try it out" with every
/// other field left as the page fills it.
async fn swagger_ui_works(page: &Client) {
    let app = spawn_app_with(Options {
        api_key: Some("swagger-k3y".into()),
        ..Options::default()
    })
    .await;
    swagger_authorize(page, &app, "swagger-k3y").await;

    let (status, body) = swagger_try_out(page, "favorites-listFavorites", || async {}).await;
    assert_eq!(status, "200", "{body}");
    let items: Value = serde_json::from_str(&body).expect("the response body is JSON");
    assert_eq!(
        items.as_array().map(Vec::len),
        Some(10),
        "a page of favorites"
    );
    screenshot(page, "swagger-try-it-out").await;
    assert_eq!(
        app.fake.calls(Endpoint::Favorites),
        1,
        "through the gateway"
    );

    let picture = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("temp file");
    std::fs::write(picture.path(), crate::helpers::png(2048)).expect("written");
    let block = "#operations-images-uploadImage";
    let (status, body) = swagger_try_out(page, "images-uploadImage", || async {
        find(page, &format!("{block} .body-param-content-type select"))
            .await
            .select_by_value("multipart/form-data")
            .await
            .expect("multipart chosen");
        find(page, &format!("{block} input[type=file]"))
            .await
            .send_keys(&picture.path().display().to_string())
            .await
            .expect("file chosen");
        // Every field of the form as the page filled it: [name, value].
        let form = page
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0] + ' .opblock-body tr[data-property-name]')).map(row => { const input = row.querySelector('input:not([type=checkbox]), select, textarea'); return [row.dataset.propertyName, input ? (input.type === 'file' ? (input.files.length ? 'a file' : '') : input.value) : null]; });",
                vec![Value::from(block)],
            )
            .await
            .expect("read the form");

        let filled: Vec<_> = form
            .as_array()
            .expect("rows")
            .iter()
            .filter(|row| !matches!(row[1].as_str(), Some("" | "false") | None))
            .collect();
        let prefilled = serde_json::json!(filled);
        assert_eq!(
            prefilled,
            serde_json::json!([["image", "a file"]]),
            "no field but the file is filled in"
        );
    })
    .await;
    assert_eq!(status, "201", "{body}");
    let uploads = app.uploads_received();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0].fields.get("image").map(String::as_str),
        Some("<file: 2048 bytes>")
    );
    assert_eq!(
        uploads[0].fields.get("url"),
        None,
        "no URL went with the file"
    );
}

/// The attacker: a site on another port of 127.0.0.1 (also reached as
/// `localhost`) whose pages attack `gateway` as soon as they load, and
/// put what they could read in `#result`.
struct AttackerSite {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl AttackerSite {
    async fn start(gateway: &str, image_id: &str) -> Self {
        let pages = web::Data::new((gateway.to_owned(), image_id.to_owned()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(pages.clone())
                .route("/{attack}", web::get().to(attack_page))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bound");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { port, handle }
    }
}

/// Writes what a page could read into `#result`, as JSON.
const REPORT: &str = "function report(result) { const out = document.createElement('pre'); out.id = 'result'; out.textContent = JSON.stringify(result); document.body.appendChild(out); }
function readFrame(frame) { try { const doc = frame.contentDocument; return doc ? doc.body.innerText : null; } catch (e) { return null; } }
function intoFrame(form) { const sink = document.createElement('iframe'); sink.name = 'sink'; document.body.appendChild(sink); sink.addEventListener('load', () => report({read: readFrame(sink)}), {once: true}); form.target = 'sink'; document.body.appendChild(form); form.submit(); }";

async fn attack_page(
    attack: web::Path<String>,
    pages: web::Data<(String, String)>,
) -> HttpResponse {
    let (gateway, id) = pages.get_ref();
    let script = match attack.as_str() {
        // An auto-submitted form, as a page can send to any address.
        "logout" => format!(
            "const form = document.createElement('form'); form.method = 'post'; form.action = '{gateway}/auth/logout'; form.innerHTML = '<input name=confirm value=1>'; intoFrame(form);"
        ),
        // A multipart form with a file the page made itself.
        "upload" => format!(
            "const form = document.createElement('form'); form.method = 'post'; form.enctype = 'multipart/form-data'; form.action = '{gateway}/v1/images';
             const file = document.createElement('input'); file.type = 'file'; file.name = 'image';
             const picked = new DataTransfer(); picked.items.add(new File([new Uint8Array([137,80,78,71,13,10,26,10,0,0,0,13,73,72,68,82,0,0,0,2,0,0,0,3,8,6,0,0,0])], 'owned.png', {{type: 'image/png'}})); file.files = picked.files;
             const title = document.createElement('input'); title.name = 'title'; title.value = 'owned';
             form.append(file, title); intoFrame(form);"
        ),
        // A simple request: no preflight, the answer unreadable (opaque).
        "favorite" => format!(
            "fetch('{gateway}/v1/images/{id}/favorite', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: 'x'}})
               .then(async r => report({{read: await r.text(), type: r.type, status: r.status}}), e => report({{read: null, error: String(e)}}));"
        ),
        // Not a simple request: a CORS preflight first, which the gateway
        // does not grant; and no-cors cannot send it at all.
        "delete" => format!(
            "const failed = e => ({{read: null, error: String(e)}});
             const cors = fetch('{gateway}/v1/images/{id}', {{method: 'DELETE'}}).then(async r => ({{read: await r.text(), status: r.status}}), failed);
             const opaque = fetch('{gateway}/v1/images/{id}', {{method: 'DELETE', mode: 'no-cors'}}).then(async r => ({{read: await r.text(), status: r.status}}), failed);
             Promise.all([cors, opaque]).then(([cors, opaque]) => report({{read: cors.read || opaque.read || null, cors, opaque}}));"
        ),
        // The docs in a frame, to trick a click on "Try it out".
        "frame" => format!(
            "const frame = document.createElement('iframe'); frame.src = '{gateway}/docs/'; frame.width = 900; frame.height = 600;
             frame.addEventListener('load', () => report({{read: readFrame(frame)}}), {{once: true}}); document.body.appendChild(frame);"
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><title>Cute cats</title></head><body><h1>Cute cats</h1><script>{REPORT}\n{script}</script></body></html>"
        ))
}

/// What the page at `url` could read, once its attack is over.
async fn run_attack(page: &Client, url: &str) -> Value {
    page.goto(url).await.expect("opened");
    let result = find(page, "#result").await;
    serde_json::from_str(&result.text().await.expect("text")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_other_origins_cannot_use_the_gateway_and_swagger_ui_still_works() {
    let Some(browser) = browser().await else {
        return;
    };
    // Arrange: a user-mode gateway reached as 127.0.0.1, whose token file
    // the first refresh wrote; an attacker site on another port.
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    let id = app.fake.favorite_ids()[0].clone();
    let attacker = AttackerSite::start(&app.address, &id).await;
    let tokens = app.token_file_bytes();
    let begun = app.upstream_requests_begun();
    let page = &browser.client;

    for site in ["127.0.0.1", "localhost"] {
        for attack in ["logout", "upload", "favorite", "delete", "frame"] {
            // Act
            let url = format!("http://{site}:{}/{attack}", attacker.port);
            let result = run_attack(page, &url).await;

            // Assert
            let case = format!("{attack} from {site}");
            assert_eq!(
                app.upstream_requests_begun(),
                begun,
                "{case}: the fake received nothing"
            );
            assert_eq!(
                app.token_file_bytes(),
                tokens,
                "{case}: the token file is unchanged"
            );
            assert!(
                result["read"].is_null() || result["read"] == "",
                "{case}: the page read {result}"
            );
            if attack == "frame" {
                page.enter_frame(0).await.expect("into the frame");
                let docs = page
                    .find_all(Locator::Css("#swagger-ui"))
                    .await
                    .expect("searched");
                assert!(
                    docs.is_empty(),
                    "{case}: the docs rendered inside the frame"
                );
                page.enter_parent_frame().await.expect("back");
            }
        }
    }
    screenshot(page, "attack-frame").await;

    // A rebinding name: same-origin for the page, so only Host tells.
    let rebound = format!("http://rebind.test:{port}");
    page.goto(&format!("{rebound}/v1/account"))
        .await
        .expect("opened");
    let shown = page
        .find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("text");
    assert!(shown.contains("host-not-allowed"), "{shown}");
    let read = page
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch('/v1/account').then(async r => done({status: r.status, read: await r.text()}), e => done({error: String(e)}));",
            vec![],
        )
        .await
        .expect("the script ran");
    let read_text = read["read"].as_str().unwrap_or("");
    assert!(
        !read_text.contains("\"url\""),
        "the page read the account: {read}"
    );
    assert_eq!(
        app.upstream_requests_begun(),
        begun,
        "rebinding: the fake received nothing"
    );
    assert_eq!(app.token_file_bytes(), tokens);
    let status: Value = app.get("/auth/status").await.json().await.expect("JSON");
    assert_eq!(status["authorized"], true);

    // Assert, in the same browser: the docs still work on their own origin.
    swagger_ui_works(page).await;
    attacker.handle.stop(false).await;
    browser.client.clone().close().await.expect("closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_authorizes_flickr_in_the_demo() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = crate::helpers::GatewayProcess::demo(dir.path());
    let http = reqwest::Client::new();
    let before: Value = http
        .get(demo.url("/flickr/auth/status"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(before["authorized"], true, "the demo starts authorized");
    let out = http
        .post(demo.url("/flickr/auth/logout"))
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), 200);
    let token_file = std::fs::read_dir(dir.path())
        .expect("the demo's TMPDIR")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("tokens.json"))
        .find(|path| path.exists())
        .expect("the demo's token file");
    let file: Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("readable")).expect("JSON");
    assert!(file.get("flickr").is_none(), "logged out: {file}");

    let page = &browser.client;
    page.goto(&demo.url("/flickr/auth/login"))
        .await
        .expect("opened");
    find(page, "#allow").await.click().await.expect("clicked");
    let status = wait_for_status(page, "Authorized as").await;

    assert_eq!(status, "Authorized as demo on Flickr");
    screenshot(page, "authorized-flickr").await;
    let file: Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("readable")).expect("JSON");
    assert_eq!(file["flickr"]["perms"], "delete");
    assert!(file["flickr"]["token"].is_string());
    let favorites = http
        .get(demo.url("/flickr/v1/favorites"))
        .send()
        .await
        .expect("sent");
    assert_eq!(favorites.status(), 200);
    // The callback's request token is used once.
    let used = page.current_url().await.expect("url");
    let again = http.get(used.as_str()).send().await.expect("sent");
    assert_eq!(again.status(), 400);
    browser.client.clone().close().await.expect("closed");
}

/// Issue 14: the browser starts the login on replica A; Imgur sends it back
/// to replica B (as a load balancer may), which finishes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_login_started_on_one_replica_finishes_on_another() {
    let Some(browser) = browser().await else {
        return;
    };
    let fleet = crate::fleet_favorites::fleet().await;
    let (a, b) = (&fleet.replicas[0].address, &fleet.replicas[1].address);
    fleet.fake.set_redirect_url(&format!("{b}/auth/callback"));
    let before = fleet.fake.calls(pixgate::fake_imgur::Endpoint::Token);
    let page = &browser.client;

    page.goto(&format!("{a}/auth/login?response_type=code"))
        .await
        .expect("opened");
    page.find(Locator::Id("allow"))
        .await
        .expect("the consent page")
        .click()
        .await
        .expect("clicked");
    let status = wait_for_status(page, "Authorized as").await;

    assert_eq!(status, "Authorized as demo");
    let finished_on = page.current_url().await.expect("a URL");
    assert!(
        finished_on.as_str().starts_with(b.as_str()),
        "{finished_on}"
    );
    assert_eq!(
        fleet.fake.calls(pixgate::fake_imgur::Endpoint::Token),
        before + 1,
        "B exchanged the code"
    );
    browser.client.clone().close().await.expect("closed");
}
