//! What the gateway gives up once its ports are bound
//! (docs/OPERATIONS.md, "Running as a service").
//!
//! - `gateway.user` / `--user NAME`, started as root: the process becomes
//!   that user (uid, primary gid, no supplementary groups), which also
//!   clears every capability, and checks it cannot become root again.
//! - Started unprivileged with capabilities (the systemd unit's
//!   `AmbientCapabilities=CAP_NET_BIND_SERVICE`): the capabilities are
//!   cleared; they were only for binding ports below 1024.
//! - Started as root without a user: nothing changes, with a warning.
//!
//! [`Gateway::start_with`](crate::gateway::Gateway::start_with) resolves
//! the user before it binds anything (a misspelt name fails first) and
//! gives up privileges after the sockets, the metrics listener and the key
//! log are open, before it starts a thread.

use rebound_udp_sys::privilege::{self, UserIds};

use crate::gateway::GatewayError;

/// The user named in the settings, from the user database, checked against
/// who runs the gateway: root may become anyone; another user only itself.
pub fn resolve(user: Option<&str>) -> Result<Option<UserIds>, GatewayError> {
    let Some(name) = user else { return Ok(None) };
    let ids = privilege::lookup_user(name)
        .map_err(|e| GatewayError(format!("gateway.user: looking up {name:?}: {e}")))?
        .ok_or_else(|| {
            GatewayError(format!(
                "gateway.user: no user named {name:?} in the user database (create it, e.g. \
                 `useradd --system --no-create-home rebound`)"
            ))
        })?;
    let (_, euid, _) = privilege::user_ids();
    if euid != 0 && euid != ids.uid {
        return Err(GatewayError(format!(
            "gateway.user: becoming {name:?} (uid {}) needs root; this process runs as uid {euid}",
            ids.uid
        )));
    }
    Ok(Some(ids))
}

/// What [`give_up`] did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// Became this user (from root).
    Switched(UserIds),
    /// Already unprivileged: its capabilities were cleared.
    CapabilitiesCleared,
    /// Already unprivileged, with no capability to give up.
    Nothing,
    /// Still root: no user was given.
    StillRoot,
}

/// Give up what is no longer needed once every port is bound (see the
/// module documentation). An error means the process may be half-switched:
/// the gateway must not start.
pub fn give_up(user: Option<&UserIds>) -> Result<Dropped, GatewayError> {
    let (_, euid, _) = privilege::user_ids();
    match user {
        Some(u) if euid == 0 => {
            privilege::switch_to(u).map_err(|e| {
                GatewayError(format!(
                    "gateway.user: switching to {:?} (uid {}, gid {}): {e}",
                    u.name, u.uid, u.gid
                ))
            })?;
            Ok(Dropped::Switched(u.clone()))
        }
        // Already that user (`resolve` refused any other): as without one.
        _ if euid == 0 => Ok(Dropped::StillRoot),
        _ => {
            let has = privilege::has_capabilities()
                .map_err(|e| GatewayError(format!("reading the capabilities: {e}")))?;
            if !has {
                return Ok(Dropped::Nothing);
            }
            privilege::clear_capabilities()
                .map_err(|e| GatewayError(format!("clearing the capabilities: {e}")))?;
            Ok(Dropped::CapabilitiesCleared)
        }
    }
}
