package chstream_test

import (
	"context"
	"errors"
	"os"
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
