//! ZAB after the election, as pure state machines: the leader's and the learner's side of
//! discovery (epoch establishment), synchronisation and heartbeats.

pub mod broadcast;
pub mod leader;
pub mod learner;
pub mod messages;
pub mod sessions;
pub mod sync;

pub use leader::{LeaderAction, LeaderCore, LeaderPhase, LeaderSetup};
pub use learner::{LearnerAction, LearnerCore, LearnerError};
pub use messages::QuorumMessage;
