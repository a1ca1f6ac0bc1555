//! The wall clock that ends up in replicated state (a txn's ctime/mtime, session ids, TTL
//! expiry). Under the simulation it is a fixed date plus simulated time, so that a seed's trees,
//! digests and traces are the same on every run; otherwise the system clock.

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> i64 {
    #[cfg(feature = "sim")]
    if let Some(elapsed) = turmoil::sim_elapsed() {
        /// 2026-01-01T00:00:00Z: any fixed date would do.
        const SIM_EPOCH_MS: i64 = 1_767_225_600_000;
        return SIM_EPOCH_MS.saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
