#!/usr/bin/env bash
# run-dubbo.sh: side-by-side Dubbo benchmark on loopback, in one run, reported as ratios (bench/dubbo.md).
#
# Variants, each its own process, measured one after the other in every round against the same providers
# (bin/dubbo-provider, test/dubbo-provider: GreetingService, v1 and v2): direct to the v1 provider; `wasmesh proxy`
# with a dubbo listener and no filter; with the Wasm dubbo-routing filter (samples/filters/dubbo-routing.json: a
# hash of x-user-id picks v1 or v2 and an attachment is set, so the request is encoded again); with the Wasm
# ratelimit filter (one rule on the Dubbo method, 1e9 per second: nothing is refused, every call takes a token
# with a compare-and-swap in shared data); with the Wasm auth filter (API key in the x-api-key attachment). Each
# Wasm filter runs with the default VM pool (pool_size 4) and with pool_size 16 (the -pool16 variants).
# Load: `loadgen dubbo` (bench/loadgen, host/dubbo's codec), $CONNS connections with $INFLIGHT requests in flight
# on each, closed loop, `greet("Alice")` with 3 attachments, $DURATION per variant after a $WARMUP warm-up, $ROUNDS
# rounds; medians are reported. Every answer is checked (OK status, "hello Alice from v..."); failures are errors.
# CPU per request: utime+stime of the proxy process from /proc/<pid>/stat before and after each run (for
# "direct", the provider's); RSS: the proxy's VmRSS after the run; Wasm VMs and MiB: the VMs the filter's pool holds
# after the run and their linear memory (wasmesh_wasm_vms, wasmesh_wasm_memory_bytes from the admin server).
# Ports: free loopback ports asked of the kernel at start; a port found taken stops the run.
#
#   bash bench/run-dubbo.sh            # ROUNDS=3 DURATION=10s WARMUP=2s CONNS=2 INFLIGHT=16 by default
#   ONLY="direct wasmesh-nofilter" ROUNDS=1 DURATION=3s bash bench/run-dubbo.sh
#   WASMESH_BIN=bin/wasmesh DUBBO_PROVIDER_BIN=bin/dubbo-provider bash bench/run-dubbo.sh   # prebuilt binaries
#   WASMESH_BASE_BIN=/tmp/wasmesh-old bash bench/run-dubbo.sh   # adds base-* variants: an older build, same rounds
#                                                               # (and a this-build vs base table on stderr)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-2}
INFLIGHT=${INFLIGHT:-16}
WARMUP=${WARMUP:-2s}
ONLY=${ONLY:-}
work=$(mktemp -d /tmp/wasmesh-bench-dubbo.XXXXXX)
pids=()
# VPID: the variant running when the script stops (start_variant in bench/lib-run.sh).
cleanup() { for p in "${pids[@]}" ${VPID:-}; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
source bench/lib-run.sh

echo "building into $work" >&2
if [ -n "${WASMESH_BIN:-}" ]; then cp "$WASMESH_BIN" "$work/wasmesh"; else go build -o "$work/wasmesh" ./cli/wasmesh; fi
if [ -n "${DUBBO_PROVIDER_BIN:-}" ]; then cp "$DUBBO_PROVIDER_BIN" "$work/dubbo-provider"; else go build -o "$work/dubbo-provider" ./test/dubbo-provider; fi
# WASMESH_BASE_BIN: a second build measured in the same rounds, each base-* variant right after its wasmesh-*
# counterpart (same configuration and port), for before/after ratios.
[ -n "${WASMESH_BASE_BIN:-}" ] && cp "$WASMESH_BASE_BIN" "$work/wasmesh-base"
go build -o "$work/loadgen" ./bench/loadgen
for f in auth ratelimit dubbo-routing; do "$work/wasmesh" build "filters/$f" -o "$work/$f.wasm" >/dev/null; done

read -r P_V1 P_V2 P_NONE P_ROUTE P_RL P_AUTH P_ROUTE16 P_RL16 P_AUTH16 P_ADMIN <<<"$("$work/loadgen" freeports -n 10)"
[ -n "$P_ADMIN" ] || { echo "run-dubbo.sh: could not get 10 free ports from loadgen freeports" >&2; exit 1; }

start_provider() { # label port
	need_free "$2" "provider $1"
	"$work/dubbo-provider" -listen "127.0.0.1:$2" -label "$1" >"$work/provider-$1.log" 2>&1 &
	pids+=($!)
}
start_provider v1 "$P_V1"
PID_v1=$!
start_provider v2 "$P_V2"

proxy_yaml() { # port filters-yaml
	cat <<YAML
admin: {address: 127.0.0.1:$P_ADMIN}
listeners:
- name: dubbo
  address: 127.0.0.1:$1
  protocol: dubbo
  filters: $2
  routes: [{name: greeter, match: {service: org.example.GreetingService}, cluster: dubbo-greeter-v1}]
clusters:
- {name: dubbo-greeter-v1, protocol: dubbo, endpoints: [{address: "127.0.0.1:$P_V1"}]}
- {name: dubbo-greeter-v2, protocol: dubbo, endpoints: [{address: "127.0.0.1:$P_V2"}]}
YAML
}
# The filters act on request headers only; options.callbacks says so (as run-proxy.sh does for HTTP).
wasm_filter() { # name config pool-size
	echo "{name: $1, kind: wasm, module: {url: \"file://$work/$1.wasm\"}, config: $2, options: {pool_size: $3, callbacks: [request_headers]}}"
}
routing=$(tr -d '\n' <samples/filters/dubbo-routing.json)
ratelimit='{domain: bench, rules: [{name: per-method, key: {source: dubbo_method}, limit_keys: [{value: "*", requests: 1000000000, per: second}]}]}'
auth='{consumers: [{name: bench, keys: [bench-key-0001]}]}'
proxy_yaml "$P_NONE" '[]' >"$work/none.yaml"
proxy_yaml "$P_ROUTE" "[$(wasm_filter dubbo-routing "$routing" 4)]" >"$work/route.yaml"
proxy_yaml "$P_RL" "[$(wasm_filter ratelimit "$ratelimit" 4)]" >"$work/ratelimit.yaml"
proxy_yaml "$P_AUTH" "[$(wasm_filter auth "$auth" 4)]" >"$work/auth.yaml"
proxy_yaml "$P_ROUTE16" "[$(wasm_filter dubbo-routing "$routing" 16)]" >"$work/route16.yaml"
proxy_yaml "$P_RL16" "[$(wasm_filter ratelimit "$ratelimit" 16)]" >"$work/ratelimit16.yaml"
proxy_yaml "$P_AUTH16" "[$(wasm_filter auth "$auth" 16)]" >"$work/auth16.yaml"

proxy="$work/wasmesh proxy --log-level warn --watch-interval 0 --wasm-cache-dir $work/cache -c"
# variant name | port | start command
variants=(
	"direct|$P_V1|"
	"wasmesh-nofilter|$P_NONE|$proxy $work/none.yaml"
	"wasmesh-wasm-dubbo-routing|$P_ROUTE|$proxy $work/route.yaml"
	"wasmesh-wasm-ratelimit|$P_RL|$proxy $work/ratelimit.yaml"
	"wasmesh-wasm-auth|$P_AUTH|$proxy $work/auth.yaml"
	"wasmesh-wasm-dubbo-routing-pool16|$P_ROUTE16|$proxy $work/route16.yaml"
	"wasmesh-wasm-ratelimit-pool16|$P_RL16|$proxy $work/ratelimit16.yaml"
	"wasmesh-wasm-auth-pool16|$P_AUTH16|$proxy $work/auth16.yaml"
)
if [ -n "${WASMESH_BASE_BIN:-}" ]; then
	with_base=()
	for v in "${variants[@]}"; do
		with_base+=("$v")
		IFS='|' read -r name port cmd <<<"$v"
		if [ -n "$cmd" ]; then with_base+=("base-${name#wasmesh-}|$port|${cmd/$work\/wasmesh /$work/wasmesh-base }"); fi
	done
	variants=("${with_base[@]}")
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# wasm_vms: the running proxy's Wasm VMs and their linear memory in bytes, from its admin server ("0 0" for direct).
wasm_vms() {
	[ -n "$VPID" ] || { echo 0 0; return; }
	curl -sf "http://127.0.0.1:$P_ADMIN/stats/prometheus" |
		awk '/^wasmesh_wasm_vms[{ ]/ {v += $NF} /^wasmesh_wasm_memory_bytes[{ ]/ {m += $NF} END {print v + 0, m + 0}'
}
wait_port "$P_V1"
wait_port "$P_V2"
load=(-c "$CONNS" -m "$INFLIGHT" -a x-api-key=bench-key-0001 -a x-user-id=u-42
	-a traceid=0af7651916cd43dd8448eb211c80319c -expect "hello Alice from v")
results="$work/results.txt"
for round in $(seq "$ROUNDS"); do
	for v in "${variants[@]}"; do
		IFS='|' read -r name port cmd <<<"$v"
		skipped "$name" && continue
		start_variant "$name" "$port" "$cmd"
		meas=${VPID:-$PID_v1} # the proxy, or for "direct" the provider
		"$work/loadgen" dubbo -addr "127.0.0.1:$port" "${load[@]}" -d "$WARMUP" >/dev/null # warm-up: connections, the pool's VMs
		c0=$(cpu_ticks "$meas")
		out=$("$work/loadgen" dubbo -addr "127.0.0.1:$port" "${load[@]}" -d "$DURATION")
		c1=$(cpu_ticks "$meas")
		echo "$round $name $((c1 - c0)) $(rss_kib "$meas") $(wasm_vms) $out" | tee -a "$results" >&2
		stop_variant
	done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import sys, json, statistics as st, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, name, ticks, rss, vms, wasm, js = line.split(" ", 6)
    r = json.loads(js)
    rows[name].append(dict(rps=r["rps"], p50=r["p50_us"], p99=r["p99_us"], p999=r["p999_us"], errs=r["errors"],
                           cpu_us=int(ticks) / int(sys.argv[2]) * 1e6 / max(r["requests"], 1), rss=int(rss) / 1024,
                           vms=float(vms), wasm=float(wasm) / 2**20))
med = {n: {k: st.median(r[k] for r in rs) for k in rs[0]} for n, rs in rows.items()}
base_direct = med.get("direct", {}).get("rps")
base_nf = med.get("wasmesh-nofilter", {}).get("rps")
print("| variant | req/s | × direct | × wasmesh no filter | p50 µs | p99 µs | p99.9 µs | CPU µs/req (proxy) | RSS MiB (proxy) | Wasm VMs | Wasm MiB | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, m in med.items():
    r = lambda b: f"{m['rps'] / b:.2f}" if b else "-"
    cpu = f"{m['cpu_us']:.1f}" + (" (upstream)" if n == "direct" else "")
    print(f"| {n} | {m['rps']:.0f} | {r(base_direct)} | {r(base_nf)} | {m['p50']:.0f} | {m['p99']:.0f} | {m['p999']:.0f} | {cpu} | {m['rss']:.0f} | {m['vms']:.0f} | {m['wasm']:.0f} | {m['errs']:.0f} |")
print(f"\n(medians of {len(next(iter(rows.values())))} rounds; for 'direct' the CPU and RSS columns are the v1 provider's)")
pairs = [(n, "base-" + n[len("wasmesh-"):]) for n in med if n.startswith("wasmesh-") and "base-" + n[len("wasmesh-"):] in med]
# The before/after table goes to standard error: standard output stays the one table bench/report parses.
if pairs:
    e = lambda *a: print(*a, file=sys.stderr)
    e("\n| variant: this build vs base | req/s × base | CPU µs/req this / base | × base CPU | p99 × base |")
    e("|---|---:|---:|---:|---:|")
    for n, b in pairs:
        m, o = med[n], med[b]
        e(f"| {n[len('wasmesh-'):]} | {m['rps'] / o['rps']:.2f} | {m['cpu_us']:.1f} / {o['cpu_us']:.1f} | {m['cpu_us'] / o['cpu_us']:.2f} | {m['p99'] / o['p99']:.2f} |")
PY
