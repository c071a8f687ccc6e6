#!/usr/bin/env bash
# ozfs's Apache Ozone test harness: a one-JVM Ozone 2.2.0 cluster (MiniOzoneCluster: SCM, OM,
# one datanode, replication ONE) with an in-process S3 gateway on loopback ports. See README.md.
#
#   cluster.sh prepare          fetch Ozone with Maven (cached in ~/.m2) and compile the harness
#   cluster.sh run              start in the foreground; prints READY s3=http://127.0.0.1:<port> ...
#                               once a signed S3 PUT works; stops and deletes its data when stdin
#                               reaches EOF or on SIGTERM/SIGINT
#   cluster.sh sh ARGS...       the Ozone shell (`ozone sh ARGS`) against the cluster of this port base
#   cluster.sh ports            print the ports this port base uses
#
# Environment:
#   OZFS_OZONE_PORT_BASE  first of the 40 ports the cluster uses (default 15000); the S3 gateway
#                         listens on base+39. `run` refuses to start when any of them is taken.
#   OZFS_OZONE_WORK       cache and run directory (default ${TMPDIR:-/tmp}/ozfs-ozone); each run
#                         lives in $OZFS_OZONE_WORK/run-<base> and its data is deleted on stop
#   OZFS_OZONE_HEAP       JVM heap (default 1g)
#   OZFS_OZONE_M2         local Maven repository (default ~/.m2/repository)
#   JAVA, JAVAC, MVN      tools (default: from PATH)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${OZFS_OZONE_WORK:-${TMPDIR:-/tmp}/ozfs-ozone}
BASE=${OZFS_OZONE_PORT_BASE:-15000}
S3_PORT=$((BASE + 39))
RUN=$WORK/run-$BASE
JAVA=${JAVA:-java}
JAVAC=${JAVAC:-javac}
MVN=${MVN:-mvn}
HEAP=${OZFS_OZONE_HEAP:-1g}
M2=${OZFS_OZONE_M2:-$HOME/.m2/repository}
VERSION=2.2.0
CP=$WORK/classpath.txt
CLASSES=$WORK/classes

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }

need_tools() {
    local t missing=()
    for t in "$JAVA" "$JAVAC" "$MVN"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    if ((${#missing[@]})); then
        die "missing ${missing[*]}: install Java 17 and Maven (scripts/test-deps-ozone.sh does: apt-get install openjdk-17-jdk-headless maven)"
    fi
}

# Resolve Ozone's classpath with Maven and compile the main class; cached, serialised by a lock so
# two test runs starting together do not race.
prepare() {
    need_tools
    mkdir -p "$WORK"
    exec 9>"$WORK/prepare.lock"
    flock 9
    local repo=$M2
    local standin=$HERE/stand-in/hdds-hadoop-dependency-client-$VERSION.pom
    local installed=$repo/org/apache/ozone/hdds-hadoop-dependency-client/$VERSION/hdds-hadoop-dependency-client-$VERSION.pom
    # hdds-common 2.2.0's parent pom is not published on Maven Central: install our stand-in.
    if ! cmp -s "$standin" "$installed"; then
        say "installing the stand-in parent pom hdds-hadoop-dependency-client:$VERSION into $repo"
        rm -f "$(dirname "$installed")"/*.lastUpdated
        (cd "$WORK" && "$MVN" -B -q -Dstyle.color=never -Dmaven.repo.local="$repo" \
            org.apache.maven.plugins:maven-install-plugin:3.1.3:install-file \
            -Dfile="$standin" -DpomFile="$standin" -Dpackaging=pom) >&2
        rm -f "$CP"
    fi
    if [[ ! -s $CP || $HERE/pom.xml -nt $CP || $standin -nt $CP ]] || ! [[ -f $(cut -d: -f1 "$CP") ]]; then
        say "resolving Apache Ozone $VERSION with Maven (the first run downloads about 290 MB into $repo)"
        (cd "$HERE" && "$MVN" -B -q -Dstyle.color=never -Dmaven.repo.local="$repo" -Dozone.work="$WORK" \
            dependency:build-classpath -Dmdep.outputFile="$CP.new") >&2
        mv "$CP.new" "$CP"
    fi
    local src=$HERE/java/OzfsOzoneCluster.java
    if [[ ! -f $CLASSES/OzfsOzoneCluster.class || $src -nt $CLASSES/OzfsOzoneCluster.class || $CP -nt $CLASSES/OzfsOzoneCluster.class ]]; then
        say "compiling $src"
        mkdir -p "$CLASSES"
        "$JAVAC" -nowarn --release 17 -cp "$(cat "$CP")" -d "$CLASSES" "$src" >&2
    fi
    flock -u 9
}

ports_in_use() {
    # listening TCP ports in [BASE, BASE+40)
    ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' |
        awk -v lo="$BASE" -v hi="$((BASE + 40))" '$1 >= lo && $1 < hi' | sort -un | tr '\n' ' '
}

jvm_flags() {
    printf '%s\n' "-Xmx$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Xss512k \
        --add-opens=java.base/java.nio=ALL-UNNAMED \
        --add-opens=java.base/java.lang=ALL-UNNAMED \
        --add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
        --add-opens=java.base/java.util=ALL-UNNAMED \
        --add-opens=java.management/com.sun.jmx.mbeanserver=ALL-UNNAMED \
        --add-exports=java.management/com.sun.jmx.mbeanserver=ALL-UNNAMED \
        -Dorg.apache.ratis.thirdparty.io.netty.tryReflectionSetAccessible=true \
        "-Dlog4j.configuration=file:$HERE/log4j.properties" \
        "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
        "-Dozone.log.file=$RUN/ozone.log" \
        "-Dozone.audit.file=$RUN/audit.log" \
        "-Djava.io.tmpdir=$RUN/tmp" \
        "-Dtest.build.data=$RUN/data"
    # SCM resolves the local host name: give the JVM a hosts file when the system cannot.
    if ! getent hosts "$(hostname)" >/dev/null 2>&1; then
        printf '127.0.0.1 localhost %s\n' "$(hostname)" >"$RUN/hosts"
        echo "-Djdk.net.hosts.file=$RUN/hosts"
    fi
}

cmd=${1:-}
[[ -n $cmd ]] || die "usage: cluster.sh prepare|run|sh ARGS|ports"
shift
case "$cmd" in
    prepare)
        prepare
        ;;
    ports)
        echo "port base $BASE: ports $BASE..$((BASE + 39)); S3 gateway on $S3_PORT"
        ;;
    run)
        prepare
        busy=$(ports_in_use)
        [[ -z $busy ]] || die "ports in use: $busy(port base $BASE needs $BASE..$((BASE + 39)) free; set OZFS_OZONE_PORT_BASE)"
        # leftovers of a run that was SIGKILLed (a clean stop deletes them)
        rm -rf "$RUN"
        mkdir -p "$RUN/tmp" "$RUN/data" "$RUN/conf"
        mapfile -t FLAGS < <(jvm_flags)
        say "Ozone log: $RUN/ozone.log"
        # Ozone unpacks its RocksDB native libraries into the working directory
        cd "$RUN"
        exec "$JAVA" "${FLAGS[@]}" -cp "$CLASSES:$(cat "$CP")" OzfsOzoneCluster \
            --port-base "$BASE" --s3-port "$S3_PORT" --conf-dir "$RUN/conf" "$@"
        ;;
    sh)
        [[ -f $CP && -f $RUN/conf/ozone-site.xml ]] || die "no running cluster for port base $BASE ($RUN/conf/ozone-site.xml missing)"
        exec "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j.configuration=file:$HERE/log4j.properties" \
            "-Dozone.log.file=$RUN/shell.log" "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
            "-Dozone.audit.file=$RUN/shell-audit.log" \
            -cp "$RUN/conf:$(cat "$CP")" org.apache.hadoop.ozone.shell.OzoneShell "$@"
        ;;
    *)
        die "unknown command $cmd (prepare|run|sh|ports)"
        ;;
esac
