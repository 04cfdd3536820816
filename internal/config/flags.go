// Package config binds each command's settings to flags and LAMBDA_* environment
// variables: a flag given on the command line wins over the variable, which wins
// over the default. Commands declare their own config struct and register its
// fields here; the resolved struct is logged once at start with secrets masked.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag.FlagSet whose defaults come from the environment.
type Flags struct {
	*flag.FlagSet
	errs []error
}

// NewFlags returns an empty set for the command name; usage is printed by -h.
func NewFlags(name, usage string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags (each also read from the environment variable shown):\n", usage)
		fs.PrintDefaults()
	}
	return &Flags{FlagSet: fs}
}

// String registers a string setting.
func (f *Flags) String(p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	f.StringVar(p, name, def, withEnv(usage, env))
}

// List registers a comma-separated list setting; empty items are dropped.
func (f *Flags) List(p *[]string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	*p = splitList(def)
	f.Func(name, withEnv(usage, env)+" (default \""+def+"\")", func(s string) error {
		*p = splitList(s)
		return nil
	})
}

// Int registers an integer setting.
func (f *Flags) Int(p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, withEnv(usage, env))
}

// Float registers a floating-point setting.
func (f *Flags) Float(p *float64, name, env string, def float64, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a number", env, v))
		} else {
			def = x
		}
	}
	f.Float64Var(p, name, def, withEnv(usage, env))
}

// Duration registers a duration setting such as "500ms" or "1h".
func (f *Flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration (e.g. 500ms, 1h)", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, withEnv(usage, env))
}

// Parse reads the command line; a malformed environment variable is an error too.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	return errors.Join(f.errs...)
}

func withEnv(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " [$" + env + "]"
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Section is a group of settings shared by several commands.
type Section interface {
	Register(f *Flags)
}

// Add registers every section's settings.
func (f *Flags) Add(sections ...Section) {
	for _, s := range sections {
		s.Register(f)
	}
}
