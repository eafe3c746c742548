// Package envflag binds settings to command-line flags and environment
// variables, the one way ClaraTeach's three binaries (server, agent,
// workspace daemon) read their configuration.
//
// Each setting has a default, an optional flag and optional environment
// variables (the first non-empty one wins). After Parse a setting holds,
// from strongest to weakest: its flag, its environment variables (in the
// order given), the default. The lookup function decides what "the
// environment" is: the control plane passes one that reads the process
// environment and then its .env file.
//
// Flag defaults in --help are the declared defaults, never a value taken
// from the environment, so a secret set in the environment does not show
// up in usage output.
//
// A Set also records every variable it binds (Vars), so a test can check
// that the documented variables (.env.example) are exactly the ones read.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Set is a flag set whose flags may also come from environment variables.
type Set struct {
	fs       *flag.FlagSet
	lookup   func(string) string
	settings []*setting
	vars     []string
	seen     map[string]bool
	parsed   map[string]bool // flag names given on the command line
	fromEnv  map[string]bool // flag or setting names filled from the environment
}

type setting struct {
	name string   // flag name, or the first env name for env-only settings
	flag bool     // has a flag
	envs []string // environment variables, first non-empty wins
	set  func(string) error
	kind string // for error messages: "whole number", ...
}

// New returns a Set named name (the command, as --help shows it) reading
// the environment through lookup (nil: no environment). Usage and errors
// of the flag package go to output (nil: discarded).
func New(name string, lookup func(string) string, output io.Writer) *Set {
	if lookup == nil {
		lookup = func(string) string { return "" }
	}
	if output == nil {
		output = io.Discard
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	return &Set{fs: fs, lookup: lookup, seen: map[string]bool{}, parsed: map[string]bool{}, fromEnv: map[string]bool{}}
}

// FlagSet is the underlying flag set (for Usage and PrintDefaults).
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

// Env is the setting's environment variables, strongest first.
func Env(names ...string) []string { return names }

// String binds p to flag name (none when name is "") and env; def is the
// default.
func (s *Set) String(p *string, name string, env []string, def, usage string) {
	*p = def
	s.bind(name, env, usage, (*stringValue)(p), "", func(v string) error { *p = v; return nil })
}

// Int binds an int.
func (s *Set) Int(p *int, name string, env []string, def int, usage string) {
	*p = def
	s.bind(name, env, usage, (*intValue)(p), "a whole number", func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err == nil {
			*p = n
		}
		return err
	})
}

// Int64 binds an int64.
func (s *Set) Int64(p *int64, name string, env []string, def int64, usage string) {
	*p = def
	s.bind(name, env, usage, (*int64Value)(p), "a whole number", func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			*p = n
		}
		return err
	})
}

// Bool binds a bool. The environment may also say on/off and yes/no.
func (s *Set) Bool(p *bool, name string, env []string, def bool, usage string) {
	*p = def
	s.bind(name, env, usage, (*boolValue)(p), "true or false", func(v string) error {
		b, err := ParseBool(v)
		if err == nil {
			*p = b
		}
		return err
	})
}

// Duration binds a time.Duration.
func (s *Set) Duration(p *time.Duration, name string, env []string, def time.Duration, usage string) {
	*p = def
	s.bind(name, env, usage, (*durationValue)(p), "a duration like 15m", func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err == nil {
			*p = d
		}
		return err
	})
}

// Func binds a setting parsed by set, for both the flag and the
// environment; its error is reported as "NAME must be <want>, not "v""
// (want reads like "a duration like 15m").
// The default is whatever p already holds; def is shown in --help.
func (s *Set) Func(name string, env []string, def, want, usage string, set func(string) error) {
	s.bind(name, env, usage, &funcValue{set: set, def: def}, want, set)
}

func (s *Set) bind(name string, env []string, usage string, v flag.Value, kind string, set func(string) error) {
	st := &setting{name: name, flag: name != "", envs: env, set: set, kind: kind}
	if !st.flag {
		if len(env) == 0 {
			panic("envflag: a setting needs a flag or an environment variable")
		}
		st.name = env[0]
	} else {
		if len(env) > 0 {
			usage += " (env " + strings.Join(env, ", ") + ")"
		}
		s.fs.Var(v, name, usage)
	}
	for _, e := range env {
		if !s.seen[e] {
			s.seen[e] = true
			s.vars = append(s.vars, e)
		}
	}
	s.settings = append(s.settings, st)
}

// Known records environment variables read elsewhere (by hand, or by a
// later step), so that Vars lists them too.
func (s *Set) Known(env ...string) {
	for _, e := range env {
		if !s.seen[e] {
			s.seen[e] = true
			s.vars = append(s.vars, e)
		}
	}
}

// Parse parses args (without the program name), then fills every setting
// whose flag was not given from its environment variables. Extra
// arguments are an error. Bad values in the environment are all reported
// at once, each naming its variable.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", s.fs.Arg(0))
	}
	s.fs.Visit(func(f *flag.Flag) { s.parsed[f.Name] = true })
	var errs []error
	for _, st := range s.settings {
		if st.flag && s.parsed[st.name] {
			continue
		}
		for _, e := range st.envs {
			v := s.lookup(e)
			if v == "" {
				continue
			}
			if err := st.set(v); err != nil {
				if st.kind == "" {
					errs = append(errs, fmt.Errorf("%s: %w", e, err))
				} else {
					errs = append(errs, fmt.Errorf("%s must be %s, not %q", e, st.kind, v))
				}
			}
			s.fromEnv[st.name] = true
			break
		}
	}
	return errors.Join(errs...)
}

// Given reports whether the setting with this flag name (or, for an
// env-only setting, its first variable) was set by a flag or the
// environment rather than left at its default.
func (s *Set) Given(name string) bool { return s.parsed[name] || s.fromEnv[name] }

// Vars lists every environment variable the Set binds or was told of, in
// the order they were bound.
func (s *Set) Vars() []string { return append([]string(nil), s.vars...) }

// ParseBool reads true/false as strconv.ParseBool does, and also on/off and
// yes/no, in any case.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	return strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
}

// SplitList splits a comma-separated list, trimming spaces and trailing
// slashes (origins) and dropping empty entries.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimRight(strings.TrimSpace(p), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	*v = int64Value(n)
	return nil
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration like 15m")
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

type funcValue struct {
	set func(string) error
	def string
}

func (v *funcValue) Set(s string) error { return v.set(s) }
func (v *funcValue) String() string {
	if v == nil {
		return ""
	}
	return v.def
}
