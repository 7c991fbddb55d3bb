//! Keyed-state benchmarks behind `ferroflink bench-state` (run them from a release build):
//!
//! - read-modify-write: `ValueState<u64>` loaded with `--keys` distinct keys, then `--updates`
//!   uniformly random `get` + `put` pairs; reports updates per CPU-second of the process (the
//!   figure RocksDB's `db_bench --benchmarks=updaterandom` reports per thread) and checks that the
//!   values add up to the number of updates;
//! - `--incremental`: `--keys` values of `--value-bytes` random bytes in RocksDB, one full
//!   checkpoint, then `--checkpoints` rounds that each change `--change-percent` of the keys and
//!   take an incremental checkpoint into a local directory; reports the bytes each uploads and the
//!   time to restore the last one;
//! - `--ttl`: `--keys` values written once with a `--ttl-seconds` TTL, then `--idle-seconds` of
//!   writes to 1000 other keys; reports, each 5 s, the process's resident memory, RocksDB's live
//!   data estimate and the size of a checkpoint (canonical for the heap, incremental files for
//!   RocksDB), and at the end each against the largest value seen;
//! - `--list-appends`: that many appends to one list (RocksDB), the time per append in each decade
//!   from 1 000 on, and a read of the whole list checked;
//! - `--timers`: a job over `--keys` keys that each hold a value and a pending event-time timer on
//!   RocksDB until the input ends; reports the peak resident memory and checks every timer fired.

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
    /// Measure TTL cleanup instead.
    #[arg(long)]
    pub ttl: bool,
    /// `--ttl`: the time-to-live of the keys written once.
    #[arg(long, default_value_t = 10)]
    pub ttl_seconds: u64,
    /// `--ttl`: how long writes go to other keys afterwards.
    #[arg(long, default_value_t = 60)]
    pub idle_seconds: u64,
    /// Measure this many appends to one list instead (RocksDB).
    #[arg(long)]
    pub list_appends: Option<u64>,
    /// Measure a job whose `--keys` keys each hold a pending timer instead (RocksDB).
    #[arg(long)]
    pub timers: bool,
}

/// Runs the benchmark `args` describe, printing its figures.
pub fn run(args: &Args) -> Result<()> {
    let dir =
        args.dir.clone().unwrap_or_else(std::env::temp_dir).join(format!("ff-bench-state-{}", std::process::id()));
    let result = if args.incremental {
        incremental(args, &dir)
    } else if args.ttl {
        ttl(args, &dir)
    } else if let Some(n) = args.list_appends {
        list_appends(args, &dir, n)
    } else if args.timers {
        timers(args, &dir)
    } else {
        read_modify_write(args, &dir)
    };
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

/// Resident memory of the process now and at its peak, in bytes (Linux).
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The bytes of a checkpoint of `backend` (its canonical entries, or its incremental files).
fn checkpoint_bytes(backend: &KeyedStateBackend, id: u64) -> Result<u64> {
    let (keyed, files) = backend.snapshot(SnapshotFormat::Incremental { base: 0 }, id)?;
    let canonical: usize =
        keyed.iter().flat_map(|s| &s.entries).map(|e| e.key.len() + e.namespace.len() + e.value.len() + 2).sum();
    let files: u64 = files.iter().flat_map(|f| f.handle.shared.iter().chain(&f.handle.private)).map(|f| f.bytes).sum();
    Ok(canonical as u64 + files)
}

fn ttl(args: &Args, dir: &std::path::Path) -> Result<()> {
    use crate::state::ttl::StateTtlConfig;
    let mut backend = match args.backend.as_str() {
        "heap" => KeyedStateBackend::Heap(HeapKeyedStateBackend::new(Arc::new(SystemClock), MAX_PARALLELISM)),
        _ => rocksdb(args, dir, Vec::new()),
    };
    let ttl = StateTtlConfig::new(std::time::Duration::from_secs(args.ttl_seconds));
    let values = backend.value_state::<u64, u64, ()>(&StateDescriptor::new("values").with_ttl(ttl))?;
    let live = |backend: &KeyedStateBackend| match backend {
        KeyedStateBackend::RocksDb(r) => r.live_data_bytes(),
        KeyedStateBackend::Heap(_) => Ok(0),
    };
    let wall = Instant::now();
    for k in 0..args.keys {
        values.put(&k, k)?;
    }
    let (rss, _) = resident();
    let (peak_rss, peak_live, peak_checkpoint) = (rss, live(&backend)?, checkpoint_bytes(&backend, 1)?);
    println!(
        "{} backend: wrote {} keys with a {} s TTL in {:.1} s: resident {:.0} MiB, live data {:.0} MiB, checkpoint {:.0} \
         MiB",
        args.backend,
        args.keys,
        args.ttl_seconds,
        wall.elapsed().as_secs_f64(),
        mib(peak_rss),
        mib(peak_live),
        mib(peak_checkpoint)
    );
    println!("{:>8}{:>16}{:>16}{:>18}", "seconds", "resident MiB", "live data MiB", "checkpoint MiB");
    let (start, mut next_report, mut i, mut id) = (Instant::now(), 5, 0u64, 1);
    let (mut peak_rss, mut peak_live, mut peak_checkpoint) = (peak_rss, peak_live, peak_checkpoint);
    let mut last = (peak_rss, peak_live, peak_checkpoint);
    while start.elapsed().as_secs() < args.idle_seconds {
        for _ in 0..10_000 {
            values.put(&(args.keys + i % 1_000), i)?;
            i += 1;
        }
        if start.elapsed().as_secs() >= next_report {
            id += 1;
            last = (resident().0, live(&backend)?, checkpoint_bytes(&backend, id)?);
            peak_rss = peak_rss.max(last.0);
            peak_live = peak_live.max(last.1);
            peak_checkpoint = peak_checkpoint.max(last.2);
            println!("{next_report:>8}{:>16.1}{:>16.1}{:>18.1}", mib(last.0), mib(last.1), mib(last.2));
            next_report += 5;
        }
    }
    let share = |now: u64, peak: u64| if peak == 0 { 0.0 } else { 100.0 * now as f64 / peak as f64 };
    println!(
        "after {} s of writes to 1000 other keys: resident {:.1}% of its peak ({:.0} MiB), live data {:.1}%, \
         checkpoint {:.1}% ({i} writes)",
        args.idle_seconds,
        share(last.0, peak_rss),
        mib(peak_rss),
        share(last.1, peak_live),
        share(last.2, peak_checkpoint)
    );
    Ok(())
}

fn list_appends(args: &Args, dir: &std::path::Path, n: u64) -> Result<()> {
    let mut backend = rocksdb(args, dir, Vec::new());
    let list = backend.list_state::<u64, u64, ()>(&StateDescriptor::new("list"))?;
    println!("{:>12}{:>20}", "appends", "µs per append");
    let (mut done, mut decade, mut wall) = (0u64, 1_000u64, Instant::now());
    while done < n {
        list.add(&7, done)?;
        done += 1;
        if done == decade.min(n) {
            let previous = if decade == 1_000 { 0 } else { decade / 10 };
            let per = wall.elapsed().as_secs_f64() * 1e6 / (done - previous) as f64;
            println!("{done:>12}{per:>20.2}");
            decade *= 10;
            wall = Instant::now();
        }
    }
    let wall = Instant::now();
    let all = list.get(&7)?;
    if all.len() as u64 != n || all.iter().enumerate().any(|(i, v)| *v != i as u64) {
        return Err(Error::Internal(format!("the list holds {} elements, not 0..{n}", all.len())));
    }
    println!("read all {n} back in order in {:.2} s", wall.elapsed().as_secs_f64());
    Ok(())
}

fn timers(args: &Args, dir: &std::path::Path) -> Result<()> {
    use crate::connectors::generator::GeneratorSource;
    use crate::datastream::StreamExecutionEnvironment;
    use crate::datastream::{KeyedContext, KeyedProcessFunction};
    use crate::runtime::context::RuntimeContext;
    use crate::runtime::watermark::WatermarkStrategy;
    use crate::state::{StateBackendConfig, ValueState};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Keeps each key's timestamp and a timer far in the future (the end of input fires it).
    #[derive(Clone)]
    struct Pending(Arc<AtomicU64>);
    impl KeyedProcessFunction<u64, u64, ()> for Pending {
        type State = ValueState<u64, i64>;
        fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
            ctx.state.value_state(&StateDescriptor::new("seen"))
        }
        fn process_element(
            &mut self,
            seen: &mut Self::State,
            _: u64,
            ctx: &mut KeyedContext<'_, u64, ()>,
        ) -> Result<()> {
            let ts = ctx.timestamp().unwrap_or(0);
            seen.put(ctx.key(), ts)?;
            ctx.register_event_time_timer(ts + 3_600_000)
        }
        fn on_timer(&mut self, seen: &mut Self::State, _: i64, ctx: &mut KeyedContext<'_, u64, ()>) -> Result<()> {
            if seen.get(ctx.key())?.is_some() {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    }

    let fired = Arc::new(AtomicU64::new(0));
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(1);
    env.set_state_backend(StateBackendConfig::RocksDb(RocksDbConfig {
        local_dir: dir.join("rocksdb"),
        memory_bytes: args.memory,
        ..RocksDbConfig::default()
    }));
    let keys = args.keys;
    // Keys in a scrambled order, each once (SplitMix64 is a bijection).
    let source = GeneratorSource::new(Some(keys), move |i| crate::connectors::generator::mix(7, i))
        .with_timestamps(|k: &u64| (k % 1_000_000) as i64);
    let bound = std::time::Duration::from_secs(1_000);
    env.from_source(source, WatermarkStrategy::for_bounded_out_of_orderness(bound), "keys")
        .key_by(|k: &u64| *k)
        .process(Pending(fired.clone()))
        .sink_to(crate::connectors::discard::DiscardSink);
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    env.execute("bench-state-timers")?;
    let (_, peak) = resident();
    let fired = fired.load(Ordering::Relaxed);
    if fired != keys {
        return Err(Error::Internal(format!("{fired} of {keys} timers fired")));
    }
    println!(
        "RocksDB: a job over {keys} keys, each with a value and a pending event-time timer until the input ended: \
         {:.1} s, {:.1} CPU s, peak resident {:.0} MiB (memory budget {:.0} MiB); every timer fired once",
        wall.elapsed().as_secs_f64(),
        cpu.elapsed().as_secs_f64(),
        mib(peak),
        mib(args.memory as u64)
    );
    Ok(())
}
