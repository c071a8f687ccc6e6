# Captures requests that botocore signs (SigV4 header, SigV2 header, aws-chunked with trailer) and
# presigned URLs it generates, without sending anything: a before-send hook answers instead.
# Output, one item per line: "REQ <method> <url>", "H <name>\t<value>", "BODY <base64>",
# "PRESIGN <url>", "SECRET <secret>". Run by botocore.rs.
import base64, sys
import boto3
from botocore.config import Config
from botocore.awsrequest import AWSResponse

AK, SK = "testuser/scm@EXAMPLE.COM", "botocore-secret-123"
captured = []

def capture(request, **kwargs):
    body = request.body
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    captured.append((request.method, request.url, list(request.headers.items()), data))
    return AWSResponse(request.url, 200, {}, None)

def client(sig, scheme="http", **cfg):
    c = boto3.client("s3", endpoint_url=scheme + "://127.0.0.1:9878", region_name="us-east-1",
                     aws_access_key_id=AK, aws_secret_access_key=SK,
                     config=Config(signature_version=sig, s3={"addressing_style": "path"}, **cfg))
    c.meta.events.register("before-send", capture)
    return c

key = "dir/a b+c~!'()*é.txt"
for sig in ["s3v4", "s3"]:
    c = client(sig)
    for call in [
        lambda: c.put_object(Bucket="bucket", Key=key, Body=b"hello world", ContentType="text/plain", Metadata={"m": "v  w"}),
        # A non-ASCII metadata value: signed as UTF-8, sent as Latin-1 by http.client.
        lambda: c.put_object(Bucket="bucket", Key="meta", Body=b"x", Metadata={"n": "café"}),
        lambda: c.get_object(Bucket="bucket", Key=key, Range="bytes=0-3"),
        lambda: c.list_objects_v2(Bucket="bucket", Prefix="dir/a b", Delimiter="/"),
        lambda: c.create_multipart_upload(Bucket="bucket", Key=key),
        lambda: c.upload_part(Bucket="bucket", Key=key, PartNumber=1, UploadId="2~abc/def+g", Body=b"x" * 1000),
        lambda: c.put_object_tagging(Bucket="bucket", Key=key, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}),
        lambda: c.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": "a"}]}),
    ]:
        try:
            call()
        except Exception as e:  # the fake 200 response may not parse for every operation
            pass
# Over https botocore sends flexible checksums as an aws-chunked body with an unsigned trailer
# (STREAMING-UNSIGNED-PAYLOAD-TRAILER). Nothing is sent: the request is captured before.
c = client("s3v4", scheme="https")
for algorithm in ["SHA256", "CRC32", "SHA1"]:
    try:
        c.put_object(Bucket="bucket", Key="big", Body=bytes(range(256)) * 1000, ChecksumAlgorithm=algorithm)
    except Exception:
        pass

for method, url, headers, data in captured:
    print("REQ", method, url)
    for k, v in headers:
        if isinstance(v, bytes):
            v = v.decode()
        print("H", k + "\t" + v)
    print("BODY", base64.b64encode(data).decode())
# Presigned URLs (SigV4 and SigV2).
for sig in ["s3v4", "s3"]:
    c = client(sig)
    print("PRESIGN", c.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": key}, ExpiresIn=3600))
    print("PRESIGN", c.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": key}, ExpiresIn=600))
print("SECRET", SK)
