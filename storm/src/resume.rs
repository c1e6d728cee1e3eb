//! Where phases 3 and 4 send each client's ticket, and what came back
//! from each gateway. With one gateway (the default) every client
//! presents its ticket there; with `--resume-targets A,B,...` client `i`
//! presents it to gateway `i mod n` (`--spread`), or to every gateway at
//! once (`--race`), each presentation a `ResumeInitiator` of its own that
//! runs to its end: a gateway that answers with Nr gets the IKE_AUTH too,
//! so the storm sees whether a ticket resumed on more than one gateway
//! (single use across gateways broken), not only whether more than one
//! accepted it at IKE_SESSION_RESUME (which a gateway may do and then
//! lose the ticket's claim at IKE_AUTH).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rebound_engine::client::{ClientTicket, Fallback};

use super::phase::ClientEnd;
use super::report::TargetReport;

/// The gateways of the resume phases and how the clients use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// At least one.
    pub targets: Vec<SocketAddr>,
    /// Every client presents its ticket to every target at once.
    pub race: bool,
}

/// The presentations of one phase: each ticket and its gateway, with the
/// client (index into the phase's client list) and the gateway (index into
/// [`Routes::targets`]) it belongs to.
pub struct Presentations {
    pub inputs: Vec<(ClientTicket, SocketAddr)>,
    pub owner: Vec<usize>,
    pub target: Vec<usize>,
}

impl Routes {
    pub fn mode(&self) -> &'static str {
        if self.race { "race" } else { "spread" }
    }

    /// Client `k` of the phase is the storm's client `tickets[k].0` (which
    /// picks its gateway with `--spread`) with ticket `tickets[k].1`.
    pub fn present(&self, tickets: Vec<(usize, ClientTicket)>) -> Presentations {
        let n = self.targets.len().max(1);
        let per = if self.race { n } else { 1 };
        let mut p = Presentations {
            inputs: Vec::with_capacity(tickets.len() * per),
            owner: Vec::with_capacity(tickets.len() * per),
            target: Vec::with_capacity(tickets.len() * per),
        };
        for (k, (client, ticket)) in tickets.into_iter().enumerate() {
            if self.race {
                for (t, &addr) in self.targets.iter().enumerate() {
                    p.inputs.push((ticket.clone(), addr));
                    p.owner.push(k);
                    p.target.push(t);
                }
            } else {
                let t = client % n;
                p.inputs.push((ticket, self.targets[t]));
                p.owner.push(k);
                p.target.push(t);
            }
        }
        p
    }
}

impl Presentations {
    /// Each presentation's start: its client's.
    pub fn schedule(&self, clients: &[u64]) -> Vec<u64> {
        self.owner
            .iter()
            .map(|&k| clients.get(k).copied().unwrap_or(0))
            .collect()
    }
}

/// What the gateways did with the presentations of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub targets: Vec<TargetReport>,
    /// Per client: `None` resumed (on at least one gateway), else why not
    /// (the first failure other than `ticket_refused` among its
    /// presentations, or `ticket_refused`).
    pub clients: Vec<Option<&'static str>>,
    /// Per client: it failed and one of its presentations was cut by the
    /// phase timeout.
    pub cut: Vec<bool>,
    /// Answers with Nr beyond the first, over the clients: gateways that
    /// accepted a ticket another gateway had accepted too.
    pub double_accepted: u64,
    /// Resumptions (IKE_AUTH completed) beyond the first, over the
    /// clients: a ticket used on two gateways.
    pub double_resumed: u64,
}

impl Tally {
    /// Tallies `ends` (one per presentation, in `p`'s order) for `clients`
    /// clients over `routes`' gateways.
    pub fn new(routes: &Routes, p: &Presentations, ends: &[ClientEnd], clients: usize) -> Tally {
        let refused_label = Fallback::TicketRefused.counter_label();
        let mut targets: Vec<TargetReport> = routes
            .targets
            .iter()
            .map(|a| TargetReport::new(a.to_string()))
            .collect();
        let mut accepted = vec![0u32; clients];
        let mut resumed = vec![0u32; clients];
        let mut why: Vec<Option<&'static str>> = vec![None; clients];
        let mut cut = vec![false; clients];
        for ((&k, &t), end) in p.owner.iter().zip(&p.target).zip(ends) {
            let r = &mut targets[t];
            r.presented += 1;
            if end.accepted {
                r.accepted += 1;
                accepted[k] += 1;
            }
            match end.failure {
                None => {
                    r.resumed += 1;
                    resumed[k] += 1;
                }
                Some(l) if l == refused_label => {
                    r.refused += 1;
                    why[k].get_or_insert(l);
                }
                Some(l) => {
                    if l == "timeout" {
                        r.no_answer += 1;
                    } else {
                        *r.other.entry(l.to_string()).or_default() += 1;
                    }
                    if end.cut {
                        cut[k] = true;
                    }
                    // A reason other than the refusal says more.
                    if why[k].is_none_or(|w| w == refused_label) {
                        why[k] = Some(l);
                    }
                }
            }
        }
        let extra = |v: &[u32]| v.iter().map(|&n| u64::from(n.saturating_sub(1))).sum();
        let clients_why: Vec<Option<&'static str>> = resumed
            .iter()
            .zip(why)
            .map(|(&r, w)| {
                if r > 0 {
                    None
                } else {
                    Some(w.unwrap_or("timeout"))
                }
            })
            .collect();
        let cut = cut
            .into_iter()
            .zip(&clients_why)
            .map(|(c, w)| c && *w == Some("timeout"))
            .collect();
        Tally {
            double_accepted: extra(&accepted),
            double_resumed: extra(&resumed),
            targets,
            clients: clients_why,
            cut,
        }
    }

    /// Clients that resumed at least once.
    pub fn resumed_clients(&self) -> u64 {
        self.clients.iter().filter(|w| w.is_none()).count() as u64
    }

    /// The clients' failures by label.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for w in self.clients.iter().flatten() {
            *m.entry(w.to_string()).or_default() += 1;
        }
        m
    }

    /// Over the gateways: presentations resumed, refused, all.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.targets.iter().fold((0, 0, 0), |(a, b, c), t| {
            (a + t.resumed, b + t.refused, c + t.presented)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::mint_all;
    use crate::progress::Progress;

    fn addrs(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 5000 + i)))
            .collect()
    }

    fn tickets(n: usize) -> Vec<(usize, ClientTicket)> {
        let now = rebound_dataplane::runtime::now().secs();
        let ring = rebound_dataplane::gateway::ephemeral_ring().unwrap();
        let t = mint_all(n, &ring, now, 1, &Progress::new("test", n as u64, false)).unwrap();
        t.into_iter().enumerate().collect()
    }

    fn end(failure: Option<&'static str>, accepted: bool) -> ClientEnd {
        ClientEnd {
            failure,
            accepted,
            cut: false,
        }
    }

    #[test]
    fn spread_sends_client_i_to_target_i_mod_n() {
        let r = Routes {
            targets: addrs(3),
            race: false,
        };
        // Phase 4 replays the tickets of clients 1, 2 and 4 only: each to
        // its own gateway.
        let mut t = tickets(5);
        t.remove(3);
        t.remove(0);
        let p = r.present(t);
        assert_eq!(p.target, vec![1, 2, 1]);
        assert_eq!(p.owner, vec![0, 1, 2]);
        assert_eq!(p.inputs[2].1, r.targets[1]);
        assert_eq!(p.schedule(&[10, 20, 30]), vec![10, 20, 30]);
    }

    #[test]
    fn race_sends_every_ticket_to_every_target() {
        let r = Routes {
            targets: addrs(2),
            race: true,
        };
        let p = r.present(tickets(3));
        assert_eq!(p.owner, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(p.target, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(p.inputs[0].0.opaque, p.inputs[1].0.opaque);
        assert_ne!(p.inputs[0].0.opaque, p.inputs[2].0.opaque);
        assert_eq!(p.schedule(&[5, 6, 7]), vec![5, 5, 6, 6, 7, 7]);
    }

    #[test]
    fn a_race_counts_each_gateway_and_the_doubles() {
        let r = Routes {
            targets: addrs(2),
            race: true,
        };
        let p = r.present(tickets(4));
        let ends = [
            // Client 0: A resumes it, B refuses it.
            end(None, true),
            end(Some("ticket_refused"), false),
            // Client 1: both accept it, B loses it at IKE_AUTH.
            end(None, true),
            end(Some("ticket_refused"), true),
            // Client 2: both resume it.
            end(None, true),
            end(None, true),
            // Client 3: A refuses it, B does not answer.
            end(Some("ticket_refused"), false),
            end(Some("timeout"), false),
        ];
        let t = Tally::new(&r, &p, &ends, 4);
        assert_eq!(t.double_accepted, 2);
        assert_eq!(t.double_resumed, 1);
        assert_eq!(t.resumed_clients(), 3);
        assert_eq!(t.clients, vec![None, None, None, Some("timeout")]);
        let a = &t.targets[0];
        assert_eq!(
            (a.presented, a.accepted, a.resumed, a.refused, a.no_answer),
            (4, 3, 3, 1, 0)
        );
        let b = &t.targets[1];
        assert_eq!(
            (b.presented, b.accepted, b.resumed, b.refused, b.no_answer),
            (4, 2, 1, 2, 1)
        );
        assert_eq!(t.totals(), (4, 3, 8));
        assert_eq!(t.failures().get("timeout"), Some(&1));
    }

    #[test]
    fn a_spread_client_fails_with_its_own_reason() {
        let r = Routes {
            targets: addrs(2),
            race: false,
        };
        let p = r.present(tickets(3));
        let mut cut = end(Some("timeout"), true);
        cut.cut = true;
        let ends = [end(Some("ticket_refused"), false), cut, end(None, true)];
        let t = Tally::new(&r, &p, &ends, 3);
        assert_eq!(
            t.clients,
            vec![Some("ticket_refused"), Some("timeout"), None]
        );
        assert_eq!(t.cut, vec![false, true, false]);
        assert_eq!((t.double_accepted, t.double_resumed), (0, 0));
        assert_eq!(t.targets[0].refused, 1);
        assert_eq!(t.targets[0].resumed, 1);
        assert_eq!(t.targets[1].no_answer, 1);
        assert_eq!(t.targets[1].accepted, 1);
    }
}
