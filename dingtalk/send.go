package dingtalk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// SendWorkNotification sends msg as a work notification from the configured agent to
// userIDs (1..MaxRecipients) and returns DingTalk's task id.
//
// Success means DingTalk accepted the task, not that anyone received it: over-limit and
// duplicate messages are dropped silently and only show up in getsendresult.
//
// A send is not idempotent, so it is retried only when it provably did not reach
// DingTalk (the connection could not be opened; HTTP 429) or DingTalk answered that it
// did not take it (busy, throttled: -1, 900xx; a rejected token is replaced and the send
// retried once). When the request may have reached DingTalk but no clear answer came
// back, the error is an *OutcomeUnknownError (errors.Is ErrOutcomeUnknown) and the send
// is not repeated.
func (c *Client) SendWorkNotification(ctx context.Context, userIDs []string, msg Message) (taskID int64, err error) {
	raw, err := msg.Encode()
	if err != nil {
		return 0, err
	}
	return c.SendEncodedWorkNotification(ctx, userIDs, raw)
}

// SendEncodedWorkNotification is SendWorkNotification for a msg already encoded (by
// Message.Encode, and stored): it goes out byte for byte as given, so what an outbox
// recorded is what DingTalk receives. It fails before any request when msg is not a
// JSON object or exceeds MaxMessageBytes.
func (c *Client) SendEncodedWorkNotification(ctx context.Context, userIDs []string, msg json.RawMessage) (taskID int64, err error) {
	switch {
	case len(userIDs) == 0:
		return 0, ErrNoRecipients
	case len(userIDs) > MaxRecipients:
		return 0, fmt.Errorf("%w: got %d", ErrTooManyRecipients, len(userIDs))
	case len(msg) > MaxMessageBytes:
		return 0, fmt.Errorf("%w: got %d bytes", ErrMessageTooLarge, len(msg))
	case !json.Valid(msg) || !bytes.HasPrefix(bytes.TrimSpace(msg), []byte("{")):
		return 0, ErrMalformedMessage
	}
	req := struct {
		AgentID    int64           `json:"agent_id"`
		UserIDList string          `json:"userid_list"` // a comma string, as every SDK sends it
		Msg        json.RawMessage `json:"msg"`
	}{c.cfg.AgentID, strings.Join(userIDs, ","), msg}
	var out struct {
		TaskID int64 `json:"task_id"`
	}
	if err := c.call(ctx, apiSendMessage, req, &out); err != nil {
		return 0, err
	}
	return out.TaskID, nil
}
