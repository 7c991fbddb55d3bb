//! A job as data: what runs ([`Job`]) and how ([`JobSettings`]). A `JobSpec` is what travels wherever
//! a job goes (the command line builds one, REST `POST /jobs` takes one, the JobManager records it in
//! its HA records and sends it with every deployment), and every process plans it into the same job
//! graph through the registry of its binary.
//!
//! Settings are the configuration's job sections (`job`, `checkpointing`, `state`, `savepoints`,
//! `restore`, `restart-strategy`, `s3`): a process takes them from its configuration, then lays a
//! submission's overrides over them by key, under our names or Flink's ([`JobSettings::with`]).

use crate::config::keys::{self, Resolved};
use crate::config::{
    CheckpointingSection, Config, ConfigError, DEFAULT_BATCH_SIZE, RestartSection, RestoreSection, S3Section,
    SavepointsSection, StateSection, lenient,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A job and its execution settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JobSpec {
    /// What runs.
    pub job: Job,
    /// How it runs.
    #[serde(default)]
    pub settings: JobSettings,
}

/// What a job runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Job {
    /// A job the binary registers, by name, with its own arguments (without the execution flags,
    /// which are [`JobSettings`]).
    Registered {
        /// The registered name.
        name: String,
        /// Its arguments, as on `ferroflink run <name> ...`.
        #[serde(default)]
        args: Vec<String>,
    },
    /// A SQL script's job: every process runs the script's statements in order (DDL, `SET`) and
    /// plans its job number `job` (from 0: its `INSERT`s and statement sets, in order).
    Sql {
        /// The script.
        script: String,
        /// Which of its jobs.
        #[serde(default)]
        job: usize,
    },
}

impl JobSpec {
    /// Registered job `name` with `args` and default settings.
    pub fn registered(name: &str, args: &[String]) -> JobSpec {
        JobSpec {
            job: Job::Registered { name: name.to_string(), args: args.to_vec() },
            settings: JobSettings::default(),
        }
    }

    /// The job a configuration runs at start (`job.name` and `job.args`, or `job.sql`, with the job
    /// settings), if any.
    pub fn from_config(config: &Config) -> Option<JobSpec> {
        let job = match (&config.job.sql, &config.job.name) {
            (Some(script), _) => Job::Sql { script: script.clone(), job: 0 },
            (None, Some(name)) => Job::Registered { name: name.clone(), args: config.job.args.clone() },
            (None, None) => return None,
        };
        Some(JobSpec { job, settings: JobSettings::from_config(config) })
    }

    /// The job's name as registered, or `sql` for a SQL script's job.
    pub fn name(&self) -> &str {
        match &self.job {
            Job::Registered { name, .. } => name,
            Job::Sql { .. } => "sql",
        }
    }

    /// This spec with `settings`.
    pub fn with_settings(self, settings: JobSettings) -> JobSpec {
        JobSpec { settings, ..self }
    }
}

/// The body of REST `POST /jobs`: a job, and the settings it gives (by our keys or Flink's); the
/// JobManager's configuration supplies the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Submission {
    /// What runs.
    pub job: Job,
    /// Settings over the JobManager's.
    #[serde(default)]
    pub config: Overrides,
}

/// `job.*` settings that are the job's (its name and arguments are [`Job`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobOptions {
    /// The job's id (`None`: derived from its name and operators).
    pub id: Option<String>,
    /// Default parallelism of its operators (`None`: 1, unless the job's code sets one).
    #[serde(with = "lenient::opt_usize")]
    pub parallelism: Option<usize>,
    /// Key groups of keyed operators (`None`: the engine's default).
    #[serde(with = "lenient::opt_usize")]
    pub max_parallelism: Option<usize>,
    /// Records per batch on channels.
    #[serde(with = "lenient::usize")]
    pub batch_size: usize,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions { id: None, parallelism: None, max_parallelism: None, batch_size: DEFAULT_BATCH_SIZE }
    }
}

/// How a job runs: typed, with the configuration's defaults; laid out as the configuration's
/// sections, so a key names a setting here as it does in a configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobSettings {
    /// `job.*`: id, parallelism, max parallelism, batch size.
    pub job: JobOptions,
    /// `checkpointing.*`
    pub checkpointing: CheckpointingSection,
    /// `state.*`: the state backend and its options.
    pub state: StateSection,
    /// `savepoints.*`
    pub savepoints: SavepointsSection,
    /// `restore.*`: the checkpoint or savepoint the job starts from.
    pub restore: RestoreSection,
    /// `restart-strategy.*`
    pub restart_strategy: RestartSection,
    /// `s3.*`: how `s3://` locations are reached.
    pub s3: S3Section,
}

/// Settings by key (ours or Flink's) with their values, as a submission or the command line gives
/// them.
pub type Overrides = BTreeMap<String, Value>;

impl JobSettings {
    /// The job settings of a configuration.
    pub fn from_config(config: &Config) -> JobSettings {
        let j = &config.job;
        JobSettings {
            job: JobOptions {
                id: j.id.clone(),
                parallelism: j.parallelism,
                max_parallelism: j.max_parallelism,
                batch_size: j.batch_size,
            },
            checkpointing: config.checkpointing.clone(),
            state: config.state.clone(),
            savepoints: config.savepoints.clone(),
            restore: config.restore.clone(),
            restart_strategy: config.restart_strategy.clone(),
            s3: config.s3.clone(),
        }
    }

    /// These settings with `overrides` laid over them. A key that is not a job setting (a process
    /// setting such as `rest.port`, or `job.name`), a Flink key without an equivalent here, or an
    /// invalid value is an error naming the key as written.
    pub fn with(&self, overrides: &Overrides) -> Result<JobSettings, ConfigError> {
        let mut tree = serde_json::to_value(self).expect("settings serialize");
        for (written, value) in overrides {
            let name = match keys::resolve(written) {
                Some(Resolved::Ours(key)) => key.name,
                Some(Resolved::FlinkOnly) => {
                    return Err(ConfigError(format!(
                        "`{written}` is a Flink option ferroflink does not support; drop it from the job's settings"
                    )));
                }
                None => {
                    return Err(ConfigError(format!(
                        "`{written}` is neither a ferroflink nor a Flink configuration key; see the \
                         configuration reference in README.md"
                    )));
                }
            };
            let (section, field) = name.split_once('.').expect("our keys are section.key");
            let slot = tree.get_mut(section).and_then(Value::as_object_mut).filter(|s| s.contains_key(field));
            let Some(slot) = slot else {
                return Err(ConfigError(format!(
                    "`{written}` is not a job setting but the process's: set it in the configuration of the \
                     JobManager and TaskManagers"
                )));
            };
            slot.insert(field.to_string(), value.clone());
            if let Err(e) = serde_json::from_value::<JobSettings>(tree.clone()) {
                return Err(ConfigError(format!("`{written}`: {e}")));
            }
        }
        Ok(serde_json::from_value(tree).expect("checked after each override"))
    }

    /// The settings that differ from `base`, by our key names (what a submission sends so that the
    /// JobManager's configuration supplies the rest).
    pub fn overrides_against(&self, base: &JobSettings) -> Overrides {
        let (mine, theirs) = (serde_json::to_value(self), serde_json::to_value(base));
        let (Ok(Value::Object(mine)), Ok(Value::Object(theirs))) = (mine, theirs) else {
            unreachable!("settings serialize to maps")
        };
        let empty = Map::new();
        let mut out = Overrides::new();
        for (section, fields) in mine {
            let base = theirs.get(&section).and_then(Value::as_object).unwrap_or(&empty);
            for (field, value) in fields.as_object().into_iter().flatten() {
                if base.get(field) != Some(value) {
                    out.insert(format!("{section}.{field}"), value.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigLoader, StateBackendKind};
    use serde_json::json;
    use std::time::Duration;

    fn overrides(pairs: &[(&str, Value)]) -> Overrides {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_spec_round_trips_through_json() {
        let mut spec = JobSpec::registered("nexmark", &["--query".into(), "q5".into()]);
        spec.settings.job.parallelism = Some(4);
        spec.settings.checkpointing.interval = Some(Duration::from_secs(10));
        spec.settings.state.backend = StateBackendKind::Rocksdb;
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<JobSpec>(&text).unwrap(), spec, "{text}");
        let short: JobSpec =
            serde_json::from_value(json!({"job": {"kind": "registered", "name": "wordcount"}})).unwrap();
        assert_eq!(short, JobSpec::registered("wordcount", &[]));
        let e = serde_json::from_value::<JobSpec>(json!({"job": {"kind": "jar", "name": "x"}})).unwrap_err();
        assert!(e.to_string().contains("jar"), "{e}");
    }

    #[test]
    fn overrides_by_our_names_and_flinks() {
        let mut loader = ConfigLoader::new();
        loader
            .merge_yaml("job: {name: nexmark, args: [--query, q1]}\ncheckpointing.dir: /ck\nrest.port: 9000", "t")
            .unwrap();
        let config = loader.load().unwrap();
        let spec = JobSpec::from_config(&config).unwrap();
        assert_eq!(spec.job, Job::Registered { name: "nexmark".into(), args: vec!["--query".into(), "q1".into()] });
        let s = spec
            .settings
            .with(&overrides(&[
                ("parallelism.default", json!(3)),
                ("execution.checkpointing.interval", json!("10 s")),
                ("state.backend.type", json!("rocksdb")),
                ("job.batch-size", json!("64")),
            ]))
            .unwrap();
        assert_eq!(s.job.parallelism, Some(3));
        assert_eq!(s.checkpointing.interval, Some(Duration::from_secs(10)));
        assert_eq!(s.checkpointing.dir.as_deref(), Some("/ck"), "the configuration's settings stay");
        assert_eq!((s.state.backend, s.job.batch_size), (StateBackendKind::Rocksdb, 64));
        let back = s.overrides_against(&spec.settings);
        assert_eq!(spec.settings.with(&back).unwrap(), s);
        assert_eq!(back.len(), 4, "{back:?}");

        let error = |k: &str, v: Value| spec.settings.with(&overrides(&[(k, v)])).unwrap_err().to_string();
        assert!(error("rest.port", json!(1)).contains("not a job setting"));
        assert!(error("job.name", json!("x")).contains("not a job setting"));
        assert!(error("pipeline.name", json!("x")).contains("does not support"));
        assert!(error("paralelism", json!(1)).contains("neither"));
        let e = error("execution.checkpointing.interval", json!("soon"));
        assert!(e.contains("`execution.checkpointing.interval`") && e.contains("not a duration"), "{e}");
    }

    #[test]
    fn job_builtin_is_read_as_job_name() {
        let mut loader = ConfigLoader::new();
        loader.merge_yaml("job: {builtin: wordcount}", "t").unwrap();
        assert_eq!(JobSpec::from_config(&loader.load().unwrap()).unwrap().name(), "wordcount");
    }
}
