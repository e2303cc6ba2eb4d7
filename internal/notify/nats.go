package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// NATS publishes messages to JetStream: the payload on the subject of its
// event type (export.airgap.ready.v1, or a dataset event's
// stella.dataset.*.v1) with header Nats-Msg-Id set to the idempotency
// key, so that a stream's duplicate window drops replays, and dead-letter
// records on export.airgap.ready.dlq. A publish counts as delivered only
// when a stream acknowledged it; without a stream that captures the
// subject every attempt fails ("no responders").
//
// The connection is made at the first attempt and again after it was lost,
// so an unreachable server is retried like any failed delivery.
type NATS struct {
	url     string
	timeout time.Duration
	nc      *nats.Conn
	js      jetstream.JetStream
}

// NewNATS checks rawURL (nats://, tls://, ws:// or wss://, optionally with
// credentials; see CheckURL) and returns its transport; each attempt is bounded by
// timeout.
func NewNATS(rawURL string, timeout time.Duration) (*NATS, error) {
	if _, err := CheckURL(NATSOption, rawURL, NATSSchemes); err != nil {
		return nil, err
	}
	return &NATS{url: rawURL, timeout: timeout}, nil
}

// Name implements Transport.
func (n *NATS) Name() string { return "nats" }

// Close implements Transport.
func (n *NATS) Close() error {
	if n.nc != nil {
		n.nc.Close()
		n.nc, n.js = nil, nil
	}
	return nil
}

func (n *NATS) connect() error {
	if n.nc != nil && !n.nc.IsClosed() {
		return nil
	}
	nc, err := nats.Connect(n.url, nats.Name("stella-export relay"), nats.Timeout(n.timeout), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(n.url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream %s: %w", redact(n.url), err)
	}
	n.nc, n.js = nc, js
	return nil
}

func (n *NATS) publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	if err := n.connect(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	m := nats.NewMsg(subject)
	m.Data = data
	// The relay's own schedule does the retrying, not the client's.
	ack, err := n.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID), jetstream.WithRetryAttempts(0))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			err = fmt.Errorf("no JetStream stream captures subject %s: %w", subject, err)
		}
		return nil, fmt.Errorf("publish %s: %w", subject, err)
	}
	return ack, nil
}

// Send implements Transport.
func (n *NATS) Send(ctx context.Context, m Message) error {
	_, err := n.publish(ctx, m.Type, m.Key, m.Body) // the event type is the subject
	if err != nil {
		return exitcode.Cause(ctx, &SendError{Transport: n.Name(), Err: err})
	}
	return nil
}

// PublishDeadLetter implements DeadLetterPublisher. Its Nats-Msg-Id is the
// key and the attempt time, so a later dead letter of the same entry (after
// --dlq-retry) is not dropped as a duplicate.
func (n *NATS) PublishDeadLetter(ctx context.Context, dl *DeadLetter, record []byte) error {
	_, err := n.publish(ctx, DLQSubject, "dlq-"+dl.Key+"-"+dl.LastAttemptAt, record)
	return err
}
