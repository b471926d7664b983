package guard_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfTheServer: a resource server imports this package,
// so it must not pull in the server: nothing else of this module (models,
// handlers, web, views…), and none of the server's heavy dependencies.
func TestImportsNothingOfTheServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/latchkey/latchkey"
	forbidden := []string{"gorm.io/", "github.com/labstack/echo", "github.com/a-h/templ", "github.com/mattn/go-sqlite3", "github.com/jackc/pgx"}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, module+"/") && dep != module+"/guard" {
			t.Errorf("guard imports %s: it must import nothing of the server", dep)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("guard imports %s, a dependency of the server", dep)
			}
		}
	}
}
