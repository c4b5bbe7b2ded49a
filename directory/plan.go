package directory

import (
	"slices"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// plan compares the listed members with the stored accounts and works out the writes.
type plan struct {
	accounts []models.DirectoryAccount
	byKey    map[string]models.DirectoryAccount
	seen     map[string]confluence.User // by user key, as listed (then as looked up)
	order    []string                   // keys in listing order
}

func newPlan(accounts []models.DirectoryAccount) *plan {
	p := &plan{accounts: accounts, byKey: map[string]models.DirectoryAccount{}, seen: map[string]confluence.User{}}
	for _, a := range accounts {
		if a.UserKey != nil {
			p.byKey[*a.UserKey] = a
		}
	}
	return p
}

// add records a listed member; a member listed twice (the group changed while it was
// paged through) counts once.
func (p *plan) add(u confluence.User) {
	if u.Key == "" || u.Username == "" {
		return
	}
	if _, dup := p.seen[u.Key]; !dup {
		p.order = append(p.order, u.Key)
	}
	p.seen[u.Key] = u
}

// desired is the row member u should have, given its stored row (if any): an e-mail
// Confluence does not show keeps the stored one.
func desired(u confluence.User, old models.DirectoryAccount, exists bool) models.DirectoryAccount {
	key := u.Key
	a := models.DirectoryAccount{UserKey: &key, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Active: u.Active}
	if exists {
		a.ID = old.ID
		if a.Email == "" {
			a.Email = old.Email
		}
	}
	return a
}

func same(a, b models.DirectoryAccount) bool {
	return a.Username == b.Username && a.DisplayName == b.DisplayName && a.Email == b.Email && a.Active == b.Active
}

// needDetails returns the keys of members the listing gave no e-mail for and that are
// new or changed: only for them is a lookup worth a call.
func (p *plan) needDetails() []string {
	var keys []string
	for _, key := range p.order {
		u := p.seen[key]
		if u.Email != "" {
			continue
		}
		old, exists := p.byKey[key]
		if exists && same(desired(u, old, true), old) {
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// details replaces a member's listing with its looked-up details.
func (p *plan) details(u confluence.User) {
	if listed, ok := p.seen[u.Key]; ok {
		if u.Username == "" {
			u.Username = listed.Username
		}
		p.seen[u.Key] = u
	}
}

// changes returns the writes, and the usernames of members skipped because a local
// account holds their name.
func (p *plan) changes() (models.DirectoryChanges, []string) {
	var ch models.DirectoryChanges
	holder := make(map[string]models.DirectoryAccount, len(p.accounts)) // folded username → row
	for _, a := range p.accounts {
		holder[models.FoldCase(a.Username)] = a
	}
	park := map[uint]bool{}
	var skipped []string
	for _, key := range p.order {
		u := p.seen[key]
		old, exists := p.byKey[key]
		want := desired(u, old, exists)
		if exists && same(want, old) {
			continue
		}
		takesName := !exists || want.Username != old.Username
		if takesName {
			if h, ok := holder[models.FoldCase(want.Username)]; ok && (h.UserKey == nil || *h.UserKey != key) {
				if h.UserKey == nil {
					skipped = append(skipped, want.Username)
					continue
				}
				park[h.ID] = true // another Confluence account's row holds the name
			}
			if exists {
				park[old.ID] = true // renames go through a placeholder, so swaps work
			}
		}
		if exists {
			ch.Update = append(ch.Update, want)
		} else {
			ch.Create = append(ch.Create, want)
		}
	}
	for _, a := range p.accounts {
		if a.UserKey == nil || !a.Active {
			continue
		}
		if _, listed := p.seen[*a.UserKey]; !listed {
			ch.Deactivate = append(ch.Deactivate, a.ID)
		}
	}
	for id := range park {
		ch.Park = append(ch.Park, id)
	}
	slices.Sort(ch.Park)
	return ch, skipped
}
