package inproc

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server serves until its context ends, then returns err; with failAt
// set it returns failAt before it is ready; with stuck it ignores the
// context.
type server struct {
	ready  chan struct{}
	err    error
	failAt error
	stuck  chan struct{}
}

func (s *server) Ready() <-chan struct{} { return s.ready }

func (s *server) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	if s.failAt != nil {
		return s.failAt
	}
	close(s.ready)
	if s.stuck != nil {
		<-s.stuck
		return nil
	}
	<-ctx.Done()
	return s.err
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestServeStop(t *testing.T) {
	t.Parallel()
	want := errors.New("flush failed")
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Serve(ctx, &server{ready: make(chan struct{}), err: want}, listen(t))
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the caller's context does not stop the server
	if ok, err := r.Stop(context.Background()); !ok || !errors.Is(err, want) {
		t.Errorf("Stop: got %v, %v want %v, true", err, ok, want)
	}
	if ok, err := r.Stop(context.Background()); !ok || !errors.Is(err, want) {
		t.Errorf("second Stop: got %v, %v want the same", err, ok)
	}
}

func TestServeFailsBeforeReady(t *testing.T) {
	t.Parallel()
	want := errors.New("bad sink")
	if _, err := Serve(context.Background(), &server{ready: make(chan struct{}), failAt: want}, listen(t)); !errors.Is(err, want) {
		t.Errorf("got %v want %v", err, want)
	}
}

func TestStopTimesOut(t *testing.T) {
	t.Parallel()
	s := &server{ready: make(chan struct{}), stuck: make(chan struct{})}
	r, err := Serve(context.Background(), s, listen(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if ok, _ := r.Stop(ctx); ok {
		t.Error("stuck server: Stop reported it returned")
	}
	close(s.stuck)
	if ok, err := r.Stop(context.Background()); !ok || err != nil {
		t.Errorf("after unsticking: got %v, %v want nil, true", err, ok)
	}
}
