package inference

import (
	"context"
	"errors"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// pool holds the sessions of a model; a caller checks one out per run.
type pool struct {
	free  chan *slot
	slots []*slot
}

// slot is one ONNX Runtime session with input and output buffers for maxBatch rows. A
// DynamicAdvancedSession runs any row count on the one session, and running it through an
// IoBinding allocates nothing on the Go side: as fast as an AdvancedSession, which is bound
// to a single tensor shape.
type slot struct {
	sess  *ort.DynamicAdvancedSession
	sig   signature
	in    []float32 // maxBatch × width
	out   []float32 // maxBatch
	views []*view   // indexed by row count, created on first use
}

// view is a pair of tensors over the first rows of a slot's buffers, bound to the session, so
// that a run computes exactly the rows it was given.
type view struct {
	in, out *ort.Tensor[float32]
	binding *ort.IoBinding
}

func newPool(onnx []byte, sig signature, sessions, maxBatch, threads int) (*pool, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if err := errors.Join(so.SetIntraOpNumThreads(threads), so.SetInterOpNumThreads(1)); err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}

	p := &pool{free: make(chan *slot, sessions)}
	for i := range sessions {
		sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx, []string{sig.input}, []string{sig.output}, so)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%w: session %d: %w", ErrInvalidModel, i, err), p.destroy())
		}
		s := &slot{
			sess:  sess,
			sig:   sig,
			in:    make([]float32, maxBatch*sig.width),
			out:   make([]float32, maxBatch),
			views: make([]*view, maxBatch+1),
		}
		p.slots = append(p.slots, s)
		p.free <- s
	}
	return p, nil
}

// get checks out a free slot, waiting until one is returned or ctx ends.
func (p *pool) get(ctx context.Context) (*slot, error) {
	select {
	case s := <-p.free:
		return s, nil
	default:
	}
	select {
	case s := <-p.free:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pool) put(s *slot) { p.free <- s }

// destroy releases every session and tensor; no slot may be in use.
func (p *pool) destroy() error {
	var errs []error
	for _, s := range p.slots {
		for _, v := range s.views {
			if v != nil {
				errs = append(errs, v.binding.Destroy(), v.in.Destroy(), v.out.Destroy())
			}
		}
		errs = append(errs, s.sess.Destroy())
	}
	p.slots = nil
	return errors.Join(errs...)
}

// run scores the first rows of the input buffer and returns their scores, which stay valid
// until the slot's next run.
func (s *slot) run(rows int) ([]float32, error) {
	v := s.views[rows]
	if v == nil {
		var err error
		if v, err = s.newView(rows); err != nil {
			return nil, err
		}
		s.views[rows] = v
	}
	if err := s.sess.RunWithBinding(v.binding); err != nil {
		return nil, fmt.Errorf("run %d rows: %w", rows, err)
	}
	return s.out[:rows], nil
}

func (s *slot) newView(rows int) (*view, error) {
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(s.sig.width)), s.in)
	if err != nil {
		return nil, fmt.Errorf("input tensor for %d rows: %w", rows, err)
	}
	outShape := ort.NewShape(int64(rows), 1)
	if s.sig.outputRank == 1 {
		outShape = ort.NewShape(int64(rows))
	}
	out, err := ort.NewTensor(outShape, s.out)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("output tensor for %d rows: %w", rows, err), in.Destroy())
	}
	b, err := s.sess.CreateIoBinding()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("io binding: %w", err), in.Destroy(), out.Destroy())
	}
	if err := errors.Join(b.BindInput(s.sig.input, in), b.BindOutput(s.sig.output, out)); err != nil {
		return nil, errors.Join(fmt.Errorf("io binding: %w", err), b.Destroy(), in.Destroy(), out.Destroy())
	}
	return &view{in: in, out: out, binding: b}, nil
}
