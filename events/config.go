package events

// Configuration is SSF 1.0 §7.1's transmitter configuration metadata, at
// /.well-known/ssf-configuration.
type Configuration struct {
	SpecVersion              string                `json:"spec_version"`
	Issuer                   string                `json:"issuer"`
	JWKSURI                  string                `json:"jwks_uri"`
	DeliveryMethodsSupported []string              `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string                `json:"configuration_endpoint"`
	StatusEndpoint           string                `json:"status_endpoint"`
	VerificationEndpoint     string                `json:"verification_endpoint"`
	AuthorizationSchemes     []AuthorizationScheme `json:"authorization_schemes"`
	DefaultSubjects          string                `json:"default_subjects"`
}

// AuthorizationScheme names how receivers authenticate (SSF 1.0 §7.1.1).
type AuthorizationScheme struct {
	SpecURN string `json:"spec_urn"`
}

// Paths of the transmitter's endpoints, below the issuer.
const (
	JWKSPath   = "/o/jwks/"
	StreamPath = "/ssf/stream"
	StatusPath = "/ssf/status"
	VerifyPath = "/ssf/verify"
	PollPath   = "/ssf/poll/"
)

// NewConfiguration describes the transmitter at issuer (no trailing
// slash). Receivers authenticate with an OAuth 2.0 bearer token (RFC 6749);
// every stream carries every subject (default_subjects ALL), since a
// resource server must hear of every revocation that touches a token it
// may have cached.
func NewConfiguration(issuer string) Configuration {
	return Configuration{
		SpecVersion:              "1_0",
		Issuer:                   issuer,
		JWKSURI:                  issuer + JWKSPath,
		DeliveryMethodsSupported: []string{DeliveryPush, DeliveryPoll},
		ConfigurationEndpoint:    issuer + StreamPath,
		StatusEndpoint:           issuer + StatusPath,
		VerificationEndpoint:     issuer + VerifyPath,
		AuthorizationSchemes:     []AuthorizationScheme{{SpecURN: "urn:ietf:rfc:6749"}},
		DefaultSubjects:          "ALL",
	}
}

// PollURL is the poll endpoint of a stream (RFC 8936 §2).
func PollURL(issuer, streamID string) string { return issuer + PollPath + streamID }
