package gpu_test

import (
	"testing"
	"time"

	"github.com/krystalstack/gamesa/telemetry/gpu"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    gpu.Options
		wantErr bool
	}{
		{"zero value", gpu.Options{}, false},
		{"default", gpu.DefaultOptions(), false},
		{"custom interval", gpu.Options{RetryInterval: 5 * time.Second}, false},
		{"negative interval", gpu.Options{RetryInterval: -time.Second}, true},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Options%+v.Validate() = %v; want error %v", tt.name, tt.opts, err, tt.wantErr)
		}
	}
	if got := gpu.DefaultOptions().RetryInterval; got != gpu.DefaultRetryInterval {
		t.Errorf("DefaultOptions().RetryInterval = %v; want %v", got, gpu.DefaultRetryInterval)
	}
}
