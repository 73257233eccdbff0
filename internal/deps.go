//go:build tools

// Package internal pins the project's chosen dependencies in go.mod before
// every package uses them.
package internal

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/pflag"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
	_ "gonum.org/v1/plot"
)
