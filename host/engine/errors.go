package engine

import (
	"errors"
	"strings"
)

// Error kinds. Every error the engine returns wraps one of them, so callers decide with errors.Is: a bad module
// or configuration (fix the plugin), a guest failure at run time (the fail strategy applies), or a closed engine.
var (
	ErrCompile       = errors.New("wasm module does not compile")
	ErrImports       = errors.New("wasm module imports functions this host does not provide")
	ErrInstantiate   = errors.New("wasm module failed to instantiate")
	ErrVMStart       = errors.New("proxy_on_vm_start returned false")
	ErrConfigure     = errors.New("proxy_on_configure returned false")
	ErrInvalidConfig = errors.New("proxy_on_validate_configuration rejected the plugin configuration")
	ErrTrap          = errors.New("guest trapped")
	ErrDeadline      = errors.New("guest exceeded its CPU deadline")
	ErrPluginFailed  = errors.New("plugin has no live VM")
	ErrClosed        = errors.New("engine or plugin is closed")
	ErrBadPluginConf = errors.New("invalid plugin configuration")
)

// Error is the typed error of the engine: what was being done, to which plugin or module, and why.
type Error struct {
	Kind   error  // one of the Err* values above
	Op     string // e.g. "compile", "proxy_on_configure", "proxy_on_request_headers"
	Plugin string // plugin name, when there is one
	Digest string // module digest, when known
	Err    error  // the underlying cause (wazero error with the guest stack trace, ...), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wasm ")
	b.WriteString(e.Op)
	if e.Plugin != "" {
		b.WriteString(" (plugin ")
		b.WriteString(e.Plugin)
		b.WriteString(")")
	}
	if e.Digest != "" {
		b.WriteString(" [")
		b.WriteString(e.Digest)
		b.WriteString("]")
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
