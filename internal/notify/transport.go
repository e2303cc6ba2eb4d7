package notify

import (
	"context"
	"fmt"
)

// Message is one delivery: the payload bytes and what the transports put in
// their headers.
type Message struct {
	Key  string // idempotency key
	Type string // event type
	Body []byte // canonical payload JSON and its LF, sent byte for byte
}

// Transport delivers messages. Send returns nil only when the receiver
// accepted the message; a *SendError says how it failed.
type Transport interface {
	Name() string
	Send(ctx context.Context, m Message) error
	Close() error
}

// DeadLetterPublisher is implemented by transports that also carry dead
// letters (NATS: the export.airgap.ready.dlq subject).
type DeadLetterPublisher interface {
	PublishDeadLetter(ctx context.Context, dl *DeadLetter, record []byte) error
}

// SendError is a failed delivery attempt.
type SendError struct {
	Transport string
	Status    int  // HTTP status, 0 when there was no response
	Permanent bool // retrying cannot help (a 4xx other than 408 and 429)
	Err       error
}

func (e *SendError) Error() string { return fmt.Sprintf("%s: %v", e.Transport, e.Err) }
func (e *SendError) Unwrap() error { return e.Err }

// permanentStatus reports whether an HTTP status is a permanent failure:
// every 4xx except 408 Request Timeout and 429 Too Many Requests.
func permanentStatus(code int) bool {
	return code >= 400 && code < 500 && code != 408 && code != 429
}
