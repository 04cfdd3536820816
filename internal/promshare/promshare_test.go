package promshare_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lambda-platform/lambda/internal/promshare"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "lambda_test_things_total", Help: "Things."}
	first := promshare.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	second := promshare.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	if first != second {
		t.Fatal("the second registration did not return the first collector")
	}
	second.WithLabelValues("a").Inc()
	if n := testutil.CollectAndCount(first); n != 1 {
		t.Errorf("%d series, want 1", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("a collector with other labels under the same name did not panic")
		}
	}()
	promshare.Register(reg, prometheus.NewCounterVec(opts, []string{"other"}))
}
