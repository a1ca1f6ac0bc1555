//! The election core explored exhaustively (src/election/model.rs), within small bounds so
//! that it runs in the debug test suite; `cargo run --release --example model_fle` goes
//! further and prints the state counts.

use zabd::election::model::{explore, Bounds};

#[test]
fn three_voters_with_a_lost_message_and_a_crash_never_elect_two_leaders_and_always_converge() {
    let report = explore(Bounds {
        voters: 3,
        observers: 0,
        losses: 1,
        crashes: 1,
        timer_fires: 1,
        max_states: 3_000,
    });
    println!("{} states explored", report.states);
    assert_eq!(report.violation, None);
    assert!(report.states > 200);
}

#[test]
fn observers_never_change_the_outcome() {
    let report = explore(Bounds {
        voters: 2,
        observers: 1,
        losses: 1,
        crashes: 0,
        timer_fires: 1,
        max_states: 3_000,
    });
    println!("{} states explored", report.states);
    assert_eq!(report.violation, None);
}
