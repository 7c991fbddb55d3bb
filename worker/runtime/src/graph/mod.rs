//! From the API's logical graph to what runs: the stream graph (one node per operator), the job
//! graph (operators chained into vertices by Flink's rules) and the placement of each vertex's
//! parallel subtasks into task slots.

pub mod execution;
pub mod job_graph;
pub mod stream_graph;
