//! Flickr's authorize page, `GET /services/oauth/authorize?oauth_token=…&perms=…`
//! (not signed), and the `POST` of its form.
//!
//! Under [`Consent::Ask`] the `GET` shows a plain HTML consent page with no
//! script: its Allow and Deny buttons each submit a form (hidden
//! `oauth_token`, `perms`, `decision`). On Allow, with a callback the user
//! is redirected (302) to `{callback}?oauth_token=…&oauth_verifier=…` (a
//! 16-hex-digit verifier); with `oob` the page shows a verifier like
//! `123-456-789` in `<code id="verifier">`. On Deny the token can no longer
//! be exchanged and the page says so (`id="denied"`); Flickr sends nobody
//! back. Element ids for browser tests: `account`, `allow`, `deny`,
//! `verifier`, `denied`.

use actix_web::http::header;
use actix_web::HttpResponse;

use super::state::{random_hex, Leg, Shared};
use super::wire::{escape_html, html};
use super::Consent;
use crate::flickr::signing::encode;
use crate::flickr::Perms;

/// The registered app's name, shown on the page.
const APP_NAME: &str = "pixgate-demo";

/// Answers the page; `args` are the `GET` query or the `POST` form.
pub(crate) fn respond(shared: &Shared, args: &[(String, String)], submitted: bool) -> HttpResponse {
    let get = |name: &str| {
        args.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let token = get("oauth_token").unwrap_or_default();
    let usable = shared
        .state()
        .request_tokens
        .get(token)
        .is_some_and(|t| t.leg == Leg::Issued);
    if !usable {
        return html(
            400,
            "Oops! This link has expired",
            "<p>The authorization token is invalid, already used or expired. Go back to the app and start again.</p>",
        );
    }
    let Some(perms) = get("perms").and_then(|p| p.parse::<Perms>().ok()) else {
        return html(
            400,
            "Oops! Flickr doesn't recognise the permission set.",
            "<p>The app asked for no valid permissions (perms must be read, write or delete).</p>",
        );
    };
    let consent = shared.state().consent;
    let decision = if submitted {
        get("decision")
    } else {
        match consent {
            Consent::Ask => return consent_page(shared, token, perms),
            Consent::Allow => Some("allow"),
            Consent::Deny => Some("deny"),
        }
    };
    match decision {
        Some("allow") => allow(shared, token, perms),
        Some("deny") => {
            if let Some(request) = shared.state().request_tokens.get_mut(token) {
                request.leg = Leg::Denied;
            }
            html(
                200,
                "You didn't authorize the app",
                &format!("<p id=\"denied\">{APP_NAME} was not given access to your account.</p>"),
            )
        }
        _ => html(400, "Oops!", "<p>Please choose Allow or Deny.</p>"),
    }
}

fn consent_page(shared: &Shared, token: &str, perms: Perms) -> HttpResponse {
    let config = &shared.config;
    let form = |decision: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"/services/oauth/authorize\">\
             <input type=\"hidden\" name=\"oauth_token\" value=\"{}\">\
             <input type=\"hidden\" name=\"perms\" value=\"{perms}\">\
             <input type=\"hidden\" name=\"decision\" value=\"{decision}\">\
             <button type=\"submit\" id=\"{decision}\">{label}</button></form>",
            escape_html(token)
        )
    };
    html(
        200,
        &format!("{APP_NAME} wants to link to your Flickr account"),
        &format!(
            "<p>Signed in as <strong id=\"account\">{}</strong>.</p>\n\
             <p>{APP_NAME} asks for <strong>{perms}</strong> permission: it will be able to {}.</p>\n{}\n{}",
            escape_html(&config.username),
            match perms {
                Perms::Read => "see your photos",
                Perms::Write => "see, upload and edit your photos",
                Perms::Delete => "see, upload, edit and delete your photos",
            },
            form("allow", "OK, I'll authorize it"),
            form("deny", "No thanks"),
        ),
    )
}

fn allow(shared: &Shared, token: &str, perms: Perms) -> HttpResponse {
    let mut state = shared.state();
    let Some(request) = state.request_tokens.get_mut(token) else {
        return html(400, "Oops! This link has expired", "<p>Start again.</p>");
    };
    let oob = request.callback == "oob";
    let verifier = if oob {
        let digits: Vec<String> = (0..3)
            .map(|_| format!("{:03}", rand::random::<u16>() % 1000))
            .collect();
        digits.join("-")
    } else {
        random_hex(16)
    };
    request.leg = Leg::Allowed {
        verifier: verifier.clone(),
        perms,
    };
    let callback = request.callback.clone();
    drop(state);
    if oob {
        return html(
            200,
            "You have successfully authorized the application",
            &format!(
                "<p>Copy this code into {APP_NAME} to finish:</p>\n<p><code id=\"verifier\">{verifier}</code></p>"
            ),
        );
    }
    let separator = if callback.contains('?') { '&' } else { '?' };
    let location = format!(
        "{callback}{separator}oauth_token={}&oauth_verifier={}",
        encode(token),
        encode(&verifier)
    );
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
