package sysfs

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the collectors' output")

// fixtureDir is the machine tree shared by the telemetry collectors: a
// laptop with coretemp, nvme, acpitz and thinkpad hwmon chips, two thermal
// zones, RAPL with psys, and a battery on AC. Its committed names spell ':'
// as %3A, so tests read it through telemetrytest.Fixture, never in place.
const fixtureDir = "../testdata/fixture"

// t0 is the time of a test's first sample.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func sampleAt(t time.Time) *gamesav1.Sample {
	return &gamesav1.Sample{Time: timestamppb.New(t)}
}

type namedCollector struct {
	name string
	c    telemetry.Collector
}

// allCollectors returns one of each collector over roots, under the names
// the lead registers them with.
func allCollectors(roots telemetry.Roots) []namedCollector {
	return []namedCollector{
		{"hwmon", NewHwmon(roots)},
		{"thermal_zone", NewThermalZones(roots)},
		{"rapl", NewRAPL(roots)},
		{"power_supply", NewPowerSupply(roots)},
	}
}

// render prints what a collector produced in a form that is byte-stable
// across builds. protojson varies its whitespace on purpose, so its output
// is compacted and re-indented by encoding/json. Errors name the files under
// tmp, the test's copy of a tree; render shows them under dir, the
// committed tree, so the output does not depend on where the copy is.
func render(t *testing.T, s *gamesav1.Sample, err error, tmp, dir string) []byte {
	t.Helper()
	s = proto.CloneOf(s)
	s.Time = nil // the same for every golden file; the rates show its use
	raw, merr := protojson.MarshalOptions{UseProtoNames: true}.Marshal(s)
	if merr != nil {
		t.Fatalf("protojson.Marshal: %v", merr)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatalf("json.Indent: %v", err)
	}
	buf.WriteString("\n-- error --\n")
	if err == nil {
		buf.WriteString("<nil>\n")
	} else {
		for line := range strings.SplitSeq(strings.ReplaceAll(err.Error(), tmp, dir), "\n") {
			buf.WriteString(line + "\n")
		}
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./telemetry/sysfs -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// writeTree creates files under root: each key is a slash path, each
// value the content; a value starting with "->" makes a symlink instead.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// failReads returns a readFunc that fails reads of files whose path ends in
// one of the keys with that errno, and reads everything else for real.
func failReads(fail map[string]error) readFunc {
	return func(path string, buf []byte) (int, error) {
		for suffix, err := range fail {
			if strings.HasSuffix(path, suffix) {
				return 0, &fs.PathError{Op: "read", Path: path, Err: err}
			}
		}
		return readAttr(path, buf)
	}
}

// countReads wraps readAttr and counts the reads per file.
type countReads map[string]int

func (c countReads) read(path string, buf []byte) (int, error) {
	c[path]++
	return readAttr(path, buf)
}

// near reports whether a and b agree to 1e-9 relative.
func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	scale := max(1, a, -a, b, -b)
	return d <= 1e-9*scale
}
