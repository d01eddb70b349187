//! The FUSE side of the power-cut filesystem: every request goes through one lock, is checked
//! against the armed cut and fault rules, then applied to the [`Model`]. After a cut every
//! request fails with EIO, as a disk that lost power would, until the image is remounted.

use super::model::{
    glob_match, Body, CutStyle, Errno as ModelErrno, Image, Ino, Kind, Model, NewNode,
};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// The operations fault and cut rules can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Mkdir,
    Unlink,
    Rename,
    Write,
    Truncate,
    /// `fsync` of a file.
    Fsync,
    /// `fsync` of a directory.
    Fsyncdir,
    Read,
}

/// "The `nth` matching operation (and the `times - 1` after it) fails with `errno`."
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub op: Op,
    pub pattern: String,
    pub nth: u64,
    pub times: u64,
    pub errno: i32,
    seen: u64,
}

impl FaultRule {
    pub fn new(op: Op, pattern: &str, nth: u64, times: u64, errno: i32) -> FaultRule {
        FaultRule {
            op,
            pattern: pattern.to_string(),
            nth,
            times,
            errno,
            seen: 0,
        }
    }
}

#[derive(Default)]
pub struct Control {
    /// fsyncs and fsyncdirs answered so far, all paths.
    pub syncs: u64,
    /// (path, fsync or fsyncdir) in order, for calibrating and reports.
    pub sync_log: Vec<(String, Op)>,
    pub cut_at_sync: Option<u64>,
    /// Cut when the n-th op matching (op, pattern) arrives; `None` op means any mutating op.
    pub cut_on_op: Option<(Option<Op>, String, u64)>,
    pub style: CutStyle,
    pub faults: Vec<FaultRule>,
    /// The durable image frozen at the cut; `Some` means the power is off.
    pub cut_image: Option<Image>,
    /// Why the power went off, for reports.
    pub cut_reason: Option<String>,
    pub errors_injected: u64,
}

pub struct State {
    pub model: Model,
    pub ctl: Control,
}

impl State {
    /// Decides the fate of one operation before it touches the model: `Err(errno)` if the
    /// power is off, goes off now, or a fault rule fires.
    fn gate(&mut self, op: Op, path: &str) -> Result<(), i32> {
        if self.ctl.cut_image.is_some() {
            return Err(libc::EIO);
        }
        if matches!(op, Op::Fsync | Op::Fsyncdir) {
            let n = self.ctl.syncs + 1;
            if self.ctl.cut_at_sync == Some(n) {
                self.cut(format!("at sync #{n} ({op:?} {path})"));
                return Err(libc::EIO);
            }
        }
        if let Some((want, pattern, remaining)) = &mut self.ctl.cut_on_op {
            let kind_ok = want.map_or(op != Op::Read, |w| w == op);
            if kind_ok && glob_match(pattern, path) {
                *remaining -= 1;
                if *remaining == 0 {
                    self.cut(format!("on {op:?} {path}"));
                    return Err(libc::EIO);
                }
            }
        }
        for rule in &mut self.ctl.faults {
            if rule.op == op && glob_match(&rule.pattern, path) {
                rule.seen += 1;
                if rule.seen >= rule.nth && rule.seen < rule.nth + rule.times {
                    self.ctl.errors_injected += 1;
                    return Err(rule.errno);
                }
            }
        }
        if matches!(op, Op::Fsync | Op::Fsyncdir) {
            self.ctl.syncs += 1;
            self.ctl.sync_log.push((path.to_string(), op));
        }
        Ok(())
    }

    pub fn cut(&mut self, reason: String) {
        if self.ctl.cut_image.is_none() {
            self.ctl.cut_image = Some(self.model.durable_image(self.ctl.style));
            self.ctl.cut_reason = Some(reason);
        }
    }
}

pub struct PowerCutFs {
    pub state: Arc<Mutex<State>>,
}

fn node(kind: Kind, perm: u16, target: Option<&Path>) -> NewNode {
    NewNode {
        kind,
        perm,
        uid: 0,
        gid: 0,
        symlink_target: target.map(|t| t.as_os_str().to_os_string()),
    }
}

const TTL: Duration = Duration::from_secs(1);

fn errno(code: i32) -> Errno {
    Errno::from_i32(code)
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic in one request must not wedge every later one (and the test's unmount).
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn attr(model: &Model, ino: Ino) -> Option<FileAttr> {
    let node = model.get(ino)?;
    let kind = match node.kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Socket => FileType::Socket,
    };
    let size = node.size();
    Some(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: node.mtime,
        mtime: node.mtime,
        ctime: node.ctime,
        crtime: node.ctime,
        kind,
        perm: node.perm,
        nlink: if node.kind == Kind::Dir { 2 } else { 1 },
        uid: node.uid,
        gid: node.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

/// What a request names, as the cut and fault rules see it: an inode, or a name in a
/// directory (which need not exist yet).
#[derive(Clone, Copy)]
enum At<'a> {
    Inode(INodeNo),
    Name(INodeNo, &'a OsStr),
}

impl At<'_> {
    fn path(self, model: &Model) -> String {
        match self {
            At::Inode(ino) => model.path(ino.0),
            At::Name(parent, name) => model.child_path(parent.0, name),
        }
    }
}

fn entry_reply(found: Result<FileAttr, Errno>, reply: ReplyEntry) {
    match found {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty_reply(done: Result<(), Errno>, reply: ReplyEmpty) {
    match done {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl PowerCutFs {
    /// A request that only looks at the model. No rule names these, but a disk without power
    /// answers nothing: EIO after a cut.
    fn inspect<T>(&self, look: impl FnOnce(&Model) -> Result<T, Errno>) -> Result<T, Errno> {
        let st = lock(&self.state);
        if st.ctl.cut_image.is_some() {
            return Err(Errno::EIO);
        }
        look(&st.model)
    }

    /// A request the rules see: `op` at each place in `at` passes the gate in turn (a rename
    /// at both names), then `apply` changes or reads the model; all under one lock.
    fn gated<T>(
        &self,
        op: Op,
        at: &[At],
        apply: impl FnOnce(&mut Model) -> Result<T, ModelErrno>,
    ) -> Result<T, Errno> {
        let mut st = lock(&self.state);
        for place in at {
            let path = place.path(&st.model);
            st.gate(op, &path).map_err(errno)?;
        }
        apply(&mut st.model).map_err(|e| errno(e.code()))
    }

    /// Creates a node (as `op` for the rules) and returns its attributes; `new.uid`/`gid` are
    /// taken from the request.
    fn make(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mut new: NewNode,
        op: Op,
    ) -> Result<FileAttr, Errno> {
        new.uid = req.uid();
        new.gid = req.gid();
        let made = self.gated(op, &[At::Name(parent, name)], |model| {
            let ino = model.create(parent.0, name, new)?;
            Ok(attr(model, ino))
        })?;
        made.ok_or(Errno::ENOENT)
    }
}

impl fuser::Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self.inspect(|model| {
            let ino = model.lookup(parent.0, name).map_err(|e| errno(e.code()))?;
            attr(model, ino).ok_or(Errno::ENOENT)
        });
        entry_reply(found, reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.inspect(|model| attr(model, ino.0).ok_or(Errno::ENOENT)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = lock(&self.state);
        let path = st.model.path(ino.0);
        if let Some(len) = size {
            if let Err(e) = st.gate(Op::Truncate, &path) {
                return reply.error(errno(e));
            }
            if let Err(e) = st.model.truncate(ino.0, len) {
                return reply.error(errno(e.code()));
            }
        } else if st.ctl.cut_image.is_some() {
            return reply.error(Errno::EIO);
        }
        if let Some(node) = st.model.inodes.get_mut(&ino.0) {
            if let Some(mode) = mode {
                node.perm = (mode & 0o7777) as u16;
            }
            if let Some(uid) = uid {
                node.uid = uid;
            }
            if let Some(gid) = gid {
                node.gid = gid;
            }
            match mtime {
                Some(TimeOrNow::SpecificTime(t)) => node.mtime = t,
                Some(TimeOrNow::Now) => node.mtime = SystemTime::now(),
                None => {}
            }
            node.ctime = SystemTime::now();
        }
        match attr(&st.model, ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let target = self.inspect(|model| match model.get(ino.0).map(|n| &n.body) {
            Some(Body::Symlink(t)) => Ok(t.as_bytes().to_vec()),
            _ => Err(Errno::EINVAL),
        });
        match target {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let kind = match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFSOCK => Kind::Socket,
            _ => return reply.error(Errno::EPERM),
        };
        let perm = (mode & !umask & 0o7777) as u16;
        entry_reply(
            self.make(req, parent, name, node(kind, perm, None), Op::Create),
            reply,
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        entry_reply(
            self.make(req, parent, name, node(Kind::Dir, perm, None), Op::Mkdir),
            reply,
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let made = self.make(
            req,
            parent,
            link_name,
            node(Kind::Symlink, 0o777, Some(target)),
            Op::Create,
        );
        entry_reply(made, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self.gated(Op::Unlink, &[At::Name(parent, name)], |model| {
            model.unlink(parent.0, name, false)
        });
        empty_reply(done, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self.gated(Op::Unlink, &[At::Name(parent, name)], |model| {
            model.unlink(parent.0, name, true)
        });
        empty_reply(done, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let from_and_to = [At::Name(parent, name), At::Name(newparent, newname)];
        let done = self.gated(Op::Rename, &from_and_to, |model| {
            model.rename(parent.0, name, newparent.0, newname, no_replace)
        });
        empty_reply(done, reply);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.inspect(|model| model.get(ino.0).map(|_| ()).ok_or(Errno::ENOENT)) {
            // No FOPEN_KEEP_CACHE: the kernel drops cached pages on every open.
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let read = self.gated(Op::Read, &[At::Inode(ino)], |model| {
            model.read(ino.0, offset, size)
        });
        match read {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self.gated(Op::Write, &[At::Inode(ino)], |model| {
            model.write(ino.0, offset, data)
        });
        match written {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let done = self.gated(Op::Fsync, &[At::Inode(ino)], |model| model.sync(ino.0));
        empty_reply(done, reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let is_dir = self.inspect(|model| match model.get(ino.0) {
            Some(n) if n.kind == Kind::Dir => Ok(()),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        });
        match is_dir {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.inspect(|model| {
            let entries = model.entries(ino.0).map_err(|e| errno(e.code()))?;
            let parent = model.get(ino.0).map_or(ino.0, |n| n.parent);
            let mut all = vec![
                (ino.0, FileType::Directory, ".".into()),
                (parent, FileType::Directory, "..".into()),
            ];
            for (name, child) in entries {
                let kind = match model.get(child).map(|n| n.kind) {
                    Some(Kind::Dir) => FileType::Directory,
                    Some(Kind::Symlink) => FileType::Symlink,
                    Some(Kind::Socket) => FileType::Socket,
                    _ => FileType::RegularFile,
                };
                all.push((child, kind, name));
            }
            Ok(all)
        });
        let all = match listed {
            Ok(all) => all,
            Err(e) => return reply.error(e),
        };
        for (i, (child, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let done = self.gated(Op::Fsyncdir, &[At::Inode(ino)], |model| model.sync(ino.0));
        empty_reply(done, reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // 16 GiB, mostly free: disk-full tests use a real tmpfs instead.
        let blocks = 4 * 1024 * 1024;
        reply.statfs(
            blocks,
            blocks - 1024,
            blocks - 1024,
            1 << 20,
            1 << 20,
            4096,
            255,
            4096,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        match self.make(req, parent, name, node(Kind::File, perm, None), Op::Create) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::from_i32(libc::EOPNOTSUPP));
    }
}
