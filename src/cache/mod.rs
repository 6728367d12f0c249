//! What promote remembers between runs so that it need not read or render everything again.

pub mod memo;
pub mod state;
