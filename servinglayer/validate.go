package servinglayer

import (
	"net/http"
	"net/url"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
)

// validator validates requests against the OpenAPI document. A request echo has
// routed to one of its registered routes reuses the OpenAPI route found for the first
// request of that route, with echo's path parameters, instead of matching the path
// with gorillamux's regular expressions every time; the rest (unknown paths, methods a
// path lacks) are matched by gorillamux, so they get its 404 and 405 answers.
type validator struct {
	gorilla routers.Router
	opts    *echomiddleware.Options
	known   map[routeKey]bool // the echo routes, set by learn before serving
	routes  sync.Map          // routeKey → *routers.Route
}

type routeKey struct{ method, path string }

func newValidator(spec *openapi3.T, opts *echomiddleware.Options) (*validator, error) {
	spec.Servers = nil // no Host validation (echomiddleware.Options.DoNotValidateServers)
	r, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, err
	}
	return &validator{gorilla: r, opts: opts}, nil
}

// learn records the routes of e; call it once all are added.
func (v *validator) learn(e *echo.Echo) {
	v.known = make(map[routeKey]bool)
	for _, r := range e.Routes() {
		v.known[routeKey{r.Method, r.Path}] = true
	}
}

func (v *validator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		router := v.gorilla
		if key := (routeKey{c.Request().Method, c.Path()}); v.known[key] {
			router = &echoRouter{v: v, c: c, key: key}
		}
		if err := echomiddleware.ValidateRequestFromContext(c, router, v.opts); err != nil {
			return v.opts.ErrorHandler(c, err)
		}
		return next(c)
	}
}

// echoRouter is the routers.Router of one request echo routed.
type echoRouter struct {
	v   *validator
	c   echo.Context
	key routeKey
}

func (r *echoRouter) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	cached, ok := r.v.routes.Load(r.key)
	if !ok {
		route, params, err := r.v.gorilla.FindRoute(req)
		if err != nil {
			return route, params, err
		}
		cached, _ = r.v.routes.LoadOrStore(r.key, route)
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
	return cached.(*routers.Route), params, nil
}
