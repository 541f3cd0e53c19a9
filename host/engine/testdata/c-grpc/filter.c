// A C proxy-wasm filter for streaming gRPC: proxy_grpc_stream/send/close/cancel and the four receive callbacks.
// It writes what it received, in order, to the shared-data key "log" (the test reads it):
//   I:<x-md initial metadata> M:<message> T:<x-md trailing metadata> C:<status>
//
//   - request path "/stream": opens a stream and sends "one"; when "echo:one" comes back it sends "two" with
//     end_of_stream.
//   - "/halfclose": opens a stream, sends "solo", and half-closes it with proxy_grpc_close.
//   - "/cancel": opens a stream, sends "gone" and cancels it at once: nothing may arrive afterwards.
//   - "/open": opens a stream and leaves it open.
//   - "/nostream": opens a stream and stores proxy_grpc_stream's status under "open-status".
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_get_buffer_bytes) int32_t proxy_get_buffer_bytes(int32_t type, int32_t start, int32_t max, char **ptr, size_t *len);
IMPORT(proxy_get_header_map_value) int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_len, char **val, size_t *val_len);
IMPORT(proxy_set_shared_data) int32_t proxy_set_shared_data(const char *key, size_t key_len, const char *val, size_t val_len, uint32_t cas);
IMPORT(proxy_grpc_stream) int32_t proxy_grpc_stream(const char *up, size_t up_len, const char *svc, size_t svc_len, const char *method, size_t method_len, const char *md, size_t md_len, uint32_t *token);
IMPORT(proxy_grpc_send) int32_t proxy_grpc_send(uint32_t token, const char *msg, size_t len, int32_t end_of_stream);
IMPORT(proxy_grpc_close) int32_t proxy_grpc_close(uint32_t token);
IMPORT(proxy_grpc_cancel) int32_t proxy_grpc_cancel(uint32_t token);

EXPORT(proxy_abi_version_0_2_1) void abi_version(void) {}

static char log_buf[1024];
static size_t log_len;

static void note(const char *prefix, const char *s, size_t n) {
	size_t p = strlen(prefix);
	if (log_len + p + n + 1 > sizeof log_buf) {
		return;
	}
	memcpy(log_buf + log_len, prefix, p);
	log_len += p;
	memcpy(log_buf + log_len, s, n);
	log_len += n;
	log_buf[log_len++] = ' ';
	proxy_set_shared_data("log", 3, log_buf, log_len, 0);
}

static uint32_t open_stream(int32_t *status) {
	uint32_t token = 0;
	*status = proxy_grpc_stream("grpc-cluster", 12, "echo.Echo", 9, "Chat", 4, NULL, 0, &token);
	return token;
}

EXPORT(proxy_on_context_create) void on_context_create(int32_t id, int32_t parent) {}

EXPORT(proxy_on_request_headers) int32_t on_request_headers(int32_t id, int32_t n, int32_t eos) {
	char *path = NULL;
	size_t len = 0;
	if (proxy_get_header_map_value(0, ":path", 5, &path, &len) != 0) {
		return 0;
	}
	int32_t st = 0;
	if (len == 7 && memcmp(path, "/stream", 7) == 0) {
		uint32_t t = open_stream(&st);
		proxy_grpc_send(t, "one", 3, 0);
	} else if (len == 10 && memcmp(path, "/halfclose", 10) == 0) {
		uint32_t t = open_stream(&st);
		proxy_grpc_send(t, "solo", 4, 0);
		proxy_grpc_close(t);
	} else if (len == 7 && memcmp(path, "/cancel", 7) == 0) {
		uint32_t t = open_stream(&st);
		proxy_grpc_send(t, "gone", 4, 0);
		proxy_grpc_cancel(t);
	} else if (len == 5 && memcmp(path, "/open", 5) == 0) {
		open_stream(&st);
	} else if (len == 9 && memcmp(path, "/nostream", 9) == 0) {
		open_stream(&st);
		proxy_set_shared_data("open-status", 11, (const char *)&st, sizeof st, 0);
	}
	free(path);
	return 0;
}

static void note_md(const char *prefix, int32_t map) {
	char *v = NULL;
	size_t n = 0;
	if (proxy_get_header_map_value(map, "x-md", 4, &v, &n) == 0) {
		note(prefix, v, n);
		free(v);
	} else {
		note(prefix, "", 0);
	}
}

EXPORT(proxy_on_grpc_receive_initial_metadata) void on_initial(int32_t root, uint32_t token, int32_t n) {
	note_md("I:", 4);
}

EXPORT(proxy_on_grpc_receive) void on_receive(int32_t root, uint32_t token, int32_t size) {
	char *msg = NULL;
	size_t n = 0;
	if (proxy_get_buffer_bytes(5, 0, size, &msg, &n) != 0) {
		note("M:", "?", 1);
		return;
	}
	note("M:", msg, n);
	if (n == 8 && memcmp(msg, "echo:one", 8) == 0) {
		proxy_grpc_send(token, "two", 3, 1);
	}
	free(msg);
}

EXPORT(proxy_on_grpc_receive_trailing_metadata) void on_trailing(int32_t root, uint32_t token, int32_t n) {
	note_md("T:", 5);
}

EXPORT(proxy_on_grpc_close) void on_close(int32_t root, uint32_t token, int32_t status) {
	char s = '0' + (char)(status % 10);
	note("C:", &s, 1);
}

EXPORT(proxy_on_done) int32_t on_done(int32_t id) { return 1; }
EXPORT(proxy_on_delete) void on_delete(int32_t id) {}
