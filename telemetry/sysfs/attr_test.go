package sysfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

func TestParseInt(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr error
	}{
		{"0", 0, nil},
		{"52000", 52000, nil},
		{"-273150", -273150, nil},
		{"+7", 7, nil},
		{"9223372036854775807", 1<<63 - 1, nil},
		{"-9223372036854775808", -1 << 63, nil},
		{"9223372036854775808", 0, errRange},
		{"-9223372036854775809", 0, errRange},
		{"", 0, errEmpty},
		{"-", 0, errSyntax},
		{"+", 0, errSyntax},
		{"12x", 0, errSyntax},
		{"1e6", 0, errSyntax},
		{"0x10", 0, errSyntax},
		{"1_000", 0, errSyntax},
		{"--1", 0, errSyntax},
		{"1 2", 0, errSyntax},
	}
	for _, tt := range tests {
		got, err := parseInt([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr error
	}{
		{"0", 0, nil},
		{"262143328850", 262143328850, nil},
		{"18446744073709551615", 1<<64 - 1, nil},
		{"18446744073709551616", 0, errRange},
		{"99999999999999999999", 0, errRange},
		{"-5", 0, errSyntax},
		{"+5", 0, errSyntax},
		{"", 0, errEmpty},
		{"5.0", 0, errSyntax},
	}
	for _, tt := range tests {
		got, err := parseUint([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAttrReader(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"newline":  "48213372511\n",
		"spaces":   "  42 \r\n",
		"label":    "Package id 0\n",
		"garbage":  "forty-two\n",
		"long":     strings.Repeat("7", attrBufSize),
		"negative": "-12\n",
	}
	writeTree(t, dir, files)
	path := func(name string) string { return filepath.Join(dir, name) }
	var r attrReader

	if v, err := r.uint(path("newline")); v != 48213372511 || err != nil {
		t.Errorf("uint(newline) = %d, %v; want 48213372511, nil", v, err)
	}
	if v, err := r.int(path("spaces")); v != 42 || err != nil {
		t.Errorf("int(spaces) = %d, %v; want 42, nil", v, err)
	}
	if v, err := r.string(path("label")); v != "Package id 0" || err != nil {
		t.Errorf("string(label) = %q, %v; want %q, nil", v, err, "Package id 0")
	}
	if v, err := r.int(path("negative")); v != -12 || err != nil {
		t.Errorf("int(negative) = %d, %v; want -12, nil", v, err)
	}

	errTests := []struct {
		name    string
		read    func(string) error
		wantErr error
		wantMsg string // must appear in the message
	}{
		{"garbage", func(p string) error { _, err := r.int(p); return err }, errSyntax, `garbage "forty-two"`},
		{"long", func(p string) error { _, err := r.uint(p); return err }, errTooLong, "long"},
		{"negative", func(p string) error { _, err := r.uint(p); return err }, errSyntax, `negative "-12"`},
		{"missing", func(p string) error { _, err := r.int(p); return err }, fs.ErrNotExist, "missing"},
		{"missing", func(p string) error { _, err := r.string(p); return err }, fs.ErrNotExist, "missing"},
	}
	for _, tt := range errTests {
		err := tt.read(path(tt.name))
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), filepath.Join(dir, tt.wantMsg)) {
			t.Errorf("read(%s) = %v; want %v naming the file (%q)", tt.name, err, tt.wantErr, tt.wantMsg)
		}
	}
}

func TestReadAttrDirectory(t *testing.T) {
	var r attrReader
	_, err := r.int(t.TempDir())
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "read" {
		t.Errorf("int(<dir>) = %v; want a read *fs.PathError", err)
	}
}

func TestIndexSuffix(t *testing.T) {
	tests := []struct {
		name, prefix string
		want         int
		ok           bool
	}{
		{"hwmon0", "hwmon", 0, true},
		{"hwmon12", "hwmon", 12, true},
		{"hwmon", "hwmon", 0, false},
		{"hwmon1a", "hwmon", 0, false},
		{"hwmon-1", "hwmon", 0, false},
		{"thermal_zone3", "thermal_zone", 3, true},
		{"cooling_device3", "thermal_zone", 0, false},
		{"hwmon99999999999999999999", "hwmon", 0, false},
	}
	for _, tt := range tests {
		got, ok := indexSuffix(tt.name, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("indexSuffix(%q, %q) = %d, %v; want %d, %v", tt.name, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIndexedAttr(t *testing.T) {
	tests := []struct {
		name, prefix string
		idx          int
		item         string
		ok           bool
	}{
		{"temp1_input", "temp", 1, "input", true},
		{"temp12_crit_alarm", "temp", 12, "crit_alarm", true},
		{"fan2_label", "fan", 2, "label", true},
		{"trip_point_3_type", "trip_point_", 3, "type", true},
		{"constraint_0_power_limit_uw", "constraint_", 0, "power_limit_uw", true},
		{"temp_input", "temp", 0, "", false},
		{"tempX_input", "temp", 0, "", false},
		{"temp1", "temp", 0, "", false},
		{"fan1_input", "temp", 0, "", false},
	}
	for _, tt := range tests {
		idx, item, ok := indexedAttr(tt.name, tt.prefix)
		if idx != tt.idx || item != tt.item || ok != tt.ok {
			t.Errorf("indexedAttr(%q, %q) = %d, %q, %v; want %d, %q, %v", tt.name, tt.prefix, idx, item, ok, tt.idx, tt.item, tt.ok)
		}
	}
}

func TestLimitCelsius(t *testing.T) {
	tests := []struct {
		in   int64
		want float64
	}{
		{100000, 100},
		{84850, 84.85},
		{65261850, 0}, // nvme "no threshold"
		{-273150, 0},
		{0, 0},
	}
	for _, tt := range tests {
		if got := limitCelsius(tt.in); got != tt.want {
			t.Errorf("limitCelsius(%d) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

// The reader must not hold on to a file: a collector reads thousands a
// minute.
func TestReadAttrClosesFiles(t *testing.T) {
	path := filepath.Join(telemetrytest.Fixture(t, fixtureDir).Sys, "class/hwmon/hwmon0/temp1_input")
	before := openFDs(t)
	var r attrReader
	for range 1000 {
		if _, err := r.int(path); err != nil {
			t.Fatal(err)
		}
	}
	if after := openFDs(t); after > before+2 {
		t.Errorf("open descriptors went from %d to %d over 1000 reads", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}
