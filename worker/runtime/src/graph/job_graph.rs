//! The job graph: stream nodes chained into job vertices by Flink's rules, with parallelism, key
//! groups, edge ship strategies and stable operator ids resolved.
//!
//! An edge is chained when: chaining is enabled for the job; the consumer has exactly one input
//! edge; the edge ships forward (same parallelism, no repartitioning); both ends are in the same
//! slot-sharing group; the consumer's strategy is `Always` and the producer's is not `Never`.
//! The result is deterministic for a given program: every process builds the same vertices, ids
//! and key-group assignment.
//!
//! Operator ids: `xxHash64("uid:" + uid)` when a uid is set, else `xxHash64` of the node's position
//! in creation order and its inputs' ids, printed as 16 hex digits. Operator state is kept per
//! operator id, so set a `uid` on stateful operators of long-lived jobs.

use crate::graph::stream_graph::{ChainingStrategy, NodeKind, Partitioning, StreamGraph};
use crate::partition::ShipStrategy;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::UPPER_BOUND_MAX_PARALLELISM;
use std::collections::{BTreeMap, HashSet};
use xxhash_rust::xxh64::xxh64;

/// A chain of operators run as one task per parallel instance.
#[derive(Clone, Debug)]
pub struct JobVertex {
    /// Index in [`JobGraph::vertices`].
    pub index: usize,
    /// The head operator's id.
    pub id: String,
    /// Operator names joined by ` -> `.
    pub name: String,
    /// Stream nodes in the chain, head first, topologically ordered.
    pub nodes: Vec<usize>,
    /// Parallel instances.
    pub parallelism: usize,
    /// Key groups.
    pub max_parallelism: usize,
    /// Slot-sharing group.
    pub slot_sharing_group: String,
    /// Whether the head is a source.
    pub is_source: bool,
}

/// A non-chained edge between two vertices.
#[derive(Clone, Debug)]
pub struct JobEdge {
    /// Index of the stream edge.
    pub stream_edge: usize,
    /// Producing vertex.
    pub source_vertex: usize,
    /// Consuming vertex.
    pub target_vertex: usize,
    /// Distribution over the consumer's subtasks.
    pub strategy: ShipStrategy,
}

/// See the module documentation.
#[derive(Clone)]
pub struct JobGraph {
    /// The stream graph it was built from.
    pub graph: StreamGraph,
    /// Stable id per stream node.
    pub operator_ids: Vec<String>,
    /// Resolved parallelism per stream node.
    pub parallelism: Vec<usize>,
    /// Resolved max parallelism per stream node.
    pub max_parallelism: Vec<usize>,
    /// Ship strategy per stream edge.
    pub strategies: Vec<ShipStrategy>,
    /// Whether each stream edge is chained.
    pub chained: Vec<bool>,
    /// Vertices in order of their head node.
    pub vertices: Vec<JobVertex>,
    /// Vertex of each stream node.
    pub node_vertex: Vec<usize>,
    /// Edges between vertices.
    pub edges: Vec<JobEdge>,
}

impl JobGraph {
    /// Resolves and chains `graph`.
    pub fn build(graph: StreamGraph) -> Result<JobGraph> {
        let n = graph.nodes.len();
        if n == 0 {
            return Err(Error::InvalidJob("the job has no operators: add a source and a sink".into()));
        }
        for (i, e) in graph.edges.iter().enumerate() {
            if e.source >= e.target {
                return Err(Error::InvalidJob(format!("edge {i} does not go forward in the graph")));
            }
        }
        let cfg = &graph.config;
        if cfg.parallelism == 0 {
            return Err(Error::InvalidJob("parallelism must be at least 1".into()));
        }
        let mut parallelism = Vec::with_capacity(n);
        let mut max_parallelism = Vec::with_capacity(n);
        for node in &graph.nodes {
            let p = match (node.parallelism, node.parallelism_limit) {
                (Some(p), Some(limit)) if p > limit => {
                    return Err(Error::InvalidJob(format!(
                        "operator '{}' supports parallelism {limit} at most, but {p} was set",
                        node.name
                    )));
                }
                (Some(p), _) => p,
                (None, Some(limit)) => cfg.parallelism.min(limit),
                (None, None) => cfg.parallelism,
            };
            let maxp = node.max_parallelism.unwrap_or(cfg.max_parallelism);
            if p == 0 {
                return Err(Error::InvalidJob(format!("operator '{}' has parallelism 0", node.name)));
            }
            if !(1..=UPPER_BOUND_MAX_PARALLELISM).contains(&maxp) || p > maxp {
                return Err(Error::InvalidJob(format!(
                    "operator '{}' has parallelism {p} but max parallelism {maxp}: max parallelism must be \
                     between the parallelism and {UPPER_BOUND_MAX_PARALLELISM}",
                    node.name
                )));
            }
            parallelism.push(p);
            max_parallelism.push(maxp);
        }

        let mut strategies = Vec::with_capacity(graph.edges.len());
        for e in &graph.edges {
            let same = parallelism[e.source] == parallelism[e.target];
            strategies.push(match e.partitioning {
                Partitioning::Default if same => ShipStrategy::Forward,
                Partitioning::Default | Partitioning::Rebalance => ShipStrategy::Rebalance,
                Partitioning::Forward if same => ShipStrategy::Forward,
                Partitioning::Forward => {
                    return Err(Error::InvalidJob(format!(
                        "forward partitioning from '{}' (parallelism {}) to '{}' (parallelism {}) needs equal \
                         parallelism; use rebalance() or set the same parallelism",
                        graph.nodes[e.source].name,
                        parallelism[e.source],
                        graph.nodes[e.target].name,
                        parallelism[e.target]
                    )));
                }
                Partitioning::Broadcast => ShipStrategy::Broadcast,
                Partitioning::Hash => ShipStrategy::KeyGroups,
            });
        }

        let operator_ids = operator_ids(&graph)?;

        let chained: Vec<bool> = graph
            .edges
            .iter()
            .zip(&strategies)
            .map(|(e, s)| {
                let (up, down) = (&graph.nodes[e.source], &graph.nodes[e.target]);
                cfg.chaining
                    && graph.in_edges(e.target).count() == 1
                    && *s == ShipStrategy::Forward
                    && parallelism[e.source] == parallelism[e.target]
                    && up.slot_sharing_group == down.slot_sharing_group
                    && down.chaining == ChainingStrategy::Always
                    && up.chaining != ChainingStrategy::Never
                    && matches!(down.kind, NodeKind::Operator(_))
            })
            .collect();

        // Each node joins its upstream's vertex through a chained edge, or heads a new one.
        let mut node_vertex = vec![usize::MAX; n];
        let mut vertices: Vec<JobVertex> = Vec::new();
        for node in &graph.nodes {
            let via = graph.in_edges(node.id).find(|(i, _)| chained[*i]).map(|(_, e)| e.source);
            match via {
                Some(up) => {
                    let v = node_vertex[up];
                    node_vertex[node.id] = v;
                    vertices[v].nodes.push(node.id);
                    vertices[v].name = format!("{} -> {}", vertices[v].name, node.name);
                }
                None => {
                    node_vertex[node.id] = vertices.len();
                    vertices.push(JobVertex {
                        index: vertices.len(),
                        id: operator_ids[node.id].clone(),
                        name: node.name.clone(),
                        nodes: vec![node.id],
                        parallelism: parallelism[node.id],
                        max_parallelism: max_parallelism[node.id],
                        slot_sharing_group: node.slot_sharing_group.clone(),
                        is_source: matches!(node.kind, NodeKind::Source(_)),
                    });
                }
            }
        }

        let edges = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(i, _)| !chained[*i])
            .map(|(i, e)| JobEdge {
                stream_edge: i,
                source_vertex: node_vertex[e.source],
                target_vertex: node_vertex[e.target],
                strategy: strategies[i],
            })
            .collect();

        Ok(JobGraph {
            graph,
            operator_ids,
            parallelism,
            max_parallelism,
            strategies,
            chained,
            vertices,
            node_vertex,
            edges,
        })
    }

    /// The digest of the plan every process of a cluster must agree on: 16 hex digits of the
    /// xxHash64 of each operator's id, name, kind, parallelism, max parallelism, vertex and
    /// chaining, and each edge's ends, input, side-output tag, partitioning, ship strategy,
    /// chaining and record type. The JobManager sends it with every deployment; a TaskManager that
    /// plans the same job differently refuses it instead of running with state it cannot match.
    pub fn plan_digest(&self) -> String {
        let mut plan = String::new();
        for node in &self.graph.nodes {
            let kind = match node.kind {
                NodeKind::Source(_) => "source",
                NodeKind::Operator(_) => "operator",
            };
            plan.push_str(&format!(
                "node {} {:?} {kind} p={} max={} vertex={} {:?} {:?}\n",
                self.operator_ids[node.id],
                node.name,
                self.parallelism[node.id],
                self.max_parallelism[node.id],
                self.node_vertex[node.id],
                node.chaining,
                node.slot_sharing_group,
            ));
        }
        for (i, e) in self.graph.edges.iter().enumerate() {
            plan.push_str(&format!(
                "edge {} -> {} input={} tag={:?} {:?} {:?} chained={} {}\n",
                self.operator_ids[e.source],
                self.operator_ids[e.target],
                e.input,
                e.tag,
                e.partitioning,
                self.strategies[i],
                self.chained[i],
                e.record_type,
            ));
        }
        format!("{:016x}", xxh64(plan.as_bytes(), 0))
    }

    /// Every operator as `(id, name, max parallelism)`: what a restored snapshot must fit.
    pub fn operators(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.graph.nodes.iter().map(|n| (self.operator_ids[n.id].as_str(), n.name.as_str(), self.max_parallelism[n.id]))
    }

    /// A human-readable plan: one line per vertex with its operators, parallelism and inputs.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for v in &self.vertices {
            let inputs: Vec<String> = self
                .edges
                .iter()
                .filter(|e| e.target_vertex == v.index)
                .map(|e| format!("{:?} from #{}", e.strategy, e.source_vertex))
                .collect();
            out.push_str(&format!(
                "#{} {} [parallelism {}, id {}]{}\n",
                v.index,
                v.name,
                v.parallelism,
                v.id,
                if inputs.is_empty() { String::new() } else { format!(" <- {}", inputs.join(", ")) }
            ));
        }
        out
    }
}

fn operator_ids(graph: &StreamGraph) -> Result<Vec<String>> {
    let mut uids = HashSet::new();
    let mut ids: Vec<String> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let id = match &node.uid {
            Some(uid) => {
                if !uids.insert(uid.clone()) {
                    return Err(Error::InvalidJob(format!(
                        "uid '{uid}' is used by two operators; uids must be unique"
                    )));
                }
                xxh64(format!("uid:{uid}").as_bytes(), 0)
            }
            None => {
                let inputs: BTreeMap<usize, &str> =
                    graph.in_edges(node.id).map(|(_, e)| (e.source, ids[e.source].as_str())).collect();
                let inputs: Vec<&str> = inputs.values().copied().collect();
                xxh64(format!("node:{}:{}", node.id, inputs.join(",")).as_bytes(), 0)
            }
        };
        ids.push(format!("{id:016x}"));
    }
    Ok(ids)
}
