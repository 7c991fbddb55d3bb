//! The engine's base layer, shared by every other crate: records and the data they carry
//! ([`record`]), the engine codec ([`codec`]), key groups ([`keygroup`]), batches and the in-band
//! control events between them ([`element`]), clocks ([`clock`]), the user-function traits that
//! state needs ([`functions`]) and the error type ([`error`]).

pub mod clock;
pub mod codec;
pub mod element;
pub mod error;
pub mod functions;
pub mod keygroup;
pub mod record;

pub use error::{Error, Result};
