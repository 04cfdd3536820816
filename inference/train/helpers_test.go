package train_test

import (
	"sync"
	"testing"

	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// demoEvents and demoEntities size the dataset the tests share: about 3000 labels.
const (
	demoEvents   = 300000
	demoEntities = 3000
)

var demo = sync.OnceValues(func() (train.Dataset, error) {
	return train.Demo(features.DefaultSpec(), demogen.Config{Seed: 1, Entities: demoEntities}, demoEvents)
})

func demoSplit(t testing.TB) (train.Dataset, train.Dataset) {
	t.Helper()
	d, err := demo()
	if err != nil {
		t.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	return tr, ho
}
