#!/usr/bin/env python3
"""File-system workloads of scripts/bench.sh that a shell loop would measure badly (a fork per
operation): each prints one tab-separated line "workload value unit". Every loop is bounded in
count and in time (--secs).

  bench-fsops.py ttfb FILE                       time to the first byte of FILE (open + read 1)
  bench-fsops.py rand4k FILE OPS --secs S        random 4 KiB preads, ops/s
  bench-fsops.py create DIR N --secs S           create+write 100 B+close of N files, seconds
  bench-fsops.py stat DIR N --secs S             stat of those N files, seconds
  bench-fsops.py delete DIR N --secs S           unlink of those N files, seconds
"""
import os
import random
import sys
import time


def emit(workload, value, unit):
    print(f"{workload}\t{value:.6g}\t{unit}", flush=True)


def bounded(n, secs):
    """Yield 0..n-1, stopping with an error once secs have passed."""
    t0 = time.monotonic()
    for i in range(n):
        if time.monotonic() - t0 > secs:
            sys.exit(f"bench-fsops: {i} of {n} done within the {secs} s bound")
        yield i


def main():
    args = sys.argv[1:]
    secs = 300.0
    if "--secs" in args:
        i = args.index("--secs")
        secs = float(args[i + 1])
        del args[i : i + 2]
    cmd = args[0]
    if cmd == "ttfb":
        t0 = time.monotonic()
        fd = os.open(args[1], os.O_RDONLY)
        b = os.read(fd, 1)
        el = time.monotonic() - t0
        os.close(fd)
        if len(b) != 1:
            sys.exit("bench-fsops: ttfb: empty file")
        emit("ttfb", el * 1000, "ms")
    elif cmd == "rand4k":
        path, ops = args[1], int(args[2])
        fd = os.open(path, os.O_RDONLY)
        size = os.fstat(fd).st_size
        blocks = size // 4096
        rng = random.Random(7)
        t0 = time.monotonic()
        done = 0
        for _ in bounded(ops, secs * 10):
            if time.monotonic() - t0 > secs:
                break
            b = os.pread(fd, 4096, rng.randrange(blocks) * 4096)
            if len(b) != 4096:
                sys.exit("bench-fsops: rand4k: short read")
            done += 1
        el = time.monotonic() - t0
        os.close(fd)
        emit("rand_read_4k", done / el, "ops/s")
    elif cmd in ("create", "stat", "delete"):
        d, n = args[1], int(args[2])
        os.makedirs(d, exist_ok=True)
        data = b"x" * 100
        t0 = time.monotonic()
        for i in bounded(n, secs):
            p = os.path.join(d, f"s{i:05d}")
            if cmd == "create":
                with open(p, "wb") as f:
                    f.write(data)
            elif cmd == "stat":
                if os.stat(p).st_size != 100:
                    sys.exit(f"bench-fsops: {p} has the wrong size")
            else:
                os.unlink(p)
        emit(f"small_{cmd}", time.monotonic() - t0, "s")
    else:
        sys.exit(f"bench-fsops: unknown command {cmd}")


if __name__ == "__main__":
    main()
