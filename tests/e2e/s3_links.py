"""Bucket links: the harness made /s3v/link -> /vol1/source-bucket (holding from-source.txt) and
/s3v/dangling -> /vol1/missing. A link is an S3 bucket; a dangling link answers bucket
operations but key operations get NoSuchBucket."""

from s3_common import *  # noqa: F401,F403

c = client()


@case
def link_is_a_bucket():
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    assert "link" in names and "dangling" in names, names
    c.head_bucket(Bucket="link")
    eq(c.get_object(Bucket="link", Key="from-source.txt")["Body"].read(), b"linked data", "read through")
    c.put_object(Bucket="link", Key="written-via-link", Body=b"w")
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="link")["Contents"]]
    eq(keys, ["from-source.txt", "written-via-link"], "list through link")
    up = c.create_multipart_upload(Bucket="link", Key="mp")["UploadId"]
    e = c.upload_part(Bucket="link", Key="mp", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    c.complete_multipart_upload(Bucket="link", Key="mp", UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    c.copy_object(Bucket="link", Key="copy", CopySource="link/from-source.txt")
    eq(c.get_object(Bucket="link", Key="copy")["Body"].read(), b"linked data", "copy in link")


@case
def dangling_link_gives_no_such_bucket_on_key_operations():
    c.head_bucket(Bucket="dangling")
    c.get_bucket_acl(Bucket="dangling")
    eq(err(c.list_objects_v2, Bucket="dangling"), ("NoSuchBucket", 404), "list")
    eq(err(c.get_object, Bucket="dangling", Key="k"), ("NoSuchBucket", 404), "get")
    eq(err(c.put_object, Bucket="dangling", Key="k", Body=b"x"), ("NoSuchBucket", 404), "put")
    eq(err(c.create_multipart_upload, Bucket="dangling", Key="k"), ("NoSuchBucket", 404), "mpu")


@case
def bucket_tagging_and_lifecycle_through_a_link():
    # As Ozone's buckettagging.robot: the same sequence works on a link (the settings belong to
    # the bucket the link resolves to).
    eq(err(c.get_bucket_tagging, Bucket="link"), ("NoSuchTagSet", 404), "no tags")
    c.put_bucket_tagging(Bucket="link", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    eq(c.get_bucket_tagging(Bucket="link")["TagSet"], [{"Key": "k", "Value": "v"}], "tags via link")
    c.delete_bucket_tagging(Bucket="link")
    eq(err(c.get_bucket_tagging, Bucket="link"), ("NoSuchTagSet", 404), "deleted")
    rules = [{"ID": "r", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 9}}]
    c.put_bucket_lifecycle_configuration(Bucket="link", LifecycleConfiguration={"Rules": rules})
    eq(c.get_bucket_lifecycle_configuration(Bucket="link")["Rules"][0]["ID"], "r", "lifecycle via link")
    c.delete_bucket_lifecycle(Bucket="link")
    eq(err(c.get_bucket_tagging, Bucket="dangling"), ("NoSuchBucket", 404), "dangling link")


@case
def deleting_a_link_keeps_the_source():
    c.create_bucket(Bucket="other-link-holder")
    c.delete_bucket(Bucket="dangling")
    assert "dangling" not in [b["Name"] for b in c.list_buckets()["Buckets"]]
    eq(c.get_object(Bucket="link", Key="from-source.txt")["Body"].read(), b"linked data", "source intact")


if __name__ == "__main__":
    run()
