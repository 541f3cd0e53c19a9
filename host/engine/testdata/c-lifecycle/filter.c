// A C proxy-wasm filter for the lifecycle callbacks: proxy_on_validate_configuration, proxy_on_foreign_function
// with the call-data buffer, proxy_call_foreign_function, and proxy_on_done returning false until a later
// proxy_done. It reports what happened in shared data, which the test reads.
//
//   - configuration "invalid": proxy_on_validate_configuration says no; proxy_on_configure would trap on it.
//   - configuration "linger": the root context's proxy_on_done returns false.
//   - request path "/defer": the stream context's proxy_on_done returns false.
//   - request path "/foreign": calls the host's "echo" foreign function and adds its result as x-foreign.
//   - proxy_on_foreign_function(root, id, size): stores the call data under "foreign"; id 7 ends the deferred
//     stream context and id 8 the lingering root context with proxy_done.
//   - proxy_on_delete(id) stores id under "deleted".
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_get_buffer_bytes) int32_t proxy_get_buffer_bytes(int32_t type, int32_t start, int32_t max, char **ptr, size_t *len);
IMPORT(proxy_get_header_map_value) int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_len, char **val, size_t *val_len);
IMPORT(proxy_add_header_map_value) int32_t proxy_add_header_map_value(int32_t map, const char *key, size_t key_len, const char *val, size_t val_len);
IMPORT(proxy_set_shared_data) int32_t proxy_set_shared_data(const char *key, size_t key_len, const char *val, size_t val_len, uint32_t cas);
IMPORT(proxy_call_foreign_function) int32_t proxy_call_foreign_function(const char *name, size_t name_len, const char *args, size_t args_len, char **ret, size_t *ret_len);
IMPORT(proxy_set_effective_context) int32_t proxy_set_effective_context(int32_t id);
IMPORT(proxy_done) int32_t proxy_done(void);

EXPORT(proxy_abi_version_0_2_1) void abi_version(void) {}

static int32_t deferred_stream, lingering_root, linger_here;

static int config_is(int32_t size, const char *want) {
	char *cfg = NULL;
	size_t len = 0;
	int same = 0;
	if (size > 0 && proxy_get_buffer_bytes(7, 0, size, &cfg, &len) == 0) {
		same = len == strlen(want) && memcmp(cfg, want, len) == 0;
		free(cfg);
	}
	return same;
}

static void put(const char *key, const char *val, size_t len) {
	proxy_set_shared_data(key, strlen(key), val, len, 0);
}

EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}

EXPORT(proxy_on_validate_configuration) int32_t on_validate_configuration(int32_t root, int32_t size) {
	return !config_is(size, "invalid");
}

EXPORT(proxy_on_configure) int32_t on_configure(int32_t root, int32_t size) {
	if (config_is(size, "invalid")) {
		__builtin_trap(); // validation must have refused it first
	}
	if (config_is(size, "linger")) {
		linger_here = root;
	}
	return 1;
}

EXPORT(proxy_on_request_headers) int32_t on_request_headers(int32_t id, int32_t n, int32_t eos) {
	char *path = NULL;
	size_t len = 0;
	if (proxy_get_header_map_value(0, ":path", 5, &path, &len) != 0) {
		return 0;
	}
	if (len == 6 && memcmp(path, "/defer", 6) == 0) {
		deferred_stream = id;
	} else if (len == 8 && memcmp(path, "/foreign", 8) == 0) {
		char *ret = NULL;
		size_t ret_len = 0;
		if (proxy_call_foreign_function("echo", 4, "ping", 4, &ret, &ret_len) == 0) {
			proxy_add_header_map_value(0, "x-foreign", 9, ret, ret_len);
			free(ret);
		}
	}
	free(path);
	return 0;
}

EXPORT(proxy_on_done) int32_t on_done(int32_t id) {
	if (id == deferred_stream) {
		return 0;
	}
	if (id == linger_here) {
		lingering_root = id;
		return 0;
	}
	return 1;
}

EXPORT(proxy_on_delete) void on_delete(int32_t id) {
	put("deleted", (const char *)&id, sizeof id);
}

EXPORT(proxy_on_foreign_function) void on_foreign_function(int32_t root, int32_t fid, int32_t size) {
	char *data = NULL;
	size_t len = 0;
	if (size > 0 && proxy_get_buffer_bytes(8, 0, size, &data, &len) == 0) {
		put("foreign", data, len);
		free(data);
	}
	int32_t *target = fid == 7 ? &deferred_stream : fid == 8 ? &lingering_root : NULL;
	if (target != NULL && *target != 0) {
		proxy_set_effective_context(*target);
		int32_t st = proxy_done();
		put("done-status", (const char *)&st, sizeof st);
		*target = 0;
	}
}
