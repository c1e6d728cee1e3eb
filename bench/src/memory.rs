//! The memory the control plane holds per established SA (issue "hardening":
//! at most 1 KiB): N clients resume through the responder (both
//! exchanges), the slow path adopts every SA as the control plane does,
//! and the process's resident size is read before and after
//! (`/proc/self/status`, VmRSS: what the allocator really took, its
//! overhead included).

use std::sync::Arc;

use rebound_engine::slow_path::{PskTable, SlowPathConfig, SlowPathResponder};
use rebound_engine::time::Timestamp;

use crate::resume::{Exchange, NOW, fixture, responder, seeded, shared};

/// The process's resident size in KiB.
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What adopting `n` resumed SAs took: RSS before and after, in KiB.
pub fn adopt(n: usize) -> (u64, u64) {
    let f = fixture(n);
    let mut gw = responder(&f);
    let now = Timestamp::from_secs(NOW);
    let mut outs = vec![vec![0u8; 2048]; 32];
    let mut sas = Vec::with_capacity(n);
    for chunk in f.clients.chunks(32) {
        let mut items = f.items(chunk, Exchange::Resume, &mut outs[..]);
        gw.resume_stage(now, &mut items);
        drop(items);
        let mut items = f.items(chunk, Exchange::Auth, &mut outs[..]);
        gw.auth_stage(now, &mut items);
        sas.extend(
            items
                .iter_mut()
                .filter_map(|i| i.handled.established.take()),
        );
    }
    assert_eq!(sas.len(), n, "every client resumed");
    let mut slow = SlowPathResponder::new(
        SlowPathConfig::default(),
        shared(f.ring.clone()),
        Arc::new(PskTable::new([])),
        Box::new(seeded(7)),
        now,
    );
    // The SA boxes and the responder (its half-open table) stay alive
    // while the slow path adopts them, so what it allocates cannot reuse
    // their memory and shows in the RSS.
    let before = rss_kib();
    for sa in &sas {
        slow.adopt(now, sa).expect("adopted");
    }
    let after = rss_kib();
    assert_eq!(slow.established(), n);
    drop((sas, gw, slow));
    (before, after)
}
