package node

import "testing"

// TestEveryMethodHasAScope: every method the node serves is classified
// read or admin on purpose; a new one left out would fall to admin
// silently, or, worse, a mutating one added to the read list unnoticed.
func TestEveryMethodHasAScope(t *testing.T) {
	n, err := New(DevConfig(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if n.authz, err = n.newAuthorizer(); err != nil {
		t.Fatal(err)
	}
	gs := n.newGRPCServer(nil)
	defer gs.Stop()
	if un := readPolicy().Unlisted(gs.GetServiceInfo()); len(un) > 0 {
		t.Errorf("methods without a scope in readPolicy: %v", un)
	}
}
