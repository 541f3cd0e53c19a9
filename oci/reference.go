package oci

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// Reference names a module in a registry: registry/repository[:tag][@sha256:manifest-digest].
type Reference struct {
	Registry   string
	Repository string
	// Tag is "latest" when neither a tag nor a digest was given.
	Tag string
	// Digest is the manifest digest after '@'; when both Tag and Digest are set the tag must still point to it.
	Digest digest.Digest
}

// ParseReference parses s. The first path element is always the registry host (there is no implicit docker.io,
// unlike docker), so a short name never sends a module, or credentials, to a public registry by accident.
func ParseReference(s string) (Reference, error) {
	base, dgst, hasDigest := strings.Cut(s, "@")
	r, err := registry.ParseReference(base)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), "invalid reference: ")
		return Reference{}, fmt.Errorf("%q: %w: %s (want host[:port]/repository[:tag][@sha256:hex])", s, ErrInvalidReference, why)
	}
	ref := Reference{Registry: r.Registry, Repository: r.Repository, Tag: r.Reference}
	if hasDigest {
		d, err := digest.Parse(dgst)
		if err != nil {
			return Reference{}, fmt.Errorf("%q: %w: digest: %v", s, ErrInvalidReference, err)
		}
		ref.Digest = d
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}

// String formats the reference the way ParseReference reads it.
func (r Reference) String() string {
	s := r.Registry + "/" + r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// Name is registry/repository without tag or digest.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// target is what to resolve: the digest when pinned, else the tag.
func (r Reference) target() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}
