//! The cluster's Redis keys. Every key one atomic step touches shares a
//! hash tag (`{...}`), so a Redis Cluster keeps them in one slot:
//!
//! | key | value | lives until |
//! | --- | --- | --- |
//! | `P{t:ID}:claim` | the name of the gateway that owns the ticket | the ticket's expiry |
//! | `P{t:ID}:stub` | a by-reference ticket's state, sealed under the ticket keys | taken, used, or expiry |
//! | `P{gw:NAME}:stubs` | sorted set of the ids of NAME's stubs, by expiry (draft-xu "Download Stub") | members past expiry are trimmed on download |
//! | `P{spi:NAME:SPI}` | the ticket id of the SA NAME had with this SPIr (draft-xu's second key) | the ticket's expiry |
//! | `P{keys}:ring` | the ticket key ring, encrypted under the cluster secret | replaced on rotation |
//!
//! A taken or removed stub's id may stay in its owner's list (the list is
//! in another slot than the ticket's keys, out of reach of the take
//! script in a Redis Cluster): a download skips ids whose stub is gone.

use rebound_engine::ticket::TicketId;

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    fn hex(id: &TicketId) -> String {
        hex::encode(id.0)
    }

    pub fn claim(&self, id: &TicketId) -> String {
        format!("{}{{t:{}}}:claim", self.prefix, Self::hex(id))
    }

    pub fn stub(&self, id: &TicketId) -> String {
        format!("{}{{t:{}}}:stub", self.prefix, Self::hex(id))
    }

    pub fn stubs_of(&self, gateway: &str) -> String {
        format!("{}{{gw:{gateway}}}:stubs", self.prefix)
    }

    pub fn spi(&self, gateway: &str, spi_r: &[u8; 8]) -> String {
        format!("{}{{spi:{gateway}:{}}}", self.prefix, hex::encode(spi_r))
    }

    pub fn ring(&self) -> String {
        format!("{}{{keys}}:ring", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag: the part between the first `{` and the next `}`.
    fn tag(k: &str) -> &str {
        let a = k.find('{').unwrap();
        let b = a + k[a..].find('}').unwrap();
        &k[a + 1..b]
    }

    #[test]
    fn one_ticket_one_slot() {
        let k = Keys::new("rb:");
        let id = TicketId([0xab; 16]);
        assert_eq!(tag(&k.claim(&id)), tag(&k.stub(&id)));
        assert!(k.claim(&id).starts_with("rb:{t:abab"));
        assert_ne!(tag(&k.stubs_of("a")), tag(&k.stubs_of("b")));
        assert_eq!(k.spi("gw-a", &[1; 8]), "rb:{spi:gw-a:0101010101010101}");
    }
}
