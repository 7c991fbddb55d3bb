//! A bounded source of in-memory elements, emitted in order by one reader.

use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::source::{
    Boundedness, FixedSplits, Polled, ReaderStatus, Source, SourceReader, SourceSplit, SplitEnumerator,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The one split of a collection: the position of the next element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionSplit {
    /// Index of the next element.
    pub position: usize,
}

impl SourceSplit for CollectionSplit {
    fn split_id(&self) -> String {
        "collection".into()
    }
}

/// The elements of a vector.
pub struct CollectionSource<T> {
    items: Arc<Vec<T>>,
}

impl<T: Data> CollectionSource<T> {
    /// A source of `items`.
    pub fn new(items: Vec<T>) -> Self {
        CollectionSource { items: Arc::new(items) }
    }
}

impl<T: Data> Source<T> for CollectionSource<T> {
    type Split = CollectionSplit;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn create_enumerator(
        &self,
        parallelism: usize,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn SplitEnumerator<CollectionSplit>>> {
        FixedSplits::restore_or(restored, parallelism, || Ok(vec![CollectionSplit { position: 0 }]))
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, CollectionSplit>>> {
        Ok(Box::new(CollectionReader { items: self.items.clone(), position: None }))
    }
}

struct CollectionReader<T> {
    items: Arc<Vec<T>>,
    position: Option<usize>,
}

impl<T: Data> SourceReader<T, CollectionSplit> for CollectionReader<T> {
    fn add_split(&mut self, split: CollectionSplit) -> Result<()> {
        self.position = Some(split.position);
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<Polled> {
        let Some(pos) = self.position.as_mut() else { return Ok(Polled::empty(ReaderStatus::NeedsSplit)) };
        let end = (*pos + max).min(self.items.len());
        out.extend(self.items[*pos..end].iter().cloned().map(Record::untimed));
        *pos = end;
        let id = "collection".to_string();
        if end < self.items.len() {
            return Ok(Polled::records(id, ReaderStatus::MoreAvailable));
        }
        self.position = None;
        Ok(Polled::last(id, ReaderStatus::NeedsSplit))
    }

    fn snapshot_splits(&self) -> Vec<CollectionSplit> {
        self.position.map(|position| CollectionSplit { position }).into_iter().collect()
    }
}
