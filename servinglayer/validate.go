package servinglayer

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
)

// validator authorizes and validates requests against the OpenAPI document.
//
// Authorization is its own: each operation's security scheme is looked up by its
// echo route and checked by authorize before the request is validated, as kin-openapi
// would (it would also read and copy every request body for its authentication
// function). A request echo has routed to one of its registered routes reuses the
// OpenAPI route found for the first request of that route, with echo's path
// parameters, instead of matching the path with gorillamux's regular expressions every
// time; the rest (unknown paths, methods a path lacks) are matched by gorillamux, so
// they get its 404 and 405 answers.
//
// A request body marked x-lambda-checked-by-handler in the document is not validated
// here: its handler checks the schema's rules on the typed body the generated code
// binds, so the body is decoded once.
type validator struct {
	gorilla   routers.Router
	opts      *echomiddleware.Options
	authorize func(scheme string, r *http.Request) error
	// ops are the document's operations by echo route; learn keeps those echo serves.
	ops map[routeKey]*operation
}

// operation is what the validator knows of one operation.
type operation struct {
	scheme string                        // security scheme, "" for none
	opts   *echomiddleware.Options       // the validator's, or with the request body left to the handler
	route  atomic.Pointer[routers.Route] // found at the first request
}

// checkedByHandler marks a request body whose handler checks the schema's rules.
const checkedByHandler = "x-lambda-checked-by-handler"

type routeKey struct{ method, path string }

// newValidator returns the validator of spec, whose operations have at most one
// security scheme each; authorize checks a request against one. It takes the security
// requirements out of spec.
func newValidator(spec *openapi3.T, opts *echomiddleware.Options, authorize func(scheme string, r *http.Request) error) (*validator, error) {
	spec.Servers = nil // no Host validation (echomiddleware.Options.DoNotValidateServers)
	noBody := *opts
	noBody.Options.ExcludeRequestBody = true
	v := &validator{opts: opts, authorize: authorize, ops: make(map[routeKey]*operation)}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			reqs := spec.Security
			if op.Security != nil {
				reqs = *op.Security
			}
			scheme, err := onlyScheme(reqs)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			o := &operation{scheme: scheme, opts: opts}
			if op.RequestBody != nil && op.RequestBody.Value.Extensions[checkedByHandler] == true {
				o.opts = &noBody
			}
			v.ops[routeKey{method, echoPath(path)}] = o
			op.Security = &openapi3.SecurityRequirements{}
		}
	}
	spec.Security = nil
	r, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, err
	}
	v.gorilla = r
	return v, nil
}

// onlyScheme returns the one security scheme of reqs, "" when there is none.
func onlyScheme(reqs openapi3.SecurityRequirements) (string, error) {
	var schemes []string
	for _, req := range reqs {
		for name := range req {
			schemes = append(schemes, name)
		}
	}
	if len(schemes) > 1 {
		return "", fmt.Errorf("security schemes %v: only one per operation is supported", schemes)
	}
	if len(schemes) == 0 {
		return "", nil
	}
	return schemes[0], nil
}

// echoPath is the echo route of an OpenAPI path template: {name} is :name, and a
// literal colon is escaped.
func echoPath(path string) string {
	return pathParam.ReplaceAllString(strings.ReplaceAll(path, ":", `\:`), ":$1")
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// learn keeps the operations of the routes of e; call it once all are added. Every
// operation with a security scheme must have its route, or its scheme would not be
// checked.
func (v *validator) learn(e *echo.Echo) error {
	routes := make(map[routeKey]bool)
	for _, r := range e.Routes() {
		routes[routeKey{r.Method, r.Path}] = true
	}
	for key, op := range v.ops {
		switch {
		case routes[key]:
		case op.scheme != "":
			return fmt.Errorf("operation %s %s needs %s, but has no route", key.method, key.path, op.scheme)
		default:
			delete(v.ops, key)
		}
	}
	return nil
}

func (v *validator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		router, opts := v.gorilla, v.opts
		if op, ok := v.ops[routeKey{c.Request().Method, c.Path()}]; ok {
			if op.scheme != "" {
				if err := v.authorize(op.scheme, c.Request()); err != nil {
					return err
				}
			}
			router, opts = &echoRouter{v: v, c: c, op: op}, op.opts
		}
		if err := echomiddleware.ValidateRequestFromContext(c, router, opts); err != nil {
			return opts.ErrorHandler(c, err)
		}
		return next(c)
	}
}

// echoRouter is the routers.Router of one request echo routed.
type echoRouter struct {
	v  *validator
	c  echo.Context
	op *operation
}

func (r *echoRouter) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route := r.op.route.Load()
	if route == nil {
		found, params, err := r.v.gorilla.FindRoute(req)
		if err != nil {
			return found, params, err
		}
		r.op.route.Store(found)
		route = found
	}
	names, values := r.c.ParamNames(), r.c.ParamValues()
	params := make(map[string]string, len(names))
	for i, name := range names {
		// The validator unescapes the values, as gorillamux returns them escaped; echo
		// has them escaped only when the request's path needed its raw form.
		val := values[i]
		if req.URL.RawPath == "" {
			val = url.PathEscape(val)
		}
		params[name] = val
	}
	return route, params, nil
}
