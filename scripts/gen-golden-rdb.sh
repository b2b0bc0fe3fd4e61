#!/usr/bin/env bash
# Regenerates the golden RDB fixtures in tests/fixtures/rdb/ from a real
# redis-server 7.0: for each fixture it loads a dataset, runs SAVE, and copies
# dump.rdb to <name>.rdb and what DEBUG DIGEST printed to <name>.digest.
# storage/tests/rdb_golden.rs loads each file into tandem and compares digests.
#
#   scripts/gen-golden-rdb.sh             regenerate every fixture
#   scripts/gen-golden-rdb.sh interop     check tandem's writer against redis:
#                                         writes a rich keyspace with tandem,
#                                         loads it in redis-server (with
#                                         sanitize-dump-payload yes), compares
#                                         DEBUG DIGEST, runs redis-check-rdb;
#                                         also refreshes legacy-v*.rdb, hand-
#                                         built files of the pre-7.0 types,
#                                         with the digest redis printed
#
# Needs redis-server/redis-cli 7.0.x and python3 (for the data, so that the
# fixtures are reproducible apart from the ctime/used-mem AUX fields). Uses
# port $PORT (default 7651) on 127.0.0.1 and a temporary directory; the server
# is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/tests/fixtures/rdb"
PORT=${PORT:-7651}
MODE=${1:-generate}

version=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
case "$version" in
  7.0.*) ;;
  *) echo "need redis-server 7.0.x, found '$version'" >&2; exit 1 ;;
esac

TMP=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

cli() { redis-cli -p "$PORT" "$@"; }

start_server() { # [dbfilename] [extra args...]
  local dbfile=${1:-dump.rdb}
  shift || true
  if cli ping >/dev/null 2>&1; then
    echo "port $PORT is already in use; set PORT" >&2
    exit 1
  fi
  redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --dbfilename "$dbfile" \
    --save '' --appendonly no --enable-debug-command yes --logfile "$TMP/redis.log" "$@" &
  PID=$!
  for _ in $(seq 1 100); do
    if cli ping >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "redis-server exited; log:" >&2
      cat "$TMP/redis.log" >&2
      PID=""
      return 1
    fi
    sleep 0.05
  done
  echo "redis-server did not answer PING" >&2
  return 1
}

stop_server() {
  if [ -n "$PID" ]; then
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}

# The datasets, as RESP commands on stdout, deterministic for a given name.
gen() {
  python3 - "$1" <<'PY'
import random, sys

name = sys.argv[1]
rnd = random.Random(name)
out = sys.stdout.buffer
FAR = 4102444800000  # 2100-01-01 in ms: expiries that stay in the future

def b(x):
    if isinstance(x, bytes):
        return x
    return str(x).encode()

def cmd(*args):
    args = [b(a) for a in args]
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))

def noise(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))

def text(n, word=b"hello world "):
    return (word * (n // len(word) + 1))[:n]

INTS = [0, 1, 127, 128, -1, 4095, -4096, 4096, -4097, 32767, -32768, 32768, -32769,
        8388607, -8388608, 8388608, -8388609, 2147483647, -2147483648, 2147483648,
        -2147483649, 9223372036854775807, -9223372036854775808]
ODD = [b"007", b"-0", b"+1", b" 1", b"1.5", b"0x10", b"12345678901234567890123"]

def strings():
    for v in INTS:
        cmd("SET", b"str:int:%d" % v, v)
    for i, v in enumerate(ODD):
        cmd("SET", b"str:odd:%d" % i, v)
    cmd("SET", "str:embstr", "hello")
    cmd("SET", "str:embstr44", text(44))
    cmd("SET", "str:raw45", noise(45))
    cmd("SET", "str:appended", "ab")
    cmd("APPEND", "str:appended", "cd")          # raw encoding, short
    cmd("SET", "str:setrange", "12")
    cmd("SETRANGE", "str:setrange", 2, "3")      # raw, looks like an int
    cmd("SET", "str:empty", "")
    cmd("SET", "", "the empty key")
    cmd("SET", 12345, "an integer key")
    cmd("SET", -7, "a negative integer key")
    cmd("SET", "str:lzf20", b"a" * 20)           # too short to compress
    cmd("SET", "str:lzf21", b"a" * 21)           # compressed
    cmd("SET", "str:lzf100k", text(100_000))
    cmd("SET", "str:noise", noise(30_000))       # incompressible
    cmd("SET", "str:binary", bytes(range(256)) * 3)
    cmd("SET", "str:utf8", "h\u00e9llo w\u00f6rld \u2603".encode())
    cmd("SET", "str:ttl", "expires", "PXAT", FAR)
    cmd("SET", "str:ttl-int", 99, "PXAT", FAR + 1)
    cmd("SELECT", 5)
    cmd("SET", "db5:a", "in db 5")
    cmd("SET", "db5:n", 42, "PXAT", FAR)

def lists():
    cmd("RPUSH", "list:small", "a", "b", "c")
    cmd("PEXPIREAT", "list:small", FAR)
    cmd("RPUSH", "list:ints", *INTS, *ODD)
    cmd("RPUSH", "list:empty-elements", "", "", "x")
    cmd("RPUSH", "list:big", *[b"item:%05d" % i for i in range(3000)])
    cmd("RPUSH", "list:big-elements", noise(20_000), b"small", noise(9_000))
    cmd("RPUSH", "list:binary", *[bytes([i]) for i in range(256)])
    cmd("LPUSH", "list:lpushed", *[i * 37 for i in range(500)])
    # Inner nodes LZF-compressed in memory (saved as LZF blobs).
    cmd("CONFIG", "SET", "list-compress-depth", 1)
    cmd("RPUSH", "list:compressed", *[text(40 + i % 30, b"compress me ") for i in range(2000)])
    cmd("CONFIG", "SET", "list-compress-depth", 0)
    # PLAIN quicklist nodes (7.0 makes them only past packed_threshold).
    cmd("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 1000)
    cmd("RPUSH", "list:plain", "small", text(1500), "small2", noise(3000), 7)
    cmd("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 0)
    cmd("SELECT", 2)
    cmd("RPUSH", "db2:list", "x", "y", "z")

def collections():
    cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")   # FREQ opcodes
    cmd("SADD", "set:int16", 1, 2, 3, -5, 32767, -32768)
    cmd("SADD", "set:int32", 1, 100000, -100000, 2147483647)
    cmd("SADD", "set:int64", 1, 5000000000, -9223372036854775808, 9223372036854775807)
    cmd("SADD", "set:ints-hashtable", *range(0, 1200, 2))      # 600 > 512
    cmd("SADD", "set:strings", "a", "b", "c")
    cmd("SADD", "set:mixed", 1, 2, "x")
    cmd("SADD", "set:one", 42)
    cmd("SADD", "set:empty-member", "")
    cmd("SADD", "set:big", *[b"member:%d" % i for i in range(1000)])
    cmd("SADD", "set:noncanonical", "007", "-0", "+1")
    cmd("PEXPIREAT", "set:int16", FAR)
    cmd("ZADD", "zset:small", 1, "a", 2, "b", 3, "c")
    cmd("ZADD", "zset:frac", 1.5, "a", 0.1, "b", -2.25, "c", "3.3333333333333335", "d",
        "1e-300", "e", "5e-324", "f", "0.30000000000000004", "g")
    cmd("ZADD", "zset:inf", "+inf", "a", "-inf", "b", 0, "c")
    cmd("ZADD", "zset:negzero", "-0", "a", "0", "b")
    cmd("ZADD", "zset:bigscores", "1e300", "a", "4611686018427387904", "b",
        "4611686018427387903", "c", "9007199254740993", "d", "-4611686018427387904", "e",
        "1e17", "f", "123456789012345680000", "g")
    cmd("ZADD", "zset:intmembers", 1, 1, 2, 300, 3, -70000, 4, "007")
    args = []
    for i in range(200):
        args += [i * 1.5 - 100, b"m%d" % i]
    cmd("ZADD", "zset:skiplist", *args)
    cmd("ZADD", "zset:longmember", 1, text(100), 2, "short")
    args = ["-0", "negzero", "+inf", "top", "-inf", "bottom", "0.1", "tenth"]
    for i in range(130):
        args += [i, b"n%d" % i]
    cmd("ZADD", "zset:skiplist-special", *args)
    cmd("PEXPIREAT", "zset:small", FAR)
    cmd("HSET", "hash:small", "f1", "v1", "f2", "v2")
    cmd("HSET", "hash:ints", 1, 2, 300, -70000, "f", 12345678901, "g", -1)
    cmd("HSET", "hash:big", *sum(([b"field:%d" % i, b"value:%d" % (i * 7)] for i in range(1000)), []))
    cmd("HSET", "hash:longvalue", "f", text(100), "g", "short")
    cmd("HSET", "hash:empty", "", "", "e", "")
    cmd("HSET", "hash:binary", b"\x00\xff", b"\xff\x00", b"\r\n", b"\n")
    cmd("PEXPIREAT", "hash:small", FAR)
    cmd("SELECT", 1)
    cmd("SADD", "db1:set", "x")
    cmd("ZADD", "db1:zset", 1, "x")
    cmd("HSET", "db1:hash", "x", "y")

def everything():
    cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")   # IDLE opcodes
    cmd("FUNCTION", "LOAD",
        "#!lua name=goldenlib\nredis.register_function('golden', function() return 1 end)")
    for db in (0, 1, 9, 15):
        cmd("SELECT", db)
        p = b"db%d:" % db
        cmd("SET", p + b"str", "value")
        cmd("SET", p + b"int", db * 1000 - 7)
        cmd("SET", p + b"lzf", text(500))
        cmd("SET", p + b"ttl", "v", "PXAT", FAR + db)
        cmd("RPUSH", p + b"list", *[b"e%d" % i for i in range(50)], *INTS)
        cmd("RPUSH", p + b"biglist", *[text(100 + i % 50) for i in range(400)])
        cmd("SADD", p + b"intset", *range(-50, 50))
        cmd("SADD", p + b"set", *[b"s%d" % i for i in range(20)])
        cmd("ZADD", p + b"zset", *sum(([i / 4, b"z%d" % i] for i in range(30)), []))
        cmd("ZADD", p + b"bigzset", *sum(([i * 3, b"big%d" % i] for i in range(300)), []))
        cmd("HSET", p + b"hash", *sum(([b"f%d" % i, i] for i in range(20)), []))
        cmd("HSET", p + b"bighash", *sum(([b"f%d" % i, text(i % 90)] for i in range(700)), []))
        cmd("PEXPIREAT", p + b"hash", FAR)
        cmd("PEXPIREAT", p + b"bigzset", FAR)

def uncompressed():
    # The server runs with rdbcompression no and rdbchecksum no (a zero trailer).
    cmd("SET", "plain:long", text(1000))
    cmd("SET", "plain:int", 1234)
    cmd("RPUSH", "plain:list", *[text(60) for _ in range(300)])
    cmd("HSET", "plain:hash", "f", text(30), "g", 5)
    cmd("SADD", "plain:intset", 1, 2, 3)
    cmd("ZADD", "plain:zset", 1.25, text(30))

def stream():
    cmd("SET", "before", "the stream")
    cmd("XADD", "mystream", "1-1", "field", "value")

{"strings": strings, "lists": lists, "collections": collections,
 "everything": everything, "uncompressed": uncompressed, "stream": stream}[name]()
PY
}

# Server options per fixture.
fixture_args() {
  case "$1" in
    uncompressed) echo "--rdbcompression no --rdbchecksum no" ;;
    *) echo "" ;;
  esac
}

encodings() { # one line per key: db, encoding, key
  local db
  for db in $(seq 0 15); do
    cli -n "$db" --scan | sort | while IFS= read -r key; do
      printf '  db%-2s %-10s %s\n' "$db" "$(cli -n "$db" object encoding "$key")" "$key"
    done
  done
}

generate() {
  mkdir -p "$OUT"
  for name in strings lists collections everything uncompressed stream; do
    rm -f "$TMP/dump.rdb"
    # shellcheck disable=SC2046
    start_server dump.rdb $(fixture_args "$name")
    report=$(gen "$name" | cli --pipe)
    if ! grep -q 'errors: 0,' <<<"$report"; then
      echo "$name: some commands failed: $report" >&2
      exit 1
    fi
    cli save >/dev/null
    cp "$TMP/dump.rdb" "$OUT/$name.rdb"
    cli debug digest >"$OUT/$name.digest"
    echo "$name: $(wc -c <"$OUT/$name.rdb") bytes, digest $(cat "$OUT/$name.digest")"
    if [ -n "${VERBOSE:-}" ]; then encodings; fi
    stop_server
  done
  # Each fixture must also load back into redis-server with the same digest.
  for name in strings lists collections everything uncompressed stream; do
    cp "$OUT/$name.rdb" "$TMP/check.rdb"
    start_server check.rdb --sanitize-dump-payload yes
    got=$(cli debug digest)
    stop_server
    if [ "$got" != "$(cat "$OUT/$name.digest")" ]; then
      echo "$name: reloaded digest $got differs" >&2
      exit 1
    fi
    redis-check-rdb "$OUT/$name.rdb" >/dev/null
  done
  echo "all fixtures reload with their digests and pass redis-check-rdb"
}

interop() {
  local dir="$TMP/interop"
  mkdir -p "$dir"
  RDB_INTEROP_DIR="$dir" cargo test -q -p tandem-storage --test rdb_interop -- \
    --ignored --nocapture write_rich_keyspace_for_redis
  for f in "$dir"/*.rdb; do
    local name
    name=$(basename "$f" .rdb)
    echo "== $name ($(wc -c <"$f") bytes)"
    redis-check-rdb "$f" | grep -E 'Checksum|looks OK|keys read' | sed 's/^/   /'
    cp "$f" "$TMP/$name.rdb"
    start_server "$name.rdb" --sanitize-dump-payload yes
    local want got
    want=$(cat "$dir/$name.digest")
    got=$(cli debug digest)
    echo "   tandem digest $want"
    echo "   redis  digest $got"
    echo "   redis keys: $(cli info keyspace | grep '^db' | tr '\r\n' '  ')"
    if [ -n "${VERBOSE:-}" ]; then encodings; fi
    stop_server
    if [ "$want" != "$got" ]; then
      echo "$name: digests differ" >&2
      exit 1
    fi
    case "$name" in
      legacy-*) # Redis 7.0 cannot write these types: keep the hand-built
                # file with the digest redis-server printed for it.
        cp "$f" "$OUT/$name.rdb"
        echo "$got" >"$OUT/$name.digest" ;;
    esac
  done
  echo "redis-server loaded every tandem file with the same digest"
}

case "$MODE" in
  generate) generate ;;
  interop) interop ;;
  *) echo "usage: $0 [generate|interop]" >&2; exit 2 ;;
esac
