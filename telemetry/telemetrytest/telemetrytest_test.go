package telemetrytest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/krystalstack/gamesa/telemetry"
	"github.com/krystalstack/gamesa/telemetry/telemetrytest"
)

// sharedFixture is the machine tree that the telemetry collectors share.
const sharedFixture = "../testdata/fixture"

func TestDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"intel-rapl%3A0", "intel-rapl:0"},
		{"intel-rapl%3A0%3A1", "intel-rapl:0:1"},
		{"../../devices/pci0000%3A00/0000%3A00%3A06.0", "../../devices/pci0000:00/0000:00:06.0"},
		{"%3A", ":"},
		{"hwmon0", "hwmon0"},
		{"", ""},
		{"intel-rapl%3a0", "intel-rapl%3a0"}, // only the upper-case spelling is committed
		{"100%", "100%"},
		{"%253A", "%253A"}, // no %25 escape: a '%' is itself
		{"%%3A3A", "%:3A"},
	}
	for _, tt := range tests {
		if got := telemetrytest.Decode(tt.in); got != tt.want {
			t.Errorf("Decode(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// node is one entry of a tree: a directory (neither content nor link set),
// a regular file with its permission bits, or a symlink.
type node struct {
	path    string // slash-separated, relative to the tree's root
	mode    fs.FileMode
	content string
	link    string
}

func (n node) String() string {
	switch {
	case n.link != "":
		return fmt.Sprintf("%s -> %s", n.path, n.link)
	case n.mode.IsDir():
		return n.path + "/"
	default:
		return fmt.Sprintf("%s %v %q", n.path, n.mode, n.content)
	}
}

// makeTree creates nodes under root, in order, with exactly their modes.
func makeTree(t *testing.T, root string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		path := filepath.Join(root, filepath.FromSlash(n.path))
		var err error
		switch {
		case n.link != "":
			err = os.Symlink(n.link, path)
		case n.mode.IsDir():
			err = os.Mkdir(path, 0o755)
		default:
			err = os.WriteFile(path, []byte(n.content), n.mode)
			if err == nil {
				err = os.Chmod(path, n.mode) // past the umask
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readTree lists every entry below root in lexical order.
func readTree(t *testing.T, root string) []node {
	t.Helper()
	var nodes []node
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		n := node{path: filepath.ToSlash(rel)}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			n.link, err = os.Readlink(path)
		case d.IsDir():
			n.mode = fs.ModeDir
		default:
			var fi fs.FileInfo
			if fi, err = d.Info(); err == nil {
				n.mode = fi.Mode()
				var b []byte
				b, err = os.ReadFile(path)
				n.content = string(b)
			}
		}
		nodes = append(nodes, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

func TestCopyTree(t *testing.T) {
	const rapl0 = "devices/virtual/powercap/intel-rapl/intel-rapl%3A0"
	src := t.TempDir()
	makeTree(t, src, []node{
		{path: "devices", mode: fs.ModeDir},
		{path: "devices/virtual", mode: fs.ModeDir},
		{path: "devices/virtual/powercap", mode: fs.ModeDir},
		{path: "devices/virtual/powercap/intel-rapl", mode: fs.ModeDir},
		{path: rapl0, mode: fs.ModeDir},
		{path: rapl0 + "/energy_uj", mode: 0o444, content: "1000\n"},
		{path: rapl0 + "/intel-rapl%3A0%3A1", mode: fs.ModeDir},
		{path: rapl0 + "/intel-rapl%3A0%3A1/name", mode: 0o644, content: "core\n"},
		{path: "devices/run.sh", mode: 0o777, content: "#!/bin/sh\n"},
		{path: "devices/secret", mode: 0o600, content: ""},
		{path: "devices/100%", mode: 0o666, content: "%3A\n"},
		{path: "devices/link-to-secret", link: "secret"},
		{path: "class", mode: fs.ModeDir},
		{path: "class/intel-rapl%3A0", link: "../" + rapl0},
		{path: "class/intel-rapl%3A0%3A1", link: "../" + rapl0 + "/intel-rapl%3A0%3A1"},
		{path: "class/absolute", link: "/nonexistent/pci0000%3A00"},
	})
	// dst does not exist yet: CopyTree creates it.
	dst := filepath.Join(t.TempDir(), "copy")
	if err := telemetrytest.CopyTree(src, dst); err != nil {
		t.Fatalf("CopyTree: %v", err)
	}

	const rapl0Decoded = "devices/virtual/powercap/intel-rapl/intel-rapl:0"
	want := []node{
		{path: "class", mode: fs.ModeDir},
		{path: "class/absolute", link: "/nonexistent/pci0000:00"},
		{path: "class/intel-rapl:0", link: "../" + rapl0Decoded},
		{path: "class/intel-rapl:0:1", link: "../" + rapl0Decoded + "/intel-rapl:0:1"},
		{path: "devices", mode: fs.ModeDir},
		{path: "devices/100%", mode: 0o666, content: "%3A\n"}, // contents are never decoded
		{path: "devices/link-to-secret", link: "secret"},
		{path: "devices/run.sh", mode: 0o777, content: "#!/bin/sh\n"},
		{path: "devices/secret", mode: 0o600, content: ""},
		{path: "devices/virtual", mode: fs.ModeDir},
		{path: "devices/virtual/powercap", mode: fs.ModeDir},
		{path: "devices/virtual/powercap/intel-rapl", mode: fs.ModeDir},
		{path: rapl0Decoded, mode: fs.ModeDir},
		{path: rapl0Decoded + "/energy_uj", mode: 0o444, content: "1000\n"},
		{path: rapl0Decoded + "/intel-rapl:0:1", mode: fs.ModeDir},
		{path: rapl0Decoded + "/intel-rapl:0:1/name", mode: 0o644, content: "core\n"},
	}
	if got := readTree(t, dst); !slices.Equal(got, want) {
		t.Errorf("CopyTree(%s) made:\n%s\nwant:\n%s", src, nodeLines(got), nodeLines(want))
	}

	// The decoded relative links resolve inside the copy.
	for path, want := range map[string]string{
		"class/intel-rapl:0/energy_uj": "1000\n",
		"class/intel-rapl:0:1/name":    "core\n",
	} {
		b, err := os.ReadFile(filepath.Join(dst, path))
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", path, b, err, want)
		}
	}
}

func nodeLines(nodes []node) string {
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "\t%v\n", n)
	}
	return b.String()
}

func TestCopyTreeErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, src, dst string) (string, string) // returns the arguments
		is    error                                                // nil: any error
		msg   string
	}{
		{
			name:  "missing source",
			setup: func(t *testing.T, src, dst string) (string, string) { return filepath.Join(src, "nope"), dst },
			is:    fs.ErrNotExist,
		},
		{
			name: "source is a file",
			setup: func(t *testing.T, src, dst string) (string, string) {
				makeTree(t, src, []node{{path: "f", mode: 0o644}})
				return filepath.Join(src, "f"), dst
			},
			msg: "is not a directory",
		},
		{
			name: "two names decode to one",
			setup: func(t *testing.T, src, dst string) (string, string) {
				makeTree(t, src, []node{{path: "a%3Ab", mode: 0o644}, {path: "a:b", mode: 0o644}})
				return src, dst
			},
			is: fs.ErrExist,
		},
		{
			name: "two directories decode to one",
			setup: func(t *testing.T, src, dst string) (string, string) {
				makeTree(t, src, []node{{path: "a%3Ab", mode: fs.ModeDir}, {path: "a:b", mode: fs.ModeDir}})
				return src, dst
			},
			is: fs.ErrExist,
		},
		{
			name: "name already in the destination",
			setup: func(t *testing.T, src, dst string) (string, string) {
				makeTree(t, src, []node{{path: "x", link: "y"}})
				makeTree(t, dst, []node{{path: "x", mode: 0o644}})
				return src, dst
			},
			is: fs.ErrExist,
		},
		{
			name: "named pipe",
			setup: func(t *testing.T, src, dst string) (string, string) {
				if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
				return src, dst
			},
			msg: "unsupported file type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := tt.setup(t, t.TempDir(), t.TempDir())
			err := telemetrytest.CopyTree(src, dst)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("CopyTree(%s, %s) = %v; want an error (is %v, saying %q)", src, dst, err, tt.is, tt.msg)
			}
		})
	}
}

// TestFixture checks that the copy of the shared fixture holds exactly the
// committed tree, decoded, and that its Roots point into it.
func TestFixture(t *testing.T) {
	roots := telemetrytest.Fixture(t, sharedFixture)
	root := filepath.Dir(roots.Sys)
	if want := telemetry.FixtureRoots(root); roots != want {
		t.Errorf("Fixture(%s) = %+v; want %+v", sharedFixture, roots, want)
	}
	if !strings.HasPrefix(root, os.TempDir()) {
		t.Errorf("Fixture(%s) copied to %s; want a directory under %s", sharedFixture, root, os.TempDir())
	}

	committed := readTree(t, sharedFixture)
	for i, n := range committed {
		n.path, n.link = telemetrytest.Decode(n.path), telemetrytest.Decode(n.link)
		committed[i] = n
	}
	byPath := func(a, b node) int { return strings.Compare(a.path, b.path) }
	// Decoding moves names within a directory's order.
	slices.SortFunc(committed, byPath)
	got := readTree(t, root)
	slices.SortFunc(got, byPath)
	if !slices.Equal(got, committed) {
		t.Errorf("Fixture(%s) holds %d entries that differ from the decoded committed tree (%d entries)", sharedFixture, len(got), len(committed))
		for _, n := range got {
			if !slices.Contains(committed, n) {
				t.Errorf("copy has %v", n)
			}
		}
		for _, n := range committed {
			if !slices.Contains(got, n) {
				t.Errorf("copy lacks %v", n)
			}
		}
	}

	// The reason for the package: a colon-named class entry, linked into
	// devices as on a real machine, resolves.
	fi, err := os.Stat(filepath.Join(roots.Sys, "class/powercap/intel-rapl:0"))
	if err != nil || !fi.IsDir() {
		t.Errorf("Stat(sys/class/powercap/intel-rapl:0) = %v, %v; want a directory", fi, err)
	}
}

// TestFixtureNamesAreModuleSafe keeps ':' out of the telemetry tree's
// committed names: one would make the module unfetchable through the proxy.
// Link targets may keep a ':' (socket:[123] in /proc): zips hold no links,
// and the copy resolves a raw ':' as well as a decoded one.
func TestFixtureNamesAreModuleSafe(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ":") {
			t.Errorf("%s: Go module zips reject ':' in file names; spell it %%3A (see package telemetrytest)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkFixture(b *testing.B) {
	for b.Loop() {
		telemetrytest.Fixture(b, sharedFixture)
	}
}
