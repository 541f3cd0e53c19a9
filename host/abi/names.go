package abi

import "strings"

// Version is a proxy-wasm ABI version advertised by a module through an exported marker function.
type Version string

// The ABI versions the host understands. Unknown means the module exported no marker.
const (
	Unknown Version = ""
	V0_1_0  Version = "0.1.0"
	V0_2_0  Version = "0.2.0"
	V0_2_1  Version = "0.2.1"
)

// versionMarkerPrefix starts the name of the marker export, e.g. proxy_abi_version_0_2_1.
const versionMarkerPrefix = "proxy_abi_version_"

// VersionFromExport reports which ABI version an export name advertises, if it is a version marker.
func VersionFromExport(name string) (Version, bool) {
	rest, ok := strings.CutPrefix(name, versionMarkerPrefix)
	if !ok {
		return Unknown, false
	}
	switch rest {
	case "0_1_0":
		return V0_1_0, true
	case "0_2_0":
		return V0_2_0, true
	case "0_2_1":
		return V0_2_1, true
	}
	return Unknown, false
}

// Allocator exports, in order of preference: the host calls the first one a module has to hand it memory.
const (
	ExportMemoryAllocate = "proxy_on_memory_allocate"
	ExportMalloc         = "malloc"
)

// Entry points a module may export; the engine calls at most one of them once after instantiation.
const (
	ExportStart      = "_start"
	ExportInitialize = "_initialize"
)

// Callbacks lists every proxy_on_* callback a module can export, across ABI 0.1.0 to 0.2.1, in the order the
// spec presents them. A module needs none of them to load; the host calls only those present.
var Callbacks = []string{
	"proxy_on_context_create",
	"proxy_on_vm_start",
	"proxy_on_configure",
	"proxy_on_validate_configuration",
	"proxy_on_tick",
	"proxy_on_new_connection",
	"proxy_on_downstream_data",
	"proxy_on_downstream_connection_close",
	"proxy_on_upstream_data",
	"proxy_on_upstream_connection_close",
	"proxy_on_request_headers",
	"proxy_on_request_body",
	"proxy_on_request_trailers",
	"proxy_on_request_metadata",
	"proxy_on_response_headers",
	"proxy_on_response_body",
	"proxy_on_response_trailers",
	"proxy_on_response_metadata",
	"proxy_on_http_call_response",
	"proxy_on_grpc_receive_initial_metadata",
	"proxy_on_grpc_receive_trailing_metadata",
	"proxy_on_grpc_receive",
	"proxy_on_grpc_close",
	"proxy_on_grpc_create_initial_metadata",
	"proxy_on_queue_ready",
	"proxy_on_foreign_function",
	"proxy_on_log",
	"proxy_on_done",
	"proxy_on_delete",
}

// IsCallback reports whether name is a proxy-wasm callback export.
func IsCallback(name string) bool {
	for _, c := range Callbacks {
		if c == name {
			return true
		}
	}
	return false
}
