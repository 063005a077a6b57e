//! `pixgate --demo`: the real gateway in front of the built-in fake Imgur,
//! with a seeded account, so a newcomer can try every endpoint with no
//! Imgur app. Nothing reaches Imgur, and the user's token file is not
//! touched: the demo's tokens live in a temp directory.

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
         account \"{user}\" and {favorites} favorites. Try:\n    \
         curl http://127.0.0.1:{port}/v1/favorites\n    \
         curl -F image=@some-picture.png http://127.0.0.1:{port}/v1/images\n  \
         Try a login: http://127.0.0.1:{port}/auth/login (the fake's consent page)\n  \
         API docs: http://127.0.0.1:{port}/docs/\n{line}",
        fake = demo.fake.base_url(),
        user = config.account_username,
        favorites = config.favorites,
    )
}
