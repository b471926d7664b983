package models_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
		rel = filepath.ToSlash(rel)
		checked++
		if allowed[rel] {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, re := range writes {
				if re.MatchString(line) {
					t.Errorf("%s:%d writes revoked_at outside the revocation core: %s", rel, i+1, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files; is the walk rooted at the repository?", checked)
	}
}
