//! Giving up privileges once the gateway's sockets are bound: the user
//! database look-up (`getpwnam_r`), the switch to another user (`setgroups`,
//! `setresgid`, `setresuid`) with a check that it cannot be undone, and
//! clearing the capabilities an unprivileged process was started with
//! (systemd's `AmbientCapabilities=CAP_NET_BIND_SERVICE`).
//!
//! Everything here is a safe function over the calls; errors are the bare
//! `io::Error` of the call, or `InvalidInput` / `PermissionDenied` with a
//! sentence, for the caller to put in context.
//!
//! glibc applies `setresuid` / `setresgid` / `setgroups` to every thread of
//! the process (its "setxid" broadcast), so a thread started before the
//! switch does not keep root; the gateway switches before it starts its
//! threads anyway.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::ptr;

use libc::{gid_t, uid_t};

/// A user from the user database: what switching to it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub name: String,
    pub uid: uid_t,
    /// The user's primary group.
    pub gid: gid_t,
}

/// The user named `name` (`getpwnam_r`); `Ok(None)` when there is none.
pub fn lookup_user(name: &str) -> io::Result<Option<UserIds>> {
    let c_name = CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a user name cannot contain a NUL byte",
        )
    })?;
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut pwd = MaybeUninit::<libc::passwd>::uninit();
        let mut found: *mut libc::passwd = ptr::null_mut();
        // SAFETY: `c_name` is a NUL-terminated string that outlives the
        // call; `pwd` is writable storage for one passwd; `buf` is writable
        // for `buf.len()` bytes, the length passed; `found` is a live,
        // writable pointer. getpwnam_r writes the entry into `pwd`, its
        // strings into `buf`, and sets `found` to `pwd` or null.
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                pwd.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            // The entry's strings did not fit: a larger buffer, again.
            buf = vec![0; buf.len() * 4];
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if found.is_null() {
            return Ok(None);
        }
        // SAFETY: getpwnam_r returned 0 with `found` non-null, so it filled
        // `pwd` (and `found` points at it).
        let pwd = unsafe { pwd.assume_init() };
        let name = if pwd.pw_name.is_null() {
            name.to_owned()
        } else {
            // SAFETY: pw_name points into `buf` (still alive and not
            // written since), at a NUL-terminated string getpwnam_r wrote.
            unsafe { CStr::from_ptr(pwd.pw_name) }
                .to_string_lossy()
                .into_owned()
        };
        return Ok(Some(UserIds {
            name,
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }));
    }
}

/// The real, effective and saved user ids (`getresuid`).
pub fn user_ids() -> (uid_t, uid_t, uid_t) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: the three pointers are live, writable uid_t; getresuid only
    // writes them and cannot fail with valid pointers.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// The real, effective and saved group ids (`getresgid`).
pub fn group_ids() -> (gid_t, gid_t, gid_t) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: as for getresuid.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// How many supplementary groups the process has (`getgroups(0, NULL)`).
pub fn supplementary_groups() -> io::Result<usize> {
    // SAFETY: with a size of 0 getgroups writes nothing and only returns
    // the count; a null pointer is allowed then.
    let n = unsafe { libc::getgroups(0, ptr::null_mut()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Become `user` for good: no supplementary groups, its primary group as
/// real, effective and saved gid, its uid as real, effective and saved
/// uid. Needs root (or CAP_SETUID and CAP_SETGID). Going from root to
/// another uid clears every capability (permitted, effective, ambient).
///
/// Then checks that it took: the ids read back are the user's, and, for a
/// user other than root, `setuid(0)` fails. An error means the process may
/// be half-switched; the caller must exit.
pub fn switch_to(user: &UserIds) -> io::Result<()> {
    // SAFETY: setgroups with a count of 0 reads no memory (a null list is
    // allowed).
    if unsafe { libc::setgroups(0, ptr::null()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The group first: once the uid is not root, the gid can no longer be
    // changed.
    // SAFETY: setresgid takes integers only.
    if unsafe { libc::setresgid(user.gid, user.gid, user.gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: setresuid takes integers only.
    if unsafe { libc::setresuid(user.uid, user.uid, user.uid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if user_ids() != (user.uid, user.uid, user.uid)
        || group_ids() != (user.gid, user.gid, user.gid)
        || supplementary_groups()? != 0
    {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the user and group ids read back are not the ones set",
        ));
    }
    if user.uid != 0 {
        // SAFETY: setuid takes an integer only. It must fail: with real,
        // effective and saved uid all non-zero and no CAP_SETUID there is
        // no way back to root.
        if unsafe { libc::setuid(0) } == 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "setuid(0) still succeeds after the switch: root could be regained",
            ));
        }
    }
    Ok(())
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct` (linux/capability.h).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct` (linux/capability.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Whether this thread has any capability in its effective or permitted
/// set (`capget`).
pub fn has_capabilities() -> io::Result<bool> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget reads the header and, for version 3, writes two
    // __user_cap_data_struct into `data`, which has room for exactly two;
    // both are live and writable for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data.iter().any(|d| d.effective != 0 || d.permitted != 0))
}

/// Give up every capability: the ambient set is cleared, then the
/// effective, permitted and inheritable sets (`capset` with all zeros). For
/// a process started unprivileged with capabilities (systemd's
/// `AmbientCapabilities=`), once its sockets are bound.
///
/// Capabilities are per thread (`capset` on pid 0 and
/// `PR_CAP_AMBIENT_CLEAR_ALL` change only the calling thread; glibc
/// broadcasts the set*id calls to every thread, not these): call it before
/// any other thread starts, as the gateway does. With more than one
/// thread it refuses, rather than leave the others privileged.
pub fn clear_capabilities() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count())?;
    if threads > 1 {
        return Err(io::Error::other(format!(
            "capabilities are per thread: {threads} threads run, clear them before any starts"
        )));
    }
    // SAFETY: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    // takes integers only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads the header and, for version 3, two
    // __user_cap_data_struct from `data`, which holds exactly two; both are
    // live for the call (the kernel may write the header's version back,
    // hence the mutable header).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_the_user_database_and_a_made_up_name_is_not() {
        let root = lookup_user("root").unwrap().expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.name, "root");
        assert_eq!(lookup_user("no-such-user-rebound-test").unwrap(), None);
        let nul = lookup_user("ro\0ot").unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn ids_read_back_consistently() {
        let (r, e, _) = user_ids();
        // SAFETY: getuid and geteuid take nothing and cannot fail.
        let (gr, ge) = unsafe { (libc::getuid(), libc::geteuid()) };
        assert_eq!((r, e), (gr, ge));
        let _ = has_capabilities().unwrap();
    }
}
