//go:build !linux || !cgo

package gpu_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/gpu"
)

func TestStubNotAvailable(t *testing.T) {
	want := "built without cgo"
	if runtime.GOOS != "linux" {
		want = "not linux"
	}
	c := gpu.New(gpu.Options{})
	for tick := range 2 {
		s := &gamesav1.Sample{Time: timestamppb.New(time.Unix(int64(tick), 0))}
		err := c.Collect(context.Background(), s)
		if !errors.Is(err, telemetry.ErrNotAvailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("tick %d: Collect() = %v; want ErrNotAvailable saying %q", tick, err, want)
		}
		if len(s.Gpus) != 0 {
			t.Errorf("tick %d: got %d GPUs; want none", tick, len(s.Gpus))
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
}
