package event

import (
	"encoding/json"
	"fmt"
)

// Rejection is one invalid event of a batch.
type Rejection struct {
	Index int   // position in the batch, 0 for a body holding one object
	Err   error // matches ErrInvalid
}

// MarshalJSON writes {"index":N,"error":"..."}.
func (r Rejection) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	}{r.Index, r.Err.Error()})
}

// DecodeMany decodes a body holding one event object or a JSON array of at most
// MaxBatchEvents of them. It returns the valid events in order and a Rejection for
// each invalid one. It returns an error, matching ErrInvalid, only when the body as
// a whole is unusable: over MaxBatchBytes or MaxBatchEvents (also ErrTooLarge), not
// JSON (a *SyntaxError with the offset in data), or neither an object nor an array.
func DecodeMany(data []byte) ([]Event, []Rejection, error) {
	if len(data) > MaxBatchBytes {
		return nil, nil, tooLargeError(fmt.Sprintf("batch is %d bytes, more than the %d allowed", len(data), MaxBatchBytes))
	}
	d := decoder{data: data}
	d.skipSpace()
	var (
		events []Event
		rejs   []Rejection
	)
	switch d.peek() {
	case '{':
		e, invalid, err := d.element()
		switch {
		case err != nil:
			return nil, nil, err
		case invalid != nil:
			rejs = append(rejs, Rejection{Index: 0, Err: invalid})
		default:
			events = append(events, e)
		}
	case '[':
		var err error
		if events, rejs, err = d.array(); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, d.unexpected(d.pos, "'{' or '[' to start an event or a batch of events")
	}
	d.skipSpace()
	if d.pos < len(data) {
		return nil, nil, d.syntaxErr(d.pos, "unexpected %s after the batch", describe(data[d.pos]))
	}
	return events, rejs, nil
}

// array decodes the elements of the array at d.pos.
func (d *decoder) array() ([]Event, []Rejection, error) {
	d.pos++
	d.skipSpace()
	if d.peek() == ']' {
		d.pos++
		return nil, nil, nil
	}
	var (
		events []Event
		rejs   []Rejection
	)
	for i := 0; ; i++ {
		if i == MaxBatchEvents {
			return nil, nil, tooLargeError(fmt.Sprintf("batch has more than %d events", MaxBatchEvents))
		}
		d.skipSpace()
		e, invalid, err := d.element()
		switch {
		case err != nil:
			return nil, nil, err
		case invalid != nil:
			rejs = append(rejs, Rejection{Index: i, Err: invalid})
		default:
			events = append(events, e)
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return events, rejs, nil
		default:
			return nil, nil, d.unexpected(d.pos, "',' or ']' after an event")
		}
	}
}

// element decodes the event at d.pos and leaves d.pos after it. A syntactically
// valid element that is not a valid event is reported in invalid; input that is not
// JSON in err.
func (d *decoder) element() (e Event, invalid, err error) {
	start := d.pos
	if d.peek() == '{' {
		e, invalid = d.event()
	} else {
		invalid = d.unexpected(d.pos, "'{' to start an event object")
	}
	if invalid != nil {
		// Find the element's end, and whether it is JSON at all.
		d.pos = start
		if err := d.skipValue(); err != nil {
			return Event{}, nil, err
		}
	}
	if n := d.pos - start; n > MaxEventBytes {
		invalid = tooLargeError(fmt.Sprintf("event is %d bytes, more than the %d allowed", n, MaxEventBytes))
	} else if invalid == nil {
		invalid = checkEncodedSize(e, n+encodeSlack)
	}
	if invalid != nil {
		return Event{}, invalid, nil
	}
	return e, nil, nil
}
