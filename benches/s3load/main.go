// Command s3load is the one load generator of scripts/bench.sh: the same S3 client (aws-sdk-go-v2)
// drives every S3 peer (ozfs serve, MinIO, SeaweedFS, Ozone's S3 gateway), and it also measures
// the machine's limits (loopback TCP, MD5 per core, disk write + fdatasync, memory copy).
//
// Every phase is bounded in both time (-secs) and count (-max-ops); results go to stdout as
// tab-separated lines: "workload  value  unit" (several per workload: ops/s, p50, p99, MB/s).
//
//	s3load limits -dir DIR -mib N
//	s3load run -endpoint URL -bucket B -workload W [-size BYTES] [-conc N] [-secs S] [-max-ops N] [-keys N] [-warm N]
//	    W: put, get, head (objects of -size, at -conc), mixed (45% GET, 15% PUT, 30% HEAD,
//	       10% DELETE), list (creates -keys keys, then lists them all with ListObjectsV2),
//	       fill (creates -keys objects of -size under -prefix; prints only the time it took),
//	       count (lists -prefix and prints how many keys it holds)
//	    -warm N: get only: GET every prepared object N times before the measured phase (not
//	       counted), so the phase measures GETs of objects a server cache already holds
//	s3load mkbucket -endpoint URL -bucket B
//
// Requests are signed with UNSIGNED-PAYLOAD and no flexible checksums, so the client does not
// hash bodies: the server's own costs dominate.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func out(workload string, value float64, unit string) {
	fmt.Printf("%s\t%.6g\t%s\n", workload, value, unit)
}

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "s3load: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: s3load limits|run|mkbucket ...")
	}
	switch os.Args[1] {
	case "limits":
		limits(os.Args[2:])
	case "run":
		runCmd(os.Args[2:])
	case "mkbucket":
		mkbucket(os.Args[2:])
	default:
		die("unknown command %q", os.Args[1])
	}
}

// ---------------------------------------------------------------- machine limits

func limits(args []string) {
	fs := flag.NewFlagSet("limits", flag.ExitOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk under test")
	mib := fs.Int("mib", 1024, "MiB per probe")
	_ = fs.Parse(args)
	total := int64(*mib) << 20

	// loopback TCP, one stream
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	done := make(chan int64)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		die("dial: %v", err)
	}
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			die("write: %v", err)
		}
	}
	c.Close()
	n := <-done
	out("loopback_tcp", float64(n)/time.Since(t0).Seconds()/1e6, "MB/s")
	l.Close()

	// MD5, one core
	h := md5.New()
	t0 = time.Now()
	for hashed := int64(0); hashed < total; hashed += int64(len(buf)) {
		h.Write(buf)
	}
	_ = h.Sum(nil)
	out("md5_core", float64(total)/time.Since(t0).Seconds()/1e6, "MB/s")

	// disk: sequential write then fdatasync, 4 MiB blocks
	p := filepath.Join(*dir, "s3load-disk-probe")
	f, err := os.Create(p)
	if err != nil {
		die("create %s: %v", p, err)
	}
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	t0 = time.Now()
	for w := int64(0); w < total; w += int64(len(big)) {
		if _, err := f.Write(big); err != nil {
			die("disk write: %v", err)
		}
	}
	if err := f.Sync(); err != nil {
		die("fsync: %v", err)
	}
	out("disk_write_fsync", float64(total)/time.Since(t0).Seconds()/1e6, "MB/s")
	// cold read of what was just written: evicted from the page cache first
	const fadvDontneed = 4
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontneed, 0, 0)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		die("seek: %v", err)
	}
	t0 = time.Now()
	got, err := io.CopyBuffer(io.Discard, f, big)
	if err != nil {
		die("disk read: %v", err)
	}
	out("disk_read_cold", float64(got)/time.Since(t0).Seconds()/1e6, "MB/s")
	f.Close()
	os.Remove(p)

	// small durable writes: 4 KiB write + fdatasync, one after another, for at most 2 s
	f, err = os.Create(p)
	if err != nil {
		die("create %s: %v", p, err)
	}
	small := big[:4096]
	ops := 0
	t0 = time.Now()
	for ops < 5000 && time.Since(t0) < 2*time.Second {
		if _, err := f.Write(small); err != nil {
			die("disk write: %v", err)
		}
		if err := f.Sync(); err != nil {
			die("fsync: %v", err)
		}
		ops++
	}
	out("disk_fsync_4k", float64(ops)/time.Since(t0).Seconds(), "ops/s")
	f.Close()
	os.Remove(p)

	// memory copy, one core
	src := make([]byte, 64<<20)
	dst := make([]byte, 64<<20)
	t0 = time.Now()
	copied := int64(0)
	for copied < 8*total && time.Since(t0) < 3*time.Second {
		copy(dst, src)
		copied += int64(len(src))
	}
	out("memcpy_core", float64(copied)/time.Since(t0).Seconds()/1e6, "MB/s")
}

// ---------------------------------------------------------------- S3 workloads

type opts struct {
	endpoint, bucket, workload, prefix, key string
	size                                    int64
	conc, maxOps, keys, warm                int
	secs                                    float64
}

func client(endpoint string, conc int) *s3.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr, Timeout: 300 * time.Second}
	ak := os.Getenv("AWS_ACCESS_KEY_ID")
	sk := os.Getenv("AWS_SECRET_ACCESS_KEY")
	if ak == "" {
		ak, sk = "bench", "benchsecret"
	}
	cfg := aws.Config{
		Region:     "us-east-1",
		HTTPClient: hc,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, nil
		}),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	})
}

func mkbucket(args []string) {
	fs := flag.NewFlagSet("mkbucket", flag.ExitOnError)
	endpoint := fs.String("endpoint", "", "S3 endpoint URL")
	bucket := fs.String("bucket", "bench", "bucket")
	_ = fs.Parse(args)
	c := client(*endpoint, 1)
	ctx := context.Background()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists") {
			return
		}
		die("create bucket: %v", err)
	}
}

func runCmd(args []string) {
	var o opts
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint URL")
	fs.StringVar(&o.bucket, "bucket", "bench", "bucket")
	fs.StringVar(&o.workload, "workload", "put", "put|get|head|mixed|list|fill")
	fs.StringVar(&o.prefix, "prefix", "", "key prefix (default: one per workload)")
	fs.StringVar(&o.key, "key", "", "with -keys 1: the exact key of the one object (fill)")
	fs.Int64Var(&o.size, "size", 4096, "object size in bytes")
	fs.IntVar(&o.conc, "conc", 1, "concurrent requests")
	fs.Float64Var(&o.secs, "secs", 10, "time bound of the measured phase, seconds")
	fs.IntVar(&o.maxOps, "max-ops", 1000000, "count bound of the measured phase")
	fs.IntVar(&o.keys, "keys", 100, "objects prepared for get/head/mixed; keys for list/fill")
	fs.IntVar(&o.warm, "warm", 0, "get: unmeasured GETs of every prepared object before the phase")
	_ = fs.Parse(args)
	if o.endpoint == "" {
		die("-endpoint is required")
	}
	if o.prefix == "" {
		o.prefix = fmt.Sprintf("%s-%d-c%d/", o.workload, o.size, o.conc)
	}
	c := client(o.endpoint, o.conc)
	name := fmt.Sprintf("%s_%s_c%d", o.workload, sizeName(o.size), o.conc)
	switch o.workload {
	case "put":
		body := payload(o.size)
		var seq atomic.Int64
		measure(name, o, func(ctx context.Context) error {
			k := fmt.Sprintf("%sk%d", o.prefix, seq.Add(1))
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &k, Body: bytes.NewReader(body), ContentLength: aws.Int64(o.size)})
			return err
		})
	case "get", "head":
		n := o.keys
		if n < o.conc {
			n = o.conc
		}
		keys := prepare(c, o, n)
		get := func(ctx context.Context, k string) error {
			r, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &k})
			if err != nil {
				return err
			}
			got, err := io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if err == nil && got != o.size {
				err = fmt.Errorf("short GET: %d of %d bytes", got, o.size)
			}
			return err
		}
		if o.workload == "get" && o.warm > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			for i := 0; i < o.warm; i++ {
				for _, k := range keys {
					if err := get(ctx, k); err != nil {
						die("warm-up GET of %s: %v", k, err)
					}
				}
			}
			cancel()
		}
		measure(name, o, func(ctx context.Context) error {
			k := keys[rand.Intn(len(keys))]
			if o.workload == "head" {
				_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.bucket, Key: &k})
				return err
			}
			return get(ctx, k)
		})
	case "mixed":
		keys := prepare(c, o, max(o.keys, o.conc*4))
		body := payload(o.size)
		var mu sync.Mutex
		var seq atomic.Int64
		measure(name, o, func(ctx context.Context) error {
			r := rand.Intn(100)
			mu.Lock()
			k := keys[rand.Intn(len(keys))]
			mu.Unlock()
			switch {
			case r < 45:
				g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &k})
				if err != nil {
					return notFoundOK(err)
				}
				_, err = io.Copy(io.Discard, g.Body)
				g.Body.Close()
				return err
			case r < 60:
				nk := fmt.Sprintf("%snew%d", o.prefix, seq.Add(1))
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &nk, Body: bytes.NewReader(body), ContentLength: aws.Int64(o.size)})
				if err == nil {
					mu.Lock()
					keys = append(keys, nk)
					mu.Unlock()
				}
				return err
			case r < 90:
				_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.bucket, Key: &k})
				return notFoundOK(err)
			default:
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.bucket, Key: &k})
				return err
			}
		})
	case "count":
		// keys under -prefix (bounded by -secs), for waiting on a mount's background uploads
		ctx := context.Background()
		deadline := time.Now().Add(time.Duration(o.secs * float64(time.Second)))
		n := 0
		var token *string
		for pages := 0; pages < 1000 && time.Now().Before(deadline); pages++ {
			r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &o.bucket, Prefix: &o.prefix, ContinuationToken: token})
			if err != nil {
				die("count: %v", err)
			}
			n += len(r.Contents)
			if r.IsTruncated == nil || !*r.IsTruncated {
				break
			}
			token = r.NextContinuationToken
		}
		out("count", float64(n), "keys")
	case "fill":
		t0 := time.Now()
		prepare(c, o, o.keys)
		out("fill_"+sizeName(o.size), time.Since(t0).Seconds(), "s")
	case "list":
		prepare(c, o, o.keys)
		ctx := context.Background()
		t0 := time.Now()
		deadline := t0.Add(time.Duration(o.secs * float64(time.Second)))
		listed := 0
		var token *string
		for pages := 0; pages < o.keys/1000+10; pages++ {
			r, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &o.bucket, Prefix: &o.prefix, ContinuationToken: token, MaxKeys: aws.Int32(1000)})
			if err != nil {
				die("list: %v", err)
			}
			listed += len(r.Contents)
			if r.IsTruncated == nil || !*r.IsTruncated || time.Now().After(deadline) {
				break
			}
			token = r.NextContinuationToken
		}
		el := time.Since(t0).Seconds()
		if listed < o.keys {
			die("list: %d of %d keys listed within %.0f s", listed, o.keys, o.secs)
		}
		out(fmt.Sprintf("list_%dk", o.keys/1000), el, "s")
	default:
		die("unknown workload %q", o.workload)
	}
}

func notFoundOK(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return nil
	}
	return err
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func payload(n int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(42)).Read(b)
	return b
}

// prepare creates n objects of o.size under o.prefix at concurrency max(o.conc, 16) and returns
// their keys (bounded by 45 minutes).
func prepare(c *s3.Client, o opts, n int) []string {
	body := payload(o.size)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%so%07d", o.prefix, i)
	}
	if o.key != "" && n == 1 {
		keys[0] = o.key
	}
	workers := max(o.conc, 16)
	if o.size >= 16<<20 {
		workers = max(1, min(o.conc, 4))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &keys[i], Body: bytes.NewReader(body), ContentLength: aws.Int64(o.size)})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		die("prepare %d objects: %v", n, e)
	}
	return keys
}

// measure runs op at o.conc until o.secs pass or o.maxOps operations are done, then prints
// ops/s, MB/s (for sized workloads), p50 and p99 latency in ms, and the error count.
func measure(name string, o opts, op func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.secs*float64(time.Second))+60*time.Second)
	defer cancel()
	deadline := time.Now().Add(time.Duration(o.secs * float64(time.Second)))
	var issued atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, o.conc)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) && issued.Add(1) <= int64(o.maxOps) {
				s := time.Now()
				if err := op(ctx); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					if errs.Load() > 100 {
						return
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(s))
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		die("%s: no operation succeeded: %v", name, firstErr.Load())
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	out(name, float64(len(all))/el, "ops/s")
	if o.workload != "head" && o.workload != "mixed" {
		out(name, float64(len(all))*float64(o.size)/el/1e6, "MB/s")
	}
	out(name, pct(0.50), "p50_ms")
	out(name, pct(0.99), "p99_ms")
	if n := errs.Load(); n > 0 {
		out(name, float64(n), "errors")
		fmt.Fprintf(os.Stderr, "s3load: %s: %d errors, first: %v\n", name, n, firstErr.Load())
	}
}
