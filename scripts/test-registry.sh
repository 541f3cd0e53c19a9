#!/bin/sh
# test-registry.sh runs Debian's docker-registry on loopback the way the oci tests do, for trying things by hand:
#   scripts/test-registry.sh [--tls] [--auth] [PORT]
# --tls   a self-signed certificate for 127.0.0.1 (trust it with --ca-file DIR/cert.pem)
# --auth  htpasswd basic auth, user "wasmesh", password printed (bcrypt cost 4)
# Everything lives in a temp directory printed at start and removed on exit. Ctrl-C stops it.
# The Go tests do not use this script: oci/registrytest starts its own instances.
set -eu

tls=0 auth=0 port=5000
for a in "$@"; do
	case "$a" in
	--tls) tls=1 ;;
	--auth) auth=1 ;;
	[0-9]*) port=$a ;;
	*) echo "usage: $0 [--tls] [--auth] [PORT]" >&2; exit 2 ;;
	esac
done
command -v docker-registry >/dev/null 2>&1 || { echo "docker-registry not found: run scripts/install-registry.sh" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/wasmesh-registry.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
extra=""
if [ "$tls" = 1 ]; then
	command -v openssl >/dev/null 2>&1 || { echo "--tls needs openssl" >&2; exit 1; }
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=wasmesh test registry" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	extra="  tls:
    certificate: $dir/cert.pem
    key: $dir/key.pem"
fi
authconf=""
if [ "$auth" = 1 ]; then
	command -v htpasswd >/dev/null 2>&1 || { echo "--auth needs htpasswd: run scripts/install-registry.sh" >&2; exit 1; }
	pass=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	htpasswd -Bbn -C 4 wasmesh "$pass" >"$dir/htpasswd"
	authconf="auth:
  htpasswd:
    realm: wasmesh-test
    path: $dir/htpasswd"
	echo "user wasmesh, password $pass"
fi
cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
$extra
$authconf
CONF
scheme=http
[ "$tls" = 1 ] && scheme=https
echo "registry on $scheme://127.0.0.1:$port (dir $dir)"
[ "$tls" = 1 ] && echo "trust it with: --ca-file $dir/cert.pem"
docker-registry serve "$dir/config.yml"
