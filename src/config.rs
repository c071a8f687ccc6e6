//! Settings shared by every command: the data directory (`--data`, else `$OZFS_DATA`, else a
//! per-user default), the S3 volume name and the cache budget.
