//! The domain: `promote.yaml`, the metadata and audit log of an environment, gates, versions,
//! image references, preview slugs and where the repository is hosted. Plain data, parsed strictly.

pub mod audit;
pub mod change;
pub mod config;
pub mod gates;
pub mod hosting;
pub mod imageref;
pub mod metadata;
pub mod slug;
pub mod version;
