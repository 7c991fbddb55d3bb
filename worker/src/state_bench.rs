//! Keyed-state benchmarks behind `ferroflink bench-state` (run them from a release build):
//!
//! - read-modify-write: `ValueState<u64>` loaded with `--keys` distinct keys, then `--updates`
//!   uniformly random `get` + `put` pairs; reports updates per CPU-second of the process (the
//!   figure RocksDB's `db_bench --benchmarks=updaterandom` reports per thread) and checks that the
//!   values add up to the number of updates;
//! - `--incremental`: `--keys` values of `--value-bytes` random bytes in RocksDB, one full
//!   checkpoint, then `--checkpoints` rounds that each change `--change-percent` of the keys and
//!   take an incremental checkpoint into a local directory; reports the bytes each uploads and the
//!   time to restore the last one.

use crate::clock::SystemClock;
use crate::config::values::bytes as parse_bytes;
use crate::element::SnapshotFormat;
use crate::error::{Error, Result};
use crate::keygroup::KeyGroupRange;
use crate::state::incremental::RestoredDb;
use crate::state::rocksdb::{RocksDbConfig, RocksDbKeyedStateBackend, RocksDbResources};
use crate::state::storage::{CheckpointStorage, LocalStorage};
use crate::state::{KeyedStateBackend, StateDescriptor, heap::HeapKeyedStateBackend};
use cpu_time::ProcessTime;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `ferroflink bench-state`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distinct keys loaded before measuring.
    #[arg(long, default_value_t = 10_000_000)]
    pub keys: u64,
    /// Read-modify-write updates measured after loading.
    #[arg(long, default_value_t = 50_000_000)]
    pub updates: u64,
    /// State backend: `rocksdb` or `heap`.
    #[arg(long, value_parser = ["heap", "rocksdb"], default_value = "rocksdb")]
    pub backend: String,
    /// RocksDB memory: block cache with the write buffers charged to it.
    #[arg(long, value_parser = parse_bytes, default_value = "512MiB")]
    pub memory: usize,
    /// Working directory (default: the system temp directory); deleted afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Measure incremental checkpoints instead of read-modify-write (RocksDB).
    #[arg(long)]
    pub incremental: bool,
    /// `--incremental`: bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
    /// `--incremental`: checkpoints after the first, full one.
    #[arg(long, default_value_t = 10)]
    pub checkpoints: u64,
    /// `--incremental`: percentage of the keys changed before each checkpoint.
    #[arg(long, default_value_t = 1.0)]
    pub change_percent: f64,
}

/// Runs the benchmark `args` describe, printing its figures.
pub fn run(args: &Args) -> Result<()> {
    let dir =
        args.dir.clone().unwrap_or_else(std::env::temp_dir).join(format!("ff-bench-state-{}", std::process::id()));
    let result = if args.incremental { incremental(args, &dir) } else { read_modify_write(args, &dir) };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

const MAX_PARALLELISM: usize = 128;
const ALL: KeyGroupRange = KeyGroupRange { start: 0, end: MAX_PARALLELISM - 1 };

/// xorshift64*: uniform enough for picking keys, and the same sequence every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn rocksdb(args: &Args, dir: &std::path::Path, dbs: Vec<RestoredDb>) -> KeyedStateBackend {
    let config =
        RocksDbConfig { local_dir: dir.join("rocksdb"), memory_bytes: args.memory, ..RocksDbConfig::default() };
    let resources = RocksDbResources::new(config);
    let clock = Arc::new(SystemClock);
    KeyedStateBackend::RocksDb(RocksDbKeyedStateBackend::new(
        resources,
        "bench",
        MAX_PARALLELISM,
        ALL,
        clock,
        Vec::new(),
        dbs,
    ))
}

fn read_modify_write(args: &Args, dir: &std::path::Path) -> Result<()> {
    let mut backend = match args.backend.as_str() {
        "heap" => KeyedStateBackend::Heap(HeapKeyedStateBackend::new(Arc::new(SystemClock), MAX_PARALLELISM)),
        _ => rocksdb(args, dir, Vec::new()),
    };
    let counts = backend.value_state::<u64, u64, ()>(&StateDescriptor::new("counts"))?;
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    for k in 0..args.keys {
        counts.put(&k, 0)?;
    }
    println!(
        "loaded {} keys in {:.1} s ({:.1} CPU s)",
        args.keys,
        wall.elapsed().as_secs_f64(),
        cpu.elapsed().as_secs_f64()
    );
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    for _ in 0..args.updates {
        let k = random.next() % args.keys.max(1);
        let n = counts.get(&k)?.unwrap_or(0);
        counts.put(&k, n + 1)?;
    }
    let (cpu, wall) = (cpu.elapsed().as_secs_f64(), wall.elapsed().as_secs_f64());
    let mut total = 0;
    for k in 0..args.keys {
        total += counts.get(&k)?.unwrap_or(0);
    }
    if total != args.updates {
        return Err(Error::Checkpoint(format!("the counts add up to {total}, not {}", args.updates)));
    }
    println!(
        "{} backend: {} read-modify-write updates over {} keys: {wall:.1} s, {cpu:.1} CPU s, {:.0} updates/s/core, \
         {:.0} updates/s (counts verified)",
        args.backend,
        args.updates,
        args.keys,
        args.updates as f64 / cpu,
        args.updates as f64 / wall
    );
    Ok(())
}

fn incremental(args: &Args, dir: &std::path::Path) -> Result<()> {
    let job: Arc<dyn CheckpointStorage> = Arc::new(LocalStorage::new(dir.join("checkpoints")));
    let shared = job.scoped("shared");
    let mut backend = rocksdb(args, dir, Vec::new());
    let values = backend.value_state::<u64, Vec<u8>, ()>(&StateDescriptor::new("values"))?;
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let value = |random: &mut Random| -> Vec<u8> {
        (0..args.value_bytes.div_ceil(8)).flat_map(|_| random.next().to_le_bytes()).take(args.value_bytes).collect()
    };
    let wall = Instant::now();
    for k in 0..args.keys {
        values.put(&k, value(&mut random))?;
    }
    println!("loaded {} keys of {} bytes in {:.1} s", args.keys, args.value_bytes, wall.elapsed().as_secs_f64());
    println!("{:>10}{:>14}{:>14}{:>10}{:>12}", "checkpoint", "uploaded MiB", "state MiB", "files", "seconds");
    let changes = ((args.keys as f64) * args.change_percent / 100.0).round() as u64;
    let mut last = None;
    for id in 1..=args.checkpoints + 1 {
        if id > 1 {
            for _ in 0..changes {
                let k = random.next() % args.keys.max(1);
                values.put(&k, value(&mut random))?;
            }
        }
        let wall = Instant::now();
        let (_, snapshot) = backend.snapshot(SnapshotFormat::Incremental { base: id - 1 }, id)?;
        let snapshot = snapshot.ok_or_else(|| Error::Checkpoint("RocksDB took no incremental snapshot".into()))?;
        let private = job.scoped(&format!("chk-{id}"));
        let (handle, uploaded) = snapshot.store(&shared, &private, "bench.db")?;
        let state: u64 = handle.shared.iter().chain(&handle.private).map(|f| f.bytes).sum();
        println!(
            "{id:>10}{:>14.1}{:>14.1}{:>10}{:>12.2}",
            uploaded as f64 / (1 << 20) as f64,
            state as f64 / (1 << 20) as f64,
            handle.shared.len() + handle.private.len(),
            wall.elapsed().as_secs_f64()
        );
        last = Some(RestoredDb { checkpoint_id: id, key_groups: ALL, handle, private, shared: shared.clone() });
    }
    drop(values);
    drop(backend);
    let restored = last.expect("at least one checkpoint");
    let wall = Instant::now();
    let mut backend = rocksdb(args, &dir.join("restored"), vec![restored]);
    let values = backend.value_state::<u64, Vec<u8>, ()>(&StateDescriptor::new("values"))?;
    let seconds = wall.elapsed().as_secs_f64();
    let mut present = 0;
    for k in (0..args.keys).step_by(1000) {
        present += u64::from(values.get(&k)?.is_some_and(|v| v.len() == args.value_bytes));
    }
    if present != args.keys.div_ceil(1000) {
        return Err(Error::Checkpoint("the restored state lacks keys".into()));
    }
    println!("restored the last checkpoint (download and open) in {seconds:.2} s; sampled keys verified");
    Ok(())
}
