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
	if got, want := sortedKeys(map[string]int{"b": 1, "c": 2, "a": 3}), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("sortedKeys: got %v want %v", got, want)
	}
}
