#!/usr/bin/env bash
# Tools of the Ozone tests (tests/e2e/ozone.rs, harness in tests/ozone/): Java 17 (java, javac)
# and Maven, which fetches Apache Ozone 2.2.0 from Maven Central on the first run.
set -euo pipefail
need=()
command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if ((${#need[@]})); then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
# print the first lines without a pipe into head (with pipefail, mvn dying of SIGPIPE failed the script)
v=$(java -version 2>&1); echo "${v%%$'\n'*}"
v=$(mvn -v 2>&1); echo "${v%%$'\n'*}"
