package event

import (
	"fmt"
	"time"
)

// DefaultMaxClockSkew is how far an event's ts may be ahead of its arrival unless
// configured otherwise (LAMBDA_MAX_CLOCK_SKEW).
const DefaultMaxClockSkew = 5 * time.Minute

// ClockSkewError reports an event whose ts is further ahead of its arrival than the
// platform allows: its producer's clock is wrong. It matches ErrClockSkew and ErrInvalid.
type ClockSkewError struct {
	TS, Arrival time.Time
	MaxSkew     time.Duration
}

// ErrClockSkew matches a *ClockSkewError; it also matches ErrInvalid.
var ErrClockSkew = fmt.Errorf("%w: ts ahead of arrival", ErrInvalid)

func (e *ClockSkewError) Error() string {
	return fmt.Sprintf("field %q: %s is %s ahead of the event's arrival at %s, more than the %s allowed (LAMBDA_MAX_CLOCK_SKEW)",
		fieldTS, e.TS.UTC().Format(time.RFC3339Nano), e.TS.Sub(e.Arrival).Round(time.Millisecond),
		e.Arrival.UTC().Format(time.RFC3339Nano), e.MaxSkew)
}

// Unwrap makes a ClockSkewError match ErrClockSkew.
func (e *ClockSkewError) Unwrap() error { return ErrClockSkew }

// CheckArrival is the rule both layers and the API apply to when an event happened
// against when it arrived — the Kafka message timestamp, or the time the API received
// it: an event whose ts is more than maxSkew after its arrival is invalid. A zero
// arrival (a message without a timestamp) passes.
func CheckArrival(ts, arrival time.Time, maxSkew time.Duration) error {
	if arrival.IsZero() || !ts.After(arrival.Add(maxSkew)) {
		return nil
	}
	return &ClockSkewError{TS: ts, Arrival: arrival, MaxSkew: maxSkew}
}

// FoldTime is the event time the layers fold an event at: its ts, but never after its
// arrival, so that no view's as_of (the newest event time it covers) passes the
// newest arrival it covers. The batch layer applies the same rule in SQL:
// least(ts_us, arrival_us). A zero arrival leaves ts as it is.
func FoldTime(ts, arrival time.Time) time.Time {
	if arrival.IsZero() || !ts.After(arrival) {
		return ts
	}
	return arrival.UTC()
}

// CheckArrivals applies CheckArrival to the events of a DecodeMany result, all
// arrived at arrival: it returns the events that pass, and rejs with a Rejection
// added, at its batch index, for each that does not.
func CheckArrivals(events []Event, rejs []Rejection, arrival time.Time, maxSkew time.Duration) ([]Event, []Rejection) {
	var late []Rejection
	kept := events[:0:0]
	index, r := 0, 0 // the batch index of events[i]; the next rejection in rejs
	for _, e := range events {
		for r < len(rejs) && rejs[r].Index == index {
			index, r = index+1, r+1
		}
		if err := CheckArrival(e.TS, arrival, maxSkew); err != nil {
			late = append(late, Rejection{Index: index, Err: err})
		} else {
			kept = append(kept, e)
		}
		index++
	}
	if len(late) == 0 {
		return events, rejs
	}
	merged := make([]Rejection, 0, len(rejs)+len(late))
	for len(rejs) > 0 || len(late) > 0 {
		if len(late) == 0 || len(rejs) > 0 && rejs[0].Index < late[0].Index {
			merged, rejs = append(merged, rejs[0]), rejs[1:]
		} else {
			merged, late = append(merged, late[0]), late[1:]
		}
	}
	return kept, merged
}
