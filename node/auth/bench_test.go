package auth

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// BenchmarkAuthorize is what every call pays: parse the header, hash the
// token, look it up, check the scope.
func BenchmarkAuthorize(b *testing.B) {
	toks, err := ParseTokens([]byte("admin " + adminTok + " alice\nread " + readTok + " dashboard\n"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := NewAuthorizer(toks, testPolicy, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+readTok))
	for b.Loop() {
		if _, err := a.Authorize(ctx, gamesav1.NodeService_GetInfo_FullMethodName); err != nil {
			b.Fatal(err)
		}
	}
}
