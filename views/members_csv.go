package views

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// MembersCSV writes the Members screen's rows as a spreadsheet file: UTF-8 with a byte
// order mark (without it Excel reads the Chinese as mojibake), headers in the reader's
// language, every cell safe to open (see csvCell).
type MembersCSV struct {
	ctx context.Context
	out io.Writer
	w   *csv.Writer
}

// NewMembersCSV returns a writer of members to out, labelled in ctx's language.
func NewMembersCSV(ctx context.Context, out io.Writer) *MembersCSV {
	return &MembersCSV{ctx: ctx, out: out, w: csv.NewWriter(out)}
}

// Header writes the byte order mark and the column names.
func (m *MembersCSV) Header() error {
	if _, err := io.WriteString(m.out, "\uFEFF"); err != nil {
		return fmt.Errorf("write byte order mark: %w", err)
	}
	var names []string
	for _, id := range []string{
		"members.col.username", "members.col.name", "members.csv.email", "members.csv.orgEmail",
		"members.col.jobNumber", "members.col.phone", "members.col.userid", "members.csv.title", "members.col.status",
	} {
		names = append(names, csvCell(locale.T(m.ctx, id)))
	}
	if err := m.w.Write(names); err != nil {
		return fmt.Errorf("write CSV header: %w", err)
	}
	return m.flush()
}

// Rows writes one line per member.
func (m *MembersCSV) Rows(rows []models.MemberRow) error {
	for _, r := range rows {
		status := locale.T(m.ctx, "members.status."+string(r.Status()))
		line := []string{r.Username, r.Name, r.Email, r.OrgEmail, r.JobNumber, r.Mobile, r.UserID, r.Title, status}
		for i := range line {
			line[i] = csvCell(line[i])
		}
		if err := m.w.Write(line); err != nil {
			return fmt.Errorf("write CSV line: %w", err)
		}
	}
	return m.flush()
}

func (m *MembersCSV) flush() error {
	m.w.Flush()
	if err := m.w.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// csvCell keeps a spreadsheet from running a value as a formula: a cell starting with
// = + - @ (or a tab or carriage return, which some spreadsheets skip before looking)
// gets a leading apostrophe, which they show as text. DingTalk's values are typed by
// people (a name "=HYPERLINK(…)"), so every cell is treated so.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
