package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// ConfluenceIdentity is what a user row knows of its Confluence account and of the
// DingTalk user it was matched to (User embeds it). The directory sync writes the first
// two fields, the matching engine the rest.
type ConfluenceIdentity struct {
	// UserKey is Confluence's stable id of the account (usernames can be renamed); nil for
	// local accounts such as the admin, which the directory sync never touches.
	UserKey *string `gorm:"column:user_key"`
	// Active is false for an account deactivated in Confluence or no longer in the
	// synchronised user group. Such users are kept, never deleted.
	Active bool `gorm:"column:active;default:true"`
	// MatchMethod is the method that produced the current match result.
	MatchMethod MatchingMethod `gorm:"column:match_method"`
	// MatchStatus is the outcome of the last match; MatchPending until one ran.
	MatchStatus MatchStatus `gorm:"column:match_status"`
	// MatchReason says why the user is not matched (zero when matched).
	MatchReason MatchReason `gorm:"embedded"`
}

// MatchStatus is the outcome of matching a Confluence user to a DingTalk user.
type MatchStatus string

// Match statuses.
const (
	// MatchPending is a user no match has been computed for yet (e.g. just migrated).
	MatchPending MatchStatus = ""
	// MatchMatched found exactly one DingTalk user.
	MatchMatched MatchStatus = "matched"
	// MatchUnmatched found none, or had nothing to look for.
	MatchUnmatched MatchStatus = "unmatched"
	// MatchAmbiguous found several; the engine never guesses between them.
	MatchAmbiguous MatchStatus = "ambiguous"
	// MatchError could not decide, because DingTalk's lookup failed.
	MatchError MatchStatus = "error"
)

// MatchReasonCode names why a match found no single DingTalk user. With MatchReason's
// parameters it is rendered as the message "match.reason.<code>" in the user's language.
type MatchReasonCode string

// Reason codes.
const (
	ReasonNone               MatchReasonCode = ""
	ReasonNoEmail            MatchReasonCode = "no_email"             // the Confluence user has no e-mail
	ReasonEmailNotFound      MatchReasonCode = "email_not_found"      // Value: the e-mail
	ReasonEmailAmbiguous     MatchReasonCode = "email_ambiguous"      // Value: the e-mail; Count: how many
	ReasonJobNumberNotFound  MatchReasonCode = "job_number_not_found" // Value: the job number (username)
	ReasonJobNumberAmbiguous MatchReasonCode = "job_number_ambiguous" // Value, Count
	ReasonNoMobile           MatchReasonCode = "no_mobile"            // no mobile number entered
	// ReasonMobileNotFound: DingTalk's user-by-mobile lookup answered "no such user";
	// Value is the mobile, Errcode/Errmsg DingTalk's answer (60121 找不到该用户).
	ReasonMobileNotFound MatchReasonCode = "mobile_not_found"
	// ReasonMobileNotLookedUp: the user's method is mobile but no lookup was made for the
	// number yet (bulk matching never calls DingTalk); Save And Sync makes one.
	ReasonMobileNotLookedUp MatchReasonCode = "mobile_not_looked_up"
	// ReasonDingTalkUserLeft: the DingTalk user a mobile lookup found has since left the
	// organisation (Value: that userid).
	ReasonDingTalkUserLeft MatchReasonCode = "dingtalk_user_left"
	// ReasonDingTalkError: the lookup failed; Errcode/Errmsg say how (Errcode 0 when
	// DingTalk was not reached).
	ReasonDingTalkError MatchReasonCode = "dingtalk_error"
	// ReasonDingTalkNotConfigured: a mobile lookup was due but no DingTalk app is
	// configured, so DingTalk could not be asked (Value: the mobile).
	ReasonDingTalkNotConfigured MatchReasonCode = "dingtalk_not_configured"
)

// MatchReason is why a user is not matched, as a code with parameters rather than a
// sentence, so each screen renders it in the reader's language (MessageID, TemplateData)
// and logs in English (English).
type MatchReason struct {
	Code    MatchReasonCode `gorm:"column:match_reason"`
	Value   string          `gorm:"column:match_value"`   // the e-mail, job number, mobile or userid concerned
	Count   int             `gorm:"column:match_count"`   // DingTalk users found, when ambiguous
	Errcode int             `gorm:"column:match_errcode"` // DingTalk's errcode, for DingTalk answers
	Errmsg  string          `gorm:"column:match_errmsg"`  // DingTalk's errmsg, as sent
}

// MessageID is the locale message that renders the reason ("" when there is none).
func (r MatchReason) MessageID() string {
	if r.Code == ReasonNone {
		return ""
	}
	return "match.reason." + string(r.Code)
}

// TemplateData fills the placeholders of the reason's message.
func (r MatchReason) TemplateData() map[string]any {
	return map[string]any{"Value": r.Value, "Count": r.Count, "Errcode": r.Errcode, "Errmsg": r.Errmsg}
}

// English renders the reason in English, for logs and errors.
func (r MatchReason) English() string {
	switch r.Code {
	case ReasonNone:
		return ""
	case ReasonNoEmail:
		return "the Confluence user has no e-mail address"
	case ReasonEmailNotFound:
		return "no DingTalk user has e-mail " + r.Value
	case ReasonEmailAmbiguous:
		return fmt.Sprintf("ambiguous: %d DingTalk users have e-mail %s", r.Count, r.Value)
	case ReasonJobNumberNotFound:
		return "no DingTalk user has job number " + r.Value
	case ReasonJobNumberAmbiguous:
		return fmt.Sprintf("ambiguous: %d DingTalk users have job number %s", r.Count, r.Value)
	case ReasonNoMobile:
		return "no mobile number entered"
	case ReasonMobileNotFound:
		return fmt.Sprintf("DingTalk says: %d %s", r.Errcode, r.Errmsg)
	case ReasonMobileNotLookedUp:
		return "mobile number " + r.Value + " has not been looked up in DingTalk yet"
	case ReasonDingTalkUserLeft:
		return "DingTalk user " + r.Value + " has left the organisation"
	case ReasonDingTalkError:
		return fmt.Sprintf("DingTalk lookup failed: %d %s", r.Errcode, r.Errmsg)
	case ReasonDingTalkNotConfigured:
		return "DingTalk is not configured, so mobile number " + r.Value + " could not be looked up"
	}
	return string(r.Code)
}

// UserMatch is the result of matching one user, as stored on the user row.
type UserMatch struct {
	Method MatchingMethod `gorm:"column:match_method"`
	Status MatchStatus    `gorm:"column:match_status"`
	Reason MatchReason    `gorm:"embedded"`
	// DingTalkUserID is set only when Status is MatchMatched.
	DingTalkUserID string `gorm:"column:dingtalk_user_id"`
	// MatchedAt is when this result was reached (it is not rewritten while it holds).
	MatchedAt *time.Time `gorm:"column:matched_at"`
}

// SameOutcome reports whether m and o say the same thing, whenever each was reached.
func (m UserMatch) SameOutcome(o UserMatch) bool {
	return m.Method == o.Method && m.Status == o.Status && m.Reason == o.Reason && m.DingTalkUserID == o.DingTalkUserID
}

// UserForMatching is what matching reads of a user: the inputs and the stored result.
type UserForMatching struct {
	ID             uint           `gorm:"column:id"`
	Username       string         `gorm:"column:username"`
	Email          string         `gorm:"column:email"`
	Mobile         string         `gorm:"column:mobile"`
	MatchingMethod MatchingMethod `gorm:"column:matching_method"` // the user's own; "" = global
	Current        UserMatch      `gorm:"embedded"`
}

// DingTalkIdentity is what matching reads of a DingTalk user.
type DingTalkIdentity struct {
	UserID    string `gorm:"column:userid"`
	Email     string `gorm:"column:email"`
	OrgEmail  string `gorm:"column:org_email"`
	JobNumber string `gorm:"column:job_number"`
}

// matchCaseMax is the most users SaveUserMatches writes with one UPDATE … CASE id: the
// database tries a CASE's branches in turn, so its cost grows with the square of the
// batch; more users go through a staging table instead.
const matchCaseMax = 50

// matchStageBatch is the rows of one INSERT into the staging table (10 placeholders
// each). Small, because the SQLite driver binds parameters in time quadratic in their
// number per statement: 100 rows a statement write 10,000 in about half the time 500 do.
const matchStageBatch = 100

var userForMatchingColumns = []string{
	"id", "username", "email", "mobile", "matching_method", "match_method", "match_status",
	"match_reason", "match_value", "match_count", "match_errcode", "match_errmsg",
	"dingtalk_user_id", "matched_at",
}

// UsersForMatching returns every user's matching inputs and stored result, by id. Inside
// InTx on MySQL the rows are locked until the transaction ends, so a concurrent match of
// one user waits rather than being overwritten by a result computed before it.
func (s *Store) UsersForMatching(ctx context.Context) ([]UserForMatching, error) {
	var users []UserForMatching
	q := s.db.WithContext(ctx).Model(&User{}).Select(userForMatchingColumns).Order("id")
	if s.inTx {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Find(&users).Error; err != nil {
		return nil, dbError("read users for matching", err)
	}
	return users, nil
}

// UserForMatchingByID returns one user's matching inputs and stored result, or ErrNotFound.
func (s *Store) UserForMatchingByID(ctx context.Context, id uint) (UserForMatching, error) {
	var u UserForMatching
	err := s.db.WithContext(ctx).Model(&User{}).Select(userForMatchingColumns).Where("id = ?", id).Take(&u).Error
	if err != nil {
		return UserForMatching{}, dbError("read user for matching", err)
	}
	return u, nil
}

// ActiveDingTalkIdentities returns the e-mails and job numbers of every DingTalk user
// still in the organisation (active); users who left never match.
func (s *Store) ActiveDingTalkIdentities(ctx context.Context) ([]DingTalkIdentity, error) {
	var ids []DingTalkIdentity
	err := s.db.WithContext(ctx).Model(&DingTalkUser{}).Select("userid", "email", "org_email", "job_number").
		Where("active = ?", true).Find(&ids).Error
	if err != nil {
		return nil, dbError("read DingTalk identities", err)
	}
	return ids, nil
}

// ActiveDingTalkUsersWithEmail returns the active DingTalk users whose e-mail or org
// e-mail equals email under the database's case-insensitive collation (a superset of
// ASCII case folding, which the caller applies on top).
func (s *Store) ActiveDingTalkUsersWithEmail(ctx context.Context, email string) ([]DingTalkIdentity, error) {
	var ids []DingTalkIdentity
	err := s.db.WithContext(ctx).Model(&DingTalkUser{}).Select("userid", "email", "org_email", "job_number").
		Where("active = ? AND (email = ? OR org_email = ?)", true, email, email).Find(&ids).Error
	if err != nil {
		return nil, dbError("find DingTalk users by e-mail", err)
	}
	return ids, nil
}

// ActiveDingTalkUsersWithJobNumber returns the active DingTalk users whose job number
// equals jobNumber under the database's case-insensitive collation.
func (s *Store) ActiveDingTalkUsersWithJobNumber(ctx context.Context, jobNumber string) ([]DingTalkIdentity, error) {
	var ids []DingTalkIdentity
	err := s.db.WithContext(ctx).Model(&DingTalkUser{}).Select("userid", "email", "org_email", "job_number").
		Where("active = ? AND job_number = ?", true, jobNumber).Find(&ids).Error
	if err != nil {
		return nil, dbError("find DingTalk users by job number", err)
	}
	return ids, nil
}

// DingTalkUserIsActive reports whether userID is a DingTalk user still in the organisation.
func (s *Store) DingTalkUserIsActive(ctx context.Context, userID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&DingTalkUser{}).Where("userid = ? AND active = ?", userID, true).Count(&n).Error
	if err != nil {
		return false, dbError("check DingTalk user", err)
	}
	return n > 0, nil
}

// UserMatchUpdate is a new match result for user ID.
type UserMatchUpdate struct {
	ID    uint
	Match UserMatch
}

// SaveUserMatches writes each update's result (MatchedAt included) to its user and
// returns how many users it wrote. Callers pass only results that changed, so an
// unchanged re-match writes nothing. A few users are written by one UPDATE; many are
// first inserted into a temporary table, a batch per statement, and then written by one
// UPDATE joining it, so 10,000 results take a few dozen statements, not 10,000.
func (s *Store) SaveUserMatches(ctx context.Context, updates []UserMatchUpdate, now time.Time) (int, error) {
	// In id order, so that two writers lock rows in the same order.
	updates = slices.Clone(updates)
	slices.SortFunc(updates, func(a, b UserMatchUpdate) int { return cmp.Compare(a.ID, b.ID) })
	var err error
	if len(updates) <= matchCaseMax {
		if len(updates) > 0 {
			sql, args := matchUpdateSQL(updates, now)
			err = s.db.WithContext(ctx).Exec(sql, args...).Error
		}
	} else {
		// One transaction keeps the temporary table on one connection.
		err = s.InTx(ctx, func(tx *Store) error { return tx.saveStagedMatches(ctx, updates, now) })
	}
	if err != nil {
		return 0, dbError("save match results", err)
	}
	return len(updates), nil
}

// matchColumns are the result columns, in the order matchValues gives them.
var matchColumns = []string{
	"match_method", "match_status", "match_reason", "match_value", "match_count",
	"match_errcode", "match_errmsg", "dingtalk_user_id", "matched_at",
}

func matchValues(m UserMatch) []any {
	var at any
	if m.MatchedAt != nil {
		at = *m.MatchedAt
	}
	return []any{string(m.Method), string(m.Status), string(m.Reason.Code), m.Reason.Value, m.Reason.Count,
		m.Reason.Errcode, m.Reason.Errmsg, m.DingTalkUserID, at}
}

// matchUpdateSQL builds one UPDATE setting every result column by CASE on id.
func matchUpdateSQL(chunk []UserMatchUpdate, now time.Time) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(chunk)*(2*len(matchColumns)+1)+1)
	values := make([][]any, len(chunk))
	for i, u := range chunk {
		values[i] = matchValues(u.Match)
	}
	b.WriteString("UPDATE users SET ")
	for c, name := range matchColumns {
		b.WriteString(name)
		b.WriteString(" = CASE id")
		for i, u := range chunk {
			b.WriteString(" WHEN ? THEN ?")
			args = append(args, u.ID, values[i][c])
		}
		b.WriteString(" END, ")
	}
	b.WriteString("updated_at = ? WHERE id IN (")
	args = append(args, now)
	for i, u := range chunk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, u.ID)
	}
	b.WriteString(")")
	return b.String(), args
}

// saveStagedMatches writes updates through the temporary table match_results; s is in
// a transaction.
func (s *Store) saveStagedMatches(ctx context.Context, updates []UserMatchUpdate, now time.Time) error {
	db := s.db.WithContext(ctx)
	mysql := Dialect(s.db) == DialectMySQL
	create := `CREATE TEMPORARY TABLE IF NOT EXISTS match_results (
		id BIGINT NOT NULL PRIMARY KEY, match_method VARCHAR(32) NOT NULL, match_status VARCHAR(16) NOT NULL,
		match_reason VARCHAR(32) NOT NULL, match_value VARCHAR(255) NOT NULL, match_count INT NOT NULL,
		match_errcode INT NOT NULL, match_errmsg VARCHAR(255) NOT NULL, dingtalk_user_id VARCHAR(64) NOT NULL,
		matched_at %s NULL)`
	if mysql {
		create = fmt.Sprintf(create, "DATETIME(3)") + " " + mysqlTableOptions
	} else {
		create = fmt.Sprintf(create, "DATETIME")
	}
	drop := "DROP TABLE IF EXISTS temp.match_results"
	if mysql {
		drop = "DROP TEMPORARY TABLE IF EXISTS match_results"
	}
	// Dropped first too: a connection that failed half-way may still hold one.
	if err := db.Exec(drop).Error; err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	if err := db.Exec(create).Error; err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	defer db.Exec(drop)
	row := "(?" + strings.Repeat(", ?", len(matchColumns)) + ")"
	for chunk := range slices.Chunk(updates, matchStageBatch) {
		var b strings.Builder
		b.WriteString("INSERT INTO match_results (id, " + strings.Join(matchColumns, ", ") + ") VALUES ")
		args := make([]any, 0, len(chunk)*(len(matchColumns)+1))
		for i, u := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, u.ID)
			args = append(args, matchValues(u.Match)...)
		}
		if err := db.Exec(b.String(), args...).Error; err != nil {
			return fmt.Errorf("stage match results: %w", err)
		}
	}
	sets := make([]string, 0, len(matchColumns)+1)
	for _, c := range matchColumns {
		if mysql {
			sets = append(sets, "u."+c+" = r."+c)
		} else {
			sets = append(sets, c+" = r."+c)
		}
	}
	var update string
	if mysql {
		update = "UPDATE users u JOIN match_results r ON r.id = u.id SET " + strings.Join(sets, ", ") + ", u.updated_at = ?"
	} else {
		update = "UPDATE users SET " + strings.Join(sets, ", ") + ", updated_at = ? FROM match_results r WHERE users.id = r.id"
	}
	if err := db.Exec(update, now).Error; err != nil {
		return fmt.Errorf("write staged match results: %w", err)
	}
	return nil
}

// FoldCase lower-cases ASCII letters only: the case folding SQLite's NOCASE does, which
// MySQL's _ci collations include. Code that compares names or e-mails in memory uses it,
// so it agrees with what the database finds on both dialects.
func FoldCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
