/*
 * ozfs test harness: one JVM running an Apache Ozone MiniOzoneCluster (SCM, OM, datanodes) and an
 * in-process S3 Gateway, all on loopback ports counted up from a port base.
 *
 * Protocol with the driver (tests/ozone/cluster.sh, tests/e2e/ozone_common.rs):
 *   - progress lines go to stdout prefixed with "[  12.3s]";
 *   - one line "READY s3=<url> conf=<dir> pid=<pid> seconds=<s>" once a signed S3 PUT through the
 *     gateway has succeeded;
 *   - stdin reaching EOF (the driver exited or closed the pipe) or SIGTERM/SIGINT stops the
 *     gateway and the cluster; MiniOzoneCluster deletes its data directory; "STOPPED" is printed.
 *
 * Arguments: --port-base N (required) --s3-port N (required) --conf-dir DIR (required)
 *            [--datanodes 1] [--ready-timeout-s 300] [--no-stdin] [--set key=value]...
 * The data directory is MiniOzoneCluster's -Dtest.build.data.
 */

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.hadoop.hdds.conf.OzoneConfiguration;
import org.apache.hadoop.hdds.protocol.proto.HddsProtos.ReplicationFactor;
import org.apache.hadoop.ozone.MiniOzoneCluster;
import org.apache.hadoop.ozone.s3.Gateway;
import org.apache.hadoop.ozone.s3.OzoneConfigurationHolder;
import org.apache.ozone.test.GenericTestUtils.PortAllocator;

public final class OzfsOzoneCluster {
  private static final long START = System.nanoTime();
  private static final CountDownLatch STOP_REQUESTED = new CountDownLatch(1);
  private static final CountDownLatch STOP_DONE = new CountDownLatch(1);
  private static volatile boolean inShutdownHook;
  private static volatile MiniOzoneCluster cluster;
  private static volatile Gateway gateway;

  private OzfsOzoneCluster() {
  }

  private static void progress(String line) {
    System.out.printf("[%6.1fs] %s%n", seconds(), line);
    System.out.flush();
  }

  private static double seconds() {
    return (System.nanoTime() - START) / 1e9;
  }

  public static void main(String[] argv) throws Exception {
    int portBase = -1;
    int s3Port = -1;
    String confDir = null;
    int datanodes = 1;
    int readyTimeoutS = 300;
    boolean watchStdin = true;
    List<String[]> settings = new ArrayList<>();
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      if (a.equals("--no-stdin")) {
        watchStdin = false;
        continue;
      }
      if (i + 1 >= argv.length) {
        throw new IllegalArgumentException(a + " needs a value");
      }
      String v = argv[++i];
      switch (a) {
        case "--port-base" -> portBase = Integer.parseInt(v);
        case "--s3-port" -> s3Port = Integer.parseInt(v);
        case "--conf-dir" -> confDir = v;
        case "--datanodes" -> datanodes = Integer.parseInt(v);
        case "--ready-timeout-s" -> readyTimeoutS = Integer.parseInt(v);
        case "--set" -> {
          int eq = v.indexOf('=');
          if (eq <= 0) {
            throw new IllegalArgumentException("--set wants key=value, got " + v);
          }
          settings.add(new String[] {v.substring(0, eq), v.substring(eq + 1)});
        }
        default -> throw new IllegalArgumentException("unknown argument " + a);
      }
    }
    if (portBase <= 0 || s3Port <= 0 || confDir == null) {
      throw new IllegalArgumentException("--port-base, --s3-port and --conf-dir are required");
    }

    // SIGTERM/SIGINT: let main stop everything, then let the JVM go.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      inShutdownHook = true;
      STOP_REQUESTED.countDown();
      try {
        STOP_DONE.await(90, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "ozfs-harness-stop"));

    OzoneConfiguration conf = clusterConf(datanodes);
    for (String[] kv : settings) {
      conf.set(kv[0], kv[1]);
    }

    // MiniOzoneCluster counts its ports up from here without checking them: the driver checks
    // that the range is free before starting the JVM.
    PortAllocator.NEXT_PORT.set(portBase);
    progress("starting MiniOzoneCluster: " + datanodes + " datanode(s), ports from " + portBase);
    cluster = MiniOzoneCluster.newBuilder(conf).setNumDatanodes(datanodes).build();
    cluster.waitForClusterToBeReady();
    cluster.waitForPipelineTobeReady(datanodes >= 3 ? ReplicationFactor.THREE : ReplicationFactor.ONE, 180_000);
    progress("cluster ready; ports used " + portBase + ".." + (PortAllocator.NEXT_PORT.get() - 1));

    OzoneConfiguration gwConf = new OzoneConfiguration(cluster.getConf());
    gwConf.set("ozone.s3g.http-address", "127.0.0.1:" + s3Port);
    gwConf.set("ozone.s3g.https-address", PortAllocator.localhostWithFreePort());
    gwConf.set("ozone.s3g.webadmin.http-address", PortAllocator.localhostWithFreePort());
    gwConf.set("ozone.s3g.webadmin.https-address", PortAllocator.localhostWithFreePort());
    // The holder keeps the first configuration it is given; clear it so ours is used.
    OzoneConfigurationHolder.resetConfiguration();
    OzoneConfigurationHolder.setConfiguration(gwConf);
    gateway = new Gateway();
    int rc = gateway.execute(new String[0]);
    if (rc != 0) {
      throw new IllegalStateException("the S3 gateway did not start (exit code " + rc + ")");
    }
    progress("S3 gateway listening on 127.0.0.1:" + s3Port);

    // ozone-site.xml for the Ozone shell run on the same classpath.
    File dir = new File(confDir);
    if (!dir.isDirectory() && !dir.mkdirs()) {
      throw new IllegalStateException("cannot create " + dir);
    }
    File site = new File(dir, "ozone-site.xml");
    try (OutputStream out = new FileOutputStream(site)) {
      gwConf.writeXml(out);
    }

    waitForSignedPut(s3Port, readyTimeoutS);
    System.out.printf("READY s3=http://127.0.0.1:%d conf=%s pid=%d seconds=%.1f%n", s3Port,
        dir.getAbsolutePath(), ProcessHandle.current().pid(), seconds());
    System.out.flush();

    if (watchStdin) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[1024];
        try {
          while (System.in.read(buf) >= 0) {
            // the driver never writes; EOF is the signal
          }
        } catch (Exception ignored) {
          // a broken pipe is an EOF too
        }
        progress("stdin closed");
        STOP_REQUESTED.countDown();
      }, "ozfs-harness-stdin");
      t.setDaemon(true);
      t.start();
    }

    STOP_REQUESTED.await();
    stopAll();
    progress("STOPPED");
    STOP_DONE.countDown();
    // Ratis and Jetty leave non-daemon threads behind; everything is already stopped.
    Runtime.getRuntime().halt(0);
  }

  private static OzoneConfiguration clusterConf(int datanodes) {
    OzoneConfiguration c = new OzoneConfiguration();
    String factor = datanodes >= 3 ? "3" : "1";
    c.set("ozone.server.default.replication", factor);
    c.set("ozone.server.default.replication.type", "RATIS");
    c.set("ozone.replication", factor);
    // Small containers and small free-space reserves: the defaults want many GB per volume.
    c.set("ozone.scm.container.size", "1GB");
    c.set("ozone.scm.datanode.ratis.volume.free-space.min", "10MB");
    c.set("hdds.datanode.volume.min.free.space", "100MB");
    c.set("hdds.datanode.volume.min.free.space.percent", "0");
    c.set("hdds.datanode.volume.min.free.space.hard.limit.percent", "0");
    c.set("hdds.datanode.metadata.rocksdb.cache.size", "64MB");
    // OM's S3 gRPC server would take fixed port 8981; the gateway talks Hadoop RPC instead.
    c.setBoolean("ozone.om.s3.grpc.server_enabled", false);
    c.set("ozone.om.transport.class",
        "org.apache.hadoop.ozone.om.protocolPB.Hadoop3OmTransportFactory");
    c.set("hdds.heartbeat.interval", "1s");
    c.set("ozone.scm.heartbeat.thread.interval", "100ms");
    c.setInt("ozone.scm.handler.count.key", 10);
    c.setInt("ozone.om.handler.count.key", 10);
    // Loopback only, wherever Ozone has a bind-host key (its Ratis/gRPC ports have none).
    String[] bindKeys = {
        "ozone.om.http-bind-host", "ozone.om.https-bind-host", "ozone.scm.http-bind-host",
        "ozone.scm.https-bind-host", "hdds.datanode.http-bind-host", "hdds.datanode.https-bind-host",
        "hdds.datanode.client.bind.host", "ozone.s3g.http-bind-host", "ozone.s3g.https-bind-host",
        "ozone.s3g.webadmin.http-bind-host", "ozone.s3g.webadmin.https-bind-host"};
    for (String k : bindKeys) {
      c.set(k, "127.0.0.1");
    }
    return c;
  }

  private static void stopAll() {
    // On SIGTERM the Gateway's own shutdown hook stops it; a second stop only logs errors.
    if (gateway != null && !inShutdownHook) {
      try {
        progress("stopping the S3 gateway");
        gateway.stop();
      } catch (Exception e) {
        progress("S3 gateway stop failed: " + e);
      }
    }
    if (cluster != null) {
      progress("stopping MiniOzoneCluster and deleting its data");
      cluster.shutdown();
    }
  }

  /** Creates a bucket and PUTs a key with SigV4 until it works (security is off: any key is fine). */
  private static void waitForSignedPut(int port, int timeoutS) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
    String bucket = "ozfs-harness-ready";
    for (int attempt = 1;; attempt++) {
      String why;
      try {
        int st = signed(http, port, "PUT", "/" + bucket, new byte[0]).statusCode();
        if (st != 200 && st != 409) {
          throw new IllegalStateException("CreateBucket answered " + st);
        }
        HttpResponse<String> put = signed(http, port, "PUT", "/" + bucket + "/probe",
            "ready".getBytes(StandardCharsets.UTF_8));
        if (put.statusCode() != 200) {
          throw new IllegalStateException("PutObject answered " + put.statusCode() + ": " + put.body());
        }
        signed(http, port, "DELETE", "/" + bucket + "/probe", new byte[0]);
        signed(http, port, "DELETE", "/" + bucket, new byte[0]);
        progress("signed S3 PUT works (attempt " + attempt + ")");
        return;
      } catch (Exception e) {
        why = e.toString();
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no working S3 PUT after " + timeoutS + " s: " + why);
      }
      Thread.sleep(500);
    }
  }

  private static HttpResponse<String> signed(HttpClient http, int port, String method, String path,
      byte[] body) throws Exception {
    String host = "127.0.0.1:" + port;
    String date = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC)
        .format(Instant.now());
    String day = date.substring(0, 8);
    String scope = day + "/us-east-1/s3/aws4_request";
    String bodyHash = sha256Hex(body);
    String signedHeaders = "host;x-amz-content-sha256;x-amz-date";
    String canonicalRequest = String.join("\n", method, path, "", "host:" + host,
        "x-amz-content-sha256:" + bodyHash, "x-amz-date:" + date, "", signedHeaders, bodyHash);
    String stringToSign = String.join("\n", "AWS4-HMAC-SHA256", date, scope,
        sha256Hex(canonicalRequest.getBytes(StandardCharsets.UTF_8)));
    byte[] key = ("AWS4" + "harness-secret").getBytes(StandardCharsets.UTF_8);
    for (String part : new String[] {day, "us-east-1", "s3", "aws4_request"}) {
      key = hmac(key, part);
    }
    String signature = HexFormat.of().formatHex(hmac(key, stringToSign));
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://" + host + path))
        .timeout(Duration.ofSeconds(30))
        .header("x-amz-date", date)
        .header("x-amz-content-sha256", bodyHash)
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=harness/" + scope
            + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature)
        .method(method, HttpRequest.BodyPublishers.ofByteArray(body))
        .build();
    return http.send(req, HttpResponse.BodyHandlers.ofString());
  }

  private static String sha256Hex(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  private static byte[] hmac(byte[] key, String data) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
  }
}
