// A proxy-wasm filter in plain C against wasi-libc, with no SDK: imports declared by hand, malloc as the
// allocator, built as a WASI reactor (_initialize). It answers /c-deny with a local 418, otherwise adds x-c (the
// path) and x-c-root (the plugin_root_id property); on_configure rejects the configuration "reject".
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) int32_t proxy_log(int32_t level, const char *msg, size_t len);
IMPORT(proxy_get_buffer_bytes) int32_t proxy_get_buffer_bytes(int32_t type, int32_t start, int32_t max, char **ptr, size_t *len);
IMPORT(proxy_get_header_map_value) int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_len, char **val, size_t *val_len);
IMPORT(proxy_add_header_map_value) int32_t proxy_add_header_map_value(int32_t map, const char *key, size_t key_len, const char *val, size_t val_len);
IMPORT(proxy_get_property) int32_t proxy_get_property(const char *path, size_t path_len, char **val, size_t *val_len);
IMPORT(proxy_send_local_response) int32_t proxy_send_local_response(int32_t code, const char *details, size_t details_len, const char *body, size_t body_len, const char *headers, size_t headers_len, int32_t grpc);

EXPORT(proxy_abi_version_0_2_1) void abi_version(void) {}

EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}

EXPORT(proxy_on_configure) int32_t on_configure(int32_t root, int32_t size) {
	char *cfg = NULL;
	size_t len = 0;
	if (size > 0 && proxy_get_buffer_bytes(7, 0, size, &cfg, &len) == 0) {
		int reject = len == 6 && memcmp(cfg, "reject", 6) == 0;
		free(cfg);
		if (reject) {
			static const char msg[] = "c filter: configuration rejected";
			proxy_log(4, msg, sizeof msg - 1);
			return 0;
		}
	}
	return 1;
}

EXPORT(proxy_on_request_headers) int32_t on_request_headers(int32_t id, int32_t n, int32_t eos) {
	char *path = NULL;
	size_t path_len = 0;
	if (proxy_get_header_map_value(0, ":path", 5, &path, &path_len) != 0) {
		return 0;
	}
	if (path_len == 7 && memcmp(path, "/c-deny", 7) == 0) {
		free(path);
		proxy_send_local_response(418, "c_deny", 6, "teapot", 6, NULL, 0, -1);
		return 1;
	}
	proxy_add_header_map_value(0, "x-c", 3, path, path_len);
	free(path);
	char *root = NULL;
	size_t root_len = 0;
	if (proxy_get_property("plugin_root_id", 14, &root, &root_len) == 0) {
		proxy_add_header_map_value(0, "x-c-root", 8, root, root_len);
		free(root);
	}
	return 0;
}

EXPORT(proxy_on_done) int32_t on_done(int32_t id) { return 1; }
EXPORT(proxy_on_delete) void on_delete(int32_t id) {}
