//! The full IKEv2 exchange (RFC 7296 §1.2): IKE_SA_INIT and IKE_AUTH with
//! pre-shared keys, issuing tickets (RFC 5723 §4.1), and what follows on an
//! established IKE SA (INFORMATIONAL, CREATE_CHILD_SA). The slow path.

pub mod proposal;
