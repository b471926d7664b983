package events

import (
	"bytes"
	"encoding/json"
	"github.com/latchkey/latchkey/internal/jsonenc"
	"slices"
	"strconv"
)

// The SET payload is encoded by hand: encoding/json's reflection and map
// sorting were a measurable share of signing one SET, which the push
// worker does once per event and stream. The output is byte for byte what
// json.Marshal gives for the same values (setjson_test.go checks it, and
// a fuzz target), so receivers see no difference.

// appendJSON appends c as json.Marshal encodes it.
func (c *Claims) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"iss":`...)
	b = jsonenc.AppendString(b, c.Iss)
	b = append(b, `,"aud":`...)
	b = jsonenc.AppendString(b, c.Aud)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.Iat, 10)
	b = append(b, `,"jti":`...)
	b = jsonenc.AppendString(b, c.Jti)
	b = append(b, `,"sub_id":`...)
	b = c.SubID.appendJSON(b)
	if c.Txn != "" {
		b = append(b, `,"txn":`...)
		b = jsonenc.AppendString(b, c.Txn)
	}
	b = append(b, `,"events":`...)
	if c.Events == nil {
		b = append(b, "null"...)
		return append(b, '}'), nil
	}
	b = append(b, '{')
	var one [1]string
	keys := one[:0] // a SET has exactly one event: no allocation then
	for k := range c.Events {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendRaw(b, c.Events[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}', '}'), nil
}

// appendRaw appends raw as encoding/json writes a json.RawMessage: null
// when nil, otherwise validated, compacted and HTML-escaped.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	buf := bytes.NewBuffer(b)
	if bytes.ContainsAny(raw, "<>&\u2028\u2029") {
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, err
		}
		json.HTMLEscape(buf, c.Bytes())
		return buf.Bytes(), nil
	}
	if err := json.Compact(buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *SubjectID) appendJSON(b []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"format":`...)
	b = jsonenc.AppendString(b, s.Format)
	if s.ID != "" {
		b = append(b, `,"id":`...)
		b = jsonenc.AppendString(b, s.ID)
	}
	if s.Session != nil {
		b = append(b, `,"session":`...)
		b = s.Session.appendJSON(b)
	}
	if s.User != nil {
		b = append(b, `,"user":`...)
		b = s.User.appendJSON(b)
	}
	if s.Application != nil {
		b = append(b, `,"application":`...)
		b = s.Application.appendJSON(b)
	}
	return append(b, '}')
}

func (id *Identifier) appendJSON(b []byte) []byte {
	b = append(b, `{"format":`...)
	b = jsonenc.AppendString(b, id.Format)
	for _, f := range [...]struct{ name, v string }{{`,"id":`, id.ID}, {`,"iss":`, id.Iss}, {`,"sub":`, id.Sub}} {
		if f.v != "" {
			b = append(b, f.name...)
			b = jsonenc.AppendString(b, f.v)
		}
	}
	return append(b, '}')
}

// appendJSON appends the event body as json.Marshal encodes it.
func (e *sessionRevoked) appendJSON(b []byte) []byte {
	b = append(b, `{"event_timestamp":`...)
	b = strconv.AppendInt(b, e.EventTimestamp, 10)
	if e.InitiatingEntity != "" {
		b = append(b, `,"initiating_entity":`...)
		b = jsonenc.AppendString(b, string(e.InitiatingEntity))
	}
	if len(e.ReasonAdmin) > 0 {
		b = append(b, `,"reason_admin":`...)
		b = appendStringMap(b, e.ReasonAdmin)
	}
	if len(e.ReasonUser) > 0 {
		b = append(b, `,"reason_user":`...)
		b = appendStringMap(b, e.ReasonUser)
	}
	return append(b, '}')
}

// appendStringMap appends m as json.Marshal encodes a map[string]string
// (keys sorted; nil is null).
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, m[k])
	}
	return append(b, '}')
}
