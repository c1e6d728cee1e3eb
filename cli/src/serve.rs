//! `rebound gateway`: start the gateway from the config file and flags,
//! reload on SIGHUP, drain and exit on SIGTERM or SIGINT.

use std::io::Write;

use rebound_dataplane::config::GatewayArgs;
use rebound_dataplane::gateway::Gateway;

use crate::notify::Notifier;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Logs go to stderr; `RUST_LOG` filters them, else `default` (`info` for
/// the gateway, `warn` for the storm so its summary stays readable).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(args: &GatewayArgs) -> Result<bool, String> {
    init_tracing("info");
    let settings = args.settings().map_err(|e| e.to_string())?;
    // Signals are blocked into the iterator before any thread starts, so a
    // SIGTERM during start-up is not lost.
    let mut signals =
        Signals::new([SIGHUP, SIGTERM, SIGINT]).map_err(|e| format!("signal handlers: {e}"))?;
    let notifier = Notifier::from_env();
    let user = settings.user.clone();
    let gw = Gateway::start(settings, None).map_err(|e| e.to_string())?;
    if let Some(user) = &user {
        check_reload_as(args, user);
    }
    // One machine-readable line for scripts and tests (ports resolved).
    let addrs: Vec<String> = gw.local_addrs().iter().map(|a| a.to_string()).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {}", addrs.join(" "));
    if let Some(m) = gw.metrics_addr() {
        let _ = writeln!(out, "metrics http://{m}/metrics");
    }
    let _ = out.flush();
    drop(out);
    notifier.notify(&format!("READY=1\nSTATUS=listening on {}", addrs.join(" ")));

    for sig in signals.forever() {
        match sig {
            SIGHUP => match args.reload_secrets() {
                Ok((key_file, psks)) => match gw.reload(key_file.as_deref(), psks) {
                    Ok(generation) => {
                        tracing::info!(generation, "reloaded");
                        say(format_args!("reloaded generation {generation}"));
                        notifier.notify(&format!(
                            "STATUS=reloaded, key ring generation {generation}"
                        ));
                    }
                    // `Gateway::reload` logged why; scripts get one line.
                    Err(e) => {
                        let reason = e.refusal().label();
                        say(format_args!("reload refused reason={reason}"));
                        notifier.notify(&format!("STATUS=reload refused ({reason}); running"));
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; keeping the old settings");
                    notifier.notify("STATUS=reload failed (see the log); running");
                }
            },
            _ => break,
        }
    }
    tracing::info!("draining");
    notifier.notify("STOPPING=1\nSTATUS=draining");
    // A second SIGTERM or SIGINT while draining exits at once.
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().any(|s| s == SIGTERM || s == SIGINT) {
            eprintln!("rebound: second signal, exiting without draining");
            std::process::exit(130);
        }
    });
    let stats = gw.shutdown();
    handle.close();
    let established: u64 = stats
        .workers
        .iter()
        .map(|w| {
            w.responder
                .get(rebound_engine::responder::Counter::Established)
        })
        .sum();
    say(format_args!(
        "stopped: {established} SAs established, {} received and {} handed off by the control plane",
        stats.control.received, stats.control.handed_off
    ));
    Ok(true)
}

/// After the switch to `user`: read now what SIGHUP re-reads (the config
/// file, its PSK files, the key file), as that user, so an owner or mode
/// that would make every reload fail is said at start rather than at the
/// first SIGHUP. The gateway keeps running: the files it has loaded are
/// fine.
fn check_reload_as(args: &GatewayArgs, user: &str) {
    let key_file = match args.reload_secrets() {
        Ok((key_file, _psks)) => key_file,
        Err(e) => {
            tracing::warn!(
                user,
                error = %e,
                "SIGHUP will fail: the configuration cannot be re-read as this user (make the files \
                 it names readable by it: owned by it, mode 0600 for secrets)"
            );
            return;
        }
    };
    if let Some(path) = key_file
        && let Err(e) = rebound_dataplane::keys::read_key_file(&path)
    {
        tracing::warn!(
            user,
            error = %e,
            "SIGHUP will be refused: the key file cannot be re-read as this user (chown it to the \
             user, mode 0600)"
        );
    }
}

/// One line on stdout for scripts; a closed stdout (the reader went away)
/// is not a reason for the gateway to fail, so the error is dropped.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
