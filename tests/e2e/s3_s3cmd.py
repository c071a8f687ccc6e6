"""s3cmd (path style; SigV4, and SigV2 as goofys falls back to) against the endpoint."""

import os
import subprocess
import tempfile
from urllib.parse import urlparse

from s3_common import *  # noqa: F401,F403

TMP = tempfile.mkdtemp(prefix="ozfs-s3cmd-")
HOSTPORT = urlparse(ENDPOINT).netloc


def config(v2):
    path = f"{TMP}/s3cfg-{'v2' if v2 else 'v4'}"
    with open(path, "w") as f:
        f.write(f"""[default]
access_key = alice
secret_key = anysecret
host_base = {HOSTPORT}
host_bucket = {HOSTPORT}
use_https = False
signature_v2 = {v2}
bucket_location = us-east-1
multipart_chunk_size_mb = 5
check_ssl_certificate = False
""")
    return path


def s3cmd(*args, v2=False, check=True):
    p = subprocess.run(["s3cmd", "-c", config(v2), "--no-progress", *args], capture_output=True,
                       text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"s3cmd {' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p.stdout


def roundtrip(v2):
    b = bucket_name("s3cmd2" if v2 else "s3cmd4")
    s3cmd("mb", f"s3://{b}", v2=v2)
    data = os.urandom(12 * 1024 * 1024 + 7)  # multipart with 5 MiB chunks
    with open(f"{TMP}/up.bin", "wb") as f:
        f.write(data)
    with open(f"{TMP}/small.txt", "wb") as f:
        f.write(b"small file\n")
    s3cmd("put", f"{TMP}/up.bin", f"s3://{b}/dir/up.bin", v2=v2)
    s3cmd("put", f"{TMP}/small.txt", f"s3://{b}/small.txt", v2=v2)
    ls = s3cmd("ls", f"s3://{b}/", v2=v2)
    assert "DIR" in ls and "s3://%s/dir/" % b in ls and "small.txt" in ls, ls
    la = s3cmd("ls", "--recursive", f"s3://{b}", v2=v2)
    assert "dir/up.bin" in la, la
    s3cmd("get", "--force", f"s3://{b}/dir/up.bin", f"{TMP}/down.bin", v2=v2)
    assert open(f"{TMP}/down.bin", "rb").read() == data
    info = s3cmd("info", f"s3://{b}", v2=v2)
    assert "Location" in info, info
    info = s3cmd("info", f"s3://{b}/small.txt", v2=v2)
    assert md5hex(b"small file\n") in info, info
    s3cmd("cp", f"s3://{b}/small.txt", f"s3://{b}/copy.txt", v2=v2)
    s3cmd("get", "--force", f"s3://{b}/copy.txt", f"{TMP}/copy.txt", v2=v2)
    assert open(f"{TMP}/copy.txt", "rb").read() == b"small file\n"
    s3cmd("del", "--recursive", "--force", f"s3://{b}", v2=v2)
    s3cmd("rb", f"s3://{b}", v2=v2)
    ls = s3cmd("ls", v2=v2)
    assert b not in ls, ls


@case
def s3cmd_sigv4_roundtrip():
    roundtrip(False)


@case
def s3cmd_sigv2_roundtrip():
    roundtrip(True)


if __name__ == "__main__":
    run()
