//! What this CPU can run, and the override that forces the portable path.

use std::sync::OnceLock;

/// The environment variable that forces the portable fallback for every
/// kernel when set to `portable`.
pub const OVERRIDE_VAR: &str = "REBOUND_KERNELS";

/// The x86 features the kernels use, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    pub sha_ni: bool,
    pub avx2: bool,
    pub avx512: bool,
    pub aes_ni: bool,
    pub pclmulqdq: bool,
    pub vaes: bool,
    pub vpclmulqdq: bool,
}

impl Features {
    /// Nothing but the portable path.
    pub const NONE: Features = Features {
        sha_ni: false,
        avx2: false,
        avx512: false,
        aes_ni: false,
        pclmulqdq: false,
        vaes: false,
        vpclmulqdq: false,
    };

    fn detect() -> Features {
        if forced_portable() {
            return Features::NONE;
        }
        #[cfg(target_arch = "x86_64")]
        {
            Features {
                sha_ni: std::arch::is_x86_feature_detected!("sha")
                    && std::arch::is_x86_feature_detected!("sse4.1")
                    && std::arch::is_x86_feature_detected!("ssse3"),
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                avx512: std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl"),
                // GHASH's byte swaps are SSSE3 (pshufb): detected, not
                // assumed from SSE4.1.
                aes_ni: std::arch::is_x86_feature_detected!("aes")
                    && std::arch::is_x86_feature_detected!("sse4.1")
                    && std::arch::is_x86_feature_detected!("ssse3"),
                pclmulqdq: std::arch::is_x86_feature_detected!("pclmulqdq"),
                vaes: std::arch::is_x86_feature_detected!("vaes"),
                vpclmulqdq: std::arch::is_x86_feature_detected!("vpclmulqdq"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Features::NONE
        }
    }
}

/// `REBOUND_KERNELS=portable` is set (read once, at first use: the hot
/// paths ask per burst).
pub fn forced_portable() -> bool {
    static F: OnceLock<bool> = OnceLock::new();
    *F.get_or_init(|| std::env::var(OVERRIDE_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("portable")))
}

/// The features of this CPU (all false when the portable path is forced).
pub fn features() -> Features {
    static F: OnceLock<Features> = OnceLock::new();
    *F.get_or_init(Features::detect)
}
