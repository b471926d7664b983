package models

import "context"

// AuditEventsForTest returns every audit event, oldest first.
func (s *Store) AuditEventsForTest(ctx context.Context) ([]AuditEvent, error) {
	var evs []AuditEvent
	err := s.r.WithContext(ctx).Order("id").Find(&evs).Error
	return evs, err
}
