//! The terminal commands: `pixgate login`, `logout`, `status` and
//! `import --sharex`. They use the same store code as the server, under the
//! same cross-process lock; a running server notices their change through
//! its watch on the token file.

use crate::config::{
    ConfigError, ImportArgs, LoginArgs, OpenapiArgs, Provider, ServerArgs, UploadsArgs,
};
use crate::fleet::{Fleet, RedisLedger, RedisStore};
use crate::flickr::{self, FlickrClient};
use crate::gateway::WANTED_PERMS;
use crate::imgur::{self, AuthStatus, FileStore, Grant, ImgurClient, StoreError, TokenStore};
use crate::metrics::Metrics;
use crate::model::ResponseType;
use crate::secret::Secret;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

/// ShareX marks values it encrypted with Windows DPAPI with this prefix.
const DPAPI_PREFIX: &str = "$DPAPIEncrypted$";

/// Why a command failed; printed as is.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Imgur(#[from] imgur::Error),
    #[error("{0}")]
    Flickr(#[from] flickr::Error),
    #[error("could not read the PIN: {0}")]
    Stdin(std::io::Error),
    #[error("no PIN was entered")]
    NoPin,
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Redis(#[from] crate::fleet::FleetError),
    /// A failure described in full (import, OpenAPI output).
    #[error("{0}")]
    Failed(String),
}

/// `pixgate login`: the PIN flow, or `--refresh-token` / `--pin` given
/// directly; with `--provider flickr`, Flickr's.
pub async fn login(args: &ServerArgs, login: LoginArgs) -> Result<(), CliError> {
    if login.provider == Provider::Flickr {
        return login_flickr(args, login).await;
    }
    if login.token.is_some() {
        return Err(CliError::Failed(
            "--token and --token-secret are Flickr's: add --provider flickr".into(),
        ));
    }
    let config = args.imgur_config()?;
    if config.client_secret.is_none() {
        return Err(ConfigError::ClientSecretRequired.into());
    }
    let client = ImgurClient::new(&config, token_store(args)?, Default::default())?;
    let grant = match (login.refresh_token, login.pin) {
        (Some(token), _) => Grant::RefreshToken(token),
        (None, Some(pin)) => Grant::Pin(pin),
        (None, None) => Grant::Pin(ask_for_pin(&client, !login.no_browser)?),
    };
    authorize_and_report(&client, grant).await
}

/// `pixgate login --provider flickr`: the `oob` flow (the user copies the
/// verifier Flickr shows), or `--token` with `--token-secret` checked with
/// checkToken. The tokens go to the store's Flickr part.
async fn login_flickr(args: &ServerArgs, login: LoginArgs) -> Result<(), CliError> {
    let config = args
        .flickr_config()?
        .ok_or(ConfigError::FlickrNotConfigured)?;
    let client = FlickrClient::new(config)?;
    let store = token_store(args)?;
    let tokens = match (login.token, login.token_secret) {
        (Some(token), Some(secret)) => {
            let token = flickr::Token { token, secret };
            let check = client.check_token(&token).await?;
            check.into_stored(token)
        }
        _ => {
            let request_token = client.request_token("oob").await?;
            let url = client.authorize_url(&request_token, WANTED_PERMS);
            println!("Open this page, allow pixgate, and type the code Flickr shows (like 123-456-789):\n\n  {url}\n");
            if !login.no_browser {
                open_in_browser(&url);
            }
            // Passed verbatim, dashes included.
            let verifier = &read_answer("Code: ")?;
            if verifier.is_empty() {
                return Err(CliError::Failed("no code was entered".into()));
            }
            let authorization = client.access_token(&request_token, verifier).await?;
            authorization.into_stored(WANTED_PERMS)
        }
    };
    let shown = format!(
        "{} ({}), perms {}",
        tokens.username.as_deref().unwrap_or("?"),
        tokens.user_nsid.as_deref().unwrap_or("?"),
        tokens.perms.as_deref().unwrap_or("?")
    );
    // Another process than the gateway: through the store's lock, which a
    // running gateway's token owner watches.
    imgur::save_flickr_stored(store.as_ref(), tokens)?;
    println!(
        "authorized as {shown} on Flickr; token stored in {}",
        store.location()
    );
    Ok(())
}

/// The store a gateway with these settings uses: the record in Redis with
/// `PIXGATE_REDIS_URL` (so a login here reaches every replica), else the
/// token file.
fn token_store(args: &ServerArgs) -> Result<Arc<dyn TokenStore>, CliError> {
    Ok(match args.redis_config()? {
        Some(redis) => {
            let fleet = Fleet::connect(&redis.url, Arc::new(Metrics::new()))?;
            Arc::new(RedisStore::new(fleet, redis.lock_lease))
        }
        None => Arc::new(FileStore::new(args.token_file()?)),
    })
}

/// Prints `prompt` and reads one line the user types (a PIN or a code),
/// trimmed.
fn read_answer(prompt: &str) -> Result<String, CliError> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::Stdin)?;
    Ok(line.trim().to_owned())
}

fn ask_for_pin(client: &ImgurClient, open_browser: bool) -> Result<Secret, CliError> {
    // No callback comes back in the PIN flow, so the state is only echoed.
    let url = client.authorize_url(ResponseType::Pin, "pixgate-login");
    println!("Open this page, allow pixgate, and copy the PIN Imgur shows:\n\n  {url}\n");
    if open_browser {
        open_in_browser(&url);
    }
    let pin = read_answer("PIN: ")?;
    if pin.is_empty() {
        return Err(CliError::NoPin);
    }
    Ok(Secret::new(pin))
}

/// Tries `$BROWSER`, then the desktop's opener; never fails.
fn open_in_browser(url: &str) {
    let mut candidates: Vec<String> = std::env::var("BROWSER")
        .map(|b| b.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    candidates.extend(["xdg-open".to_owned(), "open".to_owned()]);
    for program in candidates.iter().filter(|p| !p.is_empty()) {
        let spawned = std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if spawned.is_ok() {
            return;
        }
    }
}

/// Logs in and reports. Imgur has rotated the user's token once it answers,
/// so when the write fails this waits, retrying, until the token is stored:
/// ending the process would lose it.
async fn authorize_and_report(client: &ImgurClient, grant: Grant) -> Result<(), CliError> {
    let tokens = client.tokens();
    let account = match tokens.authorize(grant).await {
        Ok(account) => account,
        Err(error) if matches!(error.kind, imgur::ErrorKind::NotStored { .. }) => {
            eprintln!("{error}\nWaiting until it is stored (Ctrl-C loses the login)...");
            tokens.stored().await;
            tokens.account()
        }
        Err(error) => return Err(error.into()),
    };
    println!(
        "authorized as {}; token stored in {}",
        account.username.as_deref().unwrap_or("your Imgur account"),
        tokens.location()
    );
    Ok(())
}

/// `pixgate openapi [--output FILE]`.
pub fn openapi(args: OpenapiArgs) -> Result<(), CliError> {
    let mut json = crate::api::openapi()
        .to_pretty_json()
        .map_err(|e| CliError::Failed(format!("cannot serialize the OpenAPI document: {e}")))?;
    json.push('\n');
    let Some(path) = args.output else {
        print!("{json}");
        return Ok(());
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(json.as_bytes())?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))
}

/// `pixgate logout`: under the store's lock, so a refresh running in a
/// gateway finishes first and cannot write the tokens back afterwards.
pub fn logout(args: &ServerArgs) -> Result<(), CliError> {
    let store = token_store(args)?;
    imgur::logout_stored(store.as_ref())?;
    println!(
        "logged out; removed the stored tokens at {}",
        store.location()
    );
    Ok(())
}

/// `pixgate status`: what `/auth/status` shows, read from the token file.
pub fn status(args: &ServerArgs) -> Result<(), CliError> {
    let tokens = token_store(args)?.load()?.unwrap_or_default();
    let status = AuthStatus::of(&tokens);
    println!(
        "{}",
        serde_json::to_string_pretty(&status).unwrap_or_default()
    );
    Ok(())
}

/// `pixgate import --sharex UploadersConfig.json`: checks ShareX's Imgur
/// refresh token with one refresh (using ShareX's client id and secret: a
/// refresh token only works with its own app) and stores it.
pub async fn import(args: &ServerArgs, import: ImportArgs) -> Result<(), CliError> {
    let found = read_sharex(&import.sharex)?;
    // The seed of the environment (IMGUR_REFRESH_TOKEN, .env) goes along:
    // its fingerprint is recorded with the imported token, so the next start
    // keeps the import instead of re-seeding the older token over it.
    let config = args.imgur_config_for(
        Some(found.client_id.clone()),
        Some(found.client_secret),
        args.seed_refresh_token(),
    )?;
    let client = ImgurClient::new(&config, token_store(args)?, Default::default())?;
    authorize_and_report(&client, Grant::RefreshToken(found.refresh_token)).await?;
    println!(
        "Run pixgate with IMGUR_CLIENT_ID={} and IMGUR_CLIENT_SECRET set to the client secret in {} (the token only works with that app).",
        found.client_id,
        import.sharex.display()
    );
    Ok(())
}

/// What ShareX's settings hold for its Imgur account.
struct ShareXImgur {
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
}

/// Reads `ImgurOAuth2Info` (`Client_ID`, `Client_Secret`, `Token.refresh_token`)
/// from ShareX's UploadersConfig.json.
fn read_sharex(path: &Path) -> Result<ShareXImgur, CliError> {
    let fail = |why: &str| CliError::Failed(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(&format!("cannot read it ({e})")))?;
    let json: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|_| fail("is not JSON; expected ShareX's UploadersConfig.json"))?;
    let info = json
        .get("ImgurOAuth2Info")
        .filter(|v| v.is_object())
        .ok_or_else(|| fail("has no Imgur account settings (ImgurOAuth2Info); log in to Imgur in ShareX first, or use `pixgate login`"))?;
    let text_field = |value: Option<&serde_json::Value>| {
        value
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let client_id =
        text_field(info.get("Client_ID")).ok_or_else(|| fail("has no Imgur Client_ID"))?;
    let client_secret =
        text_field(info.get("Client_Secret")).ok_or_else(|| fail("has no Imgur Client_Secret"))?;
    let refresh_token = text_field(info.get("Token").and_then(|t| t.get("refresh_token")))
        .ok_or_else(|| fail("has no Imgur refresh token (ImgurOAuth2Info.Token.refresh_token); log in to Imgur in ShareX first, or use `pixgate login`"))?;
    if refresh_token.starts_with(DPAPI_PREFIX) || client_secret.starts_with(DPAPI_PREFIX) {
        return Err(fail(
            "ShareX encrypted the token with Windows DPAPI, which only that Windows user can decrypt. Run `pixgate import` on that Windows account, or copy the refresh token and use `pixgate login --refresh-token`",
        ));
    }
    Ok(ShareXImgur {
        client_id,
        client_secret: Secret::new(client_secret),
        refresh_token: Secret::new(refresh_token),
    })
}

/// `pixgate uploads [--json]`: the upload ledger, newest first (what
/// `GET /v1/uploads` lists), read from `PIXGATE_DB`.
pub fn uploads(args: &ServerArgs, uploads: UploadsArgs) -> Result<(), CliError> {
    use crate::ledger::{LedgerStore, ListQuery, SqliteStore};
    // The ledger a gateway with these settings writes: Redis's, or the file.
    let (mut store, location): (Option<Box<dyn LedgerStore>>, String) = match args.redis_config()? {
        Some(redis) => {
            let store = RedisLedger::new(Fleet::connect(&redis.url, Arc::new(Metrics::new()))?);
            let location = store.location();
            (Some(Box::new(store)), location)
        }
        None => {
            let path = args.db()?;
            let store = SqliteStore::open_existing(&path)?;
            (
                store.map(|s| Box::new(s) as Box<dyn LedgerStore>),
                path.display().to_string(),
            )
        }
    };
    let mut entries = Vec::new();
    if let Some(store) = store.as_mut() {
        loop {
            let page = store.list(ListQuery {
                anonymous: None,
                offset: entries.len() as u64,
                limit: 1000,
            })?;
            entries.extend(page.entries);
            if !page.more {
                break;
            }
        }
    }
    if uploads.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_default()
        );
        return Ok(());
    }
    if entries.is_empty() {
        println!("no uploads recorded yet in {location}");
        return Ok(());
    }
    let time = |secs: i64| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
        humantime::format_rfc3339_seconds(at).to_string()
    };
    println!(
        "{:<20}  {:<5}  {:<10}  {:<12}  {:<15}  {:<20}  link",
        "created", "kind", "id", "account", "deletehash", "deleted"
    );
    for entry in &entries {
        println!(
            "{:<20}  {:<5}  {:<10}  {:<12}  {:<15}  {:<20}  {}",
            time(entry.created_at),
            entry.kind.as_str(),
            entry.id,
            entry.account.as_deref().unwrap_or("(anonymous)"),
            entry.deletehash.as_deref().unwrap_or("-"),
            entry.deleted_at.map(time).unwrap_or_else(|| "-".into()),
            entry.link.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<ShareXImgur, CliError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("UploadersConfig.json");
        std::fs::write(&path, json).expect("written");
        read_sharex(&path)
    }

    #[test]
    fn sharex_imgur_settings_are_read() {
        let found = read(r#"{"ImgurOAuth2Info":{"Client_ID":"abc","Client_Secret":"shh","Token":{"access_token":"a","refresh_token":"r","expires_in":3600}}}"#)
            .expect("readable");
        assert_eq!(found.client_id, "abc");
        assert_eq!(found.refresh_token.expose(), "r");
    }

    #[test]
    fn sharex_settings_without_a_usable_token_are_refused_clearly() {
        let cases = [
            (
                "no Imgur section",
                r#"{"ImgurAccountType":0}"#,
                "no Imgur account settings",
            ),
            (
                "Imgur section null",
                r#"{"ImgurOAuth2Info":null}"#,
                "no Imgur account settings",
            ),
            (
                "no token",
                r#"{"ImgurOAuth2Info":{"Client_ID":"a","Client_Secret":"b","Token":null}}"#,
                "no Imgur refresh token",
            ),
            (
                "encrypted",
                r#"{"ImgurOAuth2Info":{"Client_ID":"a","Client_Secret":"b","Token":{"refresh_token":"$DPAPIEncrypted$AQAAA"}}}"#,
                "DPAPI",
            ),
            ("not JSON", "<xml/>", "is not JSON"),
        ];
        for (case, json, expected) in cases {
            let err = read(json).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(expected), "{case}: {err}");
        }
    }
}
