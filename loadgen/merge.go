package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/logrelay/logrelay/internal/loadgen"
	"github.com/spf13/pflag"
)

// merge runs "loadgen merge": it merges .hlog files, prints a summary and
// writes <tag>.hgrm files and a merged log; it returns the exit code.
func merge(args []string) int {
	fs := pflag.NewFlagSet("loadgen merge", pflag.ContinueOnError)
	out := fs.String("out", "", "write <tag>.hgrm (ms) for every merged tag into this directory")
	hlog := fs.String("hlog", "", "write the merged per-second interval log to this file")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		fmt.Fprintln(os.Stderr, "loadgen merge:", err)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "loadgen merge: no .hlog files given")
		return 2
	}
	var rs []io.Reader
	for _, p := range fs.Args() {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen merge:", err)
			return 1
		}
		defer f.Close()
		rs = append(rs, f)
	}
	m, err := loadgen.MergeLogs(rs...)
	if err == nil {
		err = m.WriteText(os.Stdout)
	}
	if err == nil && *out != "" {
		err = os.MkdirAll(*out, 0o755)
		for tag := range m.Totals {
			if err == nil {
				err = create(filepath.Join(*out, tag+".hgrm"), func(w io.Writer) error { return m.WriteHgrm(w, tag) })
			}
		}
	}
	if err == nil && *hlog != "" {
		err = create(*hlog, m.WriteLog)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen merge:", err)
		return 1
	}
	return 0
}

func create(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
