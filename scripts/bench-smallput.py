#!/usr/bin/env python3
"""Small-PUT load for syscall counting: N sequential PUTs of SIZE bytes (one client, one connection).

    bench-smallput.py ENDPOINT BUCKET N [SIZE]   (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)

Run it while `strace -c -f -p <ozfs serve pid>` counts the server's syscalls, then divide by N.
"""
import os
import sys
import time

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    body = os.urandom(size)
    t = time.monotonic()
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=f"small/{i:06d}", Body=body)
    dt = time.monotonic() - t
    print(f"{n} PUTs of {size} B in {dt:.2f} s: {n / dt:.0f} ops/s, {dt / n * 1000:.2f} ms/op")


if __name__ == "__main__":
    main()
