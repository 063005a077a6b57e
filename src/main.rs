use clap::Parser;
use pixgate::config::{Cli, Command};
use pixgate::startup::Application;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before any thread exists: dotenvy sets environment variables.
    let _ = dotenvy::dotenv();
    Cli::unset_empty_env_vars();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match pixgate::api::openapi().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match actix_web::rt::System::new().block_on(serve(cli.server)) {
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
        println!("{}", pixgate::demo::banner(demo, app.port()));
    }
    app.run_until_stopped().await?;
    Ok(())
}
