//! Who votes, and what a quorum is: more than half of the voting members. Observers are not
//! members here, so nothing an observer says can ever count toward a quorum.

use crate::ids::Sid;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voters {
    members: BTreeSet<Sid>,
}

impl Voters {
    pub fn new(members: impl IntoIterator<Item = Sid>) -> Voters {
        Voters {
            members: members.into_iter().collect(),
        }
    }

    pub fn contains(&self, sid: Sid) -> bool {
        self.members.contains(&sid)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Sid> + '_ {
        self.members.iter().copied()
    }

    /// Smallest number of voters that is a majority.
    pub fn quorum_size(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// True when the voters among `sids` are a majority. Non-voters and duplicates are ignored.
    pub fn is_quorum<'a>(&self, sids: impl IntoIterator<Item = &'a Sid>) -> bool {
        let counted: BTreeSet<Sid> = sids
            .into_iter()
            .copied()
            .filter(|s| {
                self.members.contains(s)
                    || crate::planted::active(crate::planted::Bug::ObserverVoteCounted)
            })
            .collect();
        counted.len() >= self.quorum_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_of_voters_only() {
        let voters = Voters::new([Sid(1), Sid(2), Sid(3)]);
        assert!(!voters.is_quorum(&[Sid(1)]));
        assert!(voters.is_quorum(&[Sid(1), Sid(3)]));
        // An observer (4) and a duplicate never make up for a missing voter.
        assert!(!voters.is_quorum(&[Sid(1), Sid(4), Sid(1)]));
        let four = Voters::new([Sid(1), Sid(2), Sid(3), Sid(4)]);
        assert_eq!(four.quorum_size(), 3);
        assert!(!four.is_quorum(&[Sid(1), Sid(2)]));
    }
}
