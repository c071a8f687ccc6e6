"""Bucket tagging, bucket lifecycle configuration, GetObjectAttributes, conditional writes
(PutObject, CompleteMultipartUpload, CopyObject) and GetBucketLocation through boto3, each case
asserting the AWS behaviour it names. Run by tests/e2e/s3_serve.rs (the real binary) and
gateway/tests/e2e_clients.rs (in-process)."""

import datetime
import hashlib
import base64

from s3_common import *  # noqa: F401,F403

c = client()
B = new_bucket(c, "cfg")
MIB = 1024 * 1024


def status(r):
    return r["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------- bucket tagging
@case
def bucket_tagging_round_trip():
    b = new_bucket(c)
    eq(err(c.get_bucket_tagging, Bucket=b), ("NoSuchTagSet", 404), "no tags yet")
    r = c.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "team", "Value": "x"},
                                                           {"Key": "env", "Value": ""}]})
    eq(status(r), 204, "put status (AWS: 204)")
    eq(c.get_bucket_tagging(Bucket=b)["TagSet"],
       [{"Key": "env", "Value": ""}, {"Key": "team", "Value": "x"}], "sorted by key")
    c.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
    eq(c.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "only", "Value": "1"}], "replaced")
    # Object tags are a different thing.
    c.put_object(Bucket=b, Key="k", Body=b"x")
    eq(c.get_object_tagging(Bucket=b, Key="k")["TagSet"], [], "object untagged")
    eq(status(c.delete_bucket_tagging(Bucket=b)), 204, "delete")
    eq(err(c.get_bucket_tagging, Bucket=b), ("NoSuchTagSet", 404), "gone")
    eq(status(c.delete_bucket_tagging(Bucket=b)), 204, "delete again")
    expect("NoSuchBucket", c.get_bucket_tagging, Bucket=bucket_name("missing"))
    c.delete_object(Bucket=b, Key="k")
    c.delete_bucket(Bucket=b)


@case
def bucket_tagging_validation():
    fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    c.put_bucket_tagging(Bucket=B, Tagging={"TagSet": fifty})
    eq(len(c.get_bucket_tagging(Bucket=B)["TagSet"]), 50, "50 tags allowed on a bucket")
    for bad in [
        fifty + [{"Key": "k50", "Value": "v"}],
        [{"Key": "aws:reserved", "Value": "v"}],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}],
        [{"Key": "star*", "Value": "v"}],
        [{"Key": "k", "Value": "50%"}],
    ]:
        eq(err(c.put_bucket_tagging, Bucket=B, Tagging={"TagSet": bad}), ("InvalidTag", 400), str(bad)[:40])
    eq(len(c.get_bucket_tagging(Bucket=B)["TagSet"]), 50, "refused PUTs changed nothing")
    odd = [{"Key": "a b+c-d=e.f_g:h/i@j", "Value": "\u00e9t\u00e9 \u4e2d"}]
    c.put_bucket_tagging(Bucket=B, Tagging={"TagSet": odd})
    eq(c.get_bucket_tagging(Bucket=B)["TagSet"], odd, "every allowed character")
    c.delete_bucket_tagging(Bucket=B)


# ---------------------------------------------------------------- lifecycle
RULES = [
    {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
    {"ID": "tmp-big", "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "t", "Value": "1"}],
                                         "ObjectSizeGreaterThan": 10}},
     "Status": "Disabled", "Expiration": {"Date": datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)}},
]


@case
def lifecycle_round_trip():
    b = new_bucket(c)
    eq(err(c.get_bucket_lifecycle_configuration, Bucket=b), ("NoSuchLifecycleConfiguration", 404), "none yet")
    c.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": RULES})
    got = c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    eq(len(got), 2, "rules")
    eq(got[0]["ID"], "logs", "id")
    eq(got[0]["Filter"], {"Prefix": "logs/"}, "filter")
    eq(got[0]["Expiration"], {"Days": 30}, "expiration")
    eq(got[0]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 2}, "abort")
    eq(got[1]["Status"], "Disabled", "status")
    eq(got[1]["Filter"]["And"]["Tags"], [{"Key": "t", "Value": "1"}], "and tags")
    eq(got[1]["Filter"]["And"]["ObjectSizeGreaterThan"], 10, "size")
    eq(got[1]["Expiration"]["Date"].date(), datetime.date(2031, 1, 1), "date")
    # A rule without an ID gets one; the legacy top-level Prefix is kept as such.
    c.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 1}}]})
    got = c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert got[0].get("ID"), got
    eq(got[0].get("Prefix"), "old/", "legacy prefix")
    eq(status(c.delete_bucket_lifecycle(Bucket=b)), 204, "delete")
    eq(err(c.get_bucket_lifecycle_configuration, Bucket=b), ("NoSuchLifecycleConfiguration", 404), "gone")
    eq(status(c.delete_bucket_lifecycle(Bucket=b)), 204, "delete again")
    expect("NoSuchBucket", c.get_bucket_lifecycle_configuration, Bucket=bucket_name("missing"))
    c.delete_bucket(Bucket=b)


@case
def lifecycle_validation():
    def put(rules):
        return err(c.put_bucket_lifecycle_configuration, Bucket=B, LifecycleConfiguration={"Rules": rules})

    ok = {"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}
    eq(put([dict(ok, Expiration={"Days": 0})]), ("InvalidArgument", 400), "Days 0")
    eq(put([dict(ok, Status="Sometimes")]), ("MalformedXML", 400), "Status")
    eq(put([ok, dict(ok)]), ("InvalidArgument", 400), "duplicate IDs")
    eq(put([dict(ok, ID="i" * 256)]), ("InvalidArgument", 400), "long ID")
    noon = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)
    eq(put([dict(ok, Expiration={"Date": noon})]), ("InvalidArgument", 400), "Date not midnight")
    eq(put([{k: v for k, v in ok.items() if k != "Expiration"}]), ("InvalidArgument", 400), "no action")
    eq(put([dict(ok, ID=f"r{i}") for i in range(1001)]), ("InvalidArgument", 400), "1001 rules")
    eq(put([dict(ok, Filter={"Tag": {"Key": "t", "Value": "v"}},
                 AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})]),
       ("InvalidArgument", 400), "abort with a tag filter")
    eq(err(c.get_bucket_lifecycle_configuration, Bucket=B), ("NoSuchLifecycleConfiguration", 404),
       "refused PUTs stored nothing")
    c.put_bucket_lifecycle_configuration(Bucket=B, LifecycleConfiguration={
        "Rules": [dict(ok, ID=f"r{i}") for i in range(1000)]})
    eq(len(c.get_bucket_lifecycle_configuration(Bucket=B)["Rules"]), 1000, "1000 rules")
    c.delete_bucket_lifecycle(Bucket=B)


# ---------------------------------------------------------------- GetObjectAttributes
@case
def object_attributes_plain_and_multipart():
    c.put_object(Bucket=B, Key="attr/plain", Body=b"hello", ChecksumAlgorithm="CRC32")
    r = c.get_object_attributes(Bucket=B, Key="attr/plain",
                                ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass", "ObjectParts"])
    eq(r["ETag"], md5hex(b"hello"), "unquoted etag")
    eq(r["ObjectSize"], 5, "size")
    eq(r["StorageClass"], "STANDARD", "class")
    assert r["Checksum"].get("ChecksumCRC32"), r
    assert "ObjectParts" not in r, r
    assert r.get("LastModified"), r
    r = c.get_object_attributes(Bucket=B, Key="attr/plain", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in r and r["ObjectSize"] == 5, r

    k = "attr/mpu"
    up = c.create_multipart_upload(Bucket=B, Key=k)["UploadId"]
    bodies = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"c" * 3]
    parts = [{"PartNumber": i + 1,
              "ETag": c.upload_part(Bucket=B, Key=k, UploadId=up, PartNumber=i + 1, Body=d)["ETag"]}
             for i, d in enumerate(bodies)]
    c.complete_multipart_upload(Bucket=B, Key=k, UploadId=up, MultipartUpload={"Parts": parts})
    r = c.get_object_attributes(Bucket=B, Key=k, ObjectAttributes=["ObjectParts", "ETag"], MaxParts=2)
    op = r["ObjectParts"]
    eq(op["TotalPartsCount"], 3, "parts count")
    eq(op["IsTruncated"], True, "truncated")
    eq([p["PartNumber"] for p in op["Parts"]], [1, 2], "first page")
    eq(op["Parts"][0]["Size"], 5 * MIB, "part size")
    eq(r["ETag"], mpu_etag(bodies).strip('"'), "multipart etag")
    r = c.get_object_attributes(Bucket=B, Key=k, ObjectAttributes=["ObjectParts"],
                                PartNumberMarker=op["NextPartNumberMarker"])
    eq([(p["PartNumber"], p["Size"]) for p in r["ObjectParts"]["Parts"]], [(3, 3)], "second page")
    eq(r["ObjectParts"]["IsTruncated"], False, "last page")
    expect("NoSuchKey", c.get_object_attributes, Bucket=B, Key="attr/none", ObjectAttributes=["ETag"])


# ---------------------------------------------------------------- conditional writes
def _mpu(key, body=b"m" * 10):
    up = c.create_multipart_upload(Bucket=B, Key=key)["UploadId"]
    etag = c.upload_part(Bucket=B, Key=key, UploadId=up, PartNumber=1, Body=body)["ETag"]
    return up, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


@case
def conditional_complete_multipart_upload():
    k = "cond/mpu"
    up, parts = _mpu(k)
    c.complete_multipart_upload(Bucket=B, Key=k, UploadId=up, MultipartUpload=parts, IfNoneMatch="*")
    etag = c.head_object(Bucket=B, Key=k)["ETag"]
    up, parts = _mpu(k, b"n" * 10)
    eq(err(c.complete_multipart_upload, Bucket=B, Key=k, UploadId=up, MultipartUpload=parts, IfNoneMatch="*"),
       ("PreconditionFailed", 412), "If-None-Match on an existing key")
    eq(err(c.complete_multipart_upload, Bucket=B, Key=k, UploadId=up, MultipartUpload=parts, IfMatch='"nope"'),
       ("PreconditionFailed", 412), "If-Match with another ETag")
    eq(c.head_object(Bucket=B, Key=k)["ETag"], etag, "object unchanged after 412s")
    # The upload survives a failed condition (as AWS): it can still be completed.
    c.complete_multipart_upload(Bucket=B, Key=k, UploadId=up, MultipartUpload=parts, IfMatch=etag)
    eq(c.get_object(Bucket=B, Key=k)["Body"].read(), b"n" * 10, "completed with If-Match")
    up, parts = _mpu("cond/mpu-missing")
    eq(err(c.complete_multipart_upload, Bucket=B, Key="cond/mpu-missing", UploadId=up, MultipartUpload=parts,
           IfMatch=etag), ("PreconditionFailed", 412), "If-Match on a missing key")
    c.abort_multipart_upload(Bucket=B, Key="cond/mpu-missing", UploadId=up)


@case
def racing_conditional_writes_have_one_winner_and_412s():
    # AWS may answer a loser 409 ConditionalRequestConflict; ozfs checks the condition in the
    # commit, so exactly one writer wins and every other one gets 412.
    import concurrent.futures

    n = 8
    k = "cond/race-mpu"
    uploads = [_mpu(k, bytes([65 + i]) * 10) for i in range(n)]

    def complete(i):
        up, parts = uploads[i]
        try:
            c.complete_multipart_upload(Bucket=B, Key=k, UploadId=up, MultipartUpload=parts, IfNoneMatch="*")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    def put(i):
        try:
            c.put_object(Bucket=B, Key="cond/race-put", Body=bytes([65 + i]), IfNoneMatch="*")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    for fn in (complete, put):
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            got = sorted(pool.map(fn, range(n)))
        eq(got, ["PreconditionFailed"] * (n - 1) + ["ok"], fn.__name__)
    for up, _ in uploads:
        try:
            c.abort_multipart_upload(Bucket=B, Key=k, UploadId=up)
        except ClientError:
            pass


@case
def conditional_copy_object():
    c.put_object(Bucket=B, Key="cond/src", Body=b"src")
    c.put_object(Bucket=B, Key="cond/dst", Body=b"old")
    extra = {}

    def add_headers(request, **_):
        for k, v in extra.items():
            request.headers[k] = v

    cc = client()
    cc.meta.events.register("before-sign.s3.CopyObject", add_headers)
    src = {"Bucket": B, "Key": "cond/src"}
    extra = {"If-None-Match": "*"}
    eq(err(cc.copy_object, Bucket=B, Key="cond/dst", CopySource=src), ("PreconditionFailed", 412),
       "If-None-Match on an existing destination")
    cc.copy_object(Bucket=B, Key="cond/dst-new", CopySource=src)
    extra = {"If-Match": '"nope"'}
    eq(err(cc.copy_object, Bucket=B, Key="cond/dst", CopySource=src), ("PreconditionFailed", 412),
       "If-Match with another ETag")
    eq(c.get_object(Bucket=B, Key="cond/dst")["Body"].read(), b"old", "destination unchanged")
    extra = {"If-Match": c.head_object(Bucket=B, Key="cond/dst")["ETag"]}
    cc.copy_object(Bucket=B, Key="cond/dst", CopySource=src)
    eq(c.get_object(Bucket=B, Key="cond/dst")["Body"].read(), b"src", "copied with If-Match")


@case
def expected_bucket_owner_is_checked():
    # Ozone's smoketests run "Check Bucket Ownership Verification" on these operations too.
    owner = c.get_bucket_acl(Bucket=B)["Owner"]["DisplayName"]
    c.put_bucket_tagging(Bucket=B, Tagging={"TagSet": [{"Key": "o", "Value": "1"}]}, ExpectedBucketOwner=owner)
    eq(c.get_bucket_tagging(Bucket=B, ExpectedBucketOwner=owner)["TagSet"], [{"Key": "o", "Value": "1"}], "owner")
    for op, kw in [
        (c.get_bucket_tagging, {}),
        (c.delete_bucket_tagging, {}),
        (c.get_bucket_lifecycle_configuration, {}),
        (c.delete_bucket_lifecycle, {}),
        (c.get_object_attributes, {"Key": "attr/plain", "ObjectAttributes": ["ETag"]}),
    ]:
        expect("403", op, Bucket=B, ExpectedBucketOwner="wrong-" + owner, **kw)
    eq(len(c.get_bucket_tagging(Bucket=B)["TagSet"]), 1, "wrong owner deleted nothing")
    c.delete_bucket_tagging(Bucket=B, ExpectedBucketOwner=owner)


# ---------------------------------------------------------------- location
@case
def bucket_location_is_empty_for_us_east_1():
    eq(c.get_bucket_location(Bucket=B).get("LocationConstraint"), None, "us-east-1 is null")
    w = client(region="eu-west-1")
    eq(w.get_bucket_location(Bucket=B)["LocationConstraint"], "eu-west-1", "the signed region")


run()
