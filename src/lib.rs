//! ram-operator: Alibaba Cloud cross-account access (RAM roles, RAM users and
//! refreshed STS credentials) run declaratively from Kubernetes.
//!
//! - [`alicloud`] talks to RAM, IMS and STS and knows nothing of Kubernetes.
//! - [`crd`] holds the three custom resource types.
//! - [`emulator`] is the local RAM / IMS / STS stand-in used by tests and the demo.

pub mod alicloud;
pub mod controller;
pub mod crd;
pub mod emulator;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod server;
pub mod telemetry;
