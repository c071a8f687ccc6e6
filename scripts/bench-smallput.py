#!/usr/bin/env python3
"""Small-PUT load for syscall counting: N PUTs of SIZE bytes by CONC clients (default 1: sequential).

    bench-smallput.py ENDPOINT BUCKET N [SIZE [CONC]]   (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)

Run it while `strace -c -f -p <ozfs serve pid>` counts the server's syscalls, then divide by N.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def main():
    endpoint, bucket, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
    conc = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    body = os.urandom(size)
    clients = [client(endpoint) for _ in range(conc)]

    def run(w):
        s3 = clients[w]
        for i in range(w, n, conc):
            s3.put_object(Bucket=bucket, Key=f"small/{i:06d}", Body=body)

    t = time.monotonic()
    with ThreadPoolExecutor(conc) as ex:
        for f in [ex.submit(run, w) for w in range(conc)]:
            f.result()
    dt = time.monotonic() - t
    print(f"{n} PUTs of {size} B by {conc} clients in {dt:.2f} s: {n / dt:.0f} ops/s")


if __name__ == "__main__":
    main()
