package pluginconfig

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// Load reads the plugin configuration from the host, decodes it strictly into a C and compiles it. On any error it
// logs "<filter>: <field>: <problem>" at critical level and returns false, so OnPluginStart can fail and the host
// keeps the configuration that was running.
func Load[C any, T any](filter string, compile func(*C) (T, error)) (T, bool) {
	var zero T
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCriticalf("%s: read configuration: %v", filter, err)
		return zero, false
	}
	out, err := Parse(data, compile)
	if err != nil {
		proxywasm.LogCriticalf("%s: %v", filter, err)
		return zero, false
	}
	return out, true
}
