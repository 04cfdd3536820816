package chstream_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/store"
)

func options() chstream.Options {
	addr := os.Getenv(store.EnvClickHouseAddr)
	if addr == "" {
		addr = store.DefaultClickHouseAddr
	}
	return chstream.Options{Addr: addr, Database: "system"}
}

func TestSelectStreamsBlocks(t *testing.T) {
	var (
		n    proto.ColUInt64
		s    proto.ColStr
		arr  = new(proto.ColStr).Array()
		rows int
		sum  uint64
	)
	err := chstream.Select(t.Context(), options(), "", "SELECT number AS n, toString(number) AS s, [toString(number), 'x'] AS a FROM numbers(200000)",
		proto.Results{{Name: "n", Data: &n}, {Name: "s", Data: &s}, {Name: "a", Data: arr}},
		func(r int) error {
			for i := range r {
				if s.Row(i) != arr.Row(i)[0] || arr.Row(i)[1] != "x" {
					t.Fatalf("row %d: %q %q", n[i], s.Row(i), arr.Row(i))
				}
				sum += n[i]
			}
			rows += r
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 200000 || sum != 199999*200000/2 {
		t.Errorf("%d rows summing to %d", rows, sum)
	}
}

func TestSelectReportsServerErrors(t *testing.T) {
	var c proto.ColUInt64
	err := chstream.Select(t.Context(), options(), "", "SELECT number FROM no_such_table", proto.Results{{Name: "number", Data: &c}},
		func(int) error { return nil })
	var ex *chstream.Exception
	if !errors.As(err, &ex) || ex.Code != 60 || !strings.Contains(ex.Message, "no_such_table") {
		t.Errorf("Select: %v, want exception 60 naming the table", err)
	}
	bad := options()
	bad.User = "nobody"
	err = chstream.Select(t.Context(), bad, "", "SELECT 1", nil, func(int) error { return nil })
	if !errors.As(err, &ex) || !strings.Contains(err.Error(), "handshake") {
		t.Errorf("Select as an unknown user: %v, want a handshake exception", err)
	}
}

func TestSelectChecksColumnTypes(t *testing.T) {
	var c proto.ColInt64
	err := chstream.Select(t.Context(), options(), "", "SELECT toString(number) AS s FROM numbers(3)", proto.Results{{Name: "s", Data: &c}},
		func(int) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "String") {
		t.Errorf("Select into the wrong type: %v", err)
	}
}

func TestSelectStopsOnCallbackErrorAndCancel(t *testing.T) {
	var c proto.ColUInt64
	res := proto.Results{{Name: "number", Data: &c}}
	stop := errors.New("enough")
	err := chstream.Select(t.Context(), options(), "", "SELECT number FROM numbers(100000000)", res, func(int) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Select: %v, want the callback's error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err = chstream.Select(ctx, options(), "", "SELECT number FROM numbers(100000000)", res, func(int) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Select: %v, want context.Canceled", err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"user-1":  `'user-1'`,
		`a'b`:     `'a\'b'`,
		`a\'; --`: `'a\\\'; --'`,
		"":        `''`,
		"é\x00\n": "'é\x00\n'",
	} {
		var b strings.Builder
		chstream.Quote(&b, in)
		if b.String() != want {
			t.Errorf("Quote(%q) = %s, want %s", in, b.String(), want)
		}
	}
}

// TestColumnsKeepEveryBlock reads strings of every length from empty to past the
// connection's buffer (so that strings and their lengths straddle its end), arrays
// with zero to three of them, and numbers, over many blocks, into the appending
// columns: every row of every block is kept, equal to what the server computed.
func TestColumnsKeepEveryBlock(t *testing.T) {
	var (
		n    chstream.Fixed[int64]
		f    chstream.Fixed[float64]
		u    chstream.Fixed[uint8]
		p    chstream.Fixed[int32]
		s    chstream.Strings
		arr  chstream.StringArrays
		blks int
	)
	const rows = 150000
	// Row i: s is 'x' repeated 1.2M times (past the 1 MiB buffer) when i%40000 == 1,
	// (i%300)*7 times when i%7 == 0, else toString(i); a holds i%4 copies of
	// toString(i).
	q := `SELECT toInt64(number) AS n, toFloat64(number) / 4 AS f, toUInt8(number % 256) AS u, toInt32(-number) AS p,
		toUInt64(multiIf(number % 40000 = 1, 1200000, number % 7 = 0, (number % 300) * 7, 0)) AS len,
		if(number % 7 = 0 OR number % 40000 = 1, arrayStringConcat(arrayMap(x -> 'x', range(len))), toString(number)) AS s, arrayMap(x -> toString(number), range(toUInt64(number % 4))) AS a
		FROM numbers(` + strconv.Itoa(rows) + `)`
	err := chstream.Select(t.Context(), options(), "", "SELECT n, f, u, p, s, a FROM ("+q+")",
		proto.Results{{Name: "n", Data: &n}, {Name: "f", Data: &f}, {Name: "u", Data: &u}, {Name: "p", Data: &p},
			{Name: "s", Data: &s}, {Name: "a", Data: &arr}},
		func(int) error { blks++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n.Rows() != rows || f.Rows() != rows || u.Rows() != rows || p.Rows() != rows || s.Rows() != rows || arr.Rows() != rows || blks < 2 {
		t.Fatalf("%d blocks; rows: %d %d %d %d %d %d, want %d each", blks, n.Rows(), f.Rows(), u.Rows(), p.Rows(), s.Rows(), arr.Rows(), rows)
	}
	long := 0
	for i := range rows {
		want := strconv.Itoa(i)
		switch {
		case i%40000 == 1:
			want = strings.Repeat("x", 1200000)
		case i%7 == 0:
			want = strings.Repeat("x", (i%300)*7)
		}
		long = max(long, len(want))
		if n.Values[i] != int64(i) || f.Values[i] != float64(i)/4 || u.Values[i] != uint8(i%256) || p.Values[i] != int32(-i) {
			t.Fatalf("row %d: %d %v %d %d", i, n.Values[i], f.Values[i], u.Values[i], p.Values[i])
		}
		if got := string(s.Row(i)); got != want {
			t.Fatalf("row %d: string of %d bytes, want %d", i, len(got), len(want))
		}
		from, to := arr.Offsets[i], arr.Offsets[i+1]
		if to-from != int32(i%4) {
			t.Fatalf("row %d: %d strings in the array, want %d", i, to-from, i%4)
		}
		for j := from; j < to; j++ {
			if got := string(arr.Data.Row(int(j))); got != strconv.Itoa(i) {
				t.Fatalf("row %d: array holds %q", i, got)
			}
		}
	}
	t.Logf("%d rows in %d blocks, strings up to %d bytes", rows, blks, long)
	s.Truncate()
	if s.Rows() != 0 || len(s.Buf) != 0 {
		t.Errorf("after Truncate: %d rows, %d bytes", s.Rows(), len(s.Buf))
	}
}
