package servinglayer

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	echomiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/lambda-platform/lambda/servinglayer/oip"
)

// Security scheme names of the OpenAPI document.
const (
	schemeAdmin = "adminToken"
	schemeRead  = "readToken"
)

// newValidator returns the request validator of spec.
func (s *Server) newValidator(spec *openapi3.T) (*validator, error) {
	return newValidator(spec, &echomiddleware.Options{
		ErrorHandler:         validationError,
		DoNotValidateServers: true,
	}, s.authenticate)
}

func init() {
	// Schema errors name the field and the rule; the schema and value dumps that
	// kin-openapi appends by default would make 400 bodies pages long.
	openapi3.SchemaErrorDetailsDisabled = true
}

// use installs the middleware chain.
func (s *Server) use(e *echo.Echo, v *validator) {
	// Only answers that can be large are compressed: a gzip writer costs more than it
	// saves on the hot small ones (a prediction, a scored row). Model files are served
	// with Range, which must address the file's own bytes; promhttp compresses /metrics.
	noGzip := func(c echo.Context) bool {
		switch c.Path() {
		case "/v1/predictions\\:batchGet", "/v1/models", "/v1/models/:name", "/v1/batch/runs", "/openapi.yaml":
			return false
		}
		return true
	}
	isUpload := func(c echo.Context) bool {
		return c.Request().Method == http.MethodPost && strings.HasSuffix(c.Request().URL.Path, "/versions")
	}
	e.Use(
		middleware.Recover(),
		middleware.RequestID(),
		s.cors(),
		s.metrics.middleware,
		middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
			Skipper:   func(echo.Context) bool { return !s.log.Enabled(context.Background(), slog.LevelDebug) },
			LogMethod: true, LogURI: true, LogStatus: true, LogLatency: true, LogRequestID: true,
			LogValuesFunc: func(_ echo.Context, v middleware.RequestLoggerValues) error {
				s.log.Debug("request", "method", v.Method, "uri", v.URI, "status", v.Status,
					"latency", v.Latency, "request_id", v.RequestID)
				return nil
			},
		}),
		middleware.GzipWithConfig(middleware.GzipConfig{Skipper: noGzip, MinLength: 1400}),
		middleware.ContextTimeout(s.cfg.RequestTimeout),
		decompress,
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Skipper: isUpload, Limit: strconv.FormatInt(s.cfg.MaxBodyBytes, 10)}),
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
			Skipper: func(c echo.Context) bool { return !isUpload(c) }, Limit: strconv.FormatInt(s.cfg.MaxModelBytes, 10),
		}),
		skip(v.middleware, func(c echo.Context) bool {
			// The browser client's files are outside the OpenAPI document.
			return c.Path() == edgePrefix || strings.HasPrefix(c.Path(), edgePrefix+"/")
		}),
	)
}

// skip runs mw except for the requests skipper says to pass straight on.
func skip(mw echo.MiddlewareFunc, skipper func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := mw(next)
		return func(c echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			return h(c)
		}
	}
}

// corsHeaders are the request headers browsers may send cross-origin, and the answer
// headers their scripts may read.
var (
	corsAllowHeaders  = []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderContentEncoding, oip.HeaderLength, "If-None-Match", "If-Range", "Range"}
	corsExposeHeaders = []string{"ETag", oip.HeaderLength, echo.HeaderContentLength, "Content-Range", "Accept-Ranges", echo.HeaderRetryAfter, echo.HeaderXRequestID}
)

// cors answers cross-origin requests from Config.CORSOrigins (none by default) to the
// read, infer and download endpoints: the GETs and HEADs of /v1 and /v2, batchGet and
// infer; preflight OPTIONS are answered 204. Ingest, admin and operational endpoints
// are same-origin only.
func (s *Server) cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper: func(c echo.Context) bool {
			if len(s.cfg.CORSOrigins) == 0 {
				return true
			}
			r := c.Request()
			method := r.Method
			if method == http.MethodOptions {
				method = r.Header.Get(echo.HeaderAccessControlRequestMethod)
			}
			return !corsAllowed(method, r.URL.Path)
		},
		AllowOrigins:  s.cfg.CORSOrigins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowHeaders:  corsAllowHeaders,
		ExposeHeaders: corsExposeHeaders,
		MaxAge:        600,
	})
}

// corsAllowed reports whether a request of method to path may come cross-origin.
func corsAllowed(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		return strings.HasPrefix(path, "/v1/") || path == "/v2" || strings.HasPrefix(path, "/v2/")
	case http.MethodPost:
		return path == "/v1/predictions:batchGet" || strings.HasPrefix(path, "/v2/models/") && strings.HasSuffix(path, "/infer")
	}
	return false
}

// validationError refines the validator's answer: a body cut short by the body limit
// is 413 (the validator reads it first), and 405 says which methods the route has.
func validationError(c echo.Context, err *echo.HTTPError) error {
	switch {
	case errors.Is(err.Internal, echo.ErrStatusRequestEntityTooLarge):
		return echo.ErrStatusRequestEntityTooLarge
	case err.Code == http.StatusNotFound && err.Internal == nil: // no operation of the spec matches
		return echo.NewHTTPError(http.StatusNotFound, "no route "+c.Request().Method+" "+c.Request().URL.Path)
	case err.Code == http.StatusMethodNotAllowed:
		if allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string); ok {
			c.Response().Header().Set(echo.HeaderAllow, allow)
		}
	}
	return err
}

// authenticate checks the bearer token an operation's security scheme asks for.
func (s *Server) authenticate(scheme string, r *http.Request) error {
	token, hasToken := bearer(r)
	switch scheme {
	case schemeAdmin:
		switch {
		case s.cfg.AdminToken == "":
			return echo.NewHTTPError(http.StatusForbidden, "this endpoint needs the admin token, and the server has none configured (LAMBDA_ADMIN_TOKEN)")
		case !hasToken:
			return echo.NewHTTPError(http.StatusUnauthorized, "this endpoint needs the admin token: Authorization: Bearer <token>")
		case !same(token, s.cfg.AdminToken):
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid admin token")
		}
	case schemeRead:
		switch {
		case s.cfg.ReadToken == "":
		case !hasToken:
			return echo.NewHTTPError(http.StatusUnauthorized, "this endpoint needs the read token: Authorization: Bearer <token>")
		case !same(token, s.cfg.ReadToken) && (s.cfg.AdminToken == "" || !same(token, s.cfg.AdminToken)):
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid token")
		}
	default:
		return echo.NewHTTPError(http.StatusInternalServerError, "unknown security scheme "+scheme)
	}
	return nil
}

// bearer returns the request's bearer token.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// same compares tokens in constant time.
func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
