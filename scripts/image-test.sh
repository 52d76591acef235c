#!/usr/bin/env bash
# make image-test: build the container image from Containerfile and smoke-test it on this
# machine, against the machine's own PostgreSQL and Redis:
#   migrate → a one-off `flask abacus status` → web (gunicorn) → GET /healthz and /readyz.
# Everything it starts (the web process, the working container, the test database) is
# stopped or removed on exit, success or not.
#
# Facts about the project's CI machine, not about users' (they build with the Containerfile's
# default base and `podman compose` / `docker compose`):
#   - No container registry is reachable, so the base image (BASE_IMAGE) is made here with
#     debootstrap from the machine's Debian mirror and `podman import`ed, once: later runs
#     reuse localhost/abacus-base:bookworm.
#   - HTTPS goes through a TLS-intercepting proxy whose CA is only in the host's
#     /etc/ssl/certs: without it pip in the build fails with CERTIFICATE_VERIFY_FAILED. That
#     folder is mounted read-only over the build's own during RUN steps (nothing of it lands in
#     the image); Debian's pip (the base's python3-venv) reads its ca-certificates.crt, so no
#     pip setting is needed.
#   - `podman run` fails here (setting rlimits is denied), so the image's commands run with
#     `buildah run --isolation chroot`, which does not apply the image's ENTRYPOINT, and is
#     given the image's USER and WORKDIR explicitly so it behaves like the image would.
#
# Settings (environment): IMAGE_TEST_PG (a PostgreSQL server URL without the database;
# default postgresql://postgres@127.0.0.1:5432), IMAGE_TEST_REDIS_URL (default
# redis://127.0.0.1:6379/13), IMAGE_TEST_TIMEOUT (seconds to wait for the web, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=localhost/abacus-base:bookworm
IMAGE=localhost/abacus:test
PG_SERVER=${IMAGE_TEST_PG:-postgresql://postgres@127.0.0.1:5432}
DB_NAME=abacus_image_test
REDIS_URL=${IMAGE_TEST_REDIS_URL:-redis://127.0.0.1:6379/13}
TIMEOUT=${IMAGE_TEST_TIMEOUT:-60}

export PGOPTIONS="-c client_min_messages=warning"  # no NOTICE for DROP … IF EXISTS
started=$(date +%s)
say() { echo "image-test: $*"; }
fail() { echo "image-test: FAILED: $*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap, apt-get and buildah's storage need it)"

# --- tools ------------------------------------------------------------------------------
missing=()
for tool in buildah podman debootstrap curl psql python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  packages=()
  for tool in "${missing[@]}"; do
    case "$tool" in
      psql) packages+=(postgresql-client) ;;
      *) packages+=("$tool") ;;
    esac
  done
  say "installing ${packages[*]}…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

work=$(mktemp -d /var/tmp/abacus-image-test.XXXXXX)
container=""
web_pid=""
web_log="$work/web.log"
pg_db_url="$PG_SERVER/$DB_NAME"

# Every process below $1, parents before children, by id.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

# Stop the web role the way `podman stop` would: SIGTERM to the image's own first process
# (gunicorn's master; below it are only buildah's chroot helpers), then wait. Whatever is
# left after $1 seconds (or if no master was found) is killed, the whole tree, by id.
# Sets web_stop: "clean" (exited 0 after SIGTERM) or what happened instead.
web_stop=""
stop_web() {
  [ -n "$web_pid" ] || return 0
  local grace=${1:-0} master="" pid args pids status
  for pid in $(descendants "$web_pid"); do
    args=$(ps -o args= -p "$pid" 2>/dev/null) || continue
    case "$args" in buildah*) ;; *) master=$pid; break ;; esac
  done
  web_stop="no process of the image was running"
  if [ -n "$master" ]; then
    kill -TERM "$master" 2>/dev/null || true
    for _ in $(seq 1 $(( grace * 5 ))); do
      kill -0 "$web_pid" 2>/dev/null || break
      sleep 0.2
    done
    web_stop="still running ${grace}s after SIGTERM"
  fi
  if ! kill -0 "$web_pid" 2>/dev/null; then
    status=0
    wait "$web_pid" 2>/dev/null || status=$?
    if [ "$status" -eq 0 ]; then web_stop="clean"; else web_stop="exited with status $status"; fi
  else
    pids="$(descendants "$web_pid" | tr '\n' ' ') $web_pid"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 1
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$web_pid" 2>/dev/null || true
  fi
  web_pid=""
}

cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && [ -s "$web_log" ]; then
    echo "image-test: last lines of the web log:" >&2
    tail -n 40 "$web_log" >&2
  fi
  stop_web 5
  [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1
  psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" \
    >/dev/null 2>&1
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Working containers a killed earlier run left behind (named by this script) go first: they
# would keep old images alive.
for stale in $(buildah containers --format '{{.ContainerName}}' | grep '^abacus-image-test-' || true); do
  buildah rm "$stale" >/dev/null 2>&1 || true
done

# --- base image (cached) -----------------------------------------------------------------
# The Debian mirror this machine's apt uses: the first `deb` source for the host's release
# (deb822 *.sources or one-line sources.list; disabled files are skipped by their suffix).
find_mirror() {
  local codename
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")
  {
    [ -f /etc/apt/sources.list ] && awk -v c="$codename" '
      $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == c) { print $i; exit } }' /etc/apt/sources.list
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v c="$codename" '
        function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " c " ") &&
                               uris != "") { split(uris, u, " "); print u[1]; found = 1 }
                           types = uris = suites = "" }
        /^[[:space:]]*$/ { flush(); if (found) exit; next }
        /^Types:/  { sub(/^Types:[[:space:]]*/, "");  types = $0 }
        /^URIs:/   { sub(/^URIs:[[:space:]]*/, "");   uris = $0 }
        /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
        END { if (!found) flush() }' "$f"
    done
  } 2>/dev/null | head -n 1
}

if podman image exists "$BASE_IMAGE"; then
  say "base image $BASE_IMAGE is cached"
else
  mirror=$(find_mirror || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  say "making base image $BASE_IMAGE with debootstrap from $mirror (about a minute)…"
  t=$(date +%s)
  rootfs="$work/rootfs"
  # minbase already has passwd (groupadd/useradd) and tzdata (zoneinfo); naming passwd keeps
  # the Containerfile's need visible. A failed debootstrap's log is in the rootfs.
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
      bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    tail -n 20 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    fail "debootstrap from $mirror failed"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  say "base image made in $(elapsed "$t")"
fi

# --- build ---------------------------------------------------------------------------------
say "building $IMAGE…"
t=$(date +%s)
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
# --format docker keeps the Containerfile's HEALTHCHECK (the OCI format has no field for it).
if ! buildah bud --isolation chroot --format docker --quiet \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -v /etc/ssl/certs:/etc/ssl/certs:ro \
    -f Containerfile -t "$IMAGE" . >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  fail "buildah bud failed"
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
# The last run's image lost its tag: remove it (by id) so runs don't pile up on disk.
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi
say "built in $(elapsed "$t"); image size $(( size / 1000000 )) MB"

user=$(buildah inspect --type image --format '{{.Docker.Config.User}}' "$IMAGE")
workdir=$(buildah inspect --type image --format '{{.Docker.Config.WorkingDir}}' "$IMAGE")
healthcheck=$(buildah inspect --type image --format '{{.Docker.Config.Healthcheck}}' "$IMAGE")
[ "$user" = "abacus" ] || fail "the image runs as '$user', expected the non-root user abacus"
[ -n "$workdir" ] || fail "the image has no WORKDIR"
case "$healthcheck" in *healthz*) ;; *) fail "the image has no HEALTHCHECK on /healthz" ;; esac

# --- run the image's roles ----------------------------------------------------------------
say "recreating database $DB_NAME"
psql -X -q -v ON_ERROR_STOP=1 "$PG_SERVER/postgres" \
  -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null \
  || fail "cannot recreate $DB_NAME on $PG_SERVER"

container=$(buildah from --pull=never --name "abacus-image-test-$$" "$IMAGE")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Production settings, as a deployment's .env would give them (sign-in values are dummies:
# nothing here signs in). The image's USER and WORKDIR are given explicitly.
run=(buildah run --isolation chroot --network host --user "$user" --workingdir "$workdir"
     --env ABACUS_ENV=production --env SECRET_KEY="$secret"
     --env DATABASE_URL="$pg_db_url" --env REDIS_URL="$REDIS_URL"
     --env ALLOWED_DOMAINS=example.com
     --env GOOGLE_CLIENT_ID=image-test.apps.googleusercontent.com
     --env GOOGLE_CLIENT_SECRET=image-test-secret
     --env PORT="$port" "$container" --)

# shellcheck disable=SC2016  # expanded inside the image, on purpose
whoami_in=$("${run[@]}" sh -c 'echo "$(id -un) $(pwd)"')
[ "$whoami_in" = "abacus $workdir" ] || fail "commands run as '$whoami_in', expected 'abacus $workdir'"

say "migrate…"
t=$(date +%s)
"${run[@]}" abacus-entrypoint migrate >"$work/migrate.log" 2>&1 \
  || { tail -n 40 "$work/migrate.log" >&2; fail "the migrate role failed"; }
say "migrated in $(elapsed "$t")"

say "one-off command: flask abacus status…"
"${run[@]}" abacus-entrypoint flask abacus status >"$work/status.log" 2>&1 \
  || { tail -n 40 "$work/status.log" >&2; fail "'flask abacus status' failed"; }
say "flask abacus status said: $(head -n 1 "$work/status.log")"

say "web on port $port…"
t=$(date +%s)
"${run[@]}" abacus-entrypoint web >"$web_log" 2>&1 &
web_pid=$!

# GET $1 into $work/body; prints the HTTP status (000 while nothing answers).
get() { curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port$1" || true; }

code=000
deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "$web_pid" 2>/dev/null || fail "the web role exited before answering"
  code=$(get /healthz)
  [ "$code" = 200 ] && break
  sleep 0.5
done
[ "$code" = 200 ] || fail "/healthz answered $code (body: $(cat "$work/body" 2>/dev/null)) after ${TIMEOUT}s"
say "/healthz 200 after $(elapsed "$t"): $(cat "$work/body")"

code=$(get /readyz)
body=$(cat "$work/body")
[ "$code" = 200 ] || fail "/readyz answered $code: $body"
python3 -c 'import json, sys; c = json.loads(sys.argv[1]); sys.exit(not c or any(v != "ok" for v in c.values()))' \
  "$body" || fail "/readyz is not ok: $body"
say "/readyz 200: $body"

t=$(date +%s)
stop_web 15
[ "$web_stop" = clean ] || fail "the web role did not stop cleanly on SIGTERM: $web_stop"
say "web stopped on SIGTERM in $(elapsed "$t")"
# Served is not enough: an error the web role logged (at start or on these requests) fails too.
if grep -qE '\[ERROR\]|Traceback' "$web_log"; then
  grep -E '\[ERROR\]|Traceback' "$web_log" | head -n 5 >&2
  fail "the web role logged errors"
fi
# --- compose.yaml ----------------------------------------------------------------------------
# No engine runs compose here, but its file can be checked: podman-compose (what
# `podman compose` runs) resolves it with the committed .env.example as the .env. Debian's
# podman-compose 1.0 has no `config`, so a pinned one is kept in a cached venv.
PODMAN_COMPOSE_VERSION=1.6.0
pc_venv="${XDG_CACHE_HOME:-$HOME/.cache}/abacus-image-test/podman-compose-$PODMAN_COMPOSE_VERSION"
if [ ! -x "$pc_venv/bin/podman-compose" ]; then
  say "installing podman-compose $PODMAN_COMPOSE_VERSION (once) to check compose.yaml…"
  python3 -m venv "$pc_venv" >/dev/null \
    && "$pc_venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION" >"$work/pc.log" 2>&1 \
    || { tail -n 5 "$work/pc.log" >&2; fail "could not install podman-compose"; }
fi
mkdir -p "$work/compose"
cp compose.yaml "$work/compose/compose.yaml"
cp .env.example "$work/compose/.env"
if ! (cd "$work/compose" && "$pc_venv/bin/podman-compose" -f compose.yaml config) \
    >"$work/compose.out" 2>&1; then
  tail -n 20 "$work/compose.out" >&2
  fail "podman-compose config refused compose.yaml"
fi
for service in postgres redis migrate web worker scheduler; do
  grep -q "^  $service:" "$work/compose.out" || fail "compose config has no service $service"
done
say "compose.yaml: podman-compose $PODMAN_COMPOSE_VERSION config resolves all six services"

say "OK (image $IMAGE, $(( size / 1000000 )) MB; total $(elapsed "$started"))"
