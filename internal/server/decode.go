package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeJSON decodes the capped request body into v, turning every failure
// into a 4xx naming the problem. strict rejects unknown fields.
func decodeJSON(r *http.Request, v any, strict bool) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBytes(body, v, strict)
}

// readBody reads the capped request body of a JSON request.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Content-Type must be application/json, not " + ct}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, badRequest("read body: "+err.Error(), "")
	}
	return body, nil
}

// decodeBytes decodes one JSON document with exact numbers.
func decodeBytes(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty body: a JSON object is required", "")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err, body)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON document", fmt.Sprintf("byte %d", dec.InputOffset()))
	}
	return nil
}

// jsonError turns a decoding error into a 400 that names the field or the
// place.
func jsonError(err error, body []byte) *apiError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(body, max(se.Offset-1, 0)) // Offset is just past the bad byte
		return badRequest("malformed JSON: "+se.Error(), fmt.Sprintf("line %d, column %d", line, col))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return badRequest(fmt.Sprintf("field %q must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value), field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: unexpected end of input", "")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(fmt.Sprintf("unknown field %q", f), f)
	}
	return badRequest("malformed JSON: "+err.Error(), "")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

// position converts a byte offset into 1-based line and column.
func position(body []byte, off int64) (int, int) {
	if off > int64(len(body)) {
		off = int64(len(body))
	}
	line, col := 1, 1
	for _, b := range body[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
