package account

import "github.com/latchkey/latchkey/views/components"

// SignedIn says, in an end user's words, on how many devices an
// application is signed in: each of the user's active grants at it is
// one sign-in ("Signed in to Acme Web on 3 devices").
func SignedIn(app string, grants int) string {
	return "Signed in to " + app + " on " + components.Plural(int64(grants), "device", "devices")
}

// Removed is what removing an application's access did, in an end
// user's words.
func Removed(app string, grants int) string {
	if grants == 0 {
		return app + " no longer had access."
	}
	return "Removed " + app + "'s access: it is signed out on " + components.Plural(int64(grants), "device", "devices") + "."
}
