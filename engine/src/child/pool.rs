//! Internal (virtual) addresses handed out with CP(CFG_REPLY) (RFC 7296
//! §2.19, §3.15).
//!
//! A pool is shared by all workers, so [`AddressPool`] is `Send + Sync`;
//! [`MemoryPool`] keeps its state behind one `Mutex`. Address assignment
//! happens once per IKE_AUTH, not per packet, so one lock is cheap enough.
//! RFC 5723 §5, Note 5: "The client can request the address it was using
//! earlier, and if possible, the gateway SHOULD honor the request."
//! `wanted` makes that possible after a resumption.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::ChildError;

/// The most addresses a [`MemoryPool`] serves per family (16 Mi, an IPv4
/// /8): the bitmaps of a full pool take 4 MiB.
pub const MAX_POOL_ADDRESSES: u32 = 1 << 24;

/// Internal addresses, leased to owners (opaque identity keys, e.g. the
/// peer's authenticated identity).
pub trait AddressPool: Send + Sync {
    /// Lease an address of family `v6` to `owner` (an opaque identity key).
    /// `wanted` (e.g. the address a resumed SA had; RFC 5723 §5 Note 5: "if
    /// possible, the gateway SHOULD honor the request") is returned when it
    /// is in the pool and free or already leased to the same owner;
    /// otherwise any free address of the family.
    ///
    /// # Errors
    /// [`ChildError::InternalAddressFailure`] when none is free or the
    /// family is not served.
    fn lease(&self, owner: &[u8], wanted: Option<IpAddr>, v6: bool) -> Result<IpAddr, ChildError>;

    /// Give `addr` back if it is leased to `owner` (otherwise nothing
    /// happens). Returns whether it was released.
    fn release(&self, addr: IpAddr, owner: &[u8]) -> bool;

    /// Addresses currently leased.
    fn leased(&self) -> usize;
}

/// Why a [`MemoryPool`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolConfigError {
    /// Neither an IPv4 nor an IPv6 range was given.
    NoRange,
    /// A range of zero addresses.
    Empty {
        /// The IPv6 range (else the IPv4 one).
        v6: bool,
    },
    /// More addresses than [`MAX_POOL_ADDRESSES`].
    TooLarge {
        /// The IPv6 range (else the IPv4 one).
        v6: bool,
        /// The count asked for.
        count: u32,
    },
    /// The range runs past the last address of its family.
    PastAddressSpace {
        /// The IPv6 range (else the IPv4 one).
        v6: bool,
    },
}

const fn family(v6: bool) -> &'static str {
    if v6 { "IPv6" } else { "IPv4" }
}

impl fmt::Display for PoolConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolConfigError::NoRange => f.write_str("address pool needs an IPv4 or an IPv6 range"),
            PoolConfigError::Empty { v6 } => {
                write!(f, "{} address pool range holds no addresses", family(v6))
            }
            PoolConfigError::TooLarge { v6, count } => write!(
                f,
                "{} address pool range of {count} addresses exceeds the maximum of {MAX_POOL_ADDRESSES}",
                family(v6)
            ),
            PoolConfigError::PastAddressSpace { v6 } => write!(
                f,
                "{} address pool range runs past the end of the address space",
                family(v6)
            ),
        }
    }
}

impl std::error::Error for PoolConfigError {}

/// A set bit per index, over `len` indices.
#[derive(Debug)]
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(len: u32) -> Self {
        Bitmap(vec![0; len.div_ceil(64) as usize])
    }
    fn get(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn set(&mut self, i: u32, on: bool) {
        if let Some(w) = self.0.get_mut((i / 64) as usize) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

/// One contiguous range of addresses and who holds which.
///
/// Allocation is O(1) amortised: `cursor` only moves forward, and every
/// free index below it sits on the `free` stack (`queued` marks the
/// indices on the stack, so it never holds one twice; an index taken by a
/// `wanted` lease while on it is skipped when popped).
#[derive(Debug)]
struct Range {
    v6: bool,
    first: u128,
    count: u32,
    used: Bitmap,
    queued: Bitmap,
    free: Vec<u32>,
    cursor: u32,
}

impl Range {
    fn new(
        v6: bool,
        first: u128,
        count: u32,
        last_of_family: u128,
    ) -> Result<Self, PoolConfigError> {
        if count == 0 {
            return Err(PoolConfigError::Empty { v6 });
        }
        if count > MAX_POOL_ADDRESSES {
            return Err(PoolConfigError::TooLarge { v6, count });
        }
        if last_of_family - first < u128::from(count - 1) {
            return Err(PoolConfigError::PastAddressSpace { v6 });
        }
        Ok(Range {
            v6,
            first,
            count,
            used: Bitmap::new(count),
            queued: Bitmap::new(count),
            free: Vec::new(),
            cursor: 0,
        })
    }

    /// The index of `a` in this range.
    fn index(&self, a: IpAddr) -> Option<u32> {
        let n = match (a, self.v6) {
            (IpAddr::V4(v4), false) => u128::from(u32::from(v4)),
            (IpAddr::V6(v6), true) => u128::from(v6),
            _ => return None,
        };
        let i = u32::try_from(n.checked_sub(self.first)?).ok()?;
        (i < self.count).then_some(i)
    }

    /// The address at index `i` (< count, so it exists: checked at `new`).
    fn address(&self, i: u32) -> IpAddr {
        let n = self.first + u128::from(i);
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(n))
        } else {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
        }
    }

    /// Take a free index, if any.
    fn take_any(&mut self) -> Option<u32> {
        while let Some(i) = self.free.pop() {
            self.queued.set(i, false);
            if !self.used.get(i) {
                self.used.set(i, true);
                return Some(i);
            }
        }
        // Every index below the cursor is used (the free ones were on the
        // stack), so scan on from it, a word at a time.
        while self.cursor < self.count {
            let word_ix = (self.cursor / 64) as usize;
            let bit = self.cursor % 64;
            let word = self.used.0.get(word_ix).copied().unwrap_or(u64::MAX) | ((1u64 << bit) - 1);
            if word == u64::MAX {
                self.cursor = (self.cursor - bit).saturating_add(64);
                continue;
            }
            let i = self.cursor - bit + word.trailing_ones();
            if i >= self.count {
                break;
            }
            self.cursor = i + 1;
            self.used.set(i, true);
            return Some(i);
        }
        self.cursor = self.count;
        None
    }

    fn put_back(&mut self, i: u32) {
        self.used.set(i, false);
        if i < self.cursor && !self.queued.get(i) {
            self.queued.set(i, true);
            self.free.push(i);
        }
    }
}

#[derive(Debug)]
struct PoolState {
    v4: Option<Range>,
    v6: Option<Range>,
    owners: HashMap<IpAddr, Box<[u8]>>,
}

/// A pool of one contiguous IPv4 range and/or one IPv6 range.
pub struct MemoryPool {
    state: Mutex<PoolState>,
}

impl MemoryPool {
    /// A pool of `count` addresses from `first`, per family.
    ///
    /// # Errors
    /// [`PoolConfigError`] when neither range is given, a count is 0 or
    /// above [`MAX_POOL_ADDRESSES`], or a range runs past the last address
    /// of its family.
    pub fn new(
        v4: Option<(Ipv4Addr, u32)>,
        v6: Option<(Ipv6Addr, u32)>,
    ) -> Result<Self, PoolConfigError> {
        if v4.is_none() && v6.is_none() {
            return Err(PoolConfigError::NoRange);
        }
        let v4 = v4
            .map(|(a, n)| Range::new(false, u32::from(a).into(), n, u32::MAX.into()))
            .transpose()?;
        let v6 = v6
            .map(|(a, n)| Range::new(true, u128::from(a), n, u128::MAX))
            .transpose()?;
        Ok(MemoryPool {
            state: Mutex::new(PoolState {
                v4,
                v6,
                owners: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Nothing panics while the lock is held; should it ever, the state
        // is still consistent (each step leaves it so), so use it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AddressPool for MemoryPool {
    fn lease(&self, owner: &[u8], wanted: Option<IpAddr>, v6: bool) -> Result<IpAddr, ChildError> {
        let mut guard = self.lock();
        let PoolState {
            v4: r4,
            v6: r6,
            owners,
        } = &mut *guard;
        // RFC 7296 §3.15.4: if the responder cannot assign an address "it
        // responds with an INTERNAL_ADDRESS_FAILURE notification".
        let range = if v6 { r6 } else { r4 }
            .as_mut()
            .ok_or(ChildError::InternalAddressFailure)?;
        // RFC 5723 §5, Note 5: "The client can request the address it was
        // using earlier, and if possible, the gateway SHOULD honor the
        // request."
        if let Some(want) = wanted
            && let Some(i) = range.index(want)
        {
            if !range.used.get(i) {
                range.used.set(i, true);
                owners.insert(want, owner.into());
                return Ok(want);
            }
            if owners.get(&want).is_some_and(|o| **o == *owner) {
                return Ok(want);
            }
        }
        let i = range.take_any().ok_or(ChildError::InternalAddressFailure)?;
        let a = range.address(i);
        owners.insert(a, owner.into());
        Ok(a)
    }

    fn release(&self, addr: IpAddr, owner: &[u8]) -> bool {
        let mut guard = self.lock();
        let PoolState { v4, v6, owners } = &mut *guard;
        if owners.get(&addr).is_none_or(|o| **o != *owner) {
            return false;
        }
        let range = if addr.is_ipv6() { v6 } else { v4 };
        let Some((range, i)) = range.as_mut().and_then(|r| r.index(addr).map(|i| (r, i))) else {
            return false;
        };
        owners.remove(&addr);
        range.put_back(i);
        true
    }

    fn leased(&self) -> usize {
        self.lock().owners.len()
    }
}

impl fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        let span = |r: &Option<Range>| r.as_ref().map(|r| (r.address(0), r.count));
        f.debug_struct("MemoryPool")
            .field("v4", &span(&s.v4))
            .field("v6", &span(&s.v6))
            .field("leased", &s.owners.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a4(last: u8) -> IpAddr {
        IpAddr::from([10, 9, 0, last])
    }

    #[test]
    fn hands_out_in_order_and_reuses_released() {
        let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 1), 3)), None).unwrap();
        assert_eq!(pool.lease(b"a", None, false), Ok(a4(1)));
        assert_eq!(pool.lease(b"b", None, false), Ok(a4(2)));
        assert!(pool.release(a4(1), b"a"));
        assert!(!pool.release(a4(1), b"a"), "already released");
        assert_eq!(pool.lease(b"c", None, false), Ok(a4(1)));
        assert_eq!(pool.lease(b"d", None, false), Ok(a4(3)));
        assert_eq!(
            pool.lease(b"e", None, false),
            Err(ChildError::InternalAddressFailure)
        );
        assert_eq!(pool.leased(), 3);
        assert_eq!(
            pool.lease(b"e", None, true),
            Err(ChildError::InternalAddressFailure),
            "IPv6 not served"
        );
    }

    #[test]
    fn stale_free_entries_are_skipped_and_not_duplicated() {
        let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 1), 4)), None).unwrap();
        for o in [b"a", b"b", b"c", b"d"] {
            pool.lease(o, None, false).unwrap();
        }
        // Release and re-take .1 by `wanted` many times: the free stack must
        // not grow, and its stale entry must not be handed out twice.
        for _ in 0..100 {
            assert!(pool.release(a4(1), b"a"));
            assert_eq!(pool.lease(b"a", Some(a4(1)), false), Ok(a4(1)));
        }
        assert!(pool.lock().v4.as_ref().unwrap().free.len() <= 1);
        assert_eq!(
            pool.lease(b"x", None, false),
            Err(ChildError::InternalAddressFailure)
        );
        assert!(pool.release(a4(3), b"c"));
        assert_eq!(pool.lease(b"x", None, false), Ok(a4(3)));
    }

    #[test]
    fn scan_crosses_full_words() {
        let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 0, 0, 0), 200)), None).unwrap();
        // Take addresses 0..130 by `wanted` first, ahead of the cursor.
        for i in 0..130u32 {
            let a = IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i));
            assert_eq!(pool.lease(b"w", Some(a), false), Ok(a));
        }
        let next = pool.lease(b"n", None, false).unwrap();
        assert_eq!(next, IpAddr::from([10, 0, 0, 130]));
        for _ in 131..200 {
            pool.lease(b"n", None, false).unwrap();
        }
        assert_eq!(pool.leased(), 200);
        assert!(pool.lease(b"n", None, false).is_err());
    }

    #[test]
    fn last_addresses_of_the_family() {
        let pool = MemoryPool::new(Some((Ipv4Addr::new(255, 255, 255, 254), 2)), None).unwrap();
        assert_eq!(
            pool.lease(b"a", None, false),
            Ok(IpAddr::from([255, 255, 255, 254]))
        );
        assert_eq!(pool.lease(b"a", None, false), Ok(IpAddr::from([255; 4])));
        let top = Ipv6Addr::from(u128::MAX);
        let pool = MemoryPool::new(None, Some((top, 1))).unwrap();
        assert_eq!(pool.lease(b"a", None, true), Ok(IpAddr::V6(top)));
        assert!(format!("{pool:?}").contains("leased: 1"));
    }
}
