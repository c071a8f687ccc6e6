//! A stand-alone `ozfs mount` for testing the FUSE package before (or without) the full `ozfs`
//! binary: `ozfs_mount mount [goofys flags] BUCKET[:PREFIX] MOUNTPOINT`, or the mount-helper
//! form `ozfs_mount BUCKET MOUNTPOINT -o OPTS`. It routes exactly like `ozfs` does, so the
//! background re-execution (`<exe> mount -f ...`) works.

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "mount") {
        args.remove(0);
    }
    std::process::exit(ozfs_fuse::run_mount_command(args));
}
