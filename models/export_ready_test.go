package models

// SetWriterPragmaForTest sets a PRAGMA on the SQLite writer connection
// (max_page_count, to make the database full).
func (s *Store) SetWriterPragmaForTest(name, value string) error {
	return s.w.Exec("PRAGMA " + name + " = " + value).Error
}
