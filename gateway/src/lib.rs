//! ozfs-gateway: the S3 endpoint. Behaves like Apache Ozone's S3 gateway (volumes, the `s3v`
//! volume, bucket links, secrets), with the deliberate deviations listed in docs/SEMANTICS.md.

pub mod admin;
