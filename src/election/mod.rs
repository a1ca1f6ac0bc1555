//! ZAB's fast leader election: votes and their order, the vote boxes, and the pure state
//! machine that turns notifications into a decision.

pub mod fle;
pub mod model;
pub mod quorum;
pub mod vote;

pub use fle::{Action, Decision, Fle, TimerId};
pub use quorum::Voters;
pub use vote::{Notification, Vote};
