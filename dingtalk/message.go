package dingtalk

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxMessageBytes is DingTalk's cap on the encoded msg object of one work notification.
const MaxMessageBytes = 2048

// MaxRecipients is DingTalk's cap on userids in one asyncsend_v2 call.
const MaxRecipients = 100

// Message is the msg object of a work notification. Build it with the constructors.
type Message struct {
	MsgType    string      `json:"msgtype"`
	Text       *Text       `json:"text,omitempty"`
	Markdown   *Markdown   `json:"markdown,omitempty"`
	ActionCard *ActionCard `json:"action_card,omitempty"`
	Link       *Link       `json:"link,omitempty"`
}

// Text is the body of a "text" message.
type Text struct {
	Content string `json:"content"`
}

// Markdown is the body of a "markdown" message; Title shows in the conversation list.
type Markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// ActionCard is the body of a single-button "action_card" message.
type ActionCard struct {
	Title       string `json:"title"`
	Markdown    string `json:"markdown"`
	SingleTitle string `json:"single_title"`
	SingleURL   string `json:"single_url"`
}

// Link is the body of a "link" message; DingTalk spells these fields in camelCase.
type Link struct {
	MessageURL string `json:"messageUrl"`
	PicURL     string `json:"picUrl"`
	Title      string `json:"title"`
	Text       string `json:"text"`
}

// TextMessage returns a plain-text message.
func TextMessage(content string) Message {
	return Message{MsgType: "text", Text: &Text{Content: content}}
}

// MarkdownMessage returns a markdown message.
func MarkdownMessage(title, text string) Message {
	return Message{MsgType: "markdown", Markdown: &Markdown{Title: title, Text: text}}
}

// ActionCardMessage returns an action card with one button that opens buttonURL.
func ActionCardMessage(title, markdown, buttonTitle, buttonURL string) Message {
	return Message{MsgType: "action_card", ActionCard: &ActionCard{
		Title: title, Markdown: markdown, SingleTitle: buttonTitle, SingleURL: buttonURL,
	}}
}

// LinkMessage returns a link message; picURL may be a media id or an image URL.
func LinkMessage(title, text, messageURL, picURL string) Message {
	return Message{MsgType: "link", Link: &Link{Title: title, Text: text, MessageURL: messageURL, PicURL: picURL}}
}

// Encode returns the msg JSON exactly as it will be sent, and fails with
// ErrMessageTooLarge when it exceeds MaxMessageBytes.
func (m Message) Encode() (json.RawMessage, error) {
	b, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrMessageTooLarge, len(b))
	}
	return b, nil
}

// marshal encodes without HTML escaping: json.Marshal would turn every <, > and &
// (common in markdown and URLs) into six bytes and eat into the 2048-byte budget.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
