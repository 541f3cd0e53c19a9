package tokenbucket

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// SharedData is the Store backed by proxy-wasm shared data, which every VM with the same vm id sees.
type SharedData struct{}

// Get reads key; a missing key is found == false, not an error.
func (SharedData) Get(key string) ([]byte, uint32, bool, error) {
	v, cas, err := proxywasm.GetSharedData(key)
	if err != nil { // checked first: in Wasm errors.Is is a call even for a nil error
		if errors.Is(err, types.ErrorStatusNotFound) {
			return nil, 0, false, nil
		}
		return nil, 0, false, err
	}
	return v, cas, true, nil
}

// Set writes key if its CAS is still cas (0: unconditionally).
func (SharedData) Set(key string, value []byte, cas uint32) error {
	err := proxywasm.SetSharedData(key, value, cas)
	if err != nil && errors.Is(err, types.ErrorStatusCasMismatch) {
		return ErrCASMismatch
	}
	return err
}
