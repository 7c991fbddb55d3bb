//! Checkpoint storage: where checkpoint and savepoint files live, behind one trait. A storage is
//! rooted at a location (a local directory, or `s3://bucket/prefix` once S3 is configured) and
//! addresses files by `/`-separated paths relative to that root, so a checkpoint refers to its
//! files relatively and can be moved as a whole.

use crate::s3::{S3Config, S3Storage};
use ferroflink_core::error::{Error, Result};
use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files under one root location.
pub trait CheckpointStorage: Send + Sync + Debug {
    /// Writes `bytes` to `path` atomically: readers see the whole file or none of it.
    fn write(&self, path: &str, bytes: &[u8]) -> Result<()>;
    /// Reads the whole file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>>;
    /// Whether a file exists at `path`.
    fn exists(&self, path: &str) -> Result<bool>;
    /// Names of the entries (files or directories) directly under `dir` (empty if it does not exist).
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Deletes `dir` and everything under it (nothing if it does not exist).
    fn delete_dir(&self, dir: &str) -> Result<()>;
    /// Deletes the file at `path` (nothing if it does not exist).
    fn delete(&self, path: &str) -> Result<()>;
    /// The location of `path` as a user would type it (for messages and `--restore`).
    fn location(&self, path: &str) -> String;
    /// A storage rooted at `dir` under this one.
    fn scoped(&self, dir: &str) -> Arc<dyn CheckpointStorage>;
    /// The storage rooted at the directory that holds this one's root.
    fn parent(&self) -> Arc<dyn CheckpointStorage>;
}

/// Opens the storage rooted at `location`: a local path, or an `s3://` URI reached with `s3`.
pub fn open(location: &str, s3: &S3Config) -> Result<Arc<dyn CheckpointStorage>> {
    if location.starts_with("s3://") {
        return Ok(Arc::new(S3Storage::open(location, s3)?));
    }
    if location.contains("://") {
        return Err(Error::InvalidJob(format!(
            "'{location}' is not a supported checkpoint location: use a local path or s3://bucket/prefix"
        )));
    }
    Ok(Arc::new(LocalStorage::new(location)))
}

/// Joins storage paths with `/`.
pub fn join(dir: &str, name: &str) -> String {
    match (dir.trim_end_matches('/'), name.trim_start_matches('/')) {
        ("", n) => n.to_string(),
        (d, "") => d.to_string(),
        (d, n) => format!("{d}/{n}"),
    }
}

/// A directory on a local (or mounted) file system.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStorage { root: root.into() }
    }

    fn path(&self, path: &str) -> PathBuf {
        path.split('/').filter(|p| !p.is_empty()).fold(self.root.clone(), |acc, part| acc.join(part))
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("cannot {what} '{}'", path.display()), e)
}

impl CheckpointStorage for LocalStorage {
    fn write(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let target = self.path(path);
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| io("create directory", dir, e))?;
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", &tmp, e))?;
            f.write_all(bytes).map_err(|e| io("write", &tmp, e))?;
            f.sync_all().map_err(|e| io("sync", &tmp, e))?;
            std::fs::rename(&tmp, &target).map_err(|e| io("rename into", &target, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let p = self.path(path);
        std::fs::read(&p).map_err(|e| io("read", &p, e))
    }

    fn exists(&self, path: &str) -> Result<bool> {
        let p = self.path(path);
        p.try_exists().map_err(|e| io("look at", &p, e))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let p = self.path(dir);
        let entries = match std::fs::read_dir(&p) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", &p, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io("list", &p, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn delete_dir(&self, dir: &str) -> Result<()> {
        let p = self.path(dir);
        match std::fs::remove_dir_all(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("delete", &p, e)),
            _ => Ok(()),
        }
    }

    fn delete(&self, path: &str) -> Result<()> {
        let p = self.path(path);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("delete", &p, e)),
            _ => Ok(()),
        }
    }

    fn location(&self, path: &str) -> String {
        self.path(path).display().to_string()
    }

    fn scoped(&self, dir: &str) -> Arc<dyn CheckpointStorage> {
        Arc::new(LocalStorage { root: self.path(dir) })
    }

    fn parent(&self) -> Arc<dyn CheckpointStorage> {
        Arc::new(LocalStorage { root: self.root.parent().unwrap_or(&self.root).to_path_buf() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_write_read_list_delete() {
        let dir = std::env::temp_dir().join(format!("ff-storage-{}", std::process::id()));
        let s = LocalStorage::new(&dir);
        s.write("job/chk-1/a", b"hello").unwrap();
        s.write("job/chk-1/_metadata", b"m").unwrap();
        assert_eq!(s.read("job/chk-1/a").unwrap(), b"hello");
        assert_eq!(s.list("job/chk-1").unwrap(), vec!["_metadata".to_string(), "a".into()]);
        assert!(s.list("nope").unwrap().is_empty());
        let scoped = s.scoped("job/chk-1");
        assert_eq!(scoped.read("a").unwrap(), b"hello");
        assert_eq!(scoped.parent().location("chk-1/a"), s.location("job/chk-1/a"));
        assert!(scoped.exists("_metadata").unwrap());
        s.delete("job/chk-1/a").unwrap();
        s.delete("job/chk-1/a").unwrap();
        assert!(!s.exists("job/chk-1/a").unwrap());
        s.delete_dir("job/chk-1").unwrap();
        assert!(!s.exists("job/chk-1/a").unwrap());
        let e = s.read("job/chk-1/a").unwrap_err().to_string();
        assert!(e.contains("cannot read") && e.contains("chk-1"), "{e}");
        assert_eq!(join("a/", "/b"), "a/b");
        assert_eq!(join("", "b"), "b");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
