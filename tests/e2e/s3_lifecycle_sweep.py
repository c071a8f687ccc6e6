"""Lifecycle rules enforced by `ozfs serve`'s sweep (started with a short --lifecycle-interval
by tests/e2e/s3_serve.rs): an Expiration Date in the past removes the objects under the rule's
prefix, objects outside it stay, a disabled rule does nothing, and the metrics count it. The
harness never sleeps to synchronise: it polls the listing until a deadline."""

import time
import urllib.request

from s3_common import *  # noqa: F401,F403

c = client()
DEADLINE = 60


def keys(b, prefix=""):
    return [o["Key"] for o in c.list_objects_v2(Bucket=b, Prefix=prefix).get("Contents", [])]


def wait_until(cond, what):
    t0 = time.time()
    while time.time() - t0 < DEADLINE:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE}s: {what}")


@case
def expiration_date_in_the_past_removes_matching_objects():
    b = new_bucket(c, "lc")
    off = new_bucket(c, "lcoff")
    for k in ["old/a", "old/sub/b", "keep/c", "oldish"]:
        c.put_object(Bucket=b, Key=k, Body=b"x")
        c.put_object(Bucket=off, Key=k, Body=b"x")
    rule = {"ID": "past", "Filter": {"Prefix": "old/"}, "Status": "Enabled",
            "Expiration": {"Date": "2020-01-01T00:00:00Z"}}
    c.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [rule]})
    c.put_bucket_lifecycle_configuration(Bucket=off, LifecycleConfiguration={"Rules": [
        dict(rule, Status="Disabled")]})
    wait_until(lambda: keys(b, "old/") == [], "the expired objects are deleted")
    eq(keys(b), ["keep/c", "oldish"], "objects outside the prefix stay")
    # The disabled rule's bucket was swept too (the sweep covers every bucket each pass) and
    # kept everything: wait for one more pass of the enabled bucket to be sure it ran.
    c.put_object(Bucket=b, Key="old/late", Body=b"x")
    wait_until(lambda: keys(b, "old/") == [], "a key written later is expired by a later sweep")
    eq(keys(off), ["keep/c", "old/a", "old/sub/b", "oldish"], "a disabled rule deletes nothing")
    prom = urllib.request.urlopen(ENDPOINT + "/prom", timeout=10).read().decode()
    line = [x for x in prom.splitlines() if x.startswith("ozfs_lifecycle_expired_objects_total")]
    assert line and int(float(line[0].split()[-1])) >= 3, line


run()
