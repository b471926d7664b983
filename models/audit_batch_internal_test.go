package models

import (
	"errors"
	"testing"
)

// TestBatchedAuditInsertsCannotAbortHalfWay: the multi-row INSERTs of a
// group commit's audit events have no step that aborts the statement on a
// constraint (OE_Abort, 2, in a Halt or HaltIfNull), so SQLite keeps no
// statement journal for them. With plain INSERT it did, and spilled it to
// a temporary file: BenchmarkRevoke wrote 10.5–10.8 KB per revocation
// instead of 7.9–8.1. (OR FAIL stops at a failing row without undoing the
// statement's earlier ones; the writer rolls the whole transaction back.)
func TestBatchedAuditInsertsCannotAbortHalfWay(t *testing.T) {
	st := openPlanStore(t)
	const oeAbort = 2
	if len(qInsertAudits) == 0 {
		t.Fatal("no multi-row audit INSERTs")
	}
	for n, q := range qInsertAudits {
		if n == 1 {
			continue // one row: nothing of its own to undo, no statement journal
		}
		rows, err := st.wdb.Query("EXPLAIN "+q, make([]any, 12*n)...) // the parameters, unused
		if err != nil {
			t.Fatal(err)
		}
		steps, aborts := 0, 0
		for rows.Next() {
			var addr, p1, p2, p3 int64
			var opcode string
			var p4, p5, comment any
			if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatal(err)
			}
			steps++
			if (opcode == "Halt" || opcode == "HaltIfNull") && p1 != 0 && p2 == oeAbort {
				if aborts++; aborts > 1 {
					continue
				}
				t.Errorf("the %d-row audit INSERT aborts the statement at step %d (%s %d %d %v): SQLite keeps a statement journal for it", n, addr, opcode, p1, p2, p4)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if steps == 0 {
			t.Fatalf("EXPLAIN of the %d-row audit INSERT gave no program", n)
		}
	}
}
