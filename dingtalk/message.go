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

// Limits of an action card's buttons, as DingTalk documents them (KB/0775): a button
// title (single_title or a title in btn_json_list) is counted in characters, not bytes.
const (
	MaxButtonTitleChars = 20
	MaxSingleURLChars   = 500
	// MaxButtonListChars bounds btn_json_list as encoded.
	MaxButtonListChars = 1000
)

// ButtonOrientation is how a multi-button action card lays out its buttons.
type ButtonOrientation string

// Button orientations, as DingTalk spells them.
const (
	ButtonsVertical   ButtonOrientation = "0"
	ButtonsHorizontal ButtonOrientation = "1"
)

// ActionCard is the body of an "action_card" message: either one button for the whole
// card (SingleTitle and SingleURL) or a list of buttons (BtnOrientation and Buttons),
// never both.
type ActionCard struct {
	Title          string            `json:"title"`
	Markdown       string            `json:"markdown"`
	SingleTitle    string            `json:"single_title,omitempty"`
	SingleURL      string            `json:"single_url,omitempty"`
	BtnOrientation ButtonOrientation `json:"btn_orientation,omitempty"`
	Buttons        []CardButton      `json:"btn_json_list,omitempty"`
}

// CardButton is one button of a multi-button action card.
type CardButton struct {
	Title     string `json:"title"`
	ActionURL string `json:"action_url"`
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

// ActionCardButtonsMessage returns an action card with a row (ButtonsHorizontal) or a
// column (ButtonsVertical) of buttons, each opening its own URL.
func ActionCardButtonsMessage(title, markdown string, orientation ButtonOrientation, buttons ...CardButton) Message {
	return Message{MsgType: "action_card", ActionCard: &ActionCard{
		Title: title, Markdown: markdown, BtnOrientation: orientation, Buttons: buttons,
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
