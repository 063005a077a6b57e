//! The few HTML pages pixgate serves (login results), with a strict
//! Content-Security-Policy: no inline script, only scripts from this origin.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

/// Scripts only from this origin (the token-flow script is a file), fetches
/// only to this origin, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The token-flow script, served at `/auth/callback.js`.
const CALLBACK_SCRIPT: &str = include_str!("assets/callback.js");

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;line-height:1.5}h1{font-size:1.6em}.hidden{display:none}";

/// A page with security headers; login pages carry codes and tokens in
/// their URLs, so they are never cached and never sent as a referrer.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · pixgate</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        title = escape(title),
    );
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

fn secured(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// The redirect to a provider's authorize page: its address carries a
/// one-time `state` or request token, so it is never cached and never sent
/// on as a referrer.
pub fn redirect_to(url: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

/// "Authorized as <username>", with the next steps.
pub fn authorized(username: Option<&str>) -> HttpResponse {
    let name = escape(username.unwrap_or("your Imgur account"));
    page(
        StatusCode::OK,
        &format!("Authorized as {}", username.unwrap_or("your Imgur account")),
        &format!(
            "<h1 id=\"status\">Authorized as {name}</h1>\n<p id=\"detail\">pixgate now calls Imgur as {name}; its tokens are stored and refreshed for you.</p>\n<p id=\"next\"><a href=\"/docs/\">API docs</a> · <a href=\"/v1/favorites\">Your favorites</a></p>"
        ),
    )
}

/// A login that did not work, and why.
pub fn failed(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    failed_from(status, title, detail, "/auth/login")
}

/// A login that did not work, with a link to start it again at `start`.
fn failed_from(status: StatusCode, title: &str, detail: &str, start: &str) -> HttpResponse {
    page(
        status,
        title,
        &format!(
            "<h1 id=\"status\">{}</h1>\n<p id=\"detail\">{}</p>\n<p><a href=\"{start}\">Start again</a></p>",
            escape(title),
            escape(detail)
        ),
    )
}

/// "Authorized as <username> on Flickr", with the next steps.
pub fn flickr_authorized(username: Option<&str>) -> HttpResponse {
    let name = username.unwrap_or("your Flickr account");
    let shown = escape(name);
    page(
        StatusCode::OK,
        &format!("Authorized as {name} on Flickr"),
        &format!(
            "<h1 id=\"status\">Authorized as {shown} on Flickr</h1>\n<p id=\"detail\">pixgate now calls Flickr as {shown}; its token is stored for you.</p>\n<p id=\"next\"><a href=\"/docs/\">API docs</a> · <a href=\"/flickr/v1/favorites\">Your Flickr favorites</a></p>"
        ),
    )
}

/// A Flickr login that did not work, and why.
pub fn flickr_failed(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    failed_from(status, title, detail, "/flickr/auth/login")
}

/// The token flow's landing page: Imgur put the tokens in the URL fragment,
/// which only the browser sees; the script posts them to `/auth/token`.
pub fn token_flow() -> HttpResponse {
    page(
        StatusCode::OK,
        "Finishing authorization",
        "<h1 id=\"status\">Finishing authorization…</h1>\n<p id=\"detail\">This page needs JavaScript to read Imgur's answer from the address bar.</p>\n<p id=\"next\" class=\"hidden\"><a href=\"/docs/\">API docs</a> · <a href=\"/v1/favorites\">Your favorites</a></p>\n<script src=\"/auth/callback.js\"></script>",
    )
}

/// `/auth/callback.js`.
pub fn callback_script() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("application/javascript; charset=utf-8")
        .body(CALLBACK_SCRIPT)
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
