//! Seeded fsync latencies for simulated slow disks.
//!
//! On a real disk an fsync takes real time, and a proposal logged but not yet synced sits in a
//! window where a power loss erases it. In the simulation an fsync is instantaneous unless
//! something makes it take virtual time; a [`SyncLatency`] attached to a
//! [`super::MemDisk`] says how long each log fsync takes, so that crashes can land inside the
//! window (and a server that acknowledges before its fsync is caught). The sequence is a pure
//! function of the seed, so a simulation seed still replays exactly.

use std::time::Duration;

/// How long a disk's fsyncs take: uniformly between `min` and `max`, except that one fsync in
/// `stall_one_in` stalls for `stall` (a disk busy with something else, a journal commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLatency {
    state: u64,
    pub min: Duration,
    pub max: Duration,
    /// 0: never stall.
    pub stall_one_in: u64,
    pub stall: Duration,
}

impl SyncLatency {
    pub fn new(seed: u64, min: Duration, max: Duration) -> SyncLatency {
        SyncLatency {
            // splitmix's increment keeps a zero seed from sticking at zero.
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            min,
            max: max.max(min),
            stall_one_in: 0,
            stall: Duration::ZERO,
        }
    }

    /// One fsync in `one_in` takes `stall` instead.
    pub fn with_stalls(mut self, one_in: u64, stall: Duration) -> SyncLatency {
        self.stall_one_in = one_in;
        self.stall = stall;
        self
    }

    /// splitmix64: small, fast, and good enough to spread latencies.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The latency of the next fsync.
    pub fn next_latency(&mut self) -> Duration {
        let roll = self.next_u64();
        if self.stall_one_in > 0 && roll % self.stall_one_in == 0 {
            return self.stall;
        }
        let span = u64::try_from((self.max - self.min).as_micros()).unwrap_or(u64::MAX);
        let extra = if span == 0 {
            0
        } else {
            self.next_u64() % (span + 1)
        };
        self.min + Duration::from_micros(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_stay_in_range_replay_per_seed_and_stall_sometimes() {
        let profile = |seed| {
            SyncLatency::new(seed, Duration::from_millis(5), Duration::from_millis(40))
                .with_stalls(10, Duration::from_millis(200))
        };
        let draw = |mut l: SyncLatency| (0..1000).map(|_| l.next_latency()).collect::<Vec<_>>();
        let a = draw(profile(7));
        assert_eq!(a, draw(profile(7)), "same seed, same latencies");
        assert_ne!(a, draw(profile(8)), "another seed, other latencies");
        let stalls = a
            .iter()
            .filter(|d| **d == Duration::from_millis(200))
            .count();
        assert!(
            (50..=200).contains(&stalls),
            "about one in ten stalls: {stalls}"
        );
        assert!(a
            .iter()
            .filter(|d| **d != Duration::from_millis(200))
            .all(|d| (Duration::from_millis(5)..=Duration::from_millis(40)).contains(d)));
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert!(distinct.len() > 100, "spread, not constant");
    }

    #[test]
    fn a_fixed_latency_is_constant() {
        let mut l = SyncLatency::new(1, Duration::from_millis(3), Duration::from_millis(3));
        assert!((0..100).all(|_| l.next_latency() == Duration::from_millis(3)));
    }
}
