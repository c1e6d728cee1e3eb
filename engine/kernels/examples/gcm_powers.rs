//! Seal time per 200-byte ticket (batch of 32) with 4, 8 and 16 powers of
//! H, for every available kernel: how `DEFAULT_POWERS` was chosen.

fn main() {
    use rebound_kernels::gcm::{self, AesGcmKey, GcmKernel, SealJob};
    for k in GcmKernel::available() {
        for p in [4, 8, 16] {
            let key = AesGcmKey::with_powers(&[1; 32], p).unwrap();
            let mut bufs = [[0u8; 200]; 32];
            let mut best = f64::INFINITY;
            for _ in 0..2000 {
                let mut it = bufs.iter_mut();
                let mut jobs: [SealJob<'_>; 32] = std::array::from_fn(|i| {
                    SealJob::new([i as u8; 12], b"0123456789abcdef", it.next().unwrap())
                });
                let t = std::time::Instant::now();
                gcm::seal_many_with(k, &key, &mut jobs);
                best = best.min(t.elapsed().as_nanos() as f64 / 32.0);
            }
            println!("{:>9} powers {p:2}: {best:6.1} ns per ticket", k.name());
        }
    }
}
