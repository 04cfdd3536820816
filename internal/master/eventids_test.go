package master_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestEventIDs: the ids of one partition's offset range, each once although the
// archiver inserted it twice, without the events older than the time bound.
func TestEventIDs(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+db+"`.events (kafka_partition, kafka_offset, event_id, entity_id, ts)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	for off := range int64(10) {
		for _, p := range []int32{0, 1} {
			ts := now
			if off == 6 {
				ts = now.Add(-100 * 24 * time.Hour) // too late to be checked
			}
			for range 2 { // a redelivered copy
				if err := ins.Append(p, off, fmt.Sprintf("ev-%d-%d", p, off), "user", ts); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := ins.Send(); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = master.New(conn, testenv.ClickHouseStream(""), db).EventIDs(ctx, 1, 3, 7, now.Add(-time.Hour), func(entity, event string) {
		got = append(got, entity+"/"+event)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"user/ev-1-4", "user/ev-1-5", "user/ev-1-7"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
