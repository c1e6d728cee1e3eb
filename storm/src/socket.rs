//! One storm thread's UDP socket ([`Socket`]): a batch of datagrams
//! waiting to go out (each to its gateway), and an overflow queue for
//! what a full socket buffer did not take.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};

use rebound_dataplane::backend::udp::{UdpBackend, UdpOptions};
use rebound_dataplane::backend::{Backend, TxBatch};

use super::StormError;

/// Socket buffers of the storm's sockets (the kernel doubles them, up to
/// `net.core.rmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// One of the thread's sockets and what waits to go out of it.
pub struct Socket {
    pub backend: Box<dyn Backend>,
    pub local: SocketAddr,
    tx: TxBatch,
    /// Datagrams (and where to) that did not fit the batch while the
    /// socket was full.
    overflow: VecDeque<(SocketAddr, Vec<u8>)>,
}

impl Socket {
    pub fn bind(ip: IpAddr, marker: bool) -> Result<Socket, StormError> {
        let addr = SocketAddr::new(ip, 0);
        let backend = UdpBackend::bind(
            addr,
            UdpOptions {
                reuse_port: false,
                non_esp_marker: marker,
                recv_buffer: Some(SOCKET_BUFFER),
                send_buffer: Some(SOCKET_BUFFER),
            },
        )
        .map_err(|e| StormError::Socket(e.to_string()))?;
        Ok(Socket {
            local: backend.local_addr(),
            backend: Box::new(backend),
            tx: TxBatch::new(rebound_dataplane::backend::MAX_BURST),
            overflow: VecDeque::new(),
        })
    }

    pub fn queue(&mut self, dest: SocketAddr, msg: &[u8]) -> io::Result<()> {
        if self.tx.is_full() {
            self.flush()?;
        }
        if !self.overflow.is_empty() || !self.tx.push(dest, None, msg) {
            self.overflow.push_back((dest, msg.to_vec()));
        }
        Ok(())
    }

    /// Send what is queued, as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        loop {
            while !self.tx.is_full() {
                let Some((dest, m)) = self.overflow.pop_front() else {
                    break;
                };
                self.tx.push(dest, None, &m);
            }
            if self.tx.is_empty() {
                return Ok(());
            }
            let n = self.backend.tx_burst(&self.tx)?;
            self.tx.consume(n);
            if n == 0 {
                return Ok(());
            }
        }
    }

    pub fn pending(&self) -> bool {
        !self.tx.is_empty() || !self.overflow.is_empty()
    }

    /// Whether datagrams wait beyond the batch: the kernel did not take
    /// the last flush.
    pub fn backlogged(&self) -> bool {
        !self.overflow.is_empty()
    }
}
