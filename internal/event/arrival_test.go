package event_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

func TestCheckArrival(t *testing.T) {
	arrival := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	skew := 5 * time.Minute
	for _, c := range []struct {
		ts      time.Time
		invalid bool
	}{
		{arrival.Add(-time.Hour), false},
		{arrival, false},
		{arrival.Add(skew), false},
		{arrival.Add(skew + time.Microsecond), true},
		{time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		err := event.CheckArrival(c.ts, arrival, skew)
		if (err != nil) != c.invalid {
			t.Errorf("CheckArrival(%v) = %v, want invalid %v", c.ts, err, c.invalid)
		}
		if err != nil && (!errors.Is(err, event.ErrClockSkew) || !errors.Is(err, event.ErrInvalid)) {
			t.Errorf("CheckArrival(%v) = %v, want an error matching ErrClockSkew and ErrInvalid", c.ts, err)
		}
	}
	if err := event.CheckArrival(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, skew); err != nil {
		t.Errorf("unknown arrival: %v, want nil", err)
	}
	err := event.CheckArrival(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), arrival, skew)
	if want := `field "ts": 2100-01-01T00:00:00Z is`; err == nil || err.Error()[:len(want)] != want {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}

func TestFoldTime(t *testing.T) {
	arrival := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if got := event.FoldTime(arrival.Add(-time.Minute), arrival); !got.Equal(arrival.Add(-time.Minute)) {
		t.Errorf("an event before its arrival is folded at %v, want its ts", got)
	}
	if got := event.FoldTime(arrival.Add(time.Minute), arrival); !got.Equal(arrival) {
		t.Errorf("an event ahead of its arrival is folded at %v, want its arrival", got)
	}
	if ts := arrival.Add(time.Hour); !event.FoldTime(ts, time.Time{}).Equal(ts) {
		t.Error("an unknown arrival must leave ts")
	}
}

func TestCheckArrivalsKeepsBatchIndexes(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	body := `[{"event_id":"a","entity_id":"e","type":"t","ts":"2026-12-06T11:00:00Z"},
		{"event_id":"b","entity_id":"e","type":"t","ts":"2100-01-01T00:00:00Z"},
		{"event_id":"c","entity_id":"e","type":"t"},
		{"event_id":"d","entity_id":"e","type":"t","ts":"2100-01-01T00:00:00Z"},
		{"event_id":"e","entity_id":"e","type":"t","ts":"2026-12-06T12:01:00Z"}]`
	events, rejs, err := event.DecodeMany([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	events, rejs = event.CheckArrivals(events, rejs, now, 5*time.Minute)
	var ids []string
	for _, e := range events {
		ids = append(ids, e.EventID)
	}
	var idx []int
	for _, r := range rejs {
		idx = append(idx, r.Index)
	}
	if len(ids) != 2 || ids[0] != "a" || ids[1] != "e" {
		t.Errorf("kept %v, want [a e]", ids)
	}
	if len(idx) != 3 || idx[0] != 1 || idx[1] != 2 || idx[2] != 3 {
		t.Errorf("rejected indexes %v, want [1 2 3]", idx)
	}
	if !errors.Is(rejs[0].Err, event.ErrClockSkew) || errors.Is(rejs[1].Err, event.ErrClockSkew) {
		t.Errorf("rejections %v: want the clock skew at index 1 and the missing ts at 2", rejs)
	}
}
