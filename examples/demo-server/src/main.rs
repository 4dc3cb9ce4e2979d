//! Demo JWT server for leptos-auth-kit, on 127.0.0.1 only.
//!
//! ```text
//! demo-server [--port 9000] [--access-secs 300] [--refresh-secs 86400] [--no-rotate] [--secret S]
//! ```
//! Environment: `DEMO_PORT`, `DEMO_ACCESS_SECS`, `DEMO_REFRESH_SECS` give the defaults.
//! Accounts: `ada` / `lovelace` (role admin), `bob` / `builder` (role user).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::exit;

use demo_server::routes::{self, AppState, RefreshMode, Settings};

struct Args {
    port: u16,
    settings: Settings,
    secret: String,
}

fn parse_args() -> Result<Args, String> {
    let env_number = |name: &str, default: u64| -> Result<u64, String> {
        match std::env::var(name) {
            Ok(value) => value
                .parse()
                .map_err(|_| format!("{name} must be a number")),
            Err(_) => Ok(default),
        }
    };
    let mut args = Args {
        port: u16::try_from(env_number("DEMO_PORT", 9000)?)
            .map_err(|_| "DEMO_PORT is not a port")?,
        settings: Settings {
            access_secs: env_number("DEMO_ACCESS_SECS", 300)?,
            refresh_secs: env_number("DEMO_REFRESH_SECS", 86_400)?,
            rotate: true,
            refresh_mode: RefreshMode::Normal,
        },
        secret: demo_server::DEMO_SECRET.into(),
    };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = value()?.parse().map_err(|_| "--port must be a port")?,
            "--access-secs" => {
                args.settings.access_secs = value()?
                    .parse()
                    .map_err(|_| "--access-secs must be a number")?
            }
            "--refresh-secs" => {
                args.settings.refresh_secs = value()?
                    .parse()
                    .map_err(|_| "--refresh-secs must be a number")?
            }
            "--secret" => args.secret = value()?,
            "--no-rotate" => args.settings.rotate = false,
            "--help" | "-h" => {
                println!("demo-server [--port N] [--access-secs N] [--refresh-secs N] [--no-rotate] [--secret S]");
                exit(0);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args().unwrap_or_else(|err| {
        eprintln!("demo-server: {err}");
        exit(2);
    });
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .unwrap_or_else(|err| {
            eprintln!("demo-server: cannot listen on {address}: {err}");
            exit(1);
        });
    println!(
        "demo-server listening on http://{address} (access {}s, refresh {}s, rotation {})",
        args.settings.access_secs,
        args.settings.refresh_secs,
        if args.settings.rotate { "on" } else { "off" }
    );
    let app = routes::router(AppState::new(args.secret.as_bytes(), args.settings));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("demo-server: {err}");
        exit(1);
    }
}
