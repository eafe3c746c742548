package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// tokenDuplicateKey is duplicateKey without its fast path: every value
// decoded token by token.
func tokenDuplicateKey(doc []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	key, _ := dupIn(dec)
	return key, key != ""
}

var duplicateKeySeeds = []string{
	`{"name":"x","name":"y"}`,
	`{"name":"x","NAME":"y"}`,
	`{"Name":"x","nAmE":"y"}`,
	`{"inner":{"a":1,"a":2}}`,
	`{"a":{"b":1,"b":2},"a":3}`,
	`{"a":{"b":1},"a":{"b":1,"b":2}}`,
	`{"list":[{"k":1},{"k":2,"k":3}]}`,
	`{"name":"x","inner":{},"list":[],"name":"y"}`,
	`{"name":"x","inner":{"name":"y"},"list":[{"name":1},{"name":2}]}`,
	`{"a\"b":1,"a\"b":2}`,
	`{"\u0061":1,"a":2}`,
	`{"k":1,"` + "\u212a" + `":2}`,
	`{"é":1,"É":2}`,
	`{"s":"a\\\"}b","t":"\u007d","s":3}`,
	` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] , "A" : { } } `,
	`[{"a":1},[{"b":2,"B":3}]]`,
	`"just a string"`,
	`12`,
	`{}`,
	`[]`,
	`{"a":1}}`,
	`{"a":1} {"a":1,"a":2}`,
}

func TestDuplicateKeyFastPathAgrees(t *testing.T) {
	t.Parallel()
	wide := `{`
	for i := range 70 {
		wide += fmt.Sprintf(`"k%d":%d,`, i, i)
	}
	for _, doc := range append(duplicateKeySeeds, wide+`"K3":0}`, wide+`"z":0}`) {
		gk, gok := duplicateKey([]byte(doc))
		wk, wok := tokenDuplicateKey([]byte(doc))
		if gk != wk || gok != wok {
			t.Errorf("%s: duplicateKey = %q, %v; decoded token by token: %q, %v", doc, gk, gok, wk, wok)
		}
	}
}

// FuzzDuplicateKey: on every valid JSON document the fast path answers as
// the token-by-token decoding does.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range duplicateKeySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		gk, gok := duplicateKey([]byte(doc))
		wk, wok := tokenDuplicateKey([]byte(doc))
		if gk != wk || gok != wok {
			t.Errorf("%q: duplicateKey = %q, %v; decoded token by token: %q, %v", doc, gk, gok, wk, wok)
		}
	})
}

func BenchmarkDecodeRegister(b *testing.B) {
	body := `{"workshop_code":"ABCD2345","name":"Learner","email":"l123@example.com"}`
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v struct {
			WorkshopCode string `json:"workshop_code"`
			Name         string `json:"name"`
			Email        string `json:"email"`
		}
		if err := Decode(httptest.NewRecorder(), r, &v, 0); err != nil {
			b.Fatal(err)
		}
	}
}
