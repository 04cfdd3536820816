package inference_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	ort "github.com/yalue/onnxruntime_go"
)

// BenchmarkThroughput scores batches of rows with the scorer (Score on [][]float32,
// ScoreFlat on one slice) and, side by side, with a bare onnxruntime_go AdvancedSession
// whose tensors already hold the batch (Run only: the floor).
func BenchmarkThroughput(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, ref := range []reference{newLR(b, 1), newMLP(b, 2)} {
		m := load(b, ref, inference.Meta{Name: ref.name}, inference.Options{Sessions: 1})
		for _, n := range []int{1, 64, 4096} {
			rows := randomRows(r, n)
			x := flatten(rows)
			prefix := fmt.Sprintf("%s/batch=%d/", ref.name, n)
			b.Run(prefix+"score", func(b *testing.B) {
				for b.Loop() {
					if _, err := m.Score(b.Context(), rows); err != nil {
						b.Fatal(err)
					}
				}
				reportRows(b, n)
			})
			b.Run(prefix+"score-flat", func(b *testing.B) {
				for b.Loop() {
					if _, err := m.ScoreFlat(b.Context(), x, width); err != nil {
						b.Fatal(err)
					}
				}
				reportRows(b, n)
			})
			b.Run(prefix+"bare-session", func(b *testing.B) {
				s := bareSession(b, ref.onnx, x, n)
				for b.Loop() {
					if err := s.Run(); err != nil {
						b.Fatal(err)
					}
				}
				reportRows(b, n)
			})
		}
	}
}

// BenchmarkLatency times single-row calls one by one and reports their p50 and p99: the
// scorer's ScoreOne next to a bare AdvancedSession Run of one row.
func BenchmarkLatency(b *testing.B) {
	row := randomRows(rand.New(rand.NewPCG(2, 2)), 1)[0]
	for _, ref := range []reference{newLR(b, 1), newMLP(b, 2)} {
		m := load(b, ref, inference.Meta{Name: ref.name}, inference.Options{Sessions: 1})
		observed := load(b, ref, inference.Meta{Name: ref.name}, inference.Options{Sessions: 1, Observer: inference.NewRunMetrics(prometheus.NewRegistry())})
		for name, m := range map[string]*inference.Model{"score-one": m, "score-one-observed": observed} {
			b.Run(ref.name+"/"+name, func(b *testing.B) {
				var d []time.Duration
				for b.Loop() {
					start := time.Now()
					if _, err := m.ScoreOne(b.Context(), row); err != nil {
						b.Fatal(err)
					}
					d = append(d, time.Since(start))
				}
				reportPercentiles(b, d)
			})
		}
		b.Run(ref.name+"/bare-session", func(b *testing.B) {
			s := bareSession(b, ref.onnx, row, 1)
			var d []time.Duration
			for b.Loop() {
				start := time.Now()
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			reportPercentiles(b, d)
		})
	}
}

// bareSession is an AdvancedSession over input and output tensors of n rows, the input
// holding x, with the session options the scorer uses.
func bareSession(b *testing.B, onnx []byte, x []float32, n int) *ort.AdvancedSession {
	b.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(n), width), slices.Clone(x))
	if err != nil {
		b.Fatal(err)
	}
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 1))
	if err != nil {
		b.Fatal(err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	s, err := ort.NewAdvancedSessionWithONNXData(onnx, []string{onnxmodel.InputName}, []string{onnxmodel.OutputName},
		[]ort.Value{in}, []ort.Value{out}, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Destroy()
		in.Destroy()
		out.Destroy()
	})
	return s
}

func reportRows(b *testing.B, rowsPerOp int) {
	b.ReportMetric(float64(b.N*rowsPerOp)/b.Elapsed().Seconds(), "rows/s")
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}
