//! Middleware around every route: request ids, panics, metrics, HEAD,
//! CORS. The edge checks are in [`super::edge`].

use crate::api::{Problem, ProblemKind};
use crate::metrics::Metrics;
use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::FutureExt;
use rand::RngCore;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The header carrying a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id: the client's `X-Request-Id` when it is sensible, else a
/// new one. Log lines of the request carry it (see `startup`'s span).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_request(req: &ServiceRequest) -> Self {
        let given = req
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=128).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            });
        Self(given.map(str::to_owned).unwrap_or_else(Self::generate))
    }

    /// 32 hex digits: a random prefix chosen once per process, then a
    /// counter (cheaper than fresh randomness per request, and unique).
    fn generate() -> String {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = PREFIX.get_or_init(|| rand::rng().next_u64());
        format!(
            "{prefix:016x}{:016x}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Gives every request an id and every answer an `X-Request-Id`, errors
/// from inside (such as [`catch_panics`]' 500) included.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_request(&req);
    let value = HeaderValue::from_str(&id.0).ok();
    req.extensions_mut().insert(id);
    let outcome = next.call(req).await;
    let Some(value) = value else {
        return outcome;
    };
    edit_headers(outcome, |headers| {
        headers.insert(X_REQUEST_ID, value);
    })
}

/// Changes the headers of an answer, also of an error from inside:
/// actix renders an error only after the last middleware, and the request
/// is gone by then (a `ServiceResponse` needs it), so the error is rendered
/// here and the finished response passed on inside the error.
pub fn edit_headers<B>(
    outcome: Result<ServiceResponse<B>, actix_web::Error>,
    edit: impl FnOnce(&mut HeaderMap),
) -> Result<ServiceResponse<B>, actix_web::Error> {
    match outcome {
        Ok(mut response) => {
            edit(response.headers_mut());
            Ok(response)
        }
        Err(error) => {
            let mut response = error.error_response();
            edit(response.headers_mut());
            Err(InternalError::from_response(error, response).into())
        }
    }
}

/// Answers a panic of anything inside it with a 500 problem instead of a
/// dropped connection; the worker goes on serving. The client learns
/// nothing of the panic. It logs nothing itself: [`report_panic`] has
/// already logged the panic, with its location, inside the request's span
/// (so with the request id), and a second line would only repeat it.
///
/// The answer is an error, not a response: a response needs the request,
/// and a clone of it held across the call would make actix's router panic
/// (it needs the only reference to mutate the request).
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The call is inside the future so that the synchronous part of the
    // middleware inside (tracing, CORS) is caught too. Unwind safety: such
    // a panic unwound just as far before this catch existed (tokio caught
    // it and the connection was dropped); only the answer changes.
    let outcome = AssertUnwindSafe(async move { next.call(req).await })
        .catch_unwind()
        .await;
    outcome.unwrap_or_else(|_panic| {
        Err(Problem::new(
            ProblemKind::Internal,
            "an internal error occurred; the gateway's log has the details under this request's X-Request-Id",
        )
        .into())
    })
}

/// The panic hook `main` installs: reports a panic (message and location)
/// as an `error` event, so it follows `PIXGATE_LOG_FORMAT` and carries the
/// current span (a request's id), instead of the default hook's raw line on
/// stderr. Logging the message is safe: secrets are
/// [`Secret`](crate::secret::Secret)s, whose `Display` and `Debug` print a
/// placeholder.
pub fn report_panic(info: &PanicHookInfo<'_>) {
    // `payload_as_str` would do this, but is newer than our rust-version.
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)");
    let location = info.location().map(tracing::field::display);
    tracing::error!(panic.location = location, "panicked: {message}");
}

/// Counts and times every answered request by route pattern (not by
/// path, which would make one series per image id).
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let abandoned = Abandoned(metrics.clone().map(|m| (m, method.clone())));
    let response = next.call(req).await;
    abandoned.answered();
    let response = response?;
    if let Some(metrics) = metrics {
        // After routing the pattern is an index lookup; before, a regex match.
        let route = response.request().match_pattern();
        metrics.http_request(
            route.as_deref().unwrap_or("unmatched"),
            method.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// Counts a request whose future is dropped before it was answered: the
/// client went away and actix-web cancelled the handler (work that must
/// finish runs in tasks of its own, see `Gateway`). By method only: the
/// route pattern is known only to the request, which must not be cloned
/// before routing.
struct Abandoned(Option<(web::Data<Metrics>, Method)>);

impl Abandoned {
    /// The request was answered (or failed): nothing to count.
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some((metrics, method)) = self.0.take() {
            metrics.http_request_abandoned(method.as_str());
        }
    }
}

/// Serves HEAD like GET; actix-http leaves the body out of HEAD answers.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// CORS for the configured browser origins only; none means no
/// cross-origin access at all (no CORS headers are sent).
pub fn cors(origins: &[String]) -> Cors {
    let cors = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::CACHE_CONTROL,
            X_REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            X_REQUEST_ID,
            HeaderName::from_static("x-cache"),
            HeaderName::from_static("x-ratelimit-userremaining"),
            HeaderName::from_static("x-ratelimit-clientremaining"),
            header::LINK,
            HeaderName::from_static("x-pixgate-ledger"),
            HeaderName::from_static("x-pixgate-skipped-images"),
        ])
        .max_age(600);
    cors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::startup::PathOnlySpan;
    use actix_web::middleware::from_fn;
    use actix_web::{test, App, HttpResponse};
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_actix_web::TracingLogger;
    use tracing_subscriber::fmt::MakeWriter;

    const SECRET_VALUE: &str = "refresh-token-that-must-never-leak";
    const PANIC_MESSAGE: &str = "refreshing with";

    async fn panics() -> HttpResponse {
        panic!("{PANIC_MESSAGE} {} failed", Secret::new(SECRET_VALUE));
    }

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Logs {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().expect("logs lock").clone();
            String::from_utf8(bytes)
                .expect("UTF-8 logs")
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("logs lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Logs {
        type Writer = Logs;

        fn make_writer(&self) -> Logs {
            self.clone()
        }
    }

    /// Installs [`report_panic`] as `main` does, with the previous hook
    /// after it: the hook is process-wide, and other tests' failures must
    /// still print.
    fn install_panic_hook() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report_panic(info);
            previous(info);
        }));
    }

    #[actix_web::test]
    async fn a_panicking_handler_is_answered_500_and_logged_without_secrets_and_the_next_request_is_served(
    ) {
        // Arrange: logs at TRACE on this thread, which runs the service too.
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        install_panic_hook();
        // The outermost three of `startup`'s middleware, in its order.
        let app = test::init_service(
            App::new()
                .wrap(TracingLogger::<PathOnlySpan>::new())
                .wrap(from_fn(catch_panics))
                .wrap(from_fn(request_id))
                .route("/panics", web::get().to(panics))
                .route("/works", web::get().to(HttpResponse::Ok)),
        )
        .await;

        // Act
        let error =
            test::try_call_service(&app, test::TestRequest::get().uri("/panics").to_request())
                .await
                .err()
                .expect("the panic is answered with an error");
        // What actix's dispatcher sends for an error.
        let panicked = error.error_response();
        let works =
            test::call_service(&app, test::TestRequest::get().uri("/works").to_request()).await;

        // Assert
        assert_eq!(panicked.status(), 500);
        assert_eq!(
            panicked.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let request_id = panicked
            .headers()
            .get(&X_REQUEST_ID)
            .expect("the 500 carries X-Request-Id")
            .to_str()
            .unwrap()
            .to_owned();
        let body = actix_web::body::to_bytes(panicked.into_body())
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let problem: serde_json::Value = serde_json::from_str(&body).expect("JSON problem");
        assert_eq!(problem["type"], "urn:pixgate:problem:internal");
        assert_eq!(problem["status"], 500);
        assert!(!body.contains(SECRET_VALUE), "secret in body: {body}");
        assert!(
            !body.contains(PANIC_MESSAGE),
            "panic message in body: {body}"
        );
        assert_eq!(works.status(), 200, "the service serves on after a panic");

        let lines = logs.lines();
        assert!(
            lines.iter().all(|line| !line.contains(SECRET_VALUE)),
            "secret in logs: {lines:#?}"
        );
        let reports: Vec<_> = lines
            .iter()
            .filter(|line| line.contains("panicked"))
            .collect();
        assert_eq!(reports.len(), 1, "one report of the panic: {lines:#?}");
        assert!(
            reports[0].contains(&request_id) && reports[0].contains("src/api/middleware.rs"),
            "the report names the request id and the location: {}",
            reports[0]
        );
    }
}
