//! Authorizing an Imgur account: browser logins (code and token flows),
//! PIN, an existing refresh token, logout and status.

use super::{pages, Problem, ProblemKind};
use crate::gateway::{Gateway, LoginError};
use crate::imgur::{AuthStatus, Grant};
use crate::model::ResponseType;
use crate::secret::Secret;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Longest code, PIN or token accepted.
const MAX_CREDENTIAL_LEN: usize = 2048;

/// Which flow to start.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// `token` (default), `code`, or `pin`.
    #[param(inline)]
    response_type: Option<ResponseType>,
    /// The API key, when `PIXGATE_API_KEY` is set (a browser cannot send
    /// headers when navigating). The API-key guard reads it.
    #[allow(dead_code)]
    key: Option<String>,
}

/// Imgur's redirect back to the gateway: `code` with `state` (code flow),
/// `error` (with `state`) when the user or Imgur refused, or nothing at all
/// (token flow: the tokens are in the URL fragment, which only the browser
/// sees). Any other combination is a 400 page.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The code flow's authorization code; needs `state`.
    #[param(max_length = 2048)]
    code: Option<String>,
    /// The state `/auth/login` sent to Imgur, valid once, for 10 minutes.
    #[param(max_length = 2048)]
    state: Option<String>,
    /// Imgur's error, e.g. `access_denied`; nothing is stored.
    #[param(max_length = 2048)]
    error: Option<String>,
}

/// The token flow's answer, read from the URL fragment by the callback page.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"state": "9f2c…", "refresh_token": "b2b1…"}))]
pub struct TokenFlowBody {
    /// The state sent with the login.
    #[schema(min_length = 1, max_length = 2048)]
    state: String,
    #[schema(min_length = 1, max_length = 2048)]
    refresh_token: String,
}

/// A PIN shown by Imgur's authorize page (`response_type=pin`).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"pin": "1a2b3c4d5e"}))]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    #[schema(example = "1a2b3c4d5e", min_length = 1, max_length = 2048)]
    pin: String,
}

/// An existing refresh token to check and keep.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "b2b1…"}))]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenBody {
    #[schema(min_length = 1, max_length = 2048)]
    refresh_token: String,
}

fn credential(name: &str, value: &str) -> Result<Secret, Problem> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_CREDENTIAL_LEN {
        return Err(Problem::invalid(format!(
            "\"{name}\" must be 1 to {MAX_CREDENTIAL_LEN} characters"
        )));
    }
    Ok(Secret::new(value))
}

/// Start a browser login
///
/// Redirects to Imgur's authorize page for this app. After the user allows
/// it, Imgur sends the browser back to `/auth/callback` (the callback URL
/// registered for the app must be `http://localhost:8080/auth/callback`, or
/// this gateway's address). `pin` shows a PIN to post to `/auth/pin`.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    params(LoginQuery),
    responses(
        (status = 302, description = "To Imgur's authorize page", headers(("Location" = String, description = "Imgur's authorize URL"))),
        (status = 400, description = "Unknown response_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "PIXGATE_API_KEY is set and the key is missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store-unavailable`: with PIXGATE_REDIS_URL, Redis is unreachable, so no login can be started; see Retry-After", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/auth/login")]
pub async fn start_login(
    gateway: web::Data<Gateway>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, Problem> {
    let url = gateway
        .begin_login(query.response_type.unwrap_or_default())
        .await?;
    Ok(pages::redirect_to(&url))
}

/// Imgur's redirect back
///
/// Code flow (`?code=&state=`): checks the state, exchanges the code, stores
/// the tokens and answers "Authorized as <username>". Token flow (no query;
/// the tokens are in the URL fragment): a page whose script posts them to
/// `/auth/token`. A wrong, reused or expired state, a code without a state
/// (or a state without a code), or an `error` (such as `access_denied`)
/// gives a 400 page that says so, and nothing is stored.
#[utoipa::path(
    tag = "auth",
    operation_id = "loginCallback",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Authorized, or the token-flow page", content_type = "text/html", body = String),
        (status = 400, description = "A bad, reused or missing state, a missing code, an error from Imgur, or Imgur refused the code", content_type = "text/html", body = String),
        (status = 403, description = "Imgur refused the login", content_type = "text/html", body = String),
        (status = 429, description = "Imgur's rate limit was reached", content_type = "text/html", body = String),
        (status = 500, description = "Imgur accepted the login and pixgate uses it, but the token file could not be written yet (retried)", content_type = "text/html", body = String),
        (status = 502, description = "Imgur failed, or refused the app's client id or secret", content_type = "text/html", body = String),
        (status = 503, description = "Imgur is over capacity", content_type = "text/html", body = String),
        (status = 504, description = "Imgur did not answer in time", content_type = "text/html", body = String)
    )
)]
#[get("/auth/callback")]
pub async fn login_callback(gateway: web::Data<Gateway>, req: HttpRequest) -> HttpResponse {
    // Parsed here rather than by an extractor: whatever the address holds,
    // the browser gets a page, not a JSON problem.
    let Ok(query) = web::Query::<CallbackQuery>::from_query(req.query_string()) else {
        return not_a_login_answer("The address does not hold a login answer from Imgur.");
    };
    let query = query.into_inner();
    if let Some(error) = query.error {
        return denied(&error);
    }
    let (code, state) = match (query.code, query.state) {
        (None, None) => return pages::token_flow(),
        (Some(code), Some(state)) if !state.is_empty() => (code, state),
        (Some(_), _) => return not_a_login_answer(
            "Imgur's answer has a code but no state, so it cannot belong to a login started here.",
        ),
        (None, Some(_)) => return not_a_login_answer("Imgur's answer has a state but no code."),
    };
    let code = match credential("code", &code) {
        Ok(code) => code,
        Err(problem) => {
            return pages::failed(
                StatusCode::BAD_REQUEST,
                "Authorization failed",
                &problem.detail,
            )
        }
    };
    match gateway
        .finish_login(&state, ResponseType::Code, Grant::AuthorizationCode(code))
        .await
    {
        Ok(status) => pages::authorized(status.account_username.as_deref()),
        Err(LoginError::UnknownState(e)) => pages::failed(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            &e.to_string(),
        ),
        Err(LoginError::Imgur(e)) => {
            let problem = Problem::from(e);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
            pages::failed(status, "Imgur did not accept the login", &problem.detail)
        }
    }
}

fn not_a_login_answer(why: &str) -> HttpResponse {
    pages::failed(
        StatusCode::BAD_REQUEST,
        "This login link is not valid",
        &format!("{why} Start the login again; nothing was stored."),
    )
}

fn denied(error: &str) -> HttpResponse {
    if error.trim().is_empty() {
        pages::failed(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "Imgur sent the browser back with an error but did not say which. Nothing was stored; start the login again.",
        )
    } else if error == "access_denied" {
        pages::failed(
            StatusCode::BAD_REQUEST,
            "Access denied",
            "You did not allow pixgate to use your Imgur account, so nothing was stored.",
        )
    } else {
        pages::failed(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            &format!("Imgur answered: {error}. Nothing was stored."),
        )
    }
}

/// The token-flow page's script.
pub async fn callback_script() -> HttpResponse {
    pages::callback_script()
}

/// Finish a token-flow login
///
/// Called by the callback page's script with the refresh token from the URL
/// fragment and the login's state; the state protects it, not the API key.
/// The token is checked with one refresh and stored.
#[utoipa::path(
    tag = "auth",
    operation_id = "finishTokenLogin",
    request_body = TokenFlowBody,
    responses(
        (status = 200, description = "Authorized", body = AuthStatus),
        (status = 400, description = "Bad or reused state, or Imgur rejected the token", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`login-not-stored`: Imgur accepted the login and pixgate uses it, but the token file could not be written yet (retried)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store-unavailable`: with PIXGATE_REDIS_URL, Redis is unreachable; nothing was changed; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Imgur failed (`upstream-error`), or refused the app's client id or secret (`client-credentials-rejected`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/auth/token")]
pub async fn finish_token_login(
    gateway: web::Data<Gateway>,
    body: web::Json<TokenFlowBody>,
) -> Result<HttpResponse, Problem> {
    let refresh_token = credential("refresh_token", &body.refresh_token)?;
    let status = gateway
        .finish_login(
            &body.state,
            ResponseType::Token,
            Grant::RefreshToken(refresh_token),
        )
        .await
        .map_err(|e| match e {
            LoginError::UnknownState(e) => Problem::new(ProblemKind::InvalidInput, e.to_string()),
            LoginError::Imgur(e) => Problem::from(e),
        })?;
    Ok(HttpResponse::Ok().json(status))
}

/// Authorize with a PIN
///
/// Exchanges a PIN from Imgur's authorize page (`/auth/login?response_type=pin`)
/// and switches the running gateway to that account.
#[utoipa::path(
    tag = "auth",
    operation_id = "loginWithPin",
    request_body = PinBody,
    responses(
        (status = 200, description = "Authorized", body = AuthStatus),
        (status = 400, description = "Missing PIN, or Imgur rejected it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "PIXGATE_API_KEY is set and the key is missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`login-not-stored`: Imgur accepted the login and pixgate uses it, but the token file could not be written yet (retried)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store-unavailable`: with PIXGATE_REDIS_URL, Redis is unreachable; nothing was changed; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Imgur failed (`upstream-error`), or refused the app's client id or secret (`client-credentials-rejected`)", body = Problem, content_type = "application/problem+json")
    ),
    security(("api_key" = []))
)]
#[post("/auth/pin")]
pub async fn login_with_pin(
    gateway: web::Data<Gateway>,
    body: web::Json<PinBody>,
) -> Result<HttpResponse, Problem> {
    let pin = credential("pin", &body.pin)?;
    Ok(HttpResponse::Ok().json(gateway.login(Grant::Pin(pin)).await?))
}

/// Bring an existing refresh token
///
/// Checks the token with one refresh, stores it, and switches the running
/// gateway to its account. Useful while Imgur's authorize page is failing.
#[utoipa::path(
    tag = "auth",
    operation_id = "loginWithRefreshToken",
    request_body = RefreshTokenBody,
    responses(
        (status = 200, description = "Authorized", body = AuthStatus),
        (status = 400, description = "Missing token, or Imgur rejected it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "PIXGATE_API_KEY is set and the key is missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`login-not-stored`: Imgur accepted the login and pixgate uses it, but the token file could not be written yet (retried)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store-unavailable`: with PIXGATE_REDIS_URL, Redis is unreachable; nothing was changed; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Imgur failed (`upstream-error`), or refused the app's client id or secret (`client-credentials-rejected`)", body = Problem, content_type = "application/problem+json")
    ),
    security(("api_key" = []))
)]
#[post("/auth/refresh-token")]
pub async fn login_with_refresh_token(
    gateway: web::Data<Gateway>,
    body: web::Json<RefreshTokenBody>,
) -> Result<HttpResponse, Problem> {
    let token = credential("refresh_token", &body.refresh_token)?;
    Ok(HttpResponse::Ok().json(gateway.login(Grant::RefreshToken(token)).await?))
}

/// Log out
///
/// Deletes the stored tokens; the gateway continues in anonymous mode.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    responses(
        (status = 200, description = "Logged out", body = AuthStatus),
        (status = 401, description = "PIXGATE_API_KEY is set and the key is missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The token file could not be removed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store-unavailable`: with PIXGATE_REDIS_URL, Redis is unreachable; nothing was changed; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
#[post("/auth/logout")]
pub async fn log_out(gateway: web::Data<Gateway>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(gateway.logout().await?))
}

/// Authorization status
///
/// Whether a user is authorized, which account, and when the access token
/// expires. Never shows a token.
#[utoipa::path(
    tag = "auth",
    operation_id = "authStatus",
    responses((status = 200, description = "The status", body = AuthStatus))
)]
#[get("/auth/status")]
pub async fn auth_status(gateway: web::Data<Gateway>) -> HttpResponse {
    HttpResponse::Ok().json(gateway.auth_status())
}
