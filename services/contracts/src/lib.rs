//! What services say to each other, where every caller can depend on it without the service
//! behind it: the client traits other services call a service through, the types that cross
//! the wire, and the HTTP implementation of each trait (the in-process one lives in the service,
//! which implements the trait on its handle). A service crate re-exports what it owns from here,
//! so its own code and its tests keep their paths.
//!
//! The notification worker depends on these, not on identity and orders: it runs in a process
//! that serves neither (`pola serve --only notifications`) and reaches both over HTTP.

pub mod identity;
pub mod orders;
