package pki

import (
	"strings"
	"testing"
)

// TestAgentClientConfig: a tool reaches server and client agents of its
// own cluster, and nothing else that presents a certificate.
func TestAgentClientConfig(t *testing.T) {
	ca := newTestCA(t, "gamesa")
	other := newTestCA(t, "gamesa")
	cli := ca.issue(t, CertOptions{Kind: CLI})
	tool, err := AgentClientConfig(cli, "gamesa")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		serving Files
		wantErr string // empty: success
	}{
		{"server agent", ca.issue(t, CertOptions{Kind: Server}), ""},
		{"client agent", ca.issue(t, CertOptions{Kind: Client}), ""},
		{"agent of another CA", other.issue(t, CertOptions{Kind: Server}), "unknown authority"},
		{"agent of another cluster's domain", newTestCA(t, "elsewhere").issue(t, CertOptions{Kind: Server}), "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := ServerConfig(tc.serving)
			if err != nil {
				t.Fatal(err)
			}
			r := handshake(t, srv, tool.Clone())
			if tc.wantErr == "" {
				if r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("handshake: client %v, server %v; want success", r.clientErr, r.serverErr)
				}
				return
			}
			if r.clientErr == nil || !strings.Contains(r.clientErr.Error(), tc.wantErr) {
				t.Fatalf("handshake client error = %v; want one containing %q", r.clientErr, tc.wantErr)
			}
		})
	}
}
