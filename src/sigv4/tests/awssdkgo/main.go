// Prints requests signed by aws-sdk-go v1 (the S3 library goofys and old rclone use) and
// presigned URLs it generates, for the Rust test src/sigv4/tests/awssdkgo.rs. Nothing is sent.
// Output lines: "REQ <method> <url>", "H <name>\t<value>", "BODY <base64>", "PRESIGN <method> <url>".
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
)

func dump(r *request.Request) {
	if err := r.Sign(); err != nil {
		panic(err)
	}
	h := r.HTTPRequest
	fmt.Printf("REQ %s %s\n", h.Method, h.URL.String())
	names := make([]string, 0, len(h.Header))
	for k := range h.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range h.Header[k] {
			fmt.Printf("H %s\t%s\n", k, v)
		}
	}
	var body []byte
	if r.Body != nil {
		r.Body.Seek(0, io.SeekStart)
		body, _ = io.ReadAll(r.Body)
	}
	fmt.Printf("BODY %s\n", base64.StdEncoding.EncodeToString(body))
}

func main() {
	sess := session.Must(session.NewSession(&aws.Config{
		Endpoint:         aws.String("http://127.0.0.1:9878"),
		Region:           aws.String("us-east-1"),
		S3ForcePathStyle: aws.Bool(true),
		Credentials:      credentials.NewStaticCredentials("goofys", "go-secret-456", ""),
	}))
	c := s3.New(sess)
	key := "dir/a b+c$&,:;=@!'()*~é.txt"
	bucket := aws.String("bucket")

	r, _ := c.PutObjectRequest(&s3.PutObjectInput{Bucket: bucket, Key: aws.String(key),
		Body: bytes.NewReader([]byte("hello from go")), ContentType: aws.String("text/plain"),
		Metadata: map[string]*string{"m": aws.String("v  w")}})
	dump(r)
	r, _ = c.GetObjectRequest(&s3.GetObjectInput{Bucket: bucket, Key: aws.String(key), Range: aws.String("bytes=0-3")})
	dump(r)
	r, _ = c.ListObjectsV2Request(&s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("dir/a b+c"),
		Delimiter: aws.String("/"), StartAfter: aws.String("x y")})
	dump(r)
	r, _ = c.ListObjectsRequest(&s3.ListObjectsInput{Bucket: bucket, Prefix: aws.String("a=b&c"), Marker: aws.String("m+n")})
	dump(r)
	r, _ = c.CreateMultipartUploadRequest(&s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String(key)})
	dump(r)
	r, _ = c.UploadPartRequest(&s3.UploadPartInput{Bucket: bucket, Key: aws.String(key), PartNumber: aws.Int64(2),
		UploadId: aws.String("2~abc/def+g h"), Body: bytes.NewReader(bytes.Repeat([]byte("x"), 1000))})
	dump(r)
	r, _ = c.CopyObjectRequest(&s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy"),
		CopySource: aws.String("bucket/" + strings.ReplaceAll(key, " ", "%20")), MetadataDirective: aws.String("REPLACE")})
	dump(r)
	r, _ = c.DeleteObjectsRequest(&s3.DeleteObjectsInput{Bucket: bucket, Delete: &s3.Delete{
		Objects: []*s3.ObjectIdentifier{{Key: aws.String("a")}}}})
	dump(r)

	g, _ := c.GetObjectRequest(&s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
	u, err := g.Presign(15 * time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Printf("PRESIGN GET %s\n", u)
	p, _ := c.PutObjectRequest(&s3.PutObjectInput{Bucket: bucket, Key: aws.String(key)})
	u, err = p.Presign(time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Printf("PRESIGN PUT %s\n", u)
}
