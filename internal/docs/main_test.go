package docs

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(cleanup{m}) }

// cleanup removes the binaries the tests built once they have all run.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	defer removeBinaries()
	return c.m.Run()
}
