package sut

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ProfileKinds are the profiles Profiles saves, besides the CPU profile.
var ProfileKinds = []string{"heap", "allocs", "goroutine", "mutex", "block"}

// Profile is a pprof profile saved to a file, with the command that opens it.
type Profile struct {
	Kind, Path, Command string
}

// CPUProfile saves a CPU profile of the relay over most of d (d − 0.5 s,
// at least 1 s) into dir/relay-cpu.pb.gz, with a copy of the relay binary
// next to it for pprof. It blocks for that long.
func (h *ProcessRelay) CPUProfile(ctx context.Context, dir string, d time.Duration) (Profile, error) {
	secs := max(1, int((d - 500*time.Millisecond).Seconds()))
	return h.saveProfile(ctx, dir, "cpu", fmt.Sprintf("profile?seconds=%d", secs), time.Duration(secs+10)*time.Second)
}

// Profiles saves the ProfileKinds into dir/relay-KIND.pb.gz and the
// relay's /metrics text into dir/relay-metrics.txt, with a copy of the
// relay binary. It returns the profiles it saved and the errors of the
// others.
func (h *ProcessRelay) Profiles(ctx context.Context, dir string) ([]Profile, error) {
	var ps []Profile
	var errs []error
	for _, k := range ProfileKinds {
		p, err := h.saveProfile(ctx, dir, k, k, 10*time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps = append(ps, p)
	}
	errs = append(errs, h.saveMetrics(dir))
	return ps, errors.Join(errs...)
}

func (h *ProcessRelay) saveProfile(ctx context.Context, dir, kind, path string, timeout time.Duration) (Profile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Profile{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+h.admin+"/debug/pprof/"+path, nil)
	if err != nil {
		return Profile{}, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Profile{}, fmt.Errorf("profile %s: %s", kind, resp.Status)
	}
	file := filepath.Join(dir, "relay-"+kind+".pb.gz")
	f, err := os.Create(file)
	if err != nil {
		return Profile{}, err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return Profile{}, fmt.Errorf("profile %s: %w", kind, err)
	}
	if err := f.Close(); err != nil {
		return Profile{}, err
	}
	bin, err := h.keepBinary(dir)
	if err != nil {
		return Profile{}, err
	}
	return Profile{Kind: kind, Path: file, Command: fmt.Sprintf("go tool pprof -http=127.0.0.1:0 %s %s", bin, file)}, nil
}

// keepBinary copies the relay binary into dir once, so that the pprof
// commands work after the bench removed its build.
func (h *ProcessRelay) keepBinary(dir string) (string, error) {
	dst := filepath.Join(dir, "relay")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	b, err := os.ReadFile(h.bin)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, b, 0o755)
}

// saveMetrics saves the relay's /metrics text into dir.
func (h *ProcessRelay) saveMetrics(dir string) error {
	resp, err := h.client.Get("http://" + h.admin + "/metrics")
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("save /metrics: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "relay-metrics.txt"), b, 0o644)
}
