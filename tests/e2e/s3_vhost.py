"""Virtual-host style (bucket.DOMAIN) and path style on the same endpoint."""

import urllib.request
from urllib.parse import urlparse

from s3_common import *  # noqa: F401,F403

assert DOMAIN, "OZFS_S3_DOMAIN must name the configured domain"
resolve_to_loopback(DOMAIN)
PORT = urlparse(ENDPOINT).port
VEP = f"http://{DOMAIN}:{PORT}"


@case
def virtual_host_client_full_cycle():
    v = client(style="virtual", endpoint=VEP)
    b = bucket_name("vh")
    v.create_bucket(Bucket=b)
    v.put_object(Bucket=b, Key="dir/a b.txt", Body=b"virtual")
    eq(v.get_object(Bucket=b, Key="dir/a b.txt")["Body"].read(), b"virtual", "get")
    eq([o["Key"] for o in v.list_objects_v2(Bucket=b)["Contents"]], ["dir/a b.txt"], "list")
    v.head_bucket(Bucket=b)
    up = v.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    e = v.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    v.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    # The same bucket through path style, on the domain and on the IP.
    for p in (client(style="path", endpoint=VEP), client(style="path")):
        eq(p.get_object(Bucket=b, Key="mp")["Body"].read(), b"part", "path style")
    url = v.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "dir/a b.txt"}, ExpiresIn=60)
    assert urlparse(url).hostname == f"{b}.{DOMAIN}", url
    eq(urllib.request.urlopen(url, timeout=5).read(), b"virtual", "virtual-host presigned")
    v.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "dir/a b.txt"}, {"Key": "mp"}]})
    v.delete_bucket(Bucket=b)
    expect("404", v.head_bucket, Bucket=b)


@case
def virtual_host_list_buckets_on_bare_domain():
    v = client(style="virtual", endpoint=VEP)
    b = new_bucket(client(), "vh2")
    assert b in [x["Name"] for x in v.list_buckets()["Buckets"]]


if __name__ == "__main__":
    run()
