package elasticsearch

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/victorialogs"
	"github.com/logrelay/logrelay/internal/wire"
)

// reportMissing logs, by the relay's receive time relative to the kill
// (in 250 ms buckets), how many stamps are missing from the front node's
// rows: the gaps in each stream's sequence numbers.
func reportMissing(t *testing.T, front *victorialogs.Node, killAt, restartAt time.Time) {
	form := url.Values{"query": {"* | fields stamp, _time"}, "limit": {"300000"}}
	resp, err := http.PostForm(front.URL("/select/logsql/query"), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	have := map[uint32]map[uint64]time.Time{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var row struct {
			Stamp string    `json:"stamp"`
			Time  time.Time `json:"_time"`
		}
		json.Unmarshal(sc.Bytes(), &row)
		st, ok := wire.ParseStamp([]byte(row.Stamp))
		if !ok {
			continue
		}
		if have[st.Stream] == nil {
			have[st.Stream] = map[uint64]time.Time{}
		}
		have[st.Stream][st.Seq] = row.Time
	}
	hist := map[int]int{}
	for _, m := range have {
		var seqs []uint64
		for s := range m {
			seqs = append(seqs, s)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				b := int(m[seqs[i-1]].Sub(killAt) / (250 * time.Millisecond))
				hist[b] += int(seqs[i] - seqs[i-1] - 1)
			}
		}
	}
	var keys []int
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out []string
	for _, k := range keys {
		out = append(out, (time.Duration(k)*250*time.Millisecond).String()+":"+strconv.Itoa(hist[k]))
	}
	t.Logf("missing by receive time relative to the kill (250 ms buckets): %s; restart at +%v", strings.Join(out, " "), restartAt.Sub(killAt))
}
