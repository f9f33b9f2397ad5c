package auth

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Policy maps full gRPC method names ("/gamesa.v1.NodeService/GetInfo") to
// the scope a token needs to call them.
//
// A method the policy does not list needs ScopeAdmin. That is the safe way
// round: a new method that changes something, forgotten here, is closed to
// read tokens (a mistake a test or the first user with a read token
// notices) instead of open to them (a mistake nobody notices). So list
// every read-only method as ScopeRead; Unlisted finds the ones left out.
// Listing admin methods as well is allowed and documents them.
//
// The health service's Check and Watch are always open, token or not, for
// load balancers and orchestrators; a policy cannot change that.
type Policy map[string]Scope

// Required returns the scope fullMethod needs.
func (p Policy) Required(fullMethod string) Scope {
	if s, ok := p[fullMethod]; ok {
		return s
	}
	return ScopeAdmin
}

// Validate checks that every entry is a full method name with a scope.
func (p Policy) Validate() error {
	for m, s := range p {
		svc, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
		if !strings.HasPrefix(m, "/") || !ok || svc == "" || method == "" || strings.Contains(method, "/") {
			return fmt.Errorf("auth: policy entry %q: want a full method name, /package.Service/Method: %w", m, ErrInvalidPolicy)
		}
		if !s.valid() {
			return fmt.Errorf("auth: policy entry %q: scope %v: want ScopeRead or ScopeAdmin: %w", m, s, ErrInvalidPolicy)
		}
	}
	return nil
}

// Unlisted returns, sorted, the methods of services (as
// grpc.Server.GetServiceInfo returns them) that the policy does not list and
// that are not always open: the methods that fall to the admin default. A
// test of the server's wiring can require it to be empty, so every new
// method is classified on purpose.
func (p Policy) Unlisted(services map[string]grpc.ServiceInfo) []string {
	var out []string
	for svc, info := range services {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if _, ok := p[full]; !ok && !public(full) {
				out = append(out, full)
			}
		}
	}
	slices.Sort(out)
	return out
}

// public reports whether a method is open without a token. Health's List is
// not: it names every service, which is for read tokens.
func public(fullMethod string) bool {
	switch fullMethod {
	case healthpb.Health_Check_FullMethodName, healthpb.Health_Watch_FullMethodName:
		return true
	}
	return false
}
