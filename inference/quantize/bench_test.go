package quantize_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// benchBatch is the number of rows per scoring call of the batch benchmarks.
const benchBatch = 4096

// BenchmarkScore scores with fp32 models and their INT8 variants side by side, each on one
// session with one thread, one row per call (as an edge client scores an entity; p50 and
// p99 of the calls reported) and 4096 rows per call: the MLPs `lambda model train
// --hidden small|large` trains (15 features; 64, and 256 then 128 hidden units) on demo
// rows, and a 256×256 MLP on standard normal rows.
func BenchmarkScore(b *testing.B) {
	d, err := train.Demo(features.DefaultSpec(), demogen.Config{Seed: 1, Entities: 3000}, 300000)
	if err != nil {
		b.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	trained := func(hidden []int) []byte {
		res, err := train.Fit(b.Context(), tr, ho, train.Config{Kind: train.MLP, Hidden: hidden, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		onnx, err := res.ONNX()
		if err != nil {
			b.Fatal(err)
		}
		return onnx
	}
	demoRows := slices.Repeat(d.X, benchBatch/d.Len()+1)[:benchBatch*d.Width()]
	for _, c := range []struct {
		name  string
		fp32  []byte
		x     []float32
		width int
	}{
		{"trained-small", trained(train.SmallHidden), demoRows, d.Width()},
		{"trained-large", trained(train.LargeHidden), demoRows, d.Width()},
		{"mlp256", ortenv.ONNX(b, wideMLP(b, 256, 256, 1)), normals(rand.New(rand.NewPCG(2, 2)), benchBatch*256, 1), 256},
	} {
		names, files := []string{"fp32"}, [][]byte{c.fp32}
		for _, mode := range quantize.Modes {
			q, err := quantize.Quantize(c.fp32, mode)
			if err != nil {
				b.Fatal(err)
			}
			names, files = append(names, "int8-"+string(mode)), append(files, q)
		}
		for i, name := range names {
			m, err := inference.LoadModel(files[i], inference.Meta{Name: name}, inference.Options{Sessions: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.name+"/"+name+"/row", func(b *testing.B) {
				var took []time.Duration
				for j := 0; b.Loop(); j = (j + 1) % benchBatch {
					start := time.Now()
					if _, err := m.ScoreFlat(b.Context(), c.x[j*c.width:(j+1)*c.width], c.width); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(took[(len(took)-1)*99/100].Nanoseconds())/1e3, "p99-µs")
				b.ReportMetric(float64(len(files[i])), "file-bytes")
			})
			b.Run(c.name+"/"+name+"/batch", func(b *testing.B) {
				for b.Loop() {
					if _, err := m.ScoreFlat(b.Context(), c.x, c.width); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
			})
			if err := m.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
