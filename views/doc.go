// Package views holds Latchkey's templ components. Subpackages: layout (the
// page shell), auth (login, consent, setup), errors (error pages),
// components (shared fragments), admin (the dashboard) and account (the
// user's own authorized clients). Views import only types from models and
// take props structs; they never query.
package views
