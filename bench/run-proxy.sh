#!/usr/bin/env bash
# run-proxy.sh: side-by-side proxy benchmark on loopback, in one run, reported as ratios (bench/proxy.md).
#
# Variants, each its own process, measured one after the other in every round against the same upstream (nginx,
# 1 worker, `return 200 "hello"`): direct to the upstream; nginx as reverse proxy (1 worker, upstream keepalive);
# Go's httputil.ReverseProxy; wasmesh with no filter, a native header filter, a native API-key filter, a Wasm
# header filter and the Wasm auth filter (API-key mode); and wasmesh with no filter on one core (GOMAXPROCS=1), the
# like-for-like comparison with nginx's single worker. wasmesh-wasm-header-c is the same header filter in C with no
# SDK (bench/modules/c-headers), built when Debian's clang-14 and wasi-libc are there or can be installed: its
# guest code costs next to nothing, so it shows what the host's path costs a Wasm filter.
# The *-post variants send 4 KiB POST bodies instead of GETs: wasmesh with no filter, and with a Wasm body filter
# (host/engine/testdata/body: holds the request body to its end and upper-cases it, appends to the response).
# Load: wrk, 1 thread, $CONNS connections, $DURATION per variant, $ROUNDS rounds; medians are reported.
# CPU per request: utime+stime of the proxy process from /proc/<pid>/stat, before and after each run.
# Ports: free loopback ports asked of the kernel at start (`loadgen freeports`), so the run does not clash with the
# operator's xDS port (18000) or another engineer's run; a port found taken before its variant starts stops the run.
#
#   bash bench/run-proxy.sh            # ROUNDS=3 DURATION=10s CONNS=50 by default
#   ONLY="nginx wasmesh-nofilter" ROUNDS=1 DURATION=3s bash bench/run-proxy.sh
#   WASMESH_BASE_BIN=/tmp/wasmesh-old bash bench/run-proxy.sh   # adds base-* variants: an older build, same run
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
ONLY=${ONLY:-}
NGINX=$(bash scripts/bench-install-nginx.sh | tail -1)
WRK=$(bash scripts/bench-install-wrk.sh | tail -1)
work=$(mktemp -d /tmp/wasmesh-bench.XXXXXX)
pids=()
# VPID: the variant running when the script stops (start_variant in bench/lib-run.sh).
cleanup() { for p in "${pids[@]}" ${VPID:-}; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
source bench/lib-run.sh

echo "building into $work" >&2
# WASMESH_BIN uses a prebuilt binary (e.g. from a clean checkout while the work tree is mid-change).
if [ -n "${WASMESH_BIN:-}" ]; then cp "$WASMESH_BIN" "$work/wasmesh"; else go build -o "$work/wasmesh" ./cli/wasmesh; fi
# WASMESH_BASE_BIN: a second build measured in the same rounds (base-* variants), for before/after ratios.
[ -n "${WASMESH_BASE_BIN:-}" ] && cp "$WASMESH_BASE_BIN" "$work/wasmesh-base"
go build -o "$work/loadgen" ./bench/loadgen
# Ports, in this order: upstream, nginx, reverseproxy, then one per wasmesh variant (nofilter, nofilter-1cpu,
# native-header, native-apikey, wasm-header, wasm-auth, nofilter-post, wasm-body-post, base-*, wasm-header-sdk024,
# wasm-header-c).
read -r P_UP P_NGINX P_RP P_NONE P_NONE1 P_HDR P_APIKEY P_WHDR P_WAUTH P_NONEPOST P_WBODY P_BNONE P_BWHDR P_BWAUTH P_WHDR24 \
	P_WHDRC <<<"$("$work/loadgen" freeports -n 16)"
[ -n "$P_WHDRC" ] || { echo "run-proxy.sh: could not get 16 free ports from loadgen freeports" >&2; exit 1; }
# The same header filter twice: on the successor Go SDK (github.com/proxy-wasm/proxy-wasm-go-sdk) and on
# tetratelabs' SDK v0.24.0, the filters' SDK; wasmesh build bridges both (the successor at the version it knows).
"$work/wasmesh" build host/engine/testdata/headers -o "$work/headers.wasm" >/dev/null
"$work/wasmesh" build host/engine/testdata/tetrate-minimal -o "$work/headers-sdk024.wasm" >/dev/null
"$work/wasmesh" build filters/auth -o "$work/auth.wasm" >/dev/null
"$work/wasmesh" build host/engine/testdata/body -o "$work/body.wasm" >/dev/null
c_header=""
if ! skipped wasmesh-wasm-header-c; then
	if bash scripts/install-wasi-clang.sh >"$work/clang-install.log" 2>&1; then
		clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wl,--export=malloc -Wl,--export=free \
			-o "$work/headers-c.wasm" bench/modules/c-headers/filter.c
		c_header=1
	else
		echo "run-proxy.sh: no clang-14/wasi-libc (scripts/install-wasi-clang.sh failed, see below): wasmesh-wasm-header-c is not measured" >&2
		tail -5 "$work/clang-install.log" >&2
	fi
fi

# Upstream and reference proxy: two nginx masters, one worker each, so their CPU is measured apart.
nginx_conf() { # name listen body
	mkdir -p "$work/$1"
	cat >"$work/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $work/$1; proxy_temp_path $work/$1; fastcgi_temp_path $work/$1;
  uwsgi_temp_path $work/$1; scgi_temp_path $work/$1;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$P_UP; keepalive 256; keepalive_requests 1000000; }
  server { listen $2; location / { $3 } }
}
CONF
}
nginx_conf upstream 127.0.0.1:$P_UP 'default_type text/plain; return 200 "hello";'
nginx_conf nginxproxy 127.0.0.1:$P_NGINX 'proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";'
need_free "$P_UP" upstream
"$NGINX" -c "$work/upstream/nginx.conf" -p "$work/upstream" & pids+=($!)

proxy_yaml() { # port filters-yaml
	cat <<YAML
listeners:
- name: http
  address: 127.0.0.1:$1
  filters: $2
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: upstream}
clusters:
- {name: upstream, endpoints: [{address: 127.0.0.1:$P_UP}], max_idle_per_endpoint: 1024}
YAML
}
proxy_yaml $P_NONE '[]' >"$work/none.yaml"
proxy_yaml $P_NONE1 '[]' >"$work/none1.yaml"
proxy_yaml $P_HDR '[{name: tag, kind: header, config: {request_set: {x-wasmesh: "1"}, response_set: {x-proxy: wasmesh}}}]' >"$work/header.yaml"
proxy_yaml $P_APIKEY '[{name: keys, kind: apikey, config: {keys: [bench-key-0001]}}]' >"$work/apikey.yaml"
proxy_yaml $P_WHDR "[{name: hdr, kind: wasm, module: {url: \"file://$work/headers.wasm\"}, options: {callbacks: [request_headers, response_headers]}}]" >"$work/wasmheader.yaml"
proxy_yaml $P_WHDR24 "[{name: hdr, kind: wasm, module: {url: \"file://$work/headers-sdk024.wasm\"}, options: {callbacks: [request_headers, response_headers]}}]" >"$work/wasmheader24.yaml"
proxy_yaml $P_WHDRC "[{name: hdr, kind: wasm, module: {url: \"file://$work/headers-c.wasm\"}, options: {callbacks: [request_headers, response_headers]}}]" >"$work/wasmheaderc.yaml"
proxy_yaml $P_WAUTH "[{name: auth, kind: wasm, module: {url: \"file://$work/auth.wasm\"}, config: {consumers: [{name: bench, keys: [bench-key-0001]}]}, options: {callbacks: [request_headers]}}]" >"$work/wasmauth.yaml"
proxy_yaml $P_NONEPOST '[]' >"$work/nonepost.yaml"
proxy_yaml $P_WBODY "[{name: body, kind: wasm, module: {url: \"file://$work/body.wasm\"}, options: {callbacks: [request_body, response_body]}}]" >"$work/wasmbody.yaml"

# variant name | port | start command
variants=(
	"direct|$P_UP|"
	"nginx|$P_NGINX|$NGINX -c $work/nginxproxy/nginx.conf -p $work/nginxproxy"
	"reverseproxy|$P_RP|$work/loadgen reverseproxy -listen 127.0.0.1:$P_RP -target http://127.0.0.1:$P_UP"
	"wasmesh-nofilter|$P_NONE|$work/wasmesh proxy -c $work/none.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-nofilter-1cpu|$P_NONE1|env GOMAXPROCS=1 $work/wasmesh proxy -c $work/none1.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-native-header|$P_HDR|$work/wasmesh proxy -c $work/header.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-native-apikey|$P_APIKEY|$work/wasmesh proxy -c $work/apikey.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-wasm-header|$P_WHDR|$work/wasmesh proxy -c $work/wasmheader.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-wasm-header-sdk024|$P_WHDR24|$work/wasmesh proxy -c $work/wasmheader24.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-wasm-auth|$P_WAUTH|$work/wasmesh proxy -c $work/wasmauth.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-nofilter-post|$P_NONEPOST|$work/wasmesh proxy -c $work/nonepost.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	"wasmesh-wasm-body-post|$P_WBODY|$work/wasmesh proxy -c $work/wasmbody.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
)
[ -n "$c_header" ] && variants+=(
	"wasmesh-wasm-header-c|$P_WHDRC|$work/wasmesh proxy -c $work/wasmheaderc.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache")
if [ -n "${WASMESH_BASE_BIN:-}" ]; then
	sed "s/:$P_NONE\$/:$P_BNONE/" "$work/none.yaml" >"$work/base-none.yaml"
	sed "s/:$P_WHDR\$/:$P_BWHDR/" "$work/wasmheader.yaml" >"$work/base-wasmheader.yaml"
	sed "s/:$P_WAUTH\$/:$P_BWAUTH/" "$work/wasmauth.yaml" >"$work/base-wasmauth.yaml"
	variants+=(
		"base-nofilter|$P_BNONE|$work/wasmesh-base proxy -c $work/base-none.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
		"base-wasm-header|$P_BWHDR|$work/wasmesh-base proxy -c $work/base-wasmheader.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
		"base-wasm-auth|$P_BWAUTH|$work/wasmesh-base proxy -c $work/base-wasmauth.yaml --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache"
	)
fi

cat >"$work/pct.lua" <<'LUA'
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", s.requests, s.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout + e.status))
end
LUA

{ echo 'wrk.method = "POST"'; echo 'wrk.body = string.rep("abcdefgh", 512)'; cat "$work/pct.lua"; } >"$work/post.lua"
printf 'wrk.method = "POST"\nwrk.body = string.rep("abcdefgh", 512)\n' >"$work/postwarm.lua"

wait_port "$P_UP"
results="$work/results.txt"
for round in $(seq "$ROUNDS"); do
	for v in "${variants[@]}"; do
		IFS='|' read -r name port cmd <<<"$v"
		skipped "$name" && continue
		start_variant "$name" "$port" "$cmd"
		# The process whose CPU counts: the proxy (nginx: its worker), or the upstream's worker for "direct".
		meas=$VPID
		[ "$name" = nginx ] && { sleep 0.2; meas=$(pgrep -P "$VPID" | head -1); }
		[ "$name" = direct ] && meas=$(pgrep -P "$(cat "$work/upstream/nginx.pid")" | head -1)
		hdr=(-H "x-api-key: bench-key-0001" -H "x-user: bench")
		script=pct.lua warm=()
		[[ $name == *-post ]] && script=post.lua warm=(-s "$work/postwarm.lua")
		"$WRK" -t1 -c"$CONNS" -d2s "${hdr[@]}" "${warm[@]}" "http://127.0.0.1:$port/" >/dev/null # warm-up
		c0=$(cpu_ticks "$meas")
		out=$("$WRK" -t1 -c"$CONNS" -d"$DURATION" "${hdr[@]}" -s "$work/$script" "http://127.0.0.1:$port/")
		c1=$(cpu_ticks "$meas")
		line=$(grep '^RESULT' <<<"$out")
		echo "$round $name $line $((c1 - c0))" | tee -a "$results" >&2
		stop_variant
	done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import sys, statistics as st, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, name, _, req, dur_us, p50, p99, p999, errs, ticks = line.split()
    req, dur = int(req), int(dur_us) / 1e6
    rows[name].append(dict(rps=req / dur, p50=int(p50), p99=int(p99), p999=int(p999), errs=int(errs),
                           cpu_us=int(ticks) / int(sys.argv[2]) * 1e6 / max(req, 1)))
med = {n: {k: st.median(r[k] for r in rs) for k in rs[0]} for n, rs in rows.items()}
base_nginx = med.get("nginx", {}).get("rps")
base_rp = med.get("reverseproxy", {}).get("rps")
base_nf = med.get("wasmesh-nofilter", {}).get("rps")
print("| variant | req/s | × nginx | × ReverseProxy | × wasmesh no filter | p50 µs | p99 µs | p99.9 µs | CPU µs/req (proxy) | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, m in med.items():
    r = lambda b: f"{m['rps'] / b:.2f}" if b else "-"
    print(f"| {n} | {m['rps']:.0f} | {r(base_nginx)} | {r(base_rp)} | {r(base_nf)} | {m['p50']:.0f} | {m['p99']:.0f} | {m['p999']:.0f} | {m['cpu_us']:.1f} | {m['errs']:.0f} |")
print(f"\n(medians of {len(next(iter(rows.values())))} rounds; for 'direct' the CPU column is the upstream's)")
PY
