"""Shared helpers of the end-to-end S3 scripts.

The Rust harness (gateway/tests/e2e_clients.rs) starts an endpoint and passes:
  OZFS_S3_ENDPOINT   http://127.0.0.1:PORT
  OZFS_S3_SECURE     "1" when security is on
  OZFS_S3_USERS      "alice:secret,bob:secret" (security on: users known to the SecretStore)
  OZFS_S3_DOMAIN     a virtual-host domain the endpoint was configured with (optional)
  OZFS_S3_TARGET     whose behaviour the cases expect: "aws" (default; ozfs's own store behaves
                     like AWS), "ozone" (Apache Ozone's S3 gateway) or "ozfs-ozone" (`ozfs serve
                     --backend <Ozone>`). For "ozone"/"ozfs-ozone", where the target differs from AWS
                     in a way docs/compat.md documents, the case asserts the documented behaviour
                     instead (see DIFFERENCES and differs()).

Every script registers test functions with @case and calls run(); a failing case prints the
reason and the script exits 1, so `cargo test` fails with the name of the broken behaviour.
"""

import hashlib
import os
import socket
import sys
import time
import traceback
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("OZFS_S3_ENDPOINT", "http://127.0.0.1:9878")
SECURE = os.environ.get("OZFS_S3_SECURE", "0") == "1"
DOMAIN = os.environ.get("OZFS_S3_DOMAIN", "")
USERS = dict(
    u.split(":", 1) for u in os.environ.get("OZFS_S3_USERS", "").split(",") if ":" in u
)

TARGET = os.environ.get("OZFS_S3_TARGET", "aws")

# Every documented difference with AWS (a row of docs/compat.md), and the targets that have it.
# A case asks differs(NAME) at the point where the target departs from AWS and then asserts the
# target's documented behaviour. run() prints the differences asserted; tests/e2e/ozone.rs checks
# that every difference of the target was asserted by some script (none silently skipped).
OZ, OZFS_OZ = "ozone", "ozfs-ozone"
DIFFERENCES = {
    "create-own-bucket-already-exists": (OZ, OZFS_OZ),
    "delete-bucket-with-upload-refused": (OZ,),
    "list-buckets-not-paged": (OZ,),
    "bucket-config-ignored": (OZ,),
    "bucket-config-not-implemented-through-ozfs": (OZFS_OZ,),
    "anonymous-requests-refused": (OZ,),
    "object-acl-not-read-back": (OZFS_OZ,),
    "part-content-range-missing": (OZ,),
    "plain-part-beyond-one-answered": (OZ,),
    "sparse-part-head-refused-through-ozfs": (OZFS_OZ,),
    "malformed-sha256-reported-as-mismatch": (OZ,),
    "get-bucket-location-not-implemented": (OZ,),
    "acl-owner-root": (OZFS_OZ,),
    "object-owner-is-backend-user": (OZFS_OZ,),
    "acl-grantee-ids-quoted": (OZ,),
    "bucket-acl-not-read-back": (OZFS_OZ,),
    "canned-bucket-acl-refused": (OZ,),
    "expected-owner-code-with-space": (OZ,),
    "expected-owner-refused-through-ozfs": (OZFS_OZ,),
    "unimplemented-subresources-answered": (OZ,),
    "versions-ignored": (OZ,),
    "content-type-not-kept": (OZ, OZFS_OZ),
    "standard-headers-not-kept": (OZ, OZFS_OZ),
    "get-omits-user-metadata": (OZ,),
    "range-at-end-not-416": (OZ,),
    "delete-if-match-ignored": (OZ,),
    "delete-objects-limit-not-checked": (OZ,),
    "list-owner-always": (OZ,),
    "presigned-refused": (OZ,),
    "copy-loses-content-type": (OZ, OZFS_OZ),
    "self-copy-refused": (OZ,),
    "object-tags-not-read-back": (OZFS_OZ,),
    "multipart-etag-from-hex": (OZ, OZFS_OZ),
    "parts-count-missing": (OZFS_OZ,),
    "head-part-number-ignored": (OZ, OZFS_OZ),
    "get-part-beyond-count-empty": (OZ, OZFS_OZ),
    "complete-without-parts-invalid-request": (OZ,),
    "subset-etag-names-last-part": (OZ, OZFS_OZ),
    "upload-part-copy-etag-of-source": (OZ, OZFS_OZ),
    "upload-part-copy-range-not-checked": (OZ,),
    "storage-class-reduced-redundancy": (OZ, OZFS_OZ),
    "no-flexible-checksums": (OZ, OZFS_OZ),
    "checksum-echoed-unverified": (OZFS_OZ,),
}
_asserted = set()


def differs(name):
    """True when the target has the documented difference `name`: the caller then asserts the
    target's documented behaviour instead of AWS's."""
    assert name in DIFFERENCES, f"undocumented difference {name}"
    if TARGET in DIFFERENCES[name]:
        _asserted.add(name)
        return True
    return False


def differences_of(target):
    return sorted(n for n, ts in DIFFERENCES.items() if target in ts)


_cases = []


def case(fn):
    _cases.append(fn)
    return fn


def run():
    failed = []
    only = sys.argv[1:]
    for fn in _cases:
        if only and fn.__name__ not in only:
            continue
        t0 = time.time()
        try:
            fn()
            print(f"ok   {fn.__name__} ({time.time() - t0:.2f}s)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed.append(fn.__name__)
            print(f"FAIL {fn.__name__}", flush=True)
            traceback.print_exc()
    print(f"differences asserted: {' '.join(sorted(_asserted))}", flush=True)
    if failed:
        print(f"{len(failed)} failed: {' '.join(failed)}", flush=True)
        sys.exit(1)
    print(f"all {len(_cases) if not only else len(only)} passed", flush=True)


def client(access_key="alice", secret="anysecret", region="us-east-1", style="path",
           endpoint=None, **cfg):
    """A boto3 S3 client against the endpoint."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint or ENDPOINT,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(
            s3={"addressing_style": style},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            **cfg,
        ),
    )


def user_client(name, **kw):
    """A client for a user known to the SecretStore (security on) or any key (off)."""
    return client(access_key=name, secret=USERS.get(name, "anysecret"), **kw)


def bucket_name(tag="b"):
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def new_bucket(c, tag="b"):
    b = bucket_name(tag)
    c.create_bucket(Bucket=b)
    return b


def err(fn, *a, **kw):
    """Call fn expecting an S3 error; return (code, http status)."""
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{getattr(fn, '__name__', fn)} succeeded, an error was expected")


def expect(code, fn, *a, **kw):
    got = err(fn, *a, **kw)
    assert got[0] == code or str(got[1]) == str(code), f"expected {code}, got {got}"
    return got


def eq(a, b, what=""):
    assert a == b, f"{what}: {a!r} != {b!r}"


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def mpu_etag(parts):
    d = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(d).hexdigest()}-{len(parts)}"'


def mpu_etag_hex(parts):
    """Ozone's ETag of a completed multipart upload: the MD5 of the parts' hex MD5 strings."""
    d = "".join(hashlib.md5(p).hexdigest() for p in parts).encode()
    return f'"{hashlib.md5(d).hexdigest()}-{len(parts)}"'


def mpu_etag_expected(parts):
    """The ETag the target gives a multipart upload of `parts`."""
    return mpu_etag_hex(parts) if differs("multipart-etag-from-hex") else mpu_etag(parts)


def resolve_to_loopback(domain):
    """Make every `*.domain` (and the domain) resolve to 127.0.0.1 inside this process, so
    virtual-host URLs work without DNS."""
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if isinstance(host, str) and (host == domain or host.endswith("." + domain)):
            host = "127.0.0.1"
        return real(host, *a, **kw)

    socket.getaddrinfo = fake


__all__ = [
    "ENDPOINT", "SECURE", "DOMAIN", "USERS", "case", "run", "client", "user_client",
    "bucket_name", "new_bucket", "err", "expect", "eq", "md5hex", "mpu_etag", "mpu_etag_hex", "mpu_etag_expected",
    "resolve_to_loopback", "ClientError", "botocore", "TARGET", "differs",
]
