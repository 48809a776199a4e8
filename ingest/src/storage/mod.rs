//! Storage of the lake: one object store, a root prefix inside it, and the layout of every key we write.
//! All storage goes through `Arc<dyn ObjectStore>` built from one URL.

pub mod layout;
#[cfg(feature = "lake")]
pub mod location;
#[cfg(feature = "lake")]
pub mod problem;

pub use layout::{BatchId, Layout, TableKind};
#[cfg(feature = "lake")]
pub use location::{Lake, StoreOptions, StoreRetry};
#[cfg(feature = "lake")]
pub use problem::StoreProblem;
