package models

import "database/sql"

// ReaderForTest is the reader pool, for the benchmarks that split the cost
// of the introspection read into its parts.
func (s *Store) ReaderForTest() *sql.DB { return s.rdb }
