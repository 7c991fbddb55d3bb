//! A bounded source of in-memory elements, emitted in order by one reader.

use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::source::{Boundedness, ReaderStatus, Source, SourceReader};
use std::sync::Arc;

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
    /// The position of the next element.
    type Split = usize;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn enumerate_splits(&self, _parallelism: usize) -> Result<Vec<usize>> {
        Ok(vec![0])
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, usize>>> {
        Ok(Box::new(CollectionReader { items: self.items.clone(), position: None }))
    }
}

struct CollectionReader<T> {
    items: Arc<Vec<T>>,
    position: Option<usize>,
}

impl<T: Data> SourceReader<T, usize> for CollectionReader<T> {
    fn add_splits(&mut self, splits: Vec<usize>) -> Result<()> {
        if let Some(p) = splits.into_iter().next() {
            self.position = Some(p);
        }
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<ReaderStatus> {
        let Some(pos) = self.position.as_mut() else { return Ok(ReaderStatus::Finished) };
        let end = (*pos + max).min(self.items.len());
        out.extend(self.items[*pos..end].iter().cloned().map(Record::untimed));
        *pos = end;
        Ok(if end == self.items.len() { ReaderStatus::Finished } else { ReaderStatus::MoreAvailable })
    }

    fn snapshot_splits(&self) -> Vec<usize> {
        self.position.into_iter().collect()
    }
}
