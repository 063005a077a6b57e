use clap::Parser;
use pixgate::cli;
use pixgate::config::{Cli, Command, LogFormat};
use pixgate::startup::Application;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before any thread exists: dotenvy sets environment variables.
    let _ = dotenvy::dotenv();
    Cli::unset_empty_env_vars();
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.server.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    // Panics as log events (JSON too, in the request's span). Their messages
    // may be logged: secrets are `Secret`s, which print a placeholder.
    std::panic::set_hook(Box::new(pixgate::api::middleware::report_panic));
    let args = cli.server;
    let outcome: Result<(), Box<dyn std::error::Error>> = match cli.command {
        None => actix_web::rt::System::new().block_on(serve(args)),
        Some(Command::Login(login)) => actix_web::rt::System::new()
            .block_on(cli::login(&args, login))
            .map_err(Into::into),
        Some(Command::Import(import)) => actix_web::rt::System::new()
            .block_on(cli::import(&args, import))
            .map_err(Into::into),
        Some(Command::Logout) => cli::logout(&args).map_err(Into::into),
        Some(Command::Status) => cli::status(&args).map_err(Into::into),
        Some(Command::Openapi(openapi)) => cli::openapi(openapi).map_err(Into::into),
        Some(Command::Uploads(uploads)) => cli::uploads(&args, uploads).map_err(Into::into),
        Some(Command::DemoUpstream(upstream)) => actix_web::rt::System::new()
            .block_on(pixgate::demo::serve_upstream(upstream))
            .map_err(Into::into),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut args: pixgate::config::ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let demo = if args.demo {
        Some(pixgate::demo::start(&mut args).await?)
    } else {
        None
    };
    let app = Application::build(args.into_config()?).await?;
    if let Some(demo) = &demo {
        demo.fake
            .set_redirect_url(&format!("http://127.0.0.1:{}/auth/callback", app.port()));
        println!("{}", pixgate::demo::banner(demo, app.port()));
    }
    app.run_until_stopped().await?;
    Ok(())
}
