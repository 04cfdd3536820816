package predict_test

import (
	"testing"

	"github.com/lambda-platform/lambda/servinglayer/predict"
)

func TestChoose(t *testing.T) {
	batch := func(partition int32, offset int64) *predict.BatchRow {
		return &predict.BatchRow{Coverage: predict.Coverage{Partition: partition, Offset: offset}}
	}
	speed := func(partition int32, offset int64, scored bool) *predict.SpeedRow {
		return &predict.SpeedRow{Coverage: predict.Coverage{Partition: partition, Offset: offset}, Scored: scored}
	}
	for _, tc := range []struct {
		name  string
		batch *predict.BatchRow
		speed *predict.SpeedRow
		want  predict.Source
	}{
		{"neither", nil, nil, ""},
		{"batch only", batch(2, 10), nil, predict.Batch},
		{"speed only", nil, speed(2, 10, true), predict.Speed},
		{"speed covers more", batch(2, 10), speed(2, 11, true), predict.Speed},
		{"tie goes to batch", batch(2, 10), speed(2, 10, true), predict.Batch},
		{"batch covers more", batch(2, 11), speed(2, 10, true), predict.Batch},
		{"unscored speed row does not compete", batch(2, 10), speed(2, 99, false), predict.Batch},
		{"unscored speed row alone", nil, speed(2, 99, false), ""},
		{"other partition cannot be compared", batch(2, 10), speed(3, 99, true), predict.Batch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := predict.Choose(tc.batch, tc.speed)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Choose = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
