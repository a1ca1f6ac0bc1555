//! What each client request means, pure: reads answered from a tree, writes turned into the
//! [`Op`] to replicate, and committed results turned back into ZooKeeper's reply shapes. No
//! sockets, locks or sessions here; [`super::client`] does the I/O around these functions.

use super::acl::AuthInfo;
use super::jute::{op, CreateRequest, MultiOp, MultiResult, Request, Response, SetWatches};
use super::watches::{event_type, WatchKind};
use crate::tree::{perms, validate_path, DataTree, ErrorCode, Op, OpResult, Stat};

/// What the client expects back from a write, decided before it is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// create: the path only.
    Path,
    /// create2, createContainer, createTTL: path and stat.
    PathAndStat,
    /// delete, check.
    Empty,
    /// setData, setACL.
    Stat,
    /// multi: the op code of each op (a create's result shape depends on it).
    Multi(Vec<i32>),
}

/// A request's answer: the code of the reply header and, when it is `Ok`, the body.
pub type Answer = (ErrorCode, Response);

fn fail(code: ErrorCode) -> Answer {
    (code, Response::Empty)
}

/// Is this op a read, answered from the local tree without replication?
pub fn is_read(request: &Request) -> bool {
    matches!(
        request,
        Request::Exists { .. }
            | Request::GetData { .. }
            | Request::GetAcl { .. }
            | Request::GetChildren { .. }
            | Request::GetChildren2 { .. }
            | Request::GetAllChildrenNumber { .. }
            | Request::GetEphemerals { .. }
            | Request::MultiRead(_)
            | Request::WhoAmI
    )
}

/// Answer a read from `tree`. `watch` registers a watch of the connection (ZooKeeper's rules:
/// `exists` watches whether or not the node exists, `getData` and `getChildren` only when it
/// does).
pub fn read(
    tree: &DataTree,
    auth: &AuthInfo,
    session: i64,
    request: &Request,
    watch: &mut dyn FnMut(WatchKind, &str),
) -> Answer {
    match request {
        Request::Exists { path, watch: w } => {
            // Like ZooKeeper, reads do not validate paths (an invalid one is just no node),
            // except that `exists` refuses a NUL.
            if path.contains('\0') {
                return fail(ErrorCode::BadArguments);
            }
            if *w {
                watch(WatchKind::Data, path);
            }
            match tree.stat(path) {
                Some(stat) => (ErrorCode::Ok, Response::Stat(*stat)),
                None => fail(ErrorCode::NoNode),
            }
        }
        Request::GetData { path, watch: w } => match get_data(tree, auth, path) {
            Ok((data, stat)) => {
                if *w {
                    watch(WatchKind::Data, path);
                }
                (ErrorCode::Ok, Response::GetData { data, stat })
            }
            Err(code) => fail(code),
        },
        Request::GetChildren { path, watch: w } | Request::GetChildren2 { path, watch: w } => {
            match get_children(tree, auth, path) {
                Ok((children, stat)) => {
                    if *w {
                        watch(WatchKind::Child, path);
                    }
                    match request {
                        Request::GetChildren { .. } => {
                            (ErrorCode::Ok, Response::GetChildren { children })
                        }
                        _ => (ErrorCode::Ok, Response::GetChildren2 { children, stat }),
                    }
                }
                Err(code) => fail(code),
            }
        }
        Request::GetAcl { path } => match (tree.acl(path), tree.stat(path)) {
            (Some(acl), Some(stat)) => {
                if !auth.allows(acl, perms::READ | perms::ADMIN) {
                    return fail(ErrorCode::NoAuth);
                }
                (
                    ErrorCode::Ok,
                    Response::GetAcl {
                        acl: acl.to_vec(),
                        stat: *stat,
                    },
                )
            }
            _ => fail(ErrorCode::NoNode),
        },
        Request::GetAllChildrenNumber { path } => {
            let Some(acl) = tree.acl(path) else {
                return fail(ErrorCode::NoNode);
            };
            if !auth.allows(acl, perms::READ) {
                return fail(ErrorCode::NoAuth);
            }
            (
                ErrorCode::Ok,
                Response::AllChildrenNumber(count_descendants(tree, path)),
            )
        }
        Request::GetEphemerals { prefix_path } => {
            let mut paths: Vec<String> = tree
                .ephemerals(session)
                .into_iter()
                .filter(|p| p.starts_with(prefix_path.as_str()))
                .collect();
            paths.sort();
            (ErrorCode::Ok, Response::Ephemerals(paths))
        }
        Request::MultiRead(ops) => {
            let results = ops
                .iter()
                .map(|o| match o {
                    MultiOp::GetData { path } => match get_data(tree, auth, path) {
                        Ok((data, stat)) => MultiResult::GetData { data, stat },
                        Err(code) => MultiResult::Error(code),
                    },
                    MultiOp::GetChildren { path } => match get_children(tree, auth, path) {
                        Ok((children, _)) => MultiResult::GetChildren { children },
                        Err(code) => MultiResult::Error(code),
                    },
                    // The decoder refuses write ops in a multiRead.
                    _ => MultiResult::Error(ErrorCode::BadArguments),
                })
                .collect();
            (ErrorCode::Ok, Response::Multi(results))
        }
        Request::WhoAmI => (
            ErrorCode::Ok,
            Response::WhoAmI(
                auth.ids()
                    .iter()
                    .map(|id| super::jute::ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: id.id.clone(),
                    })
                    .collect(),
            ),
        ),
        _ => fail(ErrorCode::BadArguments),
    }
}

fn get_data(tree: &DataTree, auth: &AuthInfo, path: &str) -> Result<(Vec<u8>, Stat), ErrorCode> {
    let (data, stat) = tree.get(path).ok_or(ErrorCode::NoNode)?;
    let acl = tree.acl(path).unwrap_or(&[]);
    if !auth.allows(acl, perms::READ) {
        return Err(ErrorCode::NoAuth);
    }
    Ok((data.to_vec(), *stat))
}

fn get_children(
    tree: &DataTree,
    auth: &AuthInfo,
    path: &str,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let stat = *tree.stat(path).ok_or(ErrorCode::NoNode)?;
    if !auth.allows(tree.acl(path).unwrap_or(&[]), perms::READ) {
        return Err(ErrorCode::NoAuth);
    }
    Ok((tree.children(path).unwrap_or_default(), stat))
}

/// ZooKeeper's `getAllChildrenNumber`: every node below `path`, at any depth.
fn count_descendants(tree: &DataTree, path: &str) -> i32 {
    let mut count = 0i32;
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        for child in tree.children(&p).unwrap_or_default() {
            count = count.saturating_add(1);
            stack.push(if p == "/" {
                format!("/{child}")
            } else {
                format!("{p}/{child}")
            });
        }
    }
    count
}

/// The parent of a valid absolute path (`/` for a top-level node).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The op to replicate for a write request, after the checks that need the connection's
/// identity (ACLs, the `auth` scheme). `Err` is answered at once, without replication.
pub fn write_op(
    tree: &DataTree,
    auth: &AuthInfo,
    request: &Request,
) -> Result<(Op, Shape), ErrorCode> {
    match request {
        Request::Create(c) => Ok((create_op(tree, auth, op::CREATE, c)?, Shape::Path)),
        Request::Create2(c) => Ok((create_op(tree, auth, op::CREATE2, c)?, Shape::PathAndStat)),
        Request::CreateContainer(c) => Ok((
            create_op(tree, auth, op::CREATE_CONTAINER, c)?,
            Shape::PathAndStat,
        )),
        Request::CreateTtl(c) => Ok((
            create_op(tree, auth, op::CREATE_TTL, c)?,
            Shape::PathAndStat,
        )),
        Request::Delete { path, version } => {
            // ZooKeeper's delete refuses only a NUL; any other invalid path names no node.
            if path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            if path != "/" && validate_path(path).is_err() {
                return Err(ErrorCode::NoNode);
            }
            checked(tree, auth, parent_if_valid(path), perms::DELETE)?;
            Ok((
                Op::Delete {
                    path: path.clone(),
                    version: *version,
                },
                Shape::Empty,
            ))
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            checked(tree, auth, Some(path), perms::WRITE)?;
            Ok((
                Op::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: *version,
                },
                Shape::Stat,
            ))
        }
        Request::SetAcl { path, acl, version } => {
            if validate_path(path).is_err() {
                return Err(ErrorCode::BadArguments);
            }
            let acl = auth.fixup(acl)?;
            checked(tree, auth, Some(path), perms::ADMIN)?;
            Ok((
                Op::SetAcl {
                    path: path.clone(),
                    acl,
                    version: *version,
                },
                Shape::Stat,
            ))
        }
        Request::Check { path, version } => {
            checked(tree, auth, Some(path), perms::READ)?;
            Ok((
                Op::Check {
                    path: path.clone(),
                    version: *version,
                },
                Shape::Empty,
            ))
        }
        Request::Multi(ops) => {
            // A failed check becomes an `Error` op, so the multi fails as a whole in the
            // tree, with ZooKeeper's per-op results.
            let mut out = Vec::with_capacity(ops.len());
            let mut codes = Vec::with_capacity(ops.len());
            for o in ops {
                codes.push(o.op_code());
                let single = match o {
                    MultiOp::Create { op: code, request } => create_op(tree, auth, *code, request),
                    MultiOp::Delete { path, version } => write_op(
                        tree,
                        auth,
                        &Request::Delete {
                            path: path.clone(),
                            version: *version,
                        },
                    )
                    .map(|(op, _)| op),
                    MultiOp::SetData {
                        path,
                        data,
                        version,
                    } => write_op(
                        tree,
                        auth,
                        &Request::SetData {
                            path: path.clone(),
                            data: data.clone(),
                            version: *version,
                        },
                    )
                    .map(|(op, _)| op),
                    MultiOp::Check { path, version } => write_op(
                        tree,
                        auth,
                        &Request::Check {
                            path: path.clone(),
                            version: *version,
                        },
                    )
                    .map(|(op, _)| op),
                    MultiOp::GetChildren { .. } | MultiOp::GetData { .. } => {
                        Err(ErrorCode::BadArguments)
                    }
                };
                out.push(single.unwrap_or_else(|code| Op::Error { code }));
            }
            Ok((Op::Multi(out), Shape::Multi(codes)))
        }
        _ => Err(ErrorCode::BadArguments),
    }
}

fn parent_if_valid(path: &str) -> Option<&str> {
    validate_path(path).ok().map(|_| parent(path))
}

/// `NOAUTH` unless `auth` may do `perm` on `path`. A missing node (or invalid path) passes:
/// the replicated op then fails with ZooKeeper's code for that.
fn checked(
    tree: &DataTree,
    auth: &AuthInfo,
    path: Option<&str>,
    perm: i32,
) -> Result<(), ErrorCode> {
    match path.and_then(|p| tree.acl(p)) {
        Some(acl) if !auth.allows(acl, perm) => Err(ErrorCode::NoAuth),
        _ => Ok(()),
    }
}

fn create_op(
    tree: &DataTree,
    auth: &AuthInfo,
    code: i32,
    c: &CreateRequest,
) -> Result<Op, ErrorCode> {
    let mode = c.mode().map_err(|_| ErrorCode::BadArguments)?;
    let container_op = code == op::CREATE_CONTAINER;
    let ttl_op = code == op::CREATE_TTL;
    if container_op != mode.is_container() || ttl_op != mode.ttl_ms().is_some() {
        return Err(ErrorCode::BadArguments);
    }
    // The path with a sequence number appended must be valid (ZooKeeper validates that).
    let probe = if mode.is_sequential() {
        format!("{}0000000000", c.path)
    } else {
        c.path.clone()
    };
    if validate_path(&probe).is_err() {
        return Err(ErrorCode::BadArguments);
    }
    let acl = auth.fixup(&c.acl)?;
    checked(tree, auth, Some(parent(&probe)), perms::CREATE)?;
    Ok(Op::Create {
        path: c.path.clone(),
        data: c.data.clone(),
        acl,
        mode,
    })
}

/// The reply to a committed write of `shape`.
pub fn answer(shape: &Shape, result: &OpResult) -> Answer {
    let code = result.err();
    if !code.is_ok() && !matches!(shape, Shape::Multi(_)) {
        return fail(code);
    }
    match (shape, result) {
        (Shape::Path, OpResult::Created { path, .. }) => (code, Response::Path(path.clone())),
        (Shape::PathAndStat, OpResult::Created { path, stat }) => (
            code,
            Response::Create2 {
                path: path.clone(),
                stat: *stat,
            },
        ),
        (Shape::Empty, _) => (code, Response::Empty),
        (Shape::Stat, OpResult::DataSet { stat } | OpResult::AclSet { stat }) => {
            (code, Response::Stat(*stat))
        }
        (Shape::Multi(codes), OpResult::Multi(results)) => {
            let mapped = results
                .iter()
                .zip(codes.iter().copied().chain(std::iter::repeat(op::ERROR)))
                .map(|(r, c)| multi_result(c, r))
                .collect();
            // ZooKeeper answers a failed multi with the header's code set to the failure and
            // the per-op results as body; kazoo reads the body either way.
            (ErrorCode::Ok, Response::Multi(mapped))
        }
        (Shape::Multi(_), OpResult::Error(code)) => fail(*code),
        _ => fail(ErrorCode::SystemError),
    }
}

fn multi_result(code: i32, r: &OpResult) -> MultiResult {
    match r {
        OpResult::Created { path, stat } => match code {
            op::CREATE => MultiResult::Create { path: path.clone() },
            _ => MultiResult::Create2 {
                path: path.clone(),
                stat: *stat,
            },
        },
        OpResult::Deleted => MultiResult::Delete,
        OpResult::DataSet { stat } => MultiResult::SetData { stat: *stat },
        OpResult::Checked => MultiResult::Check,
        OpResult::Error(code) => MultiResult::Error(*code),
        other => MultiResult::Error(other.err()),
    }
}

/// What `setWatches` does: the watches to register, and the events (type, path) to send now.
pub type WatchRestore = (Vec<(WatchKind, String)>, Vec<(i32, String)>);

/// `setWatches` on reconnect (ZooKeeper's `DataTree.setWatches`): a watch whose change the
/// client missed since `relative_zxid` fires at once; the others are registered.
pub fn set_watches(tree: &DataTree, sw: &SetWatches) -> WatchRestore {
    let mut register = Vec::new();
    let mut fire = Vec::new();
    for path in &sw.data_watches {
        match tree.stat(path) {
            None => fire.push((event_type::NODE_DELETED, path.clone())),
            Some(s) if s.mzxid.0 as i64 > sw.relative_zxid => {
                fire.push((event_type::NODE_DATA_CHANGED, path.clone()))
            }
            Some(_) => register.push((WatchKind::Data, path.clone())),
        }
    }
    for path in &sw.exist_watches {
        match tree.stat(path) {
            Some(_) => fire.push((event_type::NODE_CREATED, path.clone())),
            None => register.push((WatchKind::Data, path.clone())),
        }
    }
    for path in &sw.child_watches {
        match tree.stat(path) {
            None => fire.push((event_type::NODE_DELETED, path.clone())),
            Some(s) if s.pzxid.0 as i64 > sw.relative_zxid => {
                fire.push((event_type::NODE_CHILDREN_CHANGED, path.clone()))
            }
            Some(_) => register.push((WatchKind::Child, path.clone())),
        }
    }
    for path in &sw.persistent_watches {
        register.push((WatchKind::Persistent, path.clone()));
    }
    for path in &sw.persistent_recursive_watches {
        register.push((WatchKind::PersistentRecursive, path.clone()));
    }
    (register, fire)
}
