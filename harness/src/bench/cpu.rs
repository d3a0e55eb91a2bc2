//! CPU time of this process (all threads, user + system). Wall time on a shared machine
//! measures the neighbours as much as the simulator; CPU time does not, and for the
//! single-threaded simulation it equals wall time on an idle machine.

/// Seconds of CPU this process has used so far (None where getrusage fails).
pub fn process_cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes into the struct we pass; it is zero-initialised.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0, so getrusage filled the struct.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_seconds().expect("getrusage works on this platform");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = process_cpu_seconds().unwrap();
        assert!(after > before, "{before} -> {after}");
    }
}
