//! Seals batches of 32 tickets in a loop with the chosen kernel (for a profiler).

fn main() {
    use rebound_kernels::gcm::{self, AesGcmKey, SealJob};
    let key = AesGcmKey::new(&[1; 32]).unwrap();
    let mut bufs = [[0u8; 200]; 32];
    let k = gcm::chosen();
    for _ in 0..300_000 {
        let mut it = bufs.iter_mut();
        let mut jobs: [SealJob<'_>; 32] = std::array::from_fn(|i| {
            SealJob::new([i as u8; 12], b"0123456789abcdef", it.next().unwrap())
        });
        gcm::seal_many_with(k, &key, &mut jobs);
        std::hint::black_box(&jobs);
    }
}
