package envflag_test

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/envflag"
)

type settings struct {
	port   int
	token  string
	on     bool
	every  time.Duration
	admin  string
	maxLen int64
}

func bindAll(s *envflag.Set, v *settings) {
	E := envflag.Env
	s.Int(&v.port, "port", E("PORT"), 8080, "port")
	s.String(&v.token, "token", E("AGENT_TOKEN", "FC_AGENT_TOKEN"), "", "token")
	s.Bool(&v.on, "on", E("ON"), true, "switch")
	s.Duration(&v.every, "every", E("EVERY"), time.Minute, "period")
	s.String(&v.admin, "", E("ADMIN"), "nobody", "env only")
	s.Int64(&v.maxLen, "max-len", nil, 64, "flag only")
}

func parse(t *testing.T, args []string, env map[string]string) (*envflag.Set, *settings, error) {
	t.Helper()
	var v settings
	s := envflag.New("test", func(k string) string { return env[k] }, nil)
	bindAll(s, &v)
	return s, &v, s.Parse(args)
}

// The precedence: a flag beats every variable, the first variable beats
// the next, and a default is left only when none is set.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PORT": "9000", "AGENT_TOKEN": "first", "FC_AGENT_TOKEN": "second", "ON": "off", "EVERY": "5m"}
	_, v, err := parse(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if v.port != 9000 || v.token != "first" || v.on || v.every != 5*time.Minute || v.admin != "nobody" || v.maxLen != 64 {
		t.Fatalf("from the environment: %+v", *v)
	}
	s, v, err := parse(t, []string{"--port", "9100", "--token", "flag", "--on", "--every", "1h", "--max-len", "7"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if v.port != 9100 || v.token != "flag" || !v.on || v.every != time.Hour || v.maxLen != 7 {
		t.Fatalf("flags must win: %+v", *v)
	}
	if !s.Given("port") {
		t.Fatal("Given(port) after --port")
	}
	delete(env, "AGENT_TOKEN")
	s, v, _ = parse(t, nil, env)
	if v.token != "second" {
		t.Fatalf("the second variable is the fallback of the first: %q", v.token)
	}
	if s.Given("max-len") || s.Given("ADMIN") || !s.Given("token") {
		t.Fatal("Given must say which settings were set")
	}
}

// A bad variable names itself and its value; all are reported at once.
func TestBadEnvironment(t *testing.T) {
	t.Parallel()
	_, _, err := parse(t, nil, map[string]string{"PORT": "eighty", "ON": "maybe", "EVERY": "often"})
	for _, want := range []string{`PORT must be a whole number, not "eighty"`, `ON must be true or false, not "maybe"`, `EVERY must be a duration like 15m, not "often"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	// A flag given on the command line makes its variable irrelevant.
	if _, _, err := parse(t, []string{"--port", "1"}, map[string]string{"PORT": "eighty"}); err != nil {
		t.Errorf("a bad PORT beside --port: %v", err)
	}
	if _, _, err := parse(t, []string{"extra"}, nil); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("stray argument: %v", err)
	}
}

// --help shows the declared defaults and the variables, never a value
// taken from the environment (it may be a secret).
func TestHelpShowsNoEnvironmentValue(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var v settings
	s := envflag.New("test", func(k string) string {
		if k == "AGENT_TOKEN" {
			return "s3cr3t-token"
		}
		return ""
	}, &out)
	bindAll(s, &v)
	if err := s.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v", err)
	}
	if strings.Contains(out.String(), "s3cr3t") || !strings.Contains(out.String(), "env AGENT_TOKEN, FC_AGENT_TOKEN") || !strings.Contains(out.String(), "(default 8080)") {
		t.Fatalf("usage:\n%s", out.String())
	}
}

func TestVars(t *testing.T) {
	t.Parallel()
	s, _, _ := parse(t, nil, nil)
	s.Known("EXTRA", "PORT")
	want := []string{"PORT", "AGENT_TOKEN", "FC_AGENT_TOKEN", "ON", "EVERY", "ADMIN", "EXTRA"}
	if got := s.Vars(); !slices.Equal(got, want) {
		t.Fatalf("Vars = %v, want %v", got, want)
	}
}
