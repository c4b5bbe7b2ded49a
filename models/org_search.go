package models

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The Members search finds a typed string anywhere in a user's name, e-mails, job
// number, mobile or userid. Neither database can answer "contains" from an ordinary
// index, and MariaDB has no n-gram full-text parser, so the org sync keeps an index
// table of its own, dingtalk_user_grams: one row per distinct gram of a user's searched
// values (ASCII-folded): every 3-rune window, every 5-digit window of a run of digits,
// and for each non-ASCII rune (Chinese has no spaces and short names) also the rune
// itself and the 2-rune window it starts.
// Every value containing a query of 3 or more runes holds all of the query's trigrams;
// one of 1 or 2 runes that starts with a non-ASCII rune is itself a stored gram. Shorter
// ASCII queries ("li") fall back to a prefix search of the columns' own indexes.
//
// Each gram row carries the user's display sort key (name_key), so that the rows of one
// gram come off the primary key (gram, name_key, userid) already in screen order: the
// first page of even a very broad query ("wang", "acme.example") reads about as many
// index entries as it shows, and the count stops at a cap instead of joining every match.
// Grams only narrow the candidates; a LIKE over the real columns decides.

const (
	// gramRunes is the length of the grams every value is indexed by.
	gramRunes = 3
	// gramMaxBytes bounds a gram: gramRunes runes of up to 4 bytes each.
	gramMaxBytes = gramRunes * utf8.UTFMax
	// nameKeyBytes bounds the stored sort key; longer names tie on it and sort by userid.
	nameKeyBytes = 64
	// indexedRunes bounds how much of one value is indexed (the columns hold 255).
	indexedRunes = 255
	// digitGramLen is the length of the extra grams of digit runs: phone and job
	// numbers are made of ten characters, so their trigrams are each shared by a tenth
	// of the organisation or more ("800" is in every mobile starting 1380), while a
	// 5-digit window narrows to a few hundred of 100,000 users.
	digitGramLen = 5
)

// DingTalkUserGram is one row of the search index; only the DingTalk user writes touch it.
type DingTalkUserGram struct {
	Gram    []byte `gorm:"column:gram;primaryKey"`
	NameKey []byte `gorm:"column:name_key;primaryKey"`
	UserID  string `gorm:"column:userid;primaryKey"`
}

// TableName implements gorm's tabler.
func (DingTalkUserGram) TableName() string { return "dingtalk_user_grams" }

// nameKeyer computes name sort keys: pinyin order for Chinese (the zh collation), numbers
// by value (用户2 before 用户10), case and accents ignored. A collator is not safe for
// concurrent use, so each write makes its own.
type nameKeyer struct {
	c   *collate.Collator
	buf collate.Buffer
}

func newNameKeyer() *nameKeyer {
	return &nameKeyer{c: collate.New(language.Chinese, collate.Numeric, collate.Loose)}
}

// key returns name's sort key, cut to nameKeyBytes.
func (k *nameKeyer) key(name string) []byte {
	b := k.c.KeyFromString(&k.buf, name)
	out := bytes.Clone(b[:min(len(b), nameKeyBytes)])
	k.buf.Reset()
	if out == nil {
		out = []byte{}
	}
	return out
}

// NameKey returns the sort key the Members screen orders names by (see nameKeyer); tests
// compare against it.
func NameKey(name string) []byte { return newNameKeyer().key(name) }

// searchedValues are the values of u the Members search looks in.
func searchedValues(u DingTalkUser) []string {
	return []string{u.Name, u.Email, u.OrgEmail, u.JobNumber, u.Mobile, u.UserID}
}

// userGrams returns the distinct grams of u's searched values, sorted.
func userGrams(u DingTalkUser) []string {
	set := map[string]struct{}{}
	for _, v := range searchedValues(u) {
		r := []rune(FoldCase(v))
		r = r[:min(len(r), indexedRunes)]
		for i := range r {
			if i+gramRunes <= len(r) {
				set[string(r[i:i+gramRunes])] = struct{}{}
			}
			if r[i] > unicode.MaxASCII {
				set[string(r[i])] = struct{}{}
				if i+2 <= len(r) {
					set[string(r[i:i+2])] = struct{}{}
				}
			}
		}
		for _, g := range digitGrams(r) {
			set[g] = struct{}{}
		}
	}
	grams := make([]string, 0, len(set))
	for g := range set {
		grams = append(grams, g)
	}
	slices.Sort(grams)
	return grams
}

// queryGrams returns grams that every value containing q (folded) holds, or nil when q
// is too short for the index (1 or 2 runes starting with an ASCII one).
func queryGrams(q string) []string {
	r := []rune(FoldCase(q))
	switch {
	case len(r) >= gramRunes:
		// The digit grams first, last window first: when every gram is common, the
		// first one drives, and a 5-digit window is the more telling, the more so
		// towards a number's end (every mobile in a region starts alike).
		grams := digitGrams(r)
		slices.Reverse(grams)
		for i := 0; i+gramRunes <= len(r); i++ {
			if g := string(r[i : i+gramRunes]); !slices.Contains(grams, g) {
				grams = append(grams, g)
			}
		}
		return grams
	case len(r) > 0 && r[0] > unicode.MaxASCII:
		return []string{string(r)}
	}
	return nil
}

// digitGrams returns the digitGramLen-long windows of r's runs of ASCII digits.
func digitGrams(r []rune) []string {
	var grams []string
	for i := 0; i < len(r); {
		j := i
		for j < len(r) && '0' <= r[j] && r[j] <= '9' {
			j++
		}
		for k := i; k+digitGramLen <= j; k++ {
			if g := string(r[k : k+digitGramLen]); !slices.Contains(grams, g) {
				grams = append(grams, g)
			}
		}
		i = max(j, i+1)
	}
	return grams
}

// gramDiff returns the grams in a but not in b; both sorted.
func gramDiff(a, b []string) []string {
	var out []string
	for _, g := range a {
		if _, found := slices.BinarySearch(b, g); !found {
			out = append(out, g)
		}
	}
	return out
}

// gramInsertBatch bounds the rows of one MySQL gram INSERT (3 placeholders each).
const gramInsertBatch = 1000

// writeUserGrams brings the index rows of the users in changed up to date on tx, given
// what was stored for them before (old, by userid; absent for new users). A user whose
// sort key is unchanged only has the grams that differ deleted and inserted, so a sync
// that changes a title or one digit of a phone number writes a handful of rows.
//
// With later, the new grams are left to IndexPendingMembers (the users are written
// search_pending); only the stale ones go now.
func writeUserGrams(tx *gorm.DB, changed []DingTalkUser, old map[string]DingTalkUser, later bool) error {
	var fresh []DingTalkUserGram
	for _, u := range changed {
		grams := userGrams(u)
		var stale []string
		before, existed := old[u.UserID]
		if existed && before.SearchPending {
			// Its grams were never written but for those of even earlier values, which
			// the index's join on name_key and the LIKE keep from matching wrongly.
			existed = false
		}
		switch {
		case existed && bytes.Equal(before.NameKey, u.NameKey):
			prev := userGrams(before)
			stale = gramDiff(prev, grams)
			grams = gramDiff(grams, prev)
		case existed:
			if err := tx.Where("userid = ? AND name_key = ?", u.UserID, before.NameKey).
				Where("gram IN ?", gramBytes(userGrams(before))).Delete(&DingTalkUserGram{}).Error; err != nil {
				return dbError("delete search grams", err)
			}
		}
		if len(stale) > 0 {
			if err := tx.Where("userid = ? AND name_key = ?", u.UserID, u.NameKey).
				Where("gram IN ?", gramBytes(stale)).Delete(&DingTalkUserGram{}).Error; err != nil {
				return dbError("delete search grams", err)
			}
		}
		if later {
			continue
		}
		for _, g := range grams {
			fresh = append(fresh, DingTalkUserGram{Gram: []byte(g), NameKey: u.NameKey, UserID: u.UserID})
		}
	}
	return insertGrams(tx, fresh)
}

// pendingIndexBatch is how many users IndexPendingMembers indexes in one transaction.
const pendingIndexBatch = 500

// IndexPendingMembers writes the search grams of the users marked search_pending, in
// transactions of 500 users, and clears the mark; it stops after about max users (0:
// all of them) and returns how many it indexed.
func (s *Store) IndexPendingMembers(ctx context.Context, max int) (int, error) {
	done := 0
	for max <= 0 || done < max {
		n := 0
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var users []DingTalkUser
			q := tx.Where("search_pending = ?", true).Order("userid").Limit(pendingIndexBatch)
			if Dialect(tx) == DialectMySQL {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			if err := q.Find(&users).Error; err != nil {
				return dbError("read users to index", err)
			}
			if n = len(users); n == 0 {
				return nil
			}
			var rows []DingTalkUserGram
			ids := make([]string, len(users))
			for i, u := range users {
				ids[i] = u.UserID
				for _, g := range userGrams(u) {
					rows = append(rows, DingTalkUserGram{Gram: []byte(g), NameKey: u.NameKey, UserID: u.UserID})
				}
			}
			if err := insertGrams(tx, rows); err != nil {
				return err
			}
			for chunk := range slices.Chunk(ids, orgBatch) {
				if err := tx.Model(&DingTalkUser{}).Where("userid IN ?", chunk).UpdateColumn("search_pending", false).Error; err != nil {
					return dbError("mark users indexed", err)
				}
			}
			return nil
		})
		if err != nil || n == 0 {
			return done, err
		}
		done += n
	}
	return done, nil
}

// searchPending reports whether some user's grams are not written yet.
func (s *Store) searchPending(ctx context.Context) (bool, error) {
	var found []int
	if err := s.db.WithContext(ctx).Raw("SELECT 1 FROM dingtalk_users WHERE search_pending = ? LIMIT 1", true).Scan(&found).Error; err != nil {
		return false, dbError("look for users to index", err)
	}
	return len(found) > 0, nil
}

// insertGrams inserts rows in key order (so concurrent writers lock in the same order),
// skipping any already there. A sync of 10,000 users writes some 450,000 of these
// rows while it holds the database's write lock, so they skip gorm's per-row work.
func insertGrams(tx *gorm.DB, rows []DingTalkUserGram) error {
	slices.SortFunc(rows, func(a, b DingTalkUserGram) int {
		if c := bytes.Compare(a.Gram, b.Gram); c != 0 {
			return c
		}
		if c := bytes.Compare(a.NameKey, b.NameKey); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	ctx, conn := tx.Statement.Context, tx.Statement.ConnPool
	if Dialect(tx) == DialectSQLite {
		// One statement and one argument for all the rows: the SQLite driver parses
		// every statement afresh and binds arguments in time quadratic in their
		// number, which made many-placeholder INSERTs most of a sync's time.
		batch := make([][3]string, len(rows))
		for i, r := range rows {
			batch[i] = [3]string{hex.EncodeToString(r.Gram), hex.EncodeToString(r.NameKey), r.UserID}
		}
		doc, err := json.Marshal(batch)
		if err != nil {
			return fmt.Errorf("encode search grams: %w", err)
		}
		// "WHERE true" tells SQLite's parser that ON CONFLICT is the upsert clause.
		_, err = conn.ExecContext(ctx, `INSERT INTO dingtalk_user_grams (gram, name_key, userid)
			SELECT unhex(j.value ->> 0), unhex(j.value ->> 1), j.value ->> 2 FROM json_each(?) j WHERE true
			ON CONFLICT DO NOTHING`, string(doc))
		if err != nil {
			return dbError("write search grams", err)
		}
		return nil
	}
	// Straight to the connection: gorm would read each []byte as a list to expand.
	args := make([]any, 0, 3*gramInsertBatch)
	for chunk := range slices.Chunk(rows, gramInsertBatch) {
		args = args[:0]
		var b strings.Builder
		b.WriteString("INSERT INTO dingtalk_user_grams (gram, name_key, userid) VALUES ")
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("(?,?,?)")
			args = append(args, r.Gram, r.NameKey, r.UserID)
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE userid = userid")
		if _, err := conn.ExecContext(ctx, b.String(), args...); err != nil {
			return dbError("write search grams", err)
		}
	}
	return nil
}

func gramBytes(grams []string) [][]byte {
	out := make([][]byte, len(grams))
	for i, g := range grams {
		out[i] = []byte(g)
	}
	return out
}

// RebuildMemberSearchIndex recomputes every DingTalk user's sort key and search grams
// from the stored values: the migration that introduced them runs it, and so can a
// later one should the gram scheme change.
func (s *Store) RebuildMemberSearchIndex(ctx context.Context) error {
	return rebuildMemberSearchIndex(s.db.WithContext(ctx))
}

func rebuildMemberSearchIndex(db *gorm.DB) error {
	if err := db.Session(&gorm.Session{AllowGlobalUpdate: true}).Delete(&DingTalkUserGram{}).Error; err != nil {
		return dbError("clear search grams", err)
	}
	keys := newNameKeyer()
	after := ""
	for {
		var users []DingTalkUser
		if err := db.Where("userid > ?", after).Order("userid").Limit(orgBatch).Find(&users).Error; err != nil {
			return dbError("read DingTalk users", err)
		}
		if len(users) == 0 {
			return nil
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			for i := range users {
				users[i].NameKey, users[i].SearchPending = keys.key(users[i].Name), false
				if err := tx.Model(&DingTalkUser{}).Where("userid = ?", users[i].UserID).
					UpdateColumns(map[string]any{"name_key": users[i].NameKey, "search_pending": false}).Error; err != nil {
					return dbError("write name key", err)
				}
			}
			return writeUserGrams(tx, users, nil, false)
		})
		if err != nil {
			return err
		}
		after = users[len(users)-1].UserID
	}
}
