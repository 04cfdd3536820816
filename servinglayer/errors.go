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
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer/edgeclient"
	"github.com/lambda-platform/lambda/servinglayer/oip"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// errNotConfigured: the process was started without the dependency an endpoint needs.
var errNotConfigured = errors.New("not available on this server")

// statusRule answers err with status and code.
type statusRule struct {
	err    error
	status int
	code   string
}

// statuses maps domain errors to status codes and stable codes, first match wins;
// their messages are the answer's error.
var statuses = []statusRule{
	{predict.ErrNotFound, http.StatusNotFound, "entity_not_found"},
	{predict.ErrUnavailable, http.StatusServiceUnavailable, "view_unavailable"},
	{registry.ErrNotFound, http.StatusNotFound, "model_not_found"},
	{registry.ErrNoActive, http.StatusNotFound, "no_active_version"},
	{registry.ErrNoPrevious, http.StatusConflict, "no_previous_version"},
	{registry.ErrExists, http.StatusConflict, "version_exists"},
	{registry.ErrInvalidName, http.StatusBadRequest, "invalid_model_name"},
	{registry.ErrFeatureMismatch, http.StatusBadRequest, "feature_mismatch"},
	{registry.ErrInvalidVariant, http.StatusBadRequest, "invalid_model_file"},
	{inference.ErrInvalidModel, http.StatusBadRequest, "invalid_model_file"},
	{inference.ErrInputWidth, http.StatusBadRequest, "invalid_shape"},
	{inference.ErrModelNotLoaded, http.StatusServiceUnavailable, "model_not_loaded"},
	{inference.ErrModelClosed, http.StatusServiceUnavailable, "model_not_loaded"},
	{runs.ErrNotFound, http.StatusNotFound, "run_not_found"},
	{replays.ErrNotFound, http.StatusNotFound, "replay_not_found"},
	{replays.ErrState, http.StatusConflict, "replay_state"},
	{runs.ErrBusy, http.StatusConflict, "batch_busy"},
	{runs.ErrTriggerClosed, http.StatusServiceUnavailable, "shutting_down"},
	{event.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"}, // before ErrInvalid, which it matches
	{event.ErrInvalid, http.StatusBadRequest, "invalid_event"},
	{errNotConfigured, http.StatusServiceUnavailable, "not_configured"},
	{edgeclient.ErrNotFound, http.StatusNotFound, "not_found"},
	{edgeclient.ErrRuntimeMissing, http.StatusServiceUnavailable, "not_configured"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "timeout"},
	{io.ErrUnexpectedEOF, http.StatusServiceUnavailable, "dependency_unavailable"}, // a server closed the connection
}

// statusCodes are the codes of errors that carry only a status: echo's, the request
// validator's, and the handlers' badRequest and unavailable.
var statusCodes = map[int]string{
	http.StatusBadRequest:            "invalid_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "dependency_unavailable",
}

// retryAfter is the Retry-After of 503s and of a busy batch lock, in seconds.
const retryAfter = "5"

// problem is an error answer: {"error": "..."} as the Open Inference Protocol has it,
// and the RFC 9457 problem details fields with a stable code. It is sent as
// application/json, the type the inference clients read an error from.
type problem struct {
	Error  string `json:"error"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// problemOf returns the answer to err.
func problemOf(err error) problem {
	p := problem{Type: "about:blank", Status: http.StatusInternalServerError, Error: "internal error", Code: "internal"}
	var (
		he *echo.HTTPError
		oe *oip.Error
		ne net.Error // a database or broker that cannot be reached
	)
	switch {
	case errors.As(err, &oe):
		p.Status, p.Code, p.Error = http.StatusBadRequest, oe.Code, oe.Msg
	case errors.As(err, &he):
		p.Status, p.Code, p.Error = he.Code, statusCodes[he.Code], http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			p.Error = m
		}
		if p.Code == "" {
			p.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_"))
		}
	default:
		i := slices.IndexFunc(statuses, func(s statusRule) bool { return errors.Is(err, s.err) })
		switch {
		case i >= 0:
			p.Status, p.Code, p.Error = statuses[i].status, statuses[i].code, err.Error()
		case errors.As(err, &ne):
			p.Status, p.Code, p.Error = http.StatusServiceUnavailable, "dependency_unavailable", err.Error()
		}
	}
	p.Title, p.Detail = http.StatusText(p.Status), p.Error
	return p
}

// handleError answers every error as a problem; only 5xx are logged.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := problemOf(err)
	h := c.Response().Header()
	switch {
	case p.Status >= 500:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", p.Status,
			"request_id", h.Get(echo.HeaderXRequestID), "err", err)
	case p.Status == http.StatusUnauthorized:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="lambda"`)
	}
	if p.Status == http.StatusServiceUnavailable || p.Code == "batch_busy" {
		h.Set(echo.HeaderRetryAfter, retryAfter)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(p.Status)
	} else {
		err = c.JSON(p.Status, p)
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
	return decodeError(err)
}

// decodeError is the 400 of a request body that does not decode, naming the field of a
// wrong type.
func decodeError(err error) error {
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
