// Package api is the serving layer's HTTP contract: the OpenAPI document (openapi.yaml,
// the source of truth, served at /openapi.yaml) and the types and echo server
// interface generated from it.
package api

import (
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml openapi.yaml

// Spec is the OpenAPI document, as served.
//
//go:embed openapi.yaml
var Spec []byte

// Load parses and validates the OpenAPI document, for the request validator.
func Load() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(openapi3.NewLoader().Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}
