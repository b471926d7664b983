package models

import "context"

// IndexDefsForTest returns the definition of every index the migrations
// made, by name, as the database prints it.
func (s *Store) IndexDefsForTest(ctx context.Context) (map[string]string, error) {
	q := "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
	if s.dialect == DialectPostgres {
		q = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
	}
	rows, err := s.w.WithContext(ctx).Raw(q).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		out[name] = def
	}
	return out, rows.Err()
}
