package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIMatchesRoutes fails when a route and docs/openapi.yaml disagree.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	methods := map[string]bool{"get": true, "post": true, "put": true, "delete": true, "patch": true, "options": true, "head": true}
	documented := map[string]bool{}
	for p, ops := range spec.Paths {
		for m := range ops {
			if methods[m] {
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	wild := regexp.MustCompile(`\{(\w+)\.\.\.\}`)
	served := map[string]bool{}
	for _, r := range newEnv(t, "sqlite").srv.Routes() {
		served[r.Method+" "+wild.ReplaceAllString(r.Pattern, "{$1}")] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not in docs/openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("docs/openapi.yaml documents routes the server does not serve:\n  %s", strings.Join(extra, "\n  "))
	}
}
