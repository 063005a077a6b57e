//! `pixgate --demo`: the real gateway in front of the built-in fake Imgur,
//! with a seeded account, so a newcomer can try every endpoint with no
//! Imgur app. Nothing reaches Imgur, and the user's token file and upload
//! ledger are not touched: the demo's live in a temp directory. The demo
//! account has a few images of its own and an album holding some of them.

use crate::config::ServerArgs;
use crate::fake_imgur::{FakeConfig, FakeImgur};
use crate::secret::Secret;

/// The running fake and the demo's token directory; keep it alive while serving.
pub struct Demo {
    pub fake: FakeImgur,
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
    Ok(Demo {
        fake,
        _state: state,
    })
}

/// The banner printed at start.
pub fn banner(demo: &Demo, port: u16) -> String {
    let line = "=".repeat(72);
    let config = demo.fake.config();
    format!(
        "{line}\n  pixgate DEMO MODE: nothing reaches Imgur.\n  \
         The gateway talks to a built-in fake Imgur at {fake} with a seeded\n  \
         account \"{user}\", {favorites} favorites and an album. Try:\n    \
         curl http://127.0.0.1:{port}/v1/favorites\n    \
         curl -F image=@some-picture.png http://127.0.0.1:{port}/v1/images\n    \
         curl http://127.0.0.1:{port}/v1/account/albums\n    \
         curl http://127.0.0.1:{port}/v1/uploads\n  \
         Try a login: http://127.0.0.1:{port}/auth/login (the fake's consent page)\n  \
         API docs: http://127.0.0.1:{port}/docs/\n{line}",
        fake = demo.fake.base_url(),
        user = config.account_username,
        favorites = config.favorites,
    )
}
