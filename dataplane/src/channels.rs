//! What travels between the gateway's threads: IKE_AUTH forwarded between
//! workers, slow-path datagrams to the control plane and its answers back.

use std::net::{IpAddr, SocketAddr};

use rebound_engine::responder::PacketMeta;

/// An IKE_AUTH passed from the worker that received it to the worker whose
/// SPIr it carries.
#[derive(Debug)]
pub struct Forwarded {
    pub socket: usize,
    pub meta: PacketMeta,
    pub data: Vec<u8>,
}

/// A slow-path answer for a worker to send.
#[derive(Debug)]
pub struct Reply {
    /// The socket the request came in on.
    pub socket: usize,
    pub peer: SocketAddr,
    /// The source address (the request's destination).
    pub local: IpAddr,
    pub data: Vec<u8>,
}

/// A datagram the workers pass to the control plane.
#[derive(Debug)]
pub struct SlowPacket {
    pub worker: u8,
    /// Index of the listening socket it arrived on (the same in every
    /// worker).
    pub socket: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub data: Vec<u8>,
}
