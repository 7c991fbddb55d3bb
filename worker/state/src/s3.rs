//! Checkpoint storage in S3-compatible object stores (`s3://bucket/prefix`), through `aws-sdk-s3`.
//!
//! Credentials and region come from the standard AWS chain: `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), the shared credentials file
//! (`s3.credentials-file` / `FERROFLINK__S3__CREDENTIALS_FILE`, else `AWS_SHARED_CREDENTIALS_FILE`
//! or `~/.aws/credentials`), web identity (Kubernetes service account tokens), or instance metadata. The endpoint is `s3.endpoint` (`--s3-endpoint`,
//! `FERROFLINK__S3__ENDPOINT`) or `AWS_ENDPOINT_URL_S3`; `s3.path-style`
//! (`FERROFLINK__S3__PATH_STYLE=true`) addresses buckets in the path, as MinIO and most test
//! servers need. Files over 8 MiB go up in multipart uploads; failed requests are retried with
//! exponential backoff (5 attempts), and every request has a deadline, so a dead endpoint fails a
//! checkpoint within about a minute instead of hanging it.

use crate::storage::{CheckpointStorage, join};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use ferroflink_core::error::{Error, Result};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Files larger than this are uploaded in parts of this size.
pub const PART_BYTES: usize = 8 << 20;

/// How to reach the object store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL (`None`: AWS, or `AWS_ENDPOINT_URL_S3`).
    pub endpoint: Option<String>,
    /// Region (`None`: from the AWS chain, else `us-east-1`).
    pub region: Option<String>,
    /// Address buckets in the path rather than the host name.
    pub path_style: bool,
    /// A credentials file in the AWS shared-credentials format to read instead of the default
    /// `~/.aws/credentials` (for example a mounted Kubernetes Secret).
    pub credentials_file: Option<std::path::PathBuf>,
}

impl From<&ferroflink_types::config::S3Section> for S3Config {
    fn from(s3: &ferroflink_types::config::S3Section) -> S3Config {
        S3Config {
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            path_style: s3.path_style,
            credentials_file: s3.credentials_file.clone().map(Into::into),
        }
    }
}

impl S3Config {
    /// These settings, with `fallback`'s where these have none.
    pub fn or(self, fallback: S3Config) -> S3Config {
        S3Config {
            endpoint: self.endpoint.or(fallback.endpoint),
            region: self.region.or(fallback.region),
            path_style: self.path_style || fallback.path_style,
            credentials_file: self.credentials_file.or(fallback.credentials_file),
        }
    }

    /// The settings in `FERROFLINK__S3__ENDPOINT`, `FERROFLINK__S3__REGION`,
    /// `FERROFLINK__S3__PATH_STYLE` and `FERROFLINK__S3__CREDENTIALS_FILE`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        S3Config {
            endpoint: var("FERROFLINK__S3__ENDPOINT"),
            region: var("FERROFLINK__S3__REGION"),
            path_style: var("FERROFLINK__S3__PATH_STYLE").is_some_and(|v| v == "true" || v == "1"),
            credentials_file: var("FERROFLINK__S3__CREDENTIALS_FILE").map(Into::into),
        }
    }
}

/// The runtime S3 requests run on; storage calls come from plain threads and block on it.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()
            .expect("a tokio runtime for S3 requests")
    })
}

/// Objects under `s3://bucket/prefix`.
#[derive(Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    prefix: String,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Storage({})", self.location(""))
    }
}

impl S3Storage {
    /// Storage rooted at `uri` (`s3://bucket[/prefix]`).
    pub fn open(uri: &str, config: &S3Config) -> Result<Self> {
        let rest = uri.strip_prefix("s3://").unwrap_or(uri);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::InvalidJob(format!("'{uri}' names no bucket; use s3://<bucket>/<prefix>")));
        }
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(file) = &config.credentials_file {
            use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
            loader =
                loader.profile_files(EnvConfigFiles::builder().with_file(EnvConfigFileKind::Credentials, file).build());
        }
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = runtime().block_on(loader.load());
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.path_style);
        if shared.region().is_none() {
            s3 = s3.region(aws_config::Region::from_static("us-east-1"));
        }
        Ok(S3Storage {
            client: Client::from_conf(s3.build()),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn key(&self, path: &str) -> String {
        join(&self.prefix, path.trim_matches('/'))
    }

    fn fail(&self, what: &str, path: &str, e: impl std::error::Error) -> Error {
        Error::Checkpoint(format!("cannot {what} '{}': {}", self.location(path), DisplayErrorContext(e)))
    }

    /// Writes `bytes` to `path` in parts of [`PART_BYTES`], aborting the upload if a part fails.
    fn write_multipart(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let upload_id = self.start_upload(path)?;
        let etags: Result<Vec<String>> = (1..)
            .zip(bytes.chunks(PART_BYTES))
            .map(|(number, chunk)| self.upload_part(path, &upload_id, number, chunk.to_vec()))
            .collect();
        let result = etags.and_then(|etags| self.complete_upload(path, &upload_id, &etags));
        if result.is_err() {
            let _ = self.abort_upload(path, &upload_id);
        }
        result
    }

    /// Every object under this storage's prefix, at any depth: its path relative to the prefix
    /// and its size, in key order.
    pub fn objects(&self) -> Result<Vec<(String, u64)>> {
        let prefix = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        runtime().block_on(async {
            let mut objects = Vec::new();
            let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.fail("list", "", e))?;
                for o in page.contents() {
                    if let Some(key) = o.key().filter(|k| k.len() > prefix.len() && !k.ends_with('/')) {
                        objects.push((key[prefix.len()..].to_string(), o.size().unwrap_or(0).max(0) as u64));
                    }
                }
            }
            Ok(objects)
        })
    }

    /// Up to `len` bytes of `path` from byte `start` (fewer at its end, none past it).
    pub fn read_range(&self, path: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let key = self.key(path);
        let range = format!("bytes={start}-{}", start + len.max(1) - 1);
        runtime().block_on(async {
            let object = match self.client.get_object().bucket(&self.bucket).key(&key).range(range).send().await {
                Ok(o) => o,
                // 416: the range starts at or past the end.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => return Ok(Vec::new()),
                Err(e) => return Err(self.fail("read", path, e)),
            };
            let body = object.body.collect().await.map_err(|e| self.fail("read", path, e))?;
            Ok(body.into_bytes().to_vec())
        })
    }

    /// Starts a multipart upload to `path`: an object that appears, whole, only when the upload
    /// completes. Returns the upload id.
    pub fn start_upload(&self, path: &str) -> Result<String> {
        let request = self.client.create_multipart_upload().bucket(&self.bucket).key(self.key(path));
        let upload = runtime().block_on(request.send()).map_err(|e| self.fail("start an upload to", path, e))?;
        upload.upload_id().map(str::to_string).ok_or_else(|| {
            Error::Checkpoint(format!("the object store gave no upload id for '{}'", self.location(path)))
        })
    }

    /// Uploads part `number` (from 1; every part but the last at least 5 MiB) of an upload;
    /// returns its ETag, which completing the upload needs.
    pub fn upload_part(&self, path: &str, upload_id: &str, number: i32, bytes: Vec<u8>) -> Result<String> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(self.key(path))
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes));
        let part = runtime().block_on(request.send()).map_err(|e| self.fail("upload a part of", path, e))?;
        Ok(part.e_tag().unwrap_or_default().to_string())
    }

    /// Completes an upload of the parts with `etags` (part `i + 1` has `etags[i]`), so the object
    /// appears. An upload already completed is not an error when its object exists.
    pub fn complete_upload(&self, path: &str, upload_id: &str, etags: &[String]) -> Result<()> {
        let parts = etags
            .iter()
            .enumerate()
            .map(|(i, e)| CompletedPart::builder().part_number(i as i32 + 1).e_tag(e).build())
            .collect();
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(self.key(path))
            .upload_id(upload_id)
            .multipart_upload(done);
        match runtime().block_on(request.send()) {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchUpload") && self.exists(path)? => {
                Ok(())
            }
            Err(e) => Err(self.fail("complete the upload of", path, e)),
        }
    }

    /// Aborts an upload, dropping its parts.
    pub fn abort_upload(&self, path: &str, upload_id: &str) -> Result<()> {
        let request =
            self.client.abort_multipart_upload().bucket(&self.bucket).key(self.key(path)).upload_id(upload_id);
        runtime().block_on(request.send()).map_err(|e| self.fail("abort the upload of", path, e))?;
        Ok(())
    }

    /// Uploads in progress directly under `dir`: `(name, upload id)`.
    pub fn uploads(&self, dir: &str) -> Result<Vec<(String, String)>> {
        let prefix = match self.key(dir) {
            k if k.is_empty() => k,
            k => format!("{k}/"),
        };
        runtime().block_on(async {
            let mut out = Vec::new();
            let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
            loop {
                let page = self
                    .client
                    .list_multipart_uploads()
                    .bucket(&self.bucket)
                    .prefix(&prefix)
                    .set_key_marker(key_marker.take())
                    .set_upload_id_marker(id_marker.take())
                    .send()
                    .await
                    .map_err(|e| self.fail("list the uploads under", dir, e))?;
                for u in page.uploads() {
                    if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
                        out.push((key[prefix.len()..].to_string(), id.to_string()));
                    }
                }
                if page.is_truncated() != Some(true) {
                    return Ok(out);
                }
                key_marker = page.next_key_marker().map(str::to_string);
                id_marker = page.next_upload_id_marker().map(str::to_string);
            }
        })
    }

    /// Every key under `prefix`.
    async fn keys_under(&self, prefix: &str) -> std::result::Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| DisplayErrorContext(e).to_string())?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        Ok(keys)
    }
}

impl CheckpointStorage for S3Storage {
    fn write(&self, path: &str, bytes: &[u8]) -> Result<()> {
        if bytes.len() > PART_BYTES {
            return self.write_multipart(path, bytes);
        }
        let put =
            self.client.put_object().bucket(&self.bucket).key(self.key(path)).body(ByteStream::from(bytes.to_vec()));
        runtime().block_on(put.send()).map_err(|e| self.fail("write", path, e))?;
        Ok(())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let key = self.key(path);
        runtime().block_on(async {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| self.fail("read", path, e))?;
            let body = object.body.collect().await.map_err(|e| self.fail("read", path, e))?;
            Ok(body.into_bytes().to_vec())
        })
    }

    fn exists(&self, path: &str) -> Result<bool> {
        let key = self.key(path);
        runtime().block_on(async {
            match self.client.head_object().bucket(&self.bucket).key(&key).send().await {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                Err(e) => Err(self.fail("look at", path, e)),
            }
        })
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = match self.key(dir) {
            k if k.is_empty() => k,
            k => format!("{k}/"),
        };
        runtime().block_on(async {
            let mut names = BTreeSet::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.fail("list", dir, e))?;
                let dirs = page.common_prefixes().iter().filter_map(|p| p.prefix());
                let files = page.contents().iter().filter_map(|o| o.key());
                for name in dirs.chain(files) {
                    let name = name[prefix.len()..].trim_end_matches('/');
                    if !name.is_empty() {
                        names.insert(name.to_string());
                    }
                }
            }
            Ok(names.into_iter().collect())
        })
    }

    fn delete_dir(&self, dir: &str) -> Result<()> {
        let prefix = format!("{}/", self.key(dir));
        let prefix = prefix.trim_start_matches('/');
        runtime().block_on(async {
            let keys = self
                .keys_under(prefix)
                .await
                .map_err(|e| Error::Checkpoint(format!("cannot list '{}' to delete it: {e}", self.location(dir))))?;
            for batch in keys.chunks(1000) {
                let objects = batch
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| self.fail("delete", dir, e))?;
                let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build();
                let delete = delete.map_err(|e| self.fail("delete", dir, e))?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| self.fail("delete", dir, e))?;
            }
            Ok(())
        })
    }

    fn delete(&self, path: &str) -> Result<()> {
        let request = self.client.delete_object().bucket(&self.bucket).key(self.key(path));
        runtime().block_on(request.send()).map_err(|e| self.fail("delete", path, e))?;
        Ok(())
    }

    fn location(&self, path: &str) -> String {
        let key = self.key(path);
        if key.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{key}", self.bucket) }
    }

    fn scoped(&self, dir: &str) -> Arc<dyn CheckpointStorage> {
        Arc::new(S3Storage { prefix: self.key(dir), ..self.clone() })
    }

    fn parent(&self) -> Arc<dyn CheckpointStorage> {
        let prefix = self.prefix.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        Arc::new(S3Storage { prefix, ..self.clone() })
    }
}
