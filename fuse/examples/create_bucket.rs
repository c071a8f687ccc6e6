//! Create a bucket in an embedded store's data directory (benchmark and test setup):
//! `create_bucket DATA_DIR BUCKET`. Succeeds if the bucket already exists.

use ozfs::store::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, bucket] = args.as_slice() else {
        eprintln!("usage: create_bucket DATA_DIR BUCKET");
        std::process::exit(2);
    };
    let store = match ozfs::LocalStore::open(std::path::Path::new(data), ozfs_fuse::backend::S3_VOLUME) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("create_bucket: {data}: {e}");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let path = ozfs::BucketPath::new(ozfs_fuse::backend::S3_VOLUME, bucket.as_str());
    match rt.block_on(store.create_bucket(&path, "bench")) {
        Ok(_) | Err(ozfs::Error::BucketAlreadyExists { .. }) => {}
        Err(e) => {
            eprintln!("create_bucket: {bucket}: {e}");
            std::process::exit(1);
        }
    }
}
