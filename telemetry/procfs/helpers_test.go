package procfs

import (
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
	"github.com/krystalstack/gamesa/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// sharedFixture is the fixture tree shared by the telemetry packages; tick2
// holds the files that change between the first and the second sample.
const (
	sharedFixture = "../testdata/fixture"
	tick2         = "testdata/tick2"
	tickSeconds   = 2 // the fixture's counters advance by 2 s of machine time
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// sampleAt returns an empty sample taken sec seconds after t0.
func sampleAt(sec float64) *gamesav1.Sample {
	return &gamesav1.Sample{Time: timestamppb.New(t0.Add(time.Duration(sec * float64(time.Second))))}
}

// fixture copies the shared fixture tree into a fresh temporary directory,
// so a test may rewrite it, and returns the directory and its roots.
func fixture(t *testing.T) (string, telemetry.Roots) {
	t.Helper()
	dir := t.TempDir()
	// Only the parts this package owns: the sysfs parts of the shared tree
	// belong to other collectors and are no input here.
	for _, rel := range []string{"proc", "etc", "sys/devices/system/cpu"} {
		copyTree(t, filepath.Join(sharedFixture, rel), filepath.Join(dir, rel))
	}
	return dir, telemetry.FixtureRoots(dir)
}

// copyTree copies the regular files under src into dst, creating folders.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// writeFile writes content to dir/rel, creating folders.
func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFixture returns the content of dir/rel.
func readFixture(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// editFile replaces old with new in dir/rel; old must be there.
func editFile(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	content := readFixture(t, dir, rel)
	if !strings.Contains(content, old) {
		t.Fatalf("%s does not contain %q", rel, old)
	}
	writeFile(t, dir, rel, strings.Replace(content, old, new, 1))
}

// collect runs c on a fresh sample at sec and fails the test on an error.
func collect(t *testing.T, c telemetry.Collector, sec float64) *gamesav1.Sample {
	t.Helper()
	s := sampleAt(sec)
	if err := c.Collect(t.Context(), s); err != nil {
		t.Fatalf("Collect at %vs: %v", sec, err)
	}
	return s
}

// twoTicks runs c on the fixture at t0, overlays tick2, and returns the
// sample of the second call, tickSeconds later.
func twoTicks(t *testing.T, dir string, c telemetry.Collector) *gamesav1.Sample {
	t.Helper()
	collect(t, c, 0)
	copyTree(t, tick2, dir)
	if err := os.RemoveAll(filepath.Join(dir, "proc", "2999")); err != nil { // exited between ticks
		t.Fatal(err)
	}
	return collect(t, c, tickSeconds)
}

// checkGolden compares m with testdata/golden/name.json, or rewrites that
// file under -update. Doubles are compared to 12 significant digits, so a
// platform that fuses multiply-adds does not fail the test.
func checkGolden(t *testing.T, name string, m proto.Message) {
	t.Helper()
	opts := protojson.MarshalOptions{Multiline: true, Indent: "  "}
	got := proto.Clone(m)
	roundDoubles(got.ProtoReflect())
	gotJSON, err := opts.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(gotJSON, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	want := got.ProtoReflect().New().Interface()
	if err := protojson.Unmarshal(b, want); err != nil {
		t.Fatalf("golden %s: %v", path, err)
	}
	roundDoubles(want.ProtoReflect())
	// Re-marshal the golden in this binary so both sides share protojson's
	// deliberately unstable whitespace.
	wantJSON, err := opts.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, path, gotJSON, wantJSON)
	}
}

func roundDoubles(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				roundDoubles(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			roundDoubles(v.Message())
		case fd.Kind() == protoreflect.DoubleKind && !fd.IsList():
			m.Set(fd, protoreflect.ValueOfFloat64(round12(v.Float())))
		}
		return true
	})
}

func round12(f float64) float64 {
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return r
}

// near reports whether a and b agree to 1e-9.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
