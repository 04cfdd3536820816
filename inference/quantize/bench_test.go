package quantize_test

import (
	"github.com/lambda-platform/lambda/inference/ortenv"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// benchBatch is the number of rows per scoring call.
const benchBatch = 4096

// BenchmarkScore scores batches of 4096 rows with fp32 models and their INT8 variants side
// by side, each on one session with one thread: the MLP trained on demo data (15 features,
// 64 hidden units) on demo rows, and a 256×256 MLP on standard normal rows.
func BenchmarkScore(b *testing.B) {
	d, err := train.Demo(features.DefaultSpec(), demogen.Config{Seed: 1, Entities: 3000}, 300000)
	if err != nil {
		b.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	res, err := train.Fit(b.Context(), tr, ho, train.Config{Kind: train.MLP, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	trained, err := res.ONNX()
	if err != nil {
		b.Fatal(err)
	}
	demoRows := slices.Repeat(d.X, benchBatch/d.Len()+1)[:benchBatch*d.Width()]
	for _, c := range []struct {
		name  string
		fp32  []byte
		x     []float32
		width int
	}{
		{"trained-mlp", trained, demoRows, d.Width()},
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
			b.Run(c.name+"/"+name, func(b *testing.B) {
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
