package server_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clarateach/backend/internal/controlplane/api"
)

// apiSchemas names the Go type of each schema of docs/openapi.yaml that
// package api defines (the lab schemas are the lab handlers' own types).
var apiSchemas = map[string]any{
	"Health": api.Health{}, "Done": api.Done{},
	"User": api.User{}, "AuthResponse": api.AuthResponse{}, "Quota": api.Quota{}, "Usage": api.Usage{},
	"Me": api.Me{}, "SignupInfo": api.SignupInfo{}, "UserRow": api.UserRow{}, "UserList": api.UserList{},
	"Invite": api.Invite{}, "InviteCreated": api.InviteCreated{}, "InviteList": api.InviteList{},
	"Member": api.Member{}, "Person": api.Person{}, "MemberList": api.MemberList{},
	"Workshop": api.Workshop{}, "WorkshopList": api.WorkshopList{}, "Host": api.Host{}, "WorkshopHost": api.WorkshopHost{}, "Step": api.Step{},
	"Event": api.Event{}, "WorkshopDetail": api.WorkshopDetail{}, "ClassSnapshot": api.ClassSnapshot{}, "ClassDelta": api.ClassDelta{},
	"Registration": api.Registration{}, "RegistrationList": api.RegistrationList{},
	"RevokePending": api.RevokePending{}, "Reissued": api.Reissued{},
	"SeatView": api.SeatView{}, "SeatList": api.SeatList{}, "Endpoints": api.Endpoints{},
	"WorkspaceAccess": api.WorkspaceAccess{}, "ArchivesDeleted": api.ArchivesDeleted{},
	"WorkshopRef": api.WorkshopRef{}, "Registered": api.Registered{}, "Learner": api.Learner{},
	"JoinWorkshop": api.JoinWorkshop{}, "Join": api.Join{},
	"Lab": api.Lab{}, "LabStep": api.LabStep{}, "LabSummary": api.LabSummary{}, "StepProgress": api.StepProgress{},
	"CheckResult": api.CheckResult{}, "Hand": api.Hand{}, "Broadcast": api.Broadcast{}, "LearnerProgress": api.LearnerProgress{},
	"ProgressMatrix": api.ProgressMatrix{}, "LearnerLab": api.LearnerLab{}, "ClassLab": api.ClassLab{},
	"Watcher": api.Watcher{}, "LearnerLive": api.LearnerLive{}, "Limits": api.Limits{},
	"SeatPush": api.SeatPush{}, "PushResult": api.PushResult{}, "LabSetup": api.LabSetup{},
	"PreviewPort": api.PreviewPort{}, "PreviewOpen": api.PreviewOpen{}, "PreviewShare": api.PreviewShare{}, "PreviewShareList": api.PreviewShareList{},
}

type openAPISpec struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]map[string]any `yaml:"schemas"`
	} `yaml:"components"`
}

func loadOpenAPI(t *testing.T) *openAPISpec {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec openAPISpec
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return &spec
}

// TestOpenAPISchemasMatchAPITypes compares each named schema with its Go
// type: the same property names, required exactly for the fields that are
// always sent (no omitempty), nullable for pointers that are, and the same
// types, nested objects and array items included.
func TestOpenAPISchemasMatchAPITypes(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	byType := map[reflect.Type]string{}
	for name, v := range apiSchemas {
		byType[reflect.TypeOf(v)] = name
	}
	// Every exported struct of package api is a named schema.
	names := make([]string, 0, len(apiSchemas))
	for name := range apiSchemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sch, ok := spec.Components.Schemas[name]
		if !ok {
			t.Errorf("docs/openapi.yaml has no schema %s (api.%s)", name, reflect.TypeOf(apiSchemas[name]).Name())
			continue
		}
		c := &schemaCmp{t: t, spec: spec, byType: byType}
		c.object(name, sch, reflect.TypeOf(apiSchemas[name]))
	}
}

// TestOpenAPIResponsesAreNamed fails when a JSON response body is an
// inline schema: generated clients (the web app's openapi-typescript
// types) need a name for every body.
func TestOpenAPIResponsesAreNamed(t *testing.T) {
	t.Parallel()
	spec := loadOpenAPI(t)
	for p, ops := range spec.Paths {
		for method, op := range ops {
			m, ok := op.(map[string]any)
			if !ok {
				continue
			}
			resps, _ := m["responses"].(map[string]any)
			for code, resp := range resps {
				r, _ := resp.(map[string]any)
				content, _ := r["content"].(map[string]any)
				js, _ := content["application/json"].(map[string]any)
				if js == nil {
					continue
				}
				sch, _ := js["schema"].(map[string]any)
				if _, ok := sch["$ref"]; !ok {
					t.Errorf("%s %s %s: the JSON body is not a named schema ($ref)", strings.ToUpper(method), p, code)
				}
			}
		}
	}
}

type schemaCmp struct {
	t      *testing.T
	spec   *openAPISpec
	byType map[reflect.Type]string
}

// resolve follows $ref and merges allOf into one object schema.
func (c *schemaCmp) resolve(sch map[string]any) (props map[string]any, required map[string]bool) {
	props, required = map[string]any{}, map[string]bool{}
	if ref, ok := sch["$ref"].(string); ok {
		return c.resolve(c.spec.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")])
	}
	if all, ok := sch["allOf"].([]any); ok {
		for _, part := range all {
			pm, _ := part.(map[string]any)
			p, r := c.resolve(pm)
			for k, v := range p {
				props[k] = v
			}
			for k := range r {
				required[k] = true
			}
		}
	}
	if p, ok := sch["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	if r, ok := sch["required"].([]any); ok {
		for _, k := range r {
			required[k.(string)] = true
		}
	}
	return props, required
}

type goField struct {
	typ       reflect.Type
	omitempty bool
}

// fields lists a struct's JSON fields, embedded structs flattened.
func fields(t reflect.Type) map[string]goField {
	out := map[string]goField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range fields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = goField{typ: f.Type, omitempty: strings.Contains(opts, "omitempty")}
	}
	return out
}

func (c *schemaCmp) object(where string, sch map[string]any, typ reflect.Type) {
	props, required := c.resolve(sch)
	goFields := fields(typ)
	for name, f := range goFields {
		p, ok := props[name]
		if !ok {
			c.t.Errorf("%s: %s.%s is sent but not in the schema", where, typ.Name(), name)
			continue
		}
		if !f.omitempty && !required[name] {
			c.t.Errorf("%s.%s: always sent (no omitempty), so it must be required", where, name)
		}
		if f.omitempty && required[name] {
			c.t.Errorf("%s.%s: required, but omitted when empty", where, name)
		}
		pm, _ := p.(map[string]any)
		c.value(where+"."+name, pm, f.typ, !f.omitempty)
	}
	for name := range props {
		if _, ok := goFields[name]; !ok {
			c.t.Errorf("%s: the schema has %s, which %s does not send", where, name, typ.Name())
		}
	}
	for name := range required {
		if _, ok := goFields[name]; !ok {
			c.t.Errorf("%s: %s is required but not a field of %s", where, name, typ.Name())
		}
	}
}

var timeType = reflect.TypeOf(time.Time{})

func (c *schemaCmp) value(where string, sch map[string]any, typ reflect.Type, sent bool) {
	if typ.Kind() == reflect.Pointer {
		// A pointer always sent may be null.
		if sent && sch["nullable"] != true && !c.refNullable(sch) {
			c.t.Errorf("%s: a pointer sent as null when unset must be nullable: true", where)
		}
		typ = typ.Elem()
	}
	if ref, ok := sch["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if want, ok := c.byType[typ]; !ok || want != name {
			c.t.Errorf("%s: refers to %s, but its Go type is %v", where, name, typ)
		}
		return
	}
	if all, ok := sch["allOf"].([]any); ok && len(all) == 1 {
		// allOf: [$ref] with nullable beside it.
		pm, _ := all[0].(map[string]any)
		c.value(where, pm, typ, false)
		return
	}
	kind, _ := sch["type"].(string)
	want := ""
	switch {
	case typ == timeType:
		want = "string"
		if sch["format"] != "date-time" {
			c.t.Errorf("%s: a time must be format: date-time", where)
		}
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		want = "number"
	case typ.Kind() == reflect.Slice:
		want = "array"
	case typ.Kind() == reflect.Struct, typ.Kind() == reflect.Map:
		want = "object"
	}
	if kind != want {
		c.t.Errorf("%s: type %q in the schema, %q for Go %v", where, kind, want, typ)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		items, _ := sch["items"].(map[string]any)
		c.value(where+"[]", items, typ.Elem(), false)
	case reflect.Struct:
		if typ != timeType {
			if name, ok := c.byType[typ]; ok {
				c.t.Errorf("%s: an inline object where the named schema %s belongs ($ref)", where, name)
			}
			c.object(where, sch, typ)
		}
	}
}

// refNullable accepts {allOf: [$ref], nullable: true}, how OpenAPI 3.0
// marks a reference nullable.
func (c *schemaCmp) refNullable(sch map[string]any) bool {
	_, all := sch["allOf"]
	return all && sch["nullable"] == true
}
