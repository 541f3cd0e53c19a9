// Package config reads proxy.yaml: strict YAML (unknown and duplicate fields are errors), defaults, and
// validation whose errors name the file, the field path and what was expected. The result is a value the proxy
// builds its listeners, routes, clusters and chains from; it is never changed after Load returns.
//
//	f, err := config.Load("proxy.yaml", registry.Names())
//	if err != nil {
//		// proxy.yaml: listeners[0].routes[2].cluster: unknown cluster "backnd" (known: auth, backend)
//	}
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads and parses the file at path; see Parse.
func Load(path string, kinds []string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read proxy config: %w", err)
	}
	return Parse(path, b, kinds)
}

// Parse decodes data strictly, applies defaults and validates. name is the file name used in errors. kinds are
// the filter kinds the program knows (the registry's names); a filter of another kind is an error.
func Parse(name string, data []byte, kinds []string) (*File, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	var f File
	strict, err := kjson.UnmarshalStrict(js, &f)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", name, describeDecodeError(err))
	}
	if len(strict) > 0 {
		errs := make([]error, len(strict))
		for i, e := range strict {
			errs[i] = fmt.Errorf("%s: %w (see docs/proxy.md for the fields)", name, e)
		}
		return nil, errors.Join(errs...)
	}
	if err := validate(name, &f, kinds); err != nil {
		return nil, err
	}
	return &f, nil
}

// describeDecodeError turns encoding/json's type errors into "field: expected X".
func describeDecodeError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
