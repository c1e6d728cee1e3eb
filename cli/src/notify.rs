//! systemd's readiness protocol (`sd_notify`, `Type=notify`), without
//! libsystemd: one datagram of `KEY=VALUE` lines to the Unix socket named
//! by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with
//! `@`). Without the variable every call does nothing, so the gateway runs
//! the same outside systemd.
//!
//! The gateway says `READY=1` once its ports are bound, its privileges
//! given up and its workers running; `RELOADING=1` then `READY=1` around a
//! SIGHUP; `STOPPING=1` when it starts to drain; and a `STATUS=` line with
//! each.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where notifications go, read once from `$NOTIFY_SOCKET`.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a value that cannot be used is logged and
    /// ignored (the gateway does not fail because its supervisor's socket
    /// is odd).
    pub fn from_env() -> Notifier {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        let target =
            address(&value.to_string_lossy()).and_then(|addr| Ok((UnixDatagram::unbound()?, addr)));
        match target {
            Ok(t) => Notifier { target: Some(t) },
            Err(e) => {
                tracing::warn!(socket = ?value, error = %e, "NOTIFY_SOCKET unusable; not notifying");
                Notifier { target: None }
            }
        }
    }

    /// Send `state` (newline-separated `KEY=VALUE` lines). A failure is
    /// logged, not fatal.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }
}

fn address(value: &str) -> io::Result<SocketAddr> {
    if let Some(name) = value.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if value.starts_with('/') {
        SocketAddr::from_pathname(value)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name (@...)",
        ))
    }
}
