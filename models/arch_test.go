package models_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goFiles calls fn with every non-test Go file of the repository, by its
// path relative to the root, and fails the test when the walk finds too
// few to be rooted at the repository.
func goFiles(t *testing.T, fn func(rel string, src []byte)) {
	t.Helper()
	root := ".."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		fn(filepath.ToSlash(rel), src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files; is the walk rooted at the repository?", checked)
	}
}

// matchLines reports every line of src that matches one of res.
func matchLines(t *testing.T, rel string, src []byte, what string, res ...*regexp.Regexp) {
	t.Helper()
	for i, line := range strings.Split(string(src), "\n") {
		for _, re := range res {
			if re.MatchString(line) {
				t.Errorf("%s:%d %s: %s", rel, i+1, what, strings.TrimSpace(line))
			}
		}
	}
}

// TestOnlyTheCoreWritesTheOutbox enforces that revocation events are
// written only inside the revocation core's transactions, so that every
// revocation, by whatever door, tells the event streams once and nothing
// else does: rows go into events and stream_events only through
// models/event.go (queueEventTx, and QueueVerification for a receiver's
// verification event), and queueEventTx is called only from
// models/revoke.go.
func TestOnlyTheCoreWritesTheOutbox(t *testing.T) {
	t.Parallel()
	inserts := []*regexp.Regexp{
		regexp.MustCompile(`(?i)\bINSERT\s+INTO\s+(events|stream_events)\b`),
		regexp.MustCompile(`Table\(\s*"(events|stream_events)"`),
		regexp.MustCompile(`(?i)\bUPDATE\s+events\b`),
	}
	queue := regexp.MustCompile(`\bqueueEventTx\(`)
	goFiles(t, func(rel string, src []byte) {
		switch rel {
		case "models/event.go", "models/migrations.go":
			return
		case "models/revoke.go":
			matchLines(t, rel, src, "writes the outbox outside queueEventTx", inserts...)
			return
		}
		matchLines(t, rel, src, "writes the events outbox outside the revocation core", append(inserts, queue)...)
	})
}

// TestNothingOutsideModelsImportsGorm keeps gorm an implementation detail
// of models: the handlers, the web layer, the command line and the event
// delivery reach the database only through the Store's methods.
func TestNothingOutsideModelsImportsGorm(t *testing.T) {
	t.Parallel()
	imp := regexp.MustCompile(`"gorm\.io/`)
	goFiles(t, func(rel string, src []byte) {
		if strings.HasPrefix(rel, "models/") {
			return
		}
		matchLines(t, rel, src, "imports gorm outside models", imp)
	})
}

// TestOnlyTheCoreRevokes enforces that one revocation core does every
// revocation (so each is audited and cascades the same way): no non-test Go file outside models/revoke.go and the
// migrations may write revoked_at — not in SQL, not through gorm, not by
// assigning the field. A new door into revocation must call Store.Revoke.
func TestOnlyTheCoreRevokes(t *testing.T) {
	t.Parallel()
	writes := []*regexp.Regexp{
		regexp.MustCompile(`(?i)\bSET\b[^"` + "`" + `]*\brevoked_at\s*=`), // SQL: UPDATE … SET revoked_at = ?
		regexp.MustCompile(`Update\(\s*"revoked_at"`),                     // gorm: Update("revoked_at", …)
		regexp.MustCompile(`"revoked_at"\s*:`),                            // gorm: Updates(map{"revoked_at": …})
		regexp.MustCompile(`\.RevokedAt\s*=[^=]`),                         // x.RevokedAt = now; Save(x)
	}
	allowed := map[string]bool{"models/revoke.go": true, "models/migrations.go": true}
	goFiles(t, func(rel string, src []byte) {
		if !allowed[rel] {
			matchLines(t, rel, src, "writes revoked_at outside the revocation core", writes...)
		}
	})
}
