//! The HTTP side of the fake: one catch-all service that routes by hand.
//!
//! Every request goes through the same steps, in this order, so that the
//! controls behave predictably: read the body (hashing file parts as they
//! stream), verify the OAuth signature, record and count the request, apply
//! the next matching fault, then answer (a refusal, or the endpoint's
//! answer).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use super::oauth::{self, Incoming, Refusal, Shape, TokenKind, Verified};
use super::state::{Leg, Shared};
use super::wire::{self, Format};
use super::{authorize, body, rest};
use super::{Endpoint, FaultKind, RecordedRequest};
use crate::flickr::signing::form_pairs;

/// Starts the server on `listener` and spawns it on the current tokio runtime.
pub(crate) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<ServerHandle> {
    let data = web::Data::from(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::warn!(%error, "fake Flickr server stopped with an error");
        }
    });
    Ok(handle)
}

fn classify(method: &str, path: &str) -> Endpoint {
    let get_or_post = method == "GET" || method == "POST";
    match path.trim_end_matches('/') {
        "/services/oauth/request_token" if get_or_post => Endpoint::RequestToken,
        "/services/oauth/authorize" if get_or_post => Endpoint::Authorize,
        "/services/oauth/access_token" if get_or_post => Endpoint::AccessToken,
        "/services/rest" if get_or_post => Endpoint::Rest,
        "/services/upload" if method == "POST" => Endpoint::Upload,
        _ => Endpoint::Other,
    }
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let http_method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let endpoint = classify(&http_method, &path);
    let body = body::read(&req, payload).await;
    if body.cut_off {
        tracing::debug!(%http_method, %path, "fake Flickr: request body cut off; ignored");
        return HttpResponse::BadRequest().finish();
    }
    let query = form_pairs(req.query_string());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = format!("http://{host}{path}");
    let mut args = query.clone();
    args.extend(body.fields.iter().cloned());
    let flickr_method = (endpoint == Endpoint::Rest)
        .then(|| {
            args.iter()
                .find(|(n, _)| n == "method")
                .map(|(_, v)| v.clone())
        })
        .flatten();

    let (kind, shape) = match endpoint {
        Endpoint::RequestToken => (Some(TokenKind::None), Shape::OAuth),
        Endpoint::AccessToken => (Some(TokenKind::Request), Shape::OAuth),
        Endpoint::Rest | Endpoint::Upload => (Some(TokenKind::Access), Shape::Api),
        Endpoint::Authorize | Endpoint::Other => (None, Shape::OAuth),
    };
    let (verification, base_string) = match kind {
        Some(kind) => {
            let incoming = Incoming {
                http_method: &http_method,
                url: &url,
                authorization: authorization.as_deref(),
                query: &query,
                fields: &body.fields,
            };
            let (result, base) = oauth::verify(&shared, &incoming, kind, shape);
            (Some(result), base)
        }
        None => (None, None),
    };

    let fault = {
        let mut state = shared.state();
        state.record(RecordedRequest {
            endpoint,
            http_method: http_method.clone(),
            path: path.clone(),
            flickr_method: flickr_method.clone(),
            authorization: authorization.clone(),
            params: args.clone(),
            files: body.files.clone(),
            verification: match &verification {
                None => super::Verification::NotSigned,
                Some(Ok(_)) => super::Verification::Verified,
                Some(Err(refusal)) => super::Verification::Refused(refusal.label()),
            },
            base_string,
        });
        state.take_fault(endpoint, flickr_method.as_deref())
    };
    tracing::debug!(?endpoint, %http_method, %path, method = ?flickr_method, fault = ?fault, "fake Flickr request");

    let xml_api = endpoint == Endpoint::Upload;
    match fault {
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(kind) => return fault_response(&kind, endpoint, xml_api),
        None => {}
    }
    let verified = match verification {
        Some(Err(refusal)) => return wire::refusal(&refusal, xml_api),
        Some(Ok(verified)) => Some(verified),
        None => None,
    };
    match (endpoint, verified) {
        (Endpoint::Authorize, _) => authorize::respond(&shared, &args, http_method == "POST"),
        (Endpoint::RequestToken, Some(verified)) => request_token(&shared, &verified),
        (Endpoint::AccessToken, Some(verified)) => access_token(&shared, &verified),
        (Endpoint::Rest, Some(verified)) => {
            let call = rest::Call {
                shared: &shared,
                http_method: &http_method,
                args: &args,
                token: verified.token.as_deref(),
            };
            let result = match &flickr_method {
                Some(method) => rest::handle(&call, method),
                None => Err((112, "Method \"\" not found".to_owned())),
            };
            wire::rest(Format::of(&args), result)
        }
        (Endpoint::Upload, Some(verified)) => {
            match rest::upload(&shared, verified.token.as_deref(), &body) {
                Ok(id) => wire::xml_photo_id(&id),
                Err((code, message)) => wire::xml_fail(code, &message),
            }
        }
        _ => wire::html(404, "Page not found", "<p>This is not a Flickr page.</p>"),
    }
}

/// Leg 1: a request token for `oauth_callback` (required; `oob` for none).
fn request_token(shared: &Shared, verified: &Verified) -> HttpResponse {
    let Some(callback) = verified.protocol_param("oauth_callback") else {
        return wire::refusal(
            &Refusal::OAuth {
                problem: "parameter_absent",
                extra: vec![("oauth_parameters_absent", "oauth_callback".to_owned())],
            },
            false,
        );
    };
    let (token, secret) = shared.state().issue_request_token(callback);
    wire::form(&[
        ("oauth_callback_confirmed", "true"),
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
    ])
}

/// Leg 3: the request token (already checked unspent by the verifier) and
/// its verifier, for an access token. The request token is spent on success.
fn access_token(shared: &Shared, verified: &Verified) -> HttpResponse {
    let token = verified.token.as_deref().unwrap_or_default();
    let presented = verified.protocol_param("oauth_verifier");
    let mut state = shared.state();
    let Some(request) = state.request_tokens.get_mut(token) else {
        return wire::refusal(
            &Refusal::OAuth {
                problem: "token_rejected",
                extra: Vec::new(),
            },
            false,
        );
    };
    let perms = match &request.leg {
        Leg::Allowed { verifier, perms } if Some(verifier.as_str()) == presented => *perms,
        Leg::Allowed { .. } => {
            drop(state);
            return wire::refusal(
                &Refusal::OAuth {
                    problem: "verifier_invalid",
                    extra: Vec::new(),
                },
                false,
            );
        }
        // Not yet authorized, denied or used.
        _ => {
            drop(state);
            return wire::refusal(
                &Refusal::OAuth {
                    problem: "token_rejected",
                    extra: Vec::new(),
                },
                false,
            );
        }
    };
    request.leg = Leg::Used;
    let (access, secret) = state.issue_access_token(perms);
    drop(state);
    let config = &shared.config;
    wire::form(&[
        ("fullname", &config.fullname),
        ("oauth_token", &access),
        ("oauth_token_secret", &secret),
        ("user_nsid", &config.user_nsid),
        ("username", &config.username),
    ])
}

fn fault_response(kind: &FaultKind, endpoint: Endpoint, xml_api: bool) -> HttpResponse {
    match kind {
        FaultKind::Stat { code, message } if endpoint == Endpoint::Upload => {
            wire::xml_fail(*code, message)
        }
        FaultKind::Stat { code, message } => {
            wire::rest(Format::Json, Err((*code, message.clone())))
        }
        FaultKind::OAuthProblem(problem) => {
            let body = format!("oauth_problem={problem}");
            HttpResponse::Unauthorized()
                .content_type("text/plain;charset=UTF-8")
                .body(body)
        }
        FaultKind::Http(status) => wire::error_page(*status),
        FaultKind::RateLimited { retry_after } => {
            let mut response = wire::error_page(429);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(*seconds));
            }
            response
        }
        FaultKind::TruncatedBody if xml_api => HttpResponse::Ok()
            .content_type("text/xml; charset=utf-8")
            .body("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rsp stat=\"ok\">\n<photo"),
        FaultKind::TruncatedBody => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .body("{\"photo\":{\"id\":"),
        FaultKind::Delay(_) => HttpResponse::InternalServerError().finish(),
    }
}
