//! The Flickr client against the fake Flickr, which verifies every
//! signature: each test asserts what the fake received, verified and holds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pixgate::fake_flickr::{
    Consent, Endpoint, FakeFlickr, FakeFlickrConfig, Fault, FaultKind, Verification,
};
use pixgate::flickr::signing::{self, Credentials, Freshness, Protocol, SystemFreshness};
use pixgate::flickr::{
    Error, FavoriteChange, FlickrClient, FlickrConfig, MetaUpdate, PageRequest, Perms, PhotoId,
    PhotoUpload, RequestToken, SafetyLevel, Token, UploadFields,
};
use pixgate::secret::Secret;
use sha2::{Digest, Sha256};

/// A fake Flickr, a client pointed at it and the fake's seeded token.
struct Flickr {
    fake: FakeFlickr,
    client: FlickrClient,
    token: Token,
}

async fn start() -> Flickr {
    start_with(FakeFlickrConfig::default()).await
}

async fn start_with(config: FakeFlickrConfig) -> Flickr {
    let fake = FakeFlickr::start(config)
        .await
        .expect("the fake Flickr starts");
    let client = client_for(&fake, |_| {});
    let config = fake.config();
    let token = Token::new(&config.access_token, &config.access_token_secret);
    Flickr {
        fake,
        client,
        token,
    }
}

/// A client for `fake`, after `adjust` changed its configuration.
fn client_for(fake: &FakeFlickr, adjust: impl FnOnce(&mut FlickrConfig)) -> FlickrClient {
    let mut config = FlickrConfig::new(
        Secret::new(&fake.config().api_key),
        Secret::new(&fake.config().api_secret),
    )
    .with_base_url(&fake.base_url());
    config.timeout = Duration::from_secs(10);
    adjust(&mut config);
    FlickrClient::new(config).expect("the client builds")
}

fn id(raw: &str) -> PhotoId {
    PhotoId::parse(raw).expect("a photo id")
}

/// Every request the fake received was signed correctly.
fn assert_all_verified(fake: &FakeFlickr) {
    for request in fake.requests() {
        if request.endpoint != Endpoint::Authorize {
            assert_eq!(
                request.verification,
                Verification::Verified,
                "{} {} {:?}",
                request.http_method,
                request.path,
                request.flickr_method
            );
        }
    }
}

/// The last request the fake received.
fn last(fake: &FakeFlickr) -> pixgate::fake_flickr::RecordedRequest {
    fake.requests().pop().expect("a request")
}

/// A fixed timestamp, and a fixed nonce if given.
struct TestFreshness {
    nonce: Option<&'static str>,
    timestamp: u64,
}

impl Freshness for TestFreshness {
    fn nonce(&self) -> String {
        self.nonce
            .map(str::to_owned)
            .unwrap_or_else(|| SystemFreshness.nonce())
    }

    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// Loads the authorize page like a browser, clicks Allow on the consent
/// page, and returns the verifier Flickr shows (the oob flow).
async fn allow_in_browser(authorize_url: &str) -> String {
    let browser = reqwest::Client::new();
    let page = browser
        .get(authorize_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"allow\""), "{page}");
    assert!(page.contains("id=\"deny\""), "{page}");
    assert!(!page.contains("<script"), "the consent page has no script");
    let token = between(&page, "name=\"oauth_token\" value=\"", "\"");
    let base = authorize_url.split("/services/").next().unwrap();
    let answer = browser
        .post(format!("{base}/services/oauth/authorize"))
        .form(&[
            ("oauth_token", token.as_str()),
            ("perms", "delete"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    between(&answer, "<code id=\"verifier\">", "</code>")
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = text[from..].find(end).expect("the end marker") + from;
    text[from..to].to_owned()
}

#[tokio::test]
async fn the_oob_flow_gives_a_delete_token_for_the_seeded_account() {
    let Flickr { fake, client, .. } = start().await;

    let request_token = client.request_token("oob").await.unwrap();
    let url = client.authorize_url(&request_token, Perms::Delete);
    assert!(url.contains("perms=delete"), "{url}");
    assert!(
        !url.contains("oauth_signature"),
        "the authorize URL is not signed: {url}"
    );
    let verifier = allow_in_browser(&url).await;
    assert_eq!(verifier.len(), 11, "{verifier}");
    assert_eq!(verifier.matches('-').count(), 2, "dashes kept: {verifier}");

    let authorization = client
        .access_token(&request_token, &verifier)
        .await
        .unwrap();
    assert_eq!(authorization.user_nsid, "12345678@N00");
    assert_eq!(authorization.username, "demo");
    assert_eq!(authorization.fullname, "Demo User");
    let check = client.check_token(&authorization.token).await.unwrap();
    assert_eq!(check.perms, Perms::Delete);
    assert_eq!(check.user_nsid, "12345678@N00");

    let leg1 = &fake.requests()[0];
    assert_eq!(leg1.endpoint, Endpoint::RequestToken);
    let header = leg1.authorization.as_deref().unwrap();
    assert!(header.contains("oauth_callback=\"oob\""), "{header}");
    assert!(
        !header.contains("oauth_token="),
        "no token in leg 1: {header}"
    );
    let leg3 = fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::AccessToken)
        .unwrap();
    let header = leg3.authorization.unwrap();
    assert!(
        header.contains(&format!("oauth_verifier=\"{verifier}\"")),
        "{header}"
    );
    assert_all_verified(&fake);
}

#[tokio::test]
async fn the_callback_flow_redirects_with_the_token_and_a_verifier() {
    let Flickr { fake, client, .. } = start().await;
    fake.set_consent(Consent::Allow);
    let callback = "http://127.0.0.1:9/flickr/auth/callback?from=test";

    let request_token = client.request_token(callback).await.unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .get(client.authorize_url(&request_token, Perms::Delete))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{callback}&oauth_token=")),
        "{location}"
    );
    let pairs = signing::query_pairs(&location);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("oauth_token").as_deref(),
        Some(request_token.0.token.expose())
    );
    let verifier = get("oauth_verifier").expect("a verifier");

    let authorization = client
        .access_token(&request_token, &verifier)
        .await
        .unwrap();
    assert_eq!(
        client
            .test_login(&authorization.token)
            .await
            .unwrap()
            .username,
        "demo"
    );
    assert_all_verified(&fake);
}

#[tokio::test]
async fn a_request_token_is_single_use_and_its_reuse_is_token_rejected() {
    let Flickr { fake, client, .. } = start().await;
    fake.set_consent(Consent::Allow);
    let request_token = client.request_token("oob").await.unwrap();
    let page = reqwest::get(client.authorize_url(&request_token, Perms::Write))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = between(&page, "<code id=\"verifier\">", "</code>");

    let first = client
        .access_token(&request_token, &verifier)
        .await
        .unwrap();
    let again = client.access_token(&request_token, &verifier).await;

    assert!(matches!(again, Err(Error::TokenRejected)), "{again:?}");
    assert_eq!(fake.calls(Endpoint::AccessToken), 2, "never retried");
    assert_eq!(
        client.check_token(&first.token).await.unwrap().perms,
        Perms::Write,
        "the token has the perms the user granted"
    );
}

#[tokio::test]
async fn a_denied_request_token_cannot_be_exchanged() {
    let Flickr { fake, client, .. } = start().await;
    fake.set_consent(Consent::Deny);
    let request_token = client.request_token("oob").await.unwrap();
    let page = reqwest::get(client.authorize_url(&request_token, Perms::Delete))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"denied\""), "{page}");

    let result = client.access_token(&request_token, "123-456-789").await;
    assert!(matches!(result, Err(Error::TokenRejected)), "{result:?}");
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_the_right_one_still_works() {
    let Flickr { fake, client, .. } = start().await;
    fake.set_consent(Consent::Allow);
    let request_token = client.request_token("oob").await.unwrap();
    let page = reqwest::get(client.authorize_url(&request_token, Perms::Delete))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = between(&page, "<code id=\"verifier\">", "</code>");

    let wrong = client.access_token(&request_token, "000-000-000").await;
    assert!(matches!(wrong, Err(Error::VerifierInvalid)), "{wrong:?}");
    assert!(client.access_token(&request_token, &verifier).await.is_ok());
}

#[tokio::test]
async fn an_authorize_url_without_valid_perms_is_refused_by_flickr() {
    let Flickr { client, .. } = start().await;
    let request_token = client.request_token("oob").await.unwrap();
    let url = client
        .authorize_url(&request_token, Perms::Delete)
        .replace("perms=delete", "perms=admin");
    let answer = reqwest::get(url).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("doesn't recognise the permission set"));
}

#[tokio::test]
async fn check_token_passes_the_token_as_an_argument_in_a_post_body() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;

    let check = client.check_token(&token).await.unwrap();

    assert_eq!(check.perms, Perms::Delete);
    assert_eq!(check.username, "demo");
    let request = last(&fake);
    assert_eq!(
        request.flickr_method.as_deref(),
        Some("flickr.auth.oauth.checkToken")
    );
    assert_eq!(
        request.http_method, "POST",
        "the token stays out of the URL"
    );
    assert_eq!(request.param("oauth_token"), Some(token.token.expose()));
    assert_eq!(request.param("format"), Some("json"));
    assert_eq!(request.param("nojsoncallback"), Some("1"));
    assert_all_verified(&fake);
}

#[tokio::test]
async fn test_login_names_the_tokens_user() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let user = client.test_login(&token).await.unwrap();
    assert_eq!(
        (user.user_nsid.as_str(), user.username.as_str()),
        ("12345678@N00", "demo")
    );
    assert_eq!(fake.method_calls("flickr.test.login"), 1);
    assert_eq!(last(&fake).http_method, "GET");
}

#[tokio::test]
async fn get_info_maps_a_photo_to_the_schema() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let own = fake.own_photo_ids()[0].clone();
    let favorite = fake.favorite_ids()[0].clone();

    let photo = client.photo(&token, &id(&own)).await.unwrap();
    let liked = client.photo(&token, &id(&favorite)).await.unwrap();

    let stored = fake.photo(&own).unwrap();
    assert_eq!(photo.id, own);
    assert_eq!(photo.title.as_deref(), Some(stored.title.as_str()));
    assert_eq!(
        photo.description.as_deref(),
        Some(stored.description.as_str())
    );
    assert_eq!(photo.owner, "12345678@N00");
    assert_eq!(photo.username.as_deref(), Some("demo"));
    assert_eq!(photo.datetime, Some(stored.posted));
    assert_eq!(
        photo.link,
        format!("https://www.flickr.com/photos/12345678@N00/{own}/")
    );
    assert_eq!(
        photo.image_url,
        format!(
            "https://live.staticflickr.com/{}/{own}_{}.jpg",
            stored.server, stored.secret
        )
    );
    assert!(photo.is_public);
    assert_eq!(photo.favorite, Some(false));
    assert_eq!(liked.favorite, Some(true));
    assert_eq!(liked.username.as_deref(), Some("someone"));
    assert_eq!(last(&fake).param("photo_id"), Some(favorite.as_str()));
    assert_all_verified(&fake);
}

#[tokio::test]
async fn get_info_of_an_unknown_photo_is_not_found() {
    let Flickr { client, token, .. } = start().await;
    let result = client.photo(&token, &id("1")).await;
    assert!(matches!(result, Err(Error::NotFound { .. })), "{result:?}");
}

#[tokio::test]
async fn set_meta_sets_the_title_and_keeps_the_description_left_out() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let own = fake.own_photo_ids()[0].clone();
    let description = fake.photo(&own).unwrap().description;
    let update = MetaUpdate::new(Some("Harbour at dusk — ünïcode & co!".into()), None).unwrap();

    client.set_meta(&token, &id(&own), &update).await.unwrap();

    let stored = fake.photo(&own).unwrap();
    assert_eq!(stored.title, "Harbour at dusk — ünïcode & co!");
    assert_eq!(stored.description, description);
    let request = last(&fake);
    assert_eq!(request.http_method, "POST");
    assert_eq!(request.param("description"), None, "not sent");
    assert_all_verified(&fake);
}

#[tokio::test]
async fn set_meta_of_someone_elses_photo_is_not_found() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let theirs = fake.favorite_ids()[0].clone();
    let update = MetaUpdate::new(None, Some("mine now".into())).unwrap();
    let result = client.set_meta(&token, &id(&theirs), &update).await;
    assert!(matches!(result, Err(Error::NotFound { .. })), "{result:?}");
    assert_ne!(fake.photo(&theirs).unwrap().description, "mine now");
}

#[tokio::test]
async fn delete_removes_the_photo_with_a_post() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let own = fake.own_photo_ids()[0].clone();

    client.delete(&token, &id(&own)).await.unwrap();

    assert!(fake.photo(&own).is_none());
    assert_eq!(last(&fake).http_method, "POST");
    let again = client.delete(&token, &id(&own)).await;
    assert!(matches!(again, Err(Error::NotFound { .. })), "{again:?}");
}

#[tokio::test]
async fn a_token_without_delete_perms_gets_insufficient_permissions_and_nothing_is_deleted() {
    let Flickr { fake, client, .. } = start().await;
    let (token, secret) = fake.issue_access_token(Perms::Write);
    let write_only = Token::new(token, secret);
    let own = fake.own_photo_ids()[0].clone();

    let result = client.delete(&write_only, &id(&own)).await;

    let Err(Error::InsufficientPermissions { needed, .. }) = &result else {
        panic!("{result:?}");
    };
    assert_eq!(*needed, Perms::Delete);
    assert!(result.unwrap_err().to_string().contains("perms=delete"));
    assert!(fake.photo(&own).is_some(), "not deleted");
    assert_eq!(fake.method_calls("flickr.photos.delete"), 1);
}

#[tokio::test]
async fn a_revoked_token_is_an_invalid_token() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    fake.revoke_access_token(token.token.expose());

    let login = client.test_login(&token).await;
    let favorites = client.favorites(&token, PageRequest::default()).await;

    assert!(
        matches!(login, Err(Error::InvalidToken { .. })),
        "{login:?}"
    );
    assert!(
        matches!(favorites, Err(Error::InvalidToken { .. })),
        "{favorites:?}"
    );
    let check = client.check_token(&token).await;
    assert!(
        matches!(check, Err(Error::InvalidToken { .. })),
        "{check:?}"
    );
}

#[tokio::test]
async fn favorite_add_and_remove_are_idempotent() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let photo = fake.favorite_ids()[3].clone();

    let removed = client.remove_favorite(&token, &id(&photo)).await.unwrap();
    assert_eq!(removed, FavoriteChange::Changed);
    assert!(!fake.favorite_ids().contains(&photo));
    assert!(!fake.photo(&photo).unwrap().favorite);
    let removed_again = client.remove_favorite(&token, &id(&photo)).await.unwrap();
    assert_eq!(
        removed_again,
        FavoriteChange::Unchanged,
        "not in favorites is a success"
    );

    let added = client.add_favorite(&token, &id(&photo)).await.unwrap();
    assert_eq!(added, FavoriteChange::Changed);
    assert_eq!(fake.favorite_ids()[0], photo, "newest first");
    let added_again = client.add_favorite(&token, &id(&photo)).await.unwrap();
    assert_eq!(
        added_again,
        FavoriteChange::Unchanged,
        "already a favorite is a success"
    );
    assert_eq!(
        fake.favorite_ids().iter().filter(|f| **f == photo).count(),
        1
    );

    assert_eq!(fake.method_calls("flickr.favorites.add"), 2);
    assert_eq!(fake.method_calls("flickr.favorites.remove"), 2);
    assert!(fake
        .requests()
        .iter()
        .filter(|r| r
            .flickr_method
            .as_deref()
            .is_some_and(|m| m.starts_with("flickr.favorites.")))
        .all(|r| r.http_method == "POST"));
    assert_all_verified(&fake);
}

#[tokio::test]
async fn favoriting_your_own_photo_is_refused_with_flickrs_code() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let own = fake.own_photo_ids()[0].clone();
    let result = client.add_favorite(&token, &id(&own)).await;
    assert!(
        matches!(result, Err(Error::Refused { code: 2, .. })),
        "{result:?}"
    );
    assert!(!fake.favorite_ids().contains(&own));
}

#[tokio::test]
async fn favorites_are_listed_page_by_page_with_the_schemas_fields() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;

    let mut listed = Vec::new();
    for page in 1..=3 {
        let answer = client
            .favorites(&token, PageRequest::new(page, 5).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (answer.page, answer.pages, answer.per_page, answer.total),
            (u64::from(page), 3, 5, 12)
        );
        for photo in &answer.photos {
            assert_eq!(photo.favorite, Some(true));
            assert_eq!(photo.username.as_deref(), Some("someone"));
            assert_eq!(photo.owner, "87654321@N00");
            let stored = fake.photo(&photo.id).unwrap();
            assert_eq!(photo.datetime, Some(stored.posted));
            assert_eq!(photo.title.as_deref(), Some(stored.title.as_str()));
        }
        listed.extend(answer.photos.into_iter().map(|p| p.id));
    }

    assert_eq!(listed, fake.favorite_ids());
    let request = last(&fake);
    assert_eq!(request.param("per_page"), Some("5"));
    assert_eq!(request.param("page"), Some("3"));
    assert_eq!(
        request.param("extras"),
        Some("description,owner_name,date_upload")
    );
}

#[tokio::test]
async fn a_page_of_500_is_asked_for_as_is() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let page = client
        .favorites(&token, PageRequest::new(1, 500).unwrap())
        .await
        .unwrap();
    assert_eq!((page.per_page, page.photos.len()), (500, 12));
    assert_eq!(last(&fake).param("per_page"), Some("500"));
}

/// The photo's bytes in `chunks` pieces of `size` bytes each, and their SHA-256.
fn photo_stream(chunks: usize, size: usize) -> (pixgate::flickr::PhotoStream, u64, String) {
    let data: Vec<Bytes> = (0..chunks)
        .map(|c| {
            Bytes::from(
                (0..size)
                    .map(|i| ((i * 31 + c * 7) % 251) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    let mut hasher = Sha256::new();
    for chunk in &data {
        hasher.update(chunk);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stream = futures_util::stream::iter(data.into_iter().map(Ok::<Bytes, std::io::Error>));
    (Box::pin(stream), (chunks * size) as u64, digest)
}

#[tokio::test]
async fn upload_streams_the_photo_intact_and_signs_every_text_field() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let (body, size, sha256) = photo_stream(8, 64 * 1024 + 3);
    let fields = UploadFields {
        title: Some("Sunset ünd Meer".into()),
        description: Some("<b>limited</b> HTML & more".into()),
        tags: Some("sea \"sun set\" 2024".into()),
        is_public: Some(false),
        is_friend: Some(true),
        is_family: Some(false),
        safety_level: Some(SafetyLevel::Moderate),
        hidden: Some(true),
    };

    let photo_id = client
        .upload(
            &token,
            PhotoUpload {
                fields,
                file_name: "sunset.jpg".into(),
                content_type: Some("image/jpeg".into()),
                length: None,
                body,
            },
        )
        .await
        .unwrap();

    let stored = fake.photo(photo_id.as_str()).expect("stored");
    assert_eq!(
        (stored.size, stored.sha256.as_str()),
        (size, sha256.as_str()),
        "bytes intact"
    );
    assert_eq!(stored.title, "Sunset ünd Meer");
    assert_eq!(stored.description, "<b>limited</b> HTML & more");
    assert_eq!(stored.tags, "sea \"sun set\" 2024");
    assert_eq!(
        (stored.is_public, stored.is_friend, stored.is_family),
        (false, true, false)
    );
    assert_eq!((stored.safety_level, stored.hidden), (2, 2));
    assert_eq!(stored.owner, "12345678@N00");
    assert_eq!(stored.file_name.as_deref(), Some("sunset.jpg"));

    let request = last(&fake);
    assert_eq!(request.endpoint, Endpoint::Upload);
    assert_eq!(request.path, "/services/upload/");
    assert_eq!(request.verification, Verification::Verified);
    let base = request.base_string.expect("the fake's base string");
    let signed: Vec<&str> = base
        .splitn(3, '&')
        .nth(2)
        .unwrap_or_default()
        .split("%26")
        .filter_map(|pair| pair.split("%3D").next())
        .collect();
    for field in [
        "title",
        "description",
        "tags",
        "is_public",
        "is_friend",
        "is_family",
        "safety_level",
        "hidden",
    ] {
        assert!(signed.contains(&field), "{field} is signed: {base}");
    }
    assert!(
        !signed.contains(&"photo"),
        "the photo is not signed: {base}"
    );
    assert_eq!(request.files.len(), 1);
    assert_eq!(request.files[0].field, "photo");
}

#[tokio::test]
async fn an_upload_with_a_known_length_and_no_fields_uses_the_users_defaults() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let (body, size, sha256) = photo_stream(1, 1000);
    let photo_id = client
        .upload(
            &token,
            PhotoUpload {
                fields: UploadFields::default(),
                file_name: "a.png".into(),
                content_type: None,
                length: Some(size),
                body,
            },
        )
        .await
        .unwrap();
    let stored = fake.photo(photo_id.as_str()).unwrap();
    assert_eq!(stored.sha256, sha256);
    assert_eq!(stored.title, "");
    assert!(stored.is_public, "Flickr applies the user's default");
}

#[tokio::test]
async fn an_upload_with_a_read_token_is_refused_and_stores_nothing() {
    let Flickr { fake, client, .. } = start().await;
    let (token, secret) = fake.issue_access_token(Perms::Read);
    let photos_before = fake.own_photo_ids().len();
    let (body, _, _) = photo_stream(1, 100);
    let result = client
        .upload(
            &Token::new(token, secret),
            PhotoUpload {
                fields: UploadFields::default(),
                file_name: "a.jpg".into(),
                content_type: None,
                length: None,
                body,
            },
        )
        .await;
    assert!(
        matches!(
            result,
            Err(Error::InsufficientPermissions {
                needed: Perms::Write,
                ..
            })
        ),
        "{:?}",
        result.err()
    );
    assert_eq!(fake.own_photo_ids().len(), photos_before);
}

#[tokio::test]
async fn a_client_with_a_wrong_api_secret_fails_with_the_fakes_redacted_base_string() {
    let Flickr { fake, token, .. } = start().await;
    let wrong = client_for(&fake, |c| c.api_secret = Secret::new("not-the-secret"));

    let result = wrong.test_login(&token).await;

    let Err(Error::SignatureInvalid {
        debug_sbs: Some(sbs),
    }) = &result
    else {
        panic!("{result:?}");
    };
    assert!(sbs.starts_with("GET&http%3A%2F%2F127.0.0.1%3A"), "{sbs}");
    assert!(sbs.contains("method%3Dflickr.test.login"), "{sbs}");
    assert!(
        !sbs.contains(token.token.expose()),
        "the token is redacted: {sbs}"
    );
    assert!(
        !sbs.contains(&fake.config().api_key),
        "the key is redacted: {sbs}"
    );
    assert_eq!(
        last(&fake).verification,
        Verification::Refused("signature_invalid".into())
    );
    let request_token = wrong.request_token("oob").await;
    assert!(
        matches!(request_token, Err(Error::SignatureInvalid { .. })),
        "{request_token:?}"
    );
}

#[tokio::test]
async fn a_wrong_token_secret_is_a_signature_failure() {
    let Flickr { client, token, .. } = start().await;
    let tampered = Token::new(token.token.expose(), "not-the-token-secret");
    let result = client.photo(&tampered, &id("1")).await;
    assert!(
        matches!(result, Err(Error::SignatureInvalid { .. })),
        "{result:?}"
    );
}

/// Fields of a request, decoded.
type Fields<'a> = &'a [(&'a str, &'a str)];
const NO_FIELDS: Fields<'static> = &[];

/// Sends a request to the fake signed by hand: `signed` is the method, URL
/// and fields that are signed, `sent` what is sent; returns the status and
/// the body.
async fn send_signed(
    fake: &FakeFlickr,
    signed: (&str, &str, Fields<'_>),
    sent: (&str, &str, Fields<'_>),
) -> (u16, String) {
    let config = fake.config();
    let protocol = Protocol {
        nonce: SystemFreshness.nonce(),
        timestamp: SystemFreshness.timestamp(),
        version: true,
        ..Protocol::default()
    };
    let credentials = Credentials {
        consumer_key: &config.api_key,
        consumer_secret: &config.api_secret,
        token: Some((&config.access_token, &config.access_token_secret)),
    };
    let (method, url, fields) = signed;
    let oauth = signing::sign(method, url, fields, credentials, &protocol).unwrap();
    let (method, url, fields) = sent;
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("authorization", oauth.authorization_header());
    if !fields.is_empty() {
        request = request.form(fields);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_fake_refuses_a_signature_over_another_url_method_or_parameters() {
    let Flickr { fake, .. } = start().await;
    let base = fake.base_url();
    let rest = format!("{base}/services/rest");
    let query = "?method=flickr.test.login&format=json&nojsoncallback=1";
    let login = format!("{rest}{query}");
    let https = login.replace("http://", "https://");
    let slash = format!("{rest}/{query}");
    let other_port = login.replace("127.0.0.1:", "127.0.0.1:1");
    let other_args = format!("{rest}?method=flickr.test.login&format=json&nojsoncallback=0");
    let post: &[(&str, &str)] = &[
        ("method", "flickr.favorites.remove"),
        ("format", "json"),
        ("nojsoncallback", "1"),
        ("photo_id", "1"),
    ];
    let altered: &[(&str, &str)] = &[
        ("method", "flickr.favorites.remove"),
        ("format", "json"),
        ("nojsoncallback", "1"),
        ("photo_id", "2"),
    ];
    let refused = [
        (
            "over https, sent over http",
            ("GET", &*https, NO_FIELDS),
            ("GET", &*login, NO_FIELDS),
        ),
        (
            "with a trailing slash",
            ("GET", &*slash, NO_FIELDS),
            ("GET", &*login, NO_FIELDS),
        ),
        (
            "for another port",
            ("GET", &*other_port, NO_FIELDS),
            ("GET", &*login, NO_FIELDS),
        ),
        (
            "with another query",
            ("GET", &*other_args, NO_FIELDS),
            ("GET", &*login, NO_FIELDS),
        ),
        (
            "as GET, sent as POST",
            ("GET", &*rest, post),
            ("POST", &*rest, post),
        ),
        (
            "a body altered after",
            ("POST", &*rest, post),
            ("POST", &*rest, altered),
        ),
        (
            "without the body",
            ("POST", &*rest, NO_FIELDS),
            ("POST", &*rest, post),
        ),
    ];
    for (case, signed, sent) in refused {
        let (status, body) = send_signed(&fake, signed, sent).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert!(
            body.starts_with("oauth_problem=signature_invalid&debug_sbs="),
            "{case}: {body}"
        );
    }

    // The same requests signed as sent are accepted, so the refusals above
    // are the signature's doing.
    for url in [&login, &slash] {
        let get = ("GET", url.as_str(), NO_FIELDS);
        let (status, body) = send_signed(&fake, get, get).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert!(body.contains("\"stat\":\"ok\""), "{url}: {body}");
    }
    let post = ("POST", &*rest, post);
    let (status, body) = send_signed(&fake, post, post).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"code\":1"),
        "verified, then photo 1 is not a favorite: {body}"
    );
}

#[tokio::test]
async fn the_fake_signs_multipart_text_fields_and_not_file_parts() {
    let Flickr { fake, .. } = start().await;
    let config = fake.config();
    let url = format!("{}/services/upload/", fake.base_url());
    let send = |signed_fields: Vec<(&'static str, &'static str)>,
                form: reqwest::multipart::Form| {
        let protocol = Protocol {
            nonce: SystemFreshness.nonce(),
            timestamp: SystemFreshness.timestamp(),
            version: true,
            ..Protocol::default()
        };
        let credentials = Credentials {
            consumer_key: &config.api_key,
            consumer_secret: &config.api_secret,
            token: Some((&config.access_token, &config.access_token_secret)),
        };
        let signed = signing::sign("POST", &url, &signed_fields, credentials, &protocol).unwrap();
        reqwest::Client::new()
            .post(&url)
            .header("authorization", signed.authorization_header())
            .multipart(form)
            .send()
    };
    let photo = || reqwest::multipart::Part::bytes(vec![1u8, 2, 3]).file_name("p.jpg");

    let ok = send(
        vec![("title", "t")],
        reqwest::multipart::Form::new()
            .text("title", "t")
            .part("photo", photo()),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("<photoid>"));

    let unsigned_field = send(
        vec![("title", "t")],
        reqwest::multipart::Form::new()
            .text("title", "t")
            .text("tags", "added after signing")
            .part("photo", photo()),
    )
    .await
    .unwrap();
    assert_eq!(unsigned_field.status(), 401);

    let photo_signed = send(
        vec![("title", "t"), ("photo", "")],
        reqwest::multipart::Form::new()
            .text("title", "t")
            .part("photo", photo()),
    )
    .await
    .unwrap();
    assert_eq!(photo_signed.status(), 401, "a file part is not signed");
}

#[tokio::test]
async fn a_clock_an_hour_off_is_timestamp_refused() {
    let Flickr { fake, token, .. } = start().await;
    let late = client_for(&fake, |_| {}).with_freshness(Arc::new(TestFreshness {
        nonce: None,
        timestamp: SystemFreshness.timestamp() - 3600,
    }));
    let result = late.test_login(&token).await;
    assert!(matches!(result, Err(Error::TimestampRefused)), "{result:?}");
    assert!(result.unwrap_err().to_string().contains("clock"));
    assert_eq!(
        last(&fake).verification,
        Verification::Refused("timestamp_refused".into())
    );
}

#[tokio::test]
async fn a_nonce_used_twice_is_refused_the_second_time() {
    let Flickr { fake, token, .. } = start().await;
    let repeating = client_for(&fake, |_| {}).with_freshness(Arc::new(TestFreshness {
        nonce: Some("always-the-same"),
        timestamp: SystemFreshness.timestamp(),
    }));

    let first = repeating.test_login(&token).await;
    let second = repeating.test_login(&token).await;

    assert!(first.is_ok(), "{first:?}");
    let Err(Error::OAuthProblem { problem, .. }) = &second else {
        panic!("{second:?}");
    };
    assert_eq!(problem, "nonce_used");
}

#[tokio::test]
async fn flickrs_failures_sort_into_their_errors() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let own = id(&fake.own_photo_ids()[0]);
    let stat = |code: u32, message: &str| FaultKind::Stat {
        code,
        message: message.into(),
    };
    fake.inject(Fault::once(
        Endpoint::Rest,
        stat(105, "Service currently unavailable"),
    ));
    let r = client.photo(&token, &own).await;
    assert!(
        matches!(
            r,
            Err(Error::ServiceUnavailable {
                code: Some(105),
                ..
            })
        ),
        "{r:?}"
    );

    fake.inject(Fault::once(
        Endpoint::Rest,
        stat(106, "Write operation failed"),
    ));
    let update = MetaUpdate::new(Some("x".into()), None).unwrap();
    let r = client.set_meta(&token, &own, &update).await;
    assert!(
        matches!(
            r,
            Err(Error::ServiceUnavailable {
                code: Some(106),
                ..
            })
        ),
        "{r:?}"
    );

    fake.inject(Fault::once(
        Endpoint::Rest,
        stat(100, "Invalid API Key (Key has expired)"),
    ));
    let r = client.test_login(&token).await;
    assert!(matches!(r, Err(Error::InvalidApiKey { .. })), "{r:?}");

    fake.inject(Fault::once(Endpoint::Rest, FaultKind::Http(500)));
    let r = client.test_login(&token).await;
    assert!(matches!(r, Err(Error::Upstream { status: 500 })), "{r:?}");

    fake.inject(Fault::once(Endpoint::Rest, FaultKind::Http(503)));
    let r = client.test_login(&token).await;
    assert!(
        matches!(r, Err(Error::ServiceUnavailable { code: None, .. })),
        "{r:?}"
    );

    fake.inject(Fault::once(
        Endpoint::RequestToken,
        FaultKind::RateLimited {
            retry_after: Some(30),
        },
    ));
    let r = client.request_token("oob").await;
    assert!(
        matches!(
            r,
            Err(Error::RateLimited {
                retry_after: Some(30)
            })
        ),
        "{r:?}"
    );

    fake.inject(Fault::once(Endpoint::Rest, FaultKind::TruncatedBody));
    let r = client.favorites(&token, PageRequest::default()).await;
    assert!(matches!(r, Err(Error::BadBody { .. })), "{r:?}");

    fake.inject(Fault::once(
        Endpoint::Upload,
        stat(105, "Service currently unavailable"),
    ));
    let (body, _, _) = photo_stream(1, 10);
    let upload = PhotoUpload {
        fields: UploadFields::default(),
        file_name: "a.jpg".into(),
        content_type: None,
        length: None,
        body,
    };
    let r = client.upload(&token, upload).await;
    assert!(
        matches!(
            r,
            Err(Error::ServiceUnavailable {
                code: Some(105),
                ..
            })
        ),
        "{:?}",
        r.err()
    );

    fake.inject(Fault::once(
        Endpoint::Rest,
        FaultKind::OAuthProblem("parameter_absent".into()),
    ));
    let r = client.test_login(&token).await;
    assert!(
        matches!(&r, Err(Error::OAuthProblem { problem, .. }) if problem == "parameter_absent"),
        "{r:?}"
    );

    let unknown = RequestToken(Token::new("72157-unknown", "s"));
    let r = client.access_token(&unknown, "123-456-789").await;
    assert!(matches!(r, Err(Error::TokenRejected)), "{:?}", r.err());
}

#[tokio::test]
async fn an_unknown_api_key_is_refused_on_every_endpoint() {
    let Flickr { fake, token, .. } = start().await;
    let stranger = client_for(&fake, |c| c.api_key = Secret::new("not-our-key"));
    let rest = stranger.test_login(&token).await;
    assert!(matches!(rest, Err(Error::InvalidApiKey { .. })), "{rest:?}");
    let leg1 = stranger.request_token("oob").await;
    assert!(matches!(leg1, Err(Error::InvalidApiKey { .. })), "{leg1:?}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let Flickr { fake, token, .. } = start().await;
    let impatient = client_for(&fake, |c| c.timeout = Duration::from_millis(200));
    fake.inject(Fault::once(
        Endpoint::Rest,
        FaultKind::Delay(Duration::from_secs(3)),
    ));
    let result = impatient.test_login(&token).await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
}

#[tokio::test]
async fn every_call_sent_counts_against_the_keys_budget() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let _ = client.test_login(&token).await;
    let _ = client.photo(&token, &id("1")).await; // a failure counts too
    let _ = client.request_token("oob").await;
    fake.inject(Fault::once(Endpoint::Rest, FaultKind::Http(500)));
    let _ = client.test_login(&token).await;

    let budget = client.budget();
    assert_eq!(budget.used, 4);
    assert_eq!(budget.used as usize, fake.requests().len());
    assert_eq!(budget.remaining, 3600 - 4);
    assert_eq!(budget.limit, 3600);
}

#[tokio::test]
async fn credentials_never_show_in_debug_output_or_errors() {
    let Flickr {
        fake,
        client,
        token,
    } = start().await;
    let config = fake.config();
    let secrets = [
        config.api_key.as_str(),
        config.api_secret.as_str(),
        config.access_token.as_str(),
        config.access_token_secret.as_str(),
    ];
    let wrong = client_for(&fake, |c| c.api_secret = Secret::new("wrong-secret-value"));
    let mut shown = vec![format!("{client:?}"), format!("{token:?}")];
    for error in [
        wrong.test_login(&token).await.unwrap_err(),
        wrong.check_token(&token).await.unwrap_err(),
        client.photo(&token, &id("1")).await.unwrap_err(),
    ] {
        shown.push(format!("{error}"));
        shown.push(format!("{error:?}"));
    }
    for text in shown {
        for secret in secrets.iter().chain(&["wrong-secret-value"]) {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
    }
    // And never in a URL: only the query of GETs, which holds no token.
    for request in fake.requests() {
        assert!(!request.path.contains(token.token.expose()));
    }
}

#[tokio::test]
async fn the_fake_answers_jsonp_without_nojsoncallback_and_116_for_a_setter_sent_as_get() {
    let Flickr { fake, .. } = start().await;
    let rest = format!("{}/services/rest", fake.base_url());
    let jsonp = format!("{rest}?method=flickr.test.login&format=json");
    let get = ("GET", &*jsonp, NO_FIELDS);
    let (status, body) = send_signed(&fake, get, get).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("jsonFlickrApi({"), "{body}");

    let setter =
        format!("{rest}?method=flickr.photos.delete&format=json&nojsoncallback=1&photo_id=1");
    let get = ("GET", &*setter, NO_FIELDS);
    let (_, body) = send_signed(&fake, get, get).await;
    assert!(body.contains("\"code\":116"), "{body}");
}

#[tokio::test]
async fn the_fake_starts_with_the_seeded_account() {
    let config = FakeFlickrConfig {
        own_photos: 2,
        favorites: 4,
        ..FakeFlickrConfig::default()
    };
    let Flickr { fake, .. } = start_with(config).await;
    assert_eq!(fake.own_photo_ids().len(), 2);
    assert_eq!(fake.favorite_ids().len(), 4);
    for id in fake.favorite_ids() {
        let photo = fake.photo(&id).unwrap();
        assert_eq!(photo.owner, "87654321@N00");
        assert!(photo.favorite);
    }
}
