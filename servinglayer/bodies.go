package servinglayer

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/oip"
)

// binder binds request bodies as echo's DefaultBinder.BindBody does (the generated
// strict handlers bind bodies only), except the inference body, which is read whatever
// its Content-Type (the official clients send none, or application/octet-stream):
// JSON, or with the binary tensor data extension a JSON header and the inputs' raw
// tensor bytes after it.
type binder struct{ echo.DefaultBinder }

func (b binder) Bind(i any, c echo.Context) error {
	if req, ok := i.(*api.OIPInferRequest); ok {
		return readInferRequest(c.Request(), req)
	}
	return b.BindBody(c, i)
}

// readInferRequest reads an infer request's body into req.
func readInferRequest(r *http.Request, req *api.OIPInferRequest) error {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= 1<<20 { // the body limit has checked it; gzip may make it more
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit's 413
			return he
		}
		return badRequest("request body: %v", err)
	}
	if buf.Len() == 0 {
		return badRequest("request body: empty; want an inference request")
	}
	header, section, err := oip.Split(buf.Bytes(), r.Header.Get(oip.HeaderLength))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(header, req); err != nil {
		return decodeError(err)
	}
	return oip.Attach(req, section)
}

// decompress decodes request bodies sent with Content-Encoding gzip or deflate (zlib,
// as HTTP's deflate is); another encoding is a 415. Installed before the body limit,
// which then bounds the decoded bytes.
func decompress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		enc := strings.ToLower(strings.TrimSpace(r.Header.Get(echo.HeaderContentEncoding)))
		var (
			body io.ReadCloser
			err  error
		)
		switch enc {
		case "", "identity":
			return next(c)
		case "gzip", "x-gzip":
			body, err = gzip.NewReader(r.Body)
		case "deflate":
			body, err = zlib.NewReader(r.Body)
		default:
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Encoding "+enc+": send gzip, deflate or none")
		}
		if err != nil {
			return badRequest("request body: Content-Encoding %s: %v", enc, err)
		}
		defer body.Close()
		r.Body = body
		r.ContentLength = -1
		r.Header.Del(echo.HeaderContentEncoding)
		r.Header.Del(echo.HeaderContentLength)
		return next(c)
	}
}
