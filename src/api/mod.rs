//! The local HTTP API: the route table ([`configure`]), its OpenAPI document
//! ([`openapi`]), and one module per resource. Handlers parse input into
//! typed values, call one [`Gateway`](crate::gateway::Gateway) operation and
//! map its result; errors become [`Problem`]s.

mod account;
mod albums;
pub mod api_key;
mod auth;
pub mod edge;
mod favorites;
mod flickr;
mod health;
mod images;
pub mod middleware;
mod pages;
pub mod problem;
mod schemas;
mod uploads;

pub use api_key::ApiKey;
pub use problem::{Problem, ProblemKind};

use crate::gateway::Deleted;
use crate::imgur::Reply;
use crate::ledger::{Recording, LEDGER_HEADER};
use crate::model::Paging;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_actix_web::{scope, service_config::ServiceConfig, AppExt};

/// Largest JSON body accepted by endpoints other than the upload: room for
/// every body the schemas allow, e.g. two 64 Ki-character fields written as
/// `\uXXXX` surrogate pairs (12 bytes a character).
pub const JSON_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// Registers every documented route; the same function feeds the server and
/// the OpenAPI document, so the two cannot drift.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(auth::start_login)
        .service(auth::login_callback)
        .service(auth::finish_token_login)
        .service(auth::login_with_pin)
        .service(auth::login_with_refresh_token)
        .service(auth::log_out)
        .service(auth::auth_status)
        .service(
            scope::scope("/v1")
                .service(account::account)
                .service(account::rate_limits)
                .service(favorites::list_favorites)
                .service(images::upload)
                .service(images::get_image)
                .service(images::update_image)
                .service(images::delete_image)
                .service(favorites::add_favorite)
                .service(favorites::remove_favorite)
                .service(favorites::toggle_favorite)
                .service(albums::create_album)
                .service(albums::get_album)
                .service(albums::update_album)
                .service(albums::delete_album)
                .service(albums::add_album_images)
                .service(albums::remove_album_image)
                .service(albums::add_album_favorite)
                .service(albums::remove_album_favorite)
                .service(account::account_albums)
                .service(account::account_images)
                .service(account::account_images_count)
                .service(uploads::list_uploads),
        )
        .service(flickr::auth::flickr_login)
        .service(flickr::auth::flickr_login_callback)
        .service(flickr::auth::flickr_login_with_token)
        .service(flickr::auth::flickr_auth_status)
        .service(flickr::auth::flickr_logout)
        .service(flickr::photos::flickr_upload)
        .service(flickr::photos::flickr_get_photo)
        .service(flickr::photos::flickr_update_photo)
        .service(flickr::photos::flickr_delete_photo)
        .service(flickr::photos::flickr_add_favorite)
        .service(flickr::photos::flickr_remove_favorite)
        .service(flickr::photos::flickr_list_favorites);
}

/// Extractor settings that turn bad paths, queries and JSON into problems.
pub fn extractor_config(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT_BYTES)
            .error_handler(|err, _| {
                let problem = match &err {
                    actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                    | actix_web::error::JsonPayloadError::Overflow { .. } => Problem::new(
                        ProblemKind::PayloadTooLarge,
                        format!("JSON bodies are limited to {JSON_LIMIT_BYTES} bytes"),
                    ),
                    actix_web::error::JsonPayloadError::ContentType => Problem::new(
                        ProblemKind::UnsupportedMediaType,
                        "send the body as application/json",
                    ),
                    other => Problem::invalid(format!("invalid JSON body: {other}")),
                };
                problem.into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| Problem::invalid(format!("invalid query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| Problem::invalid(format!("invalid path: {err}")).into()),
    );
}

/// Routes outside the OpenAPI document (static files).
pub fn configure_static(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/callback.js", web::get().to(auth::callback_script));
}

/// Any request no route took: 405 for a documented path with another
/// method, else 404.
pub async fn not_found(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, Problem> {
    match routes.methods_for(req.path()) {
        Some(allow) => Err(Problem::method_not_allowed(
            req.method().as_str(),
            req.path(),
            allow,
        )),
        None => Err(Problem::new(
            ProblemKind::NotFound,
            format!("no route for {} {}; see /docs/", req.method(), req.path()),
        )),
    }
}

/// The documented paths and the methods each takes, for 405 answers.
pub struct RouteTable(Vec<(Vec<String>, String)>);

impl RouteTable {
    /// Reads the paths of the OpenAPI document (the route table's own record).
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods: Vec<&str> = [
                    ("GET, HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (segments, methods.join(", "))
            })
            .collect();
        Self(routes)
    }

    /// The methods `path` takes, when it is a documented path.
    fn methods_for(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .map(|(_, methods)| methods.clone())
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pixgate",
        description = "A local REST gateway to Imgur and Flickr. pixgate holds the apps' credentials and the user's tokens, refreshes Imgur's access tokens transparently, signs every Flickr call (OAuth 1.0a), caches favorites, and answers with Imgur's `data` unwrapped from its envelope and Flickr photos in one schema. Errors are `application/problem+json` (RFC 9457).",
        license(name = "MIT")
    ),
    tags(
        (name = "images", description = "Upload, read, update and delete images"),
        (name = "favorites", description = "The account's favorites (cached) and favoriting images"),
        (name = "albums", description = "Albums: create, read, update, delete, their images, favoriting them, and the account's albums"),
        (name = "uploads", description = "The upload ledger: every image and album made through pixgate, with its deletehash"),
        (name = "account", description = "The authorized account, its images, and Imgur's rate limits and the credit reserve"),
        (name = "auth", description = "Authorizing an Imgur account: browser login, PIN, an existing refresh token"),
        (name = "flickr", description = "Flickr photos: upload, read, update, delete, favoriting, and the user's favorites (cached). Needs FLICKR_API_KEY"),
        (name = "flickr-auth", description = "Authorizing a Flickr account: browser login, an existing token. Needs FLICKR_API_KEY"),
        (name = "health", description = "Liveness, readiness and metrics")
    ),
    components(schemas(Problem))
)]
struct ApiDoc;

/// The OpenAPI document of every registered route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    document_shared_responses(&mut doc);
    doc
}

/// Adds what operations share, so each route documents only its own
/// answers: on every operation the API-key guard covers, the bearer API
/// key and its 401; on every operation, the edge checks' 403 (a `Host` not
/// allowed, or an unsafe request from another origin); on `/v1`, the
/// problems any of them can answer (no authorization, Imgur's failures);
/// on the image routes, a bad id and a missing image; on every operation
/// with a JSON body, the 413 and 415 its extractor can answer.
fn document_shared_responses(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The gateway's PIXGATE_API_KEY, when one is configured.",
                ))
                .build(),
        ),
    );
    let unauthorized = (
        "401",
        "PIXGATE_API_KEY is set and the request's key is missing or wrong",
    );
    let edge_refusal = "The Host header names a host this gateway does not answer to (`host-not-allowed`), or an unsafe request came from a web page of another origin (`cross-origin-refused`)";
    let shared = [
        (
            "403",
            "No user authorization (or it was revoked; `authorization-required`), Imgur refused this account the request (`forbidden`), Imgur refuses this network or region (`blocked-by-imgur`), or the edge checks refused it (`host-not-allowed`, `cross-origin-refused`)",
        ),
        (
            "429",
            "Imgur's rate limit was reached (`rate-limited`), or the call would dip into the credit reserve and did not reach Imgur (`credit-reserve`); see Retry-After",
        ),
        (
            "500",
            "A local failure (disk); details are in the gateway's log",
        ),
        (
            "502",
            "Imgur failed, answered something unreadable, or could not be reached",
        ),
        (
            "503",
            "Imgur is over capacity (`upstream-over-capacity`), or, with PIXGATE_REDIS_URL, Redis is unreachable and the call needed it (`store-unavailable`); see Retry-After",
        ),
        ("504", "Imgur did not answer in time"),
    ];
    let image_routes = [
        (
            "400",
            "The id is not 1 to 32 ASCII letters and digits (nothing reached Imgur)",
        ),
        ("404", "Imgur has no such image"),
    ];
    let album_routes = [
        (
            "400",
            "An id is not 1 to 32 ASCII letters and digits (nothing reached Imgur)",
        ),
        ("404", "Imgur has no such album"),
    ];
    let flickr_off = (
        "404",
        "FLICKR_API_KEY is not set (`provider-not-configured`), or Flickr has no such photo (`not-found`)",
    );
    let flickr_shared = [
        (
            "403",
            "No Flickr authorization, or Flickr rejected the token (`authorization-required`); the token's perms are too low (`forbidden`, naming the perms to authorize); or the edge checks refused it",
        ),
        ("429", "Flickr is rate limiting this app; see Retry-After"),
        (
            "500",
            "A local failure (disk); details are in the gateway's log",
        ),
        (
            "502",
            "Flickr failed, refused the signature or timestamp, rejected the app's key (`client-credentials-rejected`), or could not be reached",
        ),
        ("503", "Flickr is temporarily unavailable; see Retry-After"),
        ("504", "Flickr did not answer in time"),
    ];
    let flickr_photo_routes = [(
        "400",
        "The id is not 1 to 20 digits (nothing reached Flickr)",
    )];
    let body_limits = [
        ("413", "The body is larger than this operation accepts"),
        (
            "415",
            "The body is not of a media type this operation accepts",
        ),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations: [&mut Option<Operation>; 5] = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let mut documented: Vec<(&str, &str)> = Vec::new();
            if api_key::needs_key(path) {
                operation.security = Some(vec![SecurityRequirement::new(
                    "api_key",
                    Vec::<String>::new(),
                )]);
                documented.push(unauthorized);
            }
            if path.starts_with("/v1/") {
                documented.extend(shared);
            }
            if path.starts_with("/v1/images/{id}") {
                documented.extend(image_routes);
            }
            if path.starts_with("/v1/albums/{id}") {
                documented.extend(album_routes);
            }
            if path.starts_with(flickr::PREFIX) {
                documented.push(flickr_off);
            }
            if path.starts_with("/flickr/v1/") {
                documented.extend(flickr_shared);
            }
            if path.starts_with("/flickr/v1/photos/{id}") {
                documented.extend(flickr_photo_routes);
            }
            let takes_json = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.contains_key("application/json"));
            if takes_json {
                documented.extend(body_limits);
            }
            for (status, description) in documented {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(problem_response(description)));
            }
            if !edge::ANY_HOST_PATHS.contains(&path.as_str()) {
                add_problem_answer(operation, "403", edge_refusal);
            }
        }
    }
}

/// Documents `status` as a problem too, beside what the operation already
/// answers with it (such as the callback's HTML pages).
fn add_problem_answer(operation: &mut Operation, status: &str, description: &str) {
    let response = operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(problem_response(description)));
    if let RefOr::T(response) = response {
        response
            .content
            .entry(problem::PROBLEM_JSON.to_owned())
            .or_insert_with(|| {
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build()
            });
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            problem::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Sets [`LEDGER_HEADER`] to what the ledger did.
fn ledger_header(headers: &mut header::HeaderMap, recording: Recording) {
    if let Ok(name) = header::HeaderName::try_from(LEDGER_HEADER) {
        headers.insert(name, header::HeaderValue::from_static(recording.as_str()));
    }
}

/// 204 for a deletion, with Imgur's rate limits and the ledger's outcome.
fn deleted_response(deleted: &Deleted) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    problem::copy_rate_limits(&mut response, &deleted.reply.rate_limits);
    let mut response = response.finish();
    if let Some(recording) = deleted.ledger {
        ledger_header(response.headers_mut(), recording);
    }
    response
}

/// `Link: <path?page=..&per_page=..>; rel="next"` (RFC 8288), with the
/// list's other query parameters.
fn next_link(
    response: &mut HttpResponseBuilder,
    path: &str,
    next: Paging,
    query: &[(&str, String)],
) {
    let mut target = format!("{path}?");
    for (name, value) in query {
        target.push_str(&format!("{name}={value}&"));
    }
    target.push_str(&format!("page={}&per_page={}", next.page, next.per_page));
    response.insert_header((header::LINK, format!("<{target}>; rel=\"next\"")));
}

/// A JSON response carrying Imgur's `data` and rate-limit headers.
fn imgur_json(status: StatusCode, reply: &Reply<Bytes>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, "application/json"));
    problem::copy_rate_limits(&mut response, &reply.rate_limits);
    response.body(reply.data.clone())
}
