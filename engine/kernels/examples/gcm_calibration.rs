//! Prints the GCM kernels this CPU runs and what the calibration measured.

fn main() {
    use rebound_kernels::gcm;
    println!("available: {:?}", gcm::GcmKernel::available());
    let c = gcm::calibration();
    for (k, ns) in &c.ns_per_ticket {
        println!(
            "{:>9}: {ns:7.1} ns per 200-byte ticket (batch of 16)",
            k.name()
        );
    }
    println!("chosen: {}", c.chosen.name());
}
