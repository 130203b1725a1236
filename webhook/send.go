package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sender POSTs batches, retrying with exponential backoff.
type sender struct {
	opts   Options
	client *http.Client
	d      *Dispatcher
}

func newSender(opts Options, d *Dispatcher) *sender {
	tr := &http.Transport{MaxIdleConnsPerHost: opts.Workers, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: opts.Timeout}
	return &sender{opts: opts, d: d, client: &http.Client{Transport: tr, Timeout: opts.Timeout,
		// A webhook answering with a redirect has moved: send it nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post delivers events to one webhook. It returns false when ctx ended
// first or keep said the batch is another node's now (the batch is then
// left to that node); a batch given up after RetryFor counts as failed and
// returns true. keep runs before each retry.
func (s *sender) post(ctx context.Context, a *appHooks, hook Config, events []Event, keep func() bool) bool {
	body := AppendBody(nil, time.Now().UnixMilli(), events)
	sig := Sign(a.Secret, body)
	giveUp := time.Now().Add(s.opts.RetryFor)
	wait := s.opts.RetryMin
	for {
		err := s.once(ctx, a, hook, body, sig)
		if err == nil {
			s.d.sent.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Now().Add(wait).After(giveUp) {
			s.d.failed.Add(1)
			s.d.rlog.Printf("webhook-failed", "webhooks: gave up on %d events for app %s to %s after %v: %v", len(events), a.ID, hook.URL, s.opts.RetryFor, err)
			return true
		}
		s.d.retried.Add(1)
		s.d.rlog.Printf("webhook-retry", "webhooks: POST to %s failed: %v; retrying in %v", hook.URL, err, wait)
		if !sleepCtx(ctx, wait) || !keep() {
			return false
		}
		wait = min(wait*2, s.opts.RetryMax)
	}
}

func (s *sender) once(ctx context.Context, a *appHooks, hook Config, body []byte, sig string) error {
	select {
	case s.d.posting <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.d.posting }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hook.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", a.Key)
	req.Header.Set("X-Pusher-Signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
