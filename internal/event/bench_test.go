package event_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/internal/event"
)

var benchDocs = []struct{ name, doc string }{
	{"view", `{"event_id":"evt-1a2b3c-000000123456","entity_id":"user-000123","type":"view","ts":"2026-01-02T15:04:05.123456789Z","attrs":{"category":"books","country":"DE","device":"web"}}`},
	{"purchase", `{"event_id":"evt-1a2b3c-000000123457","entity_id":"user-000123","type":"purchase","ts":"2026-01-02T15:04:05.123Z","value":42.99,"attrs":{"category":"electronics","country":"US","device":"ios","qty":"2","gift":"false"}}`},
	{"minimal", `{"event_id":"e-1","entity_id":"user-000001","type":"view","ts":"2026-01-02T15:04:05Z"}`},
}

// BenchmarkDecode compares Decode (validating) with json.Unmarshal into Event
// (no validation, no duplicate or unknown key checks) on the same documents, whose
// attrs are all strings so that json.Unmarshal accepts them.
func BenchmarkDecode(b *testing.B) {
	for _, d := range benchDocs {
		data := []byte(d.doc)
		b.Run(d.name+"/lambda", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := event.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(d.name+"/encoding_json", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var e event.Event
				if err := json.Unmarshal(data, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeMany decodes a batch of MaxBatchEvents events.
func BenchmarkDecodeMany(b *testing.B) {
	docs := make([]string, event.MaxBatchEvents)
	for i := range docs {
		docs[i] = benchDocs[i%len(benchDocs)].doc
	}
	data := []byte("[" + strings.Join(docs, ",") + "]")
	b.Run("lambda", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, rejs, err := event.DecodeMany(data); err != nil || len(rejs) > 0 {
				b.Fatal(err, rejs)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var events []event.Event
			if err := json.Unmarshal(data, &events); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncode compares AppendJSON into a reused buffer with json.Marshal.
func BenchmarkEncode(b *testing.B) {
	e, err := event.Decode([]byte(benchDocs[1].doc))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("lambda", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = event.AppendJSON(buf[:0], e)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			out, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.SetBytes(int64(n))
	})
}
