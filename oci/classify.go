package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	orasErrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// classify wraps an error from oras-go or net/http with the shared error value that names its cause, the
// operation and reference (what), the digest when known, and a hint on what to do next.
func classify(what string, dgst fmt.Stringer, err error) error {
	if err == nil {
		return nil
	}
	at := what
	if dgst != nil && dgst.String() != "" {
		at += " (" + dgst.String() + ")"
	}
	for _, own := range []error{ErrNotWasm, ErrDigestMismatch, ErrTagMoved, ErrTooLarge, ErrUnsupportedMediaType,
		ErrNoModule, ErrUnauthorized, ErrNotFound, ErrTLS, ErrUnavailable, ErrInvalidReference} {
		if errors.Is(err, own) {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	var resp *errcode.ErrorResponse
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s: %w (run `wasmesh login %s`, or check the pull secret): %w", at, ErrUnauthorized, hostOf(resp), err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: %w (no credentials saved: run `wasmesh login REGISTRY`): %w", at, ErrUnauthorized, err)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %w (check the repository, tag and digest): %w", at, ErrNotFound, err)
	case errors.Is(err, orasErrdef.ErrNotFound): // its text only repeats the reference
		return fmt.Errorf("%s: %w (check the repository, tag and digest)", at, ErrNotFound)
	case errors.As(err, &resp) && resp.StatusCode >= 500:
		return fmt.Errorf("%s: %w (gave up after retries): %w", at, ErrUnavailable, err)
	case errors.Is(err, orasErrdef.ErrSizeExceedsLimit):
		return fmt.Errorf("%s: %w: %w", at, ErrTooLarge, err)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return fmt.Errorf("%s: %w (pass --ca-file with the registry's CA, or --insecure): %w", at, ErrTLS, err)
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s: %w (the registry speaks plain HTTP: pass --plain-http): %w", at, ErrTLS, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return fmt.Errorf("%s: %w (is the registry running and reachable?): %w", at, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", at, err)
}

func hostOf(resp *errcode.ErrorResponse) string {
	if resp.URL != nil {
		return resp.URL.Host
	}
	return "REGISTRY"
}
