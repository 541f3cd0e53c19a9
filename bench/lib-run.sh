# lib-run.sh: shell helpers shared by bench/run-proxy.sh and bench/run-dubbo.sh (sourced, not run).

# cpu_ticks PID: user+system CPU of a process so far, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_port PORT [PID [LOG]]: wait up to 60 s (a cold Wasm compile on a busy machine is slow) for something to accept
# on 127.0.0.1:PORT; stop waiting, with LOG's tail, as soon as process PID has exited.
wait_port() {
	for _ in $(seq 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			echo "$(basename "$0"): process $2 exited before accepting on port $1" >&2
			[ -n "${3:-}" ] && tail -20 "$3" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "$(basename "$0"): nothing accepts on port $1 after 60 s" >&2
	[ -n "${3:-}" ] && tail -20 "$3" >&2
	return 1
}

# need_free PORT WHAT: stop the run when another process already accepts on 127.0.0.1:PORT, which would otherwise
# be measured in place of WHAT.
need_free() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0
	echo "$(basename "$0"): port 127.0.0.1:$1 for $2 is already taken by another process; nothing measured" >&2
	exit 1
}

# start_variant NAME PORT CMD: unless CMD is empty, check that PORT is free, start CMD (output in $work/NAME.log) and
# wait until it accepts on PORT. VPID is its process id, empty when there was no command.
start_variant() {
	VPID=""
	[ -n "$3" ] || return 0
	need_free "$2" "$1"
	$3 >"$work/$1.log" 2>&1 &
	VPID=$!
	wait_port "$2" "$VPID" "$work/$1.log"
}

# stop_variant: stop what start_variant started (and forget its id, so the scripts' cleanup cannot hit a reused one).
stop_variant() {
	[ -n "$VPID" ] || return 0
	kill "$VPID"
	wait "$VPID" 2>/dev/null || true
	VPID=""
}

# skipped NAME: true when $ONLY lists variants and NAME is not one of them.
skipped() { [ -n "${ONLY:-}" ] && [[ ! " $ONLY " == *" $1 "* ]]; }
