package oci

import "errors"

// Shared error values. Every error the package returns wraps one of these (when one applies) together with the
// reference and, where known, the digest, so callers can decide with errors.Is and users read one clear line.
var (
	// ErrNotWasm: the selected content does not start with the Wasm magic "\0asm".
	ErrNotWasm = errors.New("not a WebAssembly binary (missing \\0asm magic)")
	// ErrDigestMismatch: content does not hash to the digest that was asked for (manifest digest or --sha256 pin).
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTagMoved: a reference named both a tag and a digest and the tag now points elsewhere.
	ErrTagMoved = errors.New("tag moved")
	// ErrTooLarge: a manifest or module is larger than the configured limit.
	ErrTooLarge = errors.New("content exceeds size limit")
	// ErrUnsupportedMediaType: the manifest is of a kind this package cannot take a module from.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrNoModule: the manifest or index holds nothing that looks like a Wasm module.
	ErrNoModule = errors.New("no Wasm module in artifact")
	// ErrUnauthorized: the registry refused the credentials (or none were found).
	ErrUnauthorized = errors.New("registry refused credentials")
	// ErrNotFound: the repository, tag or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTLS: the TLS handshake failed (unknown authority, wrong name, plain HTTP server).
	ErrTLS = errors.New("TLS failure")
	// ErrUnavailable: the registry could not be reached or kept failing after retries.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrInvalidReference: the reference cannot be parsed.
	ErrInvalidReference = errors.New("invalid reference")
)
