//! Placing subtasks into task slots with slot sharing: within a slot-sharing group, slot `i` of the
//! group holds subtask `i` of every vertex, so a group needs as many slots as its highest
//! parallelism and the job needs the sum over its groups. Slots are numbered task manager by task
//! manager.

use crate::graph::job_graph::JobGraph;
use ferroflink_core::error::{Error, Result};

/// Where one subtask runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotAddress {
    /// Task manager index.
    pub task_manager: usize,
    /// Slot index within it.
    pub slot: usize,
}

/// The placement of every subtask.
#[derive(Clone, Debug)]
pub struct Placement {
    /// Per vertex, per subtask.
    pub subtasks: Vec<Vec<SlotAddress>>,
    /// Slots the job uses.
    pub slots_used: usize,
}

/// Slot-sharing groups in order of first use, with the slots each needs (its highest parallelism).
fn groups(job: &JobGraph) -> Vec<(&str, usize)> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for v in &job.vertices {
        match groups.iter_mut().find(|(g, _)| *g == v.slot_sharing_group) {
            Some((_, need)) => *need = (*need).max(v.parallelism),
            None => groups.push((&v.slot_sharing_group, v.parallelism)),
        }
    }
    groups
}

/// Slots the job needs: the sum over its slot-sharing groups of their highest parallelism.
pub fn slots_needed(job: &JobGraph) -> usize {
    groups(job).iter().map(|(_, n)| n).sum()
}

/// Places `job` on `task_managers` × `slots_per_task_manager` slots.
pub fn place(job: &JobGraph, task_managers: usize, slots_per_task_manager: usize) -> Result<Placement> {
    let needed = slots_needed(job);
    let available = task_managers * slots_per_task_manager;
    if needed > available {
        return Err(Error::NotEnoughSlots(format!(
            "the job needs {needed} slots but the cluster has {available} ({task_managers} task managers × \
             {slots_per_task_manager} slots); raise --slots or lower --parallelism"
        )));
    }
    place_on(job, &vec![slots_per_task_manager; task_managers])
}

/// Places `job` on task managers with `slots[t]` slots each, filling them in order.
pub fn place_on(job: &JobGraph, slots: &[usize]) -> Result<Placement> {
    let groups = groups(job);
    let needed: usize = groups.iter().map(|(_, n)| n).sum();
    let available: usize = slots.iter().sum();
    if needed > available {
        return Err(Error::NotEnoughSlots(format!("the job needs {needed} slots; {available} were given")));
    }
    let address = |global: usize| {
        let mut left = global;
        for (task_manager, &n) in slots.iter().enumerate() {
            if left < n {
                return SlotAddress { task_manager, slot: left };
            }
            left -= n;
        }
        unreachable!("fewer slots than checked")
    };
    let mut offsets = Vec::new();
    let mut acc = 0;
    for (g, n) in &groups {
        offsets.push((*g, acc));
        acc += n;
    }
    let subtasks = job
        .vertices
        .iter()
        .map(|v| {
            let base = offsets.iter().find(|(g, _)| *g == v.slot_sharing_group).map(|(_, o)| *o).unwrap_or(0);
            (0..v.parallelism).map(|i| address(base + i)).collect()
        })
        .collect();
    Ok(Placement { subtasks, slots_used: needed })
}
