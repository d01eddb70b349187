//! The power-cut filesystem's state, as pure data: what a process sees now ("live") and what
//! a power cut would leave ("durable"). No FUSE here, so the rules can be read and tested alone.
//!
//! The rules (stricter than ext4, on purpose, like LazyFS but also for directories):
//! - a file's data writes and truncates become durable only when *that file* is fsync'd;
//! - a directory's entries (create, mknod, mkdir, rename in or out, unlink, rmdir) become
//!   durable only when *that directory* is fsync'd (`fsyncdir`);
//! - attributes (mode, owner, times) follow the live file: postbooth does not rely on them.
//!
//! Every change not yet durable is kept as an ordered log per file and per directory, so a cut
//! can also keep a random subset of file writes (disks reorder), a prefix of each directory's
//! changes (journals keep order) and a torn last write.

use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::SystemTime;

pub type Ino = u64;
pub const ROOT: Ino = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Socket,
}

#[derive(Clone, Debug)]
pub enum DataOp {
    Write { offset: u64, bytes: Vec<u8> },
    Truncate(u64),
}

#[derive(Clone, Debug)]
pub enum DirOp {
    Insert(OsString, Ino),
    Remove(OsString),
}

#[derive(Debug)]
pub enum Body {
    File {
        live: Vec<u8>,
        durable: Arc<Vec<u8>>,
        pending: Vec<DataOp>,
    },
    Dir {
        live: BTreeMap<OsString, Ino>,
        durable: BTreeMap<OsString, Ino>,
        pending: Vec<DirOp>,
    },
    Symlink(OsString),
    Socket,
}

#[derive(Debug)]
pub struct Inode {
    pub kind: Kind,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Where it was last linked (live), for path patterns and `..`.
    pub parent: Ino,
    pub name: OsString,
    pub body: Body,
}

impl Inode {
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::File { live, .. } => live.len() as u64,
            Body::Dir { live, .. } => live.len() as u64,
            Body::Symlink(t) => t.len() as u64,
            Body::Socket => 0,
        }
    }
}

/// A filesystem tree as a power cut leaves it: what the next mount starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    File {
        perm: u16,
        data: Vec<u8>,
    },
    Dir {
        perm: u16,
        entries: BTreeMap<OsString, Image>,
    },
    Symlink(OsString),
    Socket,
}

impl Image {
    pub fn empty_dir() -> Image {
        Image::Dir {
            perm: 0o755,
            entries: BTreeMap::new(),
        }
    }

    /// The node at `path` (components separated by `/`), if present.
    pub fn get(&self, path: &str) -> Option<&Image> {
        let mut node = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            match node {
                Image::Dir { entries, .. } => node = entries.get(OsStr::new(part))?,
                _ => return None,
            }
        }
        Some(node)
    }
}

/// How a cut treats what was not yet durable.
#[derive(Clone, Copy, Debug, Default)]
pub struct CutStyle {
    /// Keep each pending file write with this probability (0: the strict cut), and a random
    /// prefix of each directory's pending changes.
    pub keep_probability: f64,
    /// Tear the last kept write of a file at a 512-byte boundary.
    pub torn: bool,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    NoEnt,
    Exist,
    NotDir,
    IsDir,
    NotEmpty,
    Inval,
}

impl Errno {
    pub fn code(self) -> i32 {
        match self {
            Errno::NoEnt => libc::ENOENT,
            Errno::Exist => libc::EEXIST,
            Errno::NotDir => libc::ENOTDIR,
            Errno::IsDir => libc::EISDIR,
            Errno::NotEmpty => libc::ENOTEMPTY,
            Errno::Inval => libc::EINVAL,
        }
    }
}

/// What [`Model::create`] makes.
pub struct NewNode {
    pub kind: Kind,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub symlink_target: Option<OsString>,
}

impl NewNode {
    pub fn file() -> NewNode {
        NewNode {
            kind: Kind::File,
            perm: 0o644,
            uid: 0,
            gid: 0,
            symlink_target: None,
        }
    }
}

pub struct Model {
    pub inodes: HashMap<Ino, Inode>,
    next_ino: Ino,
}

impl Model {
    /// A model whose live and durable state are both `image` (which must be a directory).
    pub fn from_image(image: &Image) -> Model {
        let mut model = Model {
            inodes: HashMap::new(),
            next_ino: ROOT,
        };
        let root = model.load(image, ROOT, OsString::from("/"));
        assert_eq!(root, ROOT, "the image root is a directory");
        model
    }

    fn load(&mut self, image: &Image, parent: Ino, name: OsString) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = SystemTime::now();
        let (kind, perm, body) = match image {
            Image::File { perm, data } => (
                Kind::File,
                *perm,
                Body::File {
                    live: data.clone(),
                    durable: Arc::new(data.clone()),
                    pending: Vec::new(),
                },
            ),
            Image::Dir { perm, .. } => (
                Kind::Dir,
                *perm,
                Body::Dir {
                    live: BTreeMap::new(),
                    durable: BTreeMap::new(),
                    pending: Vec::new(),
                },
            ),
            Image::Symlink(t) => (Kind::Symlink, 0o777, Body::Symlink(t.clone())),
            Image::Socket => (Kind::Socket, 0o600, Body::Socket),
        };
        self.inodes.insert(
            ino,
            Inode {
                kind,
                perm,
                uid: 0,
                gid: 0,
                mtime: now,
                ctime: now,
                parent: if ino == ROOT { ROOT } else { parent },
                name,
                body,
            },
        );
        if let Image::Dir { entries, .. } = image {
            let mut children = BTreeMap::new();
            for (child_name, child) in entries {
                let child_ino = self.load(child, ino, child_name.clone());
                children.insert(child_name.clone(), child_ino);
            }
            if let Some(Body::Dir { live, durable, .. }) =
                self.inodes.get_mut(&ino).map(|i| &mut i.body)
            {
                *live = children.clone();
                *durable = children;
            }
        }
        ino
    }

    pub fn get(&self, ino: Ino) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    /// The live path of an inode, for matching fault patterns ("/store/queue/db").
    pub fn path(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut cur = ino;
        let mut guard = 0;
        while cur != ROOT && guard < 256 {
            let Some(node) = self.inodes.get(&cur) else {
                break;
            };
            parts.push(node.name.to_string_lossy().into_owned());
            cur = node.parent;
            guard += 1;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    pub fn child_path(&self, parent: Ino, name: &OsStr) -> String {
        let p = self.path(parent);
        if p == "/" {
            format!("/{}", name.to_string_lossy())
        } else {
            format!("{p}/{}", name.to_string_lossy())
        }
    }

    fn dir_live(&self, ino: Ino) -> Result<&BTreeMap<OsString, Ino>, Errno> {
        match self.inodes.get(&ino).map(|i| &i.body) {
            Some(Body::Dir { live, .. }) => Ok(live),
            Some(_) => Err(Errno::NotDir),
            None => Err(Errno::NoEnt),
        }
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Ino, Errno> {
        self.dir_live(parent)?
            .get(name)
            .copied()
            .ok_or(Errno::NoEnt)
    }

    pub fn entries(&self, dir: Ino) -> Result<Vec<(OsString, Ino)>, Errno> {
        Ok(self
            .dir_live(dir)?
            .iter()
            .map(|(n, i)| (n.clone(), *i))
            .collect())
    }

    fn dir_change(&mut self, dir: Ino, op: DirOp) {
        let node = self.inodes.get_mut(&dir).expect("directory exists");
        node.mtime = SystemTime::now();
        if let Body::Dir { live, pending, .. } = &mut node.body {
            match &op {
                DirOp::Insert(name, ino) => {
                    live.insert(name.clone(), *ino);
                }
                DirOp::Remove(name) => {
                    live.remove(name);
                }
            }
            pending.push(op);
        }
    }

    /// Creates a file, directory, symlink or socket named `name` in `parent`.
    pub fn create(&mut self, parent: Ino, name: &OsStr, new: NewNode) -> Result<Ino, Errno> {
        let NewNode {
            kind,
            perm,
            uid,
            gid,
            symlink_target,
        } = new;
        if self.dir_live(parent)?.contains_key(name) {
            return Err(Errno::Exist);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = SystemTime::now();
        let body = match kind {
            Kind::File => Body::File {
                live: Vec::new(),
                durable: Arc::new(Vec::new()),
                pending: Vec::new(),
            },
            Kind::Dir => Body::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
                pending: Vec::new(),
            },
            Kind::Symlink => Body::Symlink(symlink_target.unwrap_or_default()),
            Kind::Socket => Body::Socket,
        };
        self.inodes.insert(
            ino,
            Inode {
                kind,
                perm,
                uid,
                gid,
                mtime: now,
                ctime: now,
                parent,
                name: name.to_os_string(),
                body,
            },
        );
        self.dir_change(parent, DirOp::Insert(name.to_os_string(), ino));
        Ok(ino)
    }

    pub fn unlink(&mut self, parent: Ino, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        let node = self.inodes.get(&ino).ok_or(Errno::NoEnt)?;
        match (&node.body, want_dir) {
            (Body::Dir { live, .. }, true) => {
                if !live.is_empty() {
                    return Err(Errno::NotEmpty);
                }
            }
            (Body::Dir { .. }, false) => return Err(Errno::IsDir),
            (_, true) => return Err(Errno::NotDir),
            (_, false) => {}
        }
        self.dir_change(parent, DirOp::Remove(name.to_os_string()));
        Ok(())
    }

    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        self.dir_live(new_parent)?;
        if let Ok(existing) = self.lookup(new_parent, new_name) {
            if existing == ino {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::Exist);
            }
            let moving_dir = self.inodes[&ino].kind == Kind::Dir;
            match &self.inodes[&existing].body {
                Body::Dir { live, .. } => {
                    if !moving_dir {
                        return Err(Errno::IsDir);
                    }
                    if !live.is_empty() {
                        return Err(Errno::NotEmpty);
                    }
                }
                _ if moving_dir => return Err(Errno::NotDir),
                _ => {}
            }
        }
        self.dir_change(parent, DirOp::Remove(name.to_os_string()));
        self.dir_change(new_parent, DirOp::Insert(new_name.to_os_string(), ino));
        let node = self.inodes.get_mut(&ino).expect("renamed inode exists");
        node.parent = new_parent;
        node.name = new_name.to_os_string();
        node.ctime = SystemTime::now();
        Ok(())
    }

    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        match self.inodes.get(&ino).map(|i| &i.body) {
            Some(Body::File { live, .. }) => {
                let start = (offset as usize).min(live.len());
                let end = (start + size as usize).min(live.len());
                Ok(live[start..end].to_vec())
            }
            Some(Body::Dir { .. }) => Err(Errno::IsDir),
            Some(_) => Err(Errno::Inval),
            None => Err(Errno::NoEnt),
        }
    }

    pub fn write(&mut self, ino: Ino, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
        let node = self.inodes.get_mut(&ino).ok_or(Errno::NoEnt)?;
        node.mtime = SystemTime::now();
        match &mut node.body {
            Body::File { live, pending, .. } => {
                apply_data(
                    live,
                    &DataOp::Write {
                        offset,
                        bytes: bytes.to_vec(),
                    },
                );
                pending.push(DataOp::Write {
                    offset,
                    bytes: bytes.to_vec(),
                });
                Ok(())
            }
            Body::Dir { .. } => Err(Errno::IsDir),
            _ => Err(Errno::Inval),
        }
    }

    pub fn truncate(&mut self, ino: Ino, len: u64) -> Result<(), Errno> {
        let node = self.inodes.get_mut(&ino).ok_or(Errno::NoEnt)?;
        node.mtime = SystemTime::now();
        match &mut node.body {
            Body::File { live, pending, .. } => {
                apply_data(live, &DataOp::Truncate(len));
                pending.push(DataOp::Truncate(len));
                Ok(())
            }
            Body::Dir { .. } => Err(Errno::IsDir),
            _ => Err(Errno::Inval),
        }
    }

    /// `fsync` of a file or `fsyncdir` of a directory: its pending changes become durable.
    pub fn sync(&mut self, ino: Ino) -> Result<(), Errno> {
        let node = self.inodes.get_mut(&ino).ok_or(Errno::NoEnt)?;
        match &mut node.body {
            Body::File {
                live,
                durable,
                pending,
            } if !pending.is_empty() => {
                *durable = Arc::new(live.clone());
                pending.clear();
            }
            Body::Dir {
                live,
                durable,
                pending,
            } => {
                *durable = live.clone();
                pending.clear();
            }
            _ => {}
        }
        Ok(())
    }

    /// The tree a power cut at this instant leaves behind.
    pub fn durable_image(&self, style: CutStyle) -> Image {
        let mut rng = rand::rngs::StdRng::seed_from_u64(style.seed);
        self.image_of(ROOT, style, &mut rng, 0)
    }

    fn image_of(&self, ino: Ino, style: CutStyle, rng: &mut impl Rng, depth: usize) -> Image {
        let node = &self.inodes[&ino];
        match &node.body {
            Body::File {
                durable, pending, ..
            } => {
                let mut data = durable.as_ref().clone();
                if style.keep_probability > 0.0 {
                    let kept: Vec<&DataOp> = pending
                        .iter()
                        .filter(|_| rng.gen_bool(style.keep_probability))
                        .collect();
                    for (i, op) in kept.iter().enumerate() {
                        let last = i + 1 == kept.len();
                        match op {
                            DataOp::Write { offset, bytes } if last && style.torn => {
                                let sectors = bytes.len().div_ceil(512);
                                let keep = rng.gen_range(0..=sectors) * 512;
                                let torn = DataOp::Write {
                                    offset: *offset,
                                    bytes: bytes[..keep.min(bytes.len())].to_vec(),
                                };
                                apply_data(&mut data, &torn);
                            }
                            op => apply_data(&mut data, op),
                        }
                    }
                }
                Image::File {
                    perm: node.perm,
                    data,
                }
            }
            Body::Dir {
                durable, pending, ..
            } => {
                let mut entries_ino = durable.clone();
                if style.keep_probability > 0.0 && !pending.is_empty() {
                    let keep = rng.gen_range(0..=pending.len());
                    for op in &pending[..keep] {
                        match op {
                            DirOp::Insert(name, child) => {
                                entries_ino.insert(name.clone(), *child);
                            }
                            DirOp::Remove(name) => {
                                entries_ino.remove(name);
                            }
                        }
                    }
                }
                let mut entries = BTreeMap::new();
                // A directory moved under itself by a partial cut would recurse forever.
                if depth < 64 {
                    for (name, child) in entries_ino {
                        if self.inodes.contains_key(&child) {
                            entries.insert(name, self.image_of(child, style, rng, depth + 1));
                        }
                    }
                }
                Image::Dir {
                    perm: node.perm,
                    entries,
                }
            }
            Body::Symlink(t) => Image::Symlink(t.clone()),
            Body::Socket => Image::Socket,
        }
    }
}

fn apply_data(data: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { offset, bytes } => {
            let start = *offset as usize;
            let end = start + bytes.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[start..end].copy_from_slice(bytes);
        }
        DataOp::Truncate(len) => data.resize(*len as usize, 0),
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(model: &Image, path: &str) -> Option<Vec<u8>> {
        match model.get(path)? {
            Image::File { data, .. } => Some(data.clone()),
            _ => None,
        }
    }

    #[test]
    fn strict_cut_keeps_only_what_was_synced() {
        let mut m = Model::from_image(&Image::empty_dir());
        let a = m.create(ROOT, OsStr::new("a"), NewNode::file()).unwrap();
        m.write(a, 0, b"hello").unwrap();
        // Not even the name is durable yet.
        assert_eq!(m.durable_image(CutStyle::default()), Image::empty_dir());
        m.sync(a).unwrap();
        assert_eq!(m.durable_image(CutStyle::default()), Image::empty_dir());
        m.sync(ROOT).unwrap();
        let img = m.durable_image(CutStyle::default());
        assert_eq!(file(&img, "a").unwrap(), b"hello");
        m.write(a, 5, b" world").unwrap();
        m.truncate(a, 2).unwrap();
        assert_eq!(
            file(&m.durable_image(CutStyle::default()), "a").unwrap(),
            b"hello"
        );
    }

    #[test]
    fn rename_without_directory_sync_keeps_the_old_name() {
        let mut m = Model::from_image(&Image::empty_dir());
        let a = m
            .create(ROOT, OsStr::new("a.tmp"), NewNode::file())
            .unwrap();
        m.write(a, 0, b"x").unwrap();
        m.sync(a).unwrap();
        m.sync(ROOT).unwrap();
        m.rename(ROOT, OsStr::new("a.tmp"), ROOT, OsStr::new("a"), false)
            .unwrap();
        let img = m.durable_image(CutStyle::default());
        assert!(img.get("a").is_none());
        assert_eq!(file(&img, "a.tmp").unwrap(), b"x");
    }

    #[test]
    fn partial_cuts_keep_a_subset_and_can_tear() {
        let mut m = Model::from_image(&Image::empty_dir());
        let a = m.create(ROOT, OsStr::new("a"), NewNode::file()).unwrap();
        m.sync(ROOT).unwrap();
        m.sync(a).unwrap();
        m.write(a, 0, &[1u8; 2048]).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let style = CutStyle {
                keep_probability: 0.5,
                torn: true,
                seed,
            };
            let data = file(&m.durable_image(style), "a").unwrap();
            assert!(data.len() % 512 == 0 && data.len() <= 2048);
            seen.insert(data.len());
        }
        assert!(seen.len() > 2, "tears at several lengths: {seen:?}");
    }

    #[test]
    fn glob() {
        assert!(glob_match("*/queue/db", "/store/queue/db"));
        assert!(glob_match("*.json", "/store/photos/x.json"));
        assert!(!glob_match("*.json", "/store/photos/x.jpg"));
        assert!(glob_match("*", ""));
    }
}
