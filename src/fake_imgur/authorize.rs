//! Imgur's authorize page, `GET`/`POST /oauth2/authorize`, for the three login
//! flows (`response_type=code|token|pin`).
//!
//! `GET` checks the parameters (from the query) and, under [`Consent::Ask`], shows a
//! plain HTML consent page. Its Allow and Deny buttons each submit a form (`POST`,
//! urlencoded, hidden `client_id`, `response_type`, `state`, `decision`), so the page
//! works with JavaScript off and has no script at all. The outcome:
//!
//! | flow | allow | deny |
//! |---|---|---|
//! | `code` | 302 `{redirect}?code=…&state=…` | 302 `{redirect}?error=access_denied&state=…` |
//! | `token` | 302 `{redirect}#access_token=…&expires_in=…&token_type=bearer&refresh_token=…&account_username=…&account_id=…&state=…` | 302 `{redirect}#error=access_denied&state=…` |
//! | `pin` | 200 page with `<code id="pin">` | as `code`, or a 200 "Access denied" page without a redirect URL |
//!
//! `state` is echoed only when the request carried it. Every value in a query or
//! fragment is percent-encoded (all but RFC 3986 unreserved characters), so any
//! `state` survives the round trip. Bad requests get a 400 HTML page, as Imgur's
//! authorize page answers in HTML, never in the JSON envelope. Codes and PINs come
//! from the same single-use store as [`super::FakeImgur::issue_code`] and
//! [`super::FakeImgur::issue_pin`]; the `token` flow issues tokens exactly as the
//! token endpoint does (a new authorization: the new refresh token becomes valid and
//! no other one is revoked).

use std::fmt::Write as _;

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;

use super::body::Body;
use super::state::Shared;
use super::wire::html_response;
use super::{Consent, FakeConfig};

/// The registered app's name, shown on the pages.
const APP_NAME: &str = "pixgate-demo";

/// Where the forms post to.
const FORM_ACTION: &str = "/oauth2/authorize";

/// Enough style to be readable; the pages work without it.
const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;color:#222}\
main{max-width:34rem;margin:3rem auto;padding:0 1rem}\
form{display:inline-block;margin-right:.75rem}\
button{font-size:1rem;padding:.5rem 1.5rem;cursor:pointer}\
#allow{background:#1bb76e;color:#fff;border:1px solid #149557;border-radius:4px}\
#deny{background:#eee;border:1px solid #bbb;border-radius:4px}\
#pin{font-size:2rem;letter-spacing:.15em}\
.note{color:#666;font-size:.9rem}";

/// A login flow, by its `response_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Code,
    Token,
    Pin,
}

impl Flow {
    fn parse(value: &str) -> Option<Flow> {
        match value {
            "code" => Some(Flow::Code),
            "token" => Some(Flow::Token),
            "pin" => Some(Flow::Pin),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Flow::Code => "code",
            Flow::Token => "token",
            Flow::Pin => "pin",
        }
    }
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
}

/// Why a request is refused with a 400 page.
struct Refusal {
    title: &'static str,
    detail: &'static str,
}

const NO_REDIRECT: Refusal = Refusal {
    title: "No redirect URL",
    detail: "This application has no redirect URL registered, so the code and token \
             flows have nowhere to send you back to. Use response_type=pin, or register \
             a redirect URL.",
};

/// Answers `GET` (`submitted == false`, parameters from the query) or the form's
/// `POST` (`submitted == true`). Every answer carries `Cache-Control: no-store`.
pub(crate) fn respond(shared: &Shared, body: &Body, submitted: bool) -> HttpResponse {
    let mut response = answer(shared, body, submitted)
        .unwrap_or_else(|refusal| page(400, refusal.title, &paragraph(refusal.detail)));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn answer(shared: &Shared, body: &Body, submitted: bool) -> Result<HttpResponse, Refusal> {
    if body.problem.is_some() {
        return Err(Refusal {
            title: "Malformed request",
            detail: "The request's parameters could not be read.",
        });
    }
    let config = &shared.config;
    if body.field("client_id") != Some(config.client_id.as_str()) {
        return Err(Refusal {
            title: "Invalid client_id",
            detail: "No application is registered with this client_id.",
        });
    }
    let flow = body
        .field("response_type")
        .and_then(Flow::parse)
        .ok_or(Refusal {
            title: "Invalid response_type",
            detail: "response_type must be one of code, token or pin.",
        })?;
    let (redirect_url, consent) = {
        let state = shared.state();
        (state.redirect_url.clone(), state.consent)
    };
    if flow != Flow::Pin && redirect_url.is_none() {
        return Err(NO_REDIRECT);
    }
    let state = body.field("state");
    let decision = if submitted {
        match body.field("decision") {
            Some("allow") => Decision::Allow,
            Some("deny") => Decision::Deny,
            _ => {
                return Err(Refusal {
                    title: "Invalid decision",
                    detail: "decision must be allow or deny.",
                })
            }
        }
    } else {
        match consent {
            Consent::Ask => return Ok(consent_page(config, flow, state)),
            Consent::Allow => Decision::Allow,
            Consent::Deny => Decision::Deny,
        }
    };
    let redirect_url = redirect_url.as_deref();
    match decision {
        Decision::Allow => allow(shared, flow, state, redirect_url),
        Decision::Deny => Ok(deny(flow, state, redirect_url)),
    }
}

/// The outcome of Allow.
fn allow(
    shared: &Shared,
    flow: Flow,
    state: Option<&str>,
    redirect_url: Option<&str>,
) -> Result<HttpResponse, Refusal> {
    let config = &shared.config;
    match flow {
        Flow::Pin => {
            let pin = shared.state().issue_pin();
            Ok(page(
                200,
                "Your PIN",
                &format!(
                    "<p>Enter this PIN in the application:</p>\n\
                     <p><code id=\"pin\">{}</code></p>\n\
                     <p class=\"note\">It works once. You can close this page afterwards.</p>\n",
                    escape(&pin)
                ),
            ))
        }
        Flow::Code => {
            let url = redirect_url.ok_or(NO_REDIRECT)?;
            let code = shared.state().issue_code();
            Ok(redirect(with_query(
                url,
                &with_state(vec![("code", code.as_str())], state),
            )))
        }
        Flow::Token => {
            let url = redirect_url.ok_or(NO_REDIRECT)?;
            let grant = shared.state().grant();
            let expires_in = grant.expires_in.to_string();
            let account_id = config.account_id.to_string();
            let pairs = vec![
                ("access_token", grant.access_token.as_str()),
                ("expires_in", expires_in.as_str()),
                ("token_type", "bearer"),
                ("refresh_token", grant.refresh_token.as_str()),
                ("account_username", config.account_username.as_str()),
                ("account_id", account_id.as_str()),
            ];
            Ok(redirect(with_fragment(url, &with_state(pairs, state))))
        }
    }
}

/// The outcome of Deny.
fn deny(flow: Flow, state: Option<&str>, redirect_url: Option<&str>) -> HttpResponse {
    let pairs = with_state(vec![("error", "access_denied")], state);
    match (flow, redirect_url) {
        (Flow::Token, Some(url)) => redirect(with_fragment(url, &pairs)),
        (_, Some(url)) => redirect(with_query(url, &pairs)),
        (_, None) => page(
            200,
            "Access denied",
            &paragraph(&format!(
                "Access denied: {APP_NAME} was not given access to your account. \
                 You can close this page."
            )),
        ),
    }
}

fn with_state<'a>(
    mut pairs: Vec<(&'a str, &'a str)>,
    state: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs
}

/// A 302 to `location`; a 500 page if the configured URL cannot be a header value.
fn redirect(location: String) -> HttpResponse {
    match HeaderValue::try_from(location) {
        Ok(value) => HttpResponse::Found()
            .insert_header((header::LOCATION, value))
            .finish(),
        Err(_) => page(
            500,
            "Invalid redirect URL",
            &paragraph("The registered redirect URL cannot be sent in a Location header."),
        ),
    }
}

/// The consent page: which app, which account, and the two buttons.
fn consent_page(config: &FakeConfig, flow: Flow, state: Option<&str>) -> HttpResponse {
    let form = |decision: &str, label: &str| {
        let mut fields = hidden("client_id", &config.client_id);
        fields.push_str(&hidden("response_type", flow.as_str()));
        if let Some(state) = state {
            fields.push_str(&hidden("state", state));
        }
        fields.push_str(&hidden("decision", decision));
        format!(
            "<form method=\"post\" action=\"{FORM_ACTION}\">\n{fields}\
             <button id=\"{decision}\" type=\"submit\">{label}</button>\n</form>\n"
        )
    };
    let account = escape(&config.account_username);
    let body = format!(
        "<p><strong>{APP_NAME}</strong> (client id <code>{client}</code>) would like \
         access to the Imgur account <strong id=\"account\">{account}</strong>.</p>\n\
         <p>If you allow it, {APP_NAME} can upload, edit and delete images and manage \
         favorites as {account}.</p>\n\
         <div>\n{allow}{deny}</div>\n\
         <p class=\"note\">This is pixgate's fake Imgur (demo mode and tests): no real \
         account is involved.</p>\n",
        client = escape(&config.client_id),
        allow = form("allow", "Allow"),
        deny = form("deny", "Deny"),
    );
    page(200, &format!("Authorize {APP_NAME}"), &body)
}

/// A hidden form field.
fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        escape(name),
        escape(value)
    )
}

/// `text` (escaped) as one paragraph.
fn paragraph(text: &str) -> String {
    format!("<p>{}</p>\n", escape(text))
}

/// A whole HTML page; `body_html` must already be escaped.
fn page(status: u16, title: &str, body_html: &str) -> HttpResponse {
    let title = escape(title);
    html_response(
        status,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
             <h1>{title}</h1>\n{body_html}</main>\n</body>\n</html>\n"
        ),
    )
}

/// Escapes text for HTML content and double- or single-quoted attributes.
fn escape(text: &str) -> String {
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

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `k1=v1&k2=v2`, each name and value percent-encoded.
fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with `pairs` added to its query (keeping a query or fragment it has).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!("{base}{separator}{}", encode_pairs(pairs));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `url` with its fragment replaced by `pairs`.
fn with_fragment(url: &str, pairs: &[(&str, &str)]) -> String {
    let base = url.split_once('#').map_or(url, |(base, _)| base);
    format!("{base}#{}", encode_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_only_unreserved_characters() {
        assert_eq!(encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            encode("a b&c=d#e/?+%é"),
            "a%20b%26c%3Dd%23e%2F%3F%2B%25%C3%A9"
        );
    }

    #[test]
    fn with_query_respects_an_existing_query_and_fragment() {
        let pairs = [("code", "x y")];
        assert_eq!(with_query("http://h/cb", &pairs), "http://h/cb?code=x%20y");
        assert_eq!(
            with_query("http://h/cb?a=1", &pairs),
            "http://h/cb?a=1&code=x%20y"
        );
        assert_eq!(
            with_query("http://h/cb?#f", &pairs),
            "http://h/cb?code=x%20y#f"
        );
        assert_eq!(
            with_fragment("http://h/cb#old", &pairs),
            "http://h/cb#code=x%20y"
        );
    }

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
