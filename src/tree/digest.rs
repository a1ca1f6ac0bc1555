//! The tree digest: the wrapping sum of one CRC-64 per node.
//!
//! ZooKeeper's `DigestCalculator` sums a CRC32 of each node's path, data and persisted stat, so
//! that the digest is independent of the order nodes were visited and can be maintained
//! incrementally (subtract a node's old value, add its new one). This keeps that shape with
//! three changes, all of which make divergence easier to see:
//! - CRC-64 (XZ) instead of CRC32, so accidental collisions are 2^-64 instead of 2^-32, and a
//!   change of any single field of up to 64 bits always changes a node's value;
//! - the path and data are length-prefixed (ZooKeeper's plain concatenation makes node "/a"
//!   with data "b" and node "/ab" with data "" look alike) and the ACL is covered too;
//! - the `/zookeeper` subtree is included: ZooKeeper leaves it out because its quota nodes are
//!   updated locally on each server, which never happens here (every change is a txn).
//!
//! The data's CRC is computed once when the data is set and cached in the node, so a change
//! to a parent's stat (every child create/delete) does not rehash up to 1 MiB of its data.
//! Everything is hashed in big-endian byte order, so digests agree across machines.

use super::txn::Acl;
use crc::{Crc, Table, CRC_64_XZ};

/// Slice-by-16 tables (32 KiB, built at compile time): several times faster than the bytewise
/// default on data, which made hashing most of the cost of replaying a log. Same checksums.
const CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_XZ);

/// The CRC-64 of a node's data, cached alongside it.
pub(crate) fn data_digest(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

/// The persisted fields a node's digest covers (ZooKeeper's `StatPersisted` minus nothing).
pub(crate) struct DigestFields<'a> {
    pub path: &'a str,
    pub data_len: usize,
    pub data_digest: u64,
    pub acl: &'a [Acl],
    pub czxid: u64,
    pub mzxid: u64,
    pub pzxid: u64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The persisted cversion: the number of child creations.
    pub creates: i32,
    pub aversion: i32,
    /// The persisted owner encoding (session, container marker or TTL).
    pub owner: i64,
}

/// One node's contribution to the tree digest.
pub(crate) fn node_digest(f: &DigestFields<'_>) -> u64 {
    let mut d = CRC64.digest();
    d.update(&(f.path.len() as u64).to_be_bytes());
    d.update(f.path.as_bytes());
    d.update(&(f.data_len as u64).to_be_bytes());
    d.update(&f.data_digest.to_be_bytes());
    d.update(&f.czxid.to_be_bytes());
    d.update(&f.mzxid.to_be_bytes());
    d.update(&f.pzxid.to_be_bytes());
    d.update(&f.ctime.to_be_bytes());
    d.update(&f.mtime.to_be_bytes());
    d.update(&f.version.to_be_bytes());
    d.update(&f.creates.to_be_bytes());
    d.update(&f.aversion.to_be_bytes());
    d.update(&f.owner.to_be_bytes());
    d.update(&(f.acl.len() as u64).to_be_bytes());
    for a in f.acl {
        d.update(&a.perms.to_be_bytes());
        d.update(&(a.id.scheme.len() as u64).to_be_bytes());
        d.update(a.id.scheme.as_bytes());
        d.update(&(a.id.id.len() as u64).to_be_bytes());
        d.update(a.id.id.as_bytes());
    }
    d.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_the_standard_xz_variant() {
        // The published check value of CRC-64/XZ, so digests are reproducible anywhere.
        assert_eq!(data_digest(b"123456789"), 0x995d_c9bb_df19_39fa);
    }
}
