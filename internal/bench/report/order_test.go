package report

import (
	"slices"
	"testing"
)

// TestSortedReasons: the flush reasons come in their fixed order, any other
// key after them alphabetically.
func TestSortedReasons(t *testing.T) {
	t.Parallel()
	m := map[string][]uint64{"zzz": nil, "read": nil, "bytes": nil, "aaa": nil, "size": nil, "age": nil, "shutdown": nil}
	want := []string{"size", "age", "shutdown", "bytes", "read", "aaa", "zzz"}
	if got := sortedReasons(m); !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}
