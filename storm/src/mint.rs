//! Phase 1 (tickets) by minting: each client's ticket is sealed directly
//! with the gateway's key ring, as if the gateway had issued it at the end
//! of a full IKEv2 exchange (RFC 5723 §4.1). Cheap enough for a million
//! clients, and what `--mint` with the gateway's key file means.

use rebound_engine::client::ClientTicket;
use rebound_engine::crypto::{Encr, IkeSuite, PrfAlg, SecretBuf};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::UnixSeconds;
use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal};
use rebound_engine::ticket::keyring::TicketKeyRing;
use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use rebound_engine::wire::{AuthMethod, IdType};
use zeroize::Zeroizing;

use super::StormError;
use super::progress::Progress;
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::rand::RandomSource as _;

/// Where the clients' tickets come from in phase 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketSource {
    /// Seal each client's ticket directly with the gateway's key ring
    /// (`--mint`): cheap enough for a million clients.
    #[default]
    Mint,
    /// A full IKEv2 exchange per client through the gateway (IKE_SA_INIT,
    /// IKE_AUTH with a PSK, N(TICKET_REQUEST)), which issues the ticket
    /// (`--full`; see `storm::full`).
    Full,
}

/// The gateway's identity (IDr) in every minted ticket.
pub const GATEWAY_ID: &str = "gw.storm.rebound";
/// How long a minted ticket lives (capped by the issuing key's window).
pub const TICKET_LIFETIME_SECS: u64 = 3600;
/// The re-authentication deadline of a minted SA, from now.
const REAUTH_SECS: u64 = 24 * 3600;
/// The Diffie-Hellman group recorded for the original SA (curve25519).
const DH_GROUP: u16 = 31;

/// Client `i`'s identity (IDi).
pub fn client_id(i: usize) -> String {
    format!("client-{i}.storm.rebound")
}

/// Client `i`'s ticket: distinct IDi, IDr [`GATEWAY_ID`], AES-256-GCM with
/// PRF-HMAC-SHA256, random SK_d and old SPIs, issued now and expiring in
/// [`TICKET_LIFETIME_SECS`] (or when the issuing key stops accepting, if
/// sooner), sealed by value.
pub fn mint_ticket(
    i: usize,
    ring: &TicketKeyRing,
    now: UnixSeconds,
    rng: &mut BufferedOsRng,
) -> Result<ClientTicket, StormError> {
    let key = ring.issuing_key(now).ok_or_else(|| {
        StormError::KeyRing(format!(
            "no ticket key issues at {now} (rotate the key file: rebound keys rotate)"
        ))
    })?;
    let expiry = (now + TICKET_LIFETIME_SECS).min(key.accept_until());
    let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None)
        .map_err(|e| StormError::Mint(format!("suite: {e}")))?;
    let id_i = TicketIdentity::new(IdType::FQDN, client_id(i).as_bytes())
        .ok_or_else(|| StormError::Mint(format!("client {i}: identity too long")))?;
    let id_r = TicketIdentity::new(IdType::FQDN, GATEWAY_ID.as_bytes())
        .ok_or_else(|| StormError::Mint("gateway identity too long".into()))?;
    let mut sk_d = Zeroizing::new([0u8; 32]);
    rng.fill(&mut sk_d[..]);
    let mut spis = [0u8; 16];
    rng.fill(&mut spis);
    let mut old_spi_i = [0u8; 8];
    let mut old_spi_r = [0u8; 8];
    old_spi_i.copy_from_slice(&spis[..8]);
    old_spi_r.copy_from_slice(&spis[8..]);
    let mut state = TicketState {
        ticket_id: TicketId([0; 16]),
        id_i,
        id_r,
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: DH_GROUP,
        },
        sk_d: SecretBuf::from_slice(&sk_d[..])
            .map_err(|e| StormError::Mint(format!("SK_d: {e}")))?,
        old_spi_i,
        old_spi_r,
        internal_addr: None,
        issued_at: now,
        expiry,
        reauth_deadline: now + REAUTH_SECS,
    };
    let mut out = vec![0u8; MAX_VALUE_TICKET_LEN];
    let mut fill = |b: &mut [u8]| rng.fill(b);
    let len = seal(
        TicketKind::ByValue,
        &mut state,
        ring,
        None,
        &mut fill,
        now,
        &mut out,
    )
    .map_err(|e| StormError::Mint(format!("client {i}: {e}")))?;
    out.truncate(len);
    // The client does not learn the gateway's ticket id.
    state.ticket_id = TicketId([0; 16]);
    Ok(ClientTicket {
        opaque: out,
        expires_at: expiry,
        state,
    })
}

/// Mints `n` tickets on up to `threads` threads, in client order.
pub(crate) fn mint_all(
    n: usize,
    ring: &TicketKeyRing,
    now: UnixSeconds,
    threads: usize,
    progress: &Progress,
) -> Result<Vec<ClientTicket>, StormError> {
    // Below a few thousand tickets a thread costs more than it saves.
    let threads = threads.clamp(1, n.div_ceil(2000).max(1));
    let chunk = n.div_ceil(threads);
    let results: Vec<Result<Vec<ClientTicket>, StormError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                s.spawn(move || {
                    let mut rng = BufferedOsRng::try_new().map_err(|_| StormError::Random)?;
                    let mut v = Vec::with_capacity(range.len());
                    for i in range {
                        v.push(mint_ticket(i, ring, now, &mut rng)?);
                        if v.len() % 256 == 0 {
                            progress.add_ok(256);
                        }
                    }
                    progress.add_ok((v.len() % 256) as u64);
                    Ok(v)
                })
            })
            .collect();
        progress.watch(|| handles.iter().all(|h| h.is_finished()));
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StormError::Mint("a minting thread panicked".into())))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(n);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rebound_engine::ticket::format::{OpenContext, open};

    #[test]
    fn minted_tickets_open_with_the_ring() {
        let now = rebound_dataplane::runtime::now().secs();
        let ring = rebound_dataplane::gateway::ephemeral_ring().unwrap();
        let progress = Progress::new("test", 3, false);
        let tickets = mint_all(3, &ring, now, 2, &progress).unwrap();
        assert_eq!(tickets.len(), 3);
        for (i, t) in tickets.iter().enumerate() {
            assert_eq!(t.state.id_i.data(), client_id(i).as_bytes());
            assert_eq!(t.expires_at, now + TICKET_LIFETIME_SECS);
            let opened = open(&t.opaque, &ring, &OpenContext::default(), now).expect("opens");
            assert_eq!(opened.id_i, t.state.id_i);
            assert!(opened.sk_d.ct_eq(&t.state.sk_d));
        }
        assert_ne!(tickets[0].opaque, tickets[1].opaque);
    }
}
