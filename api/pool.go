package api

// pool is a fixed set of workers behind a bounded queue. Submitting never
// blocks: when the queue is full the caller is told at once and answers 503,
// so a flood or a stalled Redis costs a bounded number of goroutines and
// queued requests, never an unbounded backlog.
type pool struct {
	jobs chan func()
}

func newPool(workers, queue int) *pool {
	p := &pool{jobs: make(chan func(), queue)}
	for range workers {
		go func() {
			for job := range p.jobs {
				job()
			}
		}()
	}
	return p
}

// trySubmit queues job, or returns false when the queue is full.
func (p *pool) trySubmit(job func()) bool {
	select {
	case p.jobs <- job:
		return true
	default:
		return false
	}
}
