"""S3 scenarios through `ozfs serve --backend <Ozone S3 gateway>` on existing Ozone buckets.

Driven by tests/e2e/ozone.rs. Environment: OZFS_S3_ENDPOINT (ozfs serve), OZONE_S3_ENDPOINT
(Ozone's own gateway, to check what ozfs wrote), OZFS_BUCKETS (comma-separated bucket names).
Prints "ok BUCKET" per bucket that passed every step; exits 1 on the first failure, with the step.
"""

import hashlib
import os
import sys
import uuid

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="ozfs-test",
        aws_secret_access_key="ozfs-test-secret",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      connect_timeout=5, read_timeout=120),
    )


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def scenario(s3, oz, bucket):
    p = f"s3-{uuid.uuid4().hex[:8]}/"
    body = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key=p + "a.bin", Body=body)
    got = s3.get_object(Bucket=bucket, Key=p + "a.bin")["Body"].read()
    check(got == body, "get after put")
    check(oz.get_object(Bucket=bucket, Key=p + "a.bin")["Body"].read() == body, "Ozone sees the put")
    h = s3.head_object(Bucket=bucket, Key=p + "a.bin")
    check(h["ContentLength"] == len(body), "head size")
    r = s3.get_object(Bucket=bucket, Key=p + "a.bin", Range="bytes=10-19")["Body"].read()
    check(r == body[10:20], "range get")
    s3.put_object(Bucket=bucket, Key=p + "dir/b.txt", Body=b"b")
    s3.put_object(Bucket=bucket, Key=p + "dir/sub/c.txt", Body=b"c")
    ls = s3.list_objects_v2(Bucket=bucket, Prefix=p, Delimiter="/")
    keys = [o["Key"] for o in ls.get("Contents", [])]
    prefixes = [c["Prefix"] for c in ls.get("CommonPrefixes", [])]
    # FSO: the PUTs made a real directory `p`, which Ozone lists as a key of its own prefix
    check(keys in ([p + "a.bin"], [p, p + "a.bin"]), f"delimiter listing keys {keys}")
    check(prefixes == [p + "dir/"], f"delimiter listing prefixes {prefixes}")
    s3.copy_object(Bucket=bucket, Key=p + "copy.bin", CopySource={"Bucket": bucket, "Key": p + "a.bin"})
    check(s3.get_object(Bucket=bucket, Key=p + "copy.bin")["Body"].read() == body, "copy")
    big = os.urandom(12 * 1024 * 1024 + 5)
    tc = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    import io
    s3.upload_fileobj(io.BytesIO(big), bucket, p + "big.bin", Config=tc)
    hb = s3.head_object(Bucket=bucket, Key=p + "big.bin")
    check(hb["ETag"].strip('"').endswith("-3"), f"multipart ETag {hb['ETag']}")
    got = oz.get_object(Bucket=bucket, Key=p + "big.bin")["Body"].read()
    check(hashlib.md5(got).digest() == hashlib.md5(big).digest(), "multipart content through Ozone")
    s3.delete_object(Bucket=bucket, Key=p + "copy.bin")
    try:
        s3.head_object(Bucket=bucket, Key=p + "copy.bin")
        check(False, "deleted key still there")
    except ClientError as e:
        check(e.response["Error"]["Code"] in ("404", "NoSuchKey"), f"head after delete: {e}")
    all_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=p).get("Contents", [])]
    files = [k for k in all_keys if not k.endswith("/")]
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in files]})
    check(not res.get("Errors"), f"delete_objects errors {res.get('Errors')}")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=p).get("Contents", [])]
    # FSO buckets keep the directories that PUTs created: only directory entries may remain
    check(all(k.endswith("/") for k in left), f"files left after delete_objects: {left}")
    for k in sorted(left, key=lambda k: -k.count("/")):
        s3.delete_object(Bucket=bucket, Key=k)


def main():
    s3 = client(os.environ["OZFS_S3_ENDPOINT"])
    oz = client(os.environ["OZONE_S3_ENDPOINT"])
    for bucket in os.environ["OZFS_BUCKETS"].split(","):
        try:
            scenario(s3, oz, bucket)
        except Exception as e:  # noqa: BLE001 - name the bucket and step
            print(f"FAIL {bucket}: {e!r}", flush=True)
            sys.exit(1)
        print(f"ok {bucket}", flush=True)


if __name__ == "__main__":
    main()
