//! The browser logins in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`): the token flow's fragment is
//! only readable by a real browser. Without chromedriver the tests are
//! skipped locally and fail in CI (`CI` set).

use crate::helpers::{spawn_app_with, Options, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pixgate::fake_imgur::Endpoint;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Flags for a closed network: no background fetches, no first-run UI.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1100,900",
];

/// A chromedriver process and a browser session on it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
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

async fn anonymous_app() -> TestApp {
    spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await
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

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_authorizes_with_the_api_key_and_tries_out_favorites() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(Options {
        api_key: Some("swagger-k3y".into()),
        ..Options::default()
    })
    .await;
    let page = &browser.client;

    page.goto(&app.url("/docs/")).await.expect("opened");
    find(page, "button.authorize")
        .await
        .click()
        .await
        .expect("clicked");
    find(page, ".modal-ux input")
        .await
        .send_keys("swagger-k3y")
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
    find(page, "#operations-favorites-listFavorites .opblock-summary")
        .await
        .click()
        .await
        .expect("expanded");
    find(
        page,
        "#operations-favorites-listFavorites button.try-out__btn",
    )
    .await
    .click()
    .await
    .expect("try it out");
    find(page, "#operations-favorites-listFavorites button.execute")
        .await
        .click()
        .await
        .expect("executed");
    let status = find(page, "#operations-favorites-listFavorites .live-responses-table tr.response .response-col_status").await;
    let body = find(page, "#operations-favorites-listFavorites .live-responses-table tr.response .response-col_description .highlight-code pre").await;

    assert_eq!(status.text().await.expect("text").trim(), "200");
    let element = serde_json::to_value(&status).expect("element reference");
    page.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![element],
    )
    .await
    .expect("scrolled");
    let body = body.text().await.expect("text");
    let items: serde_json::Value = serde_json::from_str(&body).expect("the response body is JSON");
    assert_eq!(
        items.as_array().map(Vec::len),
        Some(10),
        "a page of favorites"
    );
    screenshot(page, "swagger-try-it-out").await;
    assert_eq!(
        app.fake.calls(Endpoint::Favorites),
        1,
        "the call went through the gateway"
    );
    browser.client.clone().close().await.expect("closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_uploads_a_file_with_try_it_out() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(Options::default()).await;
    let page = &browser.client;
    let picture = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("temp file");
    std::fs::write(picture.path(), crate::helpers::png(2048)).expect("written");

    page.goto(&app.url("/docs/")).await.expect("opened");
    find(page, "#operations-images-uploadImage .opblock-summary")
        .await
        .click()
        .await
        .expect("expanded");
    find(page, "#operations-images-uploadImage button.try-out__btn")
        .await
        .click()
        .await
        .expect("try it out");
    find(
        page,
        "#operations-images-uploadImage .body-param-content-type select",
    )
    .await
    .select_by_value("multipart/form-data")
    .await
    .expect("multipart chosen");
    find(page, "#operations-images-uploadImage input[type=file]")
        .await
        .send_keys(&picture.path().display().to_string())
        .await
        .expect("file chosen");
    find(page, "#operations-images-uploadImage button.execute")
        .await
        .click()
        .await
        .expect("executed");
    let status = find(
        page,
        "#operations-images-uploadImage .live-responses-table tr.response .response-col_status",
    )
    .await;
    let body = find(page, "#operations-images-uploadImage .live-responses-table tr.response .response-col_description .highlight-code pre").await;

    let body = body.text().await.expect("text");
    assert_eq!(status.text().await.expect("text").trim(), "201", "{body}");
    let upload = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Upload)
        .expect("an upload");
    assert_eq!(
        upload.fields.get("image").map(String::as_str),
        Some("<file: 2048 bytes>")
    );
    browser.client.clone().close().await.expect("closed");
}
