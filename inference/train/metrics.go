package train

import (
	"math"
	"slices"
)

// Metrics describe a model's predictions on a dataset.
type Metrics struct {
	Rows, Positives int
	// LogLoss is the mean negative log-likelihood of the labels.
	LogLoss float64
	// BaseLogLoss is the log-loss of always predicting the training set's positive rate:
	// the bar a useful model must clear.
	BaseLogLoss float64
	// AUC is the area under the ROC curve, the probability that a random positive scores
	// above a random negative (ties count half); 0.5 is chance.
	AUC float64
}

// eps keeps log-losses finite for predictions of exactly 0 or 1.
const eps = 1e-7

// evaluate scores every row of d with predict and compares with the labels; base is the
// training set's positive rate.
func evaluate(d Dataset, predict func([]float32) float32, base float64) Metrics {
	m := Metrics{Rows: d.Len(), Positives: d.Positives()}
	if m.Rows == 0 {
		return m
	}
	p := make([]float64, d.Len())
	for i := range p {
		p[i] = float64(predict(d.Row(i)))
		y := float64(d.Y[i])
		m.LogLoss += logLoss(p[i], y)
		m.BaseLogLoss += logLoss(base, y)
	}
	m.LogLoss /= float64(m.Rows)
	m.BaseLogLoss /= float64(m.Rows)
	m.AUC = auc(p, d.Y)
	return m
}

func logLoss(p, y float64) float64 {
	p = min(max(p, eps), 1-eps)
	return -(y*math.Log(p) + (1-y)*math.Log(1-p))
}

// auc is the Mann-Whitney statistic: the mean rank of the positives among all scores, tied
// scores sharing their average rank. It is NaN without both classes.
func auc(p []float64, y []float32) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	var pos, rankSum float64
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi < len(idx) && p[idx[hi]] == p[idx[lo]] {
			hi++
		}
		rank := float64(lo+hi+1) / 2 // ranks lo+1 … hi, averaged
		for _, i := range idx[lo:hi] {
			if y[i] == 1 {
				pos++
				rankSum += rank
			}
		}
		lo = hi
	}
	neg := float64(len(p)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
