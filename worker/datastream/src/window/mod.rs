//! Windows: assigners (tumbling, sliding, session, global), the aligned-window operator that shares
//! panes between sliding windows, the merging session-window operator, and the window functions
//! they apply (reduce, aggregate, process).
//!
//! Semantics follow Flink's default `EventTimeTrigger`: a window fires when the watermark reaches
//! its last timestamp (`end - 1`); an element arriving for a window that already fired, within the
//! allowed lateness, fires it again with everything it holds; a window's state is dropped when the
//! watermark passes `end - 1 + lateness`; an element whose every window is past that goes to the
//! late-data side output (or is dropped without one).

pub mod aligned;
pub mod assigner;
pub mod body;
pub mod session;
