//! PLACEHOLDER: the UDP backend (SO_REUSEPORT, recvmmsg/sendmmsg) lands next.
