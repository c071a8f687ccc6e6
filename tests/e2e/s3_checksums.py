"""Flexible checksums (x-amz-checksum-crc32/-crc32c/-crc64nvme/-sha1/-sha256): verified when
sent as a header or in an aws-chunked trailer, stored, and returned with
`x-amz-checksum-mode: ENABLED`; a wrong value is BadDigest and commits nothing."""

import base64
import hashlib
import socket
import time
import zlib
from urllib.parse import urlparse

from s3_common import *  # noqa: F401,F403

c = client()
B = new_bucket(c, "ck")
BODY = b"checksummed body"


def crc64nvme(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C9329AC4BC9B5 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc64nvme(b"123456789") == 0xAE8B14860A799888
assert crc32c(b"123456789") == 0xE3069283
CRC32 = base64.b64encode(zlib.crc32(BODY).to_bytes(4, "big")).decode()
# Ozone has no flexible checksums: they are neither verified nor stored nor returned (a wrong one
# is accepted). Through ozfs the PUT/UploadPart answer echoes the value sent, unverified.
NO_CK = differs("no-flexible-checksums")
ECHO = NO_CK and differs("checksum-echoed-unverified")


def echoed(got, sent, what):
    """The checksum in a PUT/UploadPart answer: `sent` as AWS does (or ozfs → Ozone echoes it),
    none from Ozone itself."""
    eq(got, sent if (ECHO or not NO_CK) else None, what)


def accepted_anyway(key, fn, *a, **kw):
    """Without checksums a wrong one is not noticed: the PUT succeeds and the object is there."""
    fn(*a, **kw)
    eq(c.get_object(Bucket=B, Key=key)["Body"].read(), BODY, f"{key} stored")


@case
def sdk_computed_checksums_round_trip():
    # botocore computes CRC32, SHA1 and SHA256 itself (CRC32C needs awscrt: sent explicitly below).
    for alg in ["CRC32", "SHA1", "SHA256"]:
        k = f"sdk/{alg}"
        r = c.put_object(Bucket=B, Key=k, Body=BODY, ChecksumAlgorithm=alg)
        sent = r.get("Checksum" + alg)
        if NO_CK:
            eq(sent is not None, ECHO, f"{alg} in the PUT answer")
            g = c.get_object(Bucket=B, Key=k, ChecksumMode="ENABLED")
            eq((g.get("Checksum" + alg), g["Body"].read()), (None, BODY), f"{alg} GET")
            eq(c.head_object(Bucket=B, Key=k, ChecksumMode="ENABLED").get("Checksum" + alg), None, f"{alg} HEAD")
            continue
        assert sent, f"{alg}: the PUT response lacks x-amz-checksum-{alg.lower()}: {r['ResponseMetadata']}"
        g = c.get_object(Bucket=B, Key=k, ChecksumMode="ENABLED")
        eq(g.get("Checksum" + alg), sent, f"{alg} returned by GET")
        eq(g["Body"].read(), BODY, alg)
        eq(c.head_object(Bucket=B, Key=k, ChecksumMode="ENABLED").get("Checksum" + alg), sent, f"{alg} HEAD")
    if NO_CK:
        return
    eq(c.head_object(Bucket=B, Key="sdk/CRC32", ChecksumMode="ENABLED")["ChecksumCRC32"], CRC32, "crc32 value")
    sha = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    eq(c.head_object(Bucket=B, Key="sdk/SHA256", ChecksumMode="ENABLED")["ChecksumSHA256"], sha, "sha256 value")


@case
def crc32c_header():
    v = base64.b64encode(crc32c(BODY).to_bytes(4, "big")).decode()
    r = c.put_object(Bucket=B, Key="crc32c", Body=BODY, ChecksumCRC32C=v)
    echoed(r.get("ChecksumCRC32C"), v, "echoed")
    eq(c.get_object(Bucket=B, Key="crc32c", ChecksumMode="ENABLED").get("ChecksumCRC32C"), None if NO_CK else v,
       "crc32c")
    bad = base64.b64encode((crc32c(BODY) ^ 1).to_bytes(4, "big")).decode()
    if NO_CK:
        accepted_anyway("crc32c-bad", c.put_object, Bucket=B, Key="crc32c-bad", Body=BODY, ChecksumCRC32C=bad)
        return
    eq(err(c.put_object, Bucket=B, Key="crc32c-bad", Body=BODY, ChecksumCRC32C=bad), ("BadDigest", 400), "bad")


@case
def crc64nvme_header():
    v = base64.b64encode(crc64nvme(BODY).to_bytes(8, "big")).decode()
    c.put_object(Bucket=B, Key="crc64", Body=BODY, ChecksumCRC64NVME=v)
    eq(c.head_object(Bucket=B, Key="crc64", ChecksumMode="ENABLED").get("ChecksumCRC64NVME"), None if NO_CK else v,
       "crc64nvme")
    bad = base64.b64encode((crc64nvme(BODY) ^ 1).to_bytes(8, "big")).decode()
    if NO_CK:
        accepted_anyway("crc64-bad", c.put_object, Bucket=B, Key="crc64-bad", Body=BODY, ChecksumCRC64NVME=bad)
        return
    eq(err(c.put_object, Bucket=B, Key="crc64-bad", Body=BODY, ChecksumCRC64NVME=bad), ("BadDigest", 400), "bad")
    expect("404", c.head_object, Bucket=B, Key="crc64-bad")


@case
def wrong_header_checksum_commits_nothing():
    bad = base64.b64encode((zlib.crc32(BODY) ^ 1).to_bytes(4, "big")).decode()
    if NO_CK:
        accepted_anyway("bad", c.put_object, Bucket=B, Key="bad", Body=BODY, ChecksumCRC32=bad)
        return
    eq(err(c.put_object, Bucket=B, Key="bad", Body=BODY, ChecksumCRC32=bad), ("BadDigest", 400), "wrong crc32")
    expect("404", c.head_object, Bucket=B, Key="bad")


def trailer_put(key, trailer_value):
    """An aws-chunked body with unsigned chunks and a checksum trailer, as the aws CLI v2 and
    boto3 send over TLS (security off: the signature is not checked)."""
    u = urlparse(ENDPOINT)
    body = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(BODY), BODY, trailer_value.encode())
    now = time.gmtime()
    head = (f"PUT /{B}/{key} HTTP/1.1\r\nHost: {u.netloc}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=alice/{time.strftime('%Y%m%d', now)}/us-east-1/s3/aws4_request, "
            "SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer, Signature=" + "0" * 64 + "\r\n"
            f"x-amz-date: {time.strftime('%Y%m%dT%H%M%SZ', now)}\r\n"
            "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
            "Content-Encoding: aws-chunked\r\nx-amz-trailer: x-amz-checksum-crc32\r\n"
            f"x-amz-decoded-content-length: {len(BODY)}\r\nContent-Length: {len(body)}\r\n\r\n")
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(head.encode() + body)
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    return int(resp.split(b" ", 2)[1]), resp


@case
def trailer_checksum_verified():
    st, resp = trailer_put("trailer-good", CRC32)
    eq(st, 200, f"good trailer: {resp[:300]!r}")
    eq(c.head_object(Bucket=B, Key="trailer-good", ChecksumMode="ENABLED").get("ChecksumCRC32"),
       None if NO_CK else CRC32, "stored")
    eq(c.get_object(Bucket=B, Key="trailer-good")["Body"].read(), BODY, "decoded body")
    bad = base64.b64encode((zlib.crc32(BODY) ^ 1).to_bytes(4, "big")).decode()
    if NO_CK:
        accepted_anyway("trailer-bad", trailer_put, "trailer-bad", bad)
        return
    st, resp = trailer_put("trailer-bad", bad)
    eq(st, 400, f"bad trailer: {resp[:300]!r}")
    expect("404", c.head_object, Bucket=B, Key="trailer-bad")


@case
def multipart_part_checksums():
    up = c.create_multipart_upload(Bucket=B, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    r = c.upload_part(Bucket=B, Key="mp", UploadId=up, PartNumber=1, Body=BODY, ChecksumAlgorithm="CRC32")
    echoed(r.get("ChecksumCRC32"), CRC32, "part checksum echoed")
    parts = c.list_parts(Bucket=B, Key="mp", UploadId=up)["Parts"]
    eq(parts[0].get("ChecksumCRC32"), None if NO_CK else CRC32, "ListParts checksum")
    c.complete_multipart_upload(Bucket=B, Key="mp", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": CRC32}]})
    eq(c.get_object(Bucket=B, Key="mp")["Body"].read(), BODY, "body")


if __name__ == "__main__":
    run()
