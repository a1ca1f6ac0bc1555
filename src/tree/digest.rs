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
///
/// The fields are gathered into one stack buffer and hashed in a single update: fed one by one,
/// every 4- and 8-byte field went through the bytewise table (slice-by-16 only helps from 16
/// bytes on), and this function showed up in write profiles. The bytes hashed, and so the
/// digest, are the same either way.
pub(crate) fn node_digest(f: &DigestFields<'_>) -> u64 {
    let mut d = CRC64.digest();
    let mut buf = FieldBuf::default();
    buf.put(&mut d, &(f.path.len() as u64).to_be_bytes());
    buf.put(&mut d, f.path.as_bytes());
    buf.put(&mut d, &(f.data_len as u64).to_be_bytes());
    buf.put(&mut d, &f.data_digest.to_be_bytes());
    buf.put(&mut d, &f.czxid.to_be_bytes());
    buf.put(&mut d, &f.mzxid.to_be_bytes());
    buf.put(&mut d, &f.pzxid.to_be_bytes());
    buf.put(&mut d, &f.ctime.to_be_bytes());
    buf.put(&mut d, &f.mtime.to_be_bytes());
    buf.put(&mut d, &f.version.to_be_bytes());
    buf.put(&mut d, &f.creates.to_be_bytes());
    buf.put(&mut d, &f.aversion.to_be_bytes());
    buf.put(&mut d, &f.owner.to_be_bytes());
    buf.put(&mut d, &(f.acl.len() as u64).to_be_bytes());
    for a in f.acl {
        buf.put(&mut d, &a.perms.to_be_bytes());
        buf.put(&mut d, &(a.id.scheme.len() as u64).to_be_bytes());
        buf.put(&mut d, a.id.scheme.as_bytes());
        buf.put(&mut d, &(a.id.id.len() as u64).to_be_bytes());
        buf.put(&mut d, a.id.id.as_bytes());
    }
    buf.flush(&mut d);
    d.finalize()
}

/// Bytes waiting to be hashed: small fields are copied here and hashed in one `update` when the
/// buffer fills (or at the end); anything as large as the buffer goes straight to the digest.
struct FieldBuf {
    bytes: [u8; 256],
    len: usize,
}

impl Default for FieldBuf {
    fn default() -> Self {
        FieldBuf {
            bytes: [0; 256],
            len: 0,
        }
    }
}

impl FieldBuf {
    fn put(&mut self, d: &mut crc::Digest<'_, u64, Table<16>>, field: &[u8]) {
        if self.len + field.len() > self.bytes.len() {
            self.flush(d);
        }
        if field.len() >= self.bytes.len() {
            d.update(field);
            return;
        }
        self.bytes[self.len..self.len + field.len()].copy_from_slice(field);
        self.len += field.len();
    }

    fn flush(&mut self, d: &mut crc::Digest<'_, u64, Table<16>>) {
        d.update(&self.bytes[..self.len]);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_the_standard_xz_variant() {
        // The published check value of CRC-64/XZ, so digests are reproducible anywhere.
        assert_eq!(data_digest(b"123456789"), 0x995d_c9bb_df19_39fa);
    }

    /// The buffered digest hashes exactly the bytes the fields spell, in order: compare with
    /// one CRC over their concatenation, for short and long paths, data-free and ACL-heavy nodes.
    #[test]
    fn buffered_node_digest_is_the_crc_of_the_concatenated_fields() {
        use crate::tree::txn::Id;
        let long_path = format!("/{}", "p".repeat(700));
        let acls: Vec<Acl> = (0..5)
            .map(|i| Acl {
                perms: i,
                id: Id {
                    scheme: "digest".repeat(i as usize + 1),
                    id: "x".repeat(90 * i as usize),
                },
            })
            .collect();
        for (path, acl) in [
            ("/a", &acls[..1]),
            (long_path.as_str(), &acls[..]),
            ("/", &[][..]),
        ] {
            let f = DigestFields {
                path,
                data_len: 17,
                data_digest: 0x0123_4567_89ab_cdef,
                acl,
                czxid: 1,
                mzxid: 2,
                pzxid: 3,
                ctime: -4,
                mtime: 5,
                version: 6,
                creates: -7,
                aversion: 8,
                owner: 9,
            };
            let mut all = Vec::new();
            all.extend_from_slice(&(path.len() as u64).to_be_bytes());
            all.extend_from_slice(path.as_bytes());
            all.extend_from_slice(&17u64.to_be_bytes());
            all.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
            for v in [1u64, 2, 3] {
                all.extend_from_slice(&v.to_be_bytes());
            }
            for v in [-4i64, 5] {
                all.extend_from_slice(&v.to_be_bytes());
            }
            for v in [6i32, -7, 8] {
                all.extend_from_slice(&v.to_be_bytes());
            }
            all.extend_from_slice(&9i64.to_be_bytes());
            all.extend_from_slice(&(acl.len() as u64).to_be_bytes());
            for a in acl {
                all.extend_from_slice(&a.perms.to_be_bytes());
                all.extend_from_slice(&(a.id.scheme.len() as u64).to_be_bytes());
                all.extend_from_slice(a.id.scheme.as_bytes());
                all.extend_from_slice(&(a.id.id.len() as u64).to_be_bytes());
                all.extend_from_slice(a.id.id.as_bytes());
            }
            assert_eq!(
                node_digest(&f),
                CRC64.checksum(&all),
                "path len {}",
                path.len()
            );
        }
    }
}
