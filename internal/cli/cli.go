// Package cli provides the small pieces that logrelay's mains share: flag
// parsing with defaults from environment variables, and a configured
// slog.Logger.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// EnvName returns the environment variable that sets flag name under
// prefix: "LOGRELAY" and "max-line-bytes" give "LOGRELAY_MAX_LINE_BYTES".
func EnvName(prefix, name string) string {
	return strings.ToUpper(prefix + "_" + strings.ReplaceAll(name, "-", "_"))
}

// BindEnv sets every flag of fs that was not given on the command line from
// its environment variable (see EnvName), when that variable is set. Call it
// after fs.Parse. It also appends "(env PREFIX_NAME)" to each flag's usage,
// so call it before printing help; a variable holding an invalid value is
// an error naming the variable.
func BindEnv(fs *pflag.FlagSet, prefix string) error {
	return bindEnv(fs, prefix, os.LookupEnv)
}

func bindEnv(fs *pflag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := EnvName(prefix, f.Name)
		if !strings.Contains(f.Usage, env) {
			f.Usage += " (env " + env + ")"
		}
		if err != nil || f.Changed {
			return
		}
		v, ok := lookup(env)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("environment variable %s=%q: %w", env, v, e)
		}
	})
	return err
}

// AnnotateEnv appends "(env PREFIX_NAME)" to the usage of every flag of fs,
// so that --help shows the variables before fs.Parse has run. BindEnv does
// the same; calling both is harmless.
func AnnotateEnv(fs *pflag.FlagSet, prefix string) {
	fs.VisitAll(func(f *pflag.Flag) {
		env := EnvName(prefix, f.Name)
		if !strings.Contains(f.Usage, env) {
			f.Usage += " (env " + env + ")"
		}
	})
}

// ErrUsage marks a command-line mistake (an unknown flag, a bad value, a
// stray argument); mains exit 2 on it.
var ErrUsage = errors.New("usage")

// Parse parses args into fs, rejects positional arguments and then fills
// unset flags from the environment (BindEnv). It returns pflag.ErrHelp after
// --help (exit 0), and otherwise an error wrapping ErrUsage that says what
// was wrong (exit 2).
func Parse(fs *pflag.FlagSet, prefix string, args []string) error {
	AnnotateEnv(fs, prefix)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v (see --help)", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q (see --help)", ErrUsage, fs.Args())
	}
	if err := BindEnv(fs, prefix); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return nil
}

// NewLogger returns a logger writing to w at level ("debug", "info", "warn"
// or "error") in format ("text" or "json").
func NewLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// LogFlags are the --log-level and --log-format flags, as AddLogFlags
// defines them.
type LogFlags struct{ level, format *string }

// AddLogFlags defines --log-level, defaulting to level, and --log-format
// (text or json, default text) on fs.
func AddLogFlags(fs *pflag.FlagSet, level string) LogFlags {
	return LogFlags{
		level:  fs.String("log-level", level, "log level: debug, info, warn, error"),
		format: fs.String("log-format", "text", "log format: text or json"),
	}
}

// Logger returns the logger the flags ask for, writing to w (see
// NewLogger). Call it after fs is parsed.
func (f LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	return NewLogger(*f.level, *f.format, w)
}
