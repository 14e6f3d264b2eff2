//! Alibaba Cloud client: request signing, RAM / IMS / STS operations, errors,
//! retries, rate limits, credential providers and policy documents.
//!
//! Nothing in here knows about Kubernetes.

pub mod signature;
