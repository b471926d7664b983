package admin

import (
	"strings"

	"github.com/latchkey/latchkey/models"
)

// who names the actor of an audit event for people: a staff member's or
// user's username, a client's name (its client_id goes in whoDetail), the
// command line as "cli:<user>", and Latchkey itself by what it was doing
// ("Latchkey (reuse detection)") rather than "system system".
func who(e models.AuditRow) string {
	switch e.ActorType {
	case models.ActorClient:
		if e.ActorClientName != "" {
			return e.ActorClientName
		}
		return e.Actor
	case models.ActorSystem:
		if strings.HasPrefix(e.Actor, "cli:") {
			return e.Actor
		}
		switch e.Action {
		case models.ActionRefreshReuse, models.ActionCodeReuse:
			return "Latchkey (reuse detection)"
		}
		return "Latchkey"
	}
	if e.Actor == "" {
		return "—"
	}
	return e.Actor
}

// whoDetail is the secondary text beside who: the kind of actor, and a
// client's client_id.
func whoDetail(e models.AuditRow) string {
	switch e.ActorType {
	case models.ActorClient:
		return "client " + e.Actor
	case models.ActorStaff:
		return "staff"
	case models.ActorUser:
		return "user"
	case models.ActorSystem:
		if strings.HasPrefix(e.Actor, "cli:") {
			return "command line"
		}
	}
	return ""
}
