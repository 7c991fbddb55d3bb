//! The job graph: Flink's chaining rules, stable operator ids, slot sharing and placement.

use ferroflink::Error;
use ferroflink::prelude::*;
use ferroflink::runtime::graph::execution::place;
use ferroflink::runtime::graph::job_graph::JobGraph;
use ferroflink::runtime::partition::ShipStrategy;

fn names(job: &JobGraph) -> Vec<String> {
    job.vertices.iter().map(|v| v.name.clone()).collect()
}

fn source(env: &StreamExecutionEnvironment) -> DataStream<u64> {
    env.from_source(
        ferroflink::connectors::generator::GeneratorSource::new(Some(10), |i| i),
        WatermarkStrategy::no_watermarks(),
        "Source",
    )
}

#[test]
fn forward_edges_of_equal_parallelism_chain() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(4);
    source(&env).map(|x: u64| x + 1).name("A").filter(|x: &u64| *x > 1).name("B").print();
    let job = env.job_graph().unwrap();
    assert_eq!(names(&job), vec!["Source -> A -> B -> Print to Std. Out"]);
    assert!(job.edges.is_empty());
}

#[test]
fn key_by_rebalance_and_parallelism_changes_break_chains() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let s = source(&env).map(|x: u64| x).name("A");
    s.key_by(|x: &u64| *x).reduce(|a, b| a + b).name("R").rebalance().map(|x: u64| x).name("C").print();
    // D runs at 3, its sink at the default 2: neither the edge into D nor out of it chains.
    s.map(|x: u64| x).name("D").set_parallelism(3).print();
    let job = env.job_graph().unwrap();
    assert_eq!(names(&job), vec!["Source -> A", "R", "C -> Print to Std. Out", "D", "Print to Std. Out"]);
    let strategies: Vec<ShipStrategy> = job.edges.iter().map(|e| e.strategy).collect();
    assert_eq!(
        strategies,
        vec![ShipStrategy::KeyGroups, ShipStrategy::Rebalance, ShipStrategy::Rebalance, ShipStrategy::Rebalance]
    );
}

#[test]
fn disable_chaining_start_new_chain_and_global_switch() {
    let env = StreamExecutionEnvironment::new();
    source(&env)
        .map(|x: u64| x)
        .name("A")
        .disable_chaining()
        .map(|x: u64| x)
        .name("B")
        .start_new_chain()
        .map(|x: u64| x)
        .name("C")
        .print();
    assert_eq!(names(&env.job_graph().unwrap()), vec!["Source", "A", "B -> C -> Print to Std. Out"]);

    let env = StreamExecutionEnvironment::new();
    env.disable_operator_chaining();
    source(&env).map(|x: u64| x).name("A").print();
    assert_eq!(names(&env.job_graph().unwrap()).len(), 3);
}

#[test]
fn union_inputs_and_slot_sharing_groups_do_not_chain() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let a = source(&env).map(|x: u64| x).name("A");
    let b = source(&env).map(|x: u64| x).name("B");
    a.union(&[b]).map(|x: u64| x).name("U").print();
    // The sink inherits its input's slot-sharing group, as in Flink.
    source(&env).map(|x: u64| x).name("G").slot_sharing_group("other").print();
    let job = env.job_graph().unwrap();
    assert!(names(&job).contains(&"U -> Print to Std. Out".to_string()));
    assert!(names(&job).contains(&"G -> Print to Std. Out".to_string()));
    // Two groups of parallelism 2 need 4 slots; 2 task managers of 2 slots hold them.
    let placement = place(&job, 2, 2).unwrap();
    assert_eq!(placement.slots_used, 4);
    let g = job.vertices.iter().position(|v| v.name.starts_with('G')).unwrap();
    assert!(placement.subtasks[g].iter().all(|s| s.task_manager == 1));
    match place(&job, 1, 3) {
        Err(Error::NotEnoughSlots(m)) => assert!(m.contains("needs 4 slots") && m.contains("--slots"), "{m}"),
        other => panic!("expected NotEnoughSlots, got {other:?}"),
    }
}

#[test]
fn operator_ids_are_deterministic_and_follow_uids() {
    let build = |name: &str| {
        let env = StreamExecutionEnvironment::new();
        source(&env).map(|x: u64| x).name(name).key_by(|x: &u64| *x).reduce(|a, b| a + b).uid("sum").print();
        env.job_graph().unwrap()
    };
    let (a, b) = (build("first"), build("renamed"));
    assert_eq!(a.operator_ids, b.operator_ids, "names do not change ids");
    let reduce = a.graph.nodes.iter().position(|n| n.uid.as_deref() == Some("sum")).unwrap();
    assert_eq!(a.operator_ids[reduce], format!("{:016x}", xxhash_rust::xxh64::xxh64(b"uid:sum", 0)));
    let unique: std::collections::HashSet<_> = a.operator_ids.iter().collect();
    assert_eq!(unique.len(), a.operator_ids.len());
}

#[test]
fn invalid_graphs_get_clear_errors() {
    let env = StreamExecutionEnvironment::new();
    source(&env).set_parallelism(2).forward().map(|x: u64| x).set_parallelism(3).print();
    let e = env.job_graph().err().unwrap().to_string();
    assert!(e.contains("forward partitioning") && e.contains("rebalance()"), "{e}");

    let env = StreamExecutionEnvironment::new();
    source(&env).map(|x: u64| x).uid("x").map(|x: u64| x).uid("x").print();
    assert!(env.job_graph().err().unwrap().to_string().contains("uid 'x'"));

    let env = StreamExecutionEnvironment::new();
    env.set_max_parallelism(4);
    source(&env).map(|x: u64| x).set_parallelism(8).print();
    assert!(env.job_graph().err().unwrap().to_string().contains("max parallelism"));

    let env = StreamExecutionEnvironment::new();
    env.from_collection(vec![1u64]).set_parallelism(2).print();
    assert!(env.job_graph().err().unwrap().to_string().contains("supports parallelism 1"));
}
