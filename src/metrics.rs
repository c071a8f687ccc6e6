//! Process-wide metrics, exposed by the S3 endpoint at `/prom` and `/metrics` in the
//! Prometheus/OpenMetrics text format (see docs/metrics.md for every metric).
//!
//! The metrics live in one global registry ([`prometheus_client`], the Prometheus project's
//! Rust client: atomics per series, no background thread) so that every layer can count
//! without being handed a handle: the gateway (requests, latency, bytes), the page cache
//! (read at scrape time from each live [`PageCache`]'s own counters), the embedded store
//! (commit latency) and the FUSE adapter (operations, latency, staging bytes). Recording is a
//! few atomic operations; nothing here can fail or block a caller.

use crate::cache::PageCache;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{LazyLock, Mutex, Weak};
use std::time::Duration;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FuseLabels {
    op: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FuseOpLabel {
    op: &'static str,
}

/// Latency buckets: 100 µs … ~105 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<OperationLabel, Histogram, fn() -> Histogram>,
    received: Counter,
    sent: Counter,
    in_flight: Gauge,
    commit_seconds: Histogram,
    commit_groups: Counter,
    grouped_writes: Counter,
    fuse_ops: Family<FuseLabels, Counter>,
    fuse_seconds: Family<FuseOpLabel, Histogram, fn() -> Histogram>,
    staging: Gauge,
    lifecycle_sweeps: Counter,
    lifecycle_expired: Counter,
    lifecycle_aborted: Counter,
}

/// The page caches of this process, read at scrape time.
static CACHES: Mutex<Vec<Weak<PageCache>>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct CacheCollector;

impl Collector for CacheCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (mut hits, mut misses, mut evictions, mut released, mut loads, mut bytes, mut budget) =
            (0, 0, 0, 0, 0, 0, 0);
        let (mut prefetches, mut direct_reads, mut direct_bytes, mut invalidated, mut protected) = (0, 0, 0, 0, 0);
        let mut filled = 0;
        {
            let mut caches = CACHES.lock().unwrap_or_else(|e| e.into_inner());
            caches.retain(|w| w.strong_count() > 0);
            for c in caches.iter().filter_map(Weak::upgrade) {
                let s = c.stats();
                hits += s.hits;
                misses += s.misses;
                evictions += s.evictions;
                released += s.released;
                invalidated += s.invalidated;
                protected += s.protected_bytes;
                loads += s.loads;
                prefetches += s.prefetches;
                filled += s.filled;
                direct_reads += s.direct_reads;
                direct_bytes += s.direct_bytes;
                bytes += s.bytes;
                budget += s.budget;
            }
        }
        let counters = [
            ("ozfs_cache_hits", "Page lookups answered from the page cache", hits),
            (
                "ozfs_cache_misses",
                "Page lookups that were not in the page cache",
                misses,
            ),
            (
                "ozfs_cache_evictions",
                "Pages dropped to stay within the page-cache budget",
                evictions,
            ),
            (
                "ozfs_cache_released",
                "Pages dropped by the idle sweep (--cache-idle-release)",
                released,
            ),
            (
                "ozfs_cache_invalidated",
                "Pages dropped because their object version was overwritten, deleted or renamed over",
                invalidated,
            ),
            (
                "ozfs_cache_loads",
                "Pages loaded from the store (demand and readahead)",
                loads,
            ),
            (
                "ozfs_cache_prefetches",
                "Page loads started by readahead (the rest of the loads are demand loads)",
                prefetches,
            ),
            (
                "ozfs_cache_filled",
                "Pages loaded right after a PUT, before any read (write-allocate)",
                filled,
            ),
            (
                "ozfs_cache_direct_reads",
                "Small random FUSE reads served by reading just their range from the store, bypassing the pages",
                direct_reads,
            ),
            (
                "ozfs_cache_direct_read_bytes",
                "Bytes read by those direct reads",
                direct_bytes,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges = [
            ("ozfs_cache_bytes", "Bytes held in the page cache", bytes),
            (
                "ozfs_cache_protected_bytes",
                "Bytes in the page cache's protected segment (pages read by more than one pass)",
                protected,
            ),
            (
                "ozfs_cache_budget_bytes",
                "Byte budget of the page cache (--cache-size)",
                budget,
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "ozfs_s3_requests",
        "S3 requests answered, by operation and HTTP status",
        requests.clone(),
    );
    let request_seconds = Family::<OperationLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency);
    registry.register(
        "ozfs_s3_request_duration_seconds",
        "Time from the request's arrival to its response head, by operation",
        request_seconds.clone(),
    );
    let received = Counter::default();
    registry.register(
        "ozfs_s3_received_bytes",
        "Request body bytes read from S3 clients",
        received.clone(),
    );
    let sent = Counter::default();
    registry.register(
        "ozfs_s3_sent_bytes",
        "Response body bytes sent to S3 clients",
        sent.clone(),
    );
    let in_flight = Gauge::default();
    registry.register(
        "ozfs_s3_requests_in_flight",
        "S3 requests being served now",
        in_flight.clone(),
    );
    let commit_seconds = latency();
    registry.register(
        "ozfs_store_commit_duration_seconds",
        "Embedded store: time of a metadata commit until it is durable (group commit included)",
        commit_seconds.clone(),
    );
    let commit_groups = Counter::default();
    registry.register(
        "ozfs_store_commit_groups",
        "Embedded store: groups of object puts committed together (one metadata commit each)",
        commit_groups.clone(),
    );
    let grouped_writes = Counter::default();
    registry.register(
        "ozfs_store_grouped_writes",
        "Embedded store: object puts committed in a group (divided by the groups: the mean group size)",
        grouped_writes.clone(),
    );
    let fuse_ops = Family::<FuseLabels, Counter>::default();
    registry.register(
        "ozfs_fuse_operations",
        "FUSE operations answered, by operation and result (ok or error)",
        fuse_ops.clone(),
    );
    let fuse_seconds = Family::<FuseOpLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency);
    registry.register(
        "ozfs_fuse_operation_duration_seconds",
        "Time to answer a FUSE operation, by operation",
        fuse_seconds.clone(),
    );
    let staging = Gauge::default();
    registry.register(
        "ozfs_fuse_staging_bytes",
        "Bytes reserved in the FUSE staging area (files being written)",
        staging.clone(),
    );
    let lifecycle_sweeps = Counter::default();
    registry.register(
        "ozfs_lifecycle_sweeps",
        "Lifecycle expiration sweeps run over the embedded store",
        lifecycle_sweeps.clone(),
    );
    let lifecycle_expired = Counter::default();
    registry.register(
        "ozfs_lifecycle_expired_objects",
        "Objects deleted by a lifecycle Expiration rule",
        lifecycle_expired.clone(),
    );
    let lifecycle_aborted = Counter::default();
    registry.register(
        "ozfs_lifecycle_aborted_uploads",
        "Multipart uploads aborted by a lifecycle AbortIncompleteMultipartUpload rule",
        lifecycle_aborted.clone(),
    );
    registry.register_collector(Box::new(CacheCollector));
    Metrics {
        registry,
        requests,
        request_seconds,
        received,
        sent,
        in_flight,
        commit_seconds,
        commit_groups,
        grouped_writes,
        fuse_ops,
        fuse_seconds,
        staging,
        lifecycle_sweeps,
        lifecycle_expired,
        lifecycle_aborted,
    }
});

/// The metrics of this process in the OpenMetrics text format (which Prometheus scrapes).
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

/// Count a page cache in the `ozfs_cache_*` metrics for as long as it lives.
pub fn register_cache(cache: &std::sync::Arc<PageCache>) {
    CACHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(std::sync::Arc::downgrade(cache));
}

/// An S3 request was answered.
pub fn s3_request(operation: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.requests
        .get_or_create(&RequestLabels {
            operation: operation.to_string(),
            status,
        })
        .inc();
    m.request_seconds
        .get_or_create(&OperationLabel {
            operation: operation.to_string(),
        })
        .observe(elapsed.as_secs_f64());
}

/// An S3 request started (`+1`) or ended (`-1`).
pub fn s3_in_flight(delta: i64) {
    METRICS.in_flight.inc_by(delta);
}

/// Request body bytes read.
pub fn s3_received(n: u64) {
    METRICS.received.inc_by(n);
}

/// Response body bytes sent.
pub fn s3_sent(n: u64) {
    METRICS.sent.inc_by(n);
}

/// A commit of the embedded store became durable after `elapsed`.
pub fn store_commit(elapsed: Duration) {
    METRICS.commit_seconds.observe(elapsed.as_secs_f64());
}

/// The embedded store committed a group of `writes` object puts in one metadata commit.
pub fn store_group(writes: u64) {
    METRICS.commit_groups.inc();
    METRICS.grouped_writes.inc_by(writes);
}

/// A FUSE operation was answered.
pub fn fuse_op(op: &'static str, ok: bool, elapsed: Duration) {
    let m = &*METRICS;
    m.fuse_ops
        .get_or_create(&FuseLabels {
            op,
            result: if ok { "ok" } else { "error" },
        })
        .inc();
    m.fuse_seconds
        .get_or_create(&FuseOpLabel { op })
        .observe(elapsed.as_secs_f64());
}

/// Staging bytes reserved (`> 0`) or released (`< 0`).
pub fn staging(delta: i64) {
    METRICS.staging.inc_by(delta);
}

/// A lifecycle sweep finished, having expired `expired` objects and aborted `aborted` uploads.
pub fn lifecycle_sweep(expired: u64, aborted: u64) {
    let m = &*METRICS;
    m.lifecycle_sweeps.inc();
    m.lifecycle_expired.inc_by(expired);
    m.lifecycle_aborted.inc_by(aborted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn recorded_values_show_in_the_exposition() {
        s3_request("GetObject", 200, Duration::from_millis(3));
        s3_received(10);
        s3_sent(20);
        fuse_op("read", true, Duration::from_millis(1));
        store_commit(Duration::from_millis(2));
        store_group(3);
        let cache = std::sync::Arc::new(PageCache::new(1 << 20, 4096));
        register_cache(&cache);
        let text = render();
        assert!(
            value(&text, "ozfs_s3_requests_total{operation=\"GetObject\",status=\"200\"}").unwrap() >= 1.0,
            "{text}"
        );
        assert!(value(&text, "ozfs_s3_received_bytes_total").unwrap() >= 10.0);
        assert!(value(&text, "ozfs_s3_sent_bytes_total").unwrap() >= 20.0);
        assert!(value(&text, "ozfs_fuse_operations_total{op=\"read\",result=\"ok\"}").unwrap() >= 1.0);
        assert!(value(&text, "ozfs_store_commit_duration_seconds_count").unwrap() >= 1.0);
        assert!(value(&text, "ozfs_store_commit_groups_total").unwrap() >= 1.0, "{text}");
        assert!(
            value(&text, "ozfs_store_grouped_writes_total").unwrap() >= 3.0,
            "{text}"
        );
        assert!(value(&text, "ozfs_cache_budget_bytes").unwrap() >= (1 << 20) as f64);
        assert!(value(&text, "ozfs_cache_released_total").is_some(), "{text}");
        assert!(value(&text, "ozfs_cache_invalidated_total").is_some(), "{text}");
        assert!(value(&text, "ozfs_cache_protected_bytes").is_some(), "{text}");
        assert!(text.contains("# TYPE ozfs_s3_request_duration_seconds histogram"));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
