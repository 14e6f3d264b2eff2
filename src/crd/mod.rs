//! The custom resources: `CrossAccountRole`, `RamUser` and `StsGrant`.
