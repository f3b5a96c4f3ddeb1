#!/usr/bin/env bash
# Builds deploy/Dockerfile and runs the image as an operator would: `init` into the image's two
# volumes, `start`, a TLS connection that negotiates the NTF ALPN, `docker stop` (SIGTERM) with
# exit code 0 before the stop timeout, and a second start of the same container on the same
# volumes. The server runs as the image's user (uid 10001), never root.
#
# Skips (exit 0, a SKIPPED line) when no container engine answers (`docker info`), or when the
# base images cannot be had. Where Docker Hub is out of reach, NTF_LOCAL_BASES=1 makes the two
# base images from Debian's packages first: debootstrap bookworm for the run stage, and on it
# rustc-web/cargo-web (bookworm-security) for the build stage, trusting the machine's extra CAs
# (/usr/local/share/ca-certificates) so that cargo reaches crates.io through the same proxy.
#
#   bash deploy/test-container.sh                     # Docker Hub's rust:1-bookworm, debian:bookworm-slim
#   NTF_LOCAL_BASES=1 bash deploy/test-container.sh   # local base images (needs debootstrap, root)
#   NTF_IMAGE=ntf-server bash deploy/test-container.sh   # an image built before: run checks only
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deploy/test-container.sh: $*"; }
skip() {
  say "SKIPPED: $*"
  exit 0
}

docker info >/dev/null 2>&1 || skip "no container engine answers (docker info failed)"

tag="${NTF_IMAGE:-ntf-server:test-$$}"
build_args=()
if [ -n "${NTF_IMAGE:-}" ]; then
  docker image inspect "$tag" >/dev/null 2>&1 || skip "no image $tag"
elif [ "${NTF_LOCAL_BASES:-0}" = 1 ]; then
  work=$(mktemp -d)
  if ! docker image inspect local/bookworm:base >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || skip "NTF_LOCAL_BASES=1 needs debootstrap (apt-get install debootstrap)"
    say "making local/bookworm:base with debootstrap"
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
    tar -C "$work/rootfs" -c . | docker import - local/bookworm:base >/dev/null
  fi
  if ! docker image inspect local/rust-bookworm >/dev/null 2>&1; then
    say "making local/rust-bookworm (rustc-web, cargo-web)"
    mkdir -p "$work/ctx"
    cp /usr/local/share/ca-certificates/*.crt "$work/ctx/" 2>/dev/null || touch "$work/ctx/none.crt"
    cat >"$work/ctx/Dockerfile" <<'EOF'
FROM local/bookworm:base
COPY *.crt /usr/local/share/ca-certificates/
RUN echo 'deb http://deb.debian.org/debian-security bookworm-security main' >> /etc/apt/sources.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends cargo-web rustc-web gcc libc6-dev libssl-dev pkg-config ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && update-ca-certificates
EOF
    docker build -q --network host -t local/rust-bookworm "$work/ctx" >/dev/null
  fi
  rm -rf "$work"
  build_args=(--build-arg BUILD_IMAGE=local/rust-bookworm --build-arg RUN_IMAGE=local/bookworm:base)
else
  for base in rust:1-bookworm debian:bookworm-slim; do
    docker image inspect "$base" >/dev/null 2>&1 || docker pull -q "$base" >/dev/null 2>&1 \
      || skip "base image $base cannot be pulled (set NTF_LOCAL_BASES=1 to make local ones)"
  done
fi

etc="ntf-test-etc-$$"
var="ntf-test-var-$$"
cid=""
cleanup() {
  [ -n "$cid" ] && docker rm -f "$cid" >/dev/null 2>&1
  docker volume rm -f "$etc" "$var" >/dev/null 2>&1
  [ -n "${NTF_IMAGE:-}" ] || docker image rm -f "$tag" >/dev/null 2>&1
  true
}
trap cleanup EXIT

fail() {
  say "FAILED: $*"
  [ -n "$cid" ] && docker logs "$cid" 2>&1 | tail -20
  exit 1
}

if [ -z "${NTF_IMAGE:-}" ]; then
  t0=$(date +%s)
  say "building $tag from deploy/Dockerfile ${build_args[*]}"
  docker build -q --network host -f deploy/Dockerfile "${build_args[@]}" -t "$tag" . >/dev/null || fail "docker build"
  say "built in $(($(date +%s) - t0)) s"
fi

[ "$(docker image inspect -f '{{.Config.User}}' "$tag")" = ntf ] || fail "the image's USER is not ntf"

# a free port on loopback; host networking, so that no address but loopback is used
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    port=$p
    break
  fi
done
[ -n "$port" ] || fail "no free port"

vols=(-v "$etc:/etc/opt/simplex-notifications" -v "$var:/var/opt/simplex-notifications")
out=$(docker run --rm --network none "${vols[@]}" "$tag" init --port "$port") || fail "init: $out"
grep -q "^Server address: ntf://.*@<hostnames>:$port$" <<<"$out" || fail "init printed: $out"
say "init into the volumes: $(grep '^Server address' <<<"$out")"

cid=$(docker run -d --network host --stop-timeout 20 "${vols[@]}" "$tag") || fail "docker run"

# the n-th start printed its "Serving" line
wait_serving() {
  for _ in $(seq 1 100); do
    if [ "$(docker logs "$cid" 2>/dev/null | grep -c "Serving NTF protocol on port $port (TLS)")" -ge "$1" ]; then
      return 0
    fi
    sleep 0.2
  done
  fail "no 'Serving NTF protocol on port $port' line"
}

check_tls() {
  local hello
  hello=$(openssl s_client -connect "127.0.0.1:$port" -alpn ntf/1 -tls1_3 </dev/null 2>&1 | tr -d '\000') || true
  grep -q "ALPN protocol: ntf/1" <<<"$hello" || fail "no TLS 1.3 with ALPN ntf/1 on 127.0.0.1:$port: $(tail -5 <<<"$hello")"
}

stop_cleanly() {
  local t exit_code
  t=$(date +%s)
  docker stop "$cid" >/dev/null
  exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
  [ "$exit_code" = 0 ] || fail "exit code $exit_code after docker stop (137: killed after the stop timeout)"
  say "docker stop: exit 0 in $(($(date +%s) - t)) s"
}

wait_serving 1
[ "$(docker exec "$cid" id -u)" = 10001 ] || fail "the server does not run as uid 10001"
# the process as the host sees it (docker top needs the pid column)
owner=$(docker top "$cid" -o pid,uid,args | awk 'NR > 1 && /ntf-server/ {print $2}')
[ "$owner" = 10001 ] || fail "ntf-server runs as uid '$owner' on the host, not 10001"
check_tls
say "serving on 127.0.0.1:$port as uid 10001, TLS 1.3 with ALPN ntf/1"
docker exec "$cid" test -s /var/opt/simplex-notifications/ntf-store.db || fail "no store in the state volume"
stop_cleanly

# the same container and volumes again: the identity and state are kept
docker start "$cid" >/dev/null
wait_serving 2
check_tls
stop_cleanly

echo "container: 1 passed, 0 failed"
