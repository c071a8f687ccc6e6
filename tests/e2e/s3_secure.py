"""Security on: keys from the SecretStore only, signatures and clock checked, and one user cannot
touch another user's bucket unless the owner's ACL grants it."""

import datetime
import subprocess
import tempfile
import urllib.error
import urllib.request
from urllib.parse import urlparse

import botocore.auth

from s3_common import *  # noqa: F401,F403

alice = user_client("alice")
bob = user_client("bob")
A = new_bucket(alice, "alice")
alice.put_object(Bucket=A, Key="secret.txt", Body=b"alice's data")


def http_status(url, method="GET", data=None):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, method=method, data=data), timeout=5)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@case
def unknown_access_key_is_invalid_access_key_id():
    eq(err(client(access_key="nobody", secret="x").list_buckets), ("InvalidAccessKeyId", 403), "unknown key")


@case
def wrong_secret_is_signature_does_not_match():
    bad = client(access_key="alice", secret="not-the-secret")
    eq(err(bad.list_buckets), ("SignatureDoesNotMatch", 403), "list")
    eq(err(bad.put_object, Bucket=A, Key="x", Body=b"x"), ("SignatureDoesNotMatch", 403), "put")
    expect("404", alice.head_object, Bucket=A, Key="x")


@case
def clock_skew_is_request_time_too_skewed():
    real = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real() - datetime.timedelta(hours=1)
    try:
        eq(err(alice.list_buckets), ("RequestTimeTooSkewed", 403), "skewed")
    finally:
        botocore.auth.get_current_datetime = real
    alice.list_buckets()


@case
def owner_has_full_access():
    eq(alice.get_object(Bucket=A, Key="secret.txt")["Body"].read(), b"alice's data", "get")
    names = [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert A in names
    eq(alice.get_bucket_acl(Bucket=A)["Owner"]["DisplayName"], "alice", "owner")


@case
def other_user_is_denied():
    assert A not in [b["Name"] for b in bob.list_buckets()["Buckets"]], "bob sees alice's bucket"
    eq(err(bob.list_objects_v2, Bucket=A), ("AccessDenied", 403), "list")
    eq(err(bob.get_object, Bucket=A, Key="secret.txt"), ("AccessDenied", 403), "get")
    eq(err(bob.put_object, Bucket=A, Key="bob.txt", Body=b"x"), ("AccessDenied", 403), "put")
    eq(err(bob.delete_object, Bucket=A, Key="secret.txt"), ("AccessDenied", 403), "delete")
    eq(err(bob.delete_objects, Bucket=A, Delete={"Objects": [{"Key": "secret.txt"}]}),
       ("AccessDenied", 403), "delete objects")
    eq(err(bob.copy_object, Bucket=A, Key="c", CopySource=f"{A}/secret.txt"), ("AccessDenied", 403), "copy")
    eq(err(bob.get_bucket_acl, Bucket=A), ("AccessDenied", 403), "acl")
    eq(err(bob.put_bucket_acl, Bucket=A, ACL="public-read"), ("AccessDenied", 403), "put acl")
    eq(err(bob.delete_bucket, Bucket=A), ("AccessDenied", 403), "delete bucket")
    eq(err(bob.create_multipart_upload, Bucket=A, Key="m"), ("AccessDenied", 403), "mpu")
    expect("403", bob.head_bucket, Bucket=A)
    B2 = new_bucket(bob, "bob")
    eq(err(bob.copy_object, Bucket=B2, Key="stolen", CopySource=f"{A}/secret.txt"),
       ("AccessDenied", 403), "copy out of alice's bucket")
    eq(alice.get_object(Bucket=A, Key="secret.txt")["Body"].read(), b"alice's data", "intact")


@case
def acl_grants_decide():
    b = new_bucket(alice, "shared")
    alice.put_object(Bucket=b, Key="doc", Body=b"shared doc")
    alice.put_bucket_acl(Bucket=b, GrantRead='id="bob"')
    eq(bob.get_object(Bucket=b, Key="doc")["Body"].read(), b"shared doc", "granted read")
    eq([o["Key"] for o in bob.list_objects_v2(Bucket=b)["Contents"]], ["doc"], "granted list")
    eq(err(bob.put_object, Bucket=b, Key="w", Body=b"x"), ("AccessDenied", 403), "no write grant")
    alice.put_bucket_acl(Bucket=b, GrantRead='id="bob"', GrantWrite='id="bob"')
    bob.put_object(Bucket=b, Key="w", Body=b"x")
    eq(err(bob.delete_bucket, Bucket=b), ("AccessDenied", 403), "only the owner deletes the bucket")


@case
def bucket_configuration_is_the_owners_alone():
    # Tags and lifecycle rules are bucket configuration: as in S3, an ACL grant (even
    # FULL_CONTROL) does not give them to another user; GetObjectAttributes follows READ.
    b = new_bucket(alice, "conf")
    alice.put_object(Bucket=b, Key="k", Body=b"x")
    alice.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "o", "Value": "a"}]})
    rules = [{"ID": "r", "Filter": {"Prefix": "x/"}, "Status": "Enabled", "Expiration": {"Days": 1}}]
    alice.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules})
    attrs = {"Key": "k", "ObjectAttributes": ["ETag"]}
    eq(err(bob.get_object_attributes, Bucket=b, **attrs), ("AccessDenied", 403), "attributes, no grant")
    alice.put_bucket_acl(Bucket=b, GrantFullControl='id="bob"')
    eq(bob.get_object_attributes(Bucket=b, **attrs)["ETag"], md5hex(b"x"), "attributes with a grant")
    for op, kw in [
        (bob.get_bucket_tagging, {}),
        (bob.put_bucket_tagging, {"Tagging": {"TagSet": [{"Key": "o", "Value": "bob"}]}}),
        (bob.delete_bucket_tagging, {}),
        (bob.get_bucket_lifecycle_configuration, {}),
        (bob.put_bucket_lifecycle_configuration, {"LifecycleConfiguration": {"Rules": rules}}),
        (bob.delete_bucket_lifecycle, {}),
    ]:
        eq(err(op, Bucket=b, **kw), ("AccessDenied", 403), op.__name__)
    eq(alice.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "o", "Value": "a"}], "tags intact")
    eq(len(alice.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]), 1, "rules intact")
    eq(err(client(access_key="nobody-anon", secret="x").get_bucket_tagging, Bucket=b)[1], 403, "unknown key")


@case
def anonymous_requests_need_public_buckets():
    st, body = http_status(f"{ENDPOINT}/{A}/secret.txt")
    eq(st, 403, "anonymous get on private bucket")
    st, body = http_status(f"{ENDPOINT}/{A}?browser=true")
    eq(st, 403, "browser page on private bucket")
    assert b"<html" in body and b"public-read" in body, body[:200]
    st, _ = http_status(f"{ENDPOINT}/")
    eq(st, 403, "anonymous list buckets")
    b = new_bucket(alice, "public")
    alice.put_object(Bucket=b, Key="dir/readme.txt", Body=b"public!")
    alice.put_bucket_acl(Bucket=b, ACL="public-read")
    st, body = http_status(f"{ENDPOINT}/{b}/dir/readme.txt")
    eq((st, body), (200, b"public!"), "anonymous read of public bucket")
    st, body = http_status(f"{ENDPOINT}/{b}?browser=true")
    eq(st, 200, "browser on public bucket")
    assert b"dir/" in body
    st, _ = http_status(f"{ENDPOINT}/{b}/anon.txt", method="PUT", data=b"x")
    eq(st, 403, "anonymous write to public-read bucket")


@case
def presigned_urls_with_real_secrets():
    v4 = user_client("alice", signature_version="s3v4")
    for who, c in (("v4", v4), ("v2", alice)):  # boto3 presigns with SigV2 unless told s3v4
        url = c.generate_presigned_url("get_object", Params={"Bucket": A, "Key": "secret.txt"}, ExpiresIn=60)
        eq(http_status(url), (200, b"alice's data"), f"{who} presigned get")
        url = c.generate_presigned_url("put_object", Params={"Bucket": A, "Key": "via-presign"}, ExpiresIn=60)
        # SigV2 signs the Content-Type; send the (empty) one boto3 signed.
        req = urllib.request.Request(url, method="PUT", data=b"presigned put " + who.encode(),
                                     headers={"Content-Type": ""})
        eq(urllib.request.urlopen(req, timeout=5).status, 200, f"{who} presigned put")
        eq(alice.get_object(Bucket=A, Key="via-presign")["Body"].read(), b"presigned put " + who.encode(), who)
    for cfg in ({"signature_version": "s3v4"}, {}):
        forged = client(access_key="alice", secret="wrong", **cfg).generate_presigned_url(
            "get_object", Params={"Bucket": A, "Key": "secret.txt"}, ExpiresIn=60)
        st, body = http_status(forged)
        eq(st, 403, f"forged presigned {cfg}")
        assert b"SignatureDoesNotMatch" in body
    expired = v4.generate_presigned_url("get_object", Params={"Bucket": A, "Key": "secret.txt"}, ExpiresIn=1)
    import time
    time.sleep(2.1)  # not synchronisation: letting the 1 s expiry pass is what is tested
    st, body = http_status(expired)
    eq(st, 403, "expired")
    assert b"AccessDenied" in body, body


@case
def sigv2_with_real_secrets():
    tmp = tempfile.mkdtemp()
    hostport = urlparse(ENDPOINT).netloc

    def run(secret, *args):
        cfg = f"{tmp}/cfg-{secret}"
        with open(cfg, "w") as f:
            f.write(f"[default]\naccess_key = alice\nsecret_key = {secret}\nhost_base = {hostport}\n"
                    f"host_bucket = {hostport}\nuse_https = False\nsignature_v2 = True\n")
        return subprocess.run(["s3cmd", "-c", cfg, *args], capture_output=True, text=True, timeout=60)

    p = run(USERS["alice"], "ls", f"s3://{A}")
    assert p.returncode == 0 and "secret.txt" in p.stdout, p.stdout + p.stderr
    p = run("wrong-secret", "ls", f"s3://{A}")
    assert p.returncode != 0 and ("SignatureDoesNotMatch" in p.stderr or "403" in p.stderr), p.stderr


if __name__ == "__main__":
    run()
