//! The jute records of the client protocol (`zookeeper.jute`, module `proto` and `data`), each
//! with its read and write. Field order is the wire order.

use super::codec::{Reader, Writer};
use super::JuteError;
use crate::ids::Zxid;
use crate::tree::{Acl, CreateMode, ErrorCode, Id, Stat, MAX_TTL_MS};

/// ZooKeeper's `ZooDefs.OpCode` values used on the client port.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    /// The type of an error result inside a multi response.
    pub const ERROR: i32 = -1;
}

/// Special request/reply xids (ZooKeeper's `ClientCnxn`).
pub mod xid {
    /// Watch notifications (`WatcherEvent` bodies).
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

pub(crate) fn read_id(r: &mut Reader<'_>) -> Result<Id, JuteError> {
    Ok(Id {
        scheme: r.ustring()?,
        id: r.ustring()?,
    })
}

pub(crate) fn write_id(w: &mut Writer, id: &Id) {
    w.ustring(&id.scheme);
    w.ustring(&id.id);
}

pub(crate) fn read_acl(r: &mut Reader<'_>) -> Result<Acl, JuteError> {
    Ok(Acl {
        perms: r.int()?,
        id: read_id(r)?,
    })
}

pub(crate) fn write_acl(w: &mut Writer, acl: &Acl) {
    w.int(acl.perms);
    write_id(w, &acl.id);
}

fn read_acls(r: &mut Reader<'_>) -> Result<Vec<Acl>, JuteError> {
    r.vector(read_acl)
}

fn write_acls(w: &mut Writer, acls: &[Acl]) {
    w.vector(acls, write_acl);
}

fn read_strings(r: &mut Reader<'_>) -> Result<Vec<String>, JuteError> {
    r.vector(|r| r.ustring())
}

fn write_strings(w: &mut Writer, v: &[String]) {
    w.vector(v, |w, s| w.ustring(s));
}

/// `Stat`: czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength,
/// numChildren, pzxid. Zxids are Java `long`s on the wire; the bits are kept as they are.
pub fn read_stat(r: &mut Reader<'_>) -> Result<Stat, JuteError> {
    Ok(Stat {
        czxid: Zxid(r.long()? as u64),
        mzxid: Zxid(r.long()? as u64),
        ctime: r.long()?,
        mtime: r.long()?,
        version: r.int()?,
        cversion: r.int()?,
        aversion: r.int()?,
        ephemeral_owner: r.long()?,
        data_length: r.int()?,
        num_children: r.int()?,
        pzxid: Zxid(r.long()? as u64),
    })
}

pub fn write_stat(w: &mut Writer, s: &Stat) {
    w.long(s.czxid.0 as i64);
    w.long(s.mzxid.0 as i64);
    w.long(s.ctime);
    w.long(s.mtime);
    w.int(s.version);
    w.int(s.cversion);
    w.int(s.aversion);
    w.long(s.ephemeral_owner);
    w.int(s.data_length);
    w.int(s.num_children);
    w.long(s.pzxid.0 as i64);
}

fn read_error_code(r: &mut Reader<'_>) -> Result<ErrorCode, JuteError> {
    let code = r.int()?;
    ErrorCode::from_code(code).ok_or(JuteError::UnknownErrorCode(code))
}

/// The first record of a connection (no request header). `read_only` is `None` when the client
/// did not send the trailing flag (clients before ZooKeeper 3.4); the server then answers
/// without it too (see [`ConnectResponse::read_only`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn read(r: &mut Reader<'_>) -> Result<ConnectRequest, JuteError> {
        let protocol_version = r.int()?;
        let last_zxid_seen = r.long()?;
        let time_out = r.int()?;
        let session_id = r.long()?;
        let passwd = r.buffer()?;
        // ZooKeeper's ProtocolManager tries to read the flag and treats failure as "old client".
        let read_only = r.trailing_boolean()?;
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version);
        w.long(self.last_zxid_seen);
        w.int(self.time_out);
        w.long(self.session_id);
        w.buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.boolean(ro);
        }
    }
}

/// The server's answer to a [`ConnectRequest`]. `read_only: None` omits the trailing flag, as
/// ZooKeeper does for a client that did not send one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn read(r: &mut Reader<'_>) -> Result<ConnectResponse, JuteError> {
        let protocol_version = r.int()?;
        let time_out = r.int()?;
        let session_id = r.long()?;
        let passwd = r.buffer()?;
        let read_only = r.trailing_boolean()?;
        Ok(ConnectResponse {
            protocol_version,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version);
        w.int(self.time_out);
        w.long(self.session_id);
        w.buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.boolean(ro);
        }
    }
}

/// Precedes every request after the connect: the client's sequence number and the op code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub op: i32,
}

impl RequestHeader {
    pub fn read(r: &mut Reader<'_>) -> Result<RequestHeader, JuteError> {
        Ok(RequestHeader {
            xid: r.int()?,
            op: r.int()?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.xid);
        w.int(self.op);
    }
}

/// Precedes every reply: the request's xid (or a special xid), the last zxid the server has
/// seen (a Java `long`; -1 for notifications), and the result code. A reply whose `err` is not
/// `Ok` carries no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: ErrorCode,
}

impl ReplyHeader {
    pub fn read(r: &mut Reader<'_>) -> Result<ReplyHeader, JuteError> {
        Ok(ReplyHeader {
            xid: r.int()?,
            zxid: r.long()?,
            err: read_error_code(r)?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.xid);
        w.long(self.zxid);
        w.int(self.err.code());
    }
}

/// `CreateRequest`, and `CreateTTLRequest` when `ttl` is `Some`. The flags stay raw: an unknown
/// flag is ZooKeeper's `BadArguments` reply, not a broken connection, so the server calls
/// [`CreateRequest::mode`] and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    pub data: Vec<u8>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: Option<i64>,
}

impl CreateRequest {
    fn read(r: &mut Reader<'_>, with_ttl: bool) -> Result<CreateRequest, JuteError> {
        Ok(CreateRequest {
            path: r.ustring()?,
            data: r.buffer()?,
            acl: read_acls(r)?,
            flags: r.int()?,
            ttl: if with_ttl { Some(r.long()?) } else { None },
        })
    }

    fn write(&self, w: &mut Writer) {
        w.ustring(&self.path);
        w.buffer(&self.data);
        write_acls(w, &self.acl);
        w.int(self.flags);
        if let Some(ttl) = self.ttl {
            w.long(ttl);
        }
    }

    /// The create mode for these flags and TTL (see [`create_mode`]).
    pub fn mode(&self) -> Result<CreateMode, JuteError> {
        create_mode(self.flags, self.ttl)
    }
}

/// ZooKeeper's `CreateMode.fromFlag` plus its TTL validation (`EphemeralType.validateTTL`):
/// flags 0..=6 map to persistent, ephemeral, persistent sequential, ephemeral sequential,
/// container, persistent TTL and persistent sequential TTL. A TTL mode needs a TTL in
/// `1..=MAX_TTL_MS` (so only `createTTL` can use one); a non-TTL mode must not carry a
/// non-negative TTL.
pub fn create_mode(flags: i32, ttl: Option<i64>) -> Result<CreateMode, JuteError> {
    let valid_ttl = || match ttl {
        Some(t) if (1..=MAX_TTL_MS).contains(&t) => Ok(t),
        other => Err(JuteError::BadTtl {
            flags,
            ttl: other.unwrap_or(-1),
        }),
    };
    let mode = match flags {
        0 => CreateMode::Persistent,
        1 => CreateMode::Ephemeral,
        2 => CreateMode::PersistentSequential,
        3 => CreateMode::EphemeralSequential,
        4 => CreateMode::Container,
        5 => return Ok(CreateMode::PersistentWithTtl(valid_ttl()?)),
        6 => return Ok(CreateMode::PersistentSequentialWithTtl(valid_ttl()?)),
        _ => return Err(JuteError::BadCreateFlags(flags)),
    };
    match ttl {
        Some(t) if t >= 0 => Err(JuteError::BadTtl { flags, ttl: t }),
        _ => Ok(mode),
    }
}

/// `SetWatches` (op 101) and `SetWatches2` (op 105, which adds the persistent lists), sent on
/// reconnect to re-register the client's watches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data_watches: Vec<String>,
    pub exist_watches: Vec<String>,
    pub child_watches: Vec<String>,
    pub persistent_watches: Vec<String>,
    pub persistent_recursive_watches: Vec<String>,
}

impl SetWatches {
    fn read(r: &mut Reader<'_>, v2: bool) -> Result<SetWatches, JuteError> {
        let mut s = SetWatches {
            relative_zxid: r.long()?,
            data_watches: read_strings(r)?,
            exist_watches: read_strings(r)?,
            child_watches: read_strings(r)?,
            ..SetWatches::default()
        };
        if v2 {
            s.persistent_watches = read_strings(r)?;
            s.persistent_recursive_watches = read_strings(r)?;
        }
        Ok(s)
    }

    fn write(&self, w: &mut Writer, v2: bool) {
        w.long(self.relative_zxid);
        write_strings(w, &self.data_watches);
        write_strings(w, &self.exist_watches);
        write_strings(w, &self.child_watches);
        if v2 {
            write_strings(w, &self.persistent_watches);
            write_strings(w, &self.persistent_recursive_watches);
        }
    }
}

/// `AuthPacket` (op 100, xid -4): e.g. scheme `digest`, auth `user:password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPacket {
    pub auth_type: i32,
    pub scheme: String,
    pub auth: Vec<u8>,
}

/// `WatcherEvent`, the body of a notification (xid -1). `event_type` is ZooKeeper's
/// `EventType` (1 created, 2 deleted, 3 data changed, 4 children changed, ...), `state` its
/// `KeeperState` (3 = SyncConnected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

/// `ClientInfo`, one entry of the `whoAmI` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub auth_scheme: String,
    pub user: String,
}

/// One operation of a `multi` (14) or `multiRead` (22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `op` is one of create (1), create2 (15), createContainer (19), createTTL (21).
    Create {
        op: i32,
        request: CreateRequest,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// Read ops: only in `multiRead`. The watch flag is on the wire but ZooKeeper ignores it.
    GetChildren {
        path: String,
    },
    GetData {
        path: String,
    },
}

impl MultiOp {
    pub fn op_code(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::Delete { .. } => op::DELETE,
            MultiOp::SetData { .. } => op::SET_DATA,
            MultiOp::Check { .. } => op::CHECK,
            MultiOp::GetChildren { .. } => op::GET_CHILDREN,
            MultiOp::GetData { .. } => op::GET_DATA,
        }
    }

    fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren { .. } | MultiOp::GetData { .. })
    }
}

/// `MultiHeader`: every op and result of a multi is preceded by one; a header with
/// `done = true` (ZooKeeper writes type -1, err -1) ends the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MultiHeader {
    op: i32,
    done: bool,
    err: i32,
}

impl MultiHeader {
    fn read(r: &mut Reader<'_>) -> Result<MultiHeader, JuteError> {
        Ok(MultiHeader {
            op: r.int()?,
            done: r.boolean()?,
            err: r.int()?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.int(self.op);
        w.boolean(self.done);
        w.int(self.err);
    }

    const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

/// `MultiOperationRecord`: ops until the `done` header. `read_ops` selects `multiRead`;
/// mixing reads into a write multi (or the reverse) is an error, as in ZooKeeper.
fn read_multi(r: &mut Reader<'_>, read_ops: bool) -> Result<Vec<MultiOp>, JuteError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        let o = match h.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => MultiOp::Create {
                op: h.op,
                request: CreateRequest::read(r, false)?,
            },
            op::CREATE_TTL => MultiOp::Create {
                op: h.op,
                request: CreateRequest::read(r, true)?,
            },
            op::DELETE => MultiOp::Delete {
                path: r.ustring()?,
                version: r.int()?,
            },
            op::SET_DATA => MultiOp::SetData {
                path: r.ustring()?,
                data: r.buffer()?,
                version: r.int()?,
            },
            op::CHECK => MultiOp::Check {
                path: r.ustring()?,
                version: r.int()?,
            },
            op::GET_CHILDREN => {
                let path = r.ustring()?;
                r.boolean()?;
                MultiOp::GetChildren { path }
            }
            op::GET_DATA => {
                let path = r.ustring()?;
                r.boolean()?;
                MultiOp::GetData { path }
            }
            other => return Err(JuteError::BadMultiOp(other)),
        };
        if o.is_read() != read_ops {
            return Err(JuteError::MixedMulti);
        }
        ops.push(o);
    }
}

fn write_multi(w: &mut Writer, ops: &[MultiOp]) {
    for o in ops {
        MultiHeader {
            op: o.op_code(),
            done: false,
            err: -1,
        }
        .write(w);
        match o {
            MultiOp::Create { request, .. } => request.write(w),
            MultiOp::Delete { path, version } | MultiOp::Check { path, version } => {
                w.ustring(path);
                w.int(*version);
            }
            MultiOp::SetData {
                path,
                data,
                version,
            } => {
                w.ustring(path);
                w.buffer(data);
                w.int(*version);
            }
            MultiOp::GetChildren { path } | MultiOp::GetData { path } => {
                w.ustring(path);
                w.boolean(false);
            }
        }
    }
    MultiHeader::END.write(w);
}

/// One result of a multi. After a failed write multi ZooKeeper reports every op as `Error`:
/// `Ok` for those that would have succeeded, the real code for the one that failed and
/// `RuntimeInconsistency` for the ones after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    Check,
    GetChildren { children: Vec<String> },
    GetData { data: Vec<u8>, stat: Stat },
    Error(ErrorCode),
}

fn read_multi_results(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, JuteError> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.op {
            op::CREATE => MultiResult::Create { path: r.ustring()? },
            op::CREATE2 => MultiResult::Create2 {
                path: r.ustring()?,
                stat: read_stat(r)?,
            },
            op::DELETE => MultiResult::Delete,
            op::SET_DATA => MultiResult::SetData {
                stat: read_stat(r)?,
            },
            op::CHECK => MultiResult::Check,
            op::GET_CHILDREN => MultiResult::GetChildren {
                children: read_strings(r)?,
            },
            op::GET_DATA => MultiResult::GetData {
                data: r.buffer()?,
                stat: read_stat(r)?,
            },
            op::ERROR => MultiResult::Error(read_error_code(r)?),
            other => return Err(JuteError::BadMultiOp(other)),
        });
    }
}

fn write_multi_results(w: &mut Writer, results: &[MultiResult]) {
    for res in results {
        let (op_code, err) = match res {
            MultiResult::Create { .. } => (op::CREATE, 0),
            MultiResult::Create2 { .. } => (op::CREATE2, 0),
            MultiResult::Delete => (op::DELETE, 0),
            MultiResult::SetData { .. } => (op::SET_DATA, 0),
            MultiResult::Check => (op::CHECK, 0),
            MultiResult::GetChildren { .. } => (op::GET_CHILDREN, 0),
            MultiResult::GetData { .. } => (op::GET_DATA, 0),
            MultiResult::Error(code) => (op::ERROR, code.code()),
        };
        MultiHeader {
            op: op_code,
            done: false,
            err,
        }
        .write(w);
        match res {
            MultiResult::Create { path } => w.ustring(path),
            MultiResult::Create2 { path, stat } => {
                w.ustring(path);
                write_stat(w, stat);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => write_stat(w, stat),
            MultiResult::GetChildren { children } => write_strings(w, children),
            MultiResult::GetData { data, stat } => {
                w.buffer(data);
                write_stat(w, stat);
            }
            MultiResult::Error(code) => w.int(code.code()),
        }
    }
    MultiHeader::END.write(w);
}

/// A client request body, by op code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1): answered with the path only.
    Create(CreateRequest),
    /// create2 (15): answered with path and stat.
    Create2(CreateRequest),
    /// createContainer (19): flags must say container (checked by the server).
    CreateContainer(CreateRequest),
    /// createTTL (21): `ttl` is always `Some`.
    CreateTtl(CreateRequest),
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    CloseSession,
    SetWatches(SetWatches),
    SetWatches2(SetWatches),
    /// `mode`: 0 persistent, 1 persistent recursive.
    AddWatch {
        path: String,
        mode: i32,
    },
    /// `watch_type`: ZooKeeper's `WatcherType` (1 children, 2 data, 3 any).
    CheckWatches {
        path: String,
        watch_type: i32,
    },
    RemoveWatches {
        path: String,
        watch_type: i32,
    },
    GetAllChildrenNumber {
        path: String,
    },
    GetEphemerals {
        prefix_path: String,
    },
    WhoAmI,
    Auth(AuthPacket),
}

impl Request {
    /// The op code this request travels under.
    pub fn op_code(&self) -> i32 {
        match self {
            Request::Create(_) => op::CREATE,
            Request::Create2(_) => op::CREATE2,
            Request::CreateContainer(_) => op::CREATE_CONTAINER,
            Request::CreateTtl(_) => op::CREATE_TTL,
            Request::Delete { .. } => op::DELETE,
            Request::Exists { .. } => op::EXISTS,
            Request::GetData { .. } => op::GET_DATA,
            Request::SetData { .. } => op::SET_DATA,
            Request::GetAcl { .. } => op::GET_ACL,
            Request::SetAcl { .. } => op::SET_ACL,
            Request::GetChildren { .. } => op::GET_CHILDREN,
            Request::GetChildren2 { .. } => op::GET_CHILDREN2,
            Request::Sync { .. } => op::SYNC,
            Request::Ping => op::PING,
            Request::Check { .. } => op::CHECK,
            Request::Multi(_) => op::MULTI,
            Request::MultiRead(_) => op::MULTI_READ,
            Request::CloseSession => op::CLOSE_SESSION,
            Request::SetWatches(_) => op::SET_WATCHES,
            Request::SetWatches2(_) => op::SET_WATCHES2,
            Request::AddWatch { .. } => op::ADD_WATCH,
            Request::CheckWatches { .. } => op::CHECK_WATCHES,
            Request::RemoveWatches { .. } => op::REMOVE_WATCHES,
            Request::GetAllChildrenNumber { .. } => op::GET_ALL_CHILDREN_NUMBER,
            Request::GetEphemerals { .. } => op::GET_EPHEMERALS,
            Request::WhoAmI => op::WHO_AM_I,
            Request::Auth(_) => op::AUTH,
        }
    }

    /// Read the body for `op_code`. Unknown (or unsupported, e.g. reconfig, sasl) codes are
    /// [`JuteError::UnknownOp`] so the server can answer `Unimplemented`.
    pub fn read(op_code: i32, r: &mut Reader<'_>) -> Result<Request, JuteError> {
        Ok(match op_code {
            op::CREATE => Request::Create(CreateRequest::read(r, false)?),
            op::CREATE2 => Request::Create2(CreateRequest::read(r, false)?),
            op::CREATE_CONTAINER => Request::CreateContainer(CreateRequest::read(r, false)?),
            op::CREATE_TTL => Request::CreateTtl(CreateRequest::read(r, true)?),
            op::DELETE => Request::Delete {
                path: r.ustring()?,
                version: r.int()?,
            },
            op::EXISTS => Request::Exists {
                path: r.ustring()?,
                watch: r.boolean()?,
            },
            op::GET_DATA => Request::GetData {
                path: r.ustring()?,
                watch: r.boolean()?,
            },
            op::SET_DATA => Request::SetData {
                path: r.ustring()?,
                data: r.buffer()?,
                version: r.int()?,
            },
            op::GET_ACL => Request::GetAcl { path: r.ustring()? },
            op::SET_ACL => Request::SetAcl {
                path: r.ustring()?,
                acl: read_acls(r)?,
                version: r.int()?,
            },
            op::GET_CHILDREN => Request::GetChildren {
                path: r.ustring()?,
                watch: r.boolean()?,
            },
            op::GET_CHILDREN2 => Request::GetChildren2 {
                path: r.ustring()?,
                watch: r.boolean()?,
            },
            op::SYNC => Request::Sync { path: r.ustring()? },
            op::PING => Request::Ping,
            op::CHECK => Request::Check {
                path: r.ustring()?,
                version: r.int()?,
            },
            op::MULTI => Request::Multi(read_multi(r, false)?),
            op::MULTI_READ => Request::MultiRead(read_multi(r, true)?),
            op::CLOSE_SESSION => Request::CloseSession,
            op::SET_WATCHES => Request::SetWatches(SetWatches::read(r, false)?),
            op::SET_WATCHES2 => Request::SetWatches2(SetWatches::read(r, true)?),
            op::ADD_WATCH => Request::AddWatch {
                path: r.ustring()?,
                mode: r.int()?,
            },
            op::CHECK_WATCHES => Request::CheckWatches {
                path: r.ustring()?,
                watch_type: r.int()?,
            },
            op::REMOVE_WATCHES => Request::RemoveWatches {
                path: r.ustring()?,
                watch_type: r.int()?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: r.ustring()? },
            op::GET_EPHEMERALS => Request::GetEphemerals {
                prefix_path: r.ustring()?,
            },
            op::WHO_AM_I => Request::WhoAmI,
            op::AUTH => Request::Auth(AuthPacket {
                auth_type: r.int()?,
                scheme: r.ustring()?,
                auth: r.buffer()?,
            }),
            other => return Err(JuteError::UnknownOp(other)),
        })
    }

    pub fn write(&self, w: &mut Writer) {
        match self {
            Request::Create(c)
            | Request::Create2(c)
            | Request::CreateContainer(c)
            | Request::CreateTtl(c) => c.write(w),
            Request::Delete { path, version } | Request::Check { path, version } => {
                w.ustring(path);
                w.int(*version);
            }
            Request::Exists { path, watch }
            | Request::GetData { path, watch }
            | Request::GetChildren { path, watch }
            | Request::GetChildren2 { path, watch } => {
                w.ustring(path);
                w.boolean(*watch);
            }
            Request::SetData {
                path,
                data,
                version,
            } => {
                w.ustring(path);
                w.buffer(data);
                w.int(*version);
            }
            Request::GetAcl { path }
            | Request::Sync { path }
            | Request::GetAllChildrenNumber { path }
            | Request::GetEphemerals { prefix_path: path } => w.ustring(path),
            Request::SetAcl { path, acl, version } => {
                w.ustring(path);
                write_acls(w, acl);
                w.int(*version);
            }
            Request::Ping | Request::CloseSession | Request::WhoAmI => {}
            Request::Multi(ops) | Request::MultiRead(ops) => write_multi(w, ops),
            Request::SetWatches(s) => s.write(w, false),
            Request::SetWatches2(s) => s.write(w, true),
            Request::AddWatch { path, mode: n }
            | Request::CheckWatches {
                path,
                watch_type: n,
            }
            | Request::RemoveWatches {
                path,
                watch_type: n,
            } => {
                w.ustring(path);
                w.int(*n);
            }
            Request::Auth(a) => {
                w.int(a.auth_type);
                w.ustring(&a.scheme);
                w.buffer(&a.auth);
            }
        }
    }
}

/// A reply body. Which shape a client expects depends on the request's op code (see
/// [`Response::read`]); a reply with a non-`Ok` error code is always [`Response::Empty`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: errors, ping, delete, check, closeSession, setWatches, auth, addWatch,
    /// checkWatches, removeWatches.
    Empty,
    /// create (1) and sync (9): a path.
    Path(String),
    /// create2, createContainer, createTTL: path and stat.
    Create2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL: a stat.
    Stat(Stat),
    GetData {
        data: Vec<u8>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
    },
    GetChildren2 {
        children: Vec<String>,
        stat: Stat,
    },
    Multi(Vec<MultiResult>),
    AllChildrenNumber(i32),
    Ephemerals(Vec<String>),
    WhoAmI(Vec<ClientInfo>),
    /// A watch notification (reply xid -1).
    Event(WatcherEvent),
}

impl Response {
    pub fn write(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Path(p) => w.ustring(p),
            Response::Create2 { path, stat } => {
                w.ustring(path);
                write_stat(w, stat);
            }
            Response::Stat(s) => write_stat(w, s),
            Response::GetData { data, stat } => {
                w.buffer(data);
                write_stat(w, stat);
            }
            Response::GetAcl { acl, stat } => {
                write_acls(w, acl);
                write_stat(w, stat);
            }
            Response::GetChildren { children } | Response::Ephemerals(children) => {
                write_strings(w, children)
            }
            Response::GetChildren2 { children, stat } => {
                write_strings(w, children);
                write_stat(w, stat);
            }
            Response::Multi(results) => write_multi_results(w, results),
            Response::AllChildrenNumber(n) => w.int(*n),
            Response::WhoAmI(infos) => w.vector(infos, |w, i| {
                w.ustring(&i.auth_scheme);
                w.ustring(&i.user);
            }),
            Response::Event(e) => {
                w.int(e.event_type);
                w.int(e.state);
                w.ustring(&e.path);
            }
        }
    }

    /// Read the body of a successful reply to a request with `op_code` (what a client does;
    /// the server itself never decodes responses, but tests and tools do).
    pub fn read(op_code: i32, r: &mut Reader<'_>) -> Result<Response, JuteError> {
        Ok(match op_code {
            op::NOTIFICATION => Response::Event(WatcherEvent {
                event_type: r.int()?,
                state: r.int()?,
                path: r.ustring()?,
            }),
            op::CREATE | op::SYNC => Response::Path(r.ustring()?),
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => Response::Create2 {
                path: r.ustring()?,
                stat: read_stat(r)?,
            },
            op::EXISTS | op::SET_DATA | op::SET_ACL => Response::Stat(read_stat(r)?),
            op::GET_DATA => Response::GetData {
                data: r.buffer()?,
                stat: read_stat(r)?,
            },
            op::GET_ACL => Response::GetAcl {
                acl: read_acls(r)?,
                stat: read_stat(r)?,
            },
            op::GET_CHILDREN => Response::GetChildren {
                children: read_strings(r)?,
            },
            op::GET_CHILDREN2 => Response::GetChildren2 {
                children: read_strings(r)?,
                stat: read_stat(r)?,
            },
            op::MULTI | op::MULTI_READ => Response::Multi(read_multi_results(r)?),
            op::GET_ALL_CHILDREN_NUMBER => Response::AllChildrenNumber(r.int()?),
            op::GET_EPHEMERALS => Response::Ephemerals(read_strings(r)?),
            op::WHO_AM_I => Response::WhoAmI(r.vector(|r| {
                Ok(ClientInfo {
                    auth_scheme: r.ustring()?,
                    user: r.ustring()?,
                })
            })?),
            op::DELETE
            | op::PING
            | op::CHECK
            | op::CLOSE_SESSION
            | op::SET_WATCHES
            | op::SET_WATCHES2
            | op::AUTH
            | op::ADD_WATCH
            | op::CHECK_WATCHES
            | op::REMOVE_WATCHES => Response::Empty,
            other => return Err(JuteError::UnknownOp(other)),
        })
    }
}
