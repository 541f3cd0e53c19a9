// Package pluginconfig decodes and validates the JSON configuration of a wasmesh filter.
//
// Every filter rejects unknown fields and names the offending field in its errors, so that an operator reading the
// proxy log sees `auth: consumers[2].keys: must not be empty` and knows what to fix:
//
//	var cfg Config
//	if err := pluginconfig.Decode(data, &cfg); err != nil {
//		return err // "rules[0].burst: unknown field" or "unexpected end of JSON input"
//	}
//	if cfg.Name == "" {
//		return pluginconfig.Errorf("name", "must not be empty")
//	}
package pluginconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// FieldError is a configuration error tied to one field, addressed like `consumers[2].keys`.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a *FieldError for field with a formatted message.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Field joins a parent path and a child name: Field("rules[0]", "key") == "rules[0].key".
func Field(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// Index addresses an element of a list field: Index("consumers", 2) == "consumers[2]".
func Index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// Decode parses data into v, rejecting unknown fields, trailing data and an empty document. An empty document is
// refused because a plugin without configuration is almost always a deployment mistake.
func Decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &FieldError{Msg: "configuration is empty: pass a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Msg: "unexpected data after the configuration object"}
	}
	return nil
}

// Parse decodes data strictly into a C and compiles it: the whole configuration path of a filter, without the host.
func Parse[C any, T any](data []byte, compile func(*C) (T, error)) (T, error) {
	var cfg C
	if err := Decode(data, &cfg); err != nil {
		var zero T
		return zero, err
	}
	return compile(&cfg)
}

// describe turns encoding/json errors into FieldErrors that name the field.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Type == reflect.TypeFor[Duration]() {
			return &FieldError{Field: typeErr.Field, Msg: fmt.Sprintf("%s is not a duration such as \"30s\"", typeErr.Value)}
		}
		return &FieldError{Field: typeErr.Field, Msg: fmt.Sprintf("must be %s, got %s", typeErr.Type, typeErr.Value)}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		return &FieldError{Field: strings.Trim(strings.TrimPrefix(msg, unknown), `"`), Msg: "unknown field (check the spelling against the README)"}
	}
	return &FieldError{Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// Duration is a time.Duration written in JSON as a Go duration string such as "90s" or "5m".
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	// An UnmarshalTypeError gets the field path filled in by encoding/json, so the message names the field.
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return bad
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return bad
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
