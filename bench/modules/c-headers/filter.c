// The proxy benchmark's header filter (host/engine/testdata/headers) in plain C with no SDK, so a run can put the
// host's own cost per stream beside a Go guest's: five request-header reads, one request header added, a local 403
// when x-deny is set, one response header added. Every callback the host may call is exported and does nothing
// beyond that, as an SDK's would. Built by bench/run-proxy.sh with Debian's clang-14 and wasi-libc
// (scripts/install-wasi-clang.sh) as a WASI reactor exporting malloc, the allocator the host returns values with.
#include <stdint.h>
#include <stdlib.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_get_header_map_value)
int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_len, char **val, size_t *val_len);
IMPORT(proxy_add_header_map_value)
int32_t proxy_add_header_map_value(int32_t map, const char *key, size_t key_len, const char *val, size_t val_len);
IMPORT(proxy_send_local_response)
int32_t proxy_send_local_response(int32_t code, const char *details, size_t details_len, const char *body,
                                  size_t body_len, const char *headers, size_t headers_len, int32_t grpc);

enum { request_headers = 0, response_headers = 2 };

EXPORT(proxy_abi_version_0_2_1) void abi_version(void) {}
EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}
EXPORT(proxy_on_vm_start) int32_t on_vm_start(int32_t root, int32_t size) { return 1; }
EXPORT(proxy_on_configure) int32_t on_configure(int32_t root, int32_t size) { return 1; }

static const struct {
	const char *name;
	size_t len;
} names[] = {{":path", 5}, {":method", 7}, {":authority", 10}, {"user-agent", 10}, {"x-deny", 6}};

EXPORT(proxy_on_request_headers) int32_t on_request_headers(int32_t id, int32_t n, int32_t eos) {
	int deny = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *v = NULL;
		size_t len = 0;
		if (proxy_get_header_map_value(request_headers, names[i].name, names[i].len, &v, &len) == 0) {
			deny |= i == 4 && len > 0;
			free(v);
		}
	}
	if (deny) {
		proxy_send_local_response(403, "denied", 6, "denied", 6, NULL, 0, -1);
		return 1; // pause: the local response answers the stream
	}
	proxy_add_header_map_value(request_headers, "x-wasm", 6, "seen", 4);
	return 0;
}

EXPORT(proxy_on_response_headers) int32_t on_response_headers(int32_t id, int32_t n, int32_t eos) {
	proxy_add_header_map_value(response_headers, "x-wasm-response", 15, "1", 1);
	return 0;
}

EXPORT(proxy_on_done) int32_t on_done(int32_t id) { return 1; }
EXPORT(proxy_on_log) void on_log(int32_t id) {}
EXPORT(proxy_on_delete) void on_delete(int32_t id) {}
