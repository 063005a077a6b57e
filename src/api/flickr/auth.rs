//! Authorizing a Flickr account: the browser flow (OAuth 1.0a with a
//! callback), an existing token, status and logout. The terminal flow
//! (`oob`) is `pixgate login --provider flickr`.

use crate::api::{pages, Problem};
use crate::flickr::Token;
use crate::gateway::{FlickrAuthStatus, FlickrFailure, Gateway};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Longest token, secret or verifier accepted.
const MAX_CREDENTIAL_LEN: usize = 2048;

/// The API key, for a browser that cannot send headers.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlickrLoginQuery {
    /// The API key, when `PIXGATE_API_KEY` is set. The API-key guard reads it.
    #[allow(dead_code)]
    key: Option<String>,
}

/// Flickr's redirect back: the request token and the verifier.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlickrCallbackQuery {
    /// The request token `/flickr/auth/login` sent to Flickr (valid once, for 10 minutes).
    #[param(max_length = 2048)]
    oauth_token: Option<String>,
    /// The verifier Flickr gave for it.
    #[param(max_length = 2048)]
    oauth_verifier: Option<String>,
}

/// An existing Flickr access token and its secret.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "72157626318069415-087bfc7b5816092c", "token_secret": "a202d1f853ec69de"}))]
#[serde(deny_unknown_fields)]
pub struct FlickrTokenBody {
    #[schema(min_length = 1, max_length = 2048)]
    token: String,
    #[schema(min_length = 1, max_length = 2048)]
    token_secret: String,
}

fn credential(name: &str, value: &str) -> Result<String, Problem> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_CREDENTIAL_LEN {
        return Err(Problem::invalid(format!(
            "\"{name}\" must be 1 to {MAX_CREDENTIAL_LEN} characters"
        )));
    }
    Ok(value.to_owned())
}

/// Start a Flickr browser login
///
/// Gets a request token from Flickr (its callback is this gateway's
/// `/flickr/auth/callback`) and redirects to Flickr's authorize page
/// asking for `perms=delete`. The request token is valid once, for ten
/// minutes; nothing is stored until the callback.
#[utoipa::path(
    tag = "flickr-auth",
    operation_id = "flickrLogin",
    params(FlickrLoginQuery),
    responses(
        (status = 302, description = "To Flickr's authorize page", headers(("Location" = String, description = "Flickr's authorize URL"))),
        (status = 401, description = "PIXGATE_API_KEY is set and the key is missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Flickr refused or failed to give a request token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Flickr is unavailable, or (`store-unavailable`) with PIXGATE_REDIS_URL Redis is unreachable; see Retry-After", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/flickr/auth/login")]
pub async fn flickr_login(
    gateway: web::Data<Gateway>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    // The Host header (not X-Forwarded-Host) was checked by the edge rules,
    // so the callback is this gateway.
    let scheme = req.connection_info().scheme().to_owned();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.connection_info().host().to_owned());
    let callback = format!("{scheme}://{host}/flickr/auth/callback");
    let url = gateway.begin_flickr_login(&callback).await?;
    Ok(pages::redirect_to(&url))
}

/// Flickr's redirect back
///
/// Checks that the request token belongs to a login started here (once,
/// within ten minutes), exchanges it and the verifier for the access token
/// (never retried: a request token is single use), stores it and answers
/// "Authorized as <username> on Flickr". Anything else is a 400 page that
/// says so, and nothing is stored.
#[utoipa::path(
    tag = "flickr-auth",
    operation_id = "flickrLoginCallback",
    params(FlickrCallbackQuery),
    responses(
        (status = 200, description = "Authorized", content_type = "text/html", body = String),
        (status = 400, description = "An unknown, reused or expired request token, a missing verifier, or Flickr refused the verifier", content_type = "text/html", body = String),
        (status = 403, description = "Flickr rejected the request token", content_type = "text/html", body = String),
        (status = 502, description = "Flickr failed", content_type = "text/html", body = String),
        (status = 503, description = "Flickr is unavailable", content_type = "text/html", body = String),
        (status = 504, description = "Flickr did not answer in time", content_type = "text/html", body = String)
    )
)]
#[get("/flickr/auth/callback")]
pub async fn flickr_login_callback(
    gateway: web::Data<Gateway>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    gateway.flickr_auth_status()?;
    let invalid = |why: &str| {
        pages::flickr_failed(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            &format!("{why} Start the login again; nothing was stored."),
        )
    };
    let Ok(query) = web::Query::<FlickrCallbackQuery>::from_query(req.query_string()) else {
        return Ok(invalid(
            "The address does not hold a login answer from Flickr.",
        ));
    };
    let (Some(token), Some(verifier)) = (&query.oauth_token, &query.oauth_verifier) else {
        return Ok(invalid(
            "Flickr's answer needs both oauth_token and oauth_verifier.",
        ));
    };
    let (Ok(token), Ok(verifier)) = (
        credential("oauth_token", token),
        credential("oauth_verifier", verifier),
    ) else {
        return Ok(invalid("Flickr's answer is empty or too long."));
    };
    Ok(match gateway.finish_flickr_login(&token, &verifier).await {
        Ok(status) => pages::flickr_authorized(status.username.as_deref()),
        Err(FlickrFailure::UnknownRequestToken(e)) => pages::flickr_failed(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            &e.to_string(),
        ),
        Err(e) => {
            let problem = Problem::from(e);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
            pages::flickr_failed(status, "Flickr did not accept the login", &problem.detail)
        }
    })
}

/// Bring an existing Flickr token
///
/// Checks the access token and its secret with
/// `flickr.auth.oauth.checkToken` (which also tells its perms and user),
/// stores them and switches the running gateway to that account.
#[utoipa::path(
    tag = "flickr-auth",
    operation_id = "flickrLoginWithToken",
    request_body = FlickrTokenBody,
    responses(
        (status = 200, description = "Authorized", body = FlickrAuthStatus),
        (status = 400, description = "A missing or too long token or secret", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Flickr rejected the token (`authorization-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Flickr failed, or refused the signature (a wrong token secret)", body = Problem, content_type = "application/problem+json")
    ),
    security(("api_key" = []))
)]
#[post("/flickr/auth/token")]
pub async fn flickr_login_with_token(
    gateway: web::Data<Gateway>,
    body: web::Json<FlickrTokenBody>,
) -> Result<HttpResponse, Problem> {
    let token = Token::new(
        credential("token", &body.token)?,
        credential("token_secret", &body.token_secret)?,
    );
    Ok(HttpResponse::Ok().json(gateway.flickr_login_with_token(token).await?))
}

/// Flickr authorization status
///
/// Whether a Flickr account is authorized, which (`username`,
/// `user_nsid`) and with which `perms`. Never shows a token.
#[utoipa::path(
    tag = "flickr-auth",
    operation_id = "flickrAuthStatus",
    responses((status = 200, description = "The status", body = FlickrAuthStatus))
)]
#[get("/flickr/auth/status")]
pub async fn flickr_auth_status(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(gateway.flickr_auth_status()?))
}

/// Log out of Flickr
///
/// Deletes the stored Flickr token (the Imgur tokens stay).
#[utoipa::path(
    tag = "flickr-auth",
    operation_id = "flickrLogout",
    responses(
        (status = 200, description = "Logged out", body = FlickrAuthStatus),
        (status = 500, description = "The token file could not be updated", body = Problem, content_type = "application/problem+json")
    ),
    security(("api_key" = []))
)]
#[post("/flickr/auth/logout")]
pub async fn flickr_logout(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(gateway.flickr_logout().await?))
}
