//! What a window computes: an accumulator per window (or per pane/slice) that elements are added
//! to and that can be merged, and how results are emitted from it. One trait covers `reduce`,
//! `aggregate`, `aggregate` with a window function, and `process` over all elements.

use crate::ProcessWindowFunction;
use crate::window::assigner::TimeWindow;
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::Data;
use std::marker::PhantomData;
use std::sync::Arc;

/// A window computation over elements `T` of key `K`.
pub trait WindowBody<K, T>: Clone + Send + Sync + 'static {
    /// Per-window (or per-pane) accumulator.
    type Acc: Data;
    /// Result type.
    type Out: Data;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds an element.
    fn add(&self, acc: &mut Self::Acc, value: T);
    /// Merges `other` into `acc` (panes into a window, sessions into one).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// Emits the results of a window.
    fn emit(&self, key: &K, window: &TimeWindow, acc: &Self::Acc, out: &mut Vec<Self::Out>);
}

/// `reduce(f)`.
pub struct ReduceBody<T, F> {
    pub(crate) f: F,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<T, F: Clone> Clone for ReduceBody<T, F> {
    fn clone(&self) -> Self {
        ReduceBody { f: self.f.clone(), _t: PhantomData }
    }
}

impl<K, T: Data, F: Fn(T, T) -> T + Clone + Send + Sync + 'static> WindowBody<K, T> for ReduceBody<T, F> {
    type Acc = Option<T>;
    type Out = T;
    fn create(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, value: T) {
        *acc = Some(match acc.take() {
            Some(a) => (self.f)(a, value),
            None => value,
        });
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(o) = other {
            *acc = Some(match acc.take() {
                Some(a) => (self.f)(a, o),
                None => o,
            });
        }
    }
    fn emit(&self, _key: &K, _window: &TimeWindow, acc: &Option<T>, out: &mut Vec<T>) {
        out.extend(acc.iter().cloned());
    }
}

/// `aggregate(f)`, optionally followed by a window function that sees key and window.
pub struct AggregateBody<T, F, W> {
    pub(crate) f: F,
    pub(crate) window_fn: W,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<T, F: Clone, W: Clone> Clone for AggregateBody<T, F, W> {
    fn clone(&self) -> Self {
        AggregateBody { f: self.f.clone(), window_fn: self.window_fn.clone(), _t: PhantomData }
    }
}

/// A window function applied to an aggregate's result.
pub type WindowFn<K, R, O> = Arc<dyn Fn(&K, &TimeWindow, R) -> O + Send + Sync>;

impl<K: 'static, T: 'static, F: AggregateFunction<T>, O: Data> WindowBody<K, T>
    for AggregateBody<T, F, WindowFn<K, F::Out, O>>
{
    type Acc = F::Acc;
    type Out = O;
    fn create(&self) -> F::Acc {
        self.f.create_accumulator()
    }
    fn add(&self, acc: &mut F::Acc, value: T) {
        self.f.add(value, acc);
    }
    fn merge(&self, acc: &mut F::Acc, other: F::Acc) {
        self.f.merge(acc, other);
    }
    fn emit(&self, key: &K, window: &TimeWindow, acc: &F::Acc, out: &mut Vec<O>) {
        out.push((self.window_fn)(key, window, self.f.get_result(acc)));
    }
}

/// `process(f)`: keeps every element and hands them all to the function.
pub struct ProcessBody<T, P, O> {
    pub(crate) f: P,
    pub(crate) _t: PhantomData<fn(T) -> O>,
}

impl<T, P: Clone, O> Clone for ProcessBody<T, P, O> {
    fn clone(&self) -> Self {
        ProcessBody { f: self.f.clone(), _t: PhantomData }
    }
}

impl<K: 'static, T: Data, O: Data, P: ProcessWindowFunction<K, T, O>> WindowBody<K, T> for ProcessBody<T, P, O> {
    type Acc = Vec<T>;
    type Out = O;
    fn create(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<T>, value: T) {
        acc.push(value);
    }
    fn merge(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
    }
    fn emit(&self, key: &K, window: &TimeWindow, acc: &Vec<T>, out: &mut Vec<O>) {
        self.f.process(key, window, acc, out);
    }
}
