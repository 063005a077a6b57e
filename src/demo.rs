//! `pixgate --demo`: the real gateway in front of the built-in fake Imgur,
//! with a seeded account, so a newcomer can try every endpoint with no
//! Imgur app. Nothing reaches Imgur, and the user's token file and upload
//! ledger are not touched: the demo's live in a temp directory. The demo
//! account has a few images of its own and an album holding some of them.
//! The built-in fake Flickr runs too, with its seeded account (own photos
//! and favorites) already authorized, so every `/flickr/` route works.

use crate::config::{DemoUpstreamArgs, ServerArgs};
use crate::fake_flickr::{FakeFlickr, FakeFlickrConfig};
use crate::fake_imgur::{FakeConfig, FakeImgur};
use crate::imgur::{save_flickr_stored, FileStore, FlickrTokens};
use crate::secret::Secret;

/// The running fakes and the demo's token directory; keep it alive while serving.
pub struct Demo {
    pub fake: FakeImgur,
    pub flickr: FakeFlickr,
    _state: tempfile::TempDir,
}

/// Starts the fake and points `args` at it.
pub async fn start(args: &mut ServerArgs) -> std::io::Result<Demo> {
    let fake = FakeImgur::start(FakeConfig::default()).await?;
    let state = tempfile::Builder::new().prefix("pixgate-demo-").tempdir()?;
    args.client_id = Some(fake.config().client_id.clone());
    args.client_secret = Some(Secret::new(fake.config().client_secret.clone()));
    args.refresh_token = Some(Secret::new(fake.current_refresh_token()));
    args.imgur_api_url = fake.base_url();
    args.token_file = Some(state.path().join("tokens.json"));
    args.db = Some(state.path().join("pixgate.db"));
    let user = fake.config().account_username.clone();
    let images = fake.seed_images(Some(&user), 3);
    fake.seed_album(Some(&user), "Demo album", &images[..2]);

    let flickr = FakeFlickr::start(FakeFlickrConfig::default()).await?;
    let config = flickr.config();
    args.flickr_api_key = Some(Secret::new(config.api_key.clone()));
    args.flickr_api_secret = Some(Secret::new(config.api_secret.clone()));
    args.flickr_api_url = flickr.base_url();
    args.flickr_upload_url = flickr.base_url();
    args.flickr_oauth_url = flickr.base_url();
    let token_file = FileStore::new(state.path().join("tokens.json"));
    let seeded = FlickrTokens {
        token: Secret::new(config.access_token.clone()),
        token_secret: Secret::new(config.access_token_secret.clone()),
        username: Some(config.username.clone()),
        user_nsid: Some(config.user_nsid.clone()),
        perms: Some(config.access_perms.as_str().to_owned()),
    };
    save_flickr_stored(&token_file, seeded).map_err(std::io::Error::other)?;
    Ok(Demo {
        fake,
        flickr,
        _state: state,
    })
}

/// `pixgate demo-upstream`: the fake Imgur alone, seeded like the demo's,
/// on a fixed address; prints the settings a replica needs, then serves
/// until SIGINT or SIGTERM.
pub async fn serve_upstream(args: DemoUpstreamArgs) -> std::io::Result<()> {
    use std::io::Write;
    use tokio::signal::unix::{signal, SignalKind};
    let fake = FakeImgur::start_on(&args.listen, 2, FakeConfig::default()).await?;
    let user = fake.config().account_username.clone();
    let images = fake.seed_images(Some(&user), 3);
    fake.seed_album(Some(&user), "Demo album", &images[..2]);
    if let Some(callback) = &args.callback {
        fake.set_redirect_url(callback);
    }
    let config = fake.config();
    println!(
        "# pixgate demo upstream: a fake Imgur at {url} (account \"{user}\"); nothing reaches Imgur.\n\
         IMGUR_API_URL={url}\nIMGUR_CLIENT_ID={id}\nIMGUR_CLIENT_SECRET={secret}\nIMGUR_REFRESH_TOKEN={refresh}",
        url = fake.base_url(),
        id = config.client_id,
        secret = config.client_secret,
        refresh = fake.current_refresh_token(),
    );
    std::io::stdout().flush()?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    fake.stop().await;
    Ok(())
}

/// The banner printed at start.
pub fn banner(demo: &Demo, port: u16) -> String {
    let line = "=".repeat(72);
    let config = demo.fake.config();
    let flickr = demo.flickr.config();
    format!(
        "{line}\n  pixgate DEMO MODE: nothing reaches Imgur or Flickr.\n  \
         The gateway talks to a built-in fake Imgur at {fake} with a seeded\n  \
         account \"{user}\", {favorites} favorites and an album. Try:\n    \
         curl http://127.0.0.1:{port}/v1/favorites\n    \
         curl -F image=@some-picture.png http://127.0.0.1:{port}/v1/images\n    \
         curl http://127.0.0.1:{port}/v1/account/albums\n    \
         curl http://127.0.0.1:{port}/v1/uploads\n  \
         Try a login: http://127.0.0.1:{port}/auth/login (the fake's consent page)\n  \
         Flickr: a built-in fake Flickr at {flickr_url}, account \"{flickr_user}\"\n  \
         ({flickr_nsid}, {flickr_photos} photos, {flickr_favorites} favorites) already authorized. Try:\n    \
         curl http://127.0.0.1:{port}/flickr/auth/status\n    \
         curl http://127.0.0.1:{port}/flickr/v1/favorites\n    \
         curl -F photo=@some-picture.png -F title=Hello http://127.0.0.1:{port}/flickr/v1/photos\n    \
         curl -X PATCH -H 'Content-Type: application/json' -d '{{\"title\":\"New\"}}' \\\n      \
         http://127.0.0.1:{port}/flickr/v1/photos/{own}\n    \
         curl -X DELETE http://127.0.0.1:{port}/flickr/v1/photos/{favorite}/favorite\n    \
         curl -X PUT http://127.0.0.1:{port}/flickr/v1/photos/{favorite}/favorite\n    \
         curl -X DELETE http://127.0.0.1:{port}/flickr/v1/photos/{own}\n  \
         Flickr login: http://127.0.0.1:{port}/flickr/auth/login (the fake's consent page)\n  \
         API docs: http://127.0.0.1:{port}/docs/\n{line}",
        fake = demo.fake.base_url(),
        user = config.account_username,
        favorites = config.favorites,
        flickr_url = demo.flickr.base_url(),
        flickr_user = flickr.username,
        flickr_nsid = flickr.user_nsid,
        flickr_photos = flickr.own_photos,
        flickr_favorites = flickr.favorites,
        own = demo.flickr.own_photo_ids().first().map_or("<id>", String::as_str),
        favorite = demo.flickr.favorite_ids().first().map_or("<id>", String::as_str),
    )
}
