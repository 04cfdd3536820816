package servinglayer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"

	"github.com/labstack/echo/v4"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// errNotConfigured: the process was started without the dependency an endpoint needs.
var errNotConfigured = errors.New("not available on this server")

// statuses maps domain errors to status codes, first match wins; their messages are
// the answer's error.
var statuses = []struct {
	err  error
	code int
}{
	{predict.ErrNotFound, http.StatusNotFound},
	{predict.ErrUnavailable, http.StatusServiceUnavailable},
	{registry.ErrNotFound, http.StatusNotFound},
	{registry.ErrNoActive, http.StatusNotFound},
	{registry.ErrNoPrevious, http.StatusConflict},
	{registry.ErrExists, http.StatusConflict},
	{registry.ErrInvalidName, http.StatusBadRequest},
	{registry.ErrFeatureMismatch, http.StatusBadRequest},
	{registry.ErrInvalidVariant, http.StatusBadRequest},
	{inference.ErrInvalidModel, http.StatusBadRequest},
	{inference.ErrInputWidth, http.StatusBadRequest},
	{inference.ErrModelNotLoaded, http.StatusServiceUnavailable},
	{inference.ErrModelClosed, http.StatusServiceUnavailable},
	{runs.ErrNotFound, http.StatusNotFound},
	{runs.ErrBusy, http.StatusConflict},
	{runs.ErrTriggerClosed, http.StatusServiceUnavailable},
	{event.ErrTooLarge, http.StatusRequestEntityTooLarge}, // before ErrInvalid, which it matches
	{event.ErrInvalid, http.StatusBadRequest},
	{errNotConfigured, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
	{io.ErrUnexpectedEOF, http.StatusServiceUnavailable}, // a server closed the connection
}

// statusOf returns the status code and message of err.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if m, ok := he.Message.(string); ok {
			return he.Code, m
		}
		return he.Code, http.StatusText(he.Code)
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.code, err.Error()
		}
	}
	var ne net.Error // a database or broker that cannot be reached
	if errors.As(err, &ne) {
		return http.StatusServiceUnavailable, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// handleError answers every error as {"error": "..."}; only 5xx are logged.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err)
	switch {
	case code >= 500:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", code,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	case code == http.StatusUnauthorized:
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="lambda"`)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(code)
	} else {
		err = c.JSON(code, map[string]string{"error": msg})
	}
	if err != nil {
		s.log.Debug("write error response", "err", err)
	}
}

// unavailable is a 503: what could not be done, and the dependency's error.
func unavailable(err error, format string, args ...any) error {
	return echo.NewHTTPError(http.StatusServiceUnavailable, fmt.Sprintf(format, args...)+": "+err.Error()).WithInternal(err)
}

// badRequest is a 400 whose message names what is wrong.
func badRequest(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// jsonSerializer is echo's JSON serializer with decode errors answered as 400s that
// say what is wrong with the request body and name the field of a wrong type; a body
// over the limit is a 413 whatever it holds.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

func (jsonSerializer) Deserialize(c echo.Context, v any) error {
	body := c.Request().Body
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		if err == nil {
			err = errors.New("more after the JSON value")
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he
	}
	if _, rest := io.Copy(io.Discard, body); errors.As(rest, &he) {
		return he
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return badRequest("request body: %s: a JSON %s, where the schema has %s", te.Field, te.Value, jsonKind(te.Type))
	}
	return badRequest("request body: %v", err)
}

// jsonKind names the JSON values t takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32:
		return "a 32-bit float"
	case reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return t.String()
	}
}
