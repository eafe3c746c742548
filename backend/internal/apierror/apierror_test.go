package apierror

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func decode(body string) (map[string]any, error) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	var v struct {
		Name  string         `json:"name"`
		Inner map[string]any `json:"inner"`
		List  []any          `json:"list"`
	}
	err := Decode(httptest.NewRecorder(), r, &v, 0)
	return map[string]any{"name": v.Name}, err
}

func TestDecodeRefusesDuplicateKeys(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"name":"x","name":"y"}`,
		`{"name":"x","NAME":"y"}`,
		`{"inner":{"a":1,"a":2}}`,
		`{"list":[{"k":1},{"k":2,"k":3}]}`,
		`{"name":"x","inner":{},"list":[],"name":"y"}`,
	} {
		_, err := decode(body)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "duplicate key") {
			t.Errorf("%s: err = %v, want a 400 naming the duplicate key", body, err)
		}
	}
	// The same key in different objects is no duplicate.
	for _, body := range []string{
		`{"name":"x","inner":{"name":"y"},"list":[{"name":1},{"name":2}]}`,
		`{"name":"a\"b"}`,
		" {\"name\":\"x\"}\n",
	} {
		if _, err := decode(body); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
