//! Time: processing-time clocks, watermark strategies and keyed timers.

pub mod clock;
pub mod timers;
pub mod watermark;
