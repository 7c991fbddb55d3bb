//! Operator (non-keyed) state: lists of values owned by one operator instance, such as a sink's
//! pending files or a source's offsets. How a list is redistributed when parallelism changes is part
//! of its declaration: `Split` lists are dealt out among the new instances, `Union` lists are given
//! whole to every instance (Flink's list and union list state).

use super::duplicate_state;
use super::snapshot::{OperatorListSnapshot, SnapshotList};
use ferroflink_core::codec::{decode, encode};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Data;
use std::cell::RefCell;
use std::rc::Rc;

/// How a list is redistributed on rescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Distribution {
    /// The elements of all instances are dealt out among the new instances.
    Split,
    /// Every new instance gets all elements of all instances.
    Union,
}

/// A list of values of one operator instance.
pub struct OperatorListState<T> {
    items: Rc<RefCell<Vec<T>>>,
    distribution: Distribution,
}

impl<T: Data> OperatorListState<T> {
    /// The elements.
    pub fn get(&self) -> Vec<T> {
        self.items.borrow().clone()
    }
    /// Appends an element.
    pub fn add(&self, value: T) {
        self.items.borrow_mut().push(value);
    }
    /// Replaces the list.
    pub fn update(&self, values: Vec<T>) {
        *self.items.borrow_mut() = values;
    }
    /// Empties the list.
    pub fn clear(&self) {
        self.items.borrow_mut().clear();
    }
    /// How it is redistributed on rescale.
    pub fn distribution(&self) -> Distribution {
        self.distribution
    }
}

impl<T: Data> SnapshotList for RefCell<Vec<T>> {
    fn snapshot(&self) -> Result<Vec<Vec<u8>>> {
        self.borrow().iter().map(encode).collect()
    }

    fn restore(&self, name: &str, elements: &[Vec<u8>]) -> Result<()> {
        let mut items = self.borrow_mut();
        for bytes in elements {
            items.push(decode(bytes).map_err(|e| {
                Error::Codec(format!(
                    "operator state '{name}': a stored element does not decode as the declared type ({e}); \
                     the job's state types changed since the snapshot was taken"
                ))
            })?);
        }
        Ok(())
    }
}

/// The operator state of one operator instance.
#[derive(Default)]
pub struct OperatorStateStore {
    lists: Vec<(String, Distribution, Rc<dyn SnapshotList>)>,
    restored: Vec<OperatorListSnapshot>,
}

impl OperatorStateStore {
    /// A store that fills each list from `restored` when the operator declares it.
    pub fn restoring(restored: Vec<OperatorListSnapshot>) -> Self {
        OperatorStateStore { lists: Vec::new(), restored }
    }

    /// Declares a list redistributed by splitting.
    pub fn list_state<T: Data>(&mut self, name: &str) -> Result<OperatorListState<T>> {
        self.declare(name, Distribution::Split)
    }

    /// Declares a list every instance receives whole on restore.
    pub fn union_list_state<T: Data>(&mut self, name: &str) -> Result<OperatorListState<T>> {
        self.declare(name, Distribution::Union)
    }

    /// Declared lists and their distribution.
    pub fn declared(&self) -> Vec<(String, Distribution)> {
        self.lists.iter().map(|(n, d, _)| (n.clone(), *d)).collect()
    }

    /// The canonical snapshot of every declared list.
    pub fn snapshot(&self) -> Result<Vec<OperatorListSnapshot>> {
        self.lists
            .iter()
            .map(|(name, distribution, list)| {
                Ok(OperatorListSnapshot { name: name.clone(), distribution: *distribution, elements: list.snapshot()? })
            })
            .collect()
    }

    /// Restored lists the operator has not declared (so far).
    pub fn unrestored(&self) -> Vec<String> {
        self.restored.iter().map(|l| l.name.clone()).collect()
    }

    fn declare<T: Data>(&mut self, name: &str, distribution: Distribution) -> Result<OperatorListState<T>> {
        if self.lists.iter().any(|(n, _, _)| n == name) {
            return Err(duplicate_state(name));
        }
        let items = Rc::new(RefCell::new(Vec::new()));
        if let Some(pos) = self.restored.iter().position(|l| l.name == name) {
            let restored = self.restored.swap_remove(pos);
            items.restore(name, &restored.elements)?;
        }
        self.lists.push((name.to_string(), distribution, items.clone()));
        Ok(OperatorListState { items, distribution })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_union_lists() {
        let mut store = OperatorStateStore::default();
        let offsets = store.list_state::<u64>("offsets").unwrap();
        let seen = store.union_list_state::<String>("seen").unwrap();
        offsets.add(3);
        offsets.add(5);
        seen.update(vec!["x".into()]);
        assert_eq!(offsets.get(), vec![3, 5]);
        assert_eq!(seen.get(), vec!["x".to_string()]);
        assert_eq!(seen.distribution(), Distribution::Union);
        offsets.clear();
        assert!(offsets.get().is_empty());
        assert!(store.list_state::<u64>("seen").is_err());
        assert_eq!(store.declared().len(), 2);
    }
}
